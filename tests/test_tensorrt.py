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


class _FakeCuda:
    """cuda-python's runtime as TensorRTEngine calls it, with host memory standing in for the
    GPU's: a device pointer is the address of a ctypes buffer, so copies are real copies."""

    class cudaError_t:  # noqa: N801 (cuda-python's names)
        cudaSuccess = 0

    class cudaMemcpyKind:  # noqa: N801
        cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost = 1, 2

    def __init__(self):
        self.buffers, self.freed = {}, []

    def cudaGetDeviceProperties(self, device):  # noqa: N802
        from types import SimpleNamespace

        return 0, SimpleNamespace(name=b"Fake GPU\0", major=9, minor=0)

    def cudaSetDevice(self, device):  # noqa: N802
        return (0,)

    def cudaStreamCreate(self):  # noqa: N802
        return 0, 7

    def cudaStreamDestroy(self, stream):  # noqa: N802
        return (0,)

    def cudaStreamSynchronize(self, stream):  # noqa: N802
        return (0,)

    def cudaMalloc(self, nbytes):  # noqa: N802
        import ctypes

        buffer = ctypes.create_string_buffer(nbytes)
        self.buffers[ctypes.addressof(buffer)] = buffer
        return 0, ctypes.addressof(buffer)

    def cudaFree(self, pointer):  # noqa: N802
        self.freed.append(pointer)
        return (0,)

    def cudaMemcpyAsync(self, dst, src, nbytes, kind, stream):  # noqa: N802
        import ctypes

        ctypes.memmove(dst, src, nbytes)
        return (0,)


def _fake_tensorrt(sample: tuple[int, ...], max_batch: int):
    """TensorRT 10's Python API as TensorRTEngine calls it, for a two-head engine that lists ``age``
    before ``p_female`` (outputs are found by name, never by position) and computes, per image,
    P(female) = mean pixel / 255 and age = first pixel."""
    import ctypes
    from types import SimpleNamespace

    import numpy as np

    io_mode = SimpleNamespace(INPUT="input", OUTPUT="output")
    tensors = {"image": (-1, *sample), "age": (-1, 1), "p_female": (-1, 1)}

    class Context:
        def __init__(self):
            self.addresses, self.batch = {}, None

        def set_input_shape(self, name, shape):
            self.batch = shape[0]
            return 1 <= shape[0] <= max_batch and tuple(shape[1:]) == sample

        def get_tensor_shape(self, name):
            return (self.batch, *tensors[name][1:])

        def set_tensor_address(self, name, address):
            self.addresses[name] = address

        def execute_async_v3(self, stream):
            n = self.batch
            count = n * int(np.prod(sample))
            x = np.ctypeslib.as_array((ctypes.c_float * count).from_address(self.addresses["image"]))
            x = x.reshape(n, -1)
            for name, values in (("p_female", x.mean(axis=1) / 255.0), ("age", x[:, 0])):
                out = np.ctypeslib.as_array((ctypes.c_float * n).from_address(self.addresses[name]))
                out[:] = values
            return True

    class Engine:
        num_io_tensors = len(tensors)

        def get_tensor_name(self, index):
            return list(tensors)[index]

        def get_tensor_mode(self, name):
            return io_mode.INPUT if name == "image" else io_mode.OUTPUT

        def get_tensor_shape(self, name):
            return tensors[name]

        def get_tensor_dtype(self, name):
            return "float"

        def get_tensor_profile_shape(self, name, profile):
            return [(1, *sample), (max_batch // 2, *sample), (max_batch, *sample)]

        def create_execution_context(self):
            return Context()

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return Engine()

    class Logger:
        WARNING = 2

        def __init__(self, level):
            pass

    return SimpleNamespace(
        __version__="10.0.0",
        Logger=Logger,
        Runtime=Runtime,
        TensorIOMode=io_mode,
        nptype=lambda dtype: np.float32,
    )


def test_an_engine_gives_every_output_by_name_with_a_buffer_each_and_frees_them_all(tmp_path, monkeypatch):
    """The engine runner against stand-ins of TensorRT and cuda-python (no GPU here): a two-head
    engine's P(female) and age come back under their names, batches above the profile are split."""
    import dataclasses
    import json

    import numpy as np

    from faceedge.manifest import sha256_file
    from faceedge.runtime import tensorrt_engine
    from faceedge.runtime.classifier import GenderClassifier

    cuda, trt = _FakeCuda(), _fake_tensorrt((8, 8, 3), max_batch=4)
    modules = {"tensorrt": trt, "cuda.bindings.runtime": cuda}
    monkeypatch.setattr(tensorrt_engine, "require", lambda module, extra: modules[module])
    engine_file = tmp_path / "gender_trt_fp16.engine"
    engine_file.write_bytes(b"a serialized engine")
    manifest = dataclasses.replace(
        _engine_manifest({"tensorrt": "10.0.0", "gpu": "Fake GPU", "compute_capability": "9.0"}),
        files={engine_file.name: sha256_file(engine_file)},
        inputs=(TensorSpec("image", ("batch", 8, 8, 3), layout="NHWC", color="RGB"),),
        outputs=(
            TensorSpec("p_female", ("batch", 1), meaning="P(female)", unit="probability"),
            TensorSpec("age", ("batch", 1), meaning="age", unit="years"),
        ),
        extra={
            "target": {"tensorrt": "10.0.0", "gpu": "Fake GPU", "compute_capability": "9.0"},
            "profile": {"min": 1, "opt": 2, "max": 4},
        },
    )
    (tmp_path / "gender_trt_fp16.manifest.json").write_text(json.dumps(manifest.to_dict()))

    chips = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    with GenderClassifier(engine_file, backend="trt-engine") as classifier:
        assert classifier.has_age and classifier.batch_size == 4
        engine = classifier.backend.engine
        assert [o.name for o in engine.outputs] == ["p_female", "age"] and len(cuda.buffers) == 3
        p_female, age = classifier.predict_heads(chips)
    flat = chips.reshape(10, -1).astype(np.float32)
    np.testing.assert_allclose(p_female, flat.mean(axis=1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(age, flat[:, 0])
    assert sorted(cuda.freed) == sorted(cuda.buffers)  # the input and both outputs, once each
    with pytest.raises(ModelError, match="closed"):
        engine.run_batch(np.zeros((1, 8, 8, 3), np.float32))
