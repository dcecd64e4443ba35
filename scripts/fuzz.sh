#!/usr/bin/env bash
# Coverage-guided fuzzing of tympan's readers with cargo-fuzz (libFuzzer), each corpus seeded from
# the real files in ../shared/data (copied into fuzz/corpus/, which git ignores).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain take them.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
data="${TYMPAN_DATA:-../shared/data}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
seed() { mkdir -p "fuzz/corpus/$1"; shift; for f in "$@"; do [ -f "$f" ] && cp -n "$f" "fuzz/corpus/${target}/" || true; done; }
target=wav; seed wav "$data"/fsdd/recordings/0_jackson_0.wav "$data"/fsdd/recordings/9_yweweler_49.wav "$data"/audioset/R9_ZSCveAHg_7s.wav
target=audio; mkdir -p fuzz/corpus/audio
for f in "$data"/urbansound8k/UrbanSound8K/audio/fold1/*.wav; do
  [ -f "$f" ] || continue
  # first byte 3 = ".wav" for the audio target's extension pick
  { printf '\003'; head -c 65536 "$f"; } > "fuzz/corpus/audio/$(basename "$f")"
  break
done
target=npy; mkdir -p fuzz/corpus/npy
python3 - <<'PY' || true
import struct
hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
hdr += " " * (((len(hdr) + 11 + 63) // 64) * 64 - len(hdr) - 11) + "\n"
open("fuzz/corpus/npy/seed.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + struct.pack("<6f", *range(6)))
PY
target=csv; mkdir -p fuzz/corpus/csv
head -c 20000 "$data/audioset/balanced_train_segments.csv" > fuzz/corpus/csv/balanced_head.csv || true
cp -n "$data/audioset/class_labels_indices.csv" fuzz/corpus/csv/ || true
head -c 20000 "$data/urbansound8k/UrbanSound8K/metadata/UrbanSound8K.csv" > fuzz/corpus/csv/us8k_head.csv || true
target=json; mkdir -p fuzz/corpus/json
head -c 30000 "$data/audioset/ontology.json" > fuzz/corpus/json/ontology_head.json || true
printf '{"data": [{"wav": "a.flac", "labels": "/m/09x0r,/m/05zppz"}]}' > fuzz/corpus/json/datafile.json
for t in wav audio npy csv json; do
  echo "== fuzz $t for ${secs}s"
  (cd fuzz && cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 2>&1 | tail -n 4)
done
