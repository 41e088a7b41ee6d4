//! `players`: simulated HLS players. Each fetches the multivariant playlist, picks a rung by
//! throughput ([`crate::abr`]), fetches the init segment and the segments (and the audio
//! rendition's, when the variant has one) against a buffer model played in real time or
//! accelerated, optionally on a capped link, and records what a viewer would have seen.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::abr::{choose, Estimator};
use crate::client::{Connection, ErrorKind, Outcome, Target};
use crate::live::Live;
use crate::stats::Recorder;
use crate::workload::{plan, Scenario};

/// What each player does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlayerConfig {
    /// The catalog: multivariant playlist URLs, most popular first.
    pub targets: Vec<String>,
    /// Arrivals and popularity.
    pub scenario: Scenario,
    /// Seed of the arrival and title draws (same seed, same plan).
    pub seed: u64,
    /// Number of players.
    pub players: usize,
    /// Longest a player keeps going (it also stops at the end of the content).
    pub duration: Duration,
    /// Playback speed: media seconds per wall second (1 = real time).
    pub speed: f64,
    /// Per-player link capacity, bits per second.
    pub bandwidth_bps: Option<f64>,
    /// Media buffered before playback starts (and resumes after a stall), seconds.
    pub start_buffer_secs: f64,
    /// The player stops fetching ahead beyond this much buffer, seconds.
    pub max_buffer_secs: f64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Edges (`host:port`) to spread players over, round robin: player i connects to
    /// edge i mod n whatever host its title URL names. Empty: the title URL's host.
    #[serde(default)]
    pub edges: Vec<String>,
}

/// What one player saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Session {
    /// Index of the title played (in the catalog).
    pub title: usize,
    /// Wall time from the first request to playback start, when it started.
    pub startup_secs: Option<f64>,
    /// Stalls after playback started.
    pub stalls: u64,
    /// Wall time spent stalled.
    pub stall_secs: f64,
    /// Wall time spent playing.
    pub play_secs: f64,
    /// Rung changes.
    pub switches: u64,
    /// Segments fetched per rung (by index, ascending bandwidth).
    pub segments_by_rung: BTreeMap<usize, u64>,
    /// Why the session ended early, if it did.
    pub failure: Option<String>,
    /// Requests that failed on the player's edge and succeeded at once on another
    /// (invisible to the viewer).
    #[serde(default)]
    pub failovers: u64,
    /// Requests that failed on every edge tried: the player had to wait and retry (what a
    /// viewer may notice, as a stall, if the buffer runs out first).
    #[serde(default)]
    pub visible_failures: u64,
}

impl Session {
    /// Stalled share of the watching time.
    pub fn rebuffer_ratio(&self) -> f64 {
        let total = self.play_secs + self.stall_secs;
        if total > 0.0 {
            self.stall_secs / total
        } else {
            0.0
        }
    }
}

/// Everything a players run produced.
#[derive(Debug, Default)]
pub struct PlayersResult {
    /// One per player.
    pub sessions: Vec<Session>,
    /// Requests by object type (`master`, `playlist`, `init`, `segment`).
    pub by_type: BTreeMap<String, Recorder>,
    /// Distinct objects (paths) requested, by object type, over all players.
    pub unique_objects: BTreeMap<String, u64>,
    /// Every segment request of every player, in time order (for figures per period, e.g.
    /// storage reads per unique segment during a fault, and which requests failed when).
    pub segment_requests: Vec<SegmentRequest>,
}

/// One segment request of a player.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRequest {
    /// Seconds since the run started, when it was answered (or given up).
    pub at: f64,
    /// The segment's path.
    pub path: String,
    /// How it went for the viewer.
    pub outcome: RequestOutcome,
    /// How long the player waited for it, failover included.
    pub waited: Duration,
}

/// How a request went, as the player saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Answered by the player's edge.
    Ok,
    /// Failed there, answered at once by the next edge (invisible to the viewer).
    Failover,
    /// Failed on every edge tried (the player waits and retries).
    Failed,
}

impl RequestOutcome {
    /// The outcome's name in `segments.tsv`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Ok => "ok",
            RequestOutcome::Failover => "failover",
            RequestOutcome::Failed => "failed",
        }
    }
}

/// Retries of one segment before a player gives up, and the pause before retry `n`
/// (1-based): hls.js's default fragment load policy (6 retries, 1 s doubling to at most 8 s).
const MAX_SEGMENT_RETRIES: u32 = 6;

fn retry_delay(retry: u32) -> Duration {
    Duration::from_millis((1000u64 << retry.saturating_sub(1).min(3)).min(8000))
}

/// Playback clock and buffer of one player.
#[derive(Debug)]
struct Buffer {
    level: f64,
    started_at: Option<Instant>,
    stalled_since: Option<Instant>,
    last: Instant,
    speed: f64,
}

