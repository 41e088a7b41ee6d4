# shellcheck shell=bash
# Sourced by the bench scripts: the nginx they compare against — one worker, sendfile on,
# access log off, HLS content types.
#   nginx_conf DIR HTTP_BODY [CONNECTIONS]
#                              writes DIR/nginx.conf (pid and logs under DIR) with HTTP_BODY
#                              (servers, module settings) in its http block; CONNECTIONS
#                              (default 4096) per worker, the open-file limit raised to fit
#   write_nginx_conf DIR PORT ROOT   the same with one static server of ROOT on PORT
nginx_conf() {
  local dir=$1 body=$2 conns=${3:-}
  local limit=""
  [ -n "$conns" ] && limit="worker_rlimit_nofile $((conns + 100));"
  mkdir -p "$dir/logs"
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
$limit
daemon on;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections ${conns:-4096}; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; video/mp4 mp4; }
$body
}
CONF
}

write_nginx_conf() {
  nginx_conf "$1" "  server { listen 127.0.0.1:$2; root $3; }"
}
