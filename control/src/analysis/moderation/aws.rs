//! The `aws` moderator: Amazon Rekognition video content moderation through the official
//! SDK. `StartContentModeration` on the stored source with `MinConfidence`
//! (`moderation.min_confidence`) and a client request token derived from the asset and its
//! source version (a redelivered job gets the same Rekognition job back), then
//! `GetContentModeration` polled with backoff until it succeeds, and paged with `NextToken`
//! for every label.

use async_trait::async_trait;
use aws_sdk_rekognition::types::{ContentModerationSortBy, S3Object, Video, VideoJobStatus};
use aws_sdk_rekognition::Client;
use sha2::Digest;

use super::Moderator;
use crate::analysis::aws::{classify, sdk_config, store_bucket, Polling};
use crate::analysis::{AnalysisError, MediaInputs};
use crate::config::Config;
use crate::domain::moderation::{Findings, Label};

/// Labels asked for per `GetContentModeration` page (the API's maximum).
pub const PAGE_SIZE: i32 = 1000;
/// Pages read at most (a bound on what one video can cost us).
pub const MAX_PAGES: usize = 100;

/// The Rekognition client and where the sources are.
pub struct AwsRekognition {
    client: Client,
    bucket: String,
    min_confidence: f32,
    polling: Polling,
}

impl AwsRekognition {
    /// A client configured from `[aws]` and `[moderation]`.
    pub async fn new(config: &Config) -> Result<AwsRekognition, String> {
        let bucket = store_bucket(config)?;
        let sdk = sdk_config(config).await;
        let mut client = aws_sdk_rekognition::config::Builder::from(&sdk);
        if let Some(url) = &config.aws.rekognition_endpoint_url {
            client = client.endpoint_url(url);
        }
        Ok(AwsRekognition {
            client: Client::from_conf(client.build()),
            bucket,
            min_confidence: config.moderation.min_confidence,
            polling: Polling::from_config(config),
        })
    }
}

/// Rekognition's idempotency token for (asset, source version): 64 characters at most.
pub fn request_token(asset: &str, source_version: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{asset}\n{source_version}").as_bytes());
    hex::encode(&digest[..24])
}

#[async_trait]
impl Moderator for AwsRekognition {
    fn backend(&self) -> &'static str {
        "aws"
    }

    async fn moderate(&self, input: &MediaInputs<'_>) -> Result<Findings, AnalysisError> {
        let app = input.app();
        let source = app.store().path(&input.source_key()).to_string();
        let started = self
            .client
            .start_content_moderation()
            .video(
                Video::builder()
                    .s3_object(
                        S3Object::builder()
                            .bucket(&self.bucket)
                            .name(source)
                            .build(),
                    )
                    .build(),
            )
            .min_confidence(self.min_confidence)
            .client_request_token(request_token(input.asset.as_str(), &input.source_version))
            .job_tag("sunomi")
            .send()
            .await
            .map_err(|e| classify("StartContentModeration", e))?;
        let job = started
            .job_id()
            .ok_or_else(|| AnalysisError::Backend("StartContentModeration gave no JobId".into()))?
            .to_string();
        tracing::info!(asset = %input.asset, %job, "content moderation started");

        let mut waits = self.polling.waits();
        let mut labels = Vec::new();
        let mut next: Option<String> = None;
        let mut pages = 0usize;
        let mut incomplete = None;
        loop {
            let page = self
                .client
                .get_content_moderation()
                .job_id(&job)
                .max_results(PAGE_SIZE)
                .sort_by(ContentModerationSortBy::Timestamp)
                .set_next_token(next.clone())
                .send()
                .await
                .map_err(|e| classify("GetContentModeration", e))?;
            match page.job_status() {
                Some(VideoJobStatus::Succeeded) => {}
                Some(VideoJobStatus::Failed) => {
                    return Err(AnalysisError::Backend(format!(
                        "content moderation job {job} failed: {}",
                        page.status_message().unwrap_or("no reason given")
                    )))
                }
                _ => {
                    match waits.next() {
                        Some(w) => tokio::time::sleep(w).await,
                        None => {
                            return Err(AnalysisError::Timeout(format!(
                                "content moderation job {job} did not finish in {:?}",
                                self.polling.timeout
                            )))
                        }
                    }
                    continue;
                }
            }
            for d in page.moderation_labels() {
                let Some(l) = d.moderation_label() else {
                    continue;
                };
                labels.push(Label {
                    category: l.name().unwrap_or("Unknown").to_string(),
                    parent: l.parent_name().filter(|p| !p.is_empty()).map(str::to_owned),
                    confidence: l.confidence().unwrap_or(0.0),
                    time_secs: d.timestamp() as f64 / 1000.0,
                });
            }
            pages += 1;
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                break;
            }
            if pages >= MAX_PAGES {
                // Deciding on a prefix would pass whatever the rest holds: fail closed.
                tracing::warn!(%job, pages, "stopping at the page limit; the verdict will be review");
                incomplete = Some(format!(
                    "Rekognition had more than {MAX_PAGES} pages of {PAGE_SIZE} labels; the rest were not read"
                ));
                break;
            }
        }
        Ok(Findings { labels, incomplete })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_tokens_fit_and_follow_the_source() {
        let t = request_token("abc", "v1");
        assert!(t.len() <= 64 && t.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(t, request_token("abc", "v1"));
        assert_ne!(t, request_token("abc", "v2"));
    }
}
