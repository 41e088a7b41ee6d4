//! Likes, channels and subscriptions, the feed, comments: `/api/v1/videos/{id}/like`,
//! `/api/v1/videos/{id}/comments`, `/api/v1/comments/{id}`, `/api/v1/channels/{id}`,
//! `/api/v1/me/feed`. Writes need a session (and its CSRF token); reads show what the caller
//! may see.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::{MaybeSignedIn, SignedIn, Viewer};
use super::problem::{errors, ApiError, ErrorCode};
use super::videos::{paging, PageParams, VideoList};
use crate::app::rfc3339_of_ms;
use crate::config::Config;
use crate::domain::social::Comment;
use crate::services::accounts::Accounts;
use crate::services::social::{Channel, Social, SocialError, Thread};

impl From<SocialError> for ApiError {
    fn from(e: SocialError) -> Self {
        let text = e.to_string();
        match e {
            SocialError::NotFound(what) => ApiError::not_found(what),
            SocialError::Invalid(_) => ApiError::bad_request(text),
            SocialError::Forbidden => ApiError::new(ErrorCode::Forbidden, text),
            SocialError::TooMany => ApiError::new(ErrorCode::RateLimited, text)
                .with_header(axum::http::header::RETRY_AFTER, "60"),
            SocialError::App(a) => a.into(),
        }
    }
}

/// A video's likes.
#[derive(Debug, Serialize, ToSchema)]
pub struct Likes {
    /// How many accounts like it.
    pub likes: i64,
    /// Whether the caller does.
    pub liked: bool,
}

errors!(LikeErrors: Unauthorized, CsrfFailed, NotFound, Unavailable);

/// Likes (`on`) or unlikes video `id` as the signed-in person; its likes after.
async fn set_like(
    signed_in: &SignedIn,
    social: &Social,
    id: &str,
    on: bool,
) -> Result<Json<Likes>, ApiError> {
    let (likes, liked) = social.like(&signed_in.0.user, id, on).await?;
    Ok(Json(Likes { likes, liked }))
}

/// Like a video (again is nothing).
#[utoipa::path(put, path = "/api/v1/videos/{video_id}/like", tag = "social",
    params(("video_id" = String, Path, description = "Video id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses((status = 200, description = "Its likes now", body = Likes), LikeErrors),
    security(("session" = [])))]
pub async fn like(
    signed_in: SignedIn,
    State(social): State<Arc<Social>>,
    Path(id): Path<String>,
) -> Result<Json<Likes>, ApiError> {
    set_like(&signed_in, &social, &id, true).await
}

/// Take one's like back.
#[utoipa::path(delete, path = "/api/v1/videos/{video_id}/like", tag = "social",
    params(("video_id" = String, Path, description = "Video id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses((status = 200, description = "Its likes now", body = Likes), LikeErrors),
    security(("session" = [])))]
pub async fn unlike(
    signed_in: SignedIn,
    State(social): State<Arc<Social>>,
    Path(id): Path<String>,
) -> Result<Json<Likes>, ApiError> {
    set_like(&signed_in, &social, &id, false).await
}

errors!(LikesErrors: NotFound, Unavailable);

/// A video's likes (and whether the caller likes it).
#[utoipa::path(get, path = "/api/v1/videos/{video_id}/likes", tag = "social",
    params(("video_id" = String, Path, description = "Video id")),
    responses((status = 200, description = "Its likes", body = Likes), LikesErrors))]
pub async fn likes(
    viewer: MaybeSignedIn,
    State(social): State<Arc<Social>>,
    Path(id): Path<String>,
) -> Result<Json<Likes>, ApiError> {
    let (likes, liked) = social
        .likes(viewer.0.as_ref().map(|s| &s.user), &id)
        .await?;
    Ok(Json(Likes { likes, liked }))
}

/// A channel: an account's public face.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    /// The account's id.
    pub id: String,
    /// Its name.
    pub display_name: String,
    /// How many subscribe.
    pub subscribers: i64,
    /// Whether the caller does.
    pub subscribed: bool,
    /// Its person's words about it (may be empty).
    pub description: String,
    /// Its picture (a 256 × 256 JPEG), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture_url: Option<String>,
}

/// Where channel `id`'s picture of version `v` is read.
pub fn picture_url(id: &str, v: i64) -> String {
    format!("/api/v1/channels/{id}/picture?v={v}")
}

impl ChannelView {
    fn of(c: Channel) -> ChannelView {
        ChannelView {
            picture_url: c.picture.map(|v| picture_url(&c.id, v)),
            id: c.id,
            display_name: c.display_name,
            subscribers: c.subscribers,
            subscribed: c.subscribed,
            description: c.description,
        }
    }
}

