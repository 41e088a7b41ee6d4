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
