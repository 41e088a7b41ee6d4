#!/usr/bin/env bash
# The chaos drill: a fleet under realistic player load while every fault an operator fears
# happens in one run, with what the players saw counted.
#
#   3 edges + Redis + an S3 server (s3s-fs) reached through a fault-injecting TCP proxy
#   (sunomi-bench proxy), under `sunomi-bench players` (Zipf catalog, players spread over the
#   edges, each retrying a failed request once on another edge, then as hls.js does).
#   Faults, FAULT_GAP seconds apart:
#     1. SIGKILL edge 1 (restarted one gap later)
#     2. SIGKILL Redis, brought back empty 2 s later
#     3. storage slow: +SLOW_MS on every request to S3
#     4. storage unreachable for OUTAGE seconds (the proxy refuses and cuts connections)
#     5. edge 0's binary upgraded in place (--upgrade, then SIGQUIT to the old process)
#
# Output in WORK: report/ (the bench report: player-visible failures, failovers, stalls,
# rebuffer ratio; segments.tsv: every segment request and how it went), faults.tsv, timeline.tsv (per
# second: requests, 5xx, segment reads from storage, stale answers, peers skipped as unwell,
# owners' 503s caused by their storage, summed over the edges), phases.txt
# (each phase's figures, with storage reads per unique segment asked for in it, and the
# segment requests that failed on every edge) and timeline.svg
# (requests and errors per second with each fault marked). Exit 0 when no player saw a
# failure, 1 otherwise.
#
#   PLAYERS=300 TITLES=6 SPEED=1 SECONDS_OF_MEDIA=90 FAULT_GAP=12 OUTAGE=10 SLOW_MS=300
#   MAX_BUFFER=10 PREFETCH=2 PREFETCH_CONCURRENCY=16
# (players arrive over the first half of the run, each watches a whole title and buffers at
# most MAX_BUFFER seconds ahead: titles as long as the run keep players fetching through the
# last fault)
#   WORK=./demo-work/chaos BIN_DIR=target/release (built when not given)
#   EDGE_LOG=warn (the edges' RUST_LOG)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
players=${PLAYERS:-300}
titles=${TITLES:-6}
speed=${SPEED:-1}
media_secs=${SECONDS_OF_MEDIA:-90}
gap=${FAULT_GAP:-12}
outage=${OUTAGE:-10}
slow_ms=${SLOW_MS:-300}
max_buffer=${MAX_BUFFER:-10}
prefetch=${PREFETCH:-2}
prefetch_concurrency=${PREFETCH_CONCURRENCY:-16}
work=${WORK:-$root/demo-work/chaos}
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release -p sunomi-origin -p sunomi-edge -p sunomi-bench >/dev/null
  BIN_DIR=$CARGO_TARGET_DIR/release
fi
bin=$BIN_DIR
for tool in s3s-fs redis-server redis-cli curl python3 ffmpeg; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: make deps-test installs it" >&2; exit 2; }
done
rm -rf "$work/run" "$work/report"
mkdir -p "$work/run" "$work/s3/media"
run=$work/run

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing listens on $1" >&2; return 1; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

s3_port=$(port); proxy_port=$(port); proxy_control=$(port); redis_port=$(port)
export AWS_ACCESS_KEY_ID=sunomi-chaos AWS_SECRET_ACCESS_KEY=sunomi-chaos-secret AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true
s3s-fs --host 127.0.0.1 --port "$s3_port" --access-key "$AWS_ACCESS_KEY_ID" \
  --secret-key "$AWS_SECRET_ACCESS_KEY" "$work/s3" >"$run/s3.log" 2>&1 &
pids+=($!); wait_port "$s3_port"
"$bin/sunomi-bench" proxy --listen "127.0.0.1:$proxy_port" --upstream "127.0.0.1:$s3_port" \
  --control "127.0.0.1:$proxy_control" >"$run/proxy.log" 2>&1 &
pids+=($!); wait_port "$proxy_control"
fault() { curl -sf -X POST "http://127.0.0.1:$proxy_control/$1" >/dev/null; }

start_redis() {
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >>"$run/redis.log" 2>&1 &
  redis_pid=$!; pids+=("$redis_pid"); wait_port "$redis_port"
}
start_redis

# The catalog: TITLES clips, transcoded once straight into S3.
echo "==> transcoding $titles titles into S3"
for t in $(seq 1 "$titles"); do
  src=$work/src-$t.mp4
  [ -s "$src" ] || ffmpeg -v error -y -f lavfi -i "testsrc2=size=640x360:rate=25" \
    -f lavfi -i "sine=frequency=$((200 + 40 * t)):sample_rate=48000" -t "$media_secs" \
    -c:v libx264 -preset ultrafast -c:a aac -shortest "$src"
  AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port RUST_LOG=warn "$bin/sunomi-origin" transcode "$src" \
    --id "chaos$t" --store s3://media --preset ultrafast
  echo "chaos$t" >>"$run/catalog.txt"
done

