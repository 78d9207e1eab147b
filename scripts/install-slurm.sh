#!/usr/bin/env bash
# Installs Debian's Slurm (slurm-wlm: slurmctld, slurmd, sbatch…) and munge for the Slurm end-to-end
# test (tests/slurm.rs runs a one-node cluster of its own), only when `sbatch` is missing (safe to
# run twice). The test itself writes slurm.conf and the munge key under its temp folder; nothing
# here configures or starts a system-wide cluster.
set -euo pipefail
if command -v sbatch >/dev/null 2>&1 && command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1; then
  exit 0
fi
echo "install-slurm: installing Debian's slurm-wlm and munge (the Slurm end-to-end test runs a one-node cluster)"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
# policy-rc.d 101: the packages' post-install scripts must not start system-wide daemons.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  created_policy=1
fi
status=0
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge || status=$?
if [ "$created_policy" = 1 ]; then $sudo rm -f "$policy"; fi
[ "$status" = 0 ] || exit "$status"
for tool in sbatch slurmctld slurmd munged; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-slurm: $tool still not on PATH" >&2; exit 1; }
done
