//! In-app notifications: what happened that someone should hear of, and how a page says it.
//! Pure: they are written by `db::notifications` in the transaction of the fact itself.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::reports::QueueDecision;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum NotificationKind {
    /// A channel I subscribe to published a video.
    #[serde(rename = "video.new")]
    NewVideo,
    /// My video is ready to watch.
    #[serde(rename = "video.ready")]
    Ready,
    /// My video was blocked by moderation.
    #[serde(rename = "video.blocked")]
    Blocked,
    /// My video is held for a moderator.
    #[serde(rename = "video.in_review")]
    InReview,
    /// My video could not be processed.
    #[serde(rename = "video.errored")]
    Errored,
    /// Someone commented on my video, or answered my comment.
    #[serde(rename = "comment.new")]
    Comment,
    /// A moderator decided about something I reported.
    #[serde(rename = "report.decided")]
    ReportDecided,
}

impl NotificationKind {
    /// Its name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::NewVideo => "video.new",
            NotificationKind::Ready => "video.ready",
            NotificationKind::Blocked => "video.blocked",
            NotificationKind::InReview => "video.in_review",
            NotificationKind::Errored => "video.errored",
            NotificationKind::Comment => "comment.new",
            NotificationKind::ReportDecided => "report.decided",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<NotificationKind> {
        [
            NotificationKind::NewVideo,
            NotificationKind::Ready,
            NotificationKind::Blocked,
            NotificationKind::InReview,
            NotificationKind::Errored,
            NotificationKind::Comment,
            NotificationKind::ReportDecided,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// The kind an asset status event tells its owner of (`video.asset.ready` → `Ready`).
    pub fn of_status_event(event: &str) -> Option<NotificationKind> {
        match event {
            "video.asset.ready" => Some(NotificationKind::Ready),
            "video.asset.blocked" => Some(NotificationKind::Blocked),
            "video.asset.in_review" => Some(NotificationKind::InReview),
            "video.asset.errored" => Some(NotificationKind::Errored),
            _ => None,
        }
    }
}

/// A notification as its reader sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Its id.
    pub id: String,
    /// What it is about.
    pub kind: NotificationKind,
    /// The video.
    pub video_id: String,
    /// The video's title (`None` once the video is gone).
    pub video_title: Option<String>,
    /// Who did it (the uploader, the commenter), by name.
    pub actor_name: Option<String>,
    /// The comment's id, or the moderator's decision.
    pub detail: String,
    /// When (Unix ms).
    pub created_ms: i64,
    /// Whether its reader has seen it.
    pub read: bool,
}

impl Notification {
    /// What it says, in words.
    pub fn text(&self) -> String {
        let title = self
            .video_title
            .as_deref()
            .map_or_else(|| "a video that is gone".to_string(), |t| format!("“{t}”"));
        let yours = self
            .video_title
            .as_deref()
            .map_or_else(|| "Your video".to_string(), |t| format!("Your video “{t}”"));
        let who = self.actor_name.as_deref().unwrap_or("Someone");
        match self.kind {
            NotificationKind::NewVideo => format!("{who} published {title}"),
            NotificationKind::Ready => format!("{yours} is ready to watch"),
            NotificationKind::Blocked => format!("{yours} was blocked by moderation"),
            NotificationKind::InReview => format!("{yours} is waiting for a moderator"),
            NotificationKind::Errored => format!("{yours} could not be processed"),
            NotificationKind::Comment => format!("{who} commented on {title}"),
            NotificationKind::ReportDecided => {
                let outcome = QueueDecision::parse(&self.detail)
                    .map_or("A moderator decided.", QueueDecision::outcome);
                format!("Your report on {title}: {outcome}")
            }
        }
    }

    /// Where it leads.
    pub fn link(&self) -> String {
        match self.kind {
            NotificationKind::Comment => format!("/watch/{}#{}", self.video_id, self.detail),
            NotificationKind::Blocked | NotificationKind::InReview | NotificationKind::Errored => {
                format!("/studio/{}", self.video_id)
            }
            NotificationKind::ReportDecided => "/reports".into(),
            _ => format!("/watch/{}", self.video_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(kind: NotificationKind, detail: &str) -> Notification {
        Notification {
            id: "x".into(),
            kind,
            video_id: "v1".into(),
            video_title: Some("A walk".into()),
            actor_name: Some("Ada".into()),
            detail: detail.into(),
            created_ms: 0,
            read: false,
        }
    }

    #[test]
    fn each_kind_says_what_happened_and_leads_there() {
        assert_eq!(
            n(NotificationKind::NewVideo, "").text(),
            "Ada published “A walk”"
        );
        assert_eq!(n(NotificationKind::Comment, "c_1").link(), "/watch/v1#c_1");
        assert_eq!(
            n(NotificationKind::ReportDecided, "block").text(),
            "Your report on “A walk”: A moderator took the video down."
        );
        assert_eq!(n(NotificationKind::Errored, "").link(), "/studio/v1");
        let mut gone = n(NotificationKind::Ready, "");
        gone.video_title = None;
        assert_eq!(gone.text(), "Your video is ready to watch");
        for k in [
            "video.new",
            "comment.new",
            "report.decided",
            "video.errored",
        ] {
            assert_eq!(
                NotificationKind::parse(k).map(NotificationKind::as_str),
                Some(k)
            );
        }
        assert_eq!(
            NotificationKind::of_status_event("video.asset.ready"),
            Some(NotificationKind::Ready)
        );
    }
}
