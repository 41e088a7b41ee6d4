#!/usr/bin/env bash
# The compose platform end to end (make test runs this; podman and podman-compose):
#   1. up.sh brings every service up but Grafana (its image comes from a registry this
#      machine cannot reach; its provisioning is checked by deploy/local/check-deploy.sh);
#   2. an API key is made inside the control container, a clip made with FFmpeg is uploaded
#      through the load balancer's API port and transcoded by the workers;
#   3. the playback URL is played through the balancer's player port (ffmpeg decodes every
#      frame), a thumbnail comes through it from the picture service, and hls.js-like fetches of the master go to more than one edge;
#   4. the three edges form one ring (each counts three members), and Prometheus scrapes
#      every target (all `up`);
#   5. prints the time from `up` to the first playable URL (deploy/README.md reports it).
# Leaves nothing running (the platform is taken down at exit, volumes included).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/deploy/compose"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
down() { DOWN=1 "$here/up.sh" >/dev/null 2>&1 || true; }
cleanup() {
  local status=$?
  if [[ $status -ne 0 ]]; then
    for c in $(podman ps -a --filter label=com.docker.compose.project=compose --format '{{.Names}}'); do
      echo "--- $c" >&2
      podman logs --tail 30 "$c" >&2 || true
    done
  fi
  down
  rm -rf "$work"
}
trap cleanup EXIT
down

started=$(date +%s.%N)
SERVICES="postgres redis s3 control worker-1 worker-2 edge-1 edge-2 edge-3 pictures lb prometheus" "$here/up.sh"
up_at=$(date +%s.%N)

container() { podman ps -q --filter "label=com.docker.compose.service=$1" | head -n 1; }
key=$(podman exec "$(container control)" /usr/local/bin/sunomi-control keys create --name compose-test | tail -n 1)
ffmpeg -v error -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440 \
  -t 4 -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$work/clip.mp4"

api=http://127.0.0.1:18000
uploaded=$(XDG_CACHE_HOME="$work" "$CARGO_TARGET_DIR/debug/sunomi-control" upload "$work/clip.mp4" \
  --api "$api" --key "$key" --wait)
asset=$(head -n 1 <<<"$uploaded")
playback=$(curl -fsS -H "authorization: Bearer $key" "$api/api/v1/assets/$asset" \
  | python3 -c 'import json, sys; a = json.load(sys.stdin); assert a["status"] == "ready", a["status"]; print(a["playback_ids"][0]["id"])')
master=http://127.0.0.1:18080/v/$playback/master.m3u8
ffmpeg -v error -i "$master" -f null - 2>"$work/decode.log"
[[ ! -s "$work/decode.log" ]] || { cat "$work/decode.log" >&2; exit 1; }
playable_at=$(date +%s.%N)
echo "compose: played $master through the load balancer"
# A thumbnail: drawn by the picture service over S3, served through the balancer.
curl -fsS -o "$work/thumb.jpg" "http://127.0.0.1:18080/v/$playback/thumbnail.jpg?time=1&width=320"
[[ $(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height -of csv=p=0 "$work/thumb.jpg") == mjpeg,320,180 ]] \
  || { echo "no 320x180 JPEG thumbnail through the balancer" >&2; exit 1; }

# Every edge sees the others: one ring of three.
for admin in 19081 19082 19083; do
  members=$(curl -fsS "http://127.0.0.1:$admin/metrics" | awk '/^sunomi_fleet_members /{print $2}')
  [[ "$members" == 3 ]] || { echo "edge admin $admin counts $members members, not 3" >&2; exit 1; }
done
# The balancer spread the players' requests: more than one edge answered some.
served=0
for admin in 19081 19082 19083; do
  n=$(curl -fsS "http://127.0.0.1:$admin/metrics" \
    | awk '/^sunomi_http_requests_total\{/ { s += $2 } END { print s + 0 }')
  [[ "$n" -gt 0 ]] && served=$((served + 1))
done
[[ $served -ge 2 ]] || { echo "only $served edge(s) answered players" >&2; exit 1; }

# Prometheus scrapes every target.
deadline=$(( $(date +%s) + 60 ))
until curl -fsS http://127.0.0.1:19090/api/v1/targets | python3 -c '
import json, sys
targets = json.load(sys.stdin)["data"]["activeTargets"]
down = [t["scrapeUrl"] for t in targets if t["health"] != "up"]
print(f"{len(targets)} targets, down: {down}", file=sys.stderr)
sys.exit(0 if len(targets) == 7 and not down else 1)'; do
  [[ $(date +%s) -lt $deadline ]] || { echo "Prometheus does not scrape every target" >&2; exit 1; }
  sleep 2
done
python3 - "$started" "$up_at" "$playable_at" <<'PY'
import sys
start, up, playable = map(float, sys.argv[1:])
print(f"compose: up in {up - start:.1f} s; first playable URL {playable - start:.1f} s after `up` "
      f"(upload, transcode and play of a 4 s clip: {playable - up:.1f} s)")
PY
echo "compose platform: passed"
