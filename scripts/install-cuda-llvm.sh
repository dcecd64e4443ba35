#!/usr/bin/env bash
# Installs the LLVM 23 that `--features cuda` needs to build, from PyPI, and points Burn's LLVM
# bundler at it, so that nothing is fetched from outside the package registries.
#
# Why: burn-cuda 0.22.1 -> cubecl-cuda 0.11.3 -> cubecl-llvm links LLVM 23 with the NVPTX target.
# Its build script (tracel-llvm-bundler 23.1.0-4) otherwise downloads tracel's bundle from GitHub.
# It downloads nothing when `$XDG_DATA_HOME/tracel/tracel-llvm-23.1.0-4/` (default
# `~/.local/share/...`) holds `bin/llvm-config` and the sentinel file `.tracel-llvm-installed`
# (tracel-llvm-bundler's build.rs, `bundle_cache`). PyPI's `mlc-llvm-static[all]` is LLVM 23.1.1
# built static, with an `llvm-config` and NVPTX in its extra-targets wheel (about 92 MB of wheels,
# 400 MB installed). Its `llvm-config` is a Python script, so python3 must be on PATH at build time.
#
# Usage: scripts/install-cuda-llvm.sh [PREFIX]
#   PREFIX  where the wheels are installed (default: $XDG_DATA_HOME/tympan/llvm-23, i.e.
#           ~/.local/share/tympan/llvm-23). The bundler's folder becomes a link to PREFIX's LLVM.
# Idempotent: a second run with the same PREFIX checks the installation and changes nothing.
# Then: `cargo build -p xtask -p tympan --features cuda` (docs/backends.md).
set -euo pipefail

VERSION="23.1.1.post0"
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
prefix="${1:-$data_home/tympan/llvm-23}"
# Absolute: the bundler's folder becomes a link to it, resolved from that folder.
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
bundle="$data_home/tracel/tracel-llvm-23.1.0-4"
llvm="$prefix/mlc_llvm_static/static"
python="${PYTHON:-python3}"

die() { echo "install-cuda-llvm: $*" >&2; exit 1; }
command -v "$python" >/dev/null || die "$python not found: the LLVM comes from PyPI through pip, and its llvm-config is a Python script"

installed_version() { "$llvm/bin/llvm-config" --version 2>/dev/null || true; }

if [ "$(installed_version)" != "23.1.1" ] || [ ! -e "$llvm/lib/libLLVMNVPTXCodeGen.a" ]; then
  echo "install-cuda-llvm: pip install mlc-llvm-static[all]==$VERSION into $prefix"
  mkdir -p "$prefix"
  "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-warn-script-location \
    --upgrade --target "$prefix" "mlc-llvm-static[all]==$VERSION" \
    || die "pip could not install mlc-llvm-static[all]==$VERSION into $prefix"
fi

[ "$(installed_version)" = "23.1.1" ] || die "$llvm/bin/llvm-config does not answer --version 23.1.1"
"$llvm/bin/llvm-config" --targets-built | grep -qw NVPTX \
  || die "$llvm has no NVPTX target (the extra-targets wheel is missing: reinstall with [all])"

# The bundler's folder: a link to the PyPI LLVM, with the sentinel inside it. A real folder there
# (tracel's own bundle, downloaded earlier) is left alone.
mkdir -p "${bundle%/*}"
if [ -L "$bundle" ] && [ "$(readlink "$bundle")" != "$llvm" ]; then
  rm "$bundle"
fi
if [ ! -e "$bundle" ]; then
  ln -s "$llvm" "$bundle"
fi
if [ -L "$bundle" ]; then
  # Created once: the bundler's build script reruns (and cubecl-llvm, Burn and tympan rebuild)
  # whenever this file changes, so a second run must not touch it.
  [ -e "$llvm/.tracel-llvm-installed" ] || touch "$llvm/.tracel-llvm-installed"
  echo "install-cuda-llvm: $bundle -> $llvm (LLVM $(installed_version), NVPTX)"
else
  [ -e "$bundle/.tracel-llvm-installed" ] || die "$bundle exists but is not a complete bundle (no .tracel-llvm-installed): remove it and rerun"
  echo "install-cuda-llvm: $bundle is already a complete LLVM bundle; left as it is"
fi
