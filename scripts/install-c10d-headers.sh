#!/usr/bin/env bash
# The headers the trainer's c10d shim (trainer/csrc) compiles against besides torch's own:
#   - Gloo's headers, which torch's ProcessGroupGloo.hpp includes but the torch wheel does not ship:
#     Debian's libgloo-dev, unpacked into .venv/wit-c10d/gloo (the shim uses ProcessGroupGloo only
#     through its exported constructor and the c10d::Backend interface, so Gloo's own class layouts
#     never cross the boundary; see trainer/build.rs);
#   - for NCCL on a CUDA torch: the CUDA C runtime (crt/) and CCCL headers of the CUDA release torch
#     was built with (nvidia-cuda-crt, nvidia-cuda-cccl wheels, into the venv beside nvidia-cuda-runtime).
# Safe to run twice.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
gloo="$venv/wit-c10d/gloo"
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$HOME/.cache/wit/pip}
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -f "$gloo/usr/include/gloo/context.h" ]; then
  downloads=$(mktemp -d)
  trap 'rm -rf "$downloads"' EXIT
  (cd "$downloads" && { apt-get download libgloo-dev 2>/dev/null || { apt-get update -qq && apt-get download libgloo-dev; }; })
  rm -rf "$gloo.tmp" && mkdir -p "$gloo.tmp"
  dpkg-deb -x "$downloads"/libgloo-dev_*.deb "$gloo.tmp"
  rm -rf "$gloo" && mv "$gloo.tmp" "$gloo"
  echo "c10d headers: Gloo (Debian libgloo-dev) -> $gloo"
fi

# The CUDA release of torch's runtime wheel, e.g. 13.0 for nvidia-cuda-runtime 13.0.96.
cuda=$("$venv/bin/python" - <<'PY'
import importlib.metadata as m
try:
    print(".".join(m.version("nvidia-cuda-runtime").split(".")[:2]))
except m.PackageNotFoundError:
    print("")
PY
)
if [ -n "$cuda" ]; then
  include=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu" + "'"${cuda%%.*}"'", "include"))')
  if [ ! -f "$include/crt/host_config.h" ] || [ ! -d "$include/nv" ]; then
    "$venv/bin/python" -m pip install --quiet --no-deps "nvidia-cuda-crt==$cuda.*" "nvidia-cuda-cccl==$cuda.*"
    echo "c10d headers: CUDA $cuda crt and cccl headers -> $include"
  fi
fi
