//! The dashboards against a live Prometheus: a real `prometheus` scrapes two edges (a fleet
//! through Redis, one serving HTTPS) and a control plane while `sunomi-bench players` plays a
//! video through them, a purge crosses the fleet and a few requests fail; then every query
//! of every panel of `deploy/monitoring/grafana/dashboards/*.json` must return data. A
//! renamed or missing metric fails here, not on an operator's screen.

mod common;

#[path = "../../edge/tests/common/certs.rs"]
mod certs;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A Prometheus server scraping `jobs` (name, admin addresses) every second.
struct Prometheus {
    child: Child,
    base: String,
}

impl Prometheus {
    fn start(dir: &Path, jobs: &[(&str, Vec<String>)]) -> Prometheus {
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        for (job, targets) in jobs {
            let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
            config.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ));
        }
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "prometheus must be installed (Debian's prometheus package; make test installs it)",
            );
        let base = format!("http://127.0.0.1:{port}");
        wait_until(Duration::from_secs(30), "prometheus to be ready", || {
            http_status(&format!("{base}/-/ready")) == 200
        });
        Prometheus { child, base }
    }

    /// The result of instant query `expr` (its `data.result` array).
    fn query(&self, expr: &str) -> Vec<Value> {
        let encoded =
            percent_encoding::utf8_percent_encode(expr, percent_encoding::NON_ALPHANUMERIC);
        let r: Value = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/query?query={encoded}", self.base))
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null);
        assert_eq!(r["status"], "success", "{expr}: {r}");
        r["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dashboards() -> Vec<(PathBuf, Value)> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/monitoring/grafana/dashboards");
    let mut found: Vec<(PathBuf, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let v = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (p, v)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(found.len(), 2, "the edge and control dashboards");
    found
}

#[test]
fn every_dashboard_panel_has_data_from_a_live_fleet_and_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let redis = RedisServer::start();
    let secret = vec![(
        "SUNOMI_FLEET_SECRET".to_string(),
        "00112233445566778899aabbccddeeff".to_string(),
    )];
    let ca = certs::TestCa::new(&dir.path().join("tls"));
    let leaf = ca.leaf("edge", &["localhost", "127.0.0.1"]);
    let tls_addr = format!("127.0.0.1:{}", free_port());
    let mut tls_flags: Vec<String> = vec!["--redis".into(), redis.url()];
    tls_flags.extend(leaf.edge_flags(&tls_addr));
    let tls_flags: Vec<&str> = tls_flags.iter().map(String::as_str).collect();
    let edges = [
        Edge::start(&store, &tls_flags, &secret),
        Edge::start(&store, &["--redis", &redis.url()], &secret),
    ];
    let control = Control::start(Options {
        store: store.clone(),
        redis: Some(redis.url()),
        config: format!("edge_url = \"{}\"\n", edges[0].base),
        ..Default::default()
    });
    // Offline moderation, so the analysis panels have a stage to show.
    let config = format!(
        "models_dir = \"{}\"\n[transcode]\npreset = \"ultrafast\"\n[moderation]\nbackend = \"offline\"\n",
        models_dir().display()
    );
    let worker_admin = format!("127.0.0.1:{}", free_port());
    let _worker = worker_with(
        &store,
        &redis.url(),
        &config,
        &[],
        &["--admin", &worker_admin],
    );
    let api = control.api(&create_key(&store, &[]));

    let prometheus = Prometheus::start(
        dir.path(),
        &[
            (
                "sunomi-edge",
                edges
                    .iter()
                    .map(|e| e.admin.trim_start_matches("http://").to_string())
                    .collect(),
            ),
            (
                "sunomi-control",
                vec![
                    control.admin.trim_start_matches("http://").to_string(),
                    worker_admin.clone(),
                ],
            ),
        ],
    );

    // Uploads (a worker transcodes them), then players through both edges.
    let src = clip(dir.path(), "clip.mp4", 8.0);
    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_string();
    let pid = api.asset(&id)["playback_ids"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let master = format!("{}/v/{pid}/master.m3u8", edges[0].base);
    let hosts: Vec<String> = edges
        .iter()
        .map(|e| e.base.trim_start_matches("http://").to_string())
        .collect();
    let players = Command::new(sibling("sunomi-bench"))
        .args([
            "players",
            "--target",
            &master,
            "--players",
            "6",
            "--speed",
            "8",
        ])
        .args(["--duration", "12s", "--out"])
        .arg(dir.path().join("bench"))
        .arg("--edge")
        .args(&hosts)
        .output()
        .unwrap();
    assert!(
        players.status.success(),
        "{}",
        String::from_utf8_lossy(&players.stderr)
    );
    // HTTPS handshakes, a miss that 404s, and a purge that crosses the fleet.
    let https = format!("https://{tls_addr}/v/{pid}/master.m3u8");
    let curl = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(&ca.cert)
        .arg(&https)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "200");
    assert_eq!(
        http_status(&format!("{}/v/nosuchvideo/master.m3u8", edges[1].base)),
        404
    );
    for decision in ["block", "approve"] {
        let r = api.send(
            "POST",
            &format!("/api/v1/assets/{id}/moderation"),
            &[("content-type", "application/json")],
            serde_json::json!({ "decision": decision, "reason": "a drill" })
                .to_string()
                .into_bytes(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    // Every query of every panel returns data once Prometheus has scraped all this.
    let mut queries: Vec<(String, String)> = Vec::new();
    for (path, d) in dashboards() {
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let name = format!(
                    "{} / {}",
                    path.file_name().unwrap().to_string_lossy(),
                    p["title"].as_str().unwrap()
                );
                queries.push((name, t["expr"].as_str().unwrap().to_string()));
            }
        }
    }
    let mut empty: Vec<&(String, String)> = queries.iter().collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !empty.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
        empty.retain(|(_, expr)| prometheus.query(expr).is_empty());
    }
    assert!(
        empty.is_empty(),
        "panels whose query returned no data: {:#?}",
        empty
    );
    println!("{} panel queries answered", queries.len());
}