errors!(ChannelErrors: NotFound, Unavailable);

/// A channel.
#[utoipa::path(get, path = "/api/v1/channels/{channel_id}", tag = "social",
    params(("channel_id" = String, Path, description = "The channel's account id")),
    responses((status = 200, description = "The channel", body = ChannelView), ChannelErrors))]
pub async fn channel(
    viewer: MaybeSignedIn,
    State(social): State<Arc<Social>>,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    let c = social
        .channel(viewer.0.as_ref().map(|s| &s.user), &id)
        .await?;
    Ok(Json(ChannelView::of(c)))
}

errors!(SubscribeErrors: Unauthorized, CsrfFailed, InvalidRequest, NotFound, Unavailable);

/// Subscribes (`on`) the signed-in person to channel `id`, or ends it; the channel after.
async fn set_subscription(
    signed_in: &SignedIn,
    social: &Social,
    id: &str,
    on: bool,
) -> Result<Json<ChannelView>, ApiError> {
    Ok(Json(ChannelView::of(
        social.subscribe(&signed_in.0.user, id, on).await?,
    )))
}

/// Subscribe to a channel.
#[utoipa::path(put, path = "/api/v1/channels/{channel_id}/subscription", tag = "social",
    params(("channel_id" = String, Path, description = "The channel's account id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses((status = 200, description = "The channel now", body = ChannelView), SubscribeErrors),
    security(("session" = [])))]
pub async fn subscribe(
    signed_in: SignedIn,
    State(social): State<Arc<Social>>,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    set_subscription(&signed_in, &social, &id, true).await
}

/// Unsubscribe from a channel.
#[utoipa::path(delete, path = "/api/v1/channels/{channel_id}/subscription", tag = "social",
    params(("channel_id" = String, Path, description = "The channel's account id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses((status = 200, description = "The channel now", body = ChannelView), SubscribeErrors),
    security(("session" = [])))]
pub async fn unsubscribe(
    signed_in: SignedIn,
    State(social): State<Arc<Social>>,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    set_subscription(&signed_in, &social, &id, false).await
}

errors!(ChannelVideosErrors: InvalidRequest, NotFound, Unavailable);

/// A channel's public videos, newest first.
#[utoipa::path(get, path = "/api/v1/channels/{channel_id}/videos", tag = "social",
    params(("channel_id" = String, Path, description = "The channel's account id"), PageParams),
    responses((status = 200, description = "A page of its videos", body = VideoList), ChannelVideosErrors))]
pub async fn channel_videos(
    viewer: Viewer,
    State(social): State<Arc<Social>>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
    params: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<VideoList>, ApiError> {
    let (page, limit, offset) = paging(params)?;
    social.channel(None, &id).await?;
    let (found, has_more) = social
        .channel_videos(&id, viewer.policy.hidden(), limit, offset)
        .await?;
    Ok(Json(VideoList::of(
        &found,
        page,
        has_more,
        &config.edge_url,
        &viewer.policy,
    )))
}

errors!(FeedErrors: Unauthorized, InvalidRequest, Unavailable);

/// My subscriptions feed: the public videos of the channels I follow, newest first.
#[utoipa::path(get, path = "/api/v1/me/feed", tag = "social",
    params(PageParams),
    responses((status = 200, description = "A page of the feed", body = VideoList), FeedErrors),
    security(("session" = [])))]
pub async fn feed(
    signed_in: SignedIn,
    State(social): State<Arc<Social>>,
    State(accounts): State<Arc<Accounts>>,
    State(config): State<Arc<Config>>,
    params: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<VideoList>, ApiError> {
    let (page, limit, offset) = paging(params)?;
    let user = &signed_in.0.user;
    let policy = accounts.content_policy_of(Some(user));
    let (found, has_more) = social.feed(user, policy.hidden(), limit, offset).await?;
    Ok(Json(VideoList::of(
        &found,
        page,
        has_more,
        &config.edge_url,
        &policy,
    )))
}

/// A comment.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentView {
    /// `c_…`.
    pub id: String,
    /// Its author.
    pub author: super::videos::Owner,
    /// The comment it replies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Its words (empty once deleted).
    pub body: String,
    /// When it was written.
    pub created_at: String,
    /// When it was last edited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// Removed by its author or a moderator.
    pub deleted: bool,
    /// Its replies, oldest first (top-level comments only; replies have none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replies: Vec<ReplyView>,
}

/// A reply to a comment (the same fields, without replies of its own).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyView {
    /// `c_…`.
    pub id: String,
    /// Its author.
    pub author: super::videos::Owner,
    /// The comment it replies to.
    pub parent_id: String,
    /// Its words (empty once deleted).
    pub body: String,
    /// When it was written.
    pub created_at: String,
    /// When it was last edited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// Removed by its author or a moderator.
    pub deleted: bool,
}

