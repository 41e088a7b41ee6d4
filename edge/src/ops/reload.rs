//! Configuration reload while serving: on SIGHUP or `POST /reload` on the admin port, the
//! configuration is read again (file, then the same flags and environment as at start) and
//! what can change live is applied; certificate files are also watched for replacement.
//!
//! Live: the `LIVE` paths below (cache budgets and lifetimes, admission and prefetch knobs,
//! encryption keys and tokens, certificates). Everything else (addresses, storage, fleet
//! membership, threads, connection bounds) needs a restart — a zero-downtime upgrade
//! (`--upgrade`) does it without dropping a connection. A reload that changes such a field
//! says so and leaves it as it runs; a reload that fails (unreadable file, invalid value, a
//! certificate that does not load) changes nothing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::Value;

use crate::media::Media;
use crate::net::tls::Certificates;
use crate::ops::config::EdgeConfig;
use crate::ops::metrics::metrics;

/// Configuration paths applied without a restart (a path or any field below it).
const LIVE: &[&str] = &[
    "cache.metadata_bytes",
    "cache.metadata_ttl_secs",
    "cache.negative_ttl_secs",
    "cache.stale_if_error_secs",
    "cache.segments_enabled",
    "cache.segment_bytes",
    "cache.playlist_max_age_secs",
    "fleet.admission",
    "fleet.admission_window_secs",
    "fleet.prefetch_segments",
    "fleet.prefetch_concurrency",
    "encryption",
    "tls.cert",
    "tls.key",
    "tls.certificates",
    "tls.reload_interval_secs",
];

/// Configuration paths whose values are secrets: shown as `"(set)"`.
const SECRET: &[&str] = &[
    "admin_token",
    "encryption.master_key",
    "encryption.token_secret",
    "fleet.secret",
    "views.secret",
    "pictures.secret",
];

/// What a reload did.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    /// When, seconds since the Unix epoch.
    pub at: u64,
    /// What asked for it (`SIGHUP`, `admin`).
    pub trigger: String,
    /// `None` when it was applied; why not otherwise (nothing changed then).
    pub error: Option<String>,
    /// Changed paths now in effect.
    pub applied: Vec<String>,
    /// Changed paths that need a restart (or `--upgrade`); they keep their running value.
    pub restart_required: Vec<String>,
}

/// Reads the configuration again and applies it.
pub struct Reloader {
    load: Box<dyn Fn() -> anyhow::Result<EdgeConfig> + Send + Sync>,
    running: ArcSwap<EdgeConfig>,
    media: Arc<Media>,
    certificates: Option<Arc<Certificates>>,
    last: Mutex<Option<ReloadReport>>,
    serial: tokio::sync::Mutex<()>,
}

fn is_live(path: &str) -> bool {
    LIVE.iter().any(|l| {
        path == *l
            || path
                .strip_prefix(l)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Leaf paths (objects flattened with `.`; arrays are leaves) where `a` and `b` differ.
fn changed_paths(a: &Value, b: &Value, prefix: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                changed_paths(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &path,
                    out,
                );
            }
        }
        _ if a != b => out.push(prefix.to_string()),
        _ => {}
    }
}

