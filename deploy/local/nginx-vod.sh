#!/usr/bin/env bash
# Builds the reference for the playlist and TLS benchmarks: nginx from source with
# Kaltura's nginx-vod-module compiled in (and TLS, HTTP/2), into $PREFIX (default
# ~/.cache/sunomi/nginx-vod). Neither is on a package registry, so the sources are given:
#
#   NGINX_SRC=DIR   a checkout of https://github.com/nginx/nginx (or an unpacked release)
#   VOD_SRC=DIR     a checkout of https://github.com/kaltura/nginx-vod-module
#
# Prints the path of the nginx binary. Needs a C compiler, libssl-dev and zlib1g-dev.
set -euo pipefail
: "${NGINX_SRC:?set NGINX_SRC to an nginx source tree}"
: "${VOD_SRC:?set VOD_SRC to an nginx-vod-module source tree}"
prefix=${PREFIX:-$HOME/.cache/sunomi/nginx-vod}
if [ -x "$prefix/sbin/nginx" ] && "$prefix/sbin/nginx" -V 2>&1 | grep -q nginx-vod-module; then
  echo "$prefix/sbin/nginx"; exit 0
fi
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cp -r "$NGINX_SRC/." "$build/nginx"
cp -r "$VOD_SRC/." "$build/nginx-vod-module"
cd "$build/nginx"
configure=./configure
[ -x "$configure" ] || configure=auto/configure # a git checkout keeps it under auto/
# No PCRE (no regex locations needed); -O2 like Debian's packages.
"$configure" --prefix="$prefix" --with-cc-opt="-O2" --with-threads --with-file-aio \
  --with-http_ssl_module --with-http_v2_module --without-http_rewrite_module \
  --add-module="$build/nginx-vod-module" >"$build/configure.log" 2>&1 \
  || { tail -20 "$build/configure.log" >&2; exit 1; }
make -j"$(nproc)" >"$build/make.log" 2>&1 || { tail -30 "$build/make.log" >&2; exit 1; }
make install >/dev/null
echo "$prefix/sbin/nginx"