impl Buffer {
    fn new(now: Instant, speed: f64) -> Self {
        Buffer {
            level: 0.0,
            started_at: None,
            stalled_since: None,
            last: now,
            speed,
        }
    }

    /// Plays from the last update to `now`; returns true if a stall began.
    fn advance(&mut self, now: Instant, session: &mut Session) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        if self.started_at.is_none() || self.stalled_since.is_some() {
            return false;
        }
        let wanted = elapsed * self.speed;
        if wanted < self.level {
            self.level -= wanted;
            session.play_secs += elapsed;
            return false;
        }
        let played = self.level / self.speed;
        session.play_secs += played;
        self.level = 0.0;
        self.stalled_since = Some(now - Duration::from_secs_f64((elapsed - played).max(0.0)));
        session.stalls += 1;
        true
    }

    fn add(
        &mut self,
        seconds: f64,
        now: Instant,
        first: Instant,
        start_buffer: f64,
        session: &mut Session,
    ) {
        self.level += seconds;
        if self.started_at.is_none() && self.level >= start_buffer {
            self.started_at = Some(now);
            session.startup_secs = Some(now.duration_since(first).as_secs_f64());
        }
        if let Some(since) = self.stalled_since {
            if self.level >= start_buffer {
                session.stall_secs += now.duration_since(since).as_secs_f64();
                self.stalled_since = None;
            }
        }
    }
}

struct Media {
    bandwidths: Vec<u64>,
    uris: Vec<String>,
    audio_uri: Option<String>,
}

struct Track {
    init: Option<String>,
    segments: Vec<(String, f64)>,
}

fn parse_master(body: &[u8]) -> Result<Media, String> {
    let master = m3u8_rs::parse_master_playlist_res(body)
        .map_err(|e| format!("multivariant playlist: {e}"))?;
    let mut variants: Vec<_> = master.variants.iter().filter(|v| !v.is_i_frame).collect();
    if variants.is_empty() {
        return Err("multivariant playlist has no variants".into());
    }
    variants.sort_by_key(|v| v.bandwidth);
    let group = variants[0].audio.clone();
    let audio_uri = group.and_then(|g| {
        let in_group = master
            .alternatives
            .iter()
            .filter(|a| a.group_id == g && a.uri.is_some());
        let all: Vec<_> = in_group.collect();
        all.iter()
            .find(|a| a.default)
            .or(all.first())
            .and_then(|a| a.uri.clone())
    });
    Ok(Media {
        bandwidths: variants.iter().map(|v| v.bandwidth).collect(),
        uris: variants.iter().map(|v| v.uri.clone()).collect(),
        audio_uri,
    })
}

fn parse_media(body: &[u8]) -> Result<Track, String> {
    let media =
        m3u8_rs::parse_media_playlist_res(body).map_err(|e| format!("media playlist: {e}"))?;
    if media.segments.is_empty() {
        return Err("media playlist has no segments".into());
    }
    Ok(Track {
        init: media
            .segments
            .iter()
            .find_map(|s| s.map.as_ref().map(|m| m.uri.clone())),
        segments: media
            .segments
            .iter()
            .map(|s| (s.uri.clone(), f64::from(s.duration)))
            .collect(),
    })
}

struct Player<'a> {
    config: &'a PlayerConfig,
    live: &'a Live,
    /// One connection per edge the player may use (its own first); `current` is the one in
    /// use. With a single edge there is nowhere to fail over to.
    conns: Vec<Connection>,
    current: usize,
    by_type: BTreeMap<String, Recorder>,
    /// Paths requested, by object type.
    objects: BTreeMap<String, BTreeSet<String>>,
    first: Instant,
    failovers: u64,
    visible_failures: u64,
    run_start: Instant,
    segment_log: Vec<SegmentRequest>,
}

