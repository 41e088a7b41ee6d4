//! TLS on the player listener: certificates from PEM files, one picked per connection by
//! SNI, swapped whole on reload so new connections get the new files while open ones keep
//! theirs.
//!
//! Each certificate gets its own OpenSSL context built with the same settings (Mozilla
//! "intermediate": TLS 1.2 and 1.3; ALPN `h2`, then `http/1.1`). The listener's servername
//! callback, which OpenSSL runs on every handshake (with or without SNI), moves the
//! connection onto the context for its name: an exact name, else a `*.` wildcard one label
//! deep, else the default (the first certificate). The set lives behind an [`ArcSwap`]: a
//! reload builds a complete new set or fails and leaves the old one serving.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use pingora::listeners::tls::TlsSettings;
use pingora::tls::hash::MessageDigest;
use pingora::tls::ssl::{
    select_next_proto, AlpnError, NameType, SniError, SslAcceptor, SslContext, SslFiletype,
    SslMethod, SslRef,
};
use pingora::tls::x509::X509;
use serde::Serialize;

use crate::ops::config::CertificateFiles;

/// Why a certificate set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// No certificate configured.
    #[error("TLS needs at least one certificate (tls.cert and tls.key)")]
    NoCertificate,
    /// A file could not be read or did not hold what it should.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What was wrong, as OpenSSL or the file system said it.
        reason: String,
    },
    /// The key does not belong to the certificate.
    #[error("{key} is not the private key of {cert}")]
    KeyMismatch {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
    },
    /// The certificate names no host (no DNS subject alternative name, no common name).
    #[error("{0} names no host (no DNS subjectAltName or CN)")]
    NoName(String),
}

/// ALPN protocols offered, in preference order (wire format).
const ALPN_H2_H1: &[u8] = b"\x02h2\x08http/1.1";

/// One certificate as loaded, described for the admin port.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateInfo {
    /// The certificate file.
    pub cert: String,
    /// The names it serves (DNS subject alternative names, else the common name).
    pub names: Vec<String>,
    /// `notAfter`, as OpenSSL prints it.
    pub not_after: String,
    /// `notAfter` in seconds since the Unix epoch (0 if OpenSSL could not say).
    pub expires_unix: i64,
    /// SHA-256 of the leaf certificate (DER), hex.
    pub sha256: String,
}

/// A complete set of certificates: what one reload installs.
struct CertificateSet {
    default: SslContext,
    exact: HashMap<String, SslContext>,
    wildcard: HashMap<String, SslContext>,
    info: Vec<CertificateInfo>,
    /// Each file with its modification time when read, to notice replacement.
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
}

impl CertificateSet {
    fn load(files: &[CertificateFiles]) -> Result<CertificateSet, TlsError> {
        let mut contexts = Vec::with_capacity(files.len());
        let mut info = Vec::with_capacity(files.len());
        let mut stamps = Vec::with_capacity(files.len() * 2);
        for f in files {
            stamps.push((f.cert.clone(), modified(&f.cert)));
            stamps.push((f.key.clone(), modified(&f.key)));
            let (context, names, described) = load_pair(&f.cert, &f.key)?;
            contexts.push((context, names));
            info.push(described);
        }
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        // Earlier files win a name both serve, as the first listed is the default.
        for (context, names) in &contexts {
            for name in names {
                match name.strip_prefix("*.") {
                    Some(parent) => wildcard.entry(parent.to_string()),
                    None => exact.entry(name.clone()),
                }
                .or_insert_with(|| context.clone());
            }
        }
        let default = contexts
            .into_iter()
            .next()
            .map(|(c, _)| c)
            .ok_or(TlsError::NoCertificate)?;
        Ok(CertificateSet {
            default,
            exact,
            wildcard,
            info,
            stamps,
        })
    }

