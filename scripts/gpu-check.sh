#!/usr/bin/env bash
# GPU check, inside one device call (about 10 minutes), most important measurements first:
#   1. PSLA B2's training step (batch 16) on cuda, in a cold process then a warm one (the second
#      finds the first's compiled kernels and autotune picks on disk);
#   2. PyTorch's PSLA step on the same GPU (needs PSLA's src/models and efficientnet_pytorch:
#      `cargo xtask gpu-bundle --psla-src DIR` carries both);
#   3. the same cold/warm pair on wgpu (Vulkan, SPIR-V kernels);
#   4. one epoch of fsdd-psla on cuda (on wgpu if cuda finished no step), then `tympan tag`:
#      PSLA B2 scores on the AudioSet excerpt, GPU against flex, and clips/s on FSDD's 500
#      "jackson" clips with the epoch's run, GPU and flex;
#   5. the same epoch on flex (all cores) when over 90 s are left.
# Each step is limited to the smaller of its own limit and what is left of BUDGET, and says what
# it measured, or that it did not finish inside its limit, or why it was skipped.
#
# Usage, from anywhere (it works in the repository root):
#   scripts/gpu-check.sh --bundle target/gpu-bundle [--out DIR] [--psla-src DIR] [--work DIR]
#   scripts/gpu-check.sh --bundle target/gpu-bundle --receive
#       keep one part of a bundle that came in parts (`cargo xtask gpu-bundle` prints the calls)
#   scripts/gpu-check.sh [--data DIR] [--out DIR] [--psla-src DIR]
#       a machine with Rust: binaries from XTASK_BIN and TYMPAN_BIN, else built here
# The bundle (`cargo xtask gpu-bundle`, xtask/src/gpu_bundle.rs) holds the binaries built with
# `--features cuda,vulkan`, CUDA's libdevice, FSDD, the Lite0 weights, the AudioSet excerpt and
# optionally caches of an earlier run; the GPU machines have no Rust and no network.
#
# Outputs in OUT (--out, else $OUT as the device tool sets it, else target/gpu-check). The
# device tool brings back at most 8 files from $OUT, none more than two folders down, so the
# check writes few files there and keeps the rest under WORK (default /tmp/tympan-gpu):
#   summary.txt          one line per measurement, written as they come
#   gpu-check.log        everything printed
#   results.tar.gz       each step's full output: bench-<backend>-{cold,warm}.txt (and -b4 when
#                        batch 16 failed), kernels-<backend>-<phase>.log (kernels compiled),
#                        bench-torch.json, fsdd-psla-*.txt and metrics, tag-*.csv/.npy
#   caches-<name>.tar.xz the caches after the run (cubecl: kernels and autotune picks; cuda-jit:
#                        the driver's PTX->SASS cache; nv-shader: its Vulkan shader cache), one
#                        archive each so that each stays under the 16 MiB a file may have; pass
#                        them to the next `cargo xtask gpu-bundle --caches` for a warm start
#                        (compiled kernels are keyed on the binary's build id: the same binaries)
# Environment: BUDGET (seconds for the whole check, default 570), RESERVE (seconds kept for
# packing the outputs, default 25), PSLA_SRC, WORK; without a bundle XTASK_BIN, TYMPAN_BIN,
# FEATURES (default cuda,vulkan) and CARGO_TARGET_DIR.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD

BUNDLE="" RECEIVE=0
OUT_DIR="${OUT:-target/gpu-check}"
DATA="${TYMPAN_DATA:-../shared/data}"
PSLA_SRC="${PSLA_SRC:-}"
WORK="${WORK:-/tmp/tympan-gpu}"
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) BUNDLE="${2:?--bundle needs a folder}"; shift 2 ;;
    --out) OUT_DIR="${2:?--out needs a folder}"; shift 2 ;;
    --psla-src) PSLA_SRC="${2:?--psla-src needs a folder}"; shift 2 ;;
    --data) DATA="${2:?--data needs a folder}"; shift 2 ;;
    --work) WORK="${2:?--work needs a folder}"; shift 2 ;;
    --receive) RECEIVE=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT_DIR" "$WORK" || exit 1
