#!/usr/bin/env bash
# Fleet offload and peer latency (issue 4's performance figures), on one machine:
#  1. Flash crowd through sunomi-bench on (a) 3 edges coordinated through Redis, (b) 3
#     independent edges (the uncoordinated baseline) and (c) 1 edge: storage reads per unique
#     segment, hit ratio by tier, aggregate throughput. Players are spread over the edges.
#  2. Peer-hit latency vs local-hit latency: 2 edges with admission=never (the non-owner asks
#     the owner every time), sunomi-bench hammer at a fixed rate on one segment through the
#     non-owner, then through the owner.
#   PLAYERS=300 SPEED=4 SECONDS=120 RATE=200 WORK=./demo-work/fleet
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/release
work=${WORK:-$root/demo-work/fleet}
players=${PLAYERS:-300}
speed=${SPEED:-4}
seconds=${SECONDS_OF_MEDIA:-120}
rate=${RATE:-200}
fleet="$root/deploy/local/fleet.sh"
mkdir -p "$work"
cargo build --release -p sunomi-origin -p sunomi-edge -p sunomi-bench >/dev/null

src=$work/src.mp4
[ -s "$src" ] || ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$seconds" -c:v libx264 -preset veryfast \
  -crf 20 -c:a aac -shortest "$src"
store=$work/store
if [ ! -s "$store/videos/crowd/manifest.json" ]; then
  RUST_LOG=warn "$bin/sunomi-origin" transcode "$src" --id crowd --store "$store" --preset veryfast
fi

run_dir=$work/run
trap 'RUN_DIR=$run_dir "$fleet" stop >/dev/null 2>&1 || true' EXIT

# $1 name, $2 edges, $3 COORDINATE (yes|no): fresh fleet, flash crowd, report in $work/$1.
crowd() {
  RUN_DIR=$run_dir COORDINATE=$3 STORE=$store "$fleet" start "$2" >/dev/null
  local edges=() metrics=()
  for i in $(seq 0 $(($2 - 1))); do
    read -r listen admin <"$run_dir/edge-$i.addr"
    edges+=("$listen"); metrics+=("http://$admin/metrics")
  done
  "$bin/sunomi-bench" players --target "http://${edges[0]}/v/crowd/master.m3u8" \
    --scenario flash-crowd --players "$players" --speed "$speed" --duration "$((seconds / speed + 30))s" \
    --edge "${edges[@]}" --metrics "${metrics[@]}" --out "$work/$1" >"$work/$1.txt"
  RUN_DIR=$run_dir "$fleet" stop >/dev/null
  python3 - "$work/$1/report.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); s = r["server"]; t = s.get("tiers", {})
unique = r["players"]["unique_objects"].get("segment", 0)
reads = t.get("storage", {}).get("hits", 0)
tiers = "  ".join(f"{k} {v['hits']:.0f}/{v['hits'] + v['misses']:.0f}" for k, v in sorted(t.items()))
d = s["deltas"]
issued = d.get('sunomi_prefetch_total{result="issued"}', 0)
used = d.get('sunomi_prefetch_total{result="used"}', 0)
print(f"{sys.argv[2]:<15} reads/unique segment {reads / unique:.3f} ({reads:.0f} / {unique})  "
      f"{r['figures']['requests_per_second']:.0f} req/s  errors {r['figures']['errors']}  "
      f"started {r['players']['started']}/{r['players']['players']}  hits by tier {tiers}  "
      f"prefetch used {used:.0f}/{issued:.0f}")
PY
}

echo "== flash crowd: $players players, ${seconds}s of media at ${speed}x"
crowd fleet-of-3 3 yes
crowd uncoordinated-3 3 no
crowd single-edge 1 no

echo "== peer hit vs local hit ($rate req/s, one segment)"
printf '[fleet]\nadmission = "never"\nprefetch_segments = 0\n' >"$work/never.toml"
RUN_DIR=$run_dir EDGE_CONFIG=$work/never.toml STORE=$store "$fleet" start 2 >/dev/null
read -r e0 _ <"$run_dir/edge-0.addr"
read -r e1 _ <"$run_dir/edge-1.addr"
# A segment of the lowest rung that edge 1 owns: edge 0 answers it from the peer.
rung=$(python3 -c "import json;m=json.load(open('$store/videos/crowd/manifest.json'));print(m['renditions'][-1]['name'])")
path=
for n in $(seq 0 30); do
  status=$(curl -s -o /dev/null -D - "http://$e0/v/crowd/$rung/$n.m4s" | tr -d '\r' | awk -F': ' 'tolower($1)=="cache-status"{print $2}')
  if [ "$status" = "sunomi; fwd=peer" ]; then path=/v/crowd/$rung/$n.m4s; break; fi
done
[ -n "$path" ] || { echo "no segment owned by edge 1 found" >&2; exit 1; }
curl -s -o /dev/null "http://$e1$path"
for who in peer:$e0 local:$e1; do
  "$bin/sunomi-bench" hammer --url "http://${who#*:}$path" --connections 8 --rate "$rate" --duration 15s \
    --out "$work/${who%%:*}-hit" >"$work/${who%%:*}-hit.txt"
done
python3 - "$work" "$path" <<'PY'
import json, sys
w, path = sys.argv[1], sys.argv[2]
f = {k: json.load(open(f"{w}/{k}-hit/report.json"))["figures"] for k in ("peer", "local")}
for k in ("peer", "local"):
    l = f[k]["latency_us"]
    print(f"{k:<6} hit {path}: p50 {l['p50']/1000:.2f} ms  p99 {l['p99']/1000:.2f} ms  errors {f[k]['errors']}")
d = (f["peer"]["latency_us"]["p99"] - f["local"]["latency_us"]["p99"]) / 1000
print(f"peer p99 - local p99 = {d:.2f} ms (goal: within 2 ms)")
PY
