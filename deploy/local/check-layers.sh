#!/usr/bin/env bash
# The control plane's layers (ARCHITECTURE.md, "Layers"): its domain (control/src/domain/)
# does no I/O. It may use the other domain modules, serde, utoipa and pure crypto; it must
# not reach the adapters, the services, the HTTP layer or any I/O crate.
set -euo pipefail
cd "$(dirname "$0")/../../control/src/domain"
bad=$(grep -nE '\bcrate::(app|db|http|queue|records|relay|deliveries|keyring|ingest|pipeline|worker|direct|events|analysis|outbound|keycheck|client|metrics|config|failpoint)\b|\b(tokio|sqlx|object_store|reqwest|redis|axum|hyper|hyper_util|aws_sdk_[a-z]+|aws_config|ffmpeg_next|sunomi_origin|std::(fs|net|process|thread|time::(Instant|SystemTime)))\b' -- *.rs | grep -vE '^[a-z_]+\.rs:[0-9]+:\s*//' || true)
if [ -n "$bad" ]; then
  echo "control/src/domain must do no I/O and depend on no other layer; found:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "control's domain does no I/O"

# Services own their adapters; App (app.rs) only builds them. No service and no handler names
# App, and handlers reach the database only through services (types of db/ rows are fine;
# calling into db/ or holding a pool is not).
cd ..
bad=$(grep -nE 'crate::app::(\{[^}]*\bApp\b|App\b)|Arc<App>|&App\b|\bApp::[a-z]' -- services/*.rs ingest.rs keyring.rs deliveries.rs http/*.rs web/*.rs \
  | grep -vE '^http/mod\.rs:' | grep -vE '^[a-z_/]+\.rs:[0-9]+:\s*//' || true)
if [ -n "$bad" ]; then
  echo "services and handlers must not depend on App (take the services you use); found:" >&2
  echo "$bad" >&2
  exit 1
fi
bad=$(for f in http/*.rs web/*.rs; do
  # The handlers, not their unit tests (which set up a database to test against).
  awk -v f="$f" '/^#\[cfg\(test\)\]/ { exit } { print f ":" FNR ":" $0 }' "$f"
done | grep -E '\bdb::[a-z_]+::[a-z_]+\(|\.db\b|\bstore::[a-z_]+\(' \
  | grep -vE '^[a-z_/]+\.rs:[0-9]+:\s*//' || true)
if [ -n "$bad" ]; then
  echo "HTTP handlers must reach the database through a service; found:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "control's services and handlers do not depend on App or reach past a service"
