#!/usr/bin/env bash
# Signed vs public playback on one edge: CPU per request for the multivariant playlist, a
# media playlist and a warm segment, through a public playback id and through a signed one
# with a token (one token for the whole run, as a player sends). The edge is pinned to CPU 0
# with one worker thread, wrk to CPU 1; CPU time per request from /proc (utime+stime).
#   DURATION=5s CONNECTIONS=16 ROUNDS=5
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/release
duration=${DURATION:-5s}
rounds=${ROUNDS:-5}
conns=${CONNECTIONS:-16}
cargo build --release -q -p sunomi-control -p sunomi-edge
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
store=$work/store
api=127.0.0.1:$(port)
key=$("$bin/sunomi-control" keys create --store "$store" | tail -n 1)
RUST_LOG=warn "$bin/sunomi-control" serve --store "$store" --listen "$api" > /dev/null &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://$api/api/v1/openapi.json" > /dev/null && break; sleep 0.1; done
ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i "sine=frequency=440" \
  -t 20 -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$work/src.mp4"
asset=$(XDG_CACHE_HOME=$work/cache "$bin/sunomi-control" upload "$work/src.mp4" --api "http://$api" --key "$key" --wait > "$work/upload.out"; head -n 1 "$work/upload.out")
json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
public=$(curl -fs "http://$api/api/v1/assets/$asset" -H "Authorization: Bearer $key" | json '["playback_ids"][0]["id"]')
signing=$(curl -fs -X POST "http://$api/api/v1/signing-keys" -H "Authorization: Bearer $key")
kid=$(echo "$signing" | json '["id"]')
echo "$signing" | json '["private_key"]' > "$work/key.pem"
signed=$(curl -fs -X POST "http://$api/api/v1/assets/$asset/playback-ids" -H "Authorization: Bearer $key" \
  -H 'content-type: application/json' -d '{"policy":"signed"}' | json '["id"]')
token=$("$bin/sunomi-control" token --playback-id "$signed" --key-id "$kid" --private-key "$work/key.pem" --ttl 3600)

ep=$(port); ap=$(port)
printf 'threads = 1\n' > "$work/edge.toml"
taskset -c 0 env RUST_LOG=warn "$bin/sunomi-edge" --store "$store" --listen "127.0.0.1:$ep" \
  --admin "127.0.0.1:$ap" --config "$work/edge.toml" &
edge=$!; pids+=("$edge")
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$ap/healthz" > /dev/null && break; sleep 0.1; done
ticks() { read -r -a f < "/proc/$edge/stat"; echo $(( f[13] + f[14] )); }
declare -A cpu
measure() { # label url → sets cpu[label] (µs CPU per request)
  curl -fs "$2" > /dev/null; curl -fs "$2" > /dev/null
  local before after out reqs
  before=$(ticks)
  out=$(taskset -c 1 wrk -t1 -c"$conns" -d"$duration" "$2")
  after=$(ticks)
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu[$1]=$(echo "scale=3; ($after - $before) * 1000000 / $hz / $reqs" | bc)
}
median() { tr ' ' '\n' <<<"$*" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rung=$(curl -fs "http://$api/api/v1/assets/$asset" -H "Authorization: Bearer $key" | json '["renditions"][0]["name"]')
base=http://127.0.0.1:$ep/v
echo "   (median of $rounds alternating rounds of $duration each; µs of edge CPU per request)"
for what in master media segment; do
  case $what in
    master) path=master.m3u8 ;;
    media) path=$rung/media.m3u8 ;;
    segment) path=$rung/3.m4s ;;
  esac
  pub=() sig=()
  for _ in $(seq "$rounds"); do
    measure public "$base/$public/$path"; pub+=("${cpu[public]}")
    measure signed "$base/$signed/$path?token=$token"; sig+=("${cpu[signed]}")
  done
  p=$(median "${pub[@]}"); q=$(median "${sig[@]}")
  printf "   %-8s public %8s µs  signed %8s µs  signed/public %.2fx   (rounds: %s | %s)\n" \
    "$what" "$p" "$q" "$(echo "$q / $p" | bc -l)" "${pub[*]}" "${sig[*]}"
done
