//! `proxy`: a TCP proxy that injects faults between a server and its clients, for drills: a
//! delay added to every chunk sent upstream (slow storage), or down (new connections closed
//! at once, open ones cut: unreachable storage). Controlled over HTTP on its own address:
//! `POST /delay/{ms}`, `POST /down`, `POST /up`, `GET /` (the current state).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The faults in force.
struct Faults {
    delay_ms: AtomicU64,
    /// `true` while down; connections watch it to cut themselves.
    down: watch::Sender<bool>,
}

impl Faults {
    fn describe(&self) -> String {
        format!(
            "{{\"delay_ms\":{},\"down\":{}}}\n",
            self.delay_ms.load(Ordering::Relaxed),
            *self.down.borrow()
        )
    }
}

/// Runs the proxy from `listen` to `upstream`, controlled on `control`, until killed.
pub async fn run(
    listen: SocketAddr,
    upstream: SocketAddr,
    control: SocketAddr,
) -> std::io::Result<()> {
    let (down, _) = watch::channel(false);
    let faults = Arc::new(Faults {
        delay_ms: AtomicU64::new(0),
        down,
    });
    let clients = TcpListener::bind(listen).await?;
    let controls = TcpListener::bind(control).await?;
    let f = faults.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = controls.accept().await {
            let f = f.clone();
            tokio::spawn(async move {
                let _ = answer_control(stream, &f).await;
            });
        }
    });
    loop {
        let (client, _) = clients.accept().await?;
        if *faults.down.borrow() {
            drop(client);
            continue;
        }
        let faults = faults.clone();
        tokio::spawn(async move {
            let _ = relay(client, upstream, &faults).await;
        });
    }
}

/// Applies one control request and answers with the state.
async fn answer_control(mut stream: TcpStream, faults: &Faults) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") && len < buf.len() {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let status = match (method, path) {
        ("POST", "/down") => {
            faults.down.send_replace(true);
            "200 OK"
        }
        ("POST", "/up") => {
            faults.down.send_replace(false);
            "200 OK"
        }
        ("POST", p) if p.starts_with("/delay/") => match p["/delay/".len()..].parse::<u64>() {
            Ok(ms) => {
                faults.delay_ms.store(ms, Ordering::Relaxed);
                "200 OK"
            }
            Err(_) => "400 Bad Request",
        },
        ("GET", "/") => "200 OK",
        _ => "404 Not Found",
    };
    let body = faults.describe();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Relays one client connection, delaying what goes upstream and cutting it when down.
async fn relay(client: TcpStream, upstream: SocketAddr, faults: &Faults) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut down = faults.down.subscribe();
    let to_server = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = client_read.read(&mut buf).await?;
            if n == 0 {
                return server_write.shutdown().await;
            }
            let delay = faults.delay_ms.load(Ordering::Relaxed);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            server_write.write_all(&buf[..n]).await?;
        }
    };
    let to_client = tokio::io::copy(&mut server_read, &mut client_write);
    let cut = async {
        while !*down.borrow_and_update() {
            if down.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        r = async { tokio::try_join!(to_server, to_client).map(|_| ()) } => r,
        () = cut => Ok(()),
    }
}
