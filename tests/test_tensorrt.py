"""TensorRT: what runs everywhere (profiles, engine-target checks, a clear error without TensorRT),
and the engine build itself, which needs TensorRT, cuda-python and a GPU (skipped otherwise)."""

from __future__ import annotations

import importlib.util

import numpy as np
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


def _engine_build_skip_reason() -> str | None:
    """Why the engine build test cannot run here, or None. It trains its source model, so it needs
    the `train` extra beside TensorRT and a GPU: without it the `source` fixture would error on
    importing TensorFlow instead of the test skipping."""
    missing = [m for m in ("tensorflow", "tf2onnx", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)} not installed: the engine test trains its model (extra 'train')"
    if not HAVE_TENSORRT:
        return "TensorRT is not installed (faceedge[gpu], GPU box)"
    if not _has_gpu():
        return "no CUDA GPU on this machine (or cuda-python missing)"
    return None


@pytest.mark.skipif(_engine_build_skip_reason() is not None, reason=str(_engine_build_skip_reason()))
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
        self.buffers, self.freed, self.copies = {}, [], []

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

        self.copies.append((kind, nbytes))
        ctypes.memmove(dst, src, nbytes)
        return (0,)


def _fake_tensorrt(sample: tuple[int, ...], max_batch: int, input_dtype: str = "float"):
    """TensorRT 10's Python API as TensorRTEngine calls it, for a two-head engine that lists ``age``
    before ``p_female`` (outputs are found by name, never by position) and computes, per image,
    P(female) = mean pixel / 255 and age = first pixel. Its input is of ``input_dtype`` (a
    TensorRT DataType's name), its outputs float."""
    import ctypes
    from types import SimpleNamespace

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
            return input_dtype if name == "image" else "float"

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
        nptype=lambda dtype: {"float": np.float32, "half": np.float16}[dtype],
    )


def _fake_engine(tmp_path, monkeypatch, input_dtype: str = "float"):
    """A two-head engine file and its manifest (8x8x3 float32 input, batches of 1 to 4) in
    ``tmp_path``, opened through the stand-ins of TensorRT and cuda-python (no GPU here): the
    engine file and the fake CUDA runtime, whose buffers, frees and copies the tests read."""
    import dataclasses
    import json

    from faceedge.manifest import sha256_file
    from faceedge.runtime import tensorrt_engine

    cuda, trt = _FakeCuda(), _fake_tensorrt((8, 8, 3), max_batch=4, input_dtype=input_dtype)
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
    return engine_file, cuda


def test_an_engine_gives_every_output_by_name_with_a_buffer_each_and_frees_them_all(tmp_path, monkeypatch):
    """The engine runner against stand-ins of TensorRT and cuda-python (no GPU here): a two-head
    engine's P(female) and age come back under their names, batches above the profile are split."""
    from faceedge.runtime.classifier import GenderClassifier

    engine_file, cuda = _fake_engine(tmp_path, monkeypatch)
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


