"""Every command on a lean install (`pip install 'faceedge[cpu]'`, what a device has): the commands
that need the training stack say which extra brings it, in one line with exit 5; the others work.

The lean install is played by an interpreter in which the train extra's packages cannot be imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, write_synthetic_folder

TRAIN_EXTRA = ("tensorflow", "keras", "tf2onnx", "onnx", "tensorboard", "matplotlib")
LEAN_MAIN = (
    "import sys\n"
    f"sys.modules.update(dict.fromkeys({TRAIN_EXTRA!r}))  # None: every import of them fails\n"
    "from faceedge.cli import main\n"
    "sys.argv = ['faceedge', *sys.argv[1:]]\n"
    "main()\n"
)
INSTALL_TRAIN = "install it with: pip install 'faceedge[train]'"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lean")
    model = root / "model.keras"
    model.write_bytes(b"a Keras model, never opened here")
    data = write_synthetic_folder(root / "data", count=40, size=64)
    return {"data": data, "model": model, "bundled": REPO / "faceedge" / "models"}


@pytest.fixture
def places(inputs, tmp_path) -> dict[str, Path]:
    """The inputs, and ``root``: an empty folder for each test's outputs, its working directory."""
    return {**inputs, "root": tmp_path}


def faceedge_lean(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LEAN_MAIN, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


NEED_THE_TRAINING_STACK = {
    "train": ["train", "--data", "{data}", "--out", "{root}/run"],
    "evaluate .keras": ["evaluate", "{model}", "--data", "{data}"],
    "evaluate --json": ["evaluate", "{bundled}/gender.onnx", "--data", "{data}", "--json", "{root}/e.json"],
    "export gender": ["export", "gender", "{model}", "--data", "{data}", "--out", "{root}/exported"],
    "export detector": ["export", "detector", "--out", "{root}/detectors"],
    "bench --png": ["bench", "--model", "{model}", "--data", "{data}", "--png", "{root}/bench.png"],
    "data inspect": ["data", "inspect", "{data}", "--plot", "{root}/stats.png"],
}


@pytest.mark.parametrize("command", sorted(NEED_THE_TRAINING_STACK))
def test_a_command_that_needs_the_training_stack_names_the_train_extra(command, places):
    args = [arg.format(**places) for arg in NEED_THE_TRAINING_STACK[command]]
    result = faceedge_lean(args, places["root"])
    assert result.returncode == 5, result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    # One line at the end, after the progress a command may log before it needs the extra.
    assert lines[-1].startswith("faceedge: error: ") and lines[-1].endswith(INSTALL_TRAIN), lines
    assert sum(line.startswith("faceedge: error: ") for line in lines) == 1
    assert list(places["root"].iterdir()) == []  # no run directory, report, plot or artifact
    assert result.stdout == ""  # refused before its work: no result was printed


def test_report_works_on_a_lean_install(places):
    shipped_run = REPO / "models" / "gender"
    if not (shipped_run / "training.json").is_file():
        pytest.skip(f"no shipped training run at {shipped_run}")
    result = faceedge_lean(["report", str(shipped_run)], places["root"])
    assert result.returncode == 0, result.stderr
    assert "gender:" in result.stdout


def test_an_exported_model_is_evaluated_on_a_lean_install(places):
    args = ["evaluate", str(places["bundled"] / "gender.onnx"), "--data", str(places["data"])]
    result = faceedge_lean(args, places["root"])
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout


@pytest.mark.parametrize("args", [["run", "--help"], ["--help"], ["train", "--help"], ["models"]])
def test_help_and_the_runtime_commands_work_on_a_lean_install(args, places):
    result = faceedge_lean(args, places["root"])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
