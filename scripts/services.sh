#!/usr/bin/env bash
# Install and start what the tests and the demo need, idempotently, on a fresh Debian 12
# machine: the Docker engine (bridge networking off), a local base image with Python, and a
# container registry on 127.0.0.1:5000. Reuses whatever is already running.
#
#   scripts/services.sh          install + start everything
#   scripts/services.sh stop     stop the dockerd and registry this script started
set -euo pipefail

STATE="${CALIBAN_SERVICES_DIR:-/tmp/caliban-services}"
BASE_IMAGE="${CALIBAN_TEST_BASE_IMAGE:-caliban-base:bookworm-py3-nb}"
REGISTRY_ADDR="127.0.0.1:5000"
mkdir -p "$STATE"

log() { printf '[services] %s\n' "$*" >&2; }

stop() {
  for name in registry dockerd; do
    if [ -f "$STATE/$name.pid" ]; then
      pid=$(cat "$STATE/$name.pid")
      kill "$pid" 2>/dev/null && log "stopped $name ($pid)" || true
      rm -f "$STATE/$name.pid"
    fi
  done
}

if [ "${1:-}" = "stop" ]; then stop; exit 0; fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# 1. Packages (Debian's docker.io engine, its registry, debootstrap for the base image).
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d keeps the packages' init scripts from starting daemons with their defaults.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

# 2. Docker engine: no bridge, no iptables, so containers only get `none` or `host`.
if ! docker version >/dev/null 2>&1; then
  log "starting dockerd (log: $STATE/dockerd.log)"
  nohup $SUDO dockerd --bridge=none --iptables=false --ip-forward=false \
    >"$STATE/dockerd.log" 2>&1 &
  echo $! >"$STATE/dockerd.pid"
  for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 1; done
  docker version >/dev/null 2>&1 || { log "dockerd did not start; see $STATE/dockerd.log"; exit 1; }
fi

# 3. Registry on loopback only, with throwaway storage.
if ! curl -fsS -m 2 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
  mkdir -p "$STATE/registry-data"
  cat >"$STATE/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry-data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
YML
  log "starting registry on $REGISTRY_ADDR"
  nohup /usr/bin/docker-registry serve "$STATE/registry.yml" >"$STATE/registry.log" 2>&1 &
  echo $! >"$STATE/registry.pid"
  for _ in $(seq 1 30); do curl -fsS -m 2 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 && break; sleep 0.5; done
  curl -fsS -m 2 "http://$REGISTRY_ADDR/v2/" >/dev/null || { log "registry did not start; see $STATE/registry.log"; exit 1; }
fi

# 4. A local base image with Python, NumPy and what runs a notebook as a job (nbclient,
#    ipykernel, nbformat: Debian's own, since builds here cannot reach a package index).
#    Changing what it includes means a new tag, so existing machines rebuild it.
#    debootstrap resolves no virtual packages: python3-cffi-backend and libboost-regex
#    provide two that python3-zmq and gdb (pulled in by ipykernel) depend on.
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  rootfs="$STATE/rootfs"
  log "making base image $BASE_IMAGE with debootstrap (about a minute)"
  $SUDO rm -rf "$rootfs"
  $SUDO debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,python3-numpy,python3-nbclient,python3-ipykernel,python3-nbformat,python3-cffi-backend,libboost-regex1.74.0,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian >"$STATE/debootstrap.log" 2>&1 \
    || { log "debootstrap failed; see $STATE/debootstrap.log"; exit 1; }
  $SUDO rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
  # Debian marks its Python as externally managed; images install their own packages.
  $SUDO rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  $SUDO tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE_IMAGE" >/dev/null
  $SUDO rm -rf "$rootfs"
fi
log "ready: docker engine, registry $REGISTRY_ADDR, base image $BASE_IMAGE"
