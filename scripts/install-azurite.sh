#!/usr/bin/env bash
# Installs the local Azure Blob Storage emulator the Azure storage test starts on 127.0.0.1
# (Azurite, from the npm registry, into $HOME/.cache/wit/azurite: outside the clone, kept between
# CI runs) and the Azure client the test reads the store back with (azure-storage-blob, from PyPI,
# into the project venv). Only what is missing; Node.js and npm from Debian if absent.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VIRTUAL_ENV:-$ROOT/.venv}"
AZURITE_VERSION=3.37.0
DIR="${WIT_AZURITE_DIR:-$HOME/.cache/wit/azurite}"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-azurite: installing nodejs and npm (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if ! [ -x "$DIR/node_modules/.bin/azurite-blob" ] \
   || [ "$(node -p "require('$DIR/node_modules/azurite/package.json').version" 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  echo "install-azurite: installing azurite@$AZURITE_VERSION into $DIR (the Azure storage test's emulator)"
  mkdir -p "$DIR"
  npm install --prefix "$DIR" --no-audit --no-fund --silent "azurite@$AZURITE_VERSION"
fi
if ! "$VENV/bin/python" -c "import azure.storage.blob" 2>/dev/null; then
  echo "install-azurite: installing azure-storage-blob into $VENV"
  "$VENV/bin/python" -m pip install --quiet "azure-storage-blob==12.31.1"
fi
