#!/usr/bin/env bash
# Thumbnails side by side with FFmpeg's own extraction, at Mux's common sizes (320x180,
# 640x360): the system under test (edge + picture service) on CPU 0, the client on CPU 1, the
# reference on CPU 0.
#
#   cold: a fresh edge and picture service; TIMES distinct `thumbnail.jpg?time=T&width&height`
#     requests, each drawn by the service (one fragment read, decoded up to T, scaled, JPEG):
#     CPU per request of edge + service, latency, and storage requests per request (both
#     processes' counters: the service keeps a track's head, so one per cold picture);
#   warm: the same URLs again, WARM_REPEAT (50) times over (the edge's cache): edge CPU per
#     request, latency;
#   (at 320x180 the edge decodes the picture track, 180 lines with a key frame every 0.2 s;
#   at 640x360 the 360p rung, 2 s GOPs)
#   a cold segment: up to TIMES distinct 360p segments through a fresh edge (the latency budget);
#   ffmpeg: `ffmpeg -ss T -i {rendition the edge decodes} -frames:v 1 -vf scale=WxH out.jpg`
#     per time (a thumbnail service that runs FFmpeg per request on the mezzanine): CPU
#     (user + sys) and wall time per picture.
#
#   SECONDS_OF_MEDIA=120 TIMES=100 ROUNDS=3 WORK=./demo-work/bench-pictures
#   STORE=local|s3 STORAGE_LATENCY_MS=20
# (STORE=s3: the same objects behind a real S3 API (s3s-fs, on CPU 1), reached through
# `sunomi-bench proxy` adding STORAGE_LATENCY_MS to every storage request: the first-byte
# latency of an object store, where a cold segment's time is mostly its one read.)
# (CPU is counted in clock ticks of 10 ms over all TIMES pictures: ±0.1 ms at 100.)
# Prints a markdown table of medians over ROUNDS and the ratios to ffmpeg.
set -euo pipefail
shopt -s inherit_errexit # a failed fetch inside $(...) stops the run
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=deploy/local/bench-title.sh
. "$root/deploy/local/bench-title.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/release
work=${WORK:-$root/demo-work/bench-pictures}
media_secs=${SECONDS_OF_MEDIA:-120}
count=${TIMES:-100}
rounds=${ROUNDS:-3}
hz=$(getconf CLK_TCK)
mkdir -p "$work"
storage=${STORE:-local}
latency_ms=${STORAGE_LATENCY_MS:-20}
cargo build --release -p sunomi-origin -p sunomi-edge -p sunomi-bench >/dev/null

case $storage in
  local) store=$work/store store_arg=$work/store ;;
  s3) store=$work/s3/media store_arg=s3://media ;;
  *) echo "STORE is local or s3, not $storage" >&2; exit 2 ;;