impl Player<'_> {
    async fn fetch(&mut self, kind: &str, target: &Target, keep: bool) -> Outcome {
        let cap = if kind == "segment" || kind == "init" {
            self.config.bandwidth_bps
        } else {
            None
        };
        let asked = Instant::now();
        let mut outcome = self.conns[self.current]
            .get_capped(&target.path, keep, cap)
            .await;
        let mut seen = RequestOutcome::Ok;
        if outcome.error.is_some() && self.conns.len() > 1 {
            // A failed request is tried once more at once on the next edge (as a player
            // with several CDN hosts does); the player stays there if it answers.
            self.record(kind, &outcome);
            let next = (self.current + 1) % self.conns.len();
            let retried = self.conns[next].get_capped(&target.path, keep, cap).await;
            if retried.error.is_none() {
                self.current = next;
                self.failovers += 1;
                seen = RequestOutcome::Failover;
            }
            outcome = retried;
        }
        if outcome.error.is_some() {
            self.visible_failures += 1;
            seen = RequestOutcome::Failed;
        }
        if !self
            .objects
            .get(kind)
            .is_some_and(|o| o.contains(&target.path))
        {
            self.objects
                .entry(kind.to_string())
                .or_default()
                .insert(target.path.clone());
        }
        if kind == "segment" {
            let at = self.run_start.elapsed().as_secs_f64();
            self.segment_log.push(SegmentRequest {
                at,
                path: target.path.clone(),
                outcome: seen,
                waited: asked.elapsed(),
            });
        }
        self.record(kind, &outcome);
        outcome
    }

    /// Counts one request in the live progress and the per-type figures.
    fn record(&mut self, kind: &str, outcome: &Outcome) {
        let second = self.first.elapsed().as_secs() as usize;
        self.live
            .request(outcome.total, outcome.bytes, outcome.error.is_some());
        self.by_type
            .entry(kind.to_string())
            .or_default()
            .record(outcome, outcome.total, second);
    }

    async fn track(&mut self, target: &Target) -> Result<Track, String> {
        let got = self.fetch("playlist", target, true).await;
        if let Some(e) = got.error {
            return Err(format!("media playlist: {e:?} (status {})", got.status));
        }
        parse_media(got.body.as_deref().unwrap_or_default())
            .inspect_err(|_| self.count_playlist_error())
    }

    fn count_playlist_error(&mut self) {
        let rec = self.by_type.entry("playlist".into()).or_default();
        *rec.errors.entry(ErrorKind::Playlist).or_default() += 1;
    }

    async fn play(&mut self, master_url: &Target, deadline: Instant) -> Session {
        let mut session = Session::default();
        if let Err(e) = self.play_inner(master_url, deadline, &mut session).await {
            session.failure = Some(e);
        }
        session.failovers = self.failovers;
        session.visible_failures = self.visible_failures;
        session
    }

    async fn play_inner(
        &mut self,
        master: &Target,
        deadline: Instant,
        s: &mut Session,
    ) -> Result<(), String> {
        let got = self.fetch("master", master, true).await;
        if let Some(e) = got.error {
            return Err(format!(
                "multivariant playlist: {e:?} (status {})",
                got.status
            ));
        }
        let media = parse_master(got.body.as_deref().unwrap_or_default())
            .inspect_err(|_| self.count_playlist_error())?;
        let audio = match &media.audio_uri {
            Some(uri) => {
                let t = master.join(uri)?;
                let track = self.track(&t).await?;
                Some((t, track))
            }
            None => None,
        };
        let mut estimator = Estimator::new();
        // Played K× faster, a player needs K× the bit rate: adapt on the estimate per media second.
        let speed = self.config.speed;
        let mut rung = choose(&media.bandwidths, estimator.estimate() / speed);
        let mut tracks: BTreeMap<usize, (Target, Track)> = BTreeMap::new();
        let mut init_loaded: Option<usize> = None;
        let mut buffer = Buffer::new(self.first, self.config.speed);
        let mut n = 0usize;
        let mut failures = 0u32;
        if let Some((t, track)) = &audio {
            if let Some(init) = &track.init {
                let init_target = t.join(init)?;
                self.fetch("init", &init_target, false).await;
            }
        }
        loop {
            if Instant::now() >= deadline {
                break;
            }
            if let std::collections::btree_map::Entry::Vacant(slot) = tracks.entry(rung) {
                let t = master.join(&media.uris[rung])?;
                let track = self.track(&t).await?;
                slot.insert((t, track));
            }
            let (base, track) = &tracks[&rung];
            let (base, init, count) = (base.clone(), track.init.clone(), track.segments.len());
            if n >= count {
                break;
            }
            let (seg_uri, seg_secs) = track.segments[n].clone();
            // Wait while the buffer is full.
            buffer.advance(Instant::now(), s);
            let excess = buffer.level - self.config.max_buffer_secs;
            if excess > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(excess / self.config.speed)).await;
                buffer.advance(Instant::now(), s);
            }
            if init_loaded != Some(rung) {
                if let Some(init) = &init {
                    let t = base.join(init)?;
                    self.fetch("init", &t, false).await;
                }
                init_loaded = Some(rung);
            }
            let started = Instant::now();
            let got = self.fetch("segment", &base.join(&seg_uri)?, false).await;
            let mut bytes = got.bytes;
            if let Some((t, atrack)) = &audio {
                if let Some((auri, _)) = atrack.segments.get(n) {
                    let target = t.join(auri)?;
                    bytes += self.fetch("segment", &target, false).await.bytes;
                }
            }
            if let Some(kind) = got.error {
                // A player retries a failed segment after a growing pause and gives up after
                // hls.js's retries; every failure is counted, the buffer is not fed.
                failures += 1;
                if failures > MAX_SEGMENT_RETRIES {
                    return Err(format!(
                        "segment {n} failed {failures} times ({kind:?}, status {})",
                        got.status
                    ));
                }
                tokio::time::sleep(retry_delay(failures).div_f64(self.config.speed)).await;
                buffer.advance(Instant::now(), s);
                continue;
            }
            failures = 0;
            estimator.sample(bytes, started.elapsed().as_secs_f64());
            let now = Instant::now();
            buffer.advance(now, s);
            buffer.add(seg_secs, now, self.first, self.config.start_buffer_secs, s);
            *s.segments_by_rung.entry(rung).or_default() += 1;
            n += 1;
            let next = choose(&media.bandwidths, estimator.estimate() / speed);
            if next != rung {
                s.switches += 1;
                rung = next;
            }
        }
        // What is buffered plays out without further stalls; count it as played.
        buffer.advance(Instant::now(), s);
        if buffer.started_at.is_some() && buffer.stalled_since.is_none() {
            s.play_secs += buffer.level / self.config.speed;
        }
        if let Some(since) = buffer.stalled_since {
            s.stall_secs += Instant::now().duration_since(since).as_secs_f64();
        }
        Ok(())
    }
}