def test_open_backend_runs_an_engine_file_on_trt_engine_and_says_what_runs_it(tmp_path, monkeypatch):
    """``open_backend(..., "trt-engine")`` (and ``auto`` for an .engine file) opens the native
    engine through the backend table, reports TensorRT and the GPU as what runs it, and refuses
    an engine of another task after freeing what it allocated."""
    from faceedge.errors import BackendError, MissingExtraError
    from faceedge.runtime import tensorrt_engine
    from faceedge.runtime.backends import open_backend

    engine_file, cuda = _fake_engine(tmp_path, monkeypatch)
    for asked in ("trt-engine", "auto"):
        backend = open_backend(engine_file, "gender", asked)
        try:
            assert backend.name == "trt-engine" and backend.providers == ("TensorRT 10.0.0 on Fake GPU",)
            assert backend.precision == "fp16" and backend.max_batch == 4
            x = np.full((2, 8, 8, 3), 51.0, np.float32)
            outputs = backend.run({"image": x})
            np.testing.assert_allclose(outputs["p_female"], [[0.2], [0.2]])
            np.testing.assert_array_equal(outputs["age"], [[51.0], [51.0]])
            with pytest.raises(BackendError, match="one input, 'image'"):
                backend.run({"pixels": x})
        finally:
            backend.close()

    allocated = len(cuda.buffers)
    with pytest.raises(ModelError, match="is a gender engine, not a detector model"):
        open_backend(engine_file, "detector", "trt-engine")
    assert len(cuda.buffers) == allocated + 3 and sorted(cuda.freed) == sorted(cuda.buffers)

    with pytest.raises(BackendError, match="runs .engine files, not gender.onnx"):
        open_backend(tmp_path / "gender.onnx", "gender", "trt-engine")

    def missing(module, extra):
        raise MissingExtraError(
            f"{module} is not installed; install it with: pip install 'faceedge[{extra}]'"
        )

    monkeypatch.setattr(tensorrt_engine, "require", missing)
    with pytest.raises(BackendError, match=r"trt-engine backend cannot run here: .*faceedge\[gpu\]"):
        open_backend(engine_file, "gender", "trt-engine")


@pytest.mark.parametrize(
    ("make", "refusal"),
    [
        (lambda: np.zeros((2, 8, 8, 3), np.float64), "is float32, not float64"),
        (lambda: np.zeros((2, 8, 8, 6), np.float32)[..., ::2], "must be C-contiguous"),
        (lambda: np.zeros((2, 3, 8, 8), np.float32), r"takes \(batch, 8, 8, 3\), not \(2, 3, 8, 8\)"),
        (lambda: np.zeros((8, 8, 3), np.float32), r"not \(8, 8, 3\)"),
        (lambda: np.zeros((5, 8, 8, 3), np.float32), "batches of 1 to 4 images, not 5"),
        (lambda: np.zeros((0, 8, 8, 3), np.float32), "batches of 1 to 4 images, not 0"),
    ],
    ids=["float64", "non-contiguous", "wrong-sample-shape", "no-batch-axis", "over-max-batch", "empty"],
)
def test_an_input_the_engine_buffer_does_not_hold_is_refused_before_any_copy(
    tmp_path, monkeypatch, make, refusal
):
    """The engine copies ``x.nbytes`` raw bytes from ``x``'s address into a buffer sized for the
    profile's largest batch of its own input type: anything else is refused (a BackendError, as the
    ONNX Runtime backend refuses a mistyped feed) before a byte reaches the device."""
    from faceedge.errors import BackendError
    from faceedge.runtime.tensorrt_engine import TensorRTEngine

    engine_file, cuda = _fake_engine(tmp_path, monkeypatch)
    with TensorRTEngine(engine_file) as engine:
        with pytest.raises(BackendError, match=refusal):
            engine.run_batch(make())
        assert cuda.copies == []
        engine.run_batch(np.zeros((4, 8, 8, 3), np.float32))  # what it holds still runs
        assert len(cuda.copies) == 3  # the input in, both outputs out


def test_an_engine_whose_input_type_is_not_its_manifest_s_is_refused_when_opened(tmp_path, monkeypatch):
    from faceedge.runtime.tensorrt_engine import TensorRTEngine

    engine_file, cuda = _fake_engine(tmp_path, monkeypatch, input_dtype="half")
    with pytest.raises(ModelError, match="input 'image' is float16, its manifest says float32"):
        TensorRTEngine(engine_file)
    assert cuda.buffers == {}  # refused before anything was allocated


