#!/usr/bin/env bash
# Hershey et al. Sec. 4.4 at reduced scale (docs/results.md): embeddings of the FC-b128 network
# trained by `cargo xtask train us8k-hershey`, a shallow classifier on FSDD (train: takes 5-49,
# test: takes 0-4), against the same classifier on the raw 96x64 log-mel patches.
#   experiments/hershey-probe.sh [FSDD_DIR] [RUN_DIR]
# Uses the `tympan` binary on PATH (cargo install --path crates/tympan), or $TYMPAN.
set -euo pipefail
cd "$(dirname "$0")/.."
FSDD=${1:-../shared/data/fsdd}
RUN=${2:-experiments/runs/us8k-hershey}
T=${TYMPAN:-tympan}
O=experiments/runs/hershey-probe
mkdir -p "$O"
[ -f "$RUN/model-last.bpk" ] || { echo "no $RUN/model-last.bpk: run cargo xtask train us8k-hershey first" >&2; exit 1; }
# The training normalisation, from the run's state.json ("norm": [mean, std]).
read -r mean std < <(tr -d ' \n' < "$RUN/state.json" | sed 's/.*"norm":\[\([^]]*\)\].*/\1/' | tr ',' ' ')
mapfile -t train < <(ls "$FSDD"/recordings/*.wav | grep -Ev '_[0-4]\.wav$')
mapfile -t test < <(ls "$FSDD"/recordings/*_[0-4].wav)
for kind in emb raw; do
  if [ "$kind" = emb ]; then
    args=(--arch hershey-fc-b128 --weights "$RUN/model-last.bpk" --classes 10)
  else
    args=(--raw)
  fi
  "$T" embed "${args[@]}" --mean "$mean" --std "$std" "${train[@]}" -o "$O/${kind}_train.npy"
  "$T" embed "${args[@]}" --mean "$mean" --std "$std" "${test[@]}" -o "$O/${kind}_test.npy"
  for s in train test; do
    # FSDD labels: the digit before the first '_' of the file name.
    sed 's#.*/##; s#_.*##' "$O/${kind}_$s.txt" > "$O/${kind}_${s}_labels.txt"
  done
  echo "== $kind"
  "$T" probe --train "$O/${kind}_train.npy" --train-labels "$O/${kind}_train_labels.txt" \
    --test "$O/${kind}_test.npy" --test-labels "$O/${kind}_test_labels.txt" --hidden 256 --epochs 30
done
