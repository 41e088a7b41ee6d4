#!/usr/bin/env bash
# Control-plane benchmarks, side by side with references on this machine (release builds):
#  1. tus upload of a SIZE_MB file to a local store (sunomi-control upload) vs curl -T of the
#     same file to nginx's WebDAV PUT: throughput ratio, peak memory of both servers.
#  2. change → webhook delivered with Redis and a webhook worker (200 new assets at 100/s; each
#     one's first message timed from the API's answer to its arrival at a local sink).
#  3. GET /api/v1/assets/{id} under 500 concurrent connections (sunomi-bench hammer).
#  4. one worker vs two workers on a queue of 8 short videos: throughput ratio.
#  5. GET /api/v1/assets?page=50 (25 a page) with ASSETS assets in the database (rows copied
#     from a real asset by SQL), under 50 connections: p50/p99.
#  6. a real key's GET p99 at 200 req/s, alone and while 2,000 made-up key ids a second arrive
#     from another address (the ratio: goal within 2x).
#   SIZE_MB=1024  HAMMER=10s  VIDEOS=8  ASSETS=100000  SECTIONS=1234 (which to run; 3 needs 2)
#   DATABASE=sqlite://… (default: a SQLite file in the work folder) or postgres://…
#   CONTROL_BIN=/path/to/sunomi-control   another build to measure (side by side)
#   BUILD=0                 use the release binaries as they are (no cargo build first)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
SIZE_MB=${SIZE_MB:-1024}
HAMMER=${HAMMER:-10s}
VIDEOS=${VIDEOS:-8}
SECTIONS=${SECTIONS:-1234}
bin=$CARGO_TARGET_DIR/release
[ "${BUILD:-1}" = 1 ] && cargo build --release -q -p sunomi-control -p sunomi-bench
control_bin=${CONTROL_BIN:-$bin/sunomi-control}
# shellcheck source=deploy/local/nginx-static.sh
. "$root/deploy/local/nginx-static.sh"

work=$(mktemp -d)
# Every sunomi-control command below reads it.
export SUNOMI_DATABASE=${DATABASE:-sqlite://$work/control.db}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
wait_http() { for _ in $(seq 200); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "no answer from $1" >&2; return 1; }

start_control() { # store redis(or "") extra-args... ; sets CTL_PID CTL_URL CTL_ADMIN
  local store=$1 redis=$2; shift 2
  local p a; p=$(port); a=$(port)
  local args=(serve --store "$store" --listen "127.0.0.1:$p" --admin "127.0.0.1:$a" --config "$work/control.toml")
  [ -n "$redis" ] && args+=(--redis "$redis")
  RUST_LOG=warn "$control_bin" "${args[@]}" "$@" > /dev/null &
  CTL_PID=$!; pids+=("$CTL_PID")
  CTL_URL=http://127.0.0.1:$p; CTL_ADMIN=http://127.0.0.1:$a
  wait_http "$CTL_ADMIN/healthz"
}
: > "$work/control.toml"

if [[ $SECTIONS == *1* ]]; then
echo "== 1. upload throughput: ${SIZE_MB} MiB"
head -c "$((SIZE_MB << 20))" /dev/urandom > "$work/big.bin"
store=$work/store-upload
key=$("$control_bin" keys create --store "$store" | tail -n 1)
start_control "$store" "" --no-workers
t0=$(date +%s.%N)
XDG_CACHE_HOME=$work/cache "$control_bin" upload "$work/big.bin" --api "$CTL_URL" --key "$key" > /dev/null
t1=$(date +%s.%N)
ours=$(echo "$SIZE_MB / ($t1 - $t0)" | bc -l)
ours_mem=$(hwm_kb "$CTL_PID")
kill "$CTL_PID"
mkdir -p "$work/nginx/tmp" "$work/dav"
# nginx's workers run as an unprivileged user when started as root.
chmod 755 "$work"; chmod 777 "$work/dav" "$work/nginx/tmp"
np=$(port)
write_nginx_conf "$work/nginx" "$np" "$work/dav"
sed -i "s|root $work/dav; }|root $work/dav; dav_methods PUT; client_max_body_size 0; client_body_temp_path $work/nginx/tmp; }|" "$work/nginx/nginx.conf"
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>/dev/null
sleep 0.3
t0=$(date +%s.%N)
curl -fsS -T "$work/big.bin" "http://127.0.0.1:$np/big.bin" -o /dev/null
t1=$(date +%s.%N)
ref=$(echo "$SIZE_MB / ($t1 - $t0)" | bc -l)
ngx_mem=$(hwm_kb "$(cat "$work/nginx/nginx.pid")")
for w in $(pgrep -P "$(cat "$work/nginx/nginx.pid")"); do ngx_mem=$(( $(hwm_kb "$w") > ngx_mem ? $(hwm_kb "$w") : ngx_mem )); done
cmp -s "$work/big.bin" "$store/videos/"*/source && echo "   stored source matches the file byte for byte"
printf "   sunomi tus: %7.1f MiB/s   peak RSS %6d KiB\n" "$ours" "$ours_mem"
printf "   nginx PUT : %7.1f MiB/s   peak RSS %6d KiB\n" "$ref" "$ngx_mem"
printf "   ratio     : %.2fx of the reference throughput\n" "$(echo "$ours / $ref" | bc -l)"
rm -f "$work/big.bin" "$work/dav/big.bin"; rm -rf "$store"
kill "$(cat "$work/nginx/nginx.pid")"
fi

rp=$(port)
if [[ $SECTIONS == *2* || $SECTIONS == *4* ]]; then
  redis-server --port "$rp" --save "" --appendonly no > /dev/null &
  pids+=($!)
  sleep 0.3
fi
if [[ $SECTIONS == *2* ]]; then
echo "== 2. change -> webhook delivered (API process and a webhook worker on Redis)"
sink=$(port)
cat > "$work/control.toml" <<TOML
[[webhooks]]
url = "http://127.0.0.1:$sink/hook"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOML
store=$work/store-queue
key=$("$control_bin" keys create --store "$store" | tail -n 1)
start_control "$store" "redis://127.0.0.1:$rp"
wa=$(port)
RUST_LOG=warn "$control_bin" worker --store "$store" --redis "redis://127.0.0.1:$rp" \
  --kinds webhook --admin "127.0.0.1:$wa" --config "$work/control.toml" > /dev/null &
pids+=($!)
wait_http "http://127.0.0.1:$wa/healthz"
# 200 new assets at 100 a second; each one's video.asset.created message timed from the
# moment its POST was answered to the moment the sink has it.
python3 - "$sink" "$CTL_URL" "$key" <<'PY'
import http.server, json, sys, threading, time, urllib.request
sink, api, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sent, got = {}, {}
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        m = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        if m.get("type") == "video.asset.created":
            got.setdefault(m["object"]["id"], time.monotonic())
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", sink), H)
threading.Thread(target=server.serve_forever, daemon=True).start()
for _ in range(200):
    req = urllib.request.Request(api + "/api/v1/uploads", data=b"{}", method="POST",
        headers={"Authorization": "Bearer " + key, "content-type": "application/json"})
    asset = json.load(urllib.request.urlopen(req))["asset_id"]
    sent[asset] = time.monotonic()
    time.sleep(0.01)
deadline = time.monotonic() + 30
while len(got) < len(sent) and time.monotonic() < deadline:
    time.sleep(0.05)
lat = sorted((got[a] - t) * 1000 for a, t in sent.items() if a in got)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"   {len(lat)}/{len(sent)} delivered; p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1]:.1f} ms")
PY