OUT_DIR=$(cd "$OUT_DIR" && pwd)
WORK=$(cd "$WORK" && pwd)
[ -z "$BUNDLE" ] || BUNDLE=$(cd "$BUNDLE" 2>/dev/null && pwd) || { echo "gpu-check: no folder $BUNDLE" >&2; exit 2; }

t0=$(date +%s)
BUDGET="${BUDGET:-570}"
RESERVE="${RESERVE:-25}"
# left: seconds of the budget left, less what packing the outputs needs.
left() { echo $(( BUDGET - ($(date +%s) - t0) - RESERVE )); }
# lim N: N seconds, or what is left if that is less (at least 1).
lim() { local l; l=$(left); if [ "$l" -lt "$1" ]; then echo $(( l > 1 ? l : 1 )); else echo "$1"; fi; }
timed_out() { [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; }
log() { printf '\n== %s  (%s, %s s left)\n' "$*" "$(date +%T)" "$(left)"; }
# say LINE: one measurement, to the console and summary.txt.
say() { printf '%s\n' "$*" | tee -a "$OUT_DIR/summary.txt"; }
# secs START END: seconds between two `date +%s.%N` readings, one decimal.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# ---- A bundle in parts: pieces of one tar, one part per call (xtask/src/gpu_bundle/parts.rs).
# The machine keeps what earlier calls carried while it stays warm; the pieces are also copied to
# WORK/pieces in case the repository copy is replaced between calls.
PIECES="$WORK/pieces"
stash_pieces() {
  local d
  mkdir -p "$PIECES"
  for d in "$BUNDLE"/parts/part-*/; do
    [ -f "$d/PARTS.txt" ] || continue
    cp -f "$d"/piece-*.tar "$PIECES/" 2>/dev/null
    cp -f "$d/PARTS.txt" "$PIECES/PARTS.txt"
  done
}
# missing_pieces: the pieces PARTS.txt names that are absent or damaged, one per line.
missing_pieces() {
  local sum name
  [ -f "$PIECES/PARTS.txt" ] || { echo "PARTS.txt (no part received yet)"; return; }
  while read -r sum name; do
    case "$sum" in ''|'#'*) continue ;; esac
    if [ ! -f "$PIECES/$name" ] || [ "$(sha256sum "$PIECES/$name" | cut -d' ' -f1)" != "$sum" ]; then
      echo "$name"
    fi
  done <"$PIECES/PARTS.txt"
}
piece_names() { awk '!/^#/ && NF == 2 { print $2 }' "$PIECES/PARTS.txt"; }

if [ "$RECEIVE" = 1 ]; then
  [ -n "$BUNDLE" ] || { echo "gpu-check: --receive needs --bundle" >&2; exit 2; }
  stash_pieces
  missing=$(missing_pieces)
  total=$(piece_names 2>/dev/null | wc -l)
  if [ -z "$missing" ]; then
    echo "gpu-check: all $total pieces are here ($PIECES); run the check now: scripts/gpu-check.sh --bundle ${BUNDLE#"$ROOT"/}"
  else
    echo "gpu-check: pieces here: $(cd "$PIECES" && printf '%s ' piece-*.tar)"
    echo "gpu-check: still missing of $total: $(echo "$missing" | tr '\n' ' ')"
  fi
  exit 0
fi

# ---- From here on: the check. Everything printed also goes to gpu-check.log.
: >"$OUT_DIR/summary.txt"
exec > >(tee "$OUT_DIR/gpu-check.log") 2>&1
TEE_PID=$!
RUN="$WORK/run"        # the unpacked bundle, the training runs and the results; remade each time
RES="$RUN/results"
CACHES="$RUN/caches"
rm -rf "$RUN"
mkdir -p "$RUN/bin" "$RUN/data" "$RUN/runs" "$RES" "$CACHES"

