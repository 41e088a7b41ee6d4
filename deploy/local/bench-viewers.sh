#!/usr/bin/env bash
# The watch page's live endpoints under VIEWERS (1,000) concurrent signed-in viewers, release
# build, same machine: each viewer a connection with its own session (cookie and CSRF token,
# seeded by SQL) through sunomi-bench hammer --headers-file. Half read the video as the page
# does while it follows it (GET /api/v1/videos/{id}: status and counters), half send view
# ticks (POST /api/v1/videos/{id}/views with an edge's receipt: every one after the first is
# the dedupe path, a transaction each). Reports requests/s, p50/p99 and errors of each, and
# checks the receipt counted exactly one view.
#   VIEWERS=1000 HAMMER=20s DATABASE=sqlite://… (default: a SQLite file) or postgres://…
#   BUILD=0   use the release binaries as they are
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
VIEWERS=${VIEWERS:-1000}
HAMMER=${HAMMER:-20s}
bin=$CARGO_TARGET_DIR/release
[ "${BUILD:-1}" = 1 ] && cargo build --release -q -p sunomi-control -p sunomi-edge -p sunomi-bench
# Two sockets per viewer here (client and server) and the services' own.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d)
export SUNOMI_DATABASE=${DATABASE:-sqlite://$work/control.db}
SUNOMI_VIEW_SECRET=$(openssl rand -hex 32)
export SUNOMI_VIEW_SECRET
pids=()
# shellcheck disable=SC2154 # p is the trap's own loop variable
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; [ "${KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
edge=127.0.0.1:$((port + 1))
url=http://127.0.0.1:$port
"$bin/sunomi-edge" --store "$work/store" --listen "$edge" --admin "127.0.0.1:$((port + 2))" \
  > "$work/edge.log" 2>&1 &
pids+=($!)
cat > "$work/control.toml" <<TOML
edge_url = "http://$edge"
[views]
need_secs = 2
TOML
"$bin/sunomi-control" serve --store "$work/store" --listen "127.0.0.1:$port" \
  --config "$work/control.toml" > "$work/control.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "$url/" >/dev/null 2>&1 && break; sleep 0.1; done

json() { python3 -c "import sys, json; d = json.load(sys.stdin); print($1)"; }
ffmpeg -v error -y -f lavfi -i testsrc2=size=640x360:rate=25 -t 4 -c:v libx264 -preset ultrafast "$work/clip.mp4"
csrf=$(curl -fsS -c "$work/jar" -H 'content-type: application/json' \
  -d '{"email": "bench@example.org", "password": "a bench password", "display_name": "Bench"}' \
  "$url/api/v1/auth/signup" | json 'd["csrf_token"]')
made=$(curl -fsS -b "$work/jar" -H 'content-type: application/json' -H "x-csrf-token: $csrf" \
  -d "{\"title\": \"watched\", \"size\": $(stat -c %s "$work/clip.mp4")}" "$url/api/v1/videos")
id=$(echo "$made" | json 'd["video"]["id"]')
curl -fsS -X PATCH -H "authorization: Bearer $(echo "$made" | json 'd["upload"]["token"]')" \
  -H 'tus-resumable: 1.0.0' -H 'upload-offset: 0' -H 'content-type: application/offset+octet-stream' \
  --data-binary @"$work/clip.mp4" "$(echo "$made" | json 'd["upload"]["url"]')"
for _ in $(seq 600); do
  [ "$(curl -fsS "$url/api/v1/videos/$id" | json 'd["status"]')" = ready ] && break
  sleep 0.2
done

echo "== seeding $VIEWERS signed-in viewers (accounts and sessions)"
python3 - "$VIEWERS" "$work/viewers" "$work/seed.sql" <<'PY'
import hashlib, secrets, sys
n, headers, sql = int(sys.argv[1]), open(sys.argv[2], "w"), open(sys.argv[3], "w")
for i in range(n):
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    user = f"u_viewer{i:014d}"
    sql.write(f"INSERT INTO users (id, email, display_name, role, status, failed_signins, "
              f"locked_until_ms, created_at) VALUES ('{user}', 'viewer{i}@example.org', "
              f"'Viewer {i}', 'user', 'active', 0, 0, '2026-01-01T00:00:00Z');\n")
    sql.write(f"INSERT INTO sessions (token_hash, user_id, csrf, created_ms, expires_ms) VALUES "
              f"('{hashlib.sha256(token.encode()).hexdigest()}', '{user}', '{csrf}', 0, 4102444800000);\n")
    headers.write(f"Cookie: sunomi_session={token}\tX-CSRF-Token: {csrf}\t"
                  f"Content-Type: application/json\n")
PY
case $SUNOMI_DATABASE in
  sqlite://*) python3 -c "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.executescript(open(sys.argv[2]).read())" \
    "${SUNOMI_DATABASE#sqlite://}" "$work/seed.sql" ;;
  postgres*) psql "$SUNOMI_DATABASE" -q -f "$work/seed.sql" ;;
esac

echo "== a receipt: the watch page's ticket, the edge's answer to a segment under it"
page=$(curl -fsS "$url/watch/$id")
ticket=$(echo "$page" | grep -o 'data-view-ticket="[^"]*"' | cut -d'"' -f2)
master=$(echo "$page" | grep -o 'data-src="[^"]*"' | cut -d'"' -f2)
cmcd=$(python3 -c "import sys, urllib.parse; print(urllib.parse.quote('sid=\"' + sys.argv[1] + '\"', safe=''))" "$ticket")
media=$(curl -fsS "$master" | grep -v '^#' | head -n 1)
base=${master%/*}
segment=$(curl -fsS "$base/$media" | grep -v '^#' | head -n 1)
receipt=$(curl -fsS -D - -o /dev/null "$(dirname "$base/$media")/$segment?CMCD=$cmcd" \
  | tr -d '\r' | awk -F': ' 'tolower($1) == "sunomi-view-receipt" { print $2 }')
[ -n "$receipt" ] || { echo "no receipt from the edge" >&2; exit 1; }
sleep 3

half=$((VIEWERS / 2))
echo "== $VIEWERS viewers for $HAMMER: $half reading the video, $((VIEWERS - half)) sending view ticks"
"$bin/sunomi-bench" hammer --url "$url/api/v1/videos/$id" --connections "$half" \
  --duration "$HAMMER" --headers-file "$work/viewers" --out "$work/reads" 2>/dev/null \
  | grep -E "requests/s|latency|statuses|errors" | sed 's/^/   read: /' &
reads=$!
tail -n +$((half + 1)) "$work/viewers" > "$work/tickers"
"$bin/sunomi-bench" hammer --url "$url/api/v1/videos/$id/views" --connections "$((VIEWERS - half))" \
  --duration "$HAMMER" --headers-file "$work/tickers" --method POST \
  --body "{\"receipt\": \"$receipt\"}" --out "$work/ticks" 2>/dev/null \
  | grep -E "requests/s|latency|statuses|errors" | sed 's/^/   tick: /'
wait "$reads"
views=$(curl -fsS "$url/api/v1/videos/$id" | json 'd["views"]')
echo "== views counted from one receipt: $views (must be 1)"
[ "$views" = 1 ]