fi
if [[ $SECTIONS == *3* ]]; then
echo "== 3. GET /api/v1/assets/{id} under 500 connections"
asset=$(curl -fs "$CTL_URL/api/v1/assets?limit=1" -H "Authorization: Bearer $key" | python3 -c 'import sys,json; print(json.load(sys.stdin)["data"][0]["id"])')
"$bin/sunomi-bench" hammer --url "$CTL_URL/api/v1/assets/$asset" --connections 500 --duration "$HAMMER" \
  --header "Authorization: Bearer $key" --out "$work/hammer" 2>/dev/null | tail -n 12

fi
if [[ $SECTIONS == *5* ]]; then
ASSETS=${ASSETS:-100000}
echo "== 5. a page of assets: page 50 of $ASSETS"
store=$work/store-list
key=$("$control_bin" keys create --store "$store" | tail -n 1)
start_control "$store" "" --no-workers
one=$(curl -fs -X POST "$CTL_URL/api/v1/uploads" -H "Authorization: Bearer $key" \
  -H 'content-type: application/json' -d '{}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["asset_id"])')
# Copies of that asset's row under new ids, one a second apart (newest last).
copy="SELECT printf('bench%019d', i), status, strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + i, 'unixepoch'), updated_at, event_seq, version, replace(doc, '$one', printf('bench%019d', i)) FROM n, assets WHERE id = '$one'"
case $SUNOMI_DATABASE in
  sqlite://*)
    python3 - "${SUNOMI_DATABASE#sqlite://}" <<PY
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ASSETS) INSERT INTO assets (id, status, created_at, updated_at, event_seq, version, doc) $copy")
db.commit()
PY
    ;;
  postgres*)
    psql "$SUNOMI_DATABASE" -q -c "INSERT INTO assets (id, status, created_at, updated_at, event_seq, version, doc) SELECT 'bench' || lpad(i::text, 19, '0'), status, to_char(to_timestamp(1700000000 + i) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), updated_at, event_seq, version, replace(doc, '$one', 'bench' || lpad(i::text, 19, '0')) FROM generate_series(1, $ASSETS) AS i, assets WHERE id = '$one'; ANALYZE assets;"
    ;;
esac
curl -fs "$CTL_URL/api/v1/assets?limit=25&page=50" -H "Authorization: Bearer $key" | python3 -c '
import sys, json; d = json.load(sys.stdin); print("   page 50:", len(d["data"]), "assets, first", d["data"][0]["id"], "more:", d["has_more"])'
"$bin/sunomi-bench" hammer --url "$CTL_URL/api/v1/assets?limit=25&page=50" --connections 50 --duration "$HAMMER" \
  --header "Authorization: Bearer $key" --out "$work/hammer-list" 2>/dev/null | tail -n 12
