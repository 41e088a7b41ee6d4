//! What the `aws` backends share: the SDK configuration from `[aws]`, where the source is in
//! S3, how AWS errors map to [`AnalysisError`], and the polling schedule of async jobs.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_transcribe::config::http::HttpResponse;
use aws_sdk_transcribe::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_transcribe::operation::RequestId;

use super::AnalysisError;
use crate::config::Config;

/// The SDK configuration: region and endpoint from `[aws]` when set, credentials from the
/// SDK's default chain (environment, profile, container or instance role).
pub async fn sdk_config(config: &Config) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = &config.aws.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(e) = &config.aws.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    loader.load().await
}

/// The bucket of an `s3://bucket/prefix` store: AWS's media services read the source where
/// it is, so the `aws` backends need the store on S3.
pub fn store_bucket(config: &Config) -> Result<String, String> {
    config
        .store
        .strip_prefix("s3://")
        .and_then(|rest| rest.split('/').next())
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "the aws analysis backends read the source from S3; the store is {:?}",
                config.store
            )
        })
}

/// Error codes AWS uses for "slow down".
const THROTTLING: [&str; 6] = [
    "ThrottlingException",
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
];

/// Error codes that mean our credentials or permissions are wrong.
const DENIED: [&str; 6] = [
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidS3ObjectException",
];

/// Maps an SDK error to an analysis error, keeping AWS's code, message and request id.
pub fn classify<E>(what: &str, e: SdkError<E, HttpResponse>) -> AnalysisError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("Unknown");
            let message = err.message().unwrap_or("");
            let request = err.meta().request_id().unwrap_or("-");
            let text = format!("{what}: {code}: {message} (request id {request})");
            if THROTTLING.contains(&code) || status == Some(429) {
                AnalysisError::Busy(text)
            } else if DENIED.contains(&code) || status == Some(403) {
                AnalysisError::Denied(text)
            } else {
                AnalysisError::Backend(text)
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            AnalysisError::Busy(format!("{what}: AWS unreachable: {}", DisplayChain(&e)))
        }
        _ => AnalysisError::Backend(format!("{what}: {}", DisplayChain(&e))),
    }
}

/// An error and its sources on one line.
struct DisplayChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// When to poll an AWS job: after `initial`, doubling up to `max`, until `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    /// First wait.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Polling {
    /// From `[aws]`: 2 s doubling to 30 s, for up to 2 hours by default.
    pub fn from_config(config: &Config) -> Polling {
        Polling {
            initial: Duration::from_millis(config.aws.poll_initial_ms.unwrap_or(2000)),
            max: Duration::from_secs(config.aws.poll_max_secs.unwrap_or(30)),
            timeout: Duration::from_secs(config.aws.job_timeout_secs.unwrap_or(7200)),
        }
    }

    /// The waits, in order, while they fit in the timeout.
    pub fn waits(&self) -> impl Iterator<Item = Duration> {
        let (max, timeout) = (self.max, self.timeout);
        let mut next = self.initial.max(Duration::from_millis(10));
        let mut spent = Duration::ZERO;
        std::iter::from_fn(move || {
            if spent >= timeout {
                return None;
            }
            let wait = next.min(max);
            spent += wait;
            next = (next * 2).min(max);
            Some(wait)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_back_off_to_the_cap_and_stop_at_the_timeout() {
        let p = Polling {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
            timeout: Duration::from_secs(40),
        };
        let waits: Vec<u64> = p.waits().map(|d| d.as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 8, 8, 8, 8]);
    }

    #[test]
    fn the_source_bucket_comes_from_an_s3_store() {
        let mut c = Config::default();
        assert!(store_bucket(&c).is_err());
        c.store = "s3://media/prefix".into();
        assert_eq!(store_bucket(&c).unwrap(), "media");
    }
}
