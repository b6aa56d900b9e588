"""Backends: what is asked for really runs, or the user is told why not; never a silent fallback."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from faceedge.bundled import bundled_path
from faceedge.errors import BackendError, ModelError
from tests.conftest import REPO

ort = pytest.importorskip("onnxruntime")
from faceedge.runtime.backends import BACKENDS, backend_names, open_backend  # noqa: E402


def _one_image(backend) -> dict:
    spec = backend.manifest.inputs[0]
    shape = tuple(1 if isinstance(d, str) else d for d in spec.shape)
    return {spec.name: np.zeros(shape, dtype=np.float32)}


def test_the_cpu_backend_runs_the_bundled_classifier_on_the_cpu_provider():
    backend = open_backend(bundled_path("gender"), "gender", "cpu")
    assert backend.name == "cpu" and backend.providers == ("CPUExecutionProvider",)
    (p,) = backend.run(_one_image(backend))["p_female"].reshape(-1)
    assert 0.0 <= p <= 1.0


def test_backend_names_come_from_the_table():
    assert backend_names() == ["auto", "trt-engine", "tensorrt", "cuda", "cpu", "keras"]
    assert set(BACKENDS) == {"trt-engine", "tensorrt", "cuda", "cpu", "keras"}
    assert BACKENDS["keras"].artifact_suffix == ".keras"


def test_keras_runs_a_keras_file_only():
    with pytest.raises(BackendError, match="the keras backend runs .keras files, not gender.onnx"):
        open_backend(bundled_path("gender"), "gender", "keras")


def test_the_keras_backend_writes_the_manifest_of_a_two_head_model_from_the_model():
    pytest.importorskip("keras")
    from faceedge.runtime.classifier import GenderClassifier

    classifier = GenderClassifier(REPO / "models" / "gender_age" / "model.keras")  # auto: keras
    assert classifier.backend.name == "keras" and classifier.has_age
    spec = classifier.spec
    assert (spec.layout, spec.color, spec.scale, spec.mean, classifier.input_size) == (
        "NHWC",
        "RGB",
        1.0,
        0.0,
        96,
    )
    assert (classifier.threshold, classifier.positive, classifier.negative) == (0.5, "female", "male")
    chips = np.random.default_rng(0).integers(0, 256, (3, 96, 96, 3), dtype=np.uint8)
    p_female, ages = classifier.predict_heads(chips)
    assert p_female.shape == ages.shape == (3,) and np.all((p_female >= 0) & (p_female <= 1))
    np.testing.assert_array_equal(classifier.predict(chips), p_female)


class _CountingBackend:
    """A fake backend with a largest batch, recording the batch of each run."""

    name, providers, precision = "fake", ("fake",), "fp32"

    def __init__(self, manifest, max_batch):
        self.manifest, self.max_batch, self.batches = manifest, max_batch, []

    def run(self, inputs):
        (x,) = inputs.values()
        self.batches.append(len(x))
        return {"p_female": x[:, :1, 0, 0].reshape(-1, 1) / 255.0}

    def close(self):
        pass


@pytest.mark.parametrize(
    ("max_batch", "batch_size", "runs"),
    [(None, None, [10]), (4, None, [4, 4, 2]), (4, 3, [3, 3, 3, 1]), (None, 6, [6, 4]), (8, 16, [8, 2])],
)
def test_the_classifier_splits_a_batch_at_the_smaller_of_the_backend_and_caller_limits(
    monkeypatch, max_batch, batch_size, runs
):
    import dataclasses

    import faceedge.runtime.classifier as classifier_module
    from faceedge.manifest import manifest_path, read_manifest

    manifest = read_manifest(manifest_path(bundled_path("gender")))
    manifest = dataclasses.replace(manifest, outputs=manifest.outputs[:1])  # gender-only: P(female)
    backend = _CountingBackend(manifest, max_batch)
    monkeypatch.setattr(classifier_module, "open_backend", lambda *args: backend)
    classifier = classifier_module.GenderClassifier("fake.onnx", batch_size=batch_size)
    size = classifier.input_size
    chips = np.zeros((10, size, size, 3), np.uint8)
    chips[:, 0, 0, :] = np.arange(10)[:, None]  # each chip's first pixel says which it is
    p, ages = classifier.predict_heads(chips)
    assert backend.batches == runs and ages is None
    np.testing.assert_allclose(p, np.arange(10) / 255.0, rtol=1e-6)
    assert classifier.predict(chips[:0]).shape == (0,)


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="this ONNX Runtime has CUDA"
)
@pytest.mark.parametrize("name", ["cuda", "tensorrt"])
def test_a_gpu_backend_this_onnxruntime_lacks_is_an_error_not_a_fallback(name):
    with pytest.raises(BackendError, match="has no .*ExecutionProvider"):
        open_backend(bundled_path("gender"), "gender", name)


def test_a_provider_that_silently_falls_back_to_the_cpu_is_refused(monkeypatch):
    # onnxruntime-gpu lists CUDA as available even where CUDA's libraries are missing; the session
    # then runs on the CPU with no more than a log line. Pretend to be that install.
    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    real = ort.InferenceSession

    def cpu_only_session(path, sess_options=None, providers=None, **kwargs):
        # An ONNX Runtime that also ignored the option refusing CPU nodes (which, honoured, would
        # refuse this session's explicit CPU provider).
        return real(path, providers=["CPUExecutionProvider"], **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", cpu_only_session)
    with pytest.raises(BackendError, match="libraries of CUDAExecutionProvider .* did not load"):
        open_backend(bundled_path("gender"), "gender", "cuda")


def test_auto_takes_the_fastest_that_works_and_says_which(caplog):
    with caplog.at_level(logging.DEBUG, logger="faceedge.runtime.backends"):
        backend = open_backend(bundled_path("gender"), "gender", "auto")
    assert backend.name in {"tensorrt", "cuda", "cpu"}
    assert f"backend auto: {backend.name} for gender.onnx" in caplog.text
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert backend.name == "cpu"
        assert "(tensorrt, cuda: not usable here, see `faceedge doctor`)" in caplog.text
        assert "passed over cuda: this ONNX Runtime" in caplog.text  # the reasons, for --verbose


def test_an_explicit_backend_that_does_not_run_this_kind_of_file_is_an_error():
    with pytest.raises(BackendError, match="runs .engine files"):
        open_backend(bundled_path("gender"), "gender", "trt-engine")
    with pytest.raises(BackendError, match="unknown backend 'npu'"):
        open_backend(bundled_path("gender"), "gender", "npu")


def test_a_tampered_model_is_refused_when_it_is_opened_on_any_backend(tmp_path):
    for name in ("gender.onnx", "gender.manifest.json"):
        shutil.copy(bundled_path("gender").parent / name, tmp_path / name)
    data = bytearray((tmp_path / "gender.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "gender.onnx").write_bytes(bytes(data))
    for backend in ("auto", "cpu"):
        with pytest.raises(ModelError, match="sha256 differs"):
            open_backend(tmp_path / "gender.onnx", "gender", backend)


def test_a_model_opened_for_the_wrong_task_is_refused():
    with pytest.raises(ModelError, match="is a face-detection model, not a gender model"):
        open_backend(bundled_path("blazeface_short"), "gender", "cpu")


def test_a_session_that_opens_but_cannot_run_is_refused_when_loaded(monkeypatch):
    real = ort.InferenceSession

    class FailsAtRun:
        def __init__(self, *args, **kwargs):
            self.session = real(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.session, name)

        def run(self, *args, **kwargs):
            raise RuntimeError("engine build failed")

    monkeypatch.setattr(ort, "InferenceSession", FailsAtRun)
    with pytest.raises(ModelError, match="cannot run it: engine build failed"):
        open_backend(bundled_path("gender"), "gender", "cpu")


def test_a_batch_size_below_one_is_refused():
    from faceedge.runtime.classifier import GenderClassifier

    with pytest.raises(ValueError, match="batch_size must be 1 or more"):
        GenderClassifier(bundled_path("gender"), "cpu", batch_size=0)


def test_evaluating_a_keras_model_without_its_extra_names_the_extra(monkeypatch):
    import dataclasses

    from faceedge.errors import MissingExtraError
    from faceedge.evaluate.predictors import open_classifier

    def no_tensorflow(path, task, cache_dir=None):
        raise MissingExtraError("tensorflow is not installed; install it with: pip install 'faceedge[train]'")

    monkeypatch.setitem(BACKENDS, "keras", dataclasses.replace(BACKENDS["keras"], opener=no_tensorflow))
    with pytest.raises(MissingExtraError, match=r"faceedge\[train\]"):  # exit code 5, not a backend's 10
        open_classifier(REPO / "models" / "gender" / "model.keras")


class _Subgraph:
    """One entry of ONNX Runtime's graph assignment record: a provider and the nodes it took."""

    def __init__(self, ep_name: str, nodes: int) -> None:
        self.ep_name, self._nodes = ep_name, nodes

    def get_nodes(self) -> list:
        return [object()] * self._nodes