/// Runs the players as the scenario plans them and collects their sessions.
pub async fn run(config: &PlayerConfig) -> Result<PlayersResult, String> {
    run_with(config, Live::new()).await
}

/// [`run`], counting into `live` as it goes (for progress lines).
pub async fn run_with(
    config: &PlayerConfig,
    live: std::sync::Arc<Live>,
) -> Result<PlayersResult, String> {
    if config.targets.is_empty() || config.players == 0 {
        return Err("need at least one target and one player".into());
    }
    if !(config.speed > 0.0 && config.speed.is_finite()) {
        return Err("speed must be positive".into());
    }
    let targets = config
        .targets
        .iter()
        .map(|t| Target::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let titles = if config.scenario.single_title {
        1
    } else {
        targets.len()
    };
    let starts = plan(
        config.players,
        titles,
        &config.scenario.arrival,
        config.scenario.popularity,
        config.seed,
    );
    let run_start = Instant::now();
    let deadline = run_start + config.duration;
    let mut tasks = Vec::with_capacity(config.players);
    for (i, start) in starts.into_iter().enumerate() {
        let mut target = targets[start.title.min(targets.len() - 1)].clone();
        if !config.edges.is_empty() {
            target.authority = config.edges[i % config.edges.len()].clone();
        }
        let config = config.clone();
        let live = live.clone();
        tasks.push(tokio::spawn(async move {
            let begin = run_start + start.at;
            if begin >= deadline {
                let late = Session {
                    failure: Some("arrived after the end of the run".into()),
                    ..Default::default()
                };
                return (late, BTreeMap::new(), BTreeMap::new(), Vec::new());
            }
            tokio::time::sleep_until(begin.into()).await;
            live.players(1);
            // Its own edge first, then the others in fleet order.
            let mut authorities = vec![target.authority.clone()];
            let n = config.edges.len();
            authorities.extend((1..n).map(|k| config.edges[(i + k) % n].clone()));
            let mut player = Player {
                conns: authorities
                    .iter()
                    .map(|a| Connection::new(a, config.timeout))
                    .collect(),
                current: 0,
                failovers: 0,
                visible_failures: 0,
                config: &config,
                live: &live,
                by_type: BTreeMap::new(),
                objects: BTreeMap::new(),
                first: Instant::now(),
                run_start,
                segment_log: Vec::new(),
            };
            let mut session = player.play(&target, deadline).await;
            session.title = start.title;
            live.players(-1);
            (session, player.by_type, player.objects, player.segment_log)
        }));
    }
    let mut result = PlayersResult::default();
    let mut objects: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for t in tasks {
        let (session, by_type, seen, segments) =
            t.await.map_err(|e| format!("a player task failed: {e}"))?;
        result.sessions.push(session);
        result.segment_requests.extend(segments);
        for (k, r) in by_type {
            result.by_type.entry(k).or_default().merge(&r);
        }
        for (k, paths) in seen {
            objects.entry(k).or_default().extend(paths);
        }
    }
    result.unique_objects = objects
        .into_iter()
        .map(|(k, v)| (k, v.len() as u64))
        .collect();
    result
        .segment_requests
        .sort_by(|a, b| a.at.total_cmp(&b.at));
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_as_hls_js_does() {
        let waits: Vec<u64> = (1..=MAX_SEGMENT_RETRIES)
            .map(|n| retry_delay(n).as_millis() as u64)
            .collect();
        assert_eq!(waits, [1000, 2000, 4000, 8000, 8000, 8000]);
    }
}
