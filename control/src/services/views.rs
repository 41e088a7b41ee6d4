//! Counting views honestly (`sunomi_origin::views` has the protocol): the watch page gets a
//! ticket for the playback id it plays; the edge that serves the player's media answers with
//! a receipt once the media covers what a view needs; the page hands the receipt here. A
//! receipt counts once, only after the time its media takes to watch has passed since the
//! edge served its first segment, and one view per viewer and video within the window. A
//! viewer is an account, or for a guest a keyed digest of the address and the day: no address
//! is stored.

use std::net::IpAddr;
use std::sync::Arc;

use sunomi_origin::views::{Receipt, Ticket, ViewSecret};

use crate::app::{now_unix, AppError};
use crate::config::ViewsConfig;
use crate::db::views::{self as store, Counted};
use crate::db::Db;
use crate::domain::accounts::User;
use crate::domain::ids::random_token;
use crate::services::videos::{VideoError, Videos};

/// Why a receipt did not count.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// Malformed, forged, expired, or for another video; or no views secret is configured.
    #[error("the view receipt is not valid: {0}")]
    Invalid(String),
    /// Its media cannot have been watched yet: again in this many seconds.
    #[error("the view's media cannot have been watched yet; send it again in {0} s")]
    TooEarly(u64),
    /// The video, or one the caller may not see.
    #[error(transparent)]
    Video(#[from] VideoError),
}

impl From<crate::db::DbError> for ViewError {
    fn from(e: crate::db::DbError) -> Self {
        ViewError::Video(VideoError::App(AppError::Db(e)))
    }
}

/// The view-counting use cases.
pub struct Views {
    /// The state of record.
    pub db: Db,
    /// Videos, for what the caller may see.
    pub videos: Arc<Videos>,
    /// The shared secret (none: nothing is counted).
    pub secret: Option<ViewSecret>,
    /// Seconds of media (and time) a view needs.
    pub need_secs: u64,
    /// One view per viewer and video within this many seconds.
    pub window_secs: u64,
    /// Lifetime of a ticket, seconds.
    pub ticket_ttl_secs: u64,
}

impl Views {
    /// The use cases over `db` as `config` says.
    pub fn new(db: Db, videos: Arc<Videos>, config: &ViewsConfig) -> Views {
        Views {
            db,
            videos,
            secret: config.secret(),
            need_secs: config.need_secs,
            window_secs: config.window_secs,
            ticket_ttl_secs: config.ticket_ttl_secs,
        }
    }

    /// A new ticket for a player of `playback_id` whose video lasts `duration_secs`, and the
    /// seconds of playing it needs; `None` when no views are counted.
    pub fn ticket(&self, playback_id: &str, duration_secs: Option<f64>) -> Option<(String, u64)> {
        let secret = self.secret.as_ref()?;
        let need_ms = match duration_secs {
            // A short video needs its whole length (less its last half second, so a player
            // whose last segment is a little short still gets there).
            Some(d) if d.is_finite() && d > 0.0 => {
                (self.need_secs * 1000).min(((d - 0.5).max(0.5) * 1000.0) as u64)
            }
            _ => self.need_secs * 1000,
        };
        let ticket = Ticket {
            nonce: random_token(22),
            playback_id: playback_id.to_owned(),
            expires: now_unix() + self.ticket_ttl_secs,
            need_ms,
        };
        Some((ticket.sign(secret)?, need_ms.div_ceil(1000)))
    }

    /// Counts the view `receipt` proves of video `video_id`, watched by `user` (signed out:
    /// the guest at `addr`).
    pub async fn count(
        &self,
        user: Option<&User>,
        addr: Option<IpAddr>,
        video_id: &str,
        receipt: &str,
    ) -> Result<Counted, ViewError> {
        let Some(secret) = &self.secret else {
            return Err(ViewError::Invalid("this instance counts no views".into()));
        };
        let now = now_unix();
        let receipt =
            Receipt::verify(secret, receipt, now).map_err(|e| ViewError::Invalid(e.to_string()))?;
        let listed = self.videos.get(user, video_id).await?;
        let plays_it = listed
            .asset
            .playback_ids
            .iter()
            .any(|p| p.id.as_str() == receipt.ticket.playback_id);
        if !plays_it {
            return Err(ViewError::Invalid(
                "the receipt is for another video".into(),
            ));
        }
        if now < receipt.watched_by() {
            return Err(ViewError::TooEarly(receipt.watched_by() - now));
        }
        let viewer = match (user, addr) {
            (Some(u), _) => u.id.clone(),
            (None, addr) => {
                let day = now / 86_400;
                let addr = addr.map(network_of).unwrap_or_default();
                format!("g_{}", secret.digest("viewer", &format!("{day}|{addr}")))
            }
        };
        let counted = store::count(
            &self.db,
            video_id,
            &viewer,
            &receipt.ticket.nonce,
            i64::try_from(receipt.ticket.expires).unwrap_or(i64::MAX),
            i64::try_from(now).unwrap_or(i64::MAX),
            i64::try_from(self.window_secs).unwrap_or(i64::MAX),
        )
        .await?;
        counted.ok_or(ViewError::Video(VideoError::NotFound))
    }
}

/// The address a guest is known by: an IPv4 address, or the /64 network of an IPv6 one (a
/// host picks any address in its network, and changes it often).
fn network_of(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = a.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_are_known_by_their_address_or_ipv6_network() {
        let at = |s: &str| network_of(s.parse().unwrap());
        assert_eq!(at("192.0.2.7"), "192.0.2.7");
        assert_eq!(at("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(at("2001:db8:1:2:aaaa::1"), at("2001:db8:1:2:bbbb::9"));
        assert_ne!(at("2001:db8:1:2::1"), at("2001:db8:1:3::1"));
    }
}
