#!/usr/bin/env bash
# The packager is sans-I/O: its dependency tree must not reach an async runtime, a store,
# a server or FFmpeg.
set -euo pipefail
tree=$(cargo tree -p sunomi-packager -e normal --prefix none)
if grep -E '^(tokio|object_store|pingora|ffmpeg|redis|hyper|moka) ' <<<"$tree"; then
  echo "sunomi-packager must stay pure (no I/O crates), found the above" >&2
  exit 1
fi
# And the edge must not link FFmpeg.
if cargo tree -p sunomi-edge -e normal --prefix none | grep -E '^ffmpeg'; then
  echo "sunomi-edge must not link FFmpeg" >&2
  exit 1
fi
# And the bench speaks HTTP only: no workspace crate in its tree.
if cargo tree -p sunomi-bench -e normal --prefix none | grep -E '^sunomi-(packager|origin|edge|control) '; then
  echo "sunomi-bench must not depend on other workspace crates" >&2
  exit 1
fi
echo "packager is pure; edge does not link FFmpeg; bench is standalone"
