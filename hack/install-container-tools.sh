#!/usr/bin/env bash
# Install what building and running real containers needs here, from Debian: podman (builds
# and runs the operator image), runc (crun, podman's default, refuses this host's hybrid cgroup
# v1 layout), mmdebstrap (makes the local Python base image when no registry is reachable),
# the CNI plugins (the real node's pod network) and iptables (the bridge's rules).
#
# Then make every podman call work on this host without flags: runc, cgroupfs, and default
# ulimits at or below the hard limits (podman's defaults cannot be set inside the VM), written
# to /etc/containers/containers.conf.d/ (rewritten when this script's content changes).
# Idempotent; a no-op apart from the checks when everything is installed.
set -euo pipefail

say() { echo "install-container-tools: $*" >&2; }

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { say "must run as root (or with sudo available)"; exit 1; }
    sudo=(sudo)
fi

packages=(podman runc mmdebstrap containernetworking-plugins iptables)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]} (apt)"
    start=$SECONDS
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    say "installed in $(( SECONDS - start ))s"
fi

conf=/etc/containers/containers.conf.d/50-nimbusguard.conf
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
[[ $nofile == unlimited || $nofile -gt 1048576 ]] && nofile=1048576
# runc refuses an nproc limit of 65536 here although the hard limit is higher.
[[ $nproc == unlimited || $nproc -gt 16384 ]] && nproc=16384
wanted=$(printf '%s\n' "# From hack/install-container-tools.sh: what this host needs." \
    "[containers]" \
    "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]" \
    "[engine]" \
    "runtime = \"runc\"" \
    "cgroup_manager = \"cgroupfs\"" \
    "events_logger = \"file\"")
if [[ "$(cat "$conf" 2>/dev/null)" != "$wanted" ]]; then
    "${sudo[@]}" mkdir -p "$(dirname "$conf")"
    printf '%s\n' "$wanted" | "${sudo[@]}" tee "$conf" >/dev/null
    say "wrote $conf"
fi
say "ok: $(podman --version), $(runc --version | head -n1)"
