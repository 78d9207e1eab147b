#!/usr/bin/env bash
# Installs the local S3-compatible server the storage tests start on 127.0.0.1 (moto's server mode,
# `moto_server`, from PyPI) into the project venv, only when it is missing (safe to run twice).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VIRTUAL_ENV:-$ROOT/.venv}"
if [ -x "$VENV/bin/moto_server" ] && "$VENV/bin/python" -c "import moto.server, flask_cors" 2>/dev/null; then
  exit 0
fi
echo "install-s3-server: installing moto[server] into $VENV (the storage tests' S3 server)"
"$VENV/bin/python" -m pip install --quiet "moto[server]==5.2.5"
"$VENV/bin/python" -c "import moto.server" || { echo "install-s3-server: moto.server does not import" >&2; exit 1; }
