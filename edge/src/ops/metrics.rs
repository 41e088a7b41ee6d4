//! Prometheus metrics (names fixed by DESIGN.md), registered once in the default registry so
//! Pingora's own metrics are exported beside them.

use std::sync::LazyLock;

use prometheus::{
    register_gauge, register_histogram, register_histogram_vec, register_int_counter,
    register_int_counter_vec, register_int_gauge, register_int_gauge_vec, Gauge, Histogram,
    HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
};
use sunomi_origin::{ReadEvent, ReadObserver};

/// The edge's metrics.
pub struct Metrics {
    /// Requests by route kind and status.
    pub requests: IntCounterVec,
    /// Response body bytes by route kind.
    pub response_bytes: IntCounterVec,
    /// Time from a request's head to its answer being ready to send (head and body in hand;
    /// the client's own speed not included), by route kind: the edge's latency.
    pub request_seconds: HistogramVec,
    /// TLS handshakes on the player listener: `started` (the server-name callback ran) and
    /// `completed` (the connection reached HTTP); their difference failed or was abandoned.
    pub tls_handshakes: IntCounterVec,
    /// When the first of the loaded TLS certificates expires (`notAfter`), seconds since the
    /// Unix epoch; absent without TLS.
    pub tls_expiry: Gauge,
    /// Cache lookups by tier and result.
    pub cache: IntCounterVec,
    /// `cache{tier="local",result="hit"}`, resolved once (a label lookup per request was
    /// measurable on warm playlists).
    pub cache_local_hits: IntCounter,
    /// `cache{tier="local",result="miss"}`, resolved once.
    pub cache_local_misses: IntCounter,
    /// Requests that waited for another request's fill instead of reading storage.
    pub coalesced: IntCounter,
    /// Metadata served stale because storage was unreachable (stale-if-error).
    pub stale_served: IntCounter,
    /// Storage requests.
    pub storage_reads: IntCounter,
    /// Bytes read from storage.
    pub storage_read_bytes: IntCounter,
    /// Failed storage requests.
    pub storage_errors: IntCounter,
    /// Storage request latency.
    pub storage_seconds: Histogram,
    /// When this process started, seconds since the Unix epoch (the conventional
    /// `process_start_time_seconds`): tells a scraper that counters restarted from zero —
    /// after a restart, or when an upgrade's successor took the admin port over.
    pub start_time: Gauge,
    /// Time to make a response on a miss (storage reads included), by route kind.
    pub packaging_seconds: HistogramVec,
    /// Live fleet members (1 for a single edge).
    pub fleet_members: IntGauge,
    /// Bytes held per cache.
    pub cache_bytes: IntGaugeVec,
    /// Whether Redis answered the last heartbeat (1) or not (0).
    pub redis_up: IntGauge,
    /// Redis commands that failed or timed out, by operation.
    pub redis_errors: IntCounterVec,
    /// Peer fetch latency by whether the owner had the object in memory.
    pub peer_seconds: HistogramVec,
    /// Peer fetches that failed, by reason (the asker then read storage itself).
    pub peer_errors: IntCounterVec,
    /// Times a peer that failed was skipped for a while (its keys fall to the next member).
    pub peer_suspected: IntCounter,
    /// Storage failed and other edges were asked for a copy they hold, by result.
    pub siblings: IntCounterVec,
    /// Cached segments held in sendable mappings (sent on plain HTTP without a copy).
    pub zero_copy_segments: IntGauge,
    /// Segments long enough for a sendable mapping but kept on the heap (the kernel refused).
    pub zero_copy_refused: IntCounter,
    /// Response bytes sent from sendable mappings without a copy.
    pub zero_copy_sent_bytes: IntCounter,
    /// Shared metadata lookups in Redis by result.
    pub shared_metadata: IntCounterVec,
    /// Pictures asked of the picture service, by outcome.
    pub pictures: IntCounterVec,
    /// How long the picture service took to answer.
    pub picture_seconds: Histogram,
    /// Fill locks by outcome (acquired, held elsewhere, unavailable).
    pub fill_locks: IntCounterVec,
    /// Fills that waited for another edge's fill.
    pub lock_waits: IntCounter,
    /// How long those waits took.
    pub lock_wait_seconds: Histogram,
    /// Prefetches by result (issued, used, wasted, skipped).
    pub prefetch: IntCounterVec,
    /// Purges taken by this edge's admin listener, by scope.
    pub purges: IntCounterVec,
    /// Configuration reloads, by trigger (`SIGHUP`, `admin`, `certificate-files`) and
    /// result (`ok`, `error`).
    pub config_reloads: IntCounterVec,
    /// Time from a purge request on one edge to its application on this one.
    pub purge_lag_seconds: Histogram,
    /// Requests re-planned because a stored object changed under its index.
    pub replans: IntCounter,
    /// Open connections by listener.
    pub connections_open: IntGaugeVec,
    /// Connections refused at the cap, by listener.
    pub connections_refused: IntCounterVec,
    /// Connections closed for not sending a whole request in time, by listener.
    pub connection_timeouts: IntCounterVec,
    /// Requests refused at a trust boundary, by what was refused (`peer` header not signed
    /// by the fleet, `admin` call without the token, `token` malformed or too long-lived).
    pub refused: IntCounterVec,
    /// View tickets on media requests by outcome: `receipt` (a ticket's media was covered and
    /// its receipt issued), `invalid` (forged, expired or for another playback id).
    pub view_tickets: IntCounterVec,
}

