//! Prometheus metrics (names fixed by DESIGN.md), registered once in the default registry so
//! Pingora's own metrics are exported beside them.

use std::sync::LazyLock;

use prometheus::{
    register_histogram, register_histogram_vec, register_int_counter, register_int_counter_vec,
    register_int_gauge, register_int_gauge_vec, Histogram, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec,
};
use sunomi_origin::{ReadEvent, ReadObserver};

/// The edge's metrics.
pub struct Metrics {
    /// Requests by route kind and status.
    pub requests: IntCounterVec,
    /// Response body bytes by route kind.
    pub response_bytes: IntCounterVec,
    /// Cache lookups by tier and result.
    pub cache: IntCounterVec,
    /// Requests that waited for another request's fill instead of reading storage.
    pub coalesced: IntCounter,
    /// Storage requests.
    pub storage_reads: IntCounter,
    /// Bytes read from storage.
    pub storage_read_bytes: IntCounter,
    /// Failed storage requests.
    pub storage_errors: IntCounter,
    /// Storage request latency.
    pub storage_seconds: Histogram,
    /// Time to make a response on a miss (storage reads included), by route kind.
    pub packaging_seconds: HistogramVec,
    /// Live fleet members (1 for a single edge).
    pub fleet_members: IntGauge,
    /// Bytes held per cache.
    pub cache_bytes: IntGaugeVec,
}

/// Latency buckets from 100 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

fn build() -> Result<Metrics, prometheus::Error> {
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
        cache: register_int_counter_vec!(
            "sunomi_cache_requests_total",
            "Cache lookups by tier (local|peer|storage) and result (hit|miss)",
            &["tier", "result"]
        )?,
        coalesced: register_int_counter!(
            "sunomi_cache_coalesced_total",
            "Misses that waited for a fill already under way instead of reading storage"
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
    })
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| match build() {
    Ok(m) => m,
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
