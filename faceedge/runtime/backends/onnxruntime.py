"""ONNX Runtime on the CPU, on CUDA, or through its TensorRT provider: one class, one provider table.

ONNX Runtime quietly runs a model on the CPU when the provider asked for cannot load (no
onnxruntime-gpu, missing CUDA libraries), with no more than a log line. This backend checks the
providers the session really uses and refuses to pretend.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections import Counter
from pathlib import Path

import numpy as np

from faceedge.errors import BackendError, MissingExtraError, ModelError, require
from faceedge.manifest import check_io, load_artifact

# --backend -> the ONNX Runtime provider that must really run the model. A GPU session lists no
# CPU provider and takes no node on the CPU (NO_CPU_FALLBACK): it runs on the GPU or is refused.
PROVIDER = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path.home() / ".cache" / "faceedge" / "tensorrt"
# The batch sizes the TensorRT provider builds its engine for (the classifier's batch is dynamic).
TRT_PROFILE = {"min": 1, "opt": 8, "max": 64}
# TensorRT's PyPI packages are placeholders that fetch the real wheels from NVIDIA's index.
GPU_INSTALL = "pip install 'faceedge[gpu]' --extra-index-url https://pypi.nvidia.com"
# Session config keys from ONNX Runtime's onnxruntime_session_options_config_keys.h: refuse a session
# that places any node on the CPU (ORT >= 1.12), and record which provider took which node (ORT >= 1.24).
NO_CPU_FALLBACK = "session.disable_cpu_ep_fallback"
RECORD_PLACEMENT = "session.record_ep_graph_assignment_info"
# What InferenceSession() raises under NO_CPU_FALLBACK when nodes would go to the CPU: what happens
# to every node when the GPU provider's libraries did not load, and ONNX Runtime dropped it.
CPU_FALLBACK_REFUSED = "fallback to CPU EP has been explicitly disabled"


def load_gpu_libraries(ort, name: str) -> str:
    """Load into this process the libraries the ``name`` provider opens by soname, from the pip
    packages that hold them, before a session needs them.

    onnxruntime-gpu's providers open libcudart, libcublas, libcudnn (and libnvinfer for TensorRT) by
    soname, and the pip wheels of the `gpu` extra install them where the loader does not look: ONNX
    Runtime's ``preload_dlls()`` loads CUDA's and cuDNN's by full path, and ``import tensorrt`` loads
    TensorRT's. What still fails to load shows at the provider check, as a refused backend, with
    what ``preload_dlls()`` said, which this returns ("" when it said nothing).

    Raises:
        MissingExtraError: the TensorRT provider without the ``tensorrt`` package.
        BackendError: ``tensorrt`` is installed but its libraries do not load.
    """
    said = io.StringIO()
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:  # ONNX Runtime < 1.21: only what the loader's own path holds
        log.debug("ONNX Runtime %s has no preload_dlls(); using the loader's path", ort.__version__)
    else:
        # It prints what it could not load to stdout, where `faceedge run --json` writes its lines.
        with contextlib.redirect_stdout(said):
            preload(cuda=True, cudnn=True)
    if name == "tensorrt":
        _import_tensorrt()
    return " ".join(said.getvalue().split())


def _import_tensorrt() -> None:
    """Import ``tensorrt``, whose import loads the libraries of its pip wheel.

    Raises:
        MissingExtraError: it is not installed.
        BackendError: it is installed but does not import (its libraries do not load).
    """
    try:
        import tensorrt  # noqa: F401  (its import loads libnvinfer.so.10 and libnvonnxparser.so.10)
    except ModuleNotFoundError as exc:
        if exc.name != "tensorrt":  # a module tensorrt itself needs: a broken install, not a missing one
            raise BackendError(f"tensorrt is installed but does not import: {exc}") from exc
        raise MissingExtraError(
            f"the TensorRT provider needs the tensorrt package; install it with: {GPU_INSTALL}"
        ) from exc
    except (ImportError, OSError) as exc:  # ImportError: libnvinfer.so.10 cannot be loaded
        raise BackendError(f"tensorrt is installed but its libraries do not load: {exc}") from exc


def _provider_list(name: str, manifest, cache_dir: Path | None) -> list:
    if name == "cpu":
        return ["CPUExecutionProvider"]
    # No CPUExecutionProvider after a GPU provider: with NO_CPU_FALLBACK set, ONNX Runtime refuses a
    # session that lists it, and adds it itself (for nothing but its allocator) otherwise.
    cuda = ("CUDAExecutionProvider", {"device_id": 0})
    if name == "cuda":
        return [cuda]
    cache = Path(cache_dir or DEFAULT_CACHE)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackendError(f"cannot use {cache} as the TensorRT cache: {exc.strerror}") from exc
    options = {
        "device_id": 0,
        "trt_fp16_enable": True,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache),
    }
    spec = manifest.inputs[0]
    if isinstance(spec.shape[0], str):  # a dynamic batch: build one engine for a range of batches
        sample = "x".join(str(d) for d in spec.shape[1:])
        for key, batch in TRT_PROFILE.items():
            options[f"trt_profile_{key}_shapes"] = f"{spec.name}:{batch}x{sample}"
    return [("TensorrtExecutionProvider", options), cuda]


def _said(preload_said: str) -> str:
    return f" (ONNX Runtime's preload_dlls() said: {preload_said})" if preload_said else ""


def _not_loaded(wanted: str, file_name: str, preload_said: str) -> str:
    libraries = "CUDA, cuDNN and TensorRT" if wanted == PROVIDER["tensorrt"] else "CUDA and cuDNN"
    return (
        f"the libraries of {wanted} ({libraries}) did not load, so ONNX Runtime would run {file_name} "
        "on the CPU, which a GPU backend refuses; run `faceedge doctor` to see what this machine has"
        + _said(preload_said)
    )


def _placement(session) -> dict[str, int]:
    """The number of graph nodes each provider took, as ONNX Runtime recorded them; empty where
    this ONNX Runtime does not record them."""
    record = getattr(session, "get_provider_graph_assignment_info", None)
    if record is None:
        return {}
    counts: Counter[str] = Counter()
    for subgraph in record():
        counts[subgraph.ep_name] += len(subgraph.get_nodes())
    return dict(counts)


class OnnxRuntimeBackend:
    """An ONNX artifact in an ONNX Runtime session whose main provider is checked to be the one
    asked for. The file is checked against its manifest (sha256, inputs, outputs) when opened."""

    def __init__(self, path: str | Path, task: str, name: str = "cpu", cache_dir: Path | None = None) -> None:
        if name not in PROVIDER:
            raise BackendError(f"ONNX Runtime has no {name!r} backend; it has {', '.join(PROVIDER)}")
        ort = require("onnxruntime", "cpu" if name == "cpu" else "gpu")
        self.name = name
        self.manifest, model_file = load_artifact(path)
        if self.manifest.task != task:
            raise ModelError(f"{path} is a {self.manifest.task} model, not a {task} model")
        wanted = PROVIDER[name]
        available = ort.get_available_providers()
        if wanted not in available:
            raise BackendError(
                f"this ONNX Runtime ({ort.__version__}) has no {wanted} (it has {', '.join(available)})"
                + ("; install the 'gpu' extra instead of 'cpu'" if name != "cpu" else "")
            )
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: the provider check below says what matters
        # ONNX Runtime's worker threads spin between runs by default, busy-waiting on cores that the
        # frame reader and OpenCV need: on 2 cores that cost the pipeline a third of its frame rate.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        preload_said = ""
        if name != "cpu":
            preload_said = load_gpu_libraries(ort, name)
            # A GPU session with nodes on the CPU is refused when it is made, not run slowly.
            options.add_session_config_entry(NO_CPU_FALLBACK, "1")
            options.add_session_config_entry(RECORD_PLACEMENT, "1")
        try:
            self.session = ort.InferenceSession(
                str(model_file),
                sess_options=options,
                providers=_provider_list(name, self.manifest, cache_dir),
                # ONNX Runtime's Python layer otherwise retries a failed GPU session, or a run
                # that fails on the GPU, on the CPU, saying so only on stdout.
                enable_fallback=0,
            )
        except Exception as exc:  # ONNX Runtime raises its own untyped errors
            if name != "cpu" and CPU_FALLBACK_REFUSED in str(exc):
                raise BackendError(_not_loaded(wanted, model_file.name, preload_said)) from exc
            # On the CPU that can only be the model itself; on a GPU, the model or the GPU.
            error = ModelError if name == "cpu" else BackendError
            raise error(
                f"ONNX Runtime cannot open {model_file.name} on {wanted}: {exc}" + _said(preload_said)
            ) from exc
        # ONNX Runtime lists the CPU provider in every session, for its allocator; under
        # NO_CPU_FALLBACK a GPU session runs no node there, so it is not named as running it.
        listed = tuple(self.session.get_providers())
        self.providers = listed if name == "cpu" else tuple(p for p in listed if p != PROVIDER["cpu"])
        self.placement: dict[str, int] = {}  # nodes per provider, recorded for the GPU providers
        if name != "cpu":
            self._check_placement(wanted, model_file.name, preload_said)
        check_io(self.manifest, "inputs", [(i.name, i.shape) for i in self.session.get_inputs()], str(path))
        check_io(self.manifest, "outputs", [(o.name, o.shape) for o in self.session.get_outputs()], str(path))
        self._outputs = [o.name for o in self.manifest.outputs]
        # The TensorRT provider computes in FP16 whatever the artifact's precision, and takes batches
        # up to its profile's largest (the classifier splits larger ones).
        self.precision = "fp16" if name == "tensorrt" else self.manifest.precision
        dynamic = isinstance(self.manifest.inputs[0].shape[0], str)
        self.max_batch = TRT_PROFILE["max"] if name == "tensorrt" and dynamic else None
        if name == "tensorrt":
            log.info(
                "TensorRT provider: FP16 engines for %s cached in %s; the first run on a new GPU builds "
                "them, which can take minutes",
                model_file.name,
                cache_dir or DEFAULT_CACHE,
            )
        self._warm_up(name, model_file.name)

    def _check_placement(self, wanted: str, file_name: str, preload_said: str) -> None:
        """Refuse a GPU session without its GPU provider (an ONNX Runtime that did not honour
        NO_CPU_FALLBACK, which refuses such a session when it is made); say it when TensorRT left
        nodes to CUDA.

        Raises:
            BackendError: the session would run on the CPU.
        """
        if wanted not in self.providers:
            raise BackendError(_not_loaded(wanted, file_name, preload_said))
        self.placement = _placement(self.session)
        if set(self.placement) - {wanted}:
            log.warning("ONNX Runtime runs %s with nodes per provider: %s", file_name, self.placement)

    def _warm_up(self, name: str, file_name: str) -> None:
        """Run one input of zeros now: a provider that opens but cannot run (the TensorRT provider
        builds its engine at the first run) fails here, when the model is loaded, not at a frame."""
        feeds = {
            spec.name: np.zeros(tuple(1 if isinstance(d, str) else d for d in spec.shape), dtype=spec.dtype)
            for spec in self.manifest.inputs
        }
        try:
            self.session.run(self._outputs, feeds)
        except Exception as exc:  # ONNX Runtime raises its own untyped errors
            error = ModelError if name == "cpu" else BackendError
            raise error(
                f"ONNX Runtime opened {file_name} on {PROVIDER[name]} but cannot run it: {exc}"
            ) from exc

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name for ``inputs`` by name, in one call.

        Raises:
            BackendError: ONNX Runtime failed to run them (a GPU out of memory, a shape the
                TensorRT provider's engine was not built for).
        """
        try:
            return dict(zip(self._outputs, self.session.run(self._outputs, inputs)))
        except Exception as exc:  # ONNX Runtime raises its own untyped errors
            raise BackendError(f"ONNX Runtime failed on {self.name}: {exc}") from exc

    def close(self) -> None:
        self.session = None

    def __enter__(self) -> OnnxRuntimeBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