# Outputs are packed on any exit, so that a failed step still brings back what was measured.
finish() {
  local name
  trap - EXIT
  log "packing outputs into $OUT_DIR"
  tar -C "$RUN" -czf "$OUT_DIR/results.tar.gz" results 2>/dev/null || echo "could not pack $RES"
  for name in cubecl cuda-jit nv-shader; do
    [ -n "$(find "$CACHES/$name" -type f -print -quit 2>/dev/null)" ] || continue
    tar -C "$CACHES" -cf - "$name" | xz -6 -T0 >"$OUT_DIR/caches-$name.tar.xz"
    local size; size=$(stat -c %s "$OUT_DIR/caches-$name.tar.xz")
    echo "caches-$name.tar.xz: $(( size / 1024 )) KiB ($(du -sh "$CACHES/$name" | cut -f1) unpacked)"
    [ "$size" -le $(( 16 * 1024 * 1024 )) ] \
      || echo "warning: caches-$name.tar.xz is over the 16 MiB the device tool brings back per file"
  done
  say "# done in $(( $(date +%s) - t0 )) s of a $BUDGET s budget"
  printf '\n== summary (%s)\n' "$OUT_DIR/summary.txt"
  cat "$OUT_DIR/summary.txt"
  # Let tee write the last lines of gpu-check.log before the device tool collects OUT.
  exec >&- 2>&-
  wait "$TEE_PID" 2>/dev/null
}
trap finish EXIT

log "machine"
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n1)
say "# gpu-check $(date -u +%FT%TZ): ${gpu:-no nvidia-smi}, $(nproc) cores"

