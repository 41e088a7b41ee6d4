#!/usr/bin/env bash
# Sourced by the bench scripts: `bench_title STORE SECONDS [SIZE] [PRESET]` makes video `bench`
# in STORE once — a testsrc2 picture (SIZE, default 1280x720, 30 fps) with a 440 Hz tone,
# SECONDS long, transcoded by this tree's release sunomi-origin (PRESET, default ultrafast) —
# and does nothing when the store already holds it. Needs $bin (the release binaries).
bench_title() {
  local store=$1 secs=$2 size=${3:-1280x720} preset=${4:-ultrafast} src
  [ -s "$store/videos/bench/manifest.json" ] && return 0
  mkdir -p "$store"
  src=$(mktemp --suffix=.mp4)
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=$size:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$secs" \
    -c:v libx264 -preset ultrafast -c:a aac -shortest "$src"
  RUST_LOG=warn "${bin:?the release binaries folder}/sunomi-origin" transcode "$src" --id bench --store "$store" --preset "$preset"
  rm -f "$src"
}