# Edges read S3 through the proxy; storage timeouts short enough that an outage is noticed
# (and stale copies served) within the players' patience. Prefetch PREFETCH segments ahead
# of every player request: what the fleet holds ahead of its players is what it can serve
# while storage is gone (6 s segments: a 10 s outage needs two).
cat >"$run/edge.toml" <<EOF
[storage]
connect_timeout_ms = 500
request_timeout_ms = 3000
max_retries = 1
[fleet]
prefetch_segments = $prefetch
prefetch_concurrency = $prefetch_concurrency
EOF
export SUNOMI_FLEET_SECRET
SUNOMI_FLEET_SECRET=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
declare -a listen admin edge_pid
for i in 0 1 2; do listen[$i]=127.0.0.1:$(port); admin[$i]=127.0.0.1:$(port); done
start_edge() { # $1 index, $2.. extra flags
  local i=$1; shift
  AWS_ENDPOINT_URL=http://127.0.0.1:$proxy_port RUST_LOG=${EDGE_LOG:-warn} "$bin/sunomi-edge" \
    --store s3://media --listen "${listen[$i]}" --admin "${admin[$i]}" \
    --redis "redis://127.0.0.1:$redis_port" --config "$run/edge.toml" "$@" >>"$run/edge-$i.log" 2>&1 &
  edge_pid[$i]=$!; pids+=("${edge_pid[$i]}")
}
for i in 0 1 2; do start_edge "$i"; done
for i in 0 1 2; do wait_port "${admin[$i]#*:}"; done

# The timeline sampler: every second, each edge's counters summed, per process (a restarted
# or upgraded edge's new process counts from zero).
start_sampler() { # t0 (ns since the epoch): the zero of every time in the drill's files
python3 - "$run/timeline.tsv" "$1" "${admin[@]}" >"$run/sampler.log" 2>&1 <<'PY' &
import sys, time, urllib.request
out, t0, admins = sys.argv[1], int(sys.argv[2]) / 1e9, sys.argv[3:]
series = {"requests": lambda n, l: n == "sunomi_http_requests_total",
          "errors": lambda n, l: n == "sunomi_http_requests_total" and 'status="5' in l,
          "storage_segment_reads": lambda n, l: n == "sunomi_cache_requests_total" and 'tier="storage"' in l and 'result="hit"' in l,
          "stale_served": lambda n, l: n == "sunomi_stale_served_total",
          "peers_skipped": lambda n, l: n == "sunomi_peer_suspected_total",
          "owner_storage_503": lambda n, l: n == "sunomi_peer_fetch_errors_total" and 'reason="unavailable"' in l}
# Counters per process: an edge's admin port may answer from an old process and its
# successor in turn during an upgrade; process_start_time_seconds tells them apart.
last = {}
total = {k: 0.0 for k in series}
with open(out, "w") as f:
    f.write("second\t" + "\t".join(series) + "\n")
    while True:
        for a in admins:
            try:
                text = urllib.request.urlopen(f"http://{a}/metrics", timeout=0.5).read().decode()
            except Exception:
                continue
            now = {k: 0.0 for k in series}
            started = None
            for line in text.splitlines():
                if line.startswith("#") or " " not in line:
                    continue
                name_labels, value = line.rsplit(" ", 1)
                name = name_labels.split("{", 1)[0]
                if name == "process_start_time_seconds":
                    started = value
                for k, match in series.items():
                    if match(name, name_labels):
                        now[k] += float(value)
            before = last.get((a, started), {k: 0.0 for k in series})
            for k in series:
                total[k] += now[k] - before[k]
            last[(a, started)] = now
        f.write(f"{time.time() - t0:.1f}\t" + "\t".join(f"{total[k]:.0f}" for k in series) + "\n")
        f.flush()
        time.sleep(1)
PY
pids+=($!)
}

run_secs=$((gap * 6 + outage + 10))
echo "==> $players players for ${run_secs}s over 3 edges; faults every ${gap}s"
edges_arg=("${listen[@]}")
# One zero for the fault marks, the timeline and (within the bench's start-up, milliseconds)
# the players' segment log.
t0=$(date +%s%N)
start_sampler "$t0"
"$bin/sunomi-bench" players --catalog "$run/catalog.txt" --base "http://${listen[0]}" \
  --scenario zipf-catalog --players "$players" --speed "$speed" --duration "${run_secs}s" \
  --max-buffer "$max_buffer" \
  --edge "${edges_arg[@]}" --timeout 5s --html --out "$work/report" >"$run/bench.txt" 2>"$run/bench.log" &
bench_pid=$!; pids+=("$bench_pid")
mark() { # seconds since the players started, to a tenth
  local tenths=$((($(date +%s%N) - t0) / 100000000))
  printf '%d.%d\t%s\n' $((tenths / 10)) $((tenths % 10)) "$1" >>"$work/faults.tsv"
  echo "    $((tenths / 10)).$((tenths % 10))s $1"
}
: >"$work/faults.tsv"