# ---- The binaries and data: from the bundle, or XTASK_BIN/TYMPAN_BIN, or built here.
XTASK="" TYMPAN="" SRC=""
# unpack_bundle: the bundle (whole, or joined from its pieces) into RUN; SRC is the whole bundle.
unpack_bundle() {
  local src="$BUNDLE" f
  if [ ! -f "$src/MANIFEST.txt" ]; then
    stash_pieces
    local missing; missing=$(missing_pieces)
    if [ -n "$missing" ]; then
      echo "the bundle at $BUNDLE is neither whole (no MANIFEST.txt) nor complete in parts; missing:"
      echo "$missing"
      echo "(a machine given back between the calls loses the parts: carry them again, back to back)"
      return 1
    fi
    src="$WORK/bundle"
    rm -rf "$src"; mkdir -p "$src"
    piece_names | while read -r f; do cat "$PIECES/$f"; done | tar -x -C "$src" || return 1
    echo "joined $(piece_names | wc -l) pieces"
  fi
  SRC="$src"
  sed -n '1,/^files:/p' "$src/MANIFEST.txt"
  for f in "$src"/bin/*.xz; do
    case "$f" in
      *.tar.xz) tar -xJf "$f" -C "$RUN/bin" || return 1 ;;
      *) xz -dc "$f" >"$RUN/bin/$(basename "$f" .xz)" || return 1 ;;
    esac
  done
  chmod +x "$RUN"/bin/*
  for f in "$src"/data/*.tar.xz; do
    [ -f "$f" ] && { tar -xJf "$f" -C "$RUN/data" || return 1; }
  done
  if [ -f "$src/cuda/nvvm/libdevice/libdevice.10.bc" ]; then
    cp -r "$src/cuda" "$RUN/cuda"
    export CUDA_PATH="$RUN/cuda"          # where cubecl's LLVM path finds libdevice
  fi
  if [ -d "$src/psla/src/models" ]; then
    cp -r "$src/psla" "$RUN/psla"
    PSLA_SRC="${PSLA_SRC:-$RUN/psla}"
  fi
  if [ -d "$src/python" ]; then
    cp -r "$src/python" "$RUN/python"
    export PYTHONPATH="$RUN/python${PYTHONPATH:+:$PYTHONPATH}"   # efficientnet_pytorch
  fi
  [ -f "$src/caches.tar.xz" ] && tar -xJf "$src/caches.tar.xz" -C "$CACHES"
  [ -x "$RUN/bin/xtask" ] || { echo "no bin/xtask in the bundle"; return 1; }
  XTASK="$RUN/bin/xtask"
  [ -x "$RUN/bin/tympan" ] && TYMPAN="$RUN/bin/tympan"
  DATA="$RUN/data"
  export TYMPAN_DATA="$DATA"
  return 0
}
if [ -n "$BUNDLE" ]; then
  log "unpacking the bundle $BUNDLE into $RUN"
  unpack_bundle || { say "setup: the bundle could not be unpacked"; exit 1; }
elif [ -n "${XTASK_BIN:-}" ]; then
  XTASK="$XTASK_BIN" TYMPAN="${TYMPAN_BIN:-}"
  log "prebuilt binaries: $XTASK ${TYMPAN:-(no tympan: TYMPAN_BIN)}"
else
  FEATURES="${FEATURES:-cuda,vulkan}"
  log "build: cargo build -p xtask -p tympan --features $FEATURES (limit $(lim 300) s)"
  if timeout "$(lim 300)" cargo build -p xtask -p tympan --features "$FEATURES" 2>"$RES/build.log"; then
    XTASK="${CARGO_TARGET_DIR:-target}/debug/xtask" TYMPAN="${CARGO_TARGET_DIR:-target}/debug/tympan"
  else
    tail -n 5 "$RES/build.log"
    say "setup: the build did not finish (or failed) inside its limit"
    exit 1
  fi
fi
# NVIDIA's Vulkan driver (libGLX_nvidia.so.0) loads only beside glvnd: without it wgpu finds no
# adapter (seen on an H200, docs/backends.md). The bundle's debs/ or the device tool's .gl hold
# the loader packages; they are unpacked (as root) only when the machine lacks them.
have_loaders() { ldconfig -p | grep -q libvulkan.so.1 && ldconfig -p | grep -q libGLdispatch.so.0; }
if command -v nvidia-smi >/dev/null && ! have_loaders; then
  for dir in "${SRC:+$SRC/debs}" "$ROOT/.gl"; do
    if [ -z "$dir" ] || ! compgen -G "$dir/*.deb" >/dev/null; then continue; fi
    if [ "$(id -u)" -eq 0 ]; then
      for f in "$dir"/*.deb; do dpkg -x "$f" /; done
      ldconfig
      echo "unpacked the loader packages of $dir"
      break
    fi
  done
  have_loaders || echo "warning: libvulkan.so.1 or libGLdispatch.so.0 not found: install libvulkan1 and libglvnd0 (with libegl1, libglx0) or wgpu will find no adapter"
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] \
   && ! compgen -G "/usr/share/vulkan/icd.d/nvidia*" >/dev/null && ! compgen -G "/etc/vulkan/icd.d/nvidia*" >/dev/null; then
  export VK_DRIVER_FILES="$icd"   # the driver's ICD file is outside the loader's search path
fi

# A prebuilt task runner finds the workspace (scripts/, experiments/) through CARGO_MANIFEST_DIR.
export CARGO_MANIFEST_DIR="$ROOT/xtask"
if [ -n "${CUDA_PATH:-}" ]; then
  echo "CUDA_PATH=$CUDA_PATH (libdevice for the cuda backend)"
elif [ -f /usr/local/cuda/nvvm/libdevice/libdevice.10.bc ]; then
  echo "libdevice: /usr/local/cuda's"
else
  echo "warning: no libdevice.10.bc (bundle's cuda/ or /usr/local/cuda): the cuda backend will say it cannot start"
fi

# ---- Persistent caches, seeded from the bundle's caches.tar.xz, packed into OUT at the end.
# cubecl's kernel and autotune store: TYMPAN_KERNEL_CACHE puts both in one folder, kernel store
# on, over the repository's cubecl.toml (tympan-models/src/kernel_cache.rs).
export TYMPAN_KERNEL_CACHE="$CACHES/cubecl"
mkdir -p "$TYMPAN_KERNEL_CACHE"
# The driver's own caches: PTX -> SASS for cuda, SPIR-V -> SASS for Vulkan. Without these the
# warm process would still find them in ~/.nv (same machine); with them they travel to the next
# run too.
export CUDA_CACHE_PATH="$CACHES/cuda-jit" CUDA_CACHE_MAXSIZE=4294967296
export __GL_SHADER_DISK_CACHE=1 __GL_SHADER_DISK_CACHE_PATH="$CACHES/nv-shader" __GL_SHADER_DISK_CACHE_SKIP_CLEANUP=1
mkdir -p "$CUDA_CACHE_PATH" "$__GL_SHADER_DISK_CACHE_PATH"
seeded=$(find "$CACHES" -type f | wc -l)
say "# caches: $seeded files from the bundle at the start (the cold process is cold only where this is 0)"

# ---- 1-3. The training step, cold and warm, on each GPU backend; PyTorch's step.
# bench BACKEND PHASE BATCH LIMIT: one `xtask bench train` process (PSLA B2, a warm-up step then 5
# timed steps on random inputs) with its output in $RES/bench-BACKEND-PHASE.txt and the kernels
# it compiled in $RES/kernels-BACKEND-PHASE.log. Sets RC.
RC=0
bench() {
  local b="$1" phase="$2" batch="$3" limit="$4"
  local f="$RES/bench-$b-$phase.txt" k="$RES/kernels-$b-$phase.log"
  local start end wall line clips step first ended kernels tag="step $b ${phase%-b4} b$batch:"
  log "PSLA B2 training step on $b, $phase process, batch $batch (limit $limit s)"
  start=$(date +%s.%N)
  TYMPAN_KERNEL_LOG="$k" timeout -k 10 "$limit" "$XTASK" bench train --backends "$b" \
    --batch "$batch" --iters 5 --python none 2>&1 | tee "$f"
  RC=${PIPESTATUS[0]}
  end=$(date +%s.%N)
  wall=$(secs "$start" "$end")
  echo "process wall time $wall s, exit status $RC" >>"$f"
  kernels="?"
  [ -f "$k" ] && kernels=$(grep -c 'Compiling kernel' "$k")
  # bench_train.rs prints "<backend>: first step S s (...), ended E s after the benchmark
  # started; loss L" after the warm-up, then "<label>: tympan <backend>: T s/step, C clips/s".
  first=$(grep -m1 -oE 'first step [0-9.]+ s' "$f" | awk '{ print $3 }')
  ended=$(grep -m1 -oE 'ended [0-9.]+ s after' "$f" | awk '{ print $2 }')
  line=$(grep -m1 's/step' "$f")
  clips=$(printf '%s' "$line" | sed -nE 's/.* ([0-9.]+) clips\/s.*/\1/p')
  if [ "$RC" -eq 0 ] && [ -n "$clips" ]; then
    # s/step from clips/s: the bench prints s/step with two decimals only.
    step=$(awk -v b="$batch" -v c="$clips" 'BEGIN { printf "%.4f", b / c }')
    say "$tag $step s/step, $clips clips/s; first step ${first:-?} s, done ${ended:-?} s after start; process $wall s; $kernels kernels compiled"
  elif timed_out "$RC"; then
    say "$tag did not finish inside its limit of $limit s (first step: ${first:-not reached}${ended:+, done $ended s after start}; $kernels kernels compiled)"
  else
    say "$tag failed, exit status $RC after $wall s: $(grep -v '^[[:space:]]*$' "$f" | grep -v '^process wall' | tail -n1 | cut -c1-240)"
  fi
}

