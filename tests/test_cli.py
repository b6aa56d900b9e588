"""The command line through Typer's CliRunner: commands work, user errors are one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from faceedge import __version__
from faceedge.cli import app

runner = CliRunner()


def _error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output  # one line, no traceback
    return lines[0]


def _error_after_logging(result) -> str:
    """The one error line of a command that logged its progress before failing."""
    errors = [line for line in result.output.splitlines() if line.startswith("faceedge: error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert result.output.rstrip().endswith(errors[0])  # the last word: nothing after it
    return errors[0]


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_data_split_writes_a_csv(synthetic_folder, tmp_path):
    out = tmp_path / "split.csv"
    result = runner.invoke(app, ["data", "split", str(synthetic_folder), "--out", str(out), "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "train 96, val 12, test 12 (seed 5)" in result.output
    assert out.read_text().startswith("# faceedge split: seed=5")


def test_data_inspect_prints_tables_and_draws_a_png(synthetic_folder, tmp_path):
    plot, stats = tmp_path / "stats.png", tmp_path / "stats.json"
    result = runner.invoke(
        app, ["data", "inspect", str(synthetic_folder), "--plot", str(plot), "--json", str(stats)]
    )
    assert result.exit_code == 0, result.output
    assert "120 faces" in result.output and "imbalance" in result.output
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert json.loads(stats.read_text())["gender"] == {"male": 60, "female": 60}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["data", "inspect", "/no/such/UTKFace.tar.gz"], 2, "no dataset at /no/such/UTKFace.tar.gz"),
        (["evaluate", "/no/model.keras", "--data", "/no/data"], 3, "no model file at /no/model.keras"),
        (["report", "/no/run"], 4, "is not a complete training run"),
        (["train", "--out", "/tmp/faceedge-test-unused"], 2, "give the UTKFace data with --data"),
    ],
)
def test_user_errors_are_one_line_and_an_exit_code(args, code, message, monkeypatch):
    monkeypatch.delenv("FACEEDGE_UTKFACE", raising=False)
    result = runner.invoke(app, args)
    assert result.exit_code == code
    line = _error_line(result)
    assert line.startswith("faceedge: error: ") and message in line


def test_unknown_model_kind_is_named(tmp_path, synthetic_folder):
    model = tmp_path / "model.pt"
    model.write_bytes(b"torch")
    result = runner.invoke(app, ["evaluate", str(model), "--data", str(synthetic_folder)])
    assert result.exit_code == 3 and ".keras" in _error_line(result)


def test_help_and_the_data_commands_do_not_import_tensorflow():
    code = (
        "import sys; from typer.testing import CliRunner; from faceedge.cli import app; "
        "import faceedge.evaluate.report, faceedge.train.rundir; "
        "r = CliRunner().invoke(app, ['train', '--help']); assert r.exit_code == 0; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


BUNDLED_GENDER = Path(__file__).resolve().parents[1] / "faceedge" / "models" / "gender.onnx"
NOT_UTF8_SPLITS = {
    "binary": b"\x1f\x8b\x08\x00\xff\xfe" + bytes(range(256)),
    "utf16": "file,split\na.jpg,test\n".encode("utf-16"),
}


@pytest.fixture(params=sorted(NOT_UTF8_SPLITS))
def not_utf8_split(request, tmp_path) -> Path:
    path = tmp_path / f"{request.param}.csv"
    path.write_bytes(NOT_UTF8_SPLITS[request.param])
    return path


def test_evaluate_with_a_split_file_that_is_not_utf8_is_a_split_error(synthetic_folder, not_utf8_split):
    args = ["evaluate", str(BUNDLED_GENDER), "--data", str(synthetic_folder)]
    result = runner.invoke(app, [*args, "--split-file", str(not_utf8_split)])
    assert result.exit_code == 2, result.output
    assert f"{not_utf8_split} " in _error_after_logging(result)


def test_export_with_a_split_file_that_is_not_utf8_is_a_split_error(
    synthetic_folder, not_utf8_split, tmp_path, monkeypatch
):
    import faceedge.export.gender

    # A stand-in for the Keras model, opened before the split is read: no training stack needed.
    keras = SimpleNamespace(has_age=False, backend=SimpleNamespace(model=None), input_size=64)
    monkeypatch.setattr(faceedge.export.gender, "open_classifier", lambda path: keras)
    model = tmp_path / "model.keras"
    model.write_bytes(b"a model")
    out = tmp_path / "exported"
    args = ["export", "gender", str(model), "--data", str(synthetic_folder), "--out", str(out)]
    result = runner.invoke(app, [*args, "--split-file", str(not_utf8_split)])
    assert result.exit_code == 2, result.output
    assert f"{not_utf8_split} " in _error_after_logging(result)
    assert not out.exists()


def _never(*args, **kwargs):
    pytest.fail("the work started although an output cannot be written")


# Each command with an output that cannot be written (its folder is a file, "blocker"), and the
# function doing the command's work, which must never be called.
UNWRITABLE_OUTPUTS = {
    "evaluate --json": (
        ["evaluate", str(BUNDLED_GENDER), "--data", "{data}", "--json", "{blocker}/report.json"],
        "faceedge.evaluate.report.evaluate_model",
    ),
    "export gender --out": (
        ["export", "gender", "{model}", "--data", "{data}", "--out", "{blocker}/exported"],
        "faceedge.export.gender.export_gender",
    ),
    "export gender --out file": (
        ["export", "gender", "{model}", "--data", "{data}", "--out", "{blocker}"],
        "faceedge.export.gender.export_gender",
    ),
    "export gender --triton": (
        ["export", "gender", "{model}", "--data", "{data}", "--out", "{tmp}/e", "--triton", "{blocker}/t"],
        "faceedge.export.gender.export_gender",
    ),
    "export detector --out": (
        ["export", "detector", "--out", "{blocker}/detectors"],
        "faceedge.export.detector.export_detectors",
    ),
    "bench --json": (
        ["bench", "--model", "{model}", "--data", "{data}", "--json", "{blocker}/bench.json"],
        "faceedge.bench.run.run_bench",
    ),
    "bench --md": (
        ["bench", "--model", "{model}", "--data", "{data}", "--md", "{blocker}/bench.md"],
        "faceedge.bench.run.run_bench",
    ),
    "bench --png": (
        ["bench", "--model", "{model}", "--data", "{data}", "--png", "{blocker}/bench.png"],
        "faceedge.bench.run.run_bench",
    ),
    "data inspect --plot": (
        ["data", "inspect", "{data}", "--plot", "{blocker}/stats.png"],
        "faceedge.data.inspect.describe",
    ),
    "data inspect --json": (
        ["data", "inspect", "{data}", "--plot", "{tmp}/stats.png", "--json", "{blocker}/stats.json"],
        "faceedge.data.inspect.describe",
    ),
    "data split --out": (
        ["data", "split", "{data}", "--out", "{blocker}/split.csv"],
        "faceedge.data.split.make_split",
    ),
    "train --out": (["train", "--data", "{data}", "--out", "{blocker}/run"], None),
    "train --out file": (["train", "--data", "{data}", "--out", "{blocker}"], None),
}


@pytest.mark.parametrize("case", sorted(UNWRITABLE_OUTPUTS))
def test_an_output_that_cannot_be_written_is_refused_before_any_work(
    case, synthetic_folder, tmp_path, monkeypatch
):
    args, work = UNWRITABLE_OUTPUTS[case]
    if work is not None:
        pytest.importorskip(work.rsplit(".", 1)[0])
        monkeypatch.setattr(work, _never)
    else:  # the trainer imports Keras: stood in for, so that this runs on a lean install too
        monkeypatch.setitem(sys.modules, "faceedge.train.trainer", SimpleNamespace(train=_never))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is needed")
    model = tmp_path / "model.keras"
    model.write_bytes(b"a model")
    places = {"data": synthetic_folder, "blocker": blocker, "model": model, "tmp": tmp_path}
    result = runner.invoke(app, [arg.format(**places) for arg in args])
    assert result.exit_code == 11, result.output
    line = _error_line(result)
    assert line.startswith("faceedge: error: cannot write the ") and str(blocker) in line
    assert blocker.read_text() == "a file where a folder is needed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "data", "model.keras"]


def test_evaluate_to_proc_is_refused_before_the_evaluation(synthetic_folder, monkeypatch):
    import faceedge.evaluate.report

    monkeypatch.setattr(faceedge.evaluate.report, "evaluate_model", _never)
    args = ["evaluate", str(BUNDLED_GENDER), "--data", str(synthetic_folder), "--json", "/proc/x.json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 11, result.output
    assert "cannot write the evaluation report to /proc/x.json" in _error_line(result)


@pytest.mark.parametrize(("missing", "extra"), [("matplotlib", "train"), ("tf2onnx.convert", "train")])
def test_an_optional_package_missing_without_a_guard_names_its_extra(missing, extra, monkeypatch):
    import faceedge.cli
    import faceedge.train.rundir

    def absent(run):
        raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)

    monkeypatch.setattr(faceedge.train.rundir, "format_run", absent)
    monkeypatch.setattr(faceedge.cli, "_installed", lambda package: False)  # as on a lean install
    result = runner.invoke(app, ["report", "some-run"])
    assert result.exit_code == 5
    top = missing.partition(".")[0]
    assert _error_line(result) == (
        f"faceedge: error: {top} is not installed; install it with: pip install 'faceedge[{extra}]'"
    )


def test_a_module_missing_inside_an_installed_package_stays_a_bug(monkeypatch):
    # matplotlib is installed here: a module missing inside it is no extra to install.
    import faceedge.train.rundir

    def absent(run):
        raise ModuleNotFoundError("No module named 'matplotlib.gone'", name="matplotlib.gone")

    monkeypatch.setattr(faceedge.train.rundir, "format_run", absent)
    result = runner.invoke(app, ["report", "some-run"])
    assert isinstance(result.exception, ModuleNotFoundError)


def test_a_missing_module_of_faceedge_itself_stays_a_bug(monkeypatch):
    import faceedge.train.rundir

    def absent(run):
        raise ModuleNotFoundError("No module named 'faceedge.gone'", name="faceedge.gone")

    monkeypatch.setattr(faceedge.train.rundir, "format_run", absent)
    result = runner.invoke(app, ["report", "some-run"])
    assert isinstance(result.exception, ModuleNotFoundError)
