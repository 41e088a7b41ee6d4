//! Simulated players against an in-test HLS server: ABR steps down on a capped link, stalls
//! are seen when segments arrive late, broken playlists give clear failures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sunomi_bench::players::{run, PlayerConfig};
use sunomi_bench::workload::{Arrival, Popularity, Scenario};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A 3-rung VOD: rungs of 80k, 240k and 800k b/s, `segments` segments of 0.5 s each.
struct Hls {
    segments: usize,
    /// Segments actually served (the rest of the listed ones answer 404).
    existing: usize,
    segment_delay: Duration,
    served: AtomicU64,
}

const RUNGS: [u64; 3] = [80_000, 240_000, 800_000];
const SEGMENT_SECS: f64 = 0.5;

impl Hls {
    fn respond(&self, path: &str) -> Option<(Vec<u8>, bool)> {
        if path == "/v/master.m3u8" {
            let mut m = String::from("#EXTM3U\n");
            for (i, b) in RUNGS.iter().enumerate() {
                m.push_str(&format!(
                    "#EXT-X-STREAM-INF:BANDWIDTH={b}\nr{i}/media.m3u8\n"
                ));
            }
            return Some((m.into_bytes(), false));
        }
        if path == "/bad/master.m3u8" {
            return Some((b"this is not a playlist".to_vec(), false));
        }
        let rest = path.strip_prefix("/v/r")?;
        let (rung, file) = rest.split_once('/')?;
        let rung: usize = rung.parse().ok()?;
        let bandwidth = *RUNGS.get(rung)?;
        if file == "media.m3u8" {
            let mut m = String::from(
                "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MAP:URI=\"init.mp4\"\n",
            );
            for n in 0..self.segments {
                m.push_str(&format!("#EXTINF:{SEGMENT_SECS:.3},\n{n}.m4s\n"));
            }
            m.push_str("#EXT-X-ENDLIST\n");
            return Some((m.into_bytes(), false));
        }
        if file == "init.mp4" {
            return Some((vec![0; 500], false));
        }
        let n: usize = file.strip_suffix(".m4s")?.parse().ok()?;
        (n < self.existing).then(|| {
            (
                vec![1; (bandwidth as f64 * SEGMENT_SECS / 8.0) as usize],
                true,
            )
        })
    }
}

async fn handle(mut sock: TcpStream, hls: Arc<Hls>) {
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
        let target = head.split_whitespace().nth(1).unwrap_or("/");
        let path = target.split('?').next().unwrap_or("/").to_string();
        hls.served.fetch_add(1, Ordering::SeqCst);
        let (status, body) = match hls.respond(&path) {
            Some((body, is_segment)) => {
                if is_segment {
                    tokio::time::sleep(hls.segment_delay).await;
                }
                ("200 OK", body)
            }
            None => ("404 Not Found", Vec::new()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if sock.write_all(head.as_bytes()).await.is_err() || sock.write_all(&body).await.is_err() {
            return;
        }
    }
}

async fn server(segments: usize, segment_delay: Duration) -> (String, Arc<Hls>) {
    server_with(segments, segments, segment_delay).await
}

async fn server_with(
    segments: usize,
    existing: usize,
    segment_delay: Duration,
) -> (String, Arc<Hls>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hls = Arc::new(Hls {
        segments,
        existing,
        segment_delay,
        served: AtomicU64::new(0),
    });
    let h = hls.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(handle(sock, h.clone()));
        }
    });
    (format!("http://{addr}"), hls)
}