# pair BACKEND COLD_LIMIT WARM_LIMIT: the cold process, then the warm one with the same caches.
# Sets DONE_<backend>=1 when a process finished its steps.
pair() {
  local b="$1" batch=16 suffix=""
  bench "$b" cold 16 "$(lim "$2")"
  if [ "$RC" -ne 0 ] && ! timed_out "$RC" && [ "$(left)" -ge 60 ]; then
    # Batch 16 failed outright, not slowly: on lavapipe Burn's autotune picks a matmul whose
    # launch exceeds 65,535 workgroups at batch 16 (docs/backends.md); batch 4 runs.
    batch=4 suffix=-b4
    bench "$b" "cold$suffix" 4 "$(lim "$2")"
  fi
  [ "$RC" -eq 0 ] && eval "DONE_$b=1"
  if [ "$RC" -ne 0 ] && ! timed_out "$RC"; then
    say "step $b warm: skipped (the cold process failed)"
    return
  fi
  if [ "$(left)" -lt 30 ]; then
    say "step $b warm: skipped (under 30 s left)"
    return
  fi
  # After a cold process that timed out the caches hold what it compiled: the warm process then
  # shows how far they carry.
  bench "$b" "warm$suffix" "$batch" "$(lim "$3")"
  [ "$RC" -eq 0 ] && eval "DONE_$b=1"
}
DONE_cuda=0 DONE_wgpu=0

