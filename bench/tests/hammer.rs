//! `hammer` against an in-test HTTP server that counts what it serves: the report's counts,
//! bytes and statuses must be exact, and broken servers must give counted errors, not hangs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sunomi_bench::client::ErrorKind;
use sunomi_bench::hammer::{run, HammerConfig};
use sunomi_bench::report::{compare, Environment, Figures, Report, SCHEMA};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BODY: usize = 1000;

#[derive(Default)]
struct Served {
    requests: AtomicU64,
    body_bytes: AtomicU64,
    /// The `X-Viewer` headers seen on `/post`.
    viewers: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

async fn handle(mut sock: TcpStream, served: Arc<Served>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end + 4);
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < length {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..length).collect();
        let mut words = head.split_whitespace();
        let method = words.next().unwrap_or("").to_string();
        let path = words.next().unwrap_or("/").to_string();
        served.requests.fetch_add(1, Ordering::SeqCst);
        match path.as_str() {
            "/post" if method == "POST" && body == br#"{"a":1}"# => {
                if let Some(v) = header("x-viewer") {
                    served.viewers.lock().unwrap().insert(v);
                }
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                served.body_bytes.fetch_add(2, Ordering::SeqCst);
            }
            "/private"
                if head
                    .to_ascii_lowercase()
                    .contains("\r\nauthorization: bearer sk_1") =>
            {
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                served.body_bytes.fetch_add(2, Ordering::SeqCst);
            }
            "/ok" => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {BODY}\r\n\r\n");
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&[b'x'; BODY]).await;
                served.body_bytes.fetch_add(BODY as u64, Ordering::SeqCst);
            }
            "/missing" => {
                let _ = sock
                    .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope")
                    .await;
                served.body_bytes.fetch_add(4, Ordering::SeqCst);
            }
            "/slow" => {
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                    .await;
                for _ in 0..100 {
                    if sock.write_all(b"x").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            "/short" => {
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-ten!!")
                    .await;
                return;
            }
            _ => {
                let _ = sock
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
        }
    }
}

async fn server() -> (String, Arc<Served>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(Served::default());
    let s = served.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(handle(sock, s.clone()));
        }
    });
    (format!("http://{addr}"), served)
}

