#!/usr/bin/env bash
# The whole GPU path of faceedge on an NVIDIA box, in one command and (on a recent GPU) well under ten
# minutes, every step's output and status in one report file ($OUT/report.txt):
#   install         nvidia-smi, the faceedge command, the packages and ONNX Runtime's providers
#   doctor          `faceedge doctor`; fails unless its cuda and tensorrt backend lines are ok
#   gpu-tests       the GPU tests: CUDA copies, the CUDA and TensorRT providers against the CPU
#                   within the FP16 gate, the engine runner, a small engine built and checked;
#                   SKIPPED (not passed) when pytest skipped any of them
#   export          an FP16 ONNX and a TensorRT FP16 engine built here from models/gender_age/model.keras,
#                   each written only once it passes its gate (needs UTKFace and the `train` extra)
#   run-cuda, run-tensorrt, run-trt-engine
#                   `faceedge run` on the demo clip with each GPU backend (the last on the new engine)
#   bench           the GPU rows of `faceedge bench` (and the CPU's, as the reference); fails
#                   unless every ort-cuda, ort-tensorrt and tensorrt row of its JSON is ok
# A failing step never stops the others; a step that cannot run here is SKIPPED with its reason.
# A command that exits 0 is not proof by itself (bench exits 0 with every GPU row failed, pytest
# with every GPU test skipped): those steps check what the command reported.
# Exit status: 0 every step passed, 1 a step failed or timed out, 2 none failed but some were
# skipped (so part of the GPU path was not proven).
#
#   pip install -e '.[gpu,train,dev]' --extra-index-url https://pypi.nvidia.com   # from this checkout
#   FACEEDGE_UTKFACE=/path/to/UTKFace.tar.gz bash scripts/gpu_check.sh
#
# Environment: OUT (default gpu-check), PYTHON (default python3), FACEEDGE (default faceedge),
# FACEEDGE_UTKFACE (the UTKFace archive or folder), STEP_LIMIT_S (each step's time limit, default 300).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

OUT=${OUT:-gpu-check}
export PY=${PYTHON:-python3} FACEEDGE=${FACEEDGE:-faceedge} PYTHONUNBUFFERED=1
DATA=${FACEEDGE_UTKFACE:-}
LIMIT=${STEP_LIMIT_S:-300}
MODEL=models/gender_age/model.keras
EXPORTED=$OUT/export
ENGINE=$EXPORTED/gender_trt_fp16.engine
REPORT=$OUT/report.txt
mkdir -p "$OUT" || exit 1
: >"$REPORT" || exit 1
SUMMARY=()
failed=0
skipped=0
# A step's helper exits with this when it ran but part of what it was to prove was skipped (no
# faceedge command and no pytest exits with it).
export SKIP_RC=77

# One summary line per step (its name, status, seconds and last line of output), in the report and
# on the terminal as it ends.
record() {
  local line
  line=$(printf '%-15s %-16s %4ss  %.110s' "$1" "$2" "$3" "${4:-}")
  SUMMARY+=("$line")
  printf -- '-- %s\n' "$line" | tee -a "$REPORT"
}

# step NAME COMMAND...: COMMAND's output goes to the report; its status is PASS, FAIL, TIMEOUT, or
# SKIPPED (part) when a helper exits SKIP_RC.
step() {
  local name=$1 start=$SECONDS rc status output=$OUT/.step-output
  shift
  printf '\n===== %s (limit %ss)\n$ %s\n' "$name" "$LIMIT" "$*" >>"$REPORT"
  timeout --kill-after=15 "$LIMIT" "$@" >"$output" 2>&1
  rc=$?
  cat "$output" >>"$REPORT"
  case $rc in
    0) status=PASS ;;
    # timeout exits 124, or 137 when its --kill-after had to kill; a command's own 137 before the
    # limit (SIGKILL, the kernel's OOM killer for one) is a failure, not a timeout.
    124) status="TIMEOUT (${LIMIT}s)" ;;
    137) if ((SECONDS - start >= LIMIT)); then status="TIMEOUT (${LIMIT}s)"; else status="FAIL (exit 137)"; fi ;;
    "$SKIP_RC") status="SKIPPED (part)" ;;
    *) status="FAIL (exit $rc)" ;;
  esac
  case $status in
    PASS) ;;
    SKIPPED*) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
  record "$name" "$status" $((SECONDS - start)) "$(grep -v '^[[:space:]]*$' "$output" | tail -n 1)"
  rm -f "$output"
}

