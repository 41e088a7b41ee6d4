//! The `aws` transcriber: Amazon Transcribe through the official SDK.
//!
//! `StartTranscriptionJob` on the stored source (`s3://{store bucket}/…/source`), with the
//! language given (config, or the upload's `meta.language`) or identified, and WebVTT
//! subtitles written to the output bucket under `{prefix}{job}/`; `GetTranscriptionJob` polled
//! with backoff; the subtitles read back through the store, parsed by the packager's WebVTT
//! parser and reshaped into readable cues. The job name is derived from the asset and its
//! source version, so a redelivered job finds the job it started instead of paying twice.

use async_trait::async_trait;
use aws_sdk_transcribe::types::{
    LanguageCode, Media, SubtitleFormat, Subtitles, TranscriptionJobStatus,
};
use aws_sdk_transcribe::Client;
use object_store::ObjectStoreExt;
use sha2::Digest;

use super::{primary_language, Transcriber};
use crate::analysis::aws::{classify, sdk_config, store_bucket, Polling};
use crate::analysis::{AnalysisError, MediaInputs};
use crate::config::Config;
use crate::domain::cues::{Segment, Transcript};

/// Where Transcribe writes, under the store's prefix, unless `[aws] output_prefix` says.
pub const DEFAULT_OUTPUT_PREFIX: &str = "transcribe/";

/// The Transcribe client and where it reads and writes.
pub struct AwsTranscribe {
    client: Client,
    bucket: String,
    output_bucket: String,
    output_prefix: String,
    language: Option<String>,
    polling: Polling,
}

impl AwsTranscribe {
    /// A client configured from `[aws]` and `[captions]`.
    pub async fn new(config: &Config) -> Result<AwsTranscribe, String> {
        let bucket = store_bucket(config)?;
        let sdk = sdk_config(config).await;
        let mut client = aws_sdk_transcribe::config::Builder::from(&sdk);
        if let Some(url) = &config.aws.transcribe_endpoint_url {
            client = client.endpoint_url(url);
        }
        Ok(AwsTranscribe {
            client: Client::from_conf(client.build()),
            output_bucket: config.aws.output_bucket.clone().unwrap_or(bucket.clone()),
            bucket,
            output_prefix: config
                .aws
                .output_prefix
                .clone()
                .unwrap_or_else(|| DEFAULT_OUTPUT_PREFIX.into()),
            language: config.captions.language.clone(),
            polling: Polling::from_config(config),
        })
    }
}

/// A job name unique to (asset, source version): `sunomi-{asset}-{12 hex}`.
pub fn job_name(asset: &str, source_version: &str) -> String {
    let digest = sha2::Sha256::digest(source_version.as_bytes());
    format!("sunomi-{asset}-{}", &hex::encode(digest)[..12])
}

/// Transcribe's language codes for an ISO 639-1 code (the variant it supports first).
fn language_code(lang: &str) -> LanguageCode {
    let tag = match lang {
        "en" => "en-US",
        "es" => "es-US",
        "fr" => "fr-FR",
        "de" => "de-DE",
        "it" => "it-IT",
        "pt" => "pt-BR",
        "ja" => "ja-JP",
        "ko" => "ko-KR",
        "zh" => "zh-CN",
        "hi" => "hi-IN",
        "ar" => "ar-SA",
        "nl" => "nl-NL",
        "ru" => "ru-RU",
        other => other,
    };
    LanguageCode::from(tag)
}

