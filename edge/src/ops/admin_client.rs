//! A minimal client of an edge's own admin listener, for the commands run next to it where
//! no HTTP client is installed (the image has no shell and no curl): `sunomi-edge leave`
//! (a pod's preStop) and `sunomi-edge healthcheck` (the image's HEALTHCHECK). One request
//! per connection, HTTP/1.1, `Connection: close`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Why a call to the admin listener failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminCallError {
    /// Connecting, writing or reading failed.
    #[error("admin listener {addr}: {source}")]
    Io {
        /// The address called.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
    /// The answer was not HTTP.
    #[error("admin listener {0}: the answer is not HTTP")]
    NotHttp(SocketAddr),
}

/// `addr` as a client reaches it from the same host: a listener on the unspecified address
/// (`0.0.0.0`, `[::]`) is called on loopback.
pub fn local(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let loopback = if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(loopback, addr.port())
    } else {
        addr
    }
}

/// `method path` on the admin listener at `addr` (with `token` as a bearer token when
/// given): the status and the status line.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Result<(u16, String), AdminCallError> {
    let io = |source| AdminCallError::Io { addr, source };
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(io)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut answer = Vec::new();
    conn.take(64 * 1024).read_to_end(&mut answer).map_err(io)?;
    let text = String::from_utf8_lossy(&answer);
    let line = text.lines().next().unwrap_or("").to_string();
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or(AdminCallError::NotHttp(addr))?;
    Ok((status, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_called_on_loopback() {
        let any: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        assert_eq!(local(any), "127.0.0.1:9090".parse().unwrap());
        let any6: SocketAddr = "[::]:9090".parse().unwrap();
        assert_eq!(local(any6), "[::1]:9090".parse().unwrap());
        let given: SocketAddr = "10.0.0.5:9090".parse().unwrap();
        assert_eq!(local(given), given);
    }

    #[test]
    fn a_status_line_is_read_and_anything_else_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.1 503 Service Unavailable\r\n\r\nleaving\n",
                "hello\n",
            ] {
                let (mut s, _) = listener.accept().unwrap();
                // The whole request is read first: closing with unread bytes resets.
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).unwrap();
                    request.extend_from_slice(&buf[..n]);
                }
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        let (status, line) = call(addr, "GET", "/readyz", None).unwrap();
        assert_eq!(status, 503);
        assert_eq!(line, "HTTP/1.1 503 Service Unavailable");
        assert!(matches!(
            call(addr, "GET", "/readyz", None),
            Err(AdminCallError::NotHttp(_))
        ));
        server.join().unwrap();
    }
}