esac
bench_title "$store" "$media_secs" 1280x720 veryfast
manifest=$store/videos/bench/manifest.json
rendition() { # the track the edge decodes for W x H: the smallest rung or picture track at
  # least that large (packager/src/picture.rs `source_rendition`)
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); w,h=int(sys.argv[2]),int(sys.argv[3])
tracks=m["renditions"]+([m["picture_track"]] if m.get("picture_track") else [])
r=sorted((x for x in tracks if x["width"]>=w and x["height"]>=h), key=lambda x:x["height"])
print(r[0]["path"])' "$manifest" "$1" "$2"
}
# TIMES instants spread over the title, off the key frames.
mapfile -t times < <(python3 -c "
import sys
n, d = $count, $media_secs
print('\n'.join(f'{(i + 0.37) * (d - 1) / n:.3f}' for i in range(n)))")

edge_port=18391 admin_port=18392 pictures_port=18393
s3_port=18394 proxy_port=18395 proxy_control=18396
secret=$(openssl rand -hex 16)
edge_pid='' pictures_pid='' storage_pids=''
cleanup() {
  for p in $edge_pid $pictures_pid $storage_pids; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
store_env=()
if [ "$storage" = s3 ]; then
  store_env=(AWS_ACCESS_KEY_ID=sunomi-bench AWS_SECRET_ACCESS_KEY=sunomi-bench-secret
    AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true "AWS_ENDPOINT_URL=http://127.0.0.1:$proxy_port")
  taskset -c 1 s3s-fs --host 127.0.0.1 --port $s3_port --access-key sunomi-bench \
    --secret-key sunomi-bench-secret "$work/s3" >"$work/s3.log" 2>&1 &
  storage_pids+=" $!"
  taskset -c 1 "$bin/sunomi-bench" proxy --listen 127.0.0.1:$proxy_port \
    --upstream 127.0.0.1:$s3_port --control 127.0.0.1:$proxy_control >"$work/proxy.log" 2>&1 &
  storage_pids+=" $!"
  for _ in $(seq 100); do
    curl -sf -X POST "http://127.0.0.1:$proxy_control/delay/$latency_ms" >/dev/null && break
    sleep 0.1
  done
fi
printf 'threads = 1\n' >"$work/edge.toml"
ticks() { read -r -a f <"/proc/$1/stat"; echo $((f[13] + f[14])); }

start() {
  taskset -c 0 env "${store_env[@]}" RUST_LOG=warn SUNOMI_PICTURES_SECRET="$secret" \
    "$bin/sunomi-origin" pictures --store "$store_arg" --listen 127.0.0.1:$pictures_port --workers 1 &
  pictures_pid=$!
  taskset -c 0 env "${store_env[@]}" RUST_LOG=warn SUNOMI_PICTURES_SECRET="$secret" \
    "$bin/sunomi-edge" --store "$store_arg" --listen 127.0.0.1:$edge_port --admin 127.0.0.1:$admin_port --config "$work/edge.toml" \
    --pictures http://127.0.0.1:$pictures_port &
  edge_pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null \
      && curl -sf "http://127.0.0.1:$pictures_port/healthz" >/dev/null && break
    sleep 0.1
  done
  # The manifest and the track heads are read once, not by the first measured request.
  curl -sf -o /dev/null "http://127.0.0.1:$edge_port/v/bench/master.m3u8"
}
stop() {
  kill "$edge_pid" "$pictures_pid"; wait "$edge_pid" "$pictures_pid" 2>/dev/null || true
  edge_pid='' pictures_pid=''
}

# Fetches every URL given (one curl on CPU 1, one kept-alive connection) and prints the
# median of their total times, in seconds; fails unless every one answered 200.
fetch_all() {
  local config=$work/curl.cfg
  : >"$config"
  for u in "$@"; do
    printf 'url = "%s"\noutput = /dev/null\nwrite-out = "%%{http_code} %%{time_total}\\n"\n' \
      "$u" >>"$config"
  done
  taskset -c 1 curl -s -K "$config" >"$work/latencies.txt"
  python3 - "$work/latencies.txt" "$#" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
bad = [r for r in rows if r[0] != "200"]
if bad or len(rows) != int(sys.argv[2]):
    sys.exit(f"{len(bad)} of {len(rows)} answers were not 200 (expected {sys.argv[2]})")
print(statistics.median(float(r[1]) for r in rows))
PY
}

# A counter's value in the Prometheus text at URL $1: the line starting with $2.
counter() { curl -sf "$1" | awk -v name="$2" 'index($0, name) == 1 { print $2 }'; }
# Storage requests so far of the picture service and of the edge.
service_reads() { counter "http://127.0.0.1:$pictures_port/metrics" 'sunomi_picture_storage_reads_total{result="ok"}'; }
edge_reads() { counter "http://127.0.0.1:$admin_port/metrics" 'sunomi_storage_read_seconds_count'; }

# Every time at W x H through the edge, REPEAT times over: "cpu_s_per_request
# median_latency_s storage_reads_per_request" (edge + service CPU and reads; the warm rounds
# repeat, as a clock tick is 10 ms).
through_edge() {
  local w=$1 h=$2 repeat=$3 e0 p0 e1 p1 r0 r1 lat urls=()
  for _ in $(seq "$repeat"); do
    for t in "${times[@]}"; do
      urls+=("http://127.0.0.1:$edge_port/v/bench/thumbnail.jpg?time=$t&width=$w&height=$h")
    done
  done
  r0=$(($(service_reads) + $(edge_reads)))
  e0=$(ticks "$edge_pid"); p0=$(ticks "$pictures_pid")
  lat=$(fetch_all "${urls[@]}")
  e1=$(ticks "$edge_pid"); p1=$(ticks "$pictures_pid")
  r1=$(($(service_reads) + $(edge_reads)))
  python3 -c "n = $count * $repeat; print(($e1 - $e0 + $p1 - $p0) / $hz / n, $lat, ($r1 - $r0) / n)"
}

# Distinct cold 360p segments through the same fresh edge (TIMES of them, at most as many as
# the title has): "cpu_s_per_request median_latency_s storage_reads_per_request" (the budget a
# cold picture is held to: a cold segment's).
cold_segments() {
  local e0 e1 r0 r1 lat n urls=()
  n=$(curl -sf "http://127.0.0.1:$edge_port/v/bench/360p/media.m3u8" | grep -c '^#EXTINF')
  n=$((n < count ? n : count))
  for i in $(seq 0 $((n - 1))); do urls+=("http://127.0.0.1:$edge_port/v/bench/360p/$i.m4s"); done
  r0=$(edge_reads)
  e0=$(ticks "$edge_pid")
  lat=$(fetch_all "${urls[@]}")
  e1=$(ticks "$edge_pid")
  r1=$(edge_reads)
  python3 -c "print(($e1 - $e0) / $hz / $n, $lat, ($r1 - $r0) / $n)"
}

# Every time at W x H by ffmpeg: "cpu_s_per_picture median_wall_s 1" (one file read).
by_ffmpeg() {
  local w=$1 h=$2 track out usage cpu=() wall=()
  track=$store/videos/bench/$(rendition "$w" "$h")
  out=$work/ffmpeg.jpg
  for t in "${times[@]}"; do
    usage=$( { /usr/bin/time -f '%e %U %S' taskset -c 0 ffmpeg -v error -y -ss "$t" -i "$track" \
      -frames:v 1 -vf "scale=$w:$h" "$out"; } 2>&1 | tail -1)
    read -r e u s <<<"$usage"
    wall+=("$e"); cpu+=("$(python3 -c "print($u + $s)")")
  done
  python3 -c "import statistics; print(statistics.mean([${cpu[*]/%/,}]), statistics.median([${wall[*]/%/,}]), 1)"
}

declare -A cold warm ref
for size in 320x180 640x360; do cold[$size]='' warm[$size]='' ref[$size]=''; done
segments=''
for _ in $(seq "$rounds"); do
  start
  segments+="$(cold_segments);"
  stop
  for size in 320x180 640x360; do
    w=${size%x*} h=${size#*x}
    start
    cold[$size]+="$(through_edge "$w" "$h" 1);"
    warm[$size]+="$(through_edge "$w" "$h" "${WARM_REPEAT:-50}");"
    stop
    ref[$size]+="$(by_ffmpeg "$w" "$h");"
  done
done

storage_label="a local store"
[ "$storage" = s3 ] && storage_label="S3 (s3s-fs) with ${latency_ms} ms added to each request"
python3 - "$count" "$media_secs" "$segments" \
  "${cold[320x180]}" "${warm[320x180]}" "${ref[320x180]}" \
  "${cold[640x360]}" "${warm[640x360]}" "${ref[640x360]}" "$storage_label" <<'PY'
import statistics, sys
med = statistics.median
def parse(s):
    runs = [list(map(float, r.split())) for r in s.strip(";").split(";")]
    return tuple(med(r[k] for r in runs) for k in range(3))
print(f"Thumbnails (JPEG) at {sys.argv[1]} times over a {sys.argv[2]} s 720p title from {sys.argv[10]}; medians")
print("| size | | CPU ms per picture | latency ms | storage reads per request | CPU vs ffmpeg |")
print("|---|---|---|---|---|---|")
for i, size in enumerate(("320x180", "640x360")):
    cold, warm, ref = (parse(sys.argv[4 + 3 * i + k]) for k in range(3))
    for label, (cpu, lat, reads) in (("edge + service, cold", cold), ("edge, warm", warm), ("ffmpeg -ss per picture", ref)):
        ratio = f"**{cpu / ref[0]:.3f}×**" if label != "ffmpeg -ss per picture" else ""
        print(f"| {size} | {label} | {cpu * 1000:.2f} | {lat * 1000:.1f} | {reads:.2f} | {ratio} |")
cpu, lat, reads = parse(sys.argv[3])
print(f"| | a cold 360p segment, same edge and store | {cpu * 1000:.2f} | {lat * 1000:.1f} | {reads:.2f} | |")
PY