fn pointer(path: &str) -> String {
    format!("/{}", path.replace('.', "/"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `config` as JSON with its secrets replaced by `"(set)"`.
pub fn redacted(config: &EdgeConfig) -> Value {
    let mut value = serde_json::to_value(config).unwrap_or(Value::Null);
    for path in SECRET {
        if let Some(v) = value.pointer_mut(&pointer(path)) {
            if !v.is_null() {
                *v = Value::String("(set)".into());
            }
        }
    }
    value
}

impl Reloader {
    /// A reloader of the edge started with `running`; `load` reads the configuration the way
    /// start-up did.
    pub fn new(
        running: EdgeConfig,
        load: Box<dyn Fn() -> anyhow::Result<EdgeConfig> + Send + Sync>,
        media: Arc<Media>,
        certificates: Option<Arc<Certificates>>,
    ) -> Reloader {
        Reloader {
            load,
            running: ArcSwap::from_pointee(running),
            media,
            certificates,
            last: Mutex::new(None),
            serial: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads the configuration again and applies what can change live; the report says what
    /// changed (and is kept for [`Self::effective`]).
    pub async fn reload(&self, trigger: &str) -> ReloadReport {
        let _one_at_a_time = self.serial.lock().await;
        let mut report = ReloadReport {
            at: unix_now(),
            trigger: trigger.into(),
            error: None,
            applied: Vec::new(),
            restart_required: Vec::new(),
        };
        if let Err(e) = self.apply(&mut report).await {
            report.applied.clear();
            report.restart_required.clear();
            report.error = Some(e);
        }
        let result = if report.error.is_some() {
            "error"
        } else {
            "ok"
        };
        metrics()
            .config_reloads
            .with_label_values(&[trigger, result])
            .inc();
        match &report.error {
            Some(e) => {
                tracing::warn!(trigger, error = %e, "configuration reload failed; nothing changed")
            }
            None => tracing::info!(
                trigger,
                applied = ?report.applied,
                restart_required = ?report.restart_required,
                "configuration reloaded"
            ),
        }
        if let Ok(mut last) = self.last.lock() {
            *last = Some(report.clone());
        }
        report
    }

    async fn apply(&self, report: &mut ReloadReport) -> Result<(), String> {
        let next = (self.load)().map_err(|e| format!("{e:#}"))?;
        let running = self.running.load_full();
        let (old, mut new) = (
            serde_json::to_value(&*running).map_err(|e| e.to_string())?,
            serde_json::to_value(&next).map_err(|e| e.to_string())?,
        );
        let mut changed = Vec::new();
        changed_paths(&old, &new, "", &mut changed);
        let (applied, restart_required): (Vec<String>, Vec<String>) =
            changed.into_iter().partition(|p| is_live(p));
        // Fields that need a restart keep their running values.
        for path in &restart_required {
            if let (Some(slot), Some(was)) =
                (new.pointer_mut(&pointer(path)), old.pointer(&pointer(path)))
            {
                *slot = was.clone();
            }
        }
        let effective: EdgeConfig = serde_json::from_value(new).map_err(|e| e.to_string())?;
        if let Some(certificates) = &self.certificates {
            certificates
                .reload(Some(effective.tls.files()))
                .map_err(|e| format!("certificates: {e}"))?;
        }
        self.media.reconfigure(&effective).await?;
        self.running.store(Arc::new(effective));
        report.applied = applied;
        report.restart_required = restart_required;
        Ok(())
    }

    /// The configuration in effect (secrets redacted), the certificates served and the last
    /// reload's report: what `GET /config` answers.
    pub fn effective(&self) -> Value {
        let last = self.last.lock().ok().and_then(|l| l.clone());
        serde_json::json!({
            "config": redacted(&self.running.load()),
            "certificates": self.certificates.as_ref().map(|c| c.describe()),
            "last_reload": last,
        })
    }

    /// Reloads on SIGHUP, and re-reads certificate files that changed on disk every
    /// `tls.reload_interval_secs`. Runs for the life of the process.
    pub async fn run(self: Arc<Self>) {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler: reload through the admin port");
                None
            }
        };
        loop {
            let interval = self.running.load().tls.reload_interval_secs;
            let watch = async {
                match (&self.certificates, interval) {
                    (Some(_), secs) if secs > 0 => {
                        tokio::time::sleep(Duration::from_secs(secs)).await
                    }
                    _ => std::future::pending().await,
                }
            };
            let signal = async {
                match hangup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = signal => {
                    self.reload("SIGHUP").await;
                }
                () = watch => self.reload_changed_certificates(),
            }
        }
    }

    fn reload_changed_certificates(&self) {
        let Some(certificates) = &self.certificates else {
            return;
        };
        if !certificates.changed_on_disk() {
            return;
        }
        let result = certificates.reload(None);
        let label = if result.is_ok() { "ok" } else { "error" };
        metrics()
            .config_reloads
            .with_label_values(&["certificate-files", label])
            .inc();
        match result {
            Ok(()) => {
                tracing::info!(certificates = ?certificates.describe(), "certificate files changed; new connections get them")
            }
            Err(e) => {
                tracing::warn!(error = %e, "certificate files changed but do not load; still serving the previous ones")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_paths_cover_their_fields_and_nothing_else() {
        assert!(is_live("cache.metadata_ttl_secs"));
        assert!(is_live("encryption.token_secret"));
        assert!(is_live("tls.certificates"));
        assert!(!is_live("tls.listen"));
        assert!(!is_live("listen"));
        assert!(!is_live("cache.segment_bytes_extra"));
        assert!(!is_live("fleet.redis"));
    }

    #[test]
    fn changed_paths_are_leaves() {
        let a = serde_json::json!({"cache": {"a": 1, "b": 2}, "listen": "x", "tls": {"certificates": [1]}});
        let b = serde_json::json!({"cache": {"a": 1, "b": 3}, "listen": "y", "tls": {"certificates": [1, 2]}});
        let mut out = Vec::new();
        changed_paths(&a, &b, "", &mut out);
        assert_eq!(out, ["cache.b", "listen", "tls.certificates"]);
    }

    #[test]
    fn secrets_are_redacted_and_absent_ones_stay_null() {
        let mut c = EdgeConfig::default();
        c.encryption.token_secret = Some("00ff".into());
        c.views.secret = Some("11ee".into());
        c.pictures.secret = Some("22dd".into());
        let v = redacted(&c);
        for path in ["/views/secret", "/pictures/secret"] {
            assert_eq!(v.pointer(path), Some(&Value::from("(set)")), "{path}");
        }
        assert_eq!(
            v.pointer("/encryption/token_secret"),
            Some(&Value::from("(set)"))
        );
        assert_eq!(v.pointer("/encryption/master_key"), Some(&Value::Null));
        assert_eq!(v.pointer("/admin_token"), Some(&Value::Null));
        for secret in ["00ff", "11ee", "22dd"] {
            assert!(!v.to_string().contains(secret));
        }
    }
}
