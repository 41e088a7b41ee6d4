//! The SQS side of S3 event intake: long-polls the queue S3 announces the bucket's new
//! objects on, hands each `ObjectCreated` record to [`Intake::take`], and deletes a message
//! once every record in it is settled.
//!
//! A message with a record that hit a failure worth retrying (the database or storage down)
//! is left alone: SQS delivers it again after its visibility timeout, and after the queue's
//! `maxReceiveCount` moves it to the dead-letter queue (`deploy/aws` wires one). A message
//! that is not an S3 notification is left for the dead-letter queue too, where an operator
//! finds it. Deleting a message is the last step, so a crash at any point means another
//! delivery, which intake's records make harmless.

use std::time::Duration;

use aws_sdk_sqs::Client;
use tokio::sync::watch;

use crate::config::Config;
use crate::domain::intake::{parse, Notification};
use crate::metrics::metrics;
use crate::services::intake::Intake;

/// The intake queue's client and how it reads.
pub struct IntakeQueue {
    client: Client,
    queue_url: String,
    wait_secs: i32,
    max_messages: i32,
    visibility_timeout_secs: Option<i32>,
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// Every record settled: delete it.
    Done,
    /// A record failed in a way worth another delivery.
    Retry,
    /// Not an S3 notification.
    Malformed,
}

impl IntakeQueue {
    /// The client for `[intake]` (region and credentials as for the other AWS clients,
    /// `[aws]`); `None` when no queue is configured.
    pub async fn from_config(config: &Config) -> Option<IntakeQueue> {
        let queue_url = config.intake.queue_url.clone()?;
        let sdk = crate::analysis::aws::sdk_config(config).await;
        let mut builder = aws_sdk_sqs::config::Builder::from(&sdk);
        if let Some(e) = &config.intake.endpoint_url {
            builder = builder.endpoint_url(e);
        }
        Some(IntakeQueue {
            client: Client::from_conf(builder.build()),
            queue_url,
            wait_secs: config.intake.wait_secs,
            max_messages: config.intake.max_messages,
            visibility_timeout_secs: config.intake.visibility_timeout_secs,
        })
    }

    /// Reads the queue until `stop` turns true, backing off while SQS cannot be reached.
    pub async fn run(self, intake: Intake, mut stop: watch::Receiver<bool>) {
        tracing::info!(queue = %self.queue_url, prefix = %intake.prefix, "S3 intake reading its queue");
        let mut backoff = Duration::from_secs(1);
        loop {
            let round = tokio::select! {
                r = self.poll_once(&intake) => r,
                _ = stop.changed() => return,
            };
            match round {
                Ok(_) => backoff = Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "S3 intake could not read its queue");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    /// One receive (a long poll): settles every message it got. Returns how many it got.
    pub async fn poll_once(&self, intake: &Intake) -> Result<usize, String> {
        let got = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.max_messages)
            .wait_time_seconds(self.wait_secs)
            .set_visibility_timeout(self.visibility_timeout_secs)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "ReceiveMessage: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
        let messages = got.messages.unwrap_or_default();
        for m in &messages {
            let settled = settle(intake, m.body.as_deref().unwrap_or("")).await;
            let label = match settled {
                Settled::Done => "done",
                Settled::Retry => "retry",
                Settled::Malformed => "malformed",
            };
            metrics().intake_messages.with_label_values(&[label]).inc();
            if settled != Settled::Done {
                continue;
            }
            let Some(receipt) = &m.receipt_handle else {
                continue;
            };
            if let Err(e) = self
                .client
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(receipt)
                .send()
                .await
            {
                // Delivered again later; intake finds it taken.
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not delete an intake message");
            }
        }
        Ok(messages.len())
    }
}

/// Takes every created object a message announces.
async fn settle(intake: &Intake, body: &str) -> Settled {
    let created = match parse(body) {
        Ok(Notification::Test) => return Settled::Done,
        Ok(Notification::Records { created, .. }) => created,
        Err(e) => {
            tracing::error!(error = %e, "an intake message is not an S3 notification; leaving it for the dead-letter queue");
            return Settled::Malformed;
        }
    };
    let mut settled = Settled::Done;
    for object in &created {
        if let Err(e) = intake.take(object).await {
            tracing::warn!(key = %object.key, error = %e, "intake failed; the message will be delivered again");
            settled = Settled::Retry;
        }
    }
    settled
}
