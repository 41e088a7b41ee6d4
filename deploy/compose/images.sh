#!/usr/bin/env bash
# The images the compose platform runs besides Sunomi's own (deploy/docker/build.sh), built
# here from Debian's packages and crates.io, FROM a Debian root filesystem made by
# debootstrap (no image registry is needed, none is reachable on the machines this runs on):
#   localhost/sunomi-postgres:15   Debian's postgresql-15, initialised from POSTGRES_USER,
#                                  POSTGRES_PASSWORD and POSTGRES_DB on first start
#   localhost/sunomi-redis:7       Debian's redis-server
#   localhost/sunomi-nginx:1       Debian's nginx-light (the players' load balancer)
#   localhost/sunomi-prometheus:2  Debian's prometheus
#   localhost/sunomi-s3:latest     s3s-fs (an S3 API over a directory; FROM scratch)
# Skips an image that exists unless REBUILD=1. Needs root (buildah, debootstrap).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/deploy/local/apt-install.sh" podman buildah runc debootstrap
export BUILDAH_FORMAT=docker
cache=${SUNOMI_IMAGE_CACHE:-/var/tmp/sunomi-images}
mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
have() { [[ "${REBUILD:-0}" != 1 ]] && podman image exists "$1"; }

if ! have localhost/sunomi-debian:bookworm; then
  rm -rf "$cache/rootfs"
  mkdir -p "$cache"
  debootstrap --variant=minbase bookworm "$cache/rootfs" "$mirror" >/dev/null
  ctr=$(buildah from scratch)
  buildah copy --quiet "$ctr" "$cache/rootfs" / >/dev/null
  buildah commit --quiet --rm "$ctr" localhost/sunomi-debian:bookworm >/dev/null
  rm -rf "$cache/rootfs"
fi

# Image $1: Debian packages $2 installed, then the buildah config arguments that follow.
debian_image() {
  local name=$1 packages=$2 ctr
  shift 2
  have "$name" && return 0
  ctr=$(buildah from localhost/sunomi-debian:bookworm)
  buildah run --isolation chroot "$ctr" -- sh -c "apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null && \
    apt-get clean && rm -rf /var/lib/apt/lists/*"
  buildah config --label org.opencontainers.image.title="$name" "$@" "$ctr"
  buildah commit --quiet --rm "$ctr" "$name" >/dev/null
  echo "built $name"
}

debian_image localhost/sunomi-redis:7 redis-server \
  --user redis --entrypoint '["redis-server"]' --cmd '["--protected-mode", "no"]'
debian_image localhost/sunomi-nginx:1 nginx-light \
  --entrypoint '["nginx", "-g", "daemon off;"]' --cmd '[]'
debian_image localhost/sunomi-prometheus:2 "prometheus && mkdir -p /prometheus && chown prometheus: /prometheus" \
  --user prometheus --entrypoint '["prometheus"]' --cmd '[]'
if ! have localhost/sunomi-postgres:15; then
  ctr=$(buildah from localhost/sunomi-debian:bookworm)
  buildah run --isolation chroot "$ctr" -- sh -c "apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null && \
    apt-get clean && rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/postgresql/data /run/postgresql && \
    chown -R postgres:postgres /var/lib/postgresql /run/postgresql"
  buildah copy --quiet --chmod 0755 "$ctr" "$root/deploy/compose/postgres-entrypoint.sh" /usr/local/bin/postgres-entrypoint >/dev/null
  buildah config --user postgres --env PGDATA=/var/lib/postgresql/data/pgdata \
    --env PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin \
    --entrypoint '["/usr/local/bin/postgres-entrypoint"]' --cmd '["postgres"]' "$ctr"
  buildah commit --quiet --rm "$ctr" localhost/sunomi-postgres:15 >/dev/null
  echo "built localhost/sunomi-postgres:15"
fi
if ! have localhost/sunomi-s3:latest; then
  command -v s3s-fs >/dev/null || cargo install s3s-fs --version 0.14.1 --features binary
  dir=$(mktemp -d)
  bin=$(command -v s3s-fs)
  mkdir -p "$dir/usr/local/bin" "$dir/data/sunomi"
  cp "$bin" "$dir/usr/local/bin/s3s-fs"
  ldd "$bin" | awk '/=> \// { print $3 } /^[ \t]*\// { print $1 }' | sort -u | while read -r lib; do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
  chown -R 10001:10001 "$dir/data"
  ctr=$(buildah from scratch)
  buildah copy --quiet "$ctr" "$dir" / >/dev/null
  buildah config --user 10001:10001 --entrypoint '["/usr/local/bin/s3s-fs"]' --cmd '["/data"]' "$ctr"
  buildah commit --quiet --rm "$ctr" localhost/sunomi-s3:latest >/dev/null
  rm -rf "$dir"
  echo "built localhost/sunomi-s3:latest"
fi
podman image prune -f >/dev/null
