//! View tickets and receipts: how the control plane and the edges agree that a viewer's player
//! was served real media, so a view is counted only for watching, not for loading a page or a
//! playlist.
//!
//! 1. The watch page gets a [`Ticket`] from the control plane, signed with the views secret
//!    the control plane and every edge share, naming the playback id and how much media
//!    (`need_ms`) makes a view.
//! 2. The page's player sends it with every media request as CMCD's session id (`sid`). The
//!    edge checks it, tallies the distinct segments it served under it, and once their media
//!    covers `need_ms` answers with a [`Receipt`] (the ticket and when its first segment was
//!    served), signed with the same secret.
//! 3. The page hands the receipt to the control plane, which verifies it, waits until
//!    `need_ms` of real time has passed since that first segment, and counts one view per
//!    ticket and per viewer and window.
//!
//! The text forms are built and parsed here only: `t1.{nonce}.{playback id}.{expires}.{need}.{sig}`
//! and `r1.{nonce}.{playback id}.{expires}.{need}.{first served}.{sig}`, times in Unix
//! seconds, `sig` the first 16 bytes of an HMAC-SHA256 in hex. Pure: no I/O.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a ticket or receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// Not in the text form.
    #[error("malformed view {0}")]
    Malformed(&'static str),
    /// Signed with another secret, or altered.
    #[error("view {0} signature does not verify")]
    BadSignature(&'static str),
    /// Past its expiry.
    #[error("view {0} expired")]
    Expired(&'static str),
}

/// The secret shared by the control plane and the edges (at least 16 bytes).
#[derive(Clone)]
pub struct ViewSecret(Vec<u8>);

impl std::fmt::Debug for ViewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewSecret(…)")
    }
}

/// Shortest secret accepted.
pub const MIN_SECRET_LEN: usize = 16;

impl ViewSecret {
    /// The secret from its bytes; `None` when shorter than [`MIN_SECRET_LEN`].
    pub fn new(bytes: Vec<u8>) -> Option<ViewSecret> {
        (bytes.len() >= MIN_SECRET_LEN).then_some(ViewSecret(bytes))
    }

    /// The secret from hex text; `None` when not hex or too short.
    pub fn from_hex(text: &str) -> Option<ViewSecret> {
        hex::decode(text.trim()).ok().and_then(ViewSecret::new)
    }

    fn sign(&self, purpose: &[u8], message: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(purpose);
        mac.update(message.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..SIG_BYTES])
    }

    fn verify(&self, purpose: &[u8], message: &str, sig: &str) -> bool {
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(purpose);
        mac.update(message.as_bytes());
        sig.len() == SIG_BYTES && mac.verify_truncated_left(&sig).is_ok()
    }

    /// A keyed one-way digest of `input` under `purpose` (hex, 16 bytes): how the control
    /// plane names a viewer by address without storing the address.
    pub fn digest(&self, purpose: &str, input: &str) -> String {
        self.sign(purpose.as_bytes(), input)
    }
}

const SIG_BYTES: usize = 16;
const TICKET_PURPOSE: &[u8] = b"sunomi view ticket\0";
const RECEIPT_PURPOSE: &[u8] = b"sunomi view receipt\0";
/// Longest nonce and playback id taken (a ticket rides in every media request).
const MAX_FIELD: usize = 64;

/// A viewer's ticket for one playback id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Unique per page view (hex), the key of the edge's tally and of the one count.
    pub nonce: String,
    /// The playback id the ticket is good for (the id in `/v/{id}/…`).
    pub playback_id: String,
    /// Unix seconds after which neither the ticket nor its receipt is honoured.
    pub expires: u64,
    /// Milliseconds of media that make a view.
    pub need_ms: u64,
}

fn plain_field(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_FIELD
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Ticket {
    fn body(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.nonce, self.playback_id, self.expires, self.need_ms
        )
    }

    /// The signed text form; `None` when the nonce or playback id is not 1–64 of
    /// `A-Z a-z 0-9 _ -`.
    pub fn sign(&self, secret: &ViewSecret) -> Option<String> {
        if !plain_field(&self.nonce) || !plain_field(&self.playback_id) {
            return None;
        }
        let body = self.body();
        Some(format!("t1.{body}.{}", secret.sign(TICKET_PURPOSE, &body)))
    }

    /// The ticket `text` stands for, when signed with `secret` and not expired at `now`.
    pub fn verify(secret: &ViewSecret, text: &str, now: u64) -> Result<Ticket, ViewError> {
        const WHAT: &str = "ticket";
        let rest = text.strip_prefix("t1.").ok_or(ViewError::Malformed(WHAT))?;
        let (body, sig) = rest.rsplit_once('.').ok_or(ViewError::Malformed(WHAT))?;
        let ticket = Ticket::parse_body(body).ok_or(ViewError::Malformed(WHAT))?;
        if !secret.verify(TICKET_PURPOSE, body, sig) {
            return Err(ViewError::BadSignature(WHAT));
        }
        if ticket.expires < now {
            return Err(ViewError::Expired(WHAT));
        }
        Ok(ticket)
    }

    fn parse_body(body: &str) -> Option<Ticket> {
        let mut parts = body.split('.');
        let ticket = Ticket {
            nonce: parts.next().filter(|s| plain_field(s))?.to_owned(),
            playback_id: parts.next().filter(|s| plain_field(s))?.to_owned(),
            expires: parts.next()?.parse().ok()?,
            need_ms: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(ticket)
    }
}

/// The edge's word that it served a ticket's player media covering the ticket's `need_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The ticket served.
    pub ticket: Ticket,
    /// Unix seconds at which the edge served the ticket's first segment: the view's media
    /// cannot have been watched before `first_served + need_ms`.
    pub first_served: u64,
}

