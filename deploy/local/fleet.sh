#!/usr/bin/env bash
# A local edge fleet: one redis-server and N sunomi-edge processes over one shared store,
# coordinated through Redis (owner routing, fill locks, shared metadata, purge).
#
#   deploy/local/fleet.sh start [N]   start Redis and N edges (default 3), print their URLs
#   deploy/local/fleet.sh status      show what is running
#   deploy/local/fleet.sh stop        stop the edges (SIGTERM: they leave the ring at once),
#                                     then Redis, by the PIDs recorded at start
#
#   STORE=./demo-store      the shared store (make demo fills it; or any store spec)
#   ADDRESSES=ports         edges on 127.0.0.1:BASE_PORT+i; ADDRESSES=loopback puts edge i on
#                           127.0.0.(i+1):BASE_PORT, like separate hosts
#   BASE_PORT=8081 ADMIN_BASE_PORT=9091 REDIS_PORT=6390
#   RUN_DIR=./fleet-run     PID files and logs
#   EDGE_CONFIG=FILE        extra edge TOML (timeouts, admission, prefetch; see README)
#   COORDINATE=no           no Redis: N independent edges (the uncoordinated baseline)
#   BUILD=release|debug     which build to run (built if missing)
#   SUNOMI_FLEET_SECRET=HEX  the fleet secret signing peer requests (default: a fresh random
#                           one, saved as RUN_DIR/fleet.secret)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
STORE=${STORE:-$root/demo-store}
ADDRESSES=${ADDRESSES:-ports}
BASE_PORT=${BASE_PORT:-8081}
ADMIN_BASE_PORT=${ADMIN_BASE_PORT:-9091}
REDIS_PORT=${REDIS_PORT:-6390}
RUN_DIR=${RUN_DIR:-$root/fleet-run}
BUILD=${BUILD:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/$BUILD/sunomi-edge

edge_host() { # index → IP the edge listens on
  if [ "$ADDRESSES" = loopback ]; then echo "127.0.0.$(($1 + 1))"; else echo 127.0.0.1; fi
}
edge_port() { if [ "$ADDRESSES" = loopback ]; then echo "$BASE_PORT"; else echo $((BASE_PORT + $1)); fi; }
admin_port() { if [ "$ADDRESSES" = loopback ]; then echo "$ADMIN_BASE_PORT"; else echo $((ADMIN_BASE_PORT + $1)); fi; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  local n=${1:-3}
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive number, got $n" >&2; exit 2; }
  case "$ADDRESSES" in ports|loopback) ;; *) echo "ADDRESSES is ports or loopback" >&2; exit 2;; esac
  mkdir -p "$RUN_DIR"
  if ls "$RUN_DIR"/*.pid >/dev/null 2>&1; then
    for f in "$RUN_DIR"/*.pid; do
      if alive "$f"; then echo "a fleet is already running from $RUN_DIR (stop it first)" >&2; exit 1; fi
    done
    rm -f "$RUN_DIR"/*.pid
  fi
  local coordinate=${COORDINATE:-yes} expect=$n
  [ "$coordinate" = no ] && expect=1
  if [ ! -x "$bin" ]; then
    echo "==> building sunomi-edge ($BUILD)"
    if [ "$BUILD" = release ]; then cargo build --release -p sunomi-edge; else cargo build -p sunomi-edge; fi
  fi

  local config_args=()
  [ -n "${EDGE_CONFIG:-}" ] && config_args=(--config "$EDGE_CONFIG")
  if [ "$coordinate" != no ]; then
    command -v redis-server >/dev/null || { echo "redis-server is missing: deploy/local/apt-install.sh redis-server" >&2; exit 1; }
    echo "==> redis on 127.0.0.1:$REDIS_PORT"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
      >"$RUN_DIR/redis.log" 2>&1 &
    echo $! >"$RUN_DIR/redis.pid"
    for _ in $(seq 100); do
      [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
      sleep 0.05
    done
    [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] || { echo "redis did not start: $RUN_DIR/redis.log" >&2; exit 1; }
    config_args+=(--redis "redis://127.0.0.1:$REDIS_PORT")
    # The fleet's shared secret signs requests between edges: one per fleet, kept with it.
    if [ -z "${SUNOMI_FLEET_SECRET:-}" ]; then
      SUNOMI_FLEET_SECRET=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    fi
    export SUNOMI_FLEET_SECRET
    (umask 077; echo "$SUNOMI_FLEET_SECRET" >"$RUN_DIR/fleet.secret")
  fi
  for i in $(seq 0 $((n - 1))); do
    local host listen admin
    host=$(edge_host "$i")
    listen="$host:$(edge_port "$i")"
    admin="$host:$(admin_port "$i")"
    echo "==> edge $i on $listen (admin $admin)"
    "$bin" --store "$STORE" --listen "$listen" --admin "$admin" "${config_args[@]}" \
      >"$RUN_DIR/edge-$i.log" 2>&1 &
    echo $! >"$RUN_DIR/edge-$i.pid"
    echo "$listen $admin" >"$RUN_DIR/edge-$i.addr"
  done

  # Ready when every edge counts all N members (1 each without Redis).
  for _ in $(seq 200); do
    local ready=0
    for i in $(seq 0 $((n - 1))); do
      read -r _ admin <"$RUN_DIR/edge-$i.addr"
      members=$(curl -fs "http://$admin/metrics" 2>/dev/null | awk '/^sunomi_fleet_members /{print $2}')
      [ "${members:-0}" = "$expect" ] && ready=$((ready + 1))
    done
    [ "$ready" = "$n" ] && break
    sleep 0.1
  done
  status
  [ "$ready" = "$n" ] || { echo "the fleet did not form; see $RUN_DIR/*.log" >&2; exit 1; }
  cat <<MSG

Play from any edge (each video id under $STORE), e.g.:
    http://$(edge_host 0):$(edge_port 0)/v/demo/master.m3u8
Purge fleet-wide from any edge's admin port:
    curl -X POST 'http://$(edge_host 0):$(admin_port 0)/purge?id=demo'
Stop: deploy/local/fleet.sh stop
MSG
}

status() {
  [ -d "$RUN_DIR" ] || { echo "no fleet in $RUN_DIR"; return 0; }
  if alive "$RUN_DIR/redis.pid"; then
    echo "redis  pid $(cat "$RUN_DIR/redis.pid")  127.0.0.1:$REDIS_PORT"
  else
    echo "redis  not running"
  fi
  true
  for f in "$RUN_DIR"/edge-*.pid; do
    [ -e "$f" ] || continue
    local i=${f##*/edge-}; i=${i%.pid}
    read -r listen admin <"$RUN_DIR/edge-$i.addr"
    if alive "$f"; then
      members=$(curl -fs "http://$admin/metrics" 2>/dev/null | awk '/^sunomi_fleet_members /{print $2}')
      echo "edge $i pid $(cat "$f")  http://$listen  admin http://$admin  members ${members:-?}"
    else
      echo "edge $i not running (log: $RUN_DIR/edge-$i.log)"
    fi
  done
}

stop() {
  [ -d "$RUN_DIR" ] || { echo "no fleet in $RUN_DIR"; return 0; }
  # Edges first, all at once (SIGTERM: each leaves the ring, drains for its grace period and
  # shutdown timeout), then Redis. Anything still running after 10 s is killed.
  local pids=() files=()
  for f in "$RUN_DIR"/edge-*.pid "$RUN_DIR"/redis.pid; do
    [ -e "$f" ] || continue
    if [ "${f##*/}" = redis.pid ] && [ ${#pids[@]} -gt 0 ]; then wait_gone "${pids[@]}"; fi
    if alive "$f"; then
      pids+=("$(cat "$f")")
      kill -TERM "$(cat "$f")"
      echo "stopping ${f##*/} ($(cat "$f"))"
    fi
    files+=("$f")
  done
  [ ${#pids[@]} -gt 0 ] && wait_gone "${pids[@]}"
  rm -f "${files[@]}"
}

wait_gone() {
  for _ in $(seq 100); do
    local left=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
  for pid in "$@"; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"; done
  return 0
}

case "${1:-}" in
  start) shift; start "$@" ;;
  status) status ;;
  stop) stop ;;
  *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
