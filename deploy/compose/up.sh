#!/usr/bin/env bash
# The compose platform in one command: builds the images that are missing (Sunomi's and the
# others), starts every service (with podman-compose, or `docker compose`), waits until the
# load balancer and the API answer, and prints the addresses.
#   SERVICES="…"   start only these (default: all; CI leaves Grafana out, its image cannot
#                  be pulled there)        DOWN=1  stop and remove everything instead
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/deploy/compose"
if command -v podman >/dev/null; then
  venv=${SUNOMI_COMPOSE_VENV:-$HOME/.cache/sunomi/compose-venv}
  [[ -x "$venv/bin/podman-compose" ]] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q podman-compose==1.6.0; }
  compose=("$venv/bin/podman-compose" --podman-run-args="--runtime runc --cgroup-manager=cgroupfs" -f "$here/compose.yaml")
else
  compose=(docker compose -f "$here/compose.yaml")
fi
if [[ "${DOWN:-0}" = 1 ]]; then
  "${compose[@]}" down -v
  exit 0
fi
podman image exists localhost/sunomi-edge:latest && podman image exists localhost/sunomi-control:latest \
  && podman image exists localhost/sunomi-pictures:latest \
  || "$root/deploy/docker/build.sh"
"$root/deploy/compose/images.sh"
# shellcheck disable=SC2086 # SERVICES is a list
"${compose[@]}" up -d ${SERVICES:-}
wait_ok() {
  local deadline=$(( $(date +%s) + 120 ))
  until curl -fs -o /dev/null "$1"; do
    [[ $(date +%s) -lt $deadline ]] || { echo "no answer from $1" >&2; return 1; }
    sleep 0.5
  done
}
wait_ok http://127.0.0.1:19100/readyz
for admin in 19081 19082 19083; do wait_ok "http://127.0.0.1:$admin/readyz"; done
echo "API and web app: http://127.0.0.1:18000/"
echo "players (through the load balancer): http://127.0.0.1:18080/v/{playback id}/master.m3u8"
echo "Prometheus: http://127.0.0.1:19090/   Grafana: http://127.0.0.1:13000/"
