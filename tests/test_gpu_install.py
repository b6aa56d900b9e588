"""The `gpu` install: what pyproject asks pip for, what the docs tell a user to run, and a
`faceedge doctor` that tries each backend as a fresh process would. Checked here by parsing and
with fakes: nothing in this file needs a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

GPU_INSTALL = "pip install 'faceedge[gpu]' --extra-index-url https://pypi.nvidia.com"


def _extra(name: str) -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(line) for line in project["optional-dependencies"][name]]
    return {r.name: r for r in requirements}


def test_the_gpu_extra_takes_a_cuda_13_onnxruntime_with_its_cuda_libraries():
    ort = _extra("gpu")["onnxruntime-gpu"]
    # 1.23.2 is what pip picks on Python 3.10 for `>=1.20`: a CUDA 12 build. 1.27.0 is CUDA 13, but
    # its `cuda` extra names nvidia-*-cu13 packages that PyPI holds only as placeholders.
    assert not ort.specifier.contains("1.23.2") and not ort.specifier.contains("1.27.0")
    assert ort.specifier.contains("1.28.0") and ort.specifier.contains("1.31.1")
    # CUDA runtime, cuBLAS, cuRAND (`cuda`) and cuDNN (`cudnn`), from PyPI, for preload_dlls().
    assert ort.extras == {"cuda", "cudnn"}
    assert "onnxruntime" not in _extra("gpu")  # the CPU build would overwrite it


@pytest.mark.parametrize("page", ["README.md", "docs/export.md"])
def test_the_docs_give_the_gpu_install_command_with_nvidias_index(page):
    assert GPU_INSTALL in (REPO / page).read_text()


def test_the_install_command_in_the_code_is_the_documented_one():
    from faceedge.runtime.backends.onnxruntime import GPU_INSTALL as in_code

    assert in_code == GPU_INSTALL


class _Done:
    def __init__(self, returncode: int, stdout: str, stderr: str = "") -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def test_doctor_tries_a_backend_in_a_fresh_interpreter(monkeypatch):
    from faceedge.runtime import doctor

    commands = []

    def run(command, **kwargs):
        commands.append(command)
        return _Done(0, json.dumps({"ok": True, "detail": "runs on TensorrtExecutionProvider"}) + "\n")

    monkeypatch.setattr(doctor.subprocess, "run", run)
    finding = doctor.try_backend("tensorrt")
    assert finding.ok and finding.detail == "runs on TensorrtExecutionProvider"
    ((python, flag, code, name),) = commands
    assert (python, flag, name) == (sys.executable, "-c", "tensorrt")
    assert "open_backend(" in code


@pytest.mark.parametrize(
    ("done", "detail"),
    [
        (_Done(0, json.dumps({"ok": False, "detail": "no TensorrtExecutionProvider"})), "no Tensorrt"),
        # The CUDA libraries can kill the process outright: a crash is a finding, not doctor's end.
        (_Done(-11, "", "Segmentation fault"), "was killed by SIGSEGV: Segmentation fault"),
        (_Done(3, "", "Traceback ..."), "exited with status 3: Traceback ..."),
    ],
)
def test_doctor_reports_a_backend_whose_check_fails_or_crashes(monkeypatch, done, detail):
    from faceedge.runtime import doctor

    monkeypatch.setattr(doctor.subprocess, "run", lambda command, **kwargs: done)
    finding = doctor.try_backend("tensorrt")
    assert not finding.ok and detail in finding.detail


def test_doctor_reports_a_check_that_does_not_finish(monkeypatch):
    from faceedge.runtime import doctor

    def run(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(doctor.subprocess, "run", run)
    finding = doctor.try_backend("tensorrt")
    assert not finding.ok
    assert finding.detail == f"the check did not finish in {doctor.TRY_BACKEND_TIMEOUT_S} s"


def test_doctors_backend_checks_fit_in_the_gpu_checks_doctor_step():
    from faceedge.runtime.doctor import TRY_BACKEND_TIMEOUT_S

    # scripts/gpu_check.sh gives the doctor step 300 s (STEP_LIMIT_S); a stuck check must end first.
    assert TRY_BACKEND_TIMEOUT_S < 300


def test_doctor_checks_every_onnx_backend_side_by_side_and_lists_them_in_table_order(monkeypatch):
    from faceedge.runtime import doctor
    from faceedge.runtime.backends import BACKENDS

    onnx = [kind.name for kind in BACKENDS.values() if kind.artifact_suffix == ".onnx"]
    # Each check waits for all the others to have begun: run one after the other, they would all
    # break the barrier; side by side (as a stuck TensorRT build must not hold up the rest), they pass.
    together = threading.Barrier(len(onnx), timeout=30)

    def try_backend(name):
        together.wait()
        return doctor.Finding("backend", name, True, f"{name} checked")

    monkeypatch.setattr(doctor, "try_backend", try_backend)
    found = [f for f in doctor._backends() if f.name in onnx]
    assert [(f.name, f.detail) for f in found] == [(name, f"{name} checked") for name in onnx]  # table order


def test_doctors_check_really_runs_the_cpu_backend_in_a_child():
    pytest.importorskip("onnxruntime")
    from faceedge.runtime.doctor import try_backend

    finding = try_backend("cpu")
    assert finding.ok, finding.detail
    assert finding.detail == "runs on CPUExecutionProvider"