torch_step() {
  local why="" start end rc limit
  if ! python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    why="python3's torch sees no CUDA device"
  elif [ -z "$PSLA_SRC" ] || [ ! -f "$PSLA_SRC/src/models/Models.py" ]; then
    why="no PSLA src/models (cargo xtask gpu-bundle --psla-src, or --psla-src / PSLA_SRC here)"
  elif ! python3 -c 'import efficientnet_pytorch' 2>/dev/null; then
    why="no efficientnet_pytorch (cargo xtask gpu-bundle --psla-src carries it)"
  fi
  if [ -n "$why" ]; then
    say "step torch: skipped: $why"
    return
  fi
  limit=$(lim 90)
  log "PyTorch PSLA B2 step on cuda, batch 16 (limit $limit s)"
  start=$(date +%s.%N)
  timeout -k 10 "$limit" python3 scripts/bench_train_step.py --psla-src "$PSLA_SRC" --batch 16 \
    --iters 5 --device cuda >"$RES/bench-torch.txt" 2>&1
  rc=$?
  end=$(date +%s.%N)
  grep '^{' "$RES/bench-torch.txt" | tail -n1 >"$RES/bench-torch.json"
  if [ "$rc" -eq 0 ] && [ -s "$RES/bench-torch.json" ]; then
    # The median as bench_train.rs takes it: the middle of the sorted times.
    say "step torch cuda b16: $(python3 - "$RES/bench-torch.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
t = sorted(v["times"])
m = t[len(t) // 2]
print(f"{m:.4f} s/step, {16 / m:.2f} clips/s (torch {v['torch']}, median of {len(t)} after a warm-up)")
PY
); process $(secs "$start" "$end") s"
  elif timed_out "$rc"; then
    say "step torch cuda b16: did not finish inside its limit of $limit s"
  else
    say "step torch cuda b16: failed, exit status $rc: $(tail -n1 "$RES/bench-torch.txt" | cut -c1-240)"
  fi
}

pair cuda 180 120
torch_step
pair wgpu 150 90

# ---- 4. One epoch of fsdd-psla on a GPU backend; `tympan tag`.
GPU=cuda
[ "$DONE_cuda" = 1 ] || { [ "$DONE_wgpu" = 1 ] && GPU=wgpu; }

# epoch BACKEND LIMIT: one epoch of fsdd-psla, timed from its metrics.csv.
epoch() {
  local backend="$1" limit="$2" run="$RUN/runs/fsdd-psla-$1" start
  local sets=(--set train.epochs=1 --set aggregate.wa_start=1 --set aggregate.wa_end=1
              --set optim.schedule.from_epoch=1)
  if [ ! -d "$DATA/fsdd/recordings" ]; then
    say "epoch $backend: skipped: no FSDD under $DATA (the bundle left it out?)"
    return
  fi
  if [ ! -e "$DATA/weights/efficientnet-lite0-57934424.pth" ]; then
    echo "no ImageNet Lite0 weights under $DATA/weights: trained from scratch (model.pretrained=none)"
    sets+=(--set model.pretrained=none)
  fi
  rm -rf "$run"
  log "one epoch of fsdd-psla on $backend (limit $limit s)"
  start=$(date +%s)
  if TYMPAN_KERNEL_LOG="$RES/kernels-epoch-$backend.log" timeout -k 10 "$limit" "$XTASK" train fsdd-psla \
      --backend "$backend" --data-dir "$DATA/fsdd" --out "$run" "${sets[@]}" 2>&1 \
      | tee "$RES/fsdd-psla-$backend.txt"; then
    cp "$run/metrics.csv" "$RES/fsdd-psla-$backend-metrics.csv"
    say "$(python3 - "$run/metrics.csv" "$backend" "$(( $(date +%s) - start ))" "${sets[*]}" <<'PY'
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))[-1]
s = float(r["seconds"])
scratch = " (from scratch)" if "pretrained=none" in sys.argv[4] else ""
print(f"epoch {sys.argv[2]}: fsdd-psla epoch 1{scratch} {s:.1f} s (training on 2,430 clips, then "
      f"evaluating 270 + 300), {2430 / s:.1f} training clips/s; loss {float(r['loss']):.4f}, val "
      f"accuracy {float(r['val_accuracy']):.3f}, test accuracy {float(r['test_accuracy']):.3f}; "
      f"{sys.argv[3]} s with data preparation")
PY
)"
  else
    say "epoch $backend: fsdd-psla did not finish inside its limit of $limit s (or failed: $RES/fsdd-psla-$backend.txt)"
  fi
}

if [ "$DONE_cuda" != 1 ] && [ "$DONE_wgpu" != 1 ]; then
  say "epoch: skipped: no GPU backend finished a training step in time"
