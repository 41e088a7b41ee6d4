//! What people do with videos and each other, the use cases: like a video (one like per
//! account, toggled), subscribe to a channel (a channel is an account) and read the feed of
//! one's subscriptions, comment (one level of replies; authors edit, authors and moderators
//! remove; a bounded rate per account). Everything about a video needs the caller to be able
//! to see it: a private video of someone else is not there.

use std::sync::Arc;

use crate::app::{now_ms, now_rfc3339, AppError};
use crate::db::videos::{self as video_store, Listed, Listing};
use crate::db::{social as store, users, Db, DbError};
use crate::domain::accounts::User;
use crate::domain::ids::random_token;
use crate::domain::social::{check_comment, Comment, CommentInputError, COMMENTS_PER_MINUTE};
use crate::domain::warnings::Flags;
use crate::services::videos::{VideoError, Videos};

/// Why a social operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    /// No such video, channel or comment, or one the caller may not see.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// Words that are not acceptable, or a request that makes no sense (subscribing to
    /// oneself, replying to a reply).
    #[error("{0}")]
    Invalid(String),
    /// The caller may not change it.
    #[error("only its author (or a moderator, to remove it) may change this comment")]
    Forbidden,
    /// Too many comments in a minute.
    #[error("at most {COMMENTS_PER_MINUTE} comments a minute; wait a little")]
    TooMany,
    /// The database failed.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<DbError> for SocialError {
    fn from(e: DbError) -> Self {
        SocialError::App(e.into())
    }
}

impl From<VideoError> for SocialError {
    fn from(e: VideoError) -> Self {
        match e {
            VideoError::NotFound | VideoError::Forbidden => SocialError::NotFound("video"),
            VideoError::App(a) => SocialError::App(a),
            other => SocialError::Invalid(other.to_string()),
        }
    }
}

impl From<CommentInputError> for SocialError {
    fn from(e: CommentInputError) -> Self {
        SocialError::Invalid(e.to_string())
    }
}

/// A channel as shown: the account's public face and its subscribers.
#[derive(Debug, Clone)]
pub struct Channel {
    /// The account's id.
    pub id: String,
    /// Its display name.
    pub display_name: String,
    /// How many subscribe.
    pub subscribers: i64,
    /// Whether the viewer does.
    pub subscribed: bool,
    /// Its person's words about it (may be empty).
    pub description: String,
    /// The version of its picture, when it has one.
    pub picture: Option<i64>,
}

/// A top-level comment and its replies.
#[derive(Debug, Clone)]
pub struct Thread {
    /// The comment.
    pub comment: Comment,
    /// Its replies, oldest first.
    pub replies: Vec<Comment>,
}

/// The social use cases.
pub struct Social {
    /// The state of record.
    pub db: Db,
    /// Who may see which video.
    pub videos: Arc<Videos>,
}

impl Social {
    /// Likes (`on`) or unlikes video `id` as `user`; returns the count and whether they like it.
    pub async fn like(&self, user: &User, id: &str, on: bool) -> Result<(i64, bool), SocialError> {
        self.videos.get(Some(user), id).await?;
        if on {
            store::like(&self.db, id, &user.id, &now_rfc3339()).await?;
        } else {
            store::unlike(&self.db, id, &user.id).await?;
        }
        Ok(store::likes(&self.db, id, Some(&user.id)).await?)
    }

    /// Video `id`'s likes, and whether `viewer` likes it.
    pub async fn likes(&self, viewer: Option<&User>, id: &str) -> Result<(i64, bool), SocialError> {
        let seen = self.videos.get(viewer, id).await?;
        self.likes_of(&seen, viewer).await
    }

    /// The likes of a video `viewer` was already shown (`seen`: [`Videos::get`] for them).
    pub async fn likes_of(
        &self,
        seen: &Listed,
        viewer: Option<&User>,
    ) -> Result<(i64, bool), SocialError> {
        let id = &seen.video.asset_id;
        Ok(store::likes(&self.db, id, viewer.map(|u| u.id.as_str())).await?)
    }

    /// Channel `id` as `viewer` sees it.
    pub async fn channel(&self, viewer: Option<&User>, id: &str) -> Result<Channel, SocialError> {
        let owner = users::get(&self.db, id)
            .await?
            .ok_or(SocialError::NotFound("channel"))?;
        let (subscribers, subscribed) =
            store::subscribers(&self.db, id, viewer.map(|u| u.id.as_str())).await?;
        let profile = crate::db::profiles::get(&self.db, id).await?;
        Ok(Channel {
            id: owner.id,
            display_name: owner.display_name,
            subscribers,
            subscribed,
            description: profile.description,
            picture: profile.picture_ms,
        })
    }