impl Receipt {
    fn body(&self) -> String {
        format!("{}.{}", self.ticket.body(), self.first_served)
    }

    /// The signed text form (the ticket's fields are already known to be plain).
    pub fn sign(&self, secret: &ViewSecret) -> String {
        let body = self.body();
        format!("r1.{body}.{}", secret.sign(RECEIPT_PURPOSE, &body))
    }

    /// The receipt `text` stands for, when signed with `secret` and its ticket not expired
    /// at `now`.
    pub fn verify(secret: &ViewSecret, text: &str, now: u64) -> Result<Receipt, ViewError> {
        const WHAT: &str = "receipt";
        let rest = text.strip_prefix("r1.").ok_or(ViewError::Malformed(WHAT))?;
        let (body, sig) = rest.rsplit_once('.').ok_or(ViewError::Malformed(WHAT))?;
        let (ticket, first) = body.rsplit_once('.').ok_or(ViewError::Malformed(WHAT))?;
        let receipt = Receipt {
            ticket: Ticket::parse_body(ticket).ok_or(ViewError::Malformed(WHAT))?,
            first_served: first.parse().map_err(|_| ViewError::Malformed(WHAT))?,
        };
        if !secret.verify(RECEIPT_PURPOSE, body, sig) {
            return Err(ViewError::BadSignature(WHAT));
        }
        if receipt.ticket.expires < now {
            return Err(ViewError::Expired(WHAT));
        }
        Ok(receipt)
    }

    /// Unix seconds from which the receipt may count: its media cannot have been watched at
    /// normal speed before.
    pub fn watched_by(&self) -> u64 {
        self.first_served + self.ticket.need_ms / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(b: u8) -> ViewSecret {
        ViewSecret::new(vec![b; 32]).unwrap()
    }

    fn ticket() -> Ticket {
        Ticket {
            nonce: "0123abcd".into(),
            playback_id: "pb_Q-1".into(),
            expires: 2_000,
            need_ms: 10_000,
        }
    }

    #[test]
    fn a_ticket_verifies_with_its_secret_until_it_expires() {
        let text = ticket().sign(&secret(1)).unwrap();
        assert!(text.starts_with("t1.0123abcd.pb_Q-1.2000.10000."));
        assert_eq!(Ticket::verify(&secret(1), &text, 2_000), Ok(ticket()));
        assert_eq!(
            Ticket::verify(&secret(1), &text, 2_001),
            Err(ViewError::Expired("ticket"))
        );
        assert_eq!(
            Ticket::verify(&secret(2), &text, 1_000),
            Err(ViewError::BadSignature("ticket"))
        );
    }

    #[test]
    fn an_altered_or_malformed_ticket_is_refused() {
        let text = ticket().sign(&secret(1)).unwrap();
        let longer = text.replace(".10000.", ".1.");
        assert_eq!(
            Ticket::verify(&secret(1), &longer, 0),
            Err(ViewError::BadSignature("ticket"))
        );
        for bad in [
            "",
            "t1.",
            "t2.a.b.1.1.00",
            "t1.a.b.c.1.00",
            "t1.a.b.1.1.1.00",
            "t1..b.1.1.00",
            &text[..text.len() - 2],
        ] {
            assert!(Ticket::verify(&secret(1), bad, 0).is_err(), "{bad:?}");
        }
        let mut odd = ticket();
        odd.playback_id = "a.b".into();
        assert_eq!(odd.sign(&secret(1)), None);
    }

    #[test]
    fn a_receipt_carries_its_ticket_and_is_not_a_ticket() {
        let receipt = Receipt {
            ticket: ticket(),
            first_served: 1_500,
        };
        let text = receipt.sign(&secret(1));
        assert_eq!(
            Receipt::verify(&secret(1), &text, 1_600),
            Ok(receipt.clone())
        );
        assert_eq!(receipt.watched_by(), 1_510);
        // A ticket's signature does not make a receipt, nor the reverse.
        let as_ticket = format!("t1{}", &text[2..]);
        assert!(Ticket::verify(&secret(1), &as_ticket, 0).is_err());
        let forged = format!(
            "r1.0123abcd.pb_Q-1.2000.10000.1500.{}",
            ticket()
                .sign(&secret(1))
                .unwrap()
                .rsplit('.')
                .next()
                .unwrap()
        );
        assert_eq!(
            Receipt::verify(&secret(1), &forged, 0),
            Err(ViewError::BadSignature("receipt"))
        );
        assert_eq!(
            Receipt::verify(&secret(1), &text, 2_001),
            Err(ViewError::Expired("receipt"))
        );
    }

    #[test]
    fn secrets_are_long_enough_and_digests_depend_on_them() {
        assert!(ViewSecret::from_hex("00112233").is_none());
        assert!(ViewSecret::from_hex("zz".repeat(16).as_str()).is_none());
        let s = ViewSecret::from_hex(&"ab".repeat(16)).unwrap();
        assert_eq!(s.digest("ip", "192.0.2.1").len(), 32);
        assert_ne!(
            s.digest("ip", "192.0.2.1"),
            secret(1).digest("ip", "192.0.2.1")
        );
        assert_ne!(s.digest("ip", "192.0.2.1"), s.digest("ip", "192.0.2.2"));
    }
}
