#!/usr/bin/env bash
# GPU check (issue: the scale path). On a machine with a GPU, in under 10 minutes:
#   1. builds the task runner with wgpu (and with cuda where its LLVM bundle is present or
#      downloadable: docs/backends.md), or takes a prebuilt one (XTASK_BIN, below);
#   2. runs the PSLA B2 training-step benchmark on the GPU backend, and PyTorch's PSLA step on the
#      same GPU when torch (with CUDA) and a PSLA checkout are available;
#   3. trains one epoch of fsdd-psla on the GPU and prints its clips/s;
#   4. `tympan tag` on the GPU against flex: PSLA B2 scores on a real AudioSet clip (largest
#      difference), and 500 FSDD clips through the run of step 3 (clips/s on each);
#   5. the epoch of step 3 on the CPU (flex, all cores) when time is left, so that both speed and
#      metrics can be compared.
# Usage: scripts/gpu-check.sh [DATA_DIR] [PSLA_SRC]   (defaults: ../shared/data, $PSLA_SRC)
# Environment:
#   XTASK_BIN=PATH  a task runner built elsewhere with `--features wgpu` (for a GPU machine without
#                   Rust or network: build it here with `cargo build -p xtask --features wgpu`)
#   TYMPAN_BIN=PATH the CLI built the same way (`cargo build -p tympan --features wgpu`)
#   OUT=DIR         logs and results (default target/gpu-check); WORK=DIR the run folders (OUT)
#   BUDGET=SECONDS  the whole script's limit (default 570)
# Each step is limited to the smaller of its own limit and what is left, so one slow step cannot
# eat the others' budget or overrun the 10 minutes; each step prints what it measured, or why it
# was skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-${TYMPAN_DATA:-../shared/data}}"
PSLA_SRC="${2:-${PSLA_SRC:-}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
OUT="${OUT:-target/gpu-check}"
WORK="${WORK:-$OUT}"
mkdir -p "$OUT" "$WORK"
log() { printf '\n== %s  (%s)\n' "$*" "$(date +%T)"; }
t0=$(date +%s)
BUDGET="${BUDGET:-570}"
# lim N: N seconds, or what is left of the budget (minus 5 s for the summary) if that is less.
lim() { local left=$(( BUDGET - ($(date +%s) - t0) - 5 )); [ "$left" -lt "$1" ] && echo $(( left > 1 ? left : 1 )) || echo "$1"; }

log "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
echo "$(nproc) cores"
# NVIDIA's Vulkan driver (libGLX_nvidia.so.0) loads only beside glvnd: without it wgpu finds no
# adapter (seen on an H200, docs/backends.md).
if command -v nvidia-smi >/dev/null; then
  for lib in libvulkan.so.1 libGLdispatch.so.0; do
    ldconfig -p | grep -q "$lib" || echo "warning: $lib not found: install libvulkan1 and libglvnd0 (with libegl1, libglx0) or wgpu will find no adapter"
  done
fi

backends=()
if [ -n "${XTASK_BIN:-}" ]; then
  # A prebuilt runner finds the workspace (scripts/, experiments/) through CARGO_MANIFEST_DIR.
  export CARGO_MANIFEST_DIR="$PWD/xtask"
  xtask=("$XTASK_BIN")
  backends=(wgpu)
  log "prebuilt task runner $XTASK_BIN (wgpu)"
else
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
  xtask=(cargo run --release -q -p xtask --features "${backends[-1]}" --)
  log "build: tympan --features ${backends[-1]} (limit $(lim 120) s)"
  timeout "$(lim 120)" cargo build --release -p tympan --features "${backends[-1]}" 2>"$OUT/build-cli.log" \
    && TYMPAN_BIN="$CARGO_TARGET_DIR/release/tympan"
fi
best="${backends[-1]}"   # cuda when it built, else wgpu

log "PSLA B2 training step on $best (batch 16, 5 steps after a warm-up; limit $(lim 150) s)"
if ! timeout "$(lim 150)" "${xtask[@]}" bench train --backends "$best" --batch 16 --iters 5 --python none \
    2>&1 | tee "$OUT/bench-$best.txt"; then
  # On lavapipe (65,535 workgroups per dimension) Burn's autotune picks a matmul whose launch
  # fails at batch 16 (docs/backends.md); batch 4 runs.
  log "batch 16 failed: PSLA B2 training step on $best at batch 4 (limit $(lim 120) s)"
  timeout "$(lim 120)" "${xtask[@]}" bench train --backends "$best" --batch 4 --iters 5 --python none \
    2>&1 | tee -a "$OUT/bench-$best.txt"
fi

if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null \
   && [ -n "$PSLA_SRC" ] && [ -d "$PSLA_SRC/src/models" ]; then
  log "PyTorch PSLA step on cuda (batch 16, 5 steps after a warm-up; limit $(lim 90) s)"
  timeout "$(lim 90)" python3 scripts/bench_train_step.py --psla-src "$PSLA_SRC" --batch 16 --iters 5 \
    --device cuda | tee "$OUT/bench-torch.json"
