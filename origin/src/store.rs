//! Opening the object store a STORE argument names: a directory, `file:///abs/dir`,
//! `s3://bucket/prefix` or `memory://`.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

/// Why a STORE argument could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The argument is not of a supported form.
    #[error("invalid store {spec:?}: {reason}")]
    Invalid {
        /// The argument as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store could not be set up (directory not creatable, bad S3 settings).
    #[error("cannot open store {spec:?}: {source}")]
    Open {
        /// The argument as given.
        spec: String,
        /// The underlying failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// An object store and the key prefix Sunomi's layout lives under.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    prefix: Option<Path>,
    description: String,
    local_root: Option<std::path::PathBuf>,
    s3: Option<Arc<AmazonS3>>,
    s3_bucket: Option<String>,
    request_timeout: Duration,
}

/// How patient storage calls are: edges want a quick 503 over a long hang.
#[derive(Debug, Clone, Copy)]
pub struct StoreTimeouts {
    /// TCP connect timeout for remote stores.
    pub connect: Duration,
    /// Whole-request timeout for remote stores.
    pub request: Duration,
    /// Retries of a failed request (with backoff) before giving up.
    pub max_retries: usize,
}

impl Default for StoreTimeouts {
    fn default() -> Self {
        StoreTimeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(30),
            max_retries: 2,
        }
    }
}

impl Store {
    /// Opens the store named by `spec` with default timeouts.
    pub fn open(spec: &str) -> Result<Store, StoreError> {
        Self::open_with(spec, StoreTimeouts::default())
    }

    /// Opens the store named by `spec`.
    ///
    /// S3 takes credentials, region and endpoint from the usual `AWS_*` environment variables
    /// (`AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP=true` for S3-compatible servers); requests use
    /// path-style addressing unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.
    pub fn open_with(spec: &str, timeouts: StoreTimeouts) -> Result<Store, StoreError> {
        let invalid = |reason: &str| StoreError::Invalid {
            spec: spec.into(),
            reason: reason.into(),
        };
        let open_err = |e: object_store::Error| StoreError::Open {
            spec: spec.into(),
            source: Box::new(e),
        };
        if spec.is_empty() {
            return Err(invalid("empty"));
        }
        if let Some(rest) = spec.strip_prefix("memory://") {
            if !rest.is_empty() {
                return Err(invalid("memory:// takes no path"));
            }
            return Ok(
                Store::new(Arc::new(InMemory::new()), None, "memory://".into())
                    .with_request_timeout(timeouts.request),
            );
        }
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("s3:// needs a bucket name"));
            }
            // Client options first, then the environment (as `from_env` reads it), so settings
            // such as AWS_ALLOW_HTTP land on top of our timeouts instead of being replaced.
            let mut builder = AmazonS3Builder::new().with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(timeouts.connect)
                    .with_timeout(timeouts.request)
                    .with_pool_idle_timeout(Duration::from_secs(90)),
            );
            for (key, value) in std::env::vars() {
                if key.starts_with("AWS_") {
                    if let Ok(config_key) = key.to_ascii_lowercase().parse() {
                        builder = builder.with_config(config_key, value);
                    }
                }
            }
            let s3 = builder
                .with_bucket_name(bucket)
                .with_retry(RetryConfig {
                    max_retries: timeouts.max_retries,
                    retry_timeout: timeouts.request,
                    ..Default::default()
                })
                .build()
                .map_err(open_err)?;
            let prefix = prefix.trim_matches('/');
            let prefix = (!prefix.is_empty())
                .then(|| Path::parse(prefix))
                .transpose()
                .map_err(|e| invalid(&e.to_string()))?;
            let s3 = Arc::new(s3);
            let mut store = Store::new(s3.clone(), prefix, spec.into());
            store.s3 = Some(s3);
            store.s3_bucket = Some(bucket.to_string());
            return Ok(store.with_request_timeout(timeouts.request));
        }
        let dir = match spec.strip_prefix("file://") {
            Some(abs) if abs.starts_with('/') => abs,
            Some(_) => return Err(invalid("file:// needs an absolute path (file:///dir)")),
            None if spec.contains("://") => {
                return Err(invalid(
                    "use a directory, file:///dir, s3://bucket/prefix or memory://",
                ))
            }
            None => spec,
        };
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            spec: spec.into(),
            source: Box::new(e),
        })?;
        let local = LocalFileSystem::new_with_prefix(dir).map_err(open_err)?;
        let mut store =
            Store::new(Arc::new(local), None, spec.into()).with_request_timeout(timeouts.request);
        store.local_root = Some(std::fs::canonicalize(dir).map_err(|e| StoreError::Open {
            spec: spec.into(),
            source: Box::new(e),
        })?);
        Ok(store)
    }

    /// Wraps an existing object store (tests use this to count or break reads).
    pub fn new(inner: Arc<dyn ObjectStore>, prefix: Option<Path>, description: String) -> Store {
        Store {
            inner,
            prefix,
            description,
            local_root: None,
            s3: None,
            s3_bucket: None,
            request_timeout: StoreTimeouts::default().request,
        }
    }

    /// Gives up on any one storage request (local reads included) after `timeout`.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Store {
        self.request_timeout = timeout;
        self
    }

    /// How long one storage request may take.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// For a local directory store, its root directory.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    /// For a local directory store, the file a layout key lives in. Local files are read
    /// directly (see [`crate::local`]).
    pub fn local_file(&self, key: &str) -> Option<std::path::PathBuf> {
        self.local_root.as_ref().map(|root| root.join(key))
    }

    /// For an `s3://` store, the S3 client itself: it signs URLs (`Signer`) and drives
    /// multipart uploads part by part (`MultipartStore`), which the control plane's direct
    /// browser uploads need.
    pub fn s3(&self) -> Option<&Arc<AmazonS3>> {
        self.s3.as_ref()
    }

    /// For an `s3://` store, its bucket's name (S3 event notifications name it).
    pub fn s3_bucket(&self) -> Option<&str> {
        self.s3_bucket.as_deref()
    }

    /// The object store itself.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// The full object path of a layout key (see [`crate::layout`]).
    pub fn path(&self, key: &str) -> Path {
        let key = Path::from_iter(key.split('/'));
        match &self.prefix {
            Some(p) => Path::from_iter(p.parts().chain(key.parts())),
            None => key,
        }
    }

    /// What this store is, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert!(Store::open("memory://").is_ok());
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(
            s.path("videos/a/manifest.json").as_ref(),
            "videos/a/manifest.json"
        );
        let url = format!("file://{}", dir.path().display());
        assert!(Store::open(&url).is_ok());
        assert!(Store::open("file://relative").is_err());
        assert!(Store::open("ftp://x").is_err());
        assert!(Store::open("s3://").is_err());
        assert!(Store::open("").is_err());
    }

    #[test]
    fn s3_prefix_is_prepended() {
        let s = Store::open("s3://bucket/some/prefix/").unwrap();
        assert_eq!(
            s.path("videos/a/source").as_ref(),
            "some/prefix/videos/a/source"
        );
    }
}
