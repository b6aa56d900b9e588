"""scripts/gpu_check.sh, the one command that proves the GPU path on an NVIDIA box, run here with a
fake `faceedge` and `nvidia-smi` on PATH: every step is recorded with its status in one report, a
failing step does not hide the ones after it, and a step that cannot run is skipped with its reason."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
pytestmark = pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils' timeout")

# Logs each call; `export` writes the artifacts it would have built, `run` writes its JSON lines, and
# the backend named in $FAKE_FAILING is refused as the real CLI refuses one (one line, exit 10), the
# one in $FAKE_KILLED is killed by SIGKILL (exit 137, as by the OOM killer). `doctor --json` lists
# the backends, those in $FAKE_DOCTOR_BAD not ok; `bench --json` writes a row per engine, those in
# $FAKE_BENCH_FAILED failed; both exit 0 whatever they found, as the real commands do.
FAKE_FACEEDGE = r"""#!/usr/bin/env bash
echo "faceedge $*" >>"$FAKE_LOG"
case $1 in
  export)
    out=$(sed -n 's/.* --out \([^ ]*\).*/\1/p' <<<"$*")
    mkdir -p "$out" && touch "$out/gender.onnx" "$out/gender_fp16.onnx" "$out/gender_trt_fp16.engine"
    echo "wrote $out/gender_trt_fp16.engine" ;;
  run)
    backend=$(sed -n 's/.* --backend \([^ ]*\).*/\1/p' <<<"$*")
    json=$(sed -n 's/.* --json \([^ ]*\).*/\1/p' <<<"$*")
    if [[ $backend == "${FAKE_FAILING:-}" ]]; then
      echo "error: the $backend backend cannot run here" >&2; exit 10
    fi
    [[ $backend == "${FAKE_KILLED:-}" ]] && kill -9 $$
    echo '{"frame": 0}' >"$json"; echo "ran on $backend" ;;
  doctor)
    rows=""
    for b in cpu cuda tensorrt; do
      ok=true; [[ " ${FAKE_DOCTOR_BAD:-} " == *" $b "* ]] && ok=false
      rows+="{\"section\": \"backend\", \"name\": \"$b\", \"ok\": $ok, \"detail\": \"fake\"},"
    done
    echo "[${rows%,}]" ;;
  bench)
    json=$(sed -n 's/.* --json \([^ ]*\).*/\1/p' <<<"$*")
    rows=""
    for e in ort-cpu ort-cuda ort-tensorrt tensorrt; do
      status=ok; [[ " ${FAKE_BENCH_FAILED:-} " == *" $e "* ]] && status=failed
      rows+="{\"engine\": \"$e\", \"precision\": \"fp16\", \"batch\": 1, "
      rows+="\"status\": \"$status\", \"reason\": null},"
    done
    echo "{\"records\": [${rows%,}]}" >"$json"; echo "bench done" ;;
  *) echo "$1 ok" ;;
esac
"""
FAKE_NVIDIA_SMI = '#!/usr/bin/env bash\necho "name, compute_cap"; echo "Fake GPU, 9.0"\n'
# pytest inside the script stands in too (its GPU tests are this suite's own); any other call is the
# real interpreter's.
FAKE_PYTHON = f"""#!/usr/bin/env bash
if [[ "$1 $2" == "-m pytest" ]]; then echo "pytest $*" >>"$FAKE_LOG"; echo "$FAKE_PYTEST_SAID"; exit 0; fi
exec {sys.executable} "$@"
"""


def _run(tmp_path: Path, data: Path | None, failing: str = "", **fakes: str) -> tuple[int, str, list]:
    """Run the script with the fakes; ``fakes`` sets FAKE_<NAME> (killed, doctor_bad, bench_failed,
    pytest_said)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("faceedge", FAKE_FACEEDGE), ("nvidia-smi", FAKE_NVIDIA_SMI), ("python", FAKE_PYTHON)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    out, log = tmp_path / "check", tmp_path / "calls.log"
    log.write_text("")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "OUT": str(out),
        "PYTHON": str(bin_dir / "python"),
        "FAKE_LOG": str(log),
        "FAKE_FAILING": failing,
        "STEP_LIMIT_S": "60",
        "FAKE_PYTEST_SAID": "6 passed",
        **{f"FAKE_{name.upper()}": value for name, value in fakes.items()},
    }
    env.pop("FACEEDGE_UTKFACE", None)
    if data is not None:
        env["FACEEDGE_UTKFACE"] = str(data)
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, (out / "report.txt").read_text(), log.read_text().splitlines()


