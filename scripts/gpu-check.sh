#!/usr/bin/env bash
# GPU check (issue: the scale path). On a machine with a GPU, in under 10 minutes:
#   1. builds the task runner with wgpu (and with cuda where its LLVM bundle is present or
#      downloadable: docs/backends.md);
#   2. runs the PSLA B2 training-step benchmark on the GPU backend(s), and PyTorch's PSLA step on
#      the same GPU when torch (with CUDA) and a PSLA checkout are available;
#   3. trains one epoch of fsdd-psla on the GPU and prints its clips/s.
# Usage: scripts/gpu-check.sh [DATA_DIR] [PSLA_SRC]   (defaults: ../shared/data, $PSLA_SRC)
# The whole script stops within 570 s (BUDGET): each step is limited to the smaller of its own
# limit and what is left, so one slow step cannot eat the others' budget or overrun the 10
# minutes; each step prints what it measured, or why it was skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-${TYMPAN_DATA:-../shared/data}}"
PSLA_SRC="${2:-${PSLA_SRC:-}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
OUT="${OUT:-target/gpu-check}"
mkdir -p "$OUT"
log() { printf '\n== %s  (%s)\n' "$*" "$(date +%T)"; }
t0=$(date +%s)
BUDGET="${BUDGET:-570}"
# lim N: N seconds, or what is left of the budget (minus 5 s for the summary) if that is less.
lim() { local left=$(( BUDGET - ($(date +%s) - t0) - 5 )); [ "$left" -lt "$1" ] && echo $(( left > 1 ? left : 1 )) || echo "$1"; }

log "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
nproc

backends=()
log "build: xtask --features wgpu (limit $(lim 240) s)"
if timeout "$(lim 240)" cargo build --release -p xtask --features wgpu 2>"$OUT/build-wgpu.log"; then
  backends+=(wgpu); echo "wgpu: built"
else
  echo "wgpu: build failed or timed out; tail of $OUT/build-wgpu.log:"; tail -5 "$OUT/build-wgpu.log"
fi
llvm="$HOME/.local/share/tracel/tracel-llvm-23.1.0-4/.tracel-llvm-installed"
if [ ! -e "$llvm" ] && [ -z "${TRY_CUDA:-}" ]; then
  log "build: cuda skipped: no LLVM bundle at ${llvm%/*} (docs/backends.md; TRY_CUDA=1 lets its build script download it)"
else
  log "build: xtask --features cuda (limit $(lim 150) s)"
  if timeout "$(lim 150)" cargo build --release -p xtask --features cuda 2>"$OUT/build-cuda.log"; then
    backends+=(cuda); echo "cuda: built"
  else
    echo "cuda: not built; tail of $OUT/build-cuda.log:"; tail -5 "$OUT/build-cuda.log"
  fi
fi
[ ${#backends[@]} -gt 0 ] || { echo "no GPU backend built"; exit 1; }
best="${backends[-1]}"   # cuda when it built, else wgpu
features="$best"

log "PSLA B2 training step on $best (batch 16, 5 steps; limit $(lim 120) s)"
timeout "$(lim 120)" cargo run --release -q -p xtask --features "$features" -- \
  bench train --backends "$best" --batch 16 --iters 5 --python none 2>&1 | tee "$OUT/bench-$best.txt"

if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null \
   && [ -n "$PSLA_SRC" ] && [ -d "$PSLA_SRC/src/models" ]; then
  log "PyTorch PSLA step on cuda (batch 16, 5 steps; limit $(lim 90) s)"
  timeout "$(lim 90)" python3 scripts/bench_train_step.py --psla-src "$PSLA_SRC" --batch 16 --iters 5 \
    --device cuda | tee "$OUT/bench-torch.json"
else
  log "PyTorch reference skipped: needs torch with CUDA and PSLA_SRC (a clone of YuanGongND/psla)"
fi

log "one epoch of fsdd-psla on $best (limit $(lim 240) s)"
start=$(date +%s)
if timeout "$(lim 240)" cargo run --release -q -p xtask --features "$features" -- \
    train fsdd-psla --backend "$best" --data-dir "$DATA/fsdd" --out "$OUT/fsdd-psla" \
    --set train.epochs=1 --set aggregate.wa_start=1 --set aggregate.wa_end=1 \
    --set optim.schedule.from_epoch=1 2>&1 | tee "$OUT/fsdd-psla.txt"; then
  secs=$(( $(date +%s) - start ))
  python3 - "$OUT/fsdd-psla/metrics.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
r = rows[-1]
print(f"fsdd-psla epoch 1: {float(r['seconds']):.1f} s, {2430/float(r['seconds']):.1f} clips/s "
      f"(2,430 training clips), test accuracy {float(r['test_accuracy']):.3f}")
PY
  echo "(wall time with data preparation: ${secs} s)"
else
  echo "fsdd-psla did not finish inside its limit"
fi
log "done in $(( $(date +%s) - t0 )) s; outputs in $OUT"