    /// Subscribes (`on`) `user` to channel `id`, or ends it.
    pub async fn subscribe(&self, user: &User, id: &str, on: bool) -> Result<Channel, SocialError> {
        if id == user.id {
            return Err(SocialError::Invalid(
                "one cannot subscribe to oneself".into(),
            ));
        }
        self.channel(Some(user), id).await?;
        if on {
            store::subscribe(&self.db, &user.id, id, &now_rfc3339()).await?;
        } else {
            store::unsubscribe(&self.db, &user.id, id).await?;
        }
        self.channel(Some(user), id).await
    }

    /// A page of a channel's public videos, without those flagged `hidden`.
    pub async fn channel_videos(
        &self,
        id: &str,
        hidden: Flags,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Listed>, bool), SocialError> {
        Ok(video_store::page(&self.db, Listing::Channel(id, hidden), limit, offset).await?)
    }

    /// A page of `user`'s subscriptions feed: the public videos of the channels they follow,
    /// newest first, without those flagged `hidden`.
    pub async fn feed(
        &self,
        user: &User,
        hidden: Flags,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Listed>, bool), SocialError> {
        Ok(video_store::page(
            &self.db,
            Listing::Subscriptions(&user.id, hidden),
            limit,
            offset,
        )
        .await?)
    }

    /// A page of video `id`'s comments (newest first) with their replies.
    pub async fn comments(
        &self,
        viewer: Option<&User>,
        id: &str,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Thread>, bool), SocialError> {
        let seen = self.videos.get(viewer, id).await?;
        self.comments_of(&seen, limit, offset).await
    }

    /// A page of the comments of a video already shown to its viewer (`seen`:
    /// [`Videos::get`] for them).
    pub async fn comments_of(
        &self,
        seen: &Listed,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Thread>, bool), SocialError> {
        let id = seen.video.asset_id.as_str();
        let (top, more) = store::top_comments(&self.db, id, limit, offset).await?;
        let ids: Vec<String> = top.iter().map(|c| c.id.clone()).collect();
        let mut replies = store::replies(&self.db, id, &ids).await?;
        let threads = top
            .into_iter()
            .map(|comment| {
                let (mine, rest): (Vec<Comment>, Vec<Comment>) = replies
                    .drain(..)
                    .partition(|r| r.parent_id.as_deref() == Some(comment.id.as_str()));
                replies = rest;
                Thread {
                    comment,
                    replies: mine,
                }
            })
            .collect();
        Ok((threads, more))
    }

    /// `user` comments on video `id` (replying to `parent`, a top-level comment there).
    pub async fn comment(
        &self,
        user: &User,
        id: &str,
        body: &str,
        parent: Option<&str>,
    ) -> Result<Comment, SocialError> {
        self.videos.get(Some(user), id).await?;
        let body = check_comment(body)?;
        if let Some(p) = parent {
            match store::comment(&self.db, p).await? {
                Some(c) if c.video_id == id && c.parent_id.is_none() => {}
                Some(c) if c.video_id == id => {
                    return Err(SocialError::Invalid(
                        "replies have no replies: answer the comment it replies to".into(),
                    ))
                }
                _ => return Err(SocialError::NotFound("comment")),
            }
        }
        let now = now_ms();
        if store::written_since(&self.db, &user.id, now - 60_000).await? >= COMMENTS_PER_MINUTE {
            return Err(SocialError::TooMany);
        }
        let c = Comment {
            id: format!("c_{}", random_token(20)),
            video_id: id.to_string(),
            author_id: user.id.clone(),
            author_name: user.display_name.clone(),
            parent_id: parent.map(str::to_string),
            body,
            created_ms: now,
            edited_ms: None,
            deleted: false,
        };
        store::insert_comment(&self.db, &c).await?;
        Ok(c)
    }

    /// Comment `id` as `user` may act on it (on a video they may see).
    async fn own_comment(&self, user: &User, id: &str) -> Result<Comment, SocialError> {
        let c = store::comment(&self.db, id)
            .await?
            .ok_or(SocialError::NotFound("comment"))?;
        self.videos
            .get(Some(user), &c.video_id)
            .await
            .map_err(|_| SocialError::NotFound("comment"))?;
        Ok(c)
    }

    /// `user` rewrites their comment `id`.
    pub async fn edit_comment(
        &self,
        user: &User,
        id: &str,
        body: &str,
    ) -> Result<Comment, SocialError> {
        let c = self.own_comment(user, id).await?;
        if !c.editable_by(user) {
            return Err(SocialError::Forbidden);
        }
        let body = check_comment(body)?;
        if !store::edit_comment(&self.db, id, &body, now_ms()).await? {
            return Err(SocialError::NotFound("comment"));
        }
        store::comment(&self.db, id)
            .await?
            .ok_or(SocialError::NotFound("comment"))
    }

    /// `user` removes comment `id` (theirs, or any as a moderator).
    pub async fn delete_comment(&self, user: &User, id: &str) -> Result<(), SocialError> {
        let c = self.own_comment(user, id).await?;
        if !c.removable_by(user) {
            return Err(SocialError::Forbidden);
        }
        store::delete_comment(&self.db, id).await?;
        Ok(())
    }
}