skip() {
  printf '\n===== %s\nskipped: %s\n' "$1" "$2" >>"$REPORT"
  skipped=$((skipped + 1))
  record "$1" SKIPPED 0 "$2"
}

# shellcheck disable=SC2329 # called through `bash -c` (export -f), under `timeout`
install_check() {
  command -v "$FACEEDGE" || { echo "no $FACEEDGE command on PATH"; return 1; }
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv || return 1
  "$PY" - <<'PYTHON'
import importlib.metadata as metadata
import importlib.util
import sys

problems = []
for name in ("faceedge", "onnxruntime-gpu", "onnxruntime", "tensorrt-cu13", "tensorrt", "cuda-python",
             "numpy", "opencv-python-headless", "opencv-python", "tensorflow", "tensorflow-cpu"):
    try:
        print(f"{name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        pass
for both in (("onnxruntime", "onnxruntime-gpu"),):
    try:
        [metadata.version(n) for n in both]
        problems.append(f"{' and '.join(both)} are both installed and overwrite each other: keep only the gpu one")
    except metadata.PackageNotFoundError:
        pass
try:
    import onnxruntime
    providers = onnxruntime.get_available_providers()
    print("onnxruntime providers:", ", ".join(providers))
    for wanted in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
        if wanted not in providers:
            problems.append(f"onnxruntime has no {wanted}")
except ImportError as exc:
    problems.append(f"onnxruntime does not import: {exc}")
for module in ("tensorrt", "cuda.bindings.runtime"):
    try:
        imported = __import__(module, fromlist=["_"])
        print(module, getattr(imported, "__version__", ""))
    except ImportError as exc:
        problems.append(f"{module} does not import: {exc}")
for problem in problems:
    print("PROBLEM:", problem)
sys.exit(1 if problems else 0)
PYTHON
}

# doctor_check: `faceedge doctor --json`, shown as its table; passes only if the cuda and tensorrt
# backends are ok (doctor itself exits 0 whatever it found).
# shellcheck disable=SC2329 # called through `bash -c` (export -f), under `timeout`
doctor_check() {
  local found=$OUT/doctor.json
  "$FACEEDGE" doctor --json >"$found" || return
  "$PY" - "$found" <<'PYTHON'
import json
import sys

findings = json.load(open(sys.argv[1]))
for f in findings:
    print(f"{f['section']:<8} {'ok' if f['ok'] else ' -'} {f['name']:<16} {f['detail']}")
backends = {f["name"]: f for f in findings if f["section"] == "backend"}
bad = [name for name in ("cuda", "tensorrt") if not backends.get(name, {}).get("ok")]
if bad:
    print("PROBLEM: doctor finds no working", " or ".join(bad), "backend:",
          "; ".join(f"{n}: {backends[n]['detail'] if n in backends else 'not listed'}" for n in bad))
    sys.exit(1)
print("doctor: the cuda and tensorrt backends are ok")
PYTHON
}

# gpu_tests: the GPU tests; pytest exits 0 when they skip, which proves nothing: SKIP_RC then.
# shellcheck disable=SC2329 # called through `bash -c` (export -f), under `timeout`
gpu_tests() {
  local said=$OUT/.pytest-output rc
  "$PY" -m pytest -q -rs -p no:cacheprovider \
    tests/test_cuda_runtime.py tests/test_tensorrt.py tests/test_backends.py 2>&1 | tee "$said"
  rc=${PIPESTATUS[0]}
  ((rc == 0)) || return "$rc"
  if grep -v '^[[:space:]]*$' "$said" | tail -n 1 | grep -q 'skipped'; then
    echo "some GPU tests were skipped (their reasons are above): not proven"
    return "$SKIP_RC"
  fi
}

# bench_gpu ARGS...: `faceedge bench ARGS... --json $OUT/bench.json`, which exits 0 whatever its rows
# say; passes only if every row of the GPU engines is "ok".
# shellcheck disable=SC2329 # called through `bash -c` (export -f), under `timeout`
bench_gpu() {
  local records=$OUT/bench.json
  rm -f "$records"
  "$FACEEDGE" bench "$@" --json "$records" || return
  "$PY" - "$records" <<'PYTHON'
import json
import sys

try:
    rows = json.load(open(sys.argv[1]))["records"]
except (OSError, ValueError, KeyError) as exc:
    print(f"PROBLEM: no benchmark records in {sys.argv[1]}: {exc}")
    sys.exit(1)
gpu = ("ort-cuda", "ort-tensorrt", "tensorrt")
bad = [r for r in rows if r.get("engine") in gpu and r.get("status") != "ok"]
missing = [e for e in gpu if not any(r.get("engine") == e for r in rows)]
for r in bad:
    print(f"PROBLEM: {r['engine']} {r.get('precision')} batch {r.get('batch')}: {r.get('status')}: {r.get('reason')}")
for e in missing:
    print(f"PROBLEM: no {e} row in the benchmark")
if bad or missing:
    sys.exit(1)
print(f"bench: all {sum(r.get('engine') in gpu for r in rows)} GPU rows ok")
PYTHON
}

# run_demo BACKEND [ARGS...]: the demo clip end to end; it passes only if it wrote its JSON lines.
# shellcheck disable=SC2329 # called through `bash -c` (export -f), under `timeout`
run_demo() {
  local backend=$1 lines=$OUT/run-$1.jsonl
  shift
  rm -f "$lines"
  "$FACEEDGE" run --source demo --no-display --backend "$backend" --json "$lines" "$@" || return
  [[ -s $lines ]] || { echo "no JSON lines in $lines"; return 1; }
  echo "$(wc -l <"$lines") JSON lines in $lines"
}
export -f install_check doctor_check gpu_tests bench_gpu run_demo
export OUT

{
  echo "faceedge GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(uname -n)"
  echo "checkout: $(git rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')"
  echo "python: $(command -v "$PY") ($("$PY" --version 2>&1)); faceedge: $(command -v "$FACEEDGE")"
} | tee -a "$REPORT"

step install bash -c install_check
step doctor bash -c doctor_check

if "$PY" -c 'import pytest' 2>/dev/null; then
  step gpu-tests bash -c gpu_tests
else
  skip gpu-tests "pytest is not installed (the dev extra)"
fi

# A previous run's artifacts must not stand in for ones this run failed to build (nor be benched).
rm -rf "$EXPORTED"
if [[ -z $DATA || ! -e $DATA ]]; then
  skip export "set FACEEDGE_UTKFACE to the UTKFace archive or folder: the gates test on it"
elif ! "$PY" -c 'import importlib.util as u, sys; sys.exit(not (u.find_spec("tensorflow") and u.find_spec("tf2onnx")))'; then
  skip export "TensorFlow or tf2onnx is not installed (the train extra)"
elif [[ ! -f $MODEL ]]; then
  skip export "no $MODEL in this checkout"
else
  step export "$FACEEDGE" export gender "$MODEL" --data "$DATA" --out "$EXPORTED" --fp16 --trt-fp16 \
    --framing-from faceedge/models/gender.manifest.json
fi

step run-cuda bash -c 'run_demo "$@"' _ cuda
step run-tensorrt bash -c 'run_demo "$@"' _ tensorrt --cache-dir "$OUT/trt-cache"
if [[ -f $ENGINE ]]; then
  step run-trt-engine bash -c 'run_demo "$@"' _ trt-engine --model "$ENGINE"
else
  skip run-trt-engine "no engine: the export step built none"
fi

if [[ -z $DATA || ! -e $DATA ]]; then
  skip bench "set FACEEDGE_UTKFACE to the UTKFace archive or folder: the bench times its test split"
else
  artifacts=$EXPORTED
  [[ -f $EXPORTED/gender.onnx ]] || artifacts=faceedge/models # the bundled FP32 and INT8 models
  step bench bash -c 'bench_gpu "$@"' _ --model "$MODEL" --data "$DATA" --artifacts "$artifacts" \
    --engine ort-cpu --engine ort-cuda --engine ort-tensorrt --engine tensorrt \
    --batch 1 --batch 32 --max-seconds 3 --md "$OUT/bench.md"
fi

{
  printf '\n===== summary (%s failed, %s skipped)\n' "$failed" "$skipped"
  printf '%s\n' "${SUMMARY[@]}"
  echo "report: $REPORT"
} | tee -a "$REPORT"
if ((failed)); then exit 1; elif ((skipped)); then exit 2; fi
exit 0