sleep "$gap"; kill -9 "${edge_pid[1]}"; mark "SIGKILL edge 1"
sleep "$gap"; start_edge 1; mark "edge 1 restarted"
sleep "$gap"; kill -9 "$redis_pid"; mark "SIGKILL redis"
sleep 2; start_redis; mark "redis back, empty"
sleep "$((gap - 2))"; fault "delay/$slow_ms"; mark "storage slow (+${slow_ms} ms)"
sleep "$gap"; fault delay/0; fault down; mark "storage unreachable"
sleep "$outage"; fault up; mark "storage back"
sleep "$gap"
old=${edge_pid[0]}
start_edge 0 --upgrade; sleep 0.5; kill -QUIT "$old"; mark "edge 0 upgraded in place"
wait "$bench_pid" || true
mark "end"

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
report = json.load(open(f"{work}/report/report.json"))
p = report["players"]
faults = [(float(t), name) for t, name in (l.rstrip("\n").split("\t") for l in open(f"{work}/faults.tsv"))]
rows = [l.rstrip("\n").split("\t") for l in open(f"{work}/run/timeline.tsv")]
head, rows = rows[0], [[float(x) for x in r] for r in rows[1:]]
col = {k: i for i, k in enumerate(head)}
def at(t, k):  # counter value at time t (last sample at or before t)
    v = 0.0
    for r in rows:
        if r[0] <= t: v = r[col[k]]
    return v
segment_requests, failed = [], []
for line in list(open(f"{work}/report/segments.tsv"))[1:]:
    t, path, outcome, waited_ms = line.rstrip("\n").split("\t")
    segment_requests.append((float(t), path))
    if outcome == "failed":
        failed.append(f"  {float(t):6.1f}s  {path}  (after {float(waited_ms) / 1e3:.1f} s)")
lines = []
bounds = [(0.0, "start")] + faults
for (a, name), (b, _) in zip(bounds, bounds[1:]):
    d = {k: at(b, k) - at(a, k) for k in ("requests", "errors", "storage_segment_reads", "stale_served",
                                          "peers_skipped", "owner_storage_503")}
    unique = len({p for t, p in segment_requests if a <= t < b})
    per_unique = f"{d['storage_segment_reads'] / unique:4.2f}" if unique else " n/a"
    lines.append(f"{a:6.1f}-{b:6.1f}s after {name:<28} requests {d['requests']:7.0f}  5xx {d['errors']:5.0f}  "
                 f"segment reads from storage {d['storage_segment_reads']:5.0f} for {unique:4d} unique segments "
                 f"({per_unique} per unique)  stale answers {d['stale_served']:4.0f}  "
                 f"peers skipped {d['peers_skipped']:3.0f}  owners' storage 503s {d['owner_storage_503']:4.0f}")
unique = p.get("unique_objects", {}).get("segment", 0)
reads = rows[-1][col["storage_segment_reads"]] if rows else 0
summary = [
    f"players {p['players']}  started {p['started']}  failed sessions {p['failed']}",
    f"player-visible request failures {p.get('visible_failures', 0)}  (answered by another edge: {p.get('failovers', 0)})",
    f"stalls {p['stalls']} ({p['stall_secs']:.1f} s)  rebuffer ratio p50 {p['rebuffer_ppm']['p50'] / 1e6:.4f}  p99 {p['rebuffer_ppm']['p99'] / 1e6:.4f}",
    f"segment reads from storage per unique segment (whole run) {reads / unique if unique else float('nan'):.2f}  ({reads:.0f} / {unique})",
    "", *lines,
]
if failed:
    summary += ["", "segment requests that failed on every edge tried (time answered or given up):", *failed]
open(f"{work}/phases.txt", "w").write("\n".join(summary) + "\n")
print("\n".join(summary))
# requests and errors per second, faults marked
W, H, L, B = 900, 320, 50, 30
per = [(rows[i][0], rows[i][col["requests"]] - rows[i - 1][col["requests"]], rows[i][col["errors"]] - rows[i - 1][col["errors"]]) for i in range(1, len(rows))]
tmax = max([r[0] for r in rows] + [1]); ymax = max([x[1] for x in per] + [1])
X = lambda t: L + (W - L - 10) * t / tmax
Y = lambda v: H - B - (H - B - 10) * v / ymax
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
       f'<text x="{L}" y="12">requests/s (blue) and 5xx/s (red) over the drill, summed over the edges; max {ymax:.0f}/s</text>',
       f'<line x1="{L}" y1="{H-B}" x2="{W-10}" y2="{H-B}" stroke="black"/>']
for t, name in faults:
    svg.append(f'<line x1="{X(t):.1f}" y1="20" x2="{X(t):.1f}" y2="{H-B}" stroke="#999" stroke-dasharray="4"/>'
               f'<text x="{X(t)+2:.1f}" y="{H-B+12}" transform="rotate(20 {X(t)+2:.1f} {H-B+12})">{name}</text>')
for i, colour in ((1, "#1f77b4"), (2, "#d62728")):
    pts = " ".join(f"{X(r[0]):.1f},{Y(r[i]):.1f}" for r in per)
    svg.append(f'<polyline fill="none" stroke="{colour}" points="{pts}"/>')
svg.append("</svg>")
open(f"{work}/timeline.svg", "w").write("\n".join(svg))
sys.exit(0 if p.get("visible_failures", 0) == 0 and p["failed"] == 0 else 1)
PY
