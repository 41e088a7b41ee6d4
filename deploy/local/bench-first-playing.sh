#!/usr/bin/env bash
# The watch page's time to first frame, release build, same machine: an edge and a control
# plane, one real video uploaded through the API and transcoded, then RUNS (11) cold loads of
# its watch page in headless Chromium, from navigation to the player's first `playing` event
# (control/web/tests/first-playing.mjs): every run, the median and the slowest.
#   RUNS=11 BUILD=0 (use the release binaries as they are)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
RUNS=${RUNS:-11}
bin=$CARGO_TARGET_DIR/release
[ "${BUILD:-1}" = 1 ] && cargo build --release -q -p sunomi-control -p sunomi-edge
work=$(mktemp -d)
pids=()
# shellcheck disable=SC2154 # p is the trap's own loop variable
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
eport=$((20000 + RANDOM % 10000)); aport=$((eport + 1)); cport=$((30000 + RANDOM % 10000))
"$bin/sunomi-edge" --store "$work/store" --listen "127.0.0.1:$eport" --admin "127.0.0.1:$aport" \
  > "$work/edge.log" 2>&1 &
pids+=($!)
export SUNOMI_DATABASE="sqlite://$work/control.db"
cat > "$work/control.toml" <<TOML
edge_url = "http://127.0.0.1:$eport"
edge_admin_urls = ["http://127.0.0.1:$aport"]
[captions]
backend = "off"
[moderation]
backend = "off"
TOML
"$bin/sunomi-control" serve --config "$work/control.toml" --store "$work/store" \
  --listen "127.0.0.1:$cport" --admin "127.0.0.1:$((cport + 1))" > "$work/control.log" 2>&1 &
pids+=($!)
url=http://127.0.0.1:$cport
for _ in $(seq 100); do curl -fs "$url/" >/dev/null 2>&1 && break; sleep 0.1; done
json() { python3 -c "import sys, json; d = json.load(sys.stdin); print($1)"; }
ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440 \
  -t 20 -c:v libx264 -preset veryfast -c:a aac -shortest "$work/clip.mp4"
csrf=$(curl -fsS -c "$work/jar" -H 'content-type: application/json' \
  -d '{"email": "bench@example.org", "password": "a bench password", "display_name": "Bench"}' \
  "$url/api/v1/auth/signup" | json 'd["csrf_token"]')
made=$(curl -fsS -b "$work/jar" -H 'content-type: application/json' -H "x-csrf-token: $csrf" \
  -d "{\"title\": \"First frame\", \"size\": $(stat -c %s "$work/clip.mp4")}" "$url/api/v1/videos")
id=$(echo "$made" | json 'd["video"]["id"]')
curl -fsS -X PATCH -H "authorization: Bearer $(echo "$made" | json 'd["upload"]["token"]')" \
  -H 'tus-resumable: 1.0.0' -H 'upload-offset: 0' -H 'content-type: application/offset+octet-stream' \
  --data-binary @"$work/clip.mp4" "$(echo "$made" | json 'd["upload"]["url"]')"
for _ in $(seq 900); do
  [ "$(curl -fsS "$url/api/v1/videos/$id" | json 'd["status"]')" = ready ] && break
  sleep 0.2
done
echo "== first playing on /watch/$id, $RUNS cold loads"
(cd control/web && node tests/first-playing.mjs "$url/watch/$id" "$RUNS")
