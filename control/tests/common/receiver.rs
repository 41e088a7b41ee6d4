//! A webhook receiver for tests: a plain HTTP/1.1 listener that records what it gets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A received request: its headers (lower-case names) and body.
pub type Received = (Vec<(String, String)>, String);

/// A webhook receiver: records each request (headers, body) and answers 204 — or, with
/// `fail_first`, 500 to the first delivery of every message.
pub struct Receiver {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn start(fail_first: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut headers = Vec::new();
                // Only whole requests count: a sender killed mid-request (the crash tests
                // kill control at every step) leaves a connection that ends early, which
                // no receiver would take as a delivery.
                let mut head_complete = false;
                loop {
                    let mut h = String::new();
                    match reader.read_line(&mut h) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    if h.trim().is_empty() {
                        head_complete = true;
                        break;
                    }
                    if let Some((k, v)) = h.trim().split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                if line.trim().is_empty() || !head_complete {
                    continue;
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let id = headers
                    .iter()
                    .find(|(k, _)| k == "webhook-id")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let mut all = log.lock().unwrap();
                let first = !all
                    .iter()
                    .any(|(h, _)| h.iter().any(|(k, v)| k == "webhook-id" && v == &id));
                all.push((headers, String::from_utf8_lossy(&body).into_owned()));
                drop(all);
                let status = if first && fail_first {
                    "500 Internal Server Error"
                } else {
                    "204 No Content"
                };
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, seen }
    }
}

impl Receiver {
    /// Has every message received verified by the Standard Webhooks library with `secret`
    /// (`tests/judges/webhook_judge.py`, which also checks that a tampered copy fails);
    /// panics otherwise. Returns the verified messages' types, one a line. `dir` holds the
    /// judge's input file.
    pub fn judged(&self, secret: &str, dir: &std::path::Path) -> String {
        self.judge(secret, dir, |_| true).unwrap_or_else(|e| {
            panic!(
                "messages to {} that {secret} does not verify: {e}",
                self.url
            )
        })
    }

    /// What the judge says of the messages received that `which` picks: their types, one a
    /// line, when `secret` verifies every one of them; why not otherwise.
    pub fn judge(
        &self,
        secret: &str,
        dir: &std::path::Path,
        which: impl Fn(&Received) -> bool,
    ) -> Result<String, String> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut lines = String::new();
        for (headers, body) in seen.iter().filter(|r| which(r)) {
            let h: serde_json::Map<String, serde_json::Value> = headers
                .iter()
                .filter(|(k, _)| k.starts_with("webhook-"))
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            assert_eq!(
                h.len(),
                3,
                "webhook-id, -timestamp, -signature: {headers:?}"
            );
            lines.push_str(&serde_json::json!({ "headers": h, "body": body }).to_string());
            lines.push('\n');
        }
        let file = dir.join(format!("messages-{}.jsonl", super::free_port()));
        std::fs::write(&file, lines).expect("writing the judge's input");
        let out = std::process::Command::new(super::python())
            .arg(super::judge("webhook_judge.py"))
            .arg(secret)
            .arg(&file)
            .output()
            .expect("running the webhook judge");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}
