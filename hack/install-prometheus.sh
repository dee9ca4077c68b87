#!/usr/bin/env bash
# Install Debian's `prometheus` package if it is missing, for the e2e tests, which run their
# own Prometheus on a free loopback port (hack/localcluster/prometheus.py). The package's own
# service must not run: it would hold :9090 on every interface and scrape for nothing.
#
# - During the install a policy-rc.d that answers 101 forbids maintainer scripts to start
#   services (kept as it is when the machine already has one, as container images do).
# - Afterwards the service is stopped and disabled (systemd: also masked) in case it runs.
# - Finally: fail if a prometheus process of the package's user still runs.
# Idempotent; a no-op (apart from the checks) when prometheus is installed.
set -euo pipefail

say() { echo "install-prometheus: $*" >&2; }

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { say "must run as root (or with sudo available)"; exit 1; }
    sudo=(sudo)
fi

if command -v prometheus >/dev/null; then
    say "prometheus already installed: $(prometheus --version 2>&1 | head -n1)"
else
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# temporary, from hack/install-prometheus.sh\nexit 101\n' \
            | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        trap '"${sudo[@]}" rm -f "$policy"' EXIT
    fi
    say "installing Debian's prometheus package"
    "${sudo[@]}" apt-get update -qq
    # No recommends: they would add prometheus-node-exporter, another service.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    say "installed: $(prometheus --version 2>&1 | head -n1)"
fi

if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    "${sudo[@]}" systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    "${sudo[@]}" systemctl mask prometheus.service >/dev/null 2>&1 || true
fi
if [[ -x /etc/init.d/prometheus ]]; then
    "${sudo[@]}" /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null && { "${sudo[@]}" update-rc.d prometheus disable >/dev/null 2>&1 || true; }
fi

if pgrep -u prometheus -x prometheus >/dev/null 2>&1; then
    say "the package's prometheus service still runs (pid $(pgrep -u prometheus -x prometheus | tr '\n' ' ')); stop it"
    exit 1
fi
say "ok: the package's service is not running"
