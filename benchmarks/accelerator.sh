#!/usr/bin/env bash
# Training and inference throughput on a GPU/TPU machine, in at most 8 minutes:
# EfficientNet-B0 and -B6 at 273 x 256 x 3 (layout on3), batch 32, float32 and bfloat16, XLA
# off and on, setibl's input; then setibl's input against the reference notebook's (PNG records,
# per-image augmentation) at the fastest setting of each backbone.
#
# Usage: bash benchmarks/accelerator.sh [WORKDIR] [BUDGET_S]   (defaults: /tmp/setibl-accel, 450)
# Prints one BENCH line per case and a table at the end; a case that would overrun the budget
# is skipped and says so. No internet needed (no ImageNet weights are loaded).
# Python: $PYTHON, else .venv/bin/python, else python3.
set -u
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/setibl-accel}
BUDGET=${2:-450}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)
LOG="$WORK/results.txt"
mkdir -p "$WORK" && : > "$LOG"
left() { echo $(( BUDGET - ($(date +%s) - START) )); }

"$PY" benchmarks/accelerator.py prepare "$WORK" || exit 1

run_case() {  # backbone precision xla input per-case-limit
  local limit=$5 remaining
  remaining=$(left)
  if (( remaining < 20 )); then echo "skipped (budget spent): $*" | tee -a "$LOG"; return; fi
  (( limit > remaining )) && limit=$remaining
  timeout "$limit" "$PY" benchmarks/accelerator.py case "$WORK" "$1" "$2" "$3" "$4" 2>&1 \
    | grep -E '^BENCH|Error|error:' | tail -3 | tee -a "$LOG"
  [ "${PIPESTATUS[0]}" = 124 ] && echo "timed out after ${limit}s: $*" | tee -a "$LOG"
}

# B0 first (fast), then B6; XLA compiles of B6 take longest, so they come last.
for precision in bfloat16 float32; do
  run_case efficientnet_b0 "$precision" off setibl 60
  run_case efficientnet_b0 "$precision" on setibl 90
done
run_case efficientnet_b0 bfloat16 on reference 90
for precision in bfloat16 float32; do
  run_case efficientnet_b6 "$precision" off setibl 90
done
run_case efficientnet_b6 bfloat16 on setibl 150
run_case efficientnet_b6 bfloat16 on reference 150
run_case efficientnet_b6 float32 on setibl 150

"$PY" - "$LOG" <<'PYEOF'
import json, sys
rows = [json.loads(l.split(" ", 2)[2]) for l in open(sys.argv[1]) if l.startswith("BENCH")]
print(f"{'backbone':16} {'precision':9} {'xla':4} {'input':9} {'train img/s':>11} {'infer img/s':>11}")
for r in rows:
    print(f"{r['backbone']:16} {r['precision']:9} {r['xla']:4} {r['input']:9} "
          f"{r['train_img_per_s']:>11} {r['infer_img_per_s']:>11}")
PYEOF
echo "total $(( $(date +%s) - START )) s"
