//! Webhooks, signed the Standard Webhooks way: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,{base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"}` with the key of
//! a `whsec_{base64}` secret. Each message to each endpoint is one row of the database's
//! deliveries ([`crate::db::webhooks`]), posted by [`crate::deliveries`]: at least once,
//! retried with doubling delays (more than 24 h in all by default), every attempt recorded
//! and visible through the API.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use crate::domain::asset::Event;

/// Signs webhook messages with one endpoint's secret.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    /// A signer for a `whsec_…` secret.
    pub fn from_secret(secret: &str) -> Result<Signer, String> {
        let b64 = secret
            .strip_prefix("whsec_")
            .ok_or("a webhook secret starts with whsec_")?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "a webhook secret is whsec_ and base64")?;
        if key.len() < 24 {
            return Err("a webhook secret needs at least 24 bytes of key".into());
        }
        Ok(Signer { key })
    }

    /// A new random secret (`whsec_` + 32 random bytes in base64).
    pub fn new_secret() -> String {
        let bytes: [u8; 32] = rand::random();
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    /// The `webhook-signature` header value for a message.
    pub fn sign(&self, msg_id: &str, timestamp: u64, body: &[u8]) -> String {
        // HMAC takes keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let sig = mac.finalize().into_bytes();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(sig)
        )
    }
}

/// The JSON body of a webhook message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// Event type (`video.asset.ready`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Event id.
    pub id: String,
    /// When the event happened.
    pub created_at: String,
    /// What it is about.
    pub object: MessageObject,
    /// Event details.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// What a message is about.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageObject {
    /// `asset`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id.
    pub id: String,
}

impl Message {
    /// The message for `event`.
    pub fn of(event: &Event) -> Message {
        Message {
            kind: event.kind.clone(),
            id: event.id.clone(),
            created_at: event.created_at.clone(),
            object: MessageObject {
                kind: "asset".into(),
                id: event.asset_id.to_string(),
            },
            data: event.data.clone(),
        }
    }
}

/// The `webhook-id` of `event`'s message to the endpoint with id `endpoint`: the same on
/// every retry, so receivers can drop duplicates.
pub fn message_id(event: &Event, endpoint: &str) -> String {
    format!("msg_{}_{endpoint}", event.id.replace('.', "_"))
}

/// The `webhook-signature` header of a message signed by every one of `signers` (more than
/// one while a rotated secret still signs): space-separated signatures, any of which a
/// receiver may verify.
pub fn signature_header(signers: &[Signer], msg_id: &str, timestamp: u64, body: &[u8]) -> String {
    signers
        .iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    /// When it was made (RFC 3339).
    pub at: String,
    /// HTTP status, when the endpoint answered.
    pub status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Time to the answer, milliseconds.
    pub duration_ms: u64,
}

/// Where a message's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet delivered; attempts go on.
    Pending,
    /// The endpoint acknowledged it with a 2xx.
    Delivered,
    /// Every attempt failed, or its endpoint is gone (`redeliver` tries again).
    Failed,
}

impl DeliveryState {
    /// Its name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// A message's delivery record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    /// The `webhook-id`.
    pub msg_id: String,
    /// The endpoint it is addressed to.
    pub endpoint_id: String,
    /// Event type.
    pub event_type: String,
    /// The asset.
    pub asset_id: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// When the next attempt is due (pending messages only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// Every attempt, oldest first (empty in listings: read one message for them).
    pub attempts: Vec<Attempt>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_reference_vector() {
        // The example of the Standard Webhooks specification.
        let signer = Signer::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert!(Signer::from_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(Signer::from_secret("whsec_!!!").is_err());
        assert!(Signer::from_secret("whsec_c2hvcnQ=").is_err());
        assert!(Signer::from_secret(&Signer::new_secret()).is_ok());
    }
}
