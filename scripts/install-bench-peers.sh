#!/usr/bin/env bash
# The tools `make bench` measures wit against, installed into the project venv (safe to run twice;
# installs only what is missing), plus Debian's linux-perf for the profiles in BENCHMARKS.md.
#
#   gensim            WikiCorpus: the dump → counts peer
#   pyahocorasick     MetaCLIP's matching loop: the curate peer (pin in scripts/requirements-bench.txt)
#   img2dataset       1.47.0 with its own dependencies: the fetch peer
#   lingua            lingua-language-detector: the second opinion on short texts' language (harvest)
#   cc2dataset        1.5.0, its per-file WAT extraction: the Common Crawl harvest peer (--no-deps,
#                     scripts/requirements-bench-nodeps.txt)
#
# Everything already in the venv (torch, pyarrow, numpy, pillow, …) is held at its installed version
# with a constraints file, so a peer can never move the project's own pins.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
python="$venv/bin/python"
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$HOME/.cache/wit/pip}
export PIP_DISABLE_PIP_VERSION_CHECK=1

if ! "$python" -c 'import gensim, ahocorasick, img2dataset, lingua' >/dev/null 2>&1 \
  || [ "$("$python" -c 'import importlib.metadata as m; print(m.version("img2dataset"))' 2>/dev/null)" != 1.47.0 ]; then
  echo "install-bench-peers: gensim, pyahocorasick, img2dataset 1.47.0, lingua into $venv"
  constraints=$(mktemp)
  trap 'rm -f "$constraints"' EXIT
  "$venv/bin/pip" freeze --exclude-editable | grep -v -E '^(-e |.* @ )' > "$constraints"
  "$venv/bin/pip" install -q -c "$constraints" -r "$root/scripts/requirements-bench.txt"
fi
"$python" -c 'import gensim, ahocorasick, img2dataset.downloader, lingua' \
  || { echo "install-bench-peers: a peer does not import" >&2; exit 1; }

if ! "$python" -c 'import fastwarc, simdjson, loguru, brotli, importlib.util as u; assert u.find_spec("cc2dataset")' \
  >/dev/null 2>&1; then
  echo "install-bench-peers: cc2dataset 1.5.0 and its per-file extraction's imports (--no-deps) into $venv"
  "$venv/bin/pip" install -q --no-deps -r "$root/scripts/requirements-bench-nodeps.txt"
fi

if ! command -v perf >/dev/null 2>&1 || ! perf --version >/dev/null 2>&1; then
  echo "install-bench-peers: Debian's linux-perf (profiles of the stages that miss a goal)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
fi