class _TimingCacheConfig:
    """The two timing-cache calls of TensorRT's IBuilderConfig: ``create_timing_cache`` gives None
    for bytes not in ``readable`` (as TensorRT does for bytes it cannot read), ``set_timing_cache``
    False for a cache whose bytes are not in ``attachable`` (another GPU or TensorRT version)."""

    def __init__(self, readable=(b"",), attachable=(b"",)):
        from types import SimpleNamespace

        self.cache = SimpleNamespace
        self.readable, self.attachable, self.attached = set(readable), set(attachable), []

    def create_timing_cache(self, data):
        return self.cache(data=bytes(data)) if bytes(data) in self.readable else None

    def set_timing_cache(self, cache, ignore_mismatch):
        assert ignore_mismatch is False  # a cache from another GPU is never used
        if cache.data in self.attachable:
            self.attached.append(cache.data)
            return True
        return False


def test_a_timing_cache_is_reused_replaced_or_refused_as_tensorrt_can_use_it(tmp_path, caplog):
    from faceedge.export.tensorrt import _attach_timing_cache

    cache_file = tmp_path / "timing.cache"
    cache_file.write_bytes(b"this gpu")
    config = _TimingCacheConfig(readable=(b"", b"this gpu"), attachable=(b"", b"this gpu"))
    assert _attach_timing_cache(config, cache_file)[1] is True and config.attached == [b"this gpu"]

    for stored, readable, why in (
        (b"corrupt", (b"",), "cannot be read by this TensorRT"),
        (b"other gpu", (b"", b"other gpu"), "was made on another GPU or TensorRT"),
    ):
        cache_file.write_bytes(stored)
        config = _TimingCacheConfig(readable=readable)
        caplog.clear()
        cache, reused = _attach_timing_cache(config, cache_file)
        assert (cache.data, reused, config.attached) == (b"", False, [b""])
        assert why in caplog.text and "starting a new one" in caplog.text

    with pytest.raises(EngineBuildError, match="could not create an empty timing cache"):
        _attach_timing_cache(_TimingCacheConfig(readable=()), None)
    with pytest.raises(EngineBuildError, match="could not create an empty timing cache"):
        _attach_timing_cache(_TimingCacheConfig(attachable=()), tmp_path / "absent.cache")


class _FakeLogger:
    WARNING = 2

    def __init__(self, level):
        pass


def test_an_engine_build_without_a_timing_cache_stops_before_building(tmp_path, monkeypatch):
    """Through build_fp16_engine with a TensorRT stand-in whose create_timing_cache gives None:
    refused with EngineBuildError, and the builder is never asked to build."""
    from types import SimpleNamespace

    from faceedge.export import tensorrt as export_tensorrt
    from faceedge.runtime import tensorrt_engine

    built = []
    config = _TimingCacheConfig(readable=())
    config.set_memory_pool_limit = config.set_flag = config.add_optimization_profile = lambda *a: None
    network = SimpleNamespace(get_input=lambda i: SimpleNamespace(name="image", shape=(-1, 8, 8, 3)))
    builder = SimpleNamespace(
        create_network=lambda flags: network,
        create_builder_config=lambda: config,
        create_optimization_profile=lambda: SimpleNamespace(set_shape=lambda *a: None),
        build_serialized_network=lambda *a: built.append(a),
    )
    trt = SimpleNamespace(
        __version__="10.0.0",
        Logger=_FakeLogger,
        Builder=lambda logger: builder,
        OnnxParser=lambda network, logger: SimpleNamespace(parse=lambda data: True),
        MemoryPoolType=SimpleNamespace(WORKSPACE=0),
        BuilderFlag=SimpleNamespace(FP16=0),
        ProfilingVerbosity=SimpleNamespace(DETAILED=0),
    )
    modules = {"tensorrt": trt, "cuda.bindings.runtime": _FakeCuda()}
    monkeypatch.setattr(export_tensorrt, "require", lambda module, extra: modules[module])
    monkeypatch.setattr(tensorrt_engine, "require", lambda module, extra: modules[module])
    onnx_file = tmp_path / "gender.onnx"
    onnx_file.write_bytes(b"an onnx model")
    with pytest.raises(EngineBuildError, match="could not create an empty timing cache"):
        export_tensorrt.build_fp16_engine(onnx_file, BatchProfile(1, 2, 4))
    assert built == []
