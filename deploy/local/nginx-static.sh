# Sourced by the bench scripts: the nginx they compare against — one worker, sendfile on,
# access log off, HLS content types.
#   write_nginx_conf DIR PORT ROOT   writes DIR/nginx.conf (pid and logs under DIR)
write_nginx_conf() {
  local dir=$1 port=$2 root=$3
  mkdir -p "$dir/logs"
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; video/mp4 mp4; }
  server { listen 127.0.0.1:$port; root $root; }
}
CONF
}