kill "$CTL_PID"
fi
if [[ $SECTIONS == *4* ]]; then
echo "== 4. one worker vs two on $VIDEOS short videos"
: > "$work/control.toml"
for i in $(seq "$VIDEOS"); do
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i "sine=frequency=$((300 + i * 50))" \
    -t 6 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$work/v$i.mp4"
done
declare -A took
for n in 1 2; do
  redis-cli -p "$rp" FLUSHALL > /dev/null
  store=$work/store-workers-$n
  key=$("$control_bin" keys create --store "$store" | tail -n 1)
  start_control "$store" "redis://127.0.0.1:$rp"
  ids=()
  for i in $(seq "$VIDEOS"); do
    ids+=("$(XDG_CACHE_HOME=$work/cache "$control_bin" upload "$work/v$i.mp4" --api "$CTL_URL" --key "$key" | tail -n 1)")
  done
  t0=$(date +%s.%N)
  wpids=()
  for _ in $(seq "$n"); do
    RUST_LOG=warn "$control_bin" worker --store "$store" --redis "redis://127.0.0.1:$rp" --kinds transcode > /dev/null &
    wpids+=($!); pids+=($!)
  done
  for id in "${ids[@]}"; do
    until curl -fs "$CTL_URL/api/v1/assets/$id" -H "Authorization: Bearer $key" | grep -q '"status":"ready"'; do sleep 0.1; done
  done
  t1=$(date +%s.%N)
  took[$n]=$(echo "$t1 - $t0" | bc -l)
  kill "${wpids[@]}" "$CTL_PID"
  printf "   %d worker(s): %6.1f s for %d videos\n" "$n" "${took[$n]}" "$VIDEOS"
done
printf "   two workers: %.2fx the throughput of one (2 cores: the encoders share them)\n" "$(echo "${took[1]} / ${took[2]}" | bc -l)"
fi
if [[ $SECTIONS == *6* ]]; then
echo "== 6. a real key's p99 while 2,000 made-up key ids a second arrive"
: > "$work/control.toml"
store=$work/store-keys
key=$("$control_bin" keys create --store "$store" | tail -n 1)
start_control "$store" "" --no-workers
asset=$(curl -fs -X POST "$CTL_URL/api/v1/uploads" -H "Authorization: Bearer $key" \
  -H 'content-type: application/json' -d '{}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["asset_id"])')
real() { # out-folder
  "$bin/sunomi-bench" hammer --url "$CTL_URL/api/v1/assets/$asset" --rate 200 --connections 8 \
    --duration "$HAMMER" --header "Authorization: Bearer $key" --out "$1" > /dev/null 2>&1
}
p99() { python3 - "$1" <<'PY'
import json, sys
f = json.load(open(sys.argv[1] + "/report.json"))["figures"]
print(f"{f['latency_us']['p99'] / 1000:.2f} ms (statuses {f['statuses']})")
PY
}
real "$work/keys-alone"
# The flood: 8 threads at 127.0.0.2, a fresh sk_ id every request, 2,000 a second in all.
python3 - "${CTL_URL#http://}" "$HAMMER" > "$work/flood.txt" <<'PY' &
import collections, http.client, secrets, sys, threading, time
host, port = sys.argv[1].split(":"); dur = float(sys.argv[2].rstrip("s")) + 2
counts = collections.Counter(); lock = threading.Lock()
def run():
    c = http.client.HTTPConnection(host, int(port), source_address=("127.0.0.2", 0), timeout=10)
    end = time.monotonic() + dur; nxt = time.monotonic()
    while time.monotonic() < end:
        c.request("GET", "/api/v1/assets", headers={"Authorization": f"Bearer sk_{secrets.token_hex(6)}_{secrets.token_hex(16)}"})
        r = c.getresponse(); r.read()
        with lock: counts[r.status] += 1
        if r.getheader("connection", "").lower() == "close":
            c.close(); c = http.client.HTTPConnection(host, int(port), source_address=("127.0.0.2", 0), timeout=10)
        nxt += 8 / 2000
        time.sleep(max(0, nxt - time.monotonic()))
ts = [threading.Thread(target=run) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print(f"{sum(counts.values()) / dur:.0f} made-up ids a second: {dict(counts)}")
PY
flood=$!
sleep 1
real "$work/keys-flood"
wait "$flood"
alone=$(p99 "$work/keys-alone"); under=$(p99 "$work/keys-flood")
echo "   alone:       p99 $alone"
echo "   under flood: p99 $under"
echo "   flood:       $(cat "$work/flood.txt")"
python3 -c "import sys; a=float(sys.argv[1]); b=float(sys.argv[2]); print(f'   ratio: {b/a:.2f}x (goal within 2x)')" "${alone%% *}" "${under%% *}"
kill "$CTL_PID"
fi