#[async_trait]
impl Transcriber for AwsTranscribe {
    fn backend(&self) -> &'static str {
        "aws"
    }

    async fn transcribe(
        &self,
        input: &MediaInputs<'_>,
    ) -> Result<Option<Transcript>, AnalysisError> {
        if input.manifest.audio.is_empty() {
            return Ok(None);
        }
        let app = input.app();
        let job = job_name(input.asset.as_str(), &input.source_version);
        let source = app.store().path(&input.source_key());
        // A key with an extension names the outputs: `{job}.json` and `{job}.vtt`.
        let output_key = app
            .store()
            .path(&format!("{}{job}.json", self.output_prefix))
            .to_string();
        let language = self
            .language
            .clone()
            .or_else(|| input.language_hint.as_deref().and_then(primary_language));
        let mut start = self
            .client
            .start_transcription_job()
            .transcription_job_name(&job)
            .media(
                Media::builder()
                    .media_file_uri(format!("s3://{}/{source}", self.bucket))
                    .build(),
            )
            .output_bucket_name(&self.output_bucket)
            .output_key(&output_key)
            .subtitles(
                Subtitles::builder()
                    .formats(SubtitleFormat::Vtt)
                    .output_start_index(1)
                    .build(),
            );
        start = match &language {
            Some(l) => start.language_code(language_code(l)),
            None => start.identify_language(true),
        };
        match start.send().await {
            Ok(_) => tracing::info!(asset = %input.asset, %job, "transcription job started"),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conflict_exception()) =>
            {
                tracing::info!(asset = %input.asset, %job, "transcription job exists; following it")
            }
            Err(e) => return Err(classify("StartTranscriptionJob", e)),
        }

        let mut waits = self.polling.waits();
        let done = loop {
            let got = self
                .client
                .get_transcription_job()
                .transcription_job_name(&job)
                .send()
                .await
                .map_err(|e| classify("GetTranscriptionJob", e))?;
            let Some(j) = got.transcription_job() else {
                return Err(AnalysisError::Backend(
                    "GetTranscriptionJob answered without a job".into(),
                ));
            };
            match j.transcription_job_status() {
                Some(TranscriptionJobStatus::Completed) => break j.clone(),
                Some(TranscriptionJobStatus::Failed) => {
                    return Err(AnalysisError::Backend(format!(
                        "transcription job {job} failed: {}",
                        j.failure_reason().unwrap_or("no reason given")
                    )))
                }
                _ => {}
            }
            match waits.next() {
                Some(w) => tokio::time::sleep(w).await,
                None => {
                    return Err(AnalysisError::Timeout(format!(
                        "transcription job {job} did not finish in {:?}",
                        self.polling.timeout
                    )))
                }
            }
        };
        let language = done
            .language_code()
            .and_then(|l| primary_language(l.as_str()))
            .or(language)
            .unwrap_or_else(|| "und".into());
        let uri = done
            .subtitles()
            .map(|s| s.subtitle_file_uris())
            .and_then(|u| u.iter().find(|u| u.ends_with(".vtt")))
            .ok_or_else(|| {
                AnalysisError::Backend(format!(
                    "transcription job {job} completed without WebVTT subtitles"
                ))
            })?;
        let key = object_key(uri, &self.output_bucket)
            .ok_or_else(|| AnalysisError::Backend(format!("cannot read subtitles URI {uri:?}")))?;
        if self.output_bucket != self.bucket {
            return Err(AnalysisError::Backend(format!(
                "subtitles are in bucket {}; this store reads {} (set [aws] output_bucket to the store's bucket)",
                self.output_bucket, self.bucket
            )));
        }
        let path = object_store::path::Path::parse(&key)
            .map_err(|e| AnalysisError::Backend(format!("subtitles key {key:?}: {e}")))?;
        let got = match app.store().object_store().get(&path).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(AnalysisError::Backend(format!(
                    "transcription job {job} completed but its subtitles s3://{}/{key} are missing",
                    self.output_bucket
                )))
            }
            Err(e) => return Err(AnalysisError::Store(format!("reading {key}: {e}"))),
        };
        let bytes = got
            .bytes()
            .await
            .map_err(|e| AnalysisError::Store(format!("reading {key}: {e}")))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| AnalysisError::Backend(format!("{key} is not UTF-8")))?;
        let vtt = sunomi_packager::vtt::parse(text)
            .map_err(|e| AnalysisError::Backend(format!("{key} is not valid WebVTT: {e}")))?;
        let segments = vtt
            .cues
            .iter()
            .map(|c| Segment {
                start: c.start_ms as f64 / 1000.0,
                end: c.end_ms as f64 / 1000.0,
                text: c.text.split_whitespace().collect::<Vec<_>>().join(" "),
            })
            .collect();
        Ok(Some(Transcript { language, segments }))
    }
}

/// The object key of an S3 URI Transcribe reports, path-style
/// (`https://s3.{region}.amazonaws.com/{bucket}/{key}`) or virtual-hosted
/// (`https://{bucket}.s3.{region}.amazonaws.com/{key}`), or `s3://{bucket}/{key}`.
pub fn object_key(uri: &str, bucket: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .or_else(|| uri.strip_prefix("s3://"))?;
    let (host, path) = rest.split_once('/')?;
    let key = if host == bucket || host.starts_with(&format!("{bucket}.")) {
        path
    } else {
        path.strip_prefix(bucket)?.strip_prefix('/')?
    };
    let key = percent_encoding::percent_decode_str(key)
        .decode_utf8_lossy()
        .into_owned();
    (!key.is_empty() && !key.split('/').any(|s| s == ".." || s.is_empty())).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtitle_uris_name_their_key() {
        let b = "media";
        assert_eq!(
            object_key(
                "https://s3.us-east-1.amazonaws.com/media/transcribe/j.vtt",
                b
            )
            .as_deref(),
            Some("transcribe/j.vtt")
        );
        assert_eq!(
            object_key(
                "https://media.s3.eu-west-1.amazonaws.com/p/transcribe/j.vtt",
                b
            )
            .as_deref(),
            Some("p/transcribe/j.vtt")
        );
        assert_eq!(
            object_key("https://s3.amazonaws.com/media/a%20b.vtt", b).as_deref(),
            Some("a b.vtt")
        );
        assert_eq!(object_key("https://s3.amazonaws.com/other/x.vtt", b), None);
        assert_eq!(
            object_key("https://s3.amazonaws.com/media/../x.vtt", b),
            None
        );
    }

    #[test]
    fn job_names_are_stable_per_source_and_valid() {
        let a = job_name("abc", "etag-1");
        assert_eq!(a, job_name("abc", "etag-1"));
        assert_ne!(a, job_name("abc", "etag-2"));
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
        assert!(a.len() <= 200);
    }
}