@pytest.fixture
def fake_gpu_ort(monkeypatch):
    """ONNX Runtime with GPU providers, faked: what is loaded, and when, lands in ``events``; the
    session says it runs on the provider asked for and places nodes as ``placement`` says."""
    import importlib.abc
    import importlib.util
    import sys

    events: list = []
    placement: dict[str, int] = {}
    real = ort.InferenceSession

    class FakeTensorRT(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname, path, target=None):
            return importlib.util.spec_from_loader(fullname, self) if fullname == "tensorrt" else None

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            events.append("import tensorrt")

    class GpuSession:
        def __init__(self, path, sess_options=None, providers=None, **kwargs):
            names = [p[0] if isinstance(p, tuple) else p for p in providers]
            events.append(("session", names[0]))
            self.made_with = (names, sess_options, kwargs)
            self.session = real(path, providers=["CPUExecutionProvider"])
            self.placement = placement or {names[0]: 30}

        def __getattr__(self, name):
            return getattr(self.session, name)

        def get_providers(self):
            return [*self.made_with[0], "CPUExecutionProvider"]

        def get_provider_graph_assignment_info(self):
            return [_Subgraph(ep, count) for ep, count in self.placement.items()]

    def preload_dlls(cuda=True, cudnn=True, msvc=True, directory=None):
        events.append(("preload", cuda, cudnn))

    monkeypatch.setattr(
        ort,
        "get_available_providers",
        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    monkeypatch.setattr(ort, "InferenceSession", GpuSession)
    monkeypatch.setattr(ort, "preload_dlls", preload_dlls, raising=False)
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.setattr(sys, "meta_path", [FakeTensorRT(), *sys.meta_path])
    return events, placement


@pytest.mark.parametrize(
    ("name", "loaded"),
    [
        ("cpu", []),
        ("cuda", [("preload", True, True)]),
        ("tensorrt", [("preload", True, True), "import tensorrt"]),
    ],
)
def test_the_gpu_libraries_are_loaded_before_the_session_is_made_and_only_for_the_gpu(
    fake_gpu_ort, name, loaded
):
    from faceedge.runtime.backends.onnxruntime import NO_CPU_FALLBACK, PROVIDER

    events, _ = fake_gpu_ort
    backend = open_backend(bundled_path("gender"), "gender", name)
    assert events == [*loaded, ("session", PROVIDER[name])]
    names, options, kwargs = backend.session.made_with
    assert kwargs == {"enable_fallback": 0}  # ONNX Runtime's Python layer never retries on the CPU
    if name != "cpu":
        # No node may fall back to the CPU, and ONNX Runtime refuses that option next to a listed CPU.
        assert options.get_session_config_entry(NO_CPU_FALLBACK) == "1"
        assert "CPUExecutionProvider" not in names
        # ONNX Runtime lists the CPU provider in every session; a GPU session does not run there.
        assert backend.providers == tuple(names)


@pytest.mark.parametrize("name", ["cuda", "tensorrt"])
def test_gpu_libraries_that_did_not_load_are_named_not_the_model(fake_gpu_ort, monkeypatch, name):
    # ONNX Runtime >= 1.12 drops a provider whose libraries do not load, and under NO_CPU_FALLBACK
    # refuses the session from InferenceSession() with this (its own words).
    def refused(path, sess_options=None, providers=None, **kwargs):
        raise RuntimeError(
            "[ONNXRuntimeError] : 1 : FAIL : This session contains graph nodes that are assigned to the "
            "default CPU EP, but fallback to CPU EP has been explicitly disabled by the user."
        )

    def preload_dlls(cuda=True, cudnn=True, msvc=True, directory=None):
        print("Failed to load libcudnn.so.9")

    monkeypatch.setattr(ort, "InferenceSession", refused)
    monkeypatch.setattr(ort, "preload_dlls", preload_dlls)
    with pytest.raises(BackendError) as caught:
        open_backend(bundled_path("gender"), "gender", name)
    message = str(caught.value)
    assert "did not load" in message and "`faceedge doctor`" in message
    assert "preload_dlls() said: Failed to load libcudnn.so.9" in message
    assert "cannot open" not in message


def test_a_tensorrt_whose_libraries_do_not_load_is_not_called_missing(fake_gpu_ort, monkeypatch):
    import importlib.abc
    import sys

    from faceedge.errors import MissingExtraError

    class BrokenTensorRT(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname == "tensorrt":
                raise ImportError("libnvinfer.so.10: cannot open shared object file")
            return None

    monkeypatch.setattr(sys, "meta_path", [BrokenTensorRT(), *sys.meta_path])
    with pytest.raises(BackendError, match="libnvinfer.so.10: cannot open shared object file") as caught:
        open_backend(bundled_path("gender"), "gender", "tensorrt")
    assert not isinstance(caught.value, MissingExtraError)


def test_tensorrt_leaving_nodes_to_cuda_is_said(fake_gpu_ort, caplog):
    _, placement = fake_gpu_ort
    placement.update({"TensorrtExecutionProvider": 28, "CUDAExecutionProvider": 2})
    with caplog.at_level(logging.WARNING, logger="faceedge.runtime.backends.onnxruntime"):
        backend = open_backend(bundled_path("gender"), "gender", "tensorrt")
    assert backend.placement == {"TensorrtExecutionProvider": 28, "CUDAExecutionProvider": 2}
    assert "nodes per provider" in caplog.text


def test_the_tensorrt_provider_without_tensorrt_names_the_install_command(fake_gpu_ort, monkeypatch):
    import sys

    from faceedge.errors import MissingExtraError
    from faceedge.runtime.backends.onnxruntime import OnnxRuntimeBackend

    events, _ = fake_gpu_ort
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` raises ImportError
    with pytest.raises(MissingExtraError, match=r"--extra-index-url https://pypi\.nvidia\.com"):
        OnnxRuntimeBackend(bundled_path("gender"), "gender", "tensorrt")
    assert not any(event[0] == "session" for event in events if isinstance(event, tuple))


def test_what_preload_dlls_prints_stays_off_stdout_and_shows_when_the_gpu_is_refused(
    fake_gpu_ort, monkeypatch, capsys
):
    def preload_dlls(cuda=True, cudnn=True, msvc=True, directory=None):
        print("Failed to load libcublasLt.so.13")

    monkeypatch.setattr(ort, "preload_dlls", preload_dlls)
    monkeypatch.setattr(ort.InferenceSession, "get_providers", lambda self: ["CPUExecutionProvider"])
    with pytest.raises(BackendError, match=r"preload_dlls\(\) said: Failed to load libcublasLt"):
        open_backend(bundled_path("gender"), "gender", "cuda")
    assert capsys.readouterr().out == ""  # `faceedge run --json` writes its lines there