elif [ "$(left)" -lt 60 ]; then
  say "epoch $GPU: skipped (under 60 s left)"
else
  epoch "$GPU" "$(lim 150)"
fi

# tag_clips BACKEND RUN OUTPUT CLIPS...: `tympan tag` on CLIPS with RUN's model; clips/s.
tag_clips() {
  local b="$1" run="$2" name="$3" limit start end rc n
  shift 3
  n=$#
  limit=$(lim 60)
  log "tympan tag --backend $b --run ${run##*/} on $n FSDD clips (limit $limit s)"
  start=$(date +%s.%N)
  timeout -k 10 "$limit" "$TYMPAN" tag --backend "$b" --run "$run" --format csv --top-k 1 \
    -o "$RES/$name-$b.npy" "$@" >"$RES/$name-$b.csv" 2>"$RES/$name-$b.err"
  rc=$?
  end=$(date +%s.%N)
  if [ "$rc" -eq 0 ]; then
    say "tag $b: $n FSDD clips in $(secs "$start" "$end") s, $(awk -v n="$n" -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", n / (b - a) }') clips/s (one process: start-up, decode, fbank, model)"
  elif timed_out "$rc"; then
    say "tag $b: did not finish inside its limit of $limit s"
  else
    say "tag $b: failed, exit status $rc: $(tail -n1 "$RES/$name-$b.err" | cut -c1-240)"
  fi
}

# compare_scores FLEX.npy GPU.npy: the largest difference of the GPU's scores from flex's, and on
# how many clips (rows) the top class agrees.
compare_scores() {
  python3 - "$1" "$2" "$GPU" <<'PY'
import sys
try:
    import numpy as np
except ImportError:
    print("no comparison: no numpy")
    sys.exit(0)
try:
    a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
except OSError as e:
    print(f"no comparison: {e}")
    sys.exit(0)
a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
print(f"scores {a.shape}: largest |{sys.argv[3]} - flex| = {np.abs(a - b).max():.3e}, "
      f"top class agrees on {(a.argmax(1) == b.argmax(1)).sum()} of {len(a)} clips")
PY
}

if [ -z "$TYMPAN" ]; then
  say "tag: skipped: no tympan binary (the bundle left it out, or TYMPAN_BIN unset)"
else
  clip="$DATA/audioset/R9_ZSCveAHg_7s.wav"
  if [ -f "$clip" ] && [ "$(left)" -ge 30 ]; then
    log "tympan tag, PSLA B2 (test fixture weights) on ${clip##*/}: $GPU against flex (limit $(lim 45) s each)"
    for b in flex "$GPU"; do
      timeout -k 10 "$(lim 45)" "$TYMPAN" tag --backend "$b" --arch psla-effnet-b2 \
        --weights tests/fixtures/models/psla_effnet_b2_h4_527.pth \
        --labels "$DATA/audioset/class_labels_indices.csv" --mean -4.6476 --std 4.5699 \
        --top-k 3 -o "$RES/tag-b2-$b.npy" "$clip" \
        || echo "tag on $b: did not finish inside its limit (or failed)"
    done
    say "tag B2 clip: $(compare_scores "$RES/tag-b2-flex.npy" "$RES/tag-b2-$GPU.npy")"
  else
    say "tag B2 clip: skipped (no $clip, or under 30 s left)"
  fi
  run="$RUN/runs/fsdd-psla-$GPU"
  if [ -f "$run/metrics.csv" ]; then
    clips=("$DATA"/fsdd/recordings/*_jackson_*.wav)
    for b in "$GPU" flex; do
      [ "$(left)" -ge 20 ] || { say "tag $b: skipped (under 20 s left)"; continue; }
      tag_clips "$b" "$run" tag-fsdd "${clips[@]}"
    done
    say "tag FSDD: $(compare_scores "$RES/tag-fsdd-flex.npy" "$RES/tag-fsdd-$GPU.npy")"
  else
    say "tag FSDD: skipped (the $GPU epoch left no run)"
  fi
fi

# ---- 5. The same epoch on the CPU, for speed and metrics beside the GPU's.
if [ "$(left)" -ge 90 ]; then
  epoch flex "$(lim 1000)"
else
  say "epoch flex: skipped (under 90 s left)"
fi
