#!/usr/bin/env bash
# What faceedge's runtime does on an NVIDIA GPU box, in one go: the GPU and libraries doctor finds,
# a GPU backend refused with a reason rather than silently run on the CPU, the demo end to end, the
# runtime's tests (the CUDA transfer tests run only where cuda-python and a GPU are), and the
# pipeline's speed. Writes its files to $OUT (default: gpu-check/).
#   bash scripts/gpu_check.sh
set -uo pipefail
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv
$PY -c "import onnxruntime as o, cv2, numpy, typer; print('onnxruntime', o.__version__, o.get_available_providers(), 'opencv', cv2.__version__, 'numpy', numpy.__version__, 'typer', typer.__version__)"
$PY -m faceedge doctor | tee "$OUT/doctor.txt"
for backend in cuda tensorrt auto; do
  $PY -m faceedge run --source demo --no-display --backend "$backend" --json "$OUT/demo-$backend.jsonl" 2>&1 | tail -4
  echo "backend $backend: exit ${PIPESTATUS[0]}"
done
$PY -m pytest -q -rs -p no:cacheprovider tests/test_cuda_runtime.py tests/test_backends.py tests/test_runtime.py \
  tests/test_tracker.py tests/test_crop.py tests/test_run_cli.py tests/test_decode.py tests/test_sources.py \
  tests/test_runtime_lean.py tests/test_detector.py 2>&1 | tee "$OUT/pytest.txt" | tail -25
$PY benchmarks/pipeline_speed.py --loops 5 --out "$OUT" 2>&1 | tail -9