    /// The context for a client's server name (`None`: it sent none).
    fn pick(&self, server_name: Option<&str>) -> &SslContext {
        let Some(name) = server_name else {
            return &self.default;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(c) = self.exact.get(&name) {
            return c;
        }
        name.split_once('.')
            .and_then(|(_, parent)| self.wildcard.get(parent))
            .unwrap_or(&self.default)
    }

    fn changed_on_disk(&self) -> bool {
        self.stamps.iter().any(|(path, at)| modified(path) != *at)
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn file_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// A context for one certificate chain and key, with its names and description.
fn load_pair(
    cert: &Path,
    key: &Path,
) -> Result<(SslContext, Vec<String>, CertificateInfo), TlsError> {
    let pem = std::fs::read(cert).map_err(|e| file_error(cert, e))?;
    let leaf = X509::from_pem(&pem).map_err(|e| file_error(cert, e))?;
    let names = host_names(&leaf);
    if names.is_empty() {
        return Err(TlsError::NoName(cert.display().to_string()));
    }
    let mut builder = acceptor_builder().map_err(|e| file_error(cert, e))?;
    builder
        .set_certificate_chain_file(cert)
        .map_err(|e| file_error(cert, e))?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| file_error(key, e))?;
    builder
        .check_private_key()
        .map_err(|_| TlsError::KeyMismatch {
            cert: cert.display().to_string(),
            key: key.display().to_string(),
        })?;
    let sha256 = leaf
        .digest(MessageDigest::sha256())
        .map(|d| hex::encode(&*d))
        .unwrap_or_default();
    let info = CertificateInfo {
        cert: cert.display().to_string(),
        names: names.clone(),
        not_after: leaf.not_after().to_string(),
        expires_unix: unix_seconds(leaf.not_after()),
        sha256,
    };
    Ok((builder.build().into_context(), names, info))
}

/// `time` in seconds since the Unix epoch (0 when OpenSSL cannot compare them).
fn unix_seconds(time: &Asn1TimeRef) -> i64 {
    Asn1Time::from_unix(0)
        .and_then(|epoch| epoch.diff(time))
        .map_or(0, |d| i64::from(d.days) * 86_400 + i64::from(d.secs))
}

/// Exports when the first certificate of `set` expires.
fn export_expiry(set: &CertificateSet) {
    if let Some(first) = set.info.iter().map(|i| i.expires_unix).min() {
        crate::ops::metrics::set_tls_expiry(first as f64);
    }
}

/// The settings every context shares: Mozilla intermediate and our ALPN preference.
fn acceptor_builder(
) -> Result<pingora::tls::ssl::SslAcceptorBuilder, pingora::tls::error::ErrorStack> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    builder.set_alpn_select_callback(prefer_h2);
    Ok(builder)
}

/// `SSL_CTRL_CLEAR_MODE` from OpenSSL's `ssl.h` (`SSL_CTX_clear_mode` is a macro over it, and
/// neither the `openssl` crate nor `openssl-sys` exposes it).
const SSL_CTRL_CLEAR_MODE: std::ffi::c_int = 78;

/// Keeps each connection's TLS record buffers for its life, undoing the Mozilla builder's
/// `SSL_MODE_RELEASE_BUFFERS` (`tls.release_buffers = false`, the default): released,
/// OpenSSL allocates and frees a buffer of about 16 KiB on every read and write that drains
/// it, the allocator's largest share of the edge's CPU on small HTTP/2 responses
/// (docs/PERFORMANCE.md). Kept, an idle TLS connection holds them (memory measured in
/// docs/PERFORMANCE.md), within `connections.max`.
fn keep_record_buffers(builder: &mut pingora::tls::ssl::SslAcceptorBuilder) {
    let release = pingora::tls::ssl::SslMode::RELEASE_BUFFERS.bits() as std::ffi::c_long;
    // SAFETY: a valid context the builder owns; the control only clears mode bits.
    unsafe {
        openssl_sys::SSL_CTX_ctrl(
            builder.as_ptr(),
            SSL_CTRL_CLEAR_MODE,
            release,
            std::ptr::null_mut(),
        );
    }
}

/// ALPN: `h2` when the client offers it, else `http/1.1`; a client offering neither gets no
/// protocol (and speaks HTTP/1.1, as without ALPN).
fn prefer_h2<'a>(_: &mut SslRef, client: &'a [u8]) -> Result<&'a [u8], AlpnError> {
    select_next_proto(ALPN_H2_H1, client).ok_or(AlpnError::NOACK)
}