/// Latency buckets from 100 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

fn build() -> Result<Metrics, prometheus::Error> {
    let cache = register_int_counter_vec!(
        "sunomi_cache_requests_total",
        "Cache lookups by tier (local|peer|storage) and result (hit|miss)",
        &["tier", "result"]
    )?;
    Ok(Metrics {
        requests: register_int_counter_vec!(
            "sunomi_http_requests_total",
            "HTTP requests by route and status",
            &["route", "status"]
        )?,
        response_bytes: register_int_counter_vec!(
            "sunomi_http_response_bytes_total",
            "Response body bytes by route",
            &["route"]
        )?,
        cache_local_hits: cache.with_label_values(&["local", "hit"]),
        cache_local_misses: cache.with_label_values(&["local", "miss"]),
        cache,
        coalesced: register_int_counter!(
            "sunomi_cache_coalesced_total",
            "Misses that waited for a fill already under way instead of reading storage"
        )?,
        stale_served: register_int_counter!(
            "sunomi_stale_served_total",
            "Playlists, manifests, playback records and track heads served past their TTL because storage was unreachable"
        )?,
        storage_reads: register_int_counter!(
            "sunomi_storage_reads_total",
            "Ranged or whole reads from object storage"
        )?,
        storage_read_bytes: register_int_counter!(
            "sunomi_storage_read_bytes_total",
            "Bytes read from object storage"
        )?,
        storage_errors: register_int_counter!(
            "sunomi_storage_read_errors_total",
            "Object storage reads that failed"
        )?,
        start_time: register_gauge!(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds"
        )?,
        storage_seconds: register_histogram!(
            "sunomi_storage_read_seconds",
            "Object storage read latency",
            BUCKETS.to_vec()
        )?,
        packaging_seconds: register_histogram_vec!(
            "sunomi_packaging_seconds",
            "Time to build a response on a cache miss, storage reads included",
            &["route"],
            BUCKETS.to_vec()
        )?,
        fleet_members: register_int_gauge!("sunomi_fleet_members", "Live edges in the fleet")?,
        cache_bytes: register_int_gauge_vec!(
            "sunomi_cache_bytes",
            "Bytes held in each in-memory cache",
            &["cache"]
        )?,
        redis_up: register_int_gauge!(
            "sunomi_redis_up",
            "1 when Redis answered the last heartbeat, 0 when the edge stands alone"
        )?,
        redis_errors: register_int_counter_vec!(
            "sunomi_redis_errors_total",
            "Redis commands that failed or timed out, by operation",
            &["op"]
        )?,
        peer_seconds: register_histogram_vec!(
            "sunomi_peer_fetch_seconds",
            "Latency of fetching an object from its owner edge, by whether the owner had it (hit|miss)",
            &["owner"],
            BUCKETS.to_vec()
        )?,
        peer_errors: register_int_counter_vec!(
            "sunomi_peer_fetch_errors_total",
            "Peer fetches that failed (the asker read storage itself), by reason",
            &["reason"]
        )?,
        peer_suspected: register_int_counter!(
            "sunomi_peer_suspected_total",
            "Times a peer edge that failed to answer was skipped for a while (not for failures of storage it reported)"
        )?,
        siblings: register_int_counter_vec!(
            "sunomi_sibling_lookups_total",
            "Segments storage could not give, looked up in other edges' memory (only-if-cached), by result (hit|miss)",
            &["result"]
        )?,
        zero_copy_segments: register_int_gauge!(
            "sunomi_zero_copy_segments",
            "Cached segments held in sendable mappings, sent on plain HTTP without a copy"
        )?,
        zero_copy_refused: register_int_counter!(
            "sunomi_zero_copy_refused_total",
            "Segments long enough for a sendable mapping but kept on the heap (the kernel refused one)"
        )?,
        zero_copy_sent_bytes: register_int_counter!(
            "sunomi_zero_copy_sent_bytes_total",
            "Response bytes sent from sendable mappings without a copy (vmsplice and splice)"
        )?,
        shared_metadata: register_int_counter_vec!(
            "sunomi_shared_metadata_total",
            "Lookups of manifests and track indexes shared in Redis, by result (hit|miss)",
            &["result"]
        )?,
        pictures: register_int_counter_vec!(
            "sunomi_pictures_drawn_total",
            "Pictures asked of the picture service, by outcome (drawn|not_found|changed|failed)",
            &["outcome"]
        )?,
        picture_seconds: register_histogram!(
            "sunomi_picture_service_seconds",
            "Time the picture service took to draw a picture",
            BUCKETS.to_vec()
        )?,
        fill_locks: register_int_counter_vec!(
            "sunomi_fill_locks_total",
            "Fill lock attempts by outcome (acquired|held|unavailable)",
            &["outcome"]
        )?,
        lock_waits: register_int_counter!(
            "sunomi_fill_lock_waits_total",
            "Fills that waited for another edge's fill instead of reading storage"
        )?,
        lock_wait_seconds: register_histogram!(
            "sunomi_fill_lock_wait_seconds",
            "Time spent waiting for another edge's fill",
            BUCKETS.to_vec()
        )?,
        prefetch: register_int_counter_vec!(
            "sunomi_prefetch_total",
            "Prefetches by result (issued|used|wasted|skipped)",
            &["result"]
        )?,
        config_reloads: register_int_counter_vec!(
            "sunomi_config_reloads_total",
            "Configuration reloads, by trigger and result",
            &["trigger", "result"]
        )?,
        purges: register_int_counter_vec!(
            "sunomi_purges_total",
            "Purges requested on this edge's admin listener, by scope",
            &["scope"]
        )?,
        replans: register_int_counter!(
            "sunomi_storage_replans_total",
            "Requests planned again because a stored object changed since it was indexed"
        )?,
        connections_open: register_int_gauge_vec!(
            "sunomi_connections_open",
            "Open client connections by listener",
            &["listener"]
        )?,
        connections_refused: register_int_counter_vec!(
            "sunomi_connections_refused_total",
            "Connections refused because the listener was at its connection cap",
            &["listener"]
        )?,
        connection_timeouts: register_int_counter_vec!(
            "sunomi_connection_timeouts_total",
            "Connections closed for not sending a whole request header in time",
            &["listener"]
        )?,
        refused: register_int_counter_vec!(
            "sunomi_refused_requests_total",
            "Requests refused at a trust boundary (peer signature, admin token, viewer token)",
            &["boundary"]
        )?,
        view_tickets: register_int_counter_vec!(
            "sunomi_view_tickets_total",
            "View tickets on media requests by outcome (receipt issued, invalid)",
            &["result"]
        )?,
        request_seconds: register_histogram_vec!(
            "sunomi_http_request_seconds",
            "Time from a request's head to its answer being ready to send, by route kind",
            &["route"],
            BUCKETS.to_vec()
        )?,
        tls_handshakes: register_int_counter_vec!(
            "sunomi_tls_handshakes_total",
            "TLS handshakes on the player listener: started, and completed (reached HTTP)",
            &["result"]
        )?,
        tls_expiry: Gauge::new(
            "sunomi_tls_certificate_expiry_timestamp_seconds",
            "When the first of the loaded TLS certificates expires (notAfter), Unix seconds",
        )?,
        purge_lag_seconds: register_histogram!(
            "sunomi_purge_lag_seconds",
            "Time from a purge request on another edge to its application here",
            BUCKETS.to_vec()
        )?,
    })
}

