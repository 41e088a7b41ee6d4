#!/usr/bin/env bash
# What analysis costs, side by side with the transcode of the same video on this machine
# (release build, embedded control, one worker):
#   - the same SECONDS-long 720p clip (speech by espeak-ng under a test picture) uploaded four
#     times: analysis off, captions only (offline), moderation only (offline), both;
#   - for each: wall time from upload start to `ready`, and the control process's CPU seconds;
#   - speech-to-text real-time factor = audio seconds / CPU seconds the captions added;
#     moderation milliseconds per frame (from sunomi_analysis_duration_seconds and
#     sunomi_analysis_frames_total); WER of the captions against the spoken text;
#   - the ratio the goal names: (upload→ready with both) / (upload→ready with none).
#   SECONDS_LONG=60 PRESET=veryfast
#   CONTROL_BIN=/path/to/sunomi-control   another build to measure (run twice, side by side)
#   BUILD=0                               use the release binary as it is (no cargo build)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
SECONDS_LONG=${SECONDS_LONG:-60}
PRESET=${PRESET:-veryfast}
bin=$CARGO_TARGET_DIR/release
[ "${BUILD:-1}" = 1 ] && cargo build --release -q -p sunomi-control
control_bin=${CONTROL_BIN:-$bin/sunomi-control}
models=$("$root/deploy/local/models.sh")

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
metric() { curl -fs "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

TEXT="The quick brown fox jumps over the lazy dog. Every morning I walk to the station and buy a newspaper. Video platforms caption every upload so that everyone can follow along."
espeak-ng -v en-us -s 150 -w "$work/speech.wav" "$TEXT"
ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" \
  -stream_loop -1 -i "$work/speech.wav" -t "$SECONDS_LONG" \
  -c:v libx264 -preset veryfast -crf 20 -c:a aac "$work/clip.mp4"
# The reference transcript: the text as often as it fits (the loop).
speech=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$work/speech.wav")

run() { # name captions moderation
  local name=$1 captions=$2 moderation=$3 store=$work/store-$1
  cat > "$work/$name.toml" <<TOML
models_dir = "$models"
[transcode]
preset = "$PRESET"
[captions]
backend = "$captions"
language = "en"
[moderation]
backend = "$moderation"
TOML
  local key p a
  # Each run on a database of its own (builds before the database ignore it).
  export SUNOMI_DATABASE=sqlite://$work/$name.db
  key=$("$control_bin" keys create --store "$store" | tail -n 1)
  p=$(port); a=$(port)
  RUST_LOG=warn "$control_bin" serve --store "$store" --listen "127.0.0.1:$p" \
    --admin "127.0.0.1:$a" --config "$work/$name.toml" > "$work/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$a/readyz" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$p/api/v1/openapi.json" >/dev/null 2>&1 && break; sleep 0.1; done
  local c0 t0 t1 c1
  c0=$(cpu_secs "$pid"); t0=$(date +%s.%N)
  XDG_CACHE_HOME=$work/cache-$name "$control_bin" upload "$work/clip.mp4" \
    --api "http://127.0.0.1:$p" --key "$key" --wait > "$work/$name.out" 2>/dev/null
  t1=$(date +%s.%N); c1=$(cpu_secs "$pid")
  WALL[$name]=$(echo "$t1 - $t0" | bc -l)
  CPU[$name]=$(echo "$c1 - $c0" | bc -l)
  STT[$name]=$(metric "http://127.0.0.1:$a" 'sunomi_analysis_duration_seconds_sum{backend="offline",stage="captions"}')
  MOD[$name]=$(metric "http://127.0.0.1:$a" 'sunomi_analysis_duration_seconds_sum{backend="offline",stage="moderation"}')
  FRAMES[$name]=$(metric "http://127.0.0.1:$a" 'sunomi_analysis_frames_total')
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  printf '%-11s upload→ready %6.1f s   control CPU %6.1f s\n' "$name" "${WALL[$name]}" "${CPU[$name]}"
  LAST_STORE=$store
}
declare -A WALL CPU STT MOD FRAMES
echo "== one ${SECONDS_LONG} s 720p clip with speech, preset $PRESET, $(nproc) cores"
run none off off
run captions offline off
vtt=$(find "$LAST_STORE/videos" -name en.vtt | head -n 1)
run moderation off offline
run both offline offline

wer=$(python3 - "$vtt" "$TEXT" "$SECONDS_LONG" "$speech" <<'EOF'
import re, sys
vtt, text, total, speech = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
words = lambda s: [w for w in re.sub(r"[^a-z0-9' ]", " ", s.lower()).split() if w]
heard = [l for l in open(vtt).read().splitlines() if l and "-->" not in l and not l.isdigit() and l != "WEBVTT"]
ref = words(text) * int(total // speech) + words(text)[: int(len(words(text)) * ((total % speech) / speech))]
hyp = words(" ".join(heard))
prev = list(range(len(hyp) + 1))
for i, r in enumerate(ref):
    row = [i + 1] + [0] * len(hyp)
    for j, h in enumerate(hyp):
        row[j + 1] = min(prev[j] + (r != h), prev[j + 1] + 1, row[j] + 1)
    prev = row
print(f"{prev[-1] / len(ref) * 100:.1f} % ({prev[-1]} edits over {len(ref)} words; the clip's last loop is cut mid-sentence)")
EOF
)
stt_cpu=$(echo "${CPU[captions]} - ${CPU[none]}" | bc -l)
echo
printf 'speech-to-text: %.1f audio s per CPU s (%.1f CPU s for %s s), stage wall %.1f s; WER %s\n' \
  "$(echo "$SECONDS_LONG / $stt_cpu" | bc -l)" "$stt_cpu" "$SECONDS_LONG" "${STT[captions]}" "$wer"
printf 'moderation: %.0f ms per frame (%s frames, stage wall %.2f s)\n' \
  "$(echo "${MOD[moderation]} * 1000 / ${FRAMES[moderation]}" | bc -l)" "${FRAMES[moderation]}" "${MOD[moderation]}"
printf 'upload→ready, analysis on / off: %.2f×  (goal ≤ 1.50×: captions %.2f×, moderation %.2f×)\n' \
  "$(echo "${WALL[both]} / ${WALL[none]}" | bc -l)" \
  "$(echo "${WALL[captions]} / ${WALL[none]}" | bc -l)" \
  "$(echo "${WALL[moderation]} / ${WALL[none]}" | bc -l)"
