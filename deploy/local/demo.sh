#!/usr/bin/env bash
# One-machine demo: build, make (or take) a source, transcode it once into a CMAF ladder in a
# local directory, and serve it from one edge.
#   INPUT=/path/to/video   use your own file instead of the generated sample
#   ID=demo                video id
#   STORE=./demo-store     object store (a directory, file:///abs, s3://bucket/prefix)
#   LISTEN=127.0.0.1:8080  ADMIN=127.0.0.1:9090
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
ID=${ID:-demo}
STORE=${STORE:-$root/demo-store}
LISTEN=${LISTEN:-127.0.0.1:8080}
ADMIN=${ADMIN:-127.0.0.1:9090}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/release

echo "==> building (release)"
cargo build --release -p sunomi-origin -p sunomi-edge

if [ -z "${INPUT:-}" ]; then
  INPUT=$root/demo-work/sample.mp4
  if [ ! -s "$INPUT" ]; then
    mkdir -p "$(dirname "$INPUT")"
    echo "==> making a 30 s 1080p sample with FFmpeg: $INPUT"
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30" \
      -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 30 \
      -c:v libx264 -preset veryfast -crf 18 -c:a aac -shortest "$INPUT"
  fi
fi

echo "==> transcoding $INPUT once into $STORE (id $ID)"
"$bin/sunomi-origin" transcode "$INPUT" --id "$ID" --store "$STORE"

url="http://$LISTEN/v/$ID/master.m3u8"
cat <<MSG

==> serving. Play it:
    $url
    ffplay $url
    vlc $url
    Safari: open the URL directly; other browsers: paste it into https://hlsjs.dev/demo/
    metrics: http://$ADMIN/metrics
    Ctrl-C to stop.

MSG
exec "$bin/sunomi-edge" --store "$STORE" --listen "$LISTEN" --admin "$ADMIN"
