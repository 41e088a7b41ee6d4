#!/usr/bin/env bash
# Builds the container images sunomi-edge:latest, sunomi-control:latest and sunomi-pictures:latest
# (the picture service, `sunomi-origin pictures`) (and :VERSION)
# with buildah, FROM scratch: each holds its release binary (stripped), the shared libraries
# it links (ldd's closure, from this Debian host), CA certificates and a non-root user
# (10001), and nothing else — no shell, no package manager. The control image adds the
# offline models (deploy/local/models.sh). Each image's entrypoint is its binary, with a
# HEALTHCHECK on /healthz through the binary's own `healthcheck` command.
#   BUILD=0  use the release binaries as they are      PRINT=1  print each image's size
# Needs root (rootful podman and buildah); writes /etc/containers/containers.conf when it is
# missing, as podman on these machines needs (deploy/README.md, "Images").
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
"$root/deploy/local/apt-install.sh" podman buildah runc binutils ca-certificates
if [[ ! -f /etc/containers/containers.conf ]]; then
  # crun cannot set RLIMIT_NOFILE/NPROC here; runc with cgroupfs works (podman flags below).
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n' > /etc/containers/containers.conf
fi
[[ "${BUILD:-1}" = 1 ]] && cargo build --release -q -p sunomi-edge -p sunomi-control -p sunomi-origin
models=$("$root/deploy/local/models.sh")
version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml)
[[ -n "$version" ]] || { echo "no [workspace.package] version in Cargo.toml" >&2; exit 1; }
# Docker's image format: OCI images cannot carry a HEALTHCHECK.
export BUILDAH_FORMAT=docker
revision=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A root filesystem in $1 holding binary $2 (stripped) and what it links.
rootfs() {
  local dir=$1 bin=$2 name
  name=$(basename "$bin")
  mkdir -p "$dir/usr/local/bin" "$dir/etc/ssl/certs" "$dir/tmp"
  chmod 1777 "$dir/tmp"
  objcopy --strip-debug "$bin" "$dir/usr/local/bin/$name"
  # Every library the binary links, at the path the dynamic loader looks in.
  ldd "$bin" | awk '/=> \// { print $3 } /^[ \t]*\// { print $1 }' | sort -u | while read -r lib; do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
  printf 'root:x:0:0::/root:/sbin/nologin\nsunomi:x:10001:10001::/nonexistent:/sbin/nologin\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nsunomi:x:10001:\n' > "$dir/etc/group"
}

# Commits the filesystem $2 as image $1 with the buildah config arguments that follow.
image() {
  local name=$1 dir=$2 ctr
  shift 2
  ctr=$(buildah from scratch)
  buildah copy --quiet "$ctr" "$dir" / >/dev/null
  buildah config \
    --user 10001:10001 \
    --label org.opencontainers.image.title="$name" \
    --label org.opencontainers.image.version="$version" \
    --label org.opencontainers.image.revision="$revision" \
    --healthcheck-interval 10s --healthcheck-timeout 5s --healthcheck-retries 3 \
    --healthcheck-start-period 10s \
    "$@" "$ctr"
  buildah commit --quiet --format docker --rm "$ctr" "localhost/$name:latest" >/dev/null
  buildah tag "localhost/$name:latest" "localhost/$name:$version"
  echo "built $name:latest and $name:$version ($(podman image inspect --format '{{.Size}}' "localhost/$name:latest" | numfmt --to=iec) )"
}

rootfs "$work/edge" "$CARGO_TARGET_DIR/release/sunomi-edge"
image sunomi-edge "$work/edge" \
  --entrypoint '["/usr/local/bin/sunomi-edge"]' --cmd '[]' \
  --env SUNOMI_LISTEN=0.0.0.0:8080 --env SUNOMI_ADMIN=0.0.0.0:9090 \
  --port 8080 --port 9090 \
  --healthcheck 'CMD /usr/local/bin/sunomi-edge healthcheck'

rootfs "$work/control" "$CARGO_TARGET_DIR/release/sunomi-control"
mkdir -p "$work/control/usr/local/share/sunomi/models" "$work/control/var/lib/sunomi"
cp "$models/whisper-base.bin" "$models/open-nsfw.onnx" "$work/control/usr/local/share/sunomi/models/"
chown 10001:10001 "$work/control/var/lib/sunomi"
image sunomi-control "$work/control" \
  --entrypoint '["/usr/local/bin/sunomi-control"]' --cmd '["serve"]' \
  --workingdir /var/lib/sunomi \
  --env SUNOMI_CONTROL_LISTEN=0.0.0.0:8000 --env SUNOMI_CONTROL_ADMIN=0.0.0.0:9091 \
  --env SUNOMI_MODELS=/usr/local/share/sunomi/models \
  --port 8000 --port 9091 \
  --healthcheck 'CMD /usr/local/bin/sunomi-control healthcheck'

rootfs "$work/pictures" "$CARGO_TARGET_DIR/release/sunomi-origin"
image sunomi-pictures "$work/pictures" \
  --entrypoint '["/usr/local/bin/sunomi-origin"]' --cmd '["pictures"]' \
  --env SUNOMI_PICTURES_LISTEN=0.0.0.0:9100 \
  --port 9100 \
  --healthcheck 'CMD /usr/local/bin/sunomi-origin healthcheck'
