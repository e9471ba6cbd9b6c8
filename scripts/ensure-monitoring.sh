#!/usr/bin/env bash
# Make sure Prometheus and Alertmanager are installed, for scenarios with a `monitoring:` block
# (CI and `make`): Debian's `prometheus` (with promtool) and `prometheus-alertmanager` packages.
#
#   scripts/ensure-monitoring.sh        # idempotent: does nothing when both are on PATH
#
# The packages' own services are not started (aftershock starts its own instances per rehearsal,
# on loopback ports); where systemd runs, the units the packages enable are stopped and disabled.
# Exit 0 when both binaries are there; non-zero, with the reason, when not.
set -euo pipefail

say() { echo "ensure-monitoring: $*" >&2; }

have() { command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
    && { command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1; }; }

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        say "needs root to run: $*"
        say "fix: run this script as root, or install prometheus and prometheus-alertmanager yourself"
        exit 1
    fi
}

if have; then
    say "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') and alertmanager present"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "prometheus or alertmanager missing and there is no apt-get here; install them by your platform's means"
    say "(or point AFTERSHOCK_PROMETHEUS / AFTERSHOCK_ALERTMANAGER at the binaries)"
    exit 1
fi
say "installing prometheus and prometheus-alertmanager (Debian packages)"
as_root env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -q
as_root env DEBIAN_FRONTEND=noninteractive timeout 900 \
    apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    # the packages start system-wide instances on :9090/:9093; a rehearsal needs none of them
    as_root systemctl disable --now prometheus prometheus-alertmanager >/dev/null 2>&1 || true
fi
if ! have; then
    say "installed, but prometheus, promtool or alertmanager is still not on PATH"
    exit 1
fi
say "prometheus and alertmanager installed"
