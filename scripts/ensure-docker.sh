#!/usr/bin/env bash
# Make sure a Docker engine answers, for aftershock's docker backend (CI and `make`).
#
#   scripts/ensure-docker.sh            # idempotent: does nothing when `docker info` already works
#
# Steps, each only if needed: install Debian's docker.io (and debootstrap, which builds the local base
# image when no registry can be reached), start the engine (systemd if it runs, else dockerd in the
# background with its log in $AFTERSHOCK_DOCKERD_LOG), wait until `docker info` answers.
# Every wait is bounded: $AFTERSHOCK_DOCKER_WAIT seconds for the engine (default 60).
# Exit 0 when an engine answers; non-zero, with the reason and the log's tail, when not.
set -euo pipefail

WAIT="${AFTERSHOCK_DOCKER_WAIT:-60}"
DOCKERD_LOG="${AFTERSHOCK_DOCKERD_LOG:-/var/log/aftershock-dockerd.log}"

say() { echo "ensure-docker: $*" >&2; }

answers() { command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        say "needs root to run: $*"
        say "fix: run this script as root, or start a Docker engine yourself (or set DOCKER_HOST)"
        exit 1
    fi
}

# Run "$@" detached: its own session, stdin from /dev/null, stdout and stderr appended to $1, and
# none of the caller's other descriptors. A daemon keeps what it inherits for as long as it runs:
# a CI step's flock'd lock or an output pipe held by dockerd would never be released.
launch_detached() {
    local log="$1"
    shift
    (
        for path in /proc/"$BASHPID"/fd/*; do
            fd="${path##*/}"
            if [ "$fd" -gt 2 ] 2>/dev/null; then
                eval "exec ${fd}>&-" 2>/dev/null || true
            fi
        done
        exec setsid "$@" >>"$log" 2>&1 </dev/null
    ) &
}

# Sourced (by the tests): define the functions, do nothing.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    return 0
fi

if answers; then
    say "engine answers ($(timeout 10 docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    exit 0
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        say "missing ${missing[*]} and there is no apt-get here; install Docker by your platform's means"
        exit 1
    fi
    say "installing ${missing[*]} (Debian packages)"
    as_root env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if ! command -v docker >/dev/null 2>&1; then
    say "docker.io is installed but there is no docker CLI on PATH"
    exit 1
fi

if pgrep -x dockerd >/dev/null 2>&1; then
    say "dockerd is running but not answering yet; waiting"
elif [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    say "starting docker with systemd"
    as_root timeout 120 systemctl start docker
else
    say "starting dockerd in the background (log: $DOCKERD_LOG)"
    as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
    # Its own session: the engine outlives this script and the CI step that ran it.
    if [ "$(id -u)" = 0 ]; then
        launch_detached "$DOCKERD_LOG" dockerd
    else  # sudo closes every descriptor above 2 itself (closefrom)
        as_root sh -c "setsid dockerd >>'$DOCKERD_LOG' 2>&1 < /dev/null &"
    fi
fi

deadline=$((SECONDS + WAIT))
until answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        say "no answer from the engine after ${WAIT}s"
        [ -f "$DOCKERD_LOG" ] && tail -n 20 "$DOCKERD_LOG" >&2
        say "fix: read the log above; raise AFTERSHOCK_DOCKER_WAIT if the machine is just slow"
        exit 1
    fi
    sleep 1
done
say "engine answers ($(timeout 10 docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