fn config(url: String, connections: usize, rate: Option<f64>, millis: u64) -> HammerConfig {
    HammerConfig {
        urls: vec![url],
        connections,
        rate,
        duration: Duration::from_millis(millis),
        // Generous, so a loaded CI machine never turns a success into a timeout.
        timeout: Duration::from_secs(5),
        headers: Vec::new(),
        connection_headers: Vec::new(),
        method: "GET".into(),
        body: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_counts_are_exact() {
    let (base, served) = server().await;
    let rec = run(&config(format!("{base}/ok"), 4, None, 500))
        .await
        .unwrap();
    assert!(rec.requests > 0);
    assert_eq!(rec.requests, served.requests.load(Ordering::SeqCst));
    assert_eq!(rec.bytes, served.body_bytes.load(Ordering::SeqCst));
    assert_eq!(rec.statuses.get(&200), Some(&rec.requests));
    assert_eq!(rec.error_count(), 0);
    assert_eq!(rec.per_second.iter().sum::<u64>(), rec.requests);
    assert_eq!(rec.latency.len(), rec.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_exactly_the_schedule() {
    let (base, served) = server().await;
    // 200 requests/s for 1 s over 2 connections: slots every 10 ms per connection.
    let rec = run(&config(format!("{base}/ok"), 2, Some(200.0), 1000))
        .await
        .unwrap();
    assert_eq!(rec.requests, 200);
    assert_eq!(served.requests.load(Ordering::SeqCst), 200);
    assert_eq!(rec.bytes, 200 * BODY as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_errors_are_counted_by_status() {
    let (base, served) = server().await;
    let rec = run(&config(format!("{base}/missing"), 2, None, 300))
        .await
        .unwrap();
    assert_eq!(rec.requests, served.requests.load(Ordering::SeqCst));
    assert_eq!(rec.statuses.get(&404), Some(&rec.requests));
    assert_eq!(rec.errors.get(&ErrorKind::Status), Some(&rec.requests));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_gives_connect_errors_not_a_hang() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let rec = run(&config(
        format!("http://127.0.0.1:{port}/ok"),
        2,
        Some(50.0),
        400,
    ))
    .await
    .unwrap();
    assert_eq!(rec.requests, 20);
    assert_eq!(rec.errors.get(&ErrorKind::Connect), Some(&20));
    assert!(rec.statuses.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_and_truncated_bodies_are_errors() {
    let (base, _) = server().await;
    let mut slow = config(format!("{base}/slow"), 2, None, 300);
    slow.timeout = Duration::from_millis(500);
    let rec = run(&slow).await.unwrap();
    assert!(rec.requests >= 2);
    assert_eq!(rec.errors.get(&ErrorKind::Timeout), Some(&rec.requests));
    let rec = run(&config(format!("{base}/short"), 1, Some(20.0), 250))
        .await
        .unwrap();
    assert_eq!(rec.requests, 5);
    assert_eq!(rec.errors.get(&ErrorKind::Truncated), Some(&5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_round_trip_and_compare_side_by_side() {
    let (base, _) = server().await;
    let cfg = config(format!("{base}/ok"), 1, Some(50.0), 200);
    let rec = run(&cfg).await.unwrap();
    let report = Report {
        schema: SCHEMA.into(),
        mode: "hammer".into(),
        started_unix: 0,
        inputs: serde_json::to_value(&cfg).unwrap(),
        environment: Environment::here(),
        figures: Figures::from_recorder(&rec, 0.2),
        requests_per_second_series: rec.per_second.clone(),
        bytes_per_second_series: rec.bytes_per_second.clone(),
        by_type: Default::default(),
        players: None,
        server: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = report.write(dir.path()).unwrap();
    let back = Report::read(&path).unwrap();
    assert_eq!(back.figures.requests, 10);
    let table = compare(&report, &back);
    assert!(table.contains("figures.requests "), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("figures.requests ") && l.trim_end().ends_with("1.000")),
        "{table}"
    );
    let mut other = back.clone();
    other.schema = "other/9".into();
    std::fs::write(
        dir.path().join("bad.json"),
        serde_json::to_vec(&other).unwrap(),
    )
    .unwrap();
    assert!(Report::read(&dir.path().join("bad.json")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_go_with_every_request_and_stay_out_of_reports() {
    let (base, _) = server().await;
    let mut c = config(format!("{base}/private"), 2, None, 300);
    c.headers = vec!["Authorization: Bearer sk_1".into()];
    let rec = run(&c).await.unwrap();
    assert!(rec.requests > 0);
    assert_eq!(
        rec.statuses.get(&200).copied(),
        Some(rec.requests),
        "{:?}",
        rec.statuses
    );
    let text = serde_json::to_string(&c).unwrap();
    assert!(
        !text.contains("sk_1"),
        "credentials must not reach a report: {text}"
    );
    c.headers = vec!["no colon".into()];
    assert!(run(&c).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_carry_their_body_and_each_connection_its_own_headers() {
    let (base, served) = server().await;
    let mut c = config(format!("{base}/post"), 4, None, 300);
    c.method = "POST".into();
    c.body = Some(r#"{"a":1}"#.into());
    c.connection_headers = vec![
        "X-Viewer: v0\tContent-Type: application/json".into(),
        "X-Viewer: v1\tContent-Type: application/json".into(),
    ];
    let rec = run(&c).await.unwrap();
    let f = Figures::from_recorder(&rec, 0.3);
    assert!(f.requests > 0);
    assert_eq!(f.errors, 0, "{f:?}");
    let seen: Vec<String> = served.viewers.lock().unwrap().iter().cloned().collect();
    assert_eq!(seen, ["v0", "v1"]);
    c.method = "NOT A METHOD".into();
    assert!(run(&c).await.is_err());
}
