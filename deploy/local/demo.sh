#!/usr/bin/env bash
# One-machine demo: build, start the control plane (embedded: local directory as storage, no
# Redis, workers in-process) and one edge, make (or take) a source, upload it into a demo
# account through the web app's API (tus), wait until it is ready and print the web app's
# address, the demo account's sign-in and the playback URL.
#   INPUT=/path/to/video   use your own file instead of the generated sample
#   STORE=./demo-store     object store (a directory, file:///abs, s3://bucket/prefix)
#   LISTEN=127.0.0.1:8080  ADMIN=127.0.0.1:9090       the edge
#   API=127.0.0.1:8090     API_ADMIN=127.0.0.1:9091   the control plane
#   PICTURES=127.0.0.1:9100   the picture service (thumbnails, storyboards, animated previews)
#   DATABASE=sqlite://…/demo-work/control.db   the control plane's database (or postgres://…)
#   TLS_LISTEN=127.0.0.1:8443  HTTPS (HTTP/2) for players, with a certificate for localhost
#                          signed by a demo CA made here (demo-work/tls); TLS_LISTEN=off: none
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
STORE=${STORE:-$root/demo-store}
LISTEN=${LISTEN:-127.0.0.1:8080}
ADMIN=${ADMIN:-127.0.0.1:9090}
API=${API:-127.0.0.1:8090}
API_ADMIN=${API_ADMIN:-127.0.0.1:9091}
PICTURES=${PICTURES:-127.0.0.1:9100}
TLS_LISTEN=${TLS_LISTEN:-127.0.0.1:8443}
# Every sunomi-control command below reads it (--database).
export SUNOMI_DATABASE=${DATABASE:-sqlite://$root/demo-work/control.db}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/release

echo "==> building (release)"
cargo build --release -p sunomi-control -p sunomi-edge -p sunomi-origin

if [ -z "${INPUT:-}" ]; then
  INPUT=$root/demo-work/sample-speech.mp4
  if [ ! -s "$INPUT" ]; then
    mkdir -p "$(dirname "$INPUT")"
    echo "==> making a 30 s 1080p sample with FFmpeg and espeak-ng (speech, to be captioned): $INPUT"
    espeak-ng -v en-us -s 140 -w "$root/demo-work/speech.wav" \
      "Welcome to Sunomi. This video was uploaded through the control plane, transcoded once \
       into a ladder of renditions, captioned by speech to text on the worker, checked by the \
       moderation model, and published to the edge. The edge packages every playlist and \
       segment just in time, and caches them in memory. Turn the captions on in your player \
       to read along."
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30" \
      -i "$root/demo-work/speech.wav" -af apad -t 30 \
      -c:v libx264 -preset veryfast -crf 18 -c:a aac "$INPUT"
  fi
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

mkdir -p "$root/demo-work"
keyfile=$root/demo-work/api-key
# Reuse the demo's key only while this store still has it (and it is not revoked).
KEY=$(cat "$keyfile" 2>/dev/null || true)
kid=${KEY#sk_}; kid=${kid%%_*}
if [ -z "$KEY" ] || ! "$bin/sunomi-control" keys list --store "$STORE" \
    | awk -F'\t' -v k="$kid" '$1 == k && $4 == "active" { found = 1 } END { exit !found }'; then
  "$bin/sunomi-control" keys create --store "$STORE" --name demo | tail -n 1 > "$keyfile"
fi
KEY=$(cat "$keyfile")

tls_args=()
tls=$root/demo-work/tls
if [ "$TLS_LISTEN" != off ]; then
  # A CA of the demo's own and a certificate for localhost it signs, made once.
  mkdir -p "$tls"
  if [ ! -s "$tls/localhost.pem" ]; then
    echo "==> making a demo CA and a certificate for localhost in $tls"
    (umask 077
     openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
       -subj "/CN=Sunomi demo CA" -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
     openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
       -keyout "$tls/localhost.key" -out "$tls/localhost.csr" 2>/dev/null
     printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
       >"$tls/localhost.ext"
     openssl x509 -req -in "$tls/localhost.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
       -CAcreateserial -days 365 -extfile "$tls/localhost.ext" -out "$tls/localhost.crt" 2>/dev/null
     cat "$tls/localhost.crt" "$tls/ca.pem" >"$tls/localhost.pem")
  fi
  tls_args=(--tls-listen "$TLS_LISTEN" --tls-cert "$tls/localhost.pem" --tls-key "$tls/localhost.key")
fi

# The views secret the edge and the control plane share (views count from the edge's
# receipts), made once.
view_secret=$root/demo-work/view-secret
[ -s "$view_secret" ] || (umask 077; openssl rand -hex 32 > "$view_secret")
SUNOMI_VIEW_SECRET=$(cat "$view_secret")
export SUNOMI_VIEW_SECRET

# The secret the edges present to the picture service, made once.
pictures_secret=$root/demo-work/pictures-secret
[ -s "$pictures_secret" ] || (umask 077; openssl rand -hex 32 > "$pictures_secret")
SUNOMI_PICTURES_SECRET=$(cat "$pictures_secret")
export SUNOMI_PICTURES_SECRET

echo "==> starting the picture service on $PICTURES"
"$bin/sunomi-origin" pictures --store "$STORE" --listen "$PICTURES" > "$root/demo-work/pictures.log" 2>&1 &
pids+=($!)

echo "==> starting the edge on $LISTEN${tls_args:+ (HTTPS on $TLS_LISTEN)} and the control plane on $API"
"$bin/sunomi-edge" --store "$STORE" --listen "$LISTEN" --admin "$ADMIN" --pictures "http://$PICTURES" "${tls_args[@]}" &
pids+=($!)
config=$root/demo-work/control.toml
cat > "$config" <<TOML
edge_admin_urls = ["http://$ADMIN"]
TOML
"$bin/sunomi-control" serve --store "$STORE" --listen "$API" --admin "$API_ADMIN" \
  --edge-url "http://$LISTEN" --config "$config" > "$root/demo-work/control.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fs "http://$API_ADMIN/healthz" >/dev/null 2>&1 && curl -fs "http://$ADMIN/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

# A demo account owns the sample: the web app shows it on its home page, and the account
# signs in with the password made here once.
demo_email=demo@example.org
pwfile=$root/demo-work/demo-password
[ -s "$pwfile" ] || (umask 077; openssl rand -base64 18 > "$pwfile")
demo_password=$(cat "$pwfile")
"$bin/sunomi-control" users create --store "$STORE" --email "$demo_email" --name "Sunomi demo" \
  < "$pwfile" >/dev/null 2>"$root/demo-work/users.log" \
  || grep -q "has an account" "$root/demo-work/users.log" \
  || { cat "$root/demo-work/users.log" >&2; exit 1; }

echo "==> signing in as $demo_email, uploading $INPUT through the web app's API (tus), waiting until it is ready"
jar=$root/demo-work/cookies
json() { python3 -c "import sys, json; d = json.load(sys.stdin); print($1)"; }
csrf=$(curl -fsS -c "$jar" -H 'content-type: application/json' \
  -d "{\"email\": \"$demo_email\", \"password\": \"$demo_password\"}" \
  "http://$API/api/v1/auth/signin" | json 'd["csrf_token"]')
made=$(curl -fsS -b "$jar" -H 'content-type: application/json' -H "x-csrf-token: $csrf" \
  -d "{\"title\": \"Welcome to Sunomi\", \"description\": \"Uploaded by make demo, transcoded once, captioned and moderated on the worker, packaged just in time by the edge.\", \"size\": $(stat -c %s "$INPUT")}" \
  "http://$API/api/v1/videos")
video=$(echo "$made" | json 'd["video"]["id"]')
curl -fsS -X PATCH -H "authorization: Bearer $(echo "$made" | json 'd["upload"]["token"]')" \
  -H 'tus-resumable: 1.0.0' -H 'upload-offset: 0' -H 'content-type: application/offset+octet-stream' \
  --data-binary @"$INPUT" "$(echo "$made" | json 'd["upload"]["url"]')"
status=
for _ in $(seq 1200); do
  shown=$(curl -fsS "http://$API/api/v1/videos/$video")
  status=$(echo "$shown" | json 'd["status"]')
  case $status in ready|errored|blocked|in_review) break ;; esac
  sleep 0.5
done
[ "$status" = ready ] || { echo "the sample ended $status; see $root/demo-work/control.log" >&2; exit 1; }
url=$(echo "$shown" | json 'd["playback_url"]')
cat <<MSG

==> ready. The web app:
    http://$API/                 (sign in as $demo_email, password in $pwfile: $demo_password)
    http://$API/watch/$video

    Play the stream:
    $url
    ffplay $url
    vlc $url
    Safari: open the URL directly; other browsers: paste it into https://hlsjs.dev/demo/

    Pictures, drawn once by the picture service and cached by the edge:
    ${url%master.m3u8}thumbnail.jpg?time=2&width=640
    ${url%master.m3u8}storyboard.vtt   ${url%master.m3u8}storyboard.jpg
    ${url%master.m3u8}animated.gif?start=1&end=4&width=320
MSG
if [ "$TLS_LISTEN" != off ]; then
  https_url="https://localhost:${TLS_LISTEN##*:}${url#http://"$LISTEN"}"
  spki=$(openssl x509 -pubkey -noout -in "$tls/ca.pem" | openssl pkey -pubin -outform der \
    | openssl dgst -sha256 -binary | base64)
  cat <<MSG

    Over HTTPS (HTTP/2), certificate signed by the demo CA $tls/ca.pem:
    $https_url
    curl --cacert $tls/ca.pem $https_url
    Trust the demo CA, one of:
      this machine: sudo cp $tls/ca.pem /usr/local/share/ca-certificates/sunomi-demo.crt && sudo update-ca-certificates
      Chromium for one run: chromium --ignore-certificate-errors-spki-list=$spki
      Firefox: Settings > Certificates > View Certificates > Authorities > Import $tls/ca.pem
MSG
fi
cat <<MSG

    API:     http://$API/api/v1  (key in $keyfile; docs: http://$API/api/v1/openapi.json)
    metrics: http://$ADMIN/metrics (edge)  http://$API_ADMIN/metrics (control)
    Ctrl-C to stop.

MSG
wait
