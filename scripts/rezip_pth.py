#!/usr/bin/env python3
"""Rewrite a PyTorch .pth zip archive with Python's zipfile (same entries, stored, no ZIP64).

torch >= 2.x writes archives whose ZIP64 end records the `zip` crate used by burn-store 0.22.1
rejects ("invalid Zip archive: Invalid Central Directory header"). The rewritten file holds the
same entries; torch.load reads both, and tympan can import it.

    python3 scripts/rezip_pth.py model.pth model_rezipped.pth
"""
import sys
import zipfile


def rezip(src, dst):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info.filename))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rezip(sys.argv[1], sys.argv[2])
