"""The command line through Typer's CliRunner: commands work, user errors are one clear line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from faceedge import __version__
from faceedge.cli import app

runner = CliRunner()


def _error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output  # one line, no traceback
    return lines[0]


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
