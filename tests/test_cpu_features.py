"""The CPU's fast INT8 dot products, read from fake /proc/cpuinfo texts, and the bundled classifier
they make the default: INT8 on such a CPU, FP32 elsewhere and on GPUs, `--precision` overriding."""

from __future__ import annotations

import logging

import pytest

from faceedge.runtime.cpu import Int8Dot, cpu_features, features_from_cpuinfo, features_from_sysctl, int8_dot
from faceedge.runtime.precision import choose_precision

X86_VNNI = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu vme sse sse2 avx avx2 fma f16c avx512f avx512bw avx512_vnni avx512_bf16
"""
X86_AVX_VNNI = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx_vnni\n"
X86_AVX2 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Core(TM) i7-6700 CPU @ 3.40GHz
flags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c
"""
ARM_DOTPROD = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm asimddp
CPU implementer\t: 0x41
"""
ARM_OLD = "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
VNNI_HERE = Int8Dot(True, ("avx512_vnni",), "this CPU has VNNI")
NONE_HERE = int8_dot(frozenset({"avx2"}))


@pytest.mark.parametrize(
    ("cpuinfo", "fast", "features", "reason"),
    [
        (X86_VNNI, True, ("avx512_vnni",), "this CPU has VNNI"),
        (X86_AVX_VNNI, True, ("avx_vnni",), "this CPU has VNNI"),
        (X86_AVX2, False, (), "no fast INT8 dot products"),
        (ARM_DOTPROD, True, ("asimddp",), "this CPU has the ARM dot product"),
        (ARM_OLD, False, (), "no fast INT8 dot products"),
        ("", False, (), "no fast INT8 dot products"),
    ],
)
def test_fast_int8_dot_products_are_read_from_cpuinfo(cpuinfo, fast, features, reason):
    found = int8_dot(features_from_cpuinfo(cpuinfo))
    assert (found.fast, found.features) == (fast, features)
    assert reason in found.reason


def test_a_flag_that_only_contains_the_word_is_not_the_feature():
    # "avx512_vnni" must be a whole word of the flags line, not part of another one.
    assert not int8_dot(features_from_cpuinfo("flags\t: avx512_vnnix xavx_vnni\n")).fast


def test_macos_sysctl_features_count_only_where_set():
    text = "hw.optional.arm.FEAT_DotProd: 1\nhw.optional.arm.FEAT_I8MM: 0\nhw.optional.floatingpoint: 1\n"
    assert features_from_sysctl(text) == frozenset({"asimddp"})
    assert int8_dot(features_from_sysctl(text)).fast


def test_unknown_features_mean_fp32_never_a_guess():
    assert cpu_features(system="Windows") is None
    unknown = int8_dot(None)
    assert not unknown.fast and "could not be read" in unknown.reason


@pytest.mark.parametrize(
    ("requested", "backend", "cpu", "gate", "precision", "reason"),
    [
        ("auto", "cpu", VNNI_HERE, None, "int8", "this CPU has VNNI; gender_int8.onnx passed its gate"),
        ("auto", "cpu", NONE_HERE, None, "fp32", "no fast INT8 dot products"),
        ("auto", "cpu", VNNI_HERE, "its manifest records no gate", "fp32", "but gender_int8.onnx: its"),
        ("auto", "cuda", VNNI_HERE, None, "fp32", "the cuda backend runs the FP32 artifact"),
        ("auto", "tensorrt", VNNI_HERE, None, "fp32", "the tensorrt backend"),
        ("fp32", "cpu", VNNI_HERE, None, "fp32", "precision fp32 asked for"),
        ("int8", "cpu", NONE_HERE, None, "int8", "precision int8 asked for"),
    ],
)
def test_the_choice_of_the_bundled_classifier(requested, backend, cpu, gate, precision, reason):
    choice = choose_precision(requested, backend, cpu, gate)
    assert choice.precision == precision and reason in choice.reason
    assert choice.artifact == {"fp32": "gender", "int8": "gender_int8"}[precision]


class _FakeClassifier:
    """What open_bundled_classifier opens, recorded: the file and the backend asked for; ``auto``
    resolves to ``resolves_to``."""

    opened: list[tuple[str, str]] = []
    closed: list[str] = []
    resolves_to = "cpu"

    def __init__(self, path, backend, cache_dir=None) -> None:
        self.path = str(path)
        self.backend = type("B", (), {"name": self.resolves_to if backend == "auto" else backend})()
        _FakeClassifier.opened.append((self.path.rsplit("/", 1)[-1], backend))

    def close(self) -> None:
        _FakeClassifier.closed.append(self.path.rsplit("/", 1)[-1])


@pytest.fixture
def fake_classifier(monkeypatch):
    from faceedge.runtime import precision

    _FakeClassifier.opened, _FakeClassifier.closed, _FakeClassifier.resolves_to = [], [], "cpu"
    monkeypatch.setattr(precision, "GenderClassifier", _FakeClassifier)
    monkeypatch.setattr(precision, "_gpu_provider_listed", lambda: True)  # auto has a GPU to try
    return _FakeClassifier


@pytest.mark.parametrize(
    ("fields", "cpu", "resolves_to", "opened", "closed"),
    [
        # auto on a VNNI CPU: FP32 opens on auto, which takes the CPU, so INT8 replaces it.
        ({}, VNNI_HERE, "cpu", [("gender.onnx", "auto"), ("gender_int8.onnx", "cpu")], ["gender.onnx"]),
        ({}, NONE_HERE, "cpu", [("gender.onnx", "auto")], []),
        ({}, VNNI_HERE, "cuda", [("gender.onnx", "auto")], []),  # a GPU keeps FP32
        ({"backend": "cuda"}, VNNI_HERE, "cpu", [("gender.onnx", "cuda")], []),
        ({"backend": "cpu"}, VNNI_HERE, "cpu", [("gender_int8.onnx", "cpu")], []),
        ({"backend": "cpu"}, NONE_HERE, "cpu", [("gender.onnx", "cpu")], []),
        ({"precision": "fp32"}, VNNI_HERE, "cpu", [("gender.onnx", "auto")], []),
        ({"precision": "int8"}, NONE_HERE, "cuda", [("gender_int8.onnx", "cpu")], []),
    ],
)
def test_what_opens_for_each_precision_backend_and_cpu(
    fake_classifier, fields, cpu, resolves_to, opened, closed
):
    from faceedge.runtime.config import PipelineConfig
    from faceedge.runtime.precision import open_bundled_classifier

    fake_classifier.resolves_to = resolves_to
    open_bundled_classifier(PipelineConfig(**fields), cpu=cpu)
    assert fake_classifier.opened == opened and fake_classifier.closed == closed


def test_without_a_gpu_provider_auto_opens_only_the_classifier_it_runs(fake_classifier, monkeypatch):
    from faceedge.runtime import precision
    from faceedge.runtime.config import PipelineConfig

    monkeypatch.setattr(precision, "_gpu_provider_listed", lambda: False)
    precision.open_bundled_classifier(PipelineConfig(), cpu=VNNI_HERE)
    assert fake_classifier.opened == [("gender_int8.onnx", "cpu")] and fake_classifier.closed == []
    fake_classifier.opened = []
    precision.open_bundled_classifier(PipelineConfig(), cpu=NONE_HERE)
    assert fake_classifier.opened == [("gender.onnx", "cpu")]


def test_the_pipeline_says_which_classifier_and_why(monkeypatch, caplog):
    pytest.importorskip("onnxruntime")
    from faceedge.runtime import precision
    from faceedge.runtime.pipeline import FacePipeline

    for cpu, expected, line in (
        (VNNI_HERE, "int8", "classifier: INT8 (this CPU has VNNI; gender_int8.onnx passed its gate)"),
        (NONE_HERE, "fp32", "classifier: FP32 (this CPU has no fast INT8 dot products"),
    ):
        monkeypatch.setattr(precision, "int8_dot_here", lambda cpu=cpu: cpu)
        caplog.clear()
        with caplog.at_level(logging.INFO), FacePipeline(backend="cpu", detect=False) as pipeline:
            assert pipeline.classifier.backend.precision == expected
        assert any(record.getMessage().startswith(line) for record in caplog.records), caplog.text


def test_a_model_of_ones_own_runs_as_it_is(monkeypatch, caplog):
    pytest.importorskip("onnxruntime")
    from faceedge.bundled import bundled_path
    from faceedge.runtime import precision
    from faceedge.runtime.pipeline import FacePipeline

    monkeypatch.setattr(precision, "int8_dot_here", lambda: VNNI_HERE)
    model = bundled_path("gender")
    with caplog.at_level(logging.INFO), FacePipeline(model=model, backend="cpu", detect=False) as pipeline:
        assert pipeline.classifier.backend.precision == "fp32"
    assert "classifier: INT8" not in caplog.text


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"precision": "fp16"}, ValueError, "unknown precision 'fp16'; choose one of auto, fp32, int8"),
        ({"model": "mine.onnx", "precision": "int8"}, "ModelError", "chooses among the bundled classifiers"),
        ({"model": "mine.onnx", "precision": "fp32"}, "ModelError", "runs as it is"),
        ({"backend": "cuda", "precision": "int8"}, "BackendError", "runs on the cpu backend, not cuda"),
        ({"backend": "tensorrt", "precision": "int8"}, "BackendError", "not tensorrt"),
    ],
)
def test_precision_is_checked_with_the_config(fields, error, message):
    from faceedge import errors
    from faceedge.runtime.config import PipelineConfig

    with pytest.raises(getattr(errors, error) if isinstance(error, str) else error, match=message):
        PipelineConfig(**fields)


def test_the_run_command_takes_precision_and_says_which_classifier_runs(monkeypatch):
    pytest.importorskip("onnxruntime")
    from typer.testing import CliRunner

    from faceedge.cli import app
    from faceedge.runtime import precision

    monkeypatch.setattr(precision, "int8_dot_here", lambda: VNNI_HERE)
    args = ["run", "--source", "demo", "--no-display", "--max-frames", "2", "--backend", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "classifier: INT8 (this CPU has VNNI; gender_int8.onnx passed its gate)" in result.output
    assert "classifier: cpu int8 (CPUExecutionProvider)" in result.output
    result = CliRunner().invoke(app, [*args, "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert "classifier: cpu fp32 (CPUExecutionProvider)" in result.output


def test_the_int8_artifact_counts_only_with_a_gate_it_passed():
    import dataclasses

    from faceedge.bundled import gate_problem, load_bundled

    manifest = load_bundled("gender_int8")[0]
    assert gate_problem(manifest) is None  # the bundled one passed its gate at export
    failing = {"check": "test accuracy lost against FP32", "measured": 0.02, "limit": 0.005}
    broken = dataclasses.replace(manifest, accuracy={**manifest.accuracy, "gate": [failing]})
    assert "test accuracy lost against FP32 0.02 over 0.005" in gate_problem(broken)
    assert gate_problem(dataclasses.replace(manifest, accuracy={})) == "its manifest records no gate"