def _status(report: str, step: str) -> str:
    summary = report.split("===== summary", 1)[1]
    (line,) = [line for line in summary.splitlines() if line.split()[:1] == [step]]
    return line.split(maxsplit=1)[1]


def test_every_step_is_reported_and_a_failing_one_does_not_hide_the_others(tmp_path):
    data = tmp_path / "UTKFace.tar.gz"
    data.write_bytes(b"")
    rc, report, calls = _run(tmp_path, data, failing="tensorrt")
    assert rc == 1  # a step failed
    for step in ("doctor", "gpu-tests", "export", "run-cuda", "run-trt-engine", "bench"):
        assert _status(report, step).startswith("PASS"), report
    assert _status(report, "run-tensorrt").startswith("FAIL (exit 10)")
    assert "the tensorrt backend cannot run here" in _status(report, "run-tensorrt")  # its last line
    assert "6 passed" in _status(report, "gpu-tests")
    assert _status(report, "install").split()[0] in ("PASS", "FAIL")  # this machine's real packages
    export = next(c for c in calls if c.startswith("faceedge export"))
    assert "models/gender_age/model.keras" in export and "--trt-fp16" in export and "--fp16" in export
    engine = next(c for c in calls if "--backend trt-engine" in c)
    assert engine.endswith(f"--model {tmp_path / 'check/export/gender_trt_fp16.engine'}")
    bench = next(c for c in calls if c.startswith("faceedge bench"))
    assert all(f"--engine {e}" in bench for e in ("ort-cuda", "ort-tensorrt", "tensorrt"))
    assert "the tensorrt backend cannot run here" in report  # the step's own output is in the report


def test_without_the_dataset_the_engine_steps_are_skipped_with_reasons_never_run_on_a_stale_engine(tmp_path):
    stale = tmp_path / "check" / "export" / "gender_trt_fp16.engine"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from an earlier run")
    (stale.parent / "gender.onnx").write_bytes(b"from an earlier run")
    rc, report, calls = _run(tmp_path, data=None)
    assert not stale.parent.exists()  # the whole earlier export, which bench would otherwise time
    for step in ("export", "bench"):
        assert _status(report, step).startswith("SKIPPED") and "FACEEDGE_UTKFACE" in _status(report, step)
    assert "no engine: the export step built none" in _status(report, "run-trt-engine")
    assert not any(c.startswith(("faceedge export", "faceedge bench")) or "trt-engine" in c for c in calls)
    assert _status(report, "run-tensorrt").startswith("PASS")
    # Nothing failed but the install check on a machine without the GPU packages; skipped steps
    # alone give 2 (part of the GPU path not proven).
    assert rc == (1 if _status(report, "install").startswith("FAIL") else 2)


def _dataset(tmp_path: Path) -> Path:
    data = tmp_path / "UTKFace.tar.gz"
    data.write_bytes(b"")
    return data


def test_bench_that_exits_0_with_a_failed_gpu_row_fails_the_step(tmp_path):
    rc, report, _ = _run(tmp_path, _dataset(tmp_path), bench_failed="ort-tensorrt")
    assert rc == 1
    assert _status(report, "bench").startswith("FAIL"), report
    assert "PROBLEM: ort-tensorrt fp16 batch 1: failed" in report
    assert _status(report, "run-cuda").startswith("PASS")


def test_doctor_that_exits_0_without_a_working_tensorrt_backend_fails_the_step(tmp_path):
    rc, report, _ = _run(tmp_path, _dataset(tmp_path), doctor_bad="tensorrt")
    assert rc == 1
    assert _status(report, "doctor").startswith("FAIL"), report
    assert "no working tensorrt backend" in _status(report, "doctor")


def test_gpu_tests_that_skipped_are_skipped_not_passed(tmp_path):
    rc, report, _ = _run(tmp_path, _dataset(tmp_path), pytest_said="4 passed, 2 skipped in 1.2s")
    assert _status(report, "gpu-tests").startswith("SKIPPED"), report
    assert "4 passed, 2 skipped" in report
    for step in ("doctor", "export", "run-cuda", "run-tensorrt", "run-trt-engine", "bench"):
        assert _status(report, step).startswith("PASS"), report
    assert rc == (1 if _status(report, "install").startswith("FAIL") else 2)


def test_a_command_killed_before_the_limit_failed_rather_than_timed_out(tmp_path):
    rc, report, _ = _run(tmp_path, _dataset(tmp_path), killed="cuda")
    assert rc == 1
    assert _status(report, "run-cuda").startswith("FAIL (exit 137)"), report