/// Creates every series whose labels are known in advance at 0, so dashboards, alerts and
/// tests see "0" instead of an absent series (which is indistinguishable from a metric that
/// does not exist).
fn export_known_series(m: &Metrics) {
    for tier in ["local", "peer", "storage"] {
        for result in ["hit", "miss"] {
            m.cache.with_label_values(&[tier, result]);
        }
    }
    for result in ["issued", "used", "wasted", "skipped"] {
        m.prefetch.with_label_values(&[result]);
    }
    for boundary in ["peer", "admin", "token"] {
        m.refused.with_label_values(&[boundary]);
    }
    for result in ["receipt", "invalid"] {
        m.view_tickets.with_label_values(&[result]);
    }
    for reason in ["timeout", "io", "status", "unavailable"] {
        m.peer_errors.with_label_values(&[reason]);
    }
    for result in ["hit", "miss"] {
        m.siblings.with_label_values(&[result]);
    }
    for outcome in ["acquired", "held", "unavailable"] {
        m.fill_locks.with_label_values(&[outcome]);
    }
    for outcome in ["drawn", "not_found", "changed", "failed"] {
        m.pictures.with_label_values(&[outcome]);
    }
    for result in ["hit", "miss"] {
        m.shared_metadata.with_label_values(&[result]);
    }
    for scope in ["url", "video", "all"] {
        m.purges.with_label_values(&[scope]);
    }
    for result in ["started", "completed"] {
        m.tls_handshakes.with_label_values(&[result]);
    }
    for listener in ["player", "admin"] {
        m.connections_open.with_label_values(&[listener]);
        m.connections_refused.with_label_values(&[listener]);
        m.connection_timeouts.with_label_values(&[listener]);
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| match build() {
    Ok(m) => {
        export_known_series(&m);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        m.start_time.set(now);
        m
    }
    // Registration fails only on a programming error (a duplicate name): fail loudly at start.
    Err(e) => panic!("registering metrics: {e}"),
});

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// Renders every registered metric in the Prometheus text format.
pub fn render() -> Vec<u8> {
    use prometheus::Encoder;
    let mut out = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    let _ = encoder.encode(&prometheus::gather(), &mut out);
    out
}

/// Records when the first loaded TLS certificate expires (`not_after`, Unix seconds). The
/// series appears with the first certificate loaded, so an edge without TLS exports none.
pub fn set_tls_expiry(not_after: f64) {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    let m = metrics();
    REGISTERED.call_once(|| {
        if let Err(e) = prometheus::register(Box::new(m.tls_expiry.clone())) {
            tracing::warn!(error = %e, "could not export the certificate expiry");
        }
    });
    m.tls_expiry.set(not_after);
}

/// Counts storage reads for the origin reader.
pub struct StorageMetrics;

impl ReadObserver for StorageMetrics {
    fn observe(&self, event: ReadEvent) {
        let m = metrics();
        m.storage_reads.inc();
        m.storage_read_bytes.inc_by(event.bytes);
        m.storage_seconds.observe(event.elapsed.as_secs_f64());
        if !event.ok {
            m.storage_errors.inc();
        }
    }
}
