#!/usr/bin/env bash
# A Docker engine and the sandbox image for the docker backend's tests.
#
#   scripts/docker-engine.sh up     use the engine that answers, or (as root) install Debian's
#                                   docker.io and start dockerd; then build the sandbox image
#                                   offline if it is missing (scripts/build-sandbox-image-offline.sh)
#                                   and, as root, docker-compose and the compose stack's image
#                                   (scripts/build-stack-images-offline.sh) for tests/deploy
#   scripts/docker-engine.sh down   stop the dockerd that `up` started (none other)
#
# Best effort by design: `make test` calls `up` and carries on when it fails; the tests marked
# `docker` then skip, saying why. Set TJ_DOCKER=0 to leave Docker alone.
set -uo pipefail
cd "$(dirname "$0")/.."
STATE="${TENSORJUDGE_DATA_DIR:-var}/dockerd"
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"

answering() { docker info >/dev/null 2>&1; }

up() {
  if [ "${TJ_DOCKER:-1}" = "0" ]; then echo "docker: TJ_DOCKER=0, leaving Docker alone"; return 1; fi
  mkdir -p "$STATE"
  if ! answering; then
    if [ "$(id -u)" -ne 0 ]; then echo "docker: no engine answers and not root: docker tests will skip"; return 1; fi
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
      echo "docker: installing docker.io and debootstrap"
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 &&
          apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null 2>&1; } ||
        { echo "docker: could not install docker.io"; return 1; }
    fi
    echo "docker: starting dockerd (log in $LOG)"
    nohup dockerd >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 60); do answering && break; sleep 0.5; done
    if ! answering; then
      echo "docker: dockerd did not come up; last lines of its log:"; tail -5 "$LOG"; down; return 1
    fi
  fi
  if ! command -v debootstrap >/dev/null 2>&1 && ! docker image inspect \
      "${TENSORJUDGE_SANDBOX_IMAGE:-tensorjudge-sandbox:latest}" >/dev/null 2>&1; then
    echo "docker: no sandbox image and no debootstrap to build one"; return 1
  fi
  bash scripts/build-sandbox-image-offline.sh || { echo "docker: sandbox image build failed"; return 1; }
  stack || true
}

# The compose stack's tooling and image (tests marked `compose`); its failure leaves the
# sandbox tests alone.
stack() {
  [ "$(id -u)" -eq 0 ] || return 0
  if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    echo "docker: installing docker-compose"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1 ||
      { echo "docker: could not install docker-compose: tests marked compose will skip"; return 1; }
  fi
  bash scripts/build-stack-images-offline.sh ||
    { echo "docker: stack image build failed (tests/deploy builds it again and reports why)"; return 1; }
}

down() {
  [ -f "$PIDFILE" ] || return 0
  pid="$(cat "$PIDFILE")"
  kill "$pid" 2>/dev/null
  for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$PIDFILE"
  return 0
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
