"""TensorRT: what runs everywhere (profiles, engine-target checks, a clear error without TensorRT),
and the engine build itself, which needs TensorRT, cuda-python and a GPU (skipped otherwise)."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from faceedge.cli import app
from faceedge.errors import EngineBuildError, ModelError
from faceedge.export.tensorrt import BatchProfile
from faceedge.manifest import Manifest, TensorSpec
from faceedge.runtime.tensorrt_engine import GpuTarget, check_engine_target

HAVE_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def _has_gpu() -> bool:
    if not HAVE_TENSORRT or importlib.util.find_spec("cuda") is None:
        return False
    from faceedge.errors import FaceedgeError
    from faceedge.runtime.tensorrt_engine import current_target

    try:
        current_target()
    except FaceedgeError:
        return False
    return True


def _engine_manifest(target: dict) -> Manifest:
    return Manifest(
        model_id="gender-test-trt-fp16",
        task="gender",
        format="tensorrt",
        precision="fp16",
        files={"gender_trt_fp16.engine": "0" * 64},
        inputs=(TensorSpec("image", ("batch", 32, 32, 3), layout="NHWC", color="RGB"),),
        outputs=(TensorSpec("p_female", ("batch", 1)),),
        extra={
            "target": target,
            "profile": {"min": 1, "opt": 8, "max": 64},
            "rebuild": "faceedge export gender X",
        },
    )


def test_a_batch_profile_must_be_ordered():
    assert BatchProfile(1, 8, 64).to_dict() == {"min": 1, "opt": 8, "max": 64}
    BatchProfile(4, 4, 4)
    for bad in ((0, 1, 2), (2, 1, 4), (1, 8, 4)):
        with pytest.raises(EngineBuildError, match="min <= opt <= max"):
            BatchProfile(*bad)


def test_an_engine_for_another_gpu_or_tensorrt_is_refused_with_the_rebuild_command():
    built = {"tensorrt": "10.16.1.11", "gpu": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}
    manifest = _engine_manifest(built)
    check_engine_target(manifest, GpuTarget(**built), "e.engine")  # the same machine: accepted

    with pytest.raises(ModelError) as refused:
        check_engine_target(manifest, GpuTarget("10.16.1.11", "NVIDIA L4", "8.9"), "e.engine")
    message = str(refused.value)
    assert (
        "gpu NVIDIA H100 80GB HBM3 (here: NVIDIA L4)" in message
        and "compute_capability 9.0 (here: 8.9)" in message
    )
    assert "rebuild it here with: faceedge export gender X" in message

    with pytest.raises(ModelError, match=r"tensorrt 10.16.1.11 \(here: 10.13.0.35\)"):
        check_engine_target(manifest, GpuTarget("10.13.0.35", built["gpu"], "9.0"), "e.engine")


@pytest.mark.skipif(HAVE_TENSORRT, reason="checks the message given where TensorRT is absent")
def test_trt_fp16_without_tensorrt_is_one_clear_line_before_any_work(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "export",
            "gender",
            str(tmp_path / "absent.keras"),
            "--data",
            str(tmp_path),
            "--out",
            str(out),
            "--trt-fp16",
        ],
    )
    assert result.exit_code == 5, result.output
    assert "pip install 'faceedge[gpu]'" in result.output and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.skipif(
    not _has_gpu(),
    reason="no CUDA GPU on this machine"
    if HAVE_TENSORRT
    else "TensorRT is not installed (faceedge[gpu], GPU box)",
)
def test_trt_fp16_engine_matches_keras_and_records_its_target(source, tmp_path):
    from faceedge.evaluate.predictors import open_classifier
    from faceedge.export.gender import export_gender
    from faceedge.export.options import ExportOptions

    model_path, data = source  # the session's small gender-only model and its synthetic data
    options = ExportOptions(formats=("fp32", "trt_fp16"), nchw=True, profile=BatchProfile(1, 4, 16))
    fp32, engine = export_gender(model_path, tmp_path / "out", data, options)
    assert engine.path.name == "gender_trt_fp16.engine"
    assert engine.manifest.extra["fp16_layers"] > 0 and engine.manifest.extra["profile"]["max"] == 16
    assert set(engine.manifest.extra["target"]) == {"tensorrt", "gpu", "compute_capability"}
    assert engine.manifest.accuracy["decision_disagreement_vs_keras"] <= 0.001
    assert (tmp_path / "out" / "timing.cache").stat().st_size > 0
    # Evaluation opens the engine like any other artifact; batches above the profile's max are split.
    import numpy as np

    from faceedge.data.split import read_split
    from faceedge.data.utkface import load_utkface
    from faceedge.imaging import decode_chips

    test = read_split(model_path.parent / "split.csv").apply(load_utkface(data), "test")
    chips = decode_chips([s.data for s in test.samples], 32)
    runner = open_classifier(engine.path)
    try:
        repeated = runner.predict(np.concatenate([chips] * 3))
    finally:
        runner.close()
    # FP16 kernels may differ slightly with the batch they run in.
    np.testing.assert_allclose(repeated, np.tile(engine.measured.p_female, 3), atol=1e-3)