else
  log "PyTorch reference skipped: needs torch with CUDA and PSLA_SRC (a clone of YuanGongND/psla)"
fi

# One epoch of fsdd-psla on BACKEND, timed from its metrics.csv.
epoch() {
  local backend="$1" limit="$2" run="$WORK/fsdd-psla-$1"
  local sets=(--set train.epochs=1 --set aggregate.wa_start=1 --set aggregate.wa_end=1
              --set optim.schedule.from_epoch=1)
  if [ ! -e "$DATA/weights/efficientnet-lite0-57934424.pth" ]; then
    echo "no ImageNet Lite0 weights under $DATA/weights: trained from scratch (model.pretrained=none)"
    sets+=(--set model.pretrained=none)
  fi
  rm -rf "$run"
  local start; start=$(date +%s)
  if timeout "$limit" "${xtask[@]}" train fsdd-psla --backend "$backend" --data-dir "$DATA/fsdd" \
      --out "$run" "${sets[@]}" 2>&1 | tee "$OUT/fsdd-psla-$backend.txt"; then
    cp "$run/metrics.csv" "$OUT/fsdd-psla-$backend-metrics.csv"
    python3 - "$run/metrics.csv" "$backend" <<'PY'
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))[-1]
s = float(r["seconds"])
print(f"fsdd-psla epoch 1 on {sys.argv[2]}: {s:.1f} s (training on 2,430 clips, then evaluating "
      f"270 + 300), {2430 / s:.1f} training clips/s; loss {float(r['loss']):.4f}, val accuracy "
      f"{float(r['val_accuracy']):.3f}, test accuracy {float(r['test_accuracy']):.3f}")
PY
    echo "(wall time with data preparation: $(( $(date +%s) - start )) s)"
  else
    echo "fsdd-psla on $backend did not finish inside its limit"
  fi
}

log "one epoch of fsdd-psla on $best (limit $(lim 200) s)"
epoch "$best" "$(lim 200)"

if [ -n "${TYMPAN_BIN:-}" ] && [ -x "$TYMPAN_BIN" ]; then
  clip="$DATA/audioset/R9_ZSCveAHg_7s.wav"
  log "tympan tag, PSLA B2 (test fixture weights) on $clip: $best against flex (limit $(lim 90) s)"
  for b in flex "$best"; do
    timeout "$(lim 45)" "$TYMPAN_BIN" tag --backend "$b" --arch psla-effnet-b2 \
      --weights tests/fixtures/models/psla_effnet_b2_h4_527.pth \
      --labels "$DATA/audioset/class_labels_indices.csv" --top-k 3 -o "$OUT/tag-b2-$b.npy" "$clip"
  done
  python3 - "$OUT/tag-b2-flex.npy" "$OUT/tag-b2-$best.npy" <<'PY'
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
print(f"B2 clip scores {a.shape}: largest |{sys.argv[2].split('-')[-1][:-4]} - flex| = "
      f"{np.abs(a - b).max():.3e}, top class agrees: {a.argmax() == b.argmax()}")
PY
  if [ -d "$WORK/fsdd-psla-$best" ]; then
    clips=("$DATA"/fsdd/recordings/*_jackson_*.wav)
    for b in "$best" flex; do
      log "tympan tag --backend $b --run fsdd-psla-$best on ${#clips[@]} FSDD clips (limit $(lim 60) s)"
      start=$(date +%s.%N)
      if timeout "$(lim 60)" "$TYMPAN_BIN" tag --backend "$b" --run "$WORK/fsdd-psla-$best" \
          --format csv --top-k 1 -o "$OUT/tag-fsdd-$b.npy" "${clips[@]}" >"$OUT/tag-fsdd-$b.csv"; then
        python3 -c "import sys; s = float(sys.argv[2]) - float(sys.argv[1]); n = int(sys.argv[3]); print(f'{n} clips in {s:.1f} s (decode, fbank, model; one process): {n / s:.1f} clips/s')" \
          "$start" "$(date +%s.%N)" "${#clips[@]}"
      else
        echo "tag on $b did not finish inside its limit"
      fi
    done
    python3 - "$OUT/tag-fsdd-flex.npy" "$OUT/tag-fsdd-$best.npy" <<'PY'
import sys
import numpy as np
try:
    a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
except OSError as e:
    sys.exit(f"no comparison: {e}")
print(f"FSDD scores {a.shape}: largest |gpu - flex| = {np.abs(a - b).max():.3e}, "
      f"top class agrees on {(a.argmax(1) == b.argmax(1)).sum()} of {len(a)} clips")
PY
  fi
else
  log "tympan tag skipped: no CLI built with $best (TYMPAN_BIN)"
fi
if [ "$(lim 1000)" -ge 60 ]; then
  log "the same epoch on the CPU, flex on $(nproc) cores (limit $(lim 1000) s)"
  epoch flex "$(lim 1000)"
else
  log "the CPU epoch skipped: under a minute left"
fi
log "done in $(( $(date +%s) - t0 )) s; outputs in $OUT"