impl ReplyView {
    fn of(c: Comment) -> ReplyView {
        ReplyView {
            id: c.id,
            author: super::videos::Owner {
                id: c.author_id,
                display_name: c.author_name,
            },
            parent_id: c.parent_id.unwrap_or_default(),
            body: c.body,
            created_at: rfc3339_of_ms(c.created_ms),
            edited_at: c.edited_ms.map(rfc3339_of_ms),
            deleted: c.deleted,
        }
    }
}

impl CommentView {
    fn of(c: Comment, replies: Vec<Comment>) -> CommentView {
        CommentView {
            id: c.id,
            author: super::videos::Owner {
                id: c.author_id,
                display_name: c.author_name,
            },
            parent_id: c.parent_id,
            body: c.body,
            created_at: rfc3339_of_ms(c.created_ms),
            edited_at: c.edited_ms.map(rfc3339_of_ms),
            deleted: c.deleted,
            replies: replies.into_iter().map(ReplyView::of).collect(),
        }
    }
}

/// A page of comments.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentList {
    /// Newest first, each with its replies.
    pub data: Vec<CommentView>,
    /// This page's number.
    pub page: u32,
    /// Whether another page follows.
    pub has_more: bool,
}

errors!(CommentsErrors: InvalidRequest, NotFound, Unavailable);

/// A video's comments, newest first, each with its replies.
#[utoipa::path(get, path = "/api/v1/videos/{video_id}/comments", tag = "social",
    params(("video_id" = String, Path, description = "Video id"), PageParams),
    responses((status = 200, description = "A page of comments", body = CommentList), CommentsErrors))]
pub async fn comments(
    viewer: MaybeSignedIn,
    State(social): State<Arc<Social>>,
    Path(id): Path<String>,
    params: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CommentList>, ApiError> {
    let (page, limit, offset) = paging(params)?;
    let (threads, has_more) = social
        .comments(viewer.0.as_ref().map(|s| &s.user), &id, limit, offset)
        .await?;
    Ok(Json(CommentList {
        data: threads
            .into_iter()
            .map(|Thread { comment, replies }| CommentView::of(comment, replies))
            .collect(),
        page,
        has_more,
    }))
}

/// A new comment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// 1–2,000 characters.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub body: String,
    /// The top-level comment this replies to.
    pub parent_id: Option<String>,
}

errors!(CommentErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, NotFound, RateLimited, Unavailable);

/// Comment on a video (or reply to one of its comments).
#[utoipa::path(post, path = "/api/v1/videos/{video_id}/comments", tag = "social",
    params(("video_id" = String, Path, description = "Video id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = NewComment,
    responses((status = 201, description = "The comment", body = CommentView), CommentErrors),
    security(("session" = [])))]
pub async fn add_comment(
    signed_in: SignedIn,
    State(social): State<Arc<Social>>,
    Path(id): Path<String>,
    body: Result<Json<NewComment>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CommentView>), ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    let c = social
        .comment(&signed_in.0.user, &id, &ask.body, ask.parent_id.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(CommentView::of(c, Vec::new()))))
}

/// New words for a comment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditComment {
    /// 1–2,000 characters.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub body: String,
}

errors!(EditCommentErrors: Unauthorized, CsrfFailed, InvalidRequest, UnsupportedMediaType, Forbidden, NotFound, Unavailable);

/// Rewrite my comment.
#[utoipa::path(patch, path = "/api/v1/comments/{comment_id}", tag = "social",
    params(("comment_id" = String, Path, description = "Comment id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = EditComment,
    responses((status = 200, description = "The comment now", body = CommentView), EditCommentErrors),
    security(("session" = [])))]
pub async fn edit_comment(
    signed_in: SignedIn,
    State(social): State<Arc<Social>>,
    Path(id): Path<String>,
    body: Result<Json<EditComment>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CommentView>, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    let c = social
        .edit_comment(&signed_in.0.user, &id, &ask.body)
        .await?;
    Ok(Json(CommentView::of(c, Vec::new())))
}

errors!(DeleteCommentErrors: Unauthorized, CsrfFailed, Forbidden, NotFound, Unavailable);

/// Remove a comment (mine, or any as a moderator); its replies stay.
#[utoipa::path(delete, path = "/api/v1/comments/{comment_id}", tag = "social",
    params(("comment_id" = String, Path, description = "Comment id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses((status = 204, description = "Removed"), DeleteCommentErrors),
    security(("session" = [])))]
pub async fn delete_comment(
    signed_in: SignedIn,
    State(social): State<Arc<Social>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    social.delete_comment(&signed_in.0.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
