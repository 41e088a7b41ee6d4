#!/usr/bin/env python3
"""Memory an edge holds per idle TLS connection.

    deploy/local/tls-idle-memory.py EDGE_PID TLS_PORT [CONNECTIONS=2000] [PATH=/healthz-like path]

Opens CONNECTIONS TLS connections to 127.0.0.1:TLS_PORT (ALPN http/1.1, certificate not
checked), sends one GET for PATH on each and reads its response head, then leaves them idle
and prints the edge's resident memory (VmRSS) before and after, per connection. Run it
twice, with `[tls] release_buffers = false` (the default) and `true`, to see what keeping
OpenSSL's record buffers costs. The open-file limit must allow CONNECTIONS sockets.
"""
import socket
import ssl
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    pid, port = int(sys.argv[1]), int(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    path = sys.argv[4] if len(sys.argv) > 4 else "/"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    before = rss_kib(pid)
    open_connections = []
    for _ in range(count):
        raw = socket.create_connection(("127.0.0.1", port))
        tls = context.wrap_socket(raw, server_hostname="localhost")
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = tls.recv(65536)
            if not chunk:
                raise SystemExit("the edge closed a connection")
            head += chunk
        open_connections.append(tls)
    time.sleep(1)
    after = rss_kib(pid)
    print(f"VmRSS {before} KiB before, {after} KiB with {count} idle TLS connections: "
          f"{(after - before) / count:.1f} KiB per connection")


if __name__ == "__main__":
    main()
