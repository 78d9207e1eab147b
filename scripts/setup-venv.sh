#!/usr/bin/env bash
# Creates the project-local virtual environment (.venv) with the Python packages wit needs:
# torch (libtorch for the trainer), pyarrow and duckdb (independent Arrow readers for tests).
# Safe to run twice: packages already at the pinned version are left alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
python=${PYTHON:-python3}
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$HOME/.cache/wit/pip}
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv"
  "$python" -m venv "$venv"
fi

# The pins live in one file so CI, the Makefile and people read the same list.
"$venv/bin/python" -m pip install --quiet -r "$root/scripts/requirements.txt"
# open_clip for the trainer's parity tests, without its dependencies (they would pull a torch
# other than the pinned one): just what its model, loss and tokenizer import.
"$venv/bin/python" -m pip install --quiet --no-deps -r "$root/scripts/requirements-nodeps.txt"

# Check it: every package imports and torch is the version tch 0.24.0 expects.
"$venv/bin/python" - <<'PY'
import torch, pyarrow, duckdb, open_clip, polars, datasets
assert torch.__version__.split("+")[0] == "2.11.0", f"torch {torch.__version__}, tch 0.24.0 needs 2.11.0"
print(f"setup: torch {torch.__version__}, pyarrow {pyarrow.__version__}, duckdb {duckdb.__version__}, "
      f"open_clip {open_clip.__version__}, polars {polars.__version__}, datasets {datasets.__version__}")
PY
