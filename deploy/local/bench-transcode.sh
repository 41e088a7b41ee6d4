#!/usr/bin/env bash
# Transcode benchmark: `sunomi-origin transcode` against the ffmpeg CLI making the same ladder
# (same rungs, preset, GOP, capped VBR, AAC) in one process, on the same 60 s 1080p clip.
#   PRESET=veryfast RUNS=2 WORK=./demo-work/bench-transcode
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/release
work=${WORK:-$root/demo-work/bench-transcode}
preset=${PRESET:-veryfast}
runs=${RUNS:-2}
mkdir -p "$work/cli"
cargo build --release -p sunomi-origin >/dev/null

src=$work/src-1080p30-60s.mp4
if [ ! -s "$src" ]; then
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=44100" -t 60 \
    -c:v libx264 -preset veryfast -crf 18 -c:a aac -shortest "$src"
fi

x264="keyint=60:min-keyint=60:scenecut=0:open-gop=0"
flags="+cmaf+dash+delay_moov+global_sidx+frag_keyframe"
rung() { # name width height kbps
  local max=$(( $4 * 107 / 100 )) buf=$(( $4 * 2 ))
  echo "-map '[v$1]' -c:v libx264 -preset $preset -b:v ${4}k -maxrate ${max}k -bufsize ${buf}k -x264-params $x264 -an -movflags $flags $work/cli/$1.mp4"
}
cli="ffmpeg -v error -y -i $src -filter_complex '[0:v]split=4[a][b][c][d];[a]scale=1920:1080[v1080p];[b]scale=1280:720[v720p];[c]scale=854:480[v480p];[d]scale=640:360[v360p]' \
 $(rung 1080p 1920 1080 5000) $(rung 720p 1280 720 2500) $(rung 480p 854 480 1200) $(rung 360p 640 360 800) \
 -map 0:a -vn -c:a aac -b:a 128k -ar 48000 -ac 2 -movflags $flags $work/cli/audio.mp4"
sunomi="$bin/sunomi-origin transcode $src --id bench --store $work/store --preset $preset"

if command -v hyperfine >/dev/null; then
  hyperfine --runs "$runs" --export-markdown "$work/transcode.md" \
    -n "sunomi-origin" "RUST_LOG=warn $sunomi" -n "ffmpeg CLI" "$cli"
  cat "$work/transcode.md"
else
  for name in sunomi cli; do
    cmd=${!name}
    start=$(date +%s.%N); eval "RUST_LOG=warn $cmd"; end=$(date +%s.%N)
    echo "$name: $(echo "$end - $start" | bc) s"
  done
fi
