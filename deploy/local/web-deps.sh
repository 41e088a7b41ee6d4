#!/usr/bin/env bash
# The web app's third-party scripts (hls.js, tus-js-client) and its browser tests' driver
# (playwright-core, axe-core), from npm into control/web/node_modules: control/build.rs embeds
# the scripts into sunomi-control, so this runs before it is built. Installs Node and npm
# from Debian when missing. Idempotent (npm ci only when package-lock.json changed).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v npm >/dev/null || "$root/deploy/local/apt-install.sh" nodejs npm
cd "$root/control/web"
stamp=node_modules/.sunomi-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