fn config(target: String, players: usize, bandwidth_bps: Option<f64>) -> PlayerConfig {
    PlayerConfig {
        targets: vec![target],
        scenario: Scenario {
            name: "test".into(),
            arrival: Arrival::AllAtOnce,
            popularity: Popularity::RoundRobin,
            single_title: false,
        },
        seed: 1,
        players,
        duration: Duration::from_secs(20),
        speed: 1.0,
        bandwidth_bps,
        start_buffer_secs: SEGMENT_SECS,
        max_buffer_secs: 30.0,
        edges: Vec::new(),
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncapped_players_climb_to_the_top_rung_and_never_stall() {
    let (base, hls) = server(8, Duration::ZERO).await;
    let result = run(&config(format!("{base}/v/master.m3u8"), 3, None))
        .await
        .unwrap();
    assert_eq!(result.sessions.len(), 3);
    for s in &result.sessions {
        assert_eq!(s.failure, None);
        assert_eq!(s.stalls, 0);
        assert!(s.startup_secs.is_some());
        assert_eq!(s.segments_by_rung.values().sum::<u64>(), 8);
        assert!(
            s.segments_by_rung.get(&2).copied().unwrap_or(0) >= 6,
            "{:?}",
            s.segments_by_rung
        );
    }
    let total: u64 = result.by_type.values().map(|r| r.requests).sum();
    assert_eq!(
        total,
        hls.served.load(Ordering::SeqCst),
        "every request counted"
    );
    assert_eq!(result.by_type["segment"].requests, 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_link_makes_abr_pick_a_lower_rung() {
    let (base, _) = server(8, Duration::ZERO).await;
    // 400 kb/s: the 240k rung fits (0.95 × 400k), the 800k rung does not.
    let result = run(&config(format!("{base}/v/master.m3u8"), 1, Some(400_000.0)))
        .await
        .unwrap();
    let s = &result.sessions[0];
    assert_eq!(s.failure, None);
    assert_eq!(s.segments_by_rung.get(&2), None, "{:?}", s.segments_by_rung);
    assert!(
        s.segments_by_rung.get(&1).copied().unwrap_or(0) >= 5,
        "{:?}",
        s.segments_by_rung
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_segments_are_seen_as_stalls() {
    // Each 0.5 s segment takes 0.8 s to arrive: playback must stall.
    let (base, _) = server(4, Duration::from_millis(800)).await;
    let result = run(&config(format!("{base}/v/master.m3u8"), 1, None))
        .await
        .unwrap();
    let s = &result.sessions[0];
    assert_eq!(s.failure, None);
    assert!(s.stalls >= 2, "{s:?}");
    assert!(s.stall_secs > 0.3, "{s:?}");
    assert!(
        s.rebuffer_ratio() > 0.1 && s.rebuffer_ratio() < 1.0,
        "{s:?}"
    );
    assert!(s.startup_secs.unwrap_or(0.0) >= 0.8, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_targets_fail_clearly() {
    let (base, _) = server(2, Duration::ZERO).await;
    let result = run(&config(format!("{base}/bad/master.m3u8"), 1, None))
        .await
        .unwrap();
    assert!(result.sessions[0]
        .failure
        .as_deref()
        .unwrap_or("")
        .contains("multivariant playlist"));
    let result = run(&config(format!("{base}/nothing/master.m3u8"), 1, None))
        .await
        .unwrap();
    assert!(result.sessions[0]
        .failure
        .as_deref()
        .unwrap_or("")
        .contains("404"));
    // Segments that do not exist: the player retries with hls.js's backoff (scaled by the
    // playback speed), then gives up.
    let (holes, _) = server_with(4, 1, Duration::ZERO).await;
    let fast = PlayerConfig {
        speed: 10.0,
        ..config(format!("{holes}/v/master.m3u8"), 1, None)
    };
    let result = run(&fast).await.unwrap();
    let failure = result.sessions[0].failure.clone().unwrap_or_default();
    assert!(failure.contains("segment 1 failed 7 times"), "{failure}");
    assert_eq!(result.by_type["segment"].errors.values().sum::<u64>(), 7);
    assert_eq!(result.sessions[0].visible_failures, 7);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = run(&config(
        format!("http://127.0.0.1:{port}/v/master.m3u8"),
        1,
        None,
    ))
    .await
    .unwrap();
    assert!(result.sessions[0]
        .failure
        .as_deref()
        .unwrap_or("")
        .contains("Connect"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zipf_catalog_sends_more_players_to_popular_titles() {
    let (base, _) = server(2, Duration::ZERO).await;
    let mut cfg = config(format!("{base}/v/master.m3u8"), 60, None);
    // Three "titles" (the same content under query strings, so the server need not change).
    cfg.targets = (0..3)
        .map(|i| format!("{base}/v/master.m3u8?t={i}"))
        .collect();
    cfg.scenario.popularity = Popularity::Zipf { alpha: 1.5 };
    cfg.scenario.arrival = Arrival::Ramp { seconds: 0.5 };
    let result = run(&cfg).await.unwrap();
    assert_eq!(result.sessions.len(), 60);
    assert!(result.sessions.iter().all(|s| s.failure.is_none()));
    assert_eq!(result.by_type["master"].requests, 60);
    let mut per_title = [0; 3];
    for s in &result.sessions {
        per_title[s.title] += 1;
    }
    assert!(
        per_title[0] > per_title[1] && per_title[1] >= per_title[2],
        "{per_title:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_is_tried_once_on_the_next_edge_and_the_player_stays_there() {
    let (base, hls) = server(3, Duration::ZERO).await;
    let good = base.trim_start_matches("http://").to_string();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    // Player 0 starts on the dead edge, player 1 on the good one.
    let mut c = config(format!("{base}/v/master.m3u8"), 2, None);
    c.edges = vec![dead.clone(), good];
    c.speed = 10.0;
    let result = run(&c).await.unwrap();
    let (first, second) = (&result.sessions[0], &result.sessions[1]);
    assert_eq!(first.failure, None, "{first:?}");
    assert_eq!(first.failovers, 1, "one failover, then it stays: {first:?}");
    assert_eq!(first.visible_failures, 0, "{first:?}");
    assert_eq!(second.failovers, 0, "{second:?}");
    assert!(hls.served.load(std::sync::atomic::Ordering::Relaxed) > 0);

    // Every edge down: each request fails on both, which the viewer sees.
    let mut c = config(format!("http://{dead}/v/master.m3u8"), 1, None);
    c.edges = vec![dead.clone(), dead];
    let result = run(&c).await.unwrap();
    let s = &result.sessions[0];
    assert!(s.failure.is_some());
    assert_eq!((s.failovers, s.visible_failures), (0, 1), "{s:?}");
}
