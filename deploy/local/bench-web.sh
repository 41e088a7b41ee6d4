#!/usr/bin/env bash
# The web app's server time, release build, same machine: the home page and a search with
# VIDEOS public videos (10,000) of USERS accounts (1,000), each with CUES caption cues (5),
# in the database — one real video uploaded and transcoded, its rows copied by SQL (the
# search indexes filled by their triggers, as in production) — under 50 connections for
# HAMMER (sunomi-bench hammer): requests/s, p50, p99. The search is the page (videos and
# moments) and the JSON API.
#   VIDEOS=10000 USERS=1000 CUES=5 HAMMER=10s QUERY=travel CONNECTIONS=50
#   DATABASE=sqlite://… (default: a SQLite file in the work folder) or postgres://…
#   BUILD=0   use the release binaries as they are
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
VIDEOS=${VIDEOS:-10000}
USERS=${USERS:-1000}
CUES=${CUES:-5}
CONNECTIONS=${CONNECTIONS:-50}
HAMMER=${HAMMER:-10s}
QUERY=${QUERY:-travel}
bin=$CARGO_TARGET_DIR/release
[ "${BUILD:-1}" = 1 ] && cargo build --release -q -p sunomi-control -p sunomi-bench
work=$(mktemp -d)
export SUNOMI_DATABASE=${DATABASE:-sqlite://$work/control.db}
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ "${KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
url=http://127.0.0.1:$port
"$bin/sunomi-control" serve --store "$work/store" --listen "127.0.0.1:$port" > "$work/control.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "$url/" >/dev/null 2>&1 && break; sleep 0.1; done

json() { python3 -c "import sys, json; d = json.load(sys.stdin); print($1)"; }
ffmpeg -v error -y -f lavfi -i testsrc2=size=640x360:rate=25 -t 2 -c:v libx264 -preset ultrafast "$work/clip.mp4"
csrf=$(curl -fsS -c "$work/jar" -H 'content-type: application/json' \
  -d '{"email": "bench@example.org", "password": "a bench password", "display_name": "Bench"}' \
  "$url/api/v1/auth/signup" | json 'd["csrf_token"]')
made=$(curl -fsS -b "$work/jar" -H 'content-type: application/json' -H "x-csrf-token: $csrf" \
  -d "{\"title\": \"seed\", \"size\": $(stat -c %s "$work/clip.mp4")}" "$url/api/v1/videos")
one=$(echo "$made" | json 'd["video"]["id"]')
curl -fsS -X PATCH -H "authorization: Bearer $(echo "$made" | json 'd["upload"]["token"]')" \
  -H 'tus-resumable: 1.0.0' -H 'upload-offset: 0' -H 'content-type: application/offset+octet-stream' \
  --data-binary @"$work/clip.mp4" "$(echo "$made" | json 'd["upload"]["url"]')"
for _ in $(seq 600); do
  [ "$(curl -fsS "$url/api/v1/videos/$one" | json 'd["status"]')" = ready ] && break
  sleep 0.2
done

echo "== seeding $VIDEOS videos of $USERS accounts (copies of $one)"
topic="CASE i % 3 WHEN 0 THEN 'cooking' WHEN 1 THEN 'travel' ELSE 'music' END"
case $SUNOMI_DATABASE in
  sqlite://*)
    python3 - "${SUNOMI_DATABASE#sqlite://}" <<PY
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $VIDEOS) "
db.execute(n + "INSERT INTO assets (id, status, created_at, updated_at, event_seq, version, doc) "
  "SELECT printf('bench%019d', i), status, strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + i, 'unixepoch'), "
  "updated_at, event_seq, version, replace(doc, '$one', printf('bench%019d', i)) FROM n, assets WHERE id = '$one'")
db.execute(n + "INSERT INTO users (id, email, display_name, password_hash, role, status, failed_signins, "
  "locked_until_ms, created_at) SELECT printf('u_bench%015d', i), printf('person%d@example.org', i), "
  "printf('Person %d', i), NULL, 'user', 'active', 0, 0, '2026-01-01T00:00:00Z' FROM n WHERE i <= $USERS")
db.execute(n + "INSERT INTO videos (asset_id, owner_id, title, description, visibility, created_at) "
  "SELECT printf('bench%019d', i), printf('u_bench%015d', 1 + i % $USERS), "
  "printf('Video %d about %s', i, $topic), 'A benchmark video.', 'public', "
  "strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + i, 'unixepoch') FROM n")
db.execute(n + ", c(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM c WHERE j + 1 < $CUES) "
  "INSERT INTO transcript_cues (video_id, language, start_ms, end_ms, text) "
  "SELECT printf('bench%019d', i), 'en', j * 4000, j * 4000 + 4000, "
  "printf('and then in part %d we talk about %s number %d', j, $topic, i) FROM n, c")
db.commit()
PY
    ;;
  postgres*)
    psql "$SUNOMI_DATABASE" -q <<SQL
INSERT INTO assets (id, status, created_at, updated_at, event_seq, version, doc)
  SELECT 'bench' || lpad(i::text, 19, '0'), status, to_char(to_timestamp(1700000000 + i) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         updated_at, event_seq, version, replace(doc, '$one', 'bench' || lpad(i::text, 19, '0'))
  FROM generate_series(1, $VIDEOS) AS i, assets WHERE id = '$one';
INSERT INTO users (id, email, display_name, password_hash, role, status, failed_signins, locked_until_ms, created_at)
  SELECT 'u_bench' || lpad(i::text, 15, '0'), 'person' || i || '@example.org', 'Person ' || i, NULL, 'user', 'active', 0, 0, '2026-01-01T00:00:00Z'
  FROM generate_series(1, $USERS) AS i;
INSERT INTO videos (asset_id, owner_id, title, description, visibility, created_at)
  SELECT 'bench' || lpad(i::text, 19, '0'), 'u_bench' || lpad((1 + i % $USERS)::text, 15, '0'),
         'Video ' || i || ' about ' || ($topic), 'A benchmark video.', 'public',
         to_char(to_timestamp(1700000000 + i) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
  FROM generate_series(1, $VIDEOS) AS i;
INSERT INTO transcript_cues (video_id, language, start_ms, end_ms, text)
  SELECT 'bench' || lpad(i::text, 19, '0'), 'en', j * 4000, j * 4000 + 4000,
         'and then in part ' || j || ' we talk about ' || ($topic) || ' number ' || i
  FROM generate_series(1, $VIDEOS) AS i, generate_series(0, $CUES - 1) AS j;
ANALYZE;
SQL
    ;;
esac
curl -fsS "$url/" | grep -o 'class="card"' | wc -l | xargs echo "   cards on the home page:"
for path in "/" "/search?q=$QUERY" "/api/v1/search?q=$QUERY" "/api/v1/search/suggestions?q=${QUERY:0:3}"; do
  echo "== GET $path, $CONNECTIONS connections, $HAMMER"
  "$bin/sunomi-bench" hammer --url "$url$path" --connections "$CONNECTIONS" --duration "$HAMMER" \
    --out "$work/hammer" 2>/dev/null | grep -E "requests/s|latency|statuses"
done
