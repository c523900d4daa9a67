#!/bin/bash
# On a machine with a CUDA GPU, from the repository root: the CUDA tests, then the extremal engine's
# set-up share and speed-up on the GPU (benchmarks/perturbation.py --device cuda), then the whole
# suite with the machine's own PyTorch. Logs go to $OUT (default /tmp/videoattr_gpu).
# Usage: bash benchmarks/gpu_check.sh [seconds for the whole script, default 520]
set -u
OUT=${OUT:-/tmp/videoattr_gpu}
mkdir -p "$OUT"
budget=${1:-520}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 VIDEOATTR_CACHE_DIR=${VIDEOATTR_CACHE_DIR:-/tmp/va_cache}
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
python3 -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | tail -2 || true
python3 -c "import torch, torchvision; print(torch.__version__, torchvision.__version__, torch.cuda.get_device_name())"
echo "== CUDA tests"
timeout 200 python3 -m pytest -q -p no:cacheprovider -rs -n 8 \
  tests/test_all_methods.py tests/methods/test_extremal.py tests/metrics tests/viz/test_overlay.py \
  tests/runner/test_folders_and_devices.py tests/core/test_phases.py -k "cuda or device" 2>&1 \
  | tee "$OUT/cuda_tests.log" | tail -40
echo "== benchmark ($(elapsed) s)"
timeout 220 python3 benchmarks/perturbation.py --device cuda --sections setup speedup \
  --batches 1 8 --max-r2plus1d-batch 8 --speedup-clips 8 --repeat 3 2>&1 | tee "$OUT/gpu_bench.log"
echo "== the whole suite ($(elapsed) s)"
left=$(( budget - $(elapsed) ))
if [ "$left" -gt 30 ]; then
  timeout "$left" python3 -m pytest -q -p no:cacheprovider -n 12 --timeout 300 \
    --continue-on-collection-errors 2>&1 | tee "$OUT/suite.log" | tail -30
fi
echo "== done ($(elapsed) s)"
