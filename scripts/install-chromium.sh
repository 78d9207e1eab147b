#!/usr/bin/env bash
# Installs Debian's chromium for the report's browser test (headless render of the HTML report),
# only when it is missing (safe to run twice): one `apt-get update`, then `apt-get install chromium`.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
echo "install-chromium: installing Debian's chromium (the report's browser test renders the HTML with it)"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
command -v chromium >/dev/null 2>&1 || { echo "install-chromium: chromium still not on PATH" >&2; exit 1; }
