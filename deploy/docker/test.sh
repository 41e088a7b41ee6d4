#!/usr/bin/env bash
# The images, built and run (`make test`): the control container serves the API and
# transcodes an upload (the embedded queue: its own workers), the edge container serves the
# result (ffmpeg decodes it through the edge) and answers /readyz, the picture container draws
# a thumbnail the edge serves; all report healthy
# through their HEALTHCHECK; all run as a non-root user and the edge image has no shell.
# Prints each image's size and each container's start-to-ready time. The admin addresses are
# given by environment (SUNOMI_ADMIN, SUNOMI_CONTROL_ADMIN), as the HEALTHCHECK reads them.
#   BUILD=0  use the images as they are (skip deploy/docker/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
[[ "${BUILD:-1}" = 1 ]] && deploy/docker/build.sh
podman=(podman --runtime runc --cgroup-manager=cgroupfs)
work=$(mktemp -d)
names=()
cleanup() {
  for n in "${names[@]}"; do "${podman[@]}" rm -f "$n" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image test: $*" >&2; for n in "${names[@]}"; do "${podman[@]}" logs "$n" 2>&1 | tail -n 20 >&2; done; exit 1; }
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ms() { date +%s%3N; }
wait_ok() { # URL SECONDS
  local deadline=$(( $(date +%s) + $2 ))
  until curl -fs -o /dev/null "$1"; do
    [[ $(date +%s) -lt $deadline ]] || return 1
    sleep 0.1
  done
}

binary() { case $1 in sunomi-pictures) echo sunomi-origin ;; *) echo "$1" ;; esac; }
for image in sunomi-edge sunomi-control sunomi-pictures; do
  user=$("${podman[@]}" image inspect --format '{{.Config.User}}' "localhost/$image:latest")
  [[ "$user" = 10001:10001 ]] || fail "$image runs as '$user', not 10001:10001"
  health=$("${podman[@]}" image inspect --format '{{json .Config.Healthcheck.Test}}' "localhost/$image:latest")
  [[ "$health" == "[\"CMD\",\"/usr/local/bin/$(binary "$image")\",\"healthcheck\"]" ]] \
    || fail "$image's HEALTHCHECK is not its binary's healthcheck: $health"
  size=$("${podman[@]}" image inspect --format '{{.Size}}' "localhost/$image:latest")
  echo "$image: $(numfmt --to=iec "$size") ($size bytes), user $user"
done
if "${podman[@]}" run --rm --entrypoint /bin/sh localhost/sunomi-edge:latest -c true >/dev/null 2>&1; then
  fail "the edge image has a shell"
fi

mkdir -p "$work/store" "$work/data"
chown -R 10001:10001 "$work/store" "$work/data"
api=$(port); cadmin=$(port); http=$(port); eadmin=$(port); pictures=$(port)

started=$(ms)
names+=(sunomi-test-control-$$)
"${podman[@]}" run -d --log-level=fatal --name "${names[-1]}" --network host \
  -v "$work/store:/store" -v "$work/data:/data" \
  -e SUNOMI_DATABASE=sqlite:///data/control.db -e SUNOMI_CONTROL_ADMIN="127.0.0.1:$cadmin" \
  localhost/sunomi-control:latest serve --store /store \
  --listen "127.0.0.1:$api" --edge-url "http://127.0.0.1:$http" >/dev/null
wait_ok "http://127.0.0.1:$cadmin/readyz" 60 || fail "the control container never became ready"
echo "control container: ready $(( $(ms) - started )) ms after start"

secret=$(openssl rand -hex 16)
started=$(ms)
names+=(sunomi-test-pictures-$$)
"${podman[@]}" run -d --log-level=fatal --name "${names[-1]}" --network host -v "$work/store:/store:ro" \
  -e SUNOMI_PICTURES_LISTEN="127.0.0.1:$pictures" -e SUNOMI_PICTURES_SECRET="$secret" \
  localhost/sunomi-pictures:latest pictures --store /store >/dev/null
wait_ok "http://127.0.0.1:$pictures/healthz" 60 || fail "the picture container never became ready"
echo "picture container: ready $(( $(ms) - started )) ms after start"

started=$(ms)
names+=(sunomi-test-edge-$$)
"${podman[@]}" run -d --log-level=fatal --name "${names[-1]}" --network host -v "$work/store:/store:ro" \
  -e SUNOMI_ADMIN="127.0.0.1:$eadmin" -e SUNOMI_PICTURES_SECRET="$secret" \
  localhost/sunomi-edge:latest --store /store --listen "127.0.0.1:$http" \
  --pictures "http://127.0.0.1:$pictures" >/dev/null
wait_ok "http://127.0.0.1:$eadmin/readyz" 60 || fail "the edge container never became ready"
echo "edge container: ready $(( $(ms) - started )) ms after start"

# The control container transcodes an upload with its own workers.
key=$("${podman[@]}" exec "${names[0]}" /usr/local/bin/sunomi-control keys create \
  --store /store --database sqlite:///data/control.db --name image-test | tail -n 1)
ffmpeg -v error -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440 \
  -t 4 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac "$work/clip.mp4"
url=$("$CARGO_TARGET_DIR/debug/sunomi-control" upload "$work/clip.mp4" \
  --api "http://127.0.0.1:$api" --key "$key" --wait | grep -o "http[^ ]*master.m3u8" | tail -n 1)
[[ "$url" == "http://127.0.0.1:$http/v/"*"/master.m3u8" ]] || fail "no playback URL: $url"
ffmpeg -v error -i "$url" -f null - || fail "ffmpeg could not decode $url through the edge container"
echo "transcoded in the control container, played through the edge container: $url"
thumb="${url%master.m3u8}thumbnail.jpg?time=1&width=320"
curl -fsS -o "$work/thumb.jpg" "$thumb" || fail "no thumbnail through the edge and picture containers"
[[ $(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height -of csv=p=0 "$work/thumb.jpg") == mjpeg,320,180 ]] \
  || fail "the thumbnail is not a 320x180 JPEG"
echo "drawn by the picture container, served by the edge container: $thumb"

# Without systemd podman cannot schedule the checks (it says so), but runs one when asked.
for n in "${names[@]}"; do
  "${podman[@]}" healthcheck run "$n" >/dev/null 2>&1 || fail "$n is not healthy"
done
echo "every container healthy (HEALTHCHECK)"
