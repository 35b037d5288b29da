#!/usr/bin/env bash
# GPU validation in one go, for a CUDA machine whose Python already has torch + triton (+ pytest),
# run from the repository root without installing the package:
#   1. the compiled-kernel tests (`pytest tests/kernels -m gpu`),
#   2. scripts/bench_kernels_gpu.py (JSON + Markdown), under a time budget.
# Outputs go to $OUT (default ./gpu_out). mlstm_kernels is used for the comparison if importable
# (wheels in .whl/ are installed to /tmp/site first when present).
# Env: TEST_TIMEOUT, TEST_K, SKIP_TESTS=1; CHECK_CANDIDATES=1 (scripts/check_kernel_candidates.py
# first, then the bench tunes over the candidates that passed; else the bench runs the defaults
# unless XLSTM_TS_KERNELS_AUTOTUNE=1 is set), CAND_TIMEOUT, CAND_FLAGS (e.g. --include-removed);
# STRAY_WRITES=1 runs the candidate check with one allocation per tensor and blocking launches
# (a far stray write then faults in the kernel that made it); BENCH_TIMEOUT, BENCH_BUDGET, BENCH_ARGS.
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT" /tmp/xts_pp
ln -sfn "$PWD/kernels" /tmp/xts_pp/xlstm_ts_kernels     # the import name setup.py maps kernels/ to
export PYTHONPATH="$PWD:/tmp/xts_pp:${PYTHONPATH:-}"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
unset TRITON_INTERPRET
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/device.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())" \
  | tee -a "$OUT/device.txt"
start=$(date +%s)
if [ -z "${SKIP_TESTS:-}" ]; then
  timeout "${TEST_TIMEOUT:-300}" python3 -m pytest tests/kernels -m gpu -q -p no:cacheprovider ${TEST_K:+-k "$TEST_K"} 2>&1 | tee "$OUT/gpu_tests.log"
  echo "# gpu tests: $(( $(date +%s) - start )) s" | tee -a "$OUT/gpu_tests.log"
fi
CAND_ARGS=""
if [ -n "${CHECK_CANDIDATES:-}" ]; then   # every launch candidate alone vs the reference; tune over those that pass
  ${STRAY_WRITES:+env PYTORCH_NO_CUDA_MEMORY_CACHING=1 CUDA_LAUNCH_BLOCKING=1} \
  timeout "${CAND_TIMEOUT:-240}" python3 scripts/check_kernel_candidates.py ${CAND_FLAGS:-} --out "$OUT/kernel_candidates.json" 2>&1 \
    | tee "$OUT/kernel_candidates.log"
  if [ -f "$OUT/kernel_candidates.json" ]; then
    CAND_ARGS="--candidates $OUT/kernel_candidates.json"; export XLSTM_TS_KERNELS_AUTOTUNE=1
  else export XLSTM_TS_KERNELS_AUTOTUNE=0; echo "# candidate check incomplete: benchmarking the defaults"; fi
  echo "# candidates: $(( $(date +%s) - start )) s"
fi
timeout "${BENCH_TIMEOUT:-260}" python3 scripts/bench_kernels_gpu.py --budget-s "${BENCH_BUDGET:-200}" \
  --warmup 2 --reps 7 ${BENCH_ARGS:-} $CAND_ARGS --out "$OUT/bench_kernels_gpu.json" --md "$OUT/bench_kernels_gpu.md" \
  2>&1 | tee "$OUT/bench.log"
echo "# total: $(( $(date +%s) - start )) s"
