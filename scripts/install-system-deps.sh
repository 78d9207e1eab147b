#!/usr/bin/env bash
# Installs the Debian packages wit's build needs, only those that are missing (safe to run twice):
# a C/C++ compiler (torch-sys compiles C++ against libtorch), Python's venv module, and cmake + nasm
# (turbojpeg-sys builds libjpeg-turbo from its vendored source; nasm assembles its SIMD codecs).
set -euo pipefail
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v nasm >/dev/null 2>&1 || missing+=(nasm)
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
command -v cargo >/dev/null 2>&1 || { echo "system-deps: cargo is not installed (install Rust with rustup)" >&2; exit 1; }
if [ ${#missing[@]} -gt 0 ]; then
  echo "system-deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