/// The lower-cased DNS names a certificate serves: its DNS subject alternative names, or its
/// common name when it has none (as browsers no longer accept, but curl and old clients do).
fn host_names(cert: &X509) -> Vec<String> {
    let mut names: Vec<String> = cert
        .subject_alt_names()
        .map(|sans| {
            sans.iter()
                .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        names.extend(
            cert.subject_name()
                .entries_by_nid(pingora::tls::nid::Nid::COMMONNAME)
                .filter_map(|e| e.data().to_string().ok().map(|s| s.to_ascii_lowercase())),
        );
    }
    names
}

/// The player listener's certificates, replaceable while it serves.
pub struct Certificates {
    files: ArcSwap<Vec<CertificateFiles>>,
    current: ArcSwap<CertificateSet>,
}

impl Certificates {
    /// Loads `files` (the first is the default for clients without a known name).
    pub fn load(files: Vec<CertificateFiles>) -> Result<Arc<Certificates>, TlsError> {
        let set = CertificateSet::load(&files)?;
        export_expiry(&set);
        Ok(Arc::new(Certificates {
            files: ArcSwap::from_pointee(files),
            current: ArcSwap::from_pointee(set),
        }))
    }

    /// Re-reads the certificate files (a new list of them when `files` is given). On any
    /// error the certificates in use stay.
    pub fn reload(&self, files: Option<Vec<CertificateFiles>>) -> Result<(), TlsError> {
        let files = files.map_or_else(|| self.files.load_full(), Arc::new);
        let set = CertificateSet::load(&files)?;
        export_expiry(&set);
        self.current.store(Arc::new(set));
        self.files.store(files);
        Ok(())
    }

    /// Whether any certificate or key file changed since it was read.
    pub fn changed_on_disk(&self) -> bool {
        self.current.load().changed_on_disk()
    }

    /// The certificates in use.
    pub fn describe(&self) -> Vec<CertificateInfo> {
        self.current.load().info.clone()
    }

    /// The listener settings: every handshake is moved onto the current context for its
    /// server name.
    /// Connections keep their record buffers unless `release_buffers`.
    pub fn listener_settings(
        self: &Arc<Self>,
        release_buffers: bool,
    ) -> Result<TlsSettings, TlsError> {
        let mut builder = acceptor_builder().map_err(|e| TlsError::File {
            path: "(OpenSSL)".into(),
            reason: e.to_string(),
        })?;
        if !release_buffers {
            keep_record_buffers(&mut builder);
        }
        let mut settings = TlsSettings::from(builder);
        let certificates = self.clone();
        settings.set_servername_callback(move |ssl, _alert| {
            crate::ops::metrics::metrics()
                .tls_handshakes
                .with_label_values(&["started"])
                .inc();
            let set = certificates.current.load();
            let context = set.pick(ssl.servername(NameType::HOST_NAME));
            ssl.set_ssl_context(context)
                .map_err(|_| SniError::ALERT_FATAL)
        });
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_buffers_are_kept_unless_asked_to_release_them() {
        let released = |keep: bool| {
            let mut builder = acceptor_builder().unwrap();
            if keep {
                keep_record_buffers(&mut builder);
            }
            // Setting no bits returns the mode in effect.
            builder
                .set_mode(pingora::tls::ssl::SslMode::empty())
                .contains(pingora::tls::ssl::SslMode::RELEASE_BUFFERS)
        };
        assert!(released(false), "Mozilla's builder releases them");
        assert!(!released(true));
    }

    #[test]
    fn alpn_prefers_h2_and_falls_back_to_http11() {
        let both = b"\x08http/1.1\x02h2";
        assert_eq!(select_next_proto(ALPN_H2_H1, both), Some(&b"h2"[..]));
        let h1 = b"\x08http/1.1";
        assert_eq!(select_next_proto(ALPN_H2_H1, h1), Some(&b"http/1.1"[..]));
        assert_eq!(select_next_proto(ALPN_H2_H1, b"\x03foo"), None);
    }
}
