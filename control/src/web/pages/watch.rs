//! The watch page (player, transcript, likes, subscribe, comments) and a video's poster.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{count, show, status_text, trouble};
use crate::app::{now_unix, AppError};
use crate::config::Config;
use crate::db::videos::Listed;
use crate::domain::accounts::User;
use crate::domain::asset::{AssetStatus, CaptionInfo, CaptionSource, PlaybackPolicy};
use crate::domain::reports::ReportReason;
use crate::domain::social::Comment;
use crate::domain::videos::Visibility;
use crate::domain::warnings::{ContentPolicy, WarningAction};
use crate::http::accounts::Viewer;
use crate::services::accounts::Accounts;
use crate::services::page_tokens::PageTokens;
use crate::services::social::{Social, SocialError};
use crate::services::videos::{VideoError, Videos};
use crate::services::views::Views;
use crate::web::html::{age, esc};

/// What a page's player needs besides its video: view tickets, and tokens for private videos.
#[derive(Clone)]
pub struct Players {
    /// View tickets.
    pub views: Arc<Views>,
    /// Playback tokens for signed playback ids.
    pub page_tokens: Arc<PageTokens>,
}

/// `?comments=N`: which page of comments the watch page shows.
#[derive(Debug, serde::Deserialize)]
pub struct WatchQuery {
    comments: Option<u32>,
}

/// Comments a page of the watch page shows.
const COMMENTS_PER_PAGE: u32 = 20;

/// `/watch/{id}`: the player (or where the video stands), its title, channel and description.
pub async fn watch(
    viewer: Viewer,
    State(videos): State<Arc<Videos>>,
    State(social): State<Arc<Social>>,
    State(players): State<Players>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<WatchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let comments_page = query
        .ok()
        .and_then(|q| q.0.comments)
        .unwrap_or(1)
        .clamp(1, 10_000);
    let user = viewer.session.as_ref().map(|s| &s.user);
    let l = match videos.get(user, &id).await {
        Ok(l) => l,
        Err(e) => return trouble(&config, &viewer, &e),
    };
    let source = Source::to_watch(&players.page_tokens, &l).await;
    let (mut main, transcript) = player(
        &config,
        &l,
        Some(&viewer.policy),
        Some(&players.views),
        source.as_ref(),
    );
    let visibility = match l.video.visibility {
        Visibility::Public => String::new(),
        v => format!(" · {}", v.as_str()),
    };
    let social_part = match social_panel(&social, user, &l, comments_page).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "likes, channel or comments unavailable");
            (String::new(), String::new())
        }
    };
    main.push_str(&format!(
        "<h1>{}</h1><p class=\"meta\"><a href=\"/channel/{}\">{}</a> · \
         <span data-views>{}</span> · {}{visibility}</p>{}{}\
         <div class=\"description\">{}</div>",
        esc(&l.video.title),
        esc(&l.video.owner_id),
        esc(&l.owner_name),
        count(l.views, "view"),
        esc(&age(&l.video.created_at, now_unix())),
        social_part.0,
        share(&l),
        esc(&l.video.description),
    ));
    main.push_str(&transcript);
    main.push_str(&social_part.1);
    show(&config, &viewer, &l.video.title, &["hls.min.js"], main, "")
}

/// Where a page's player plays a video from: one of its playback ids, with the token that id
/// needs for this viewer, if any.
pub(super) struct Source {
    playback_id: String,
    token: Option<String>,
}

impl Source {
    /// What a viewer allowed to see ready video `l` plays: its public playback id, or for a
    /// private video its signed one with a page token. `None` before it is ready, or when no
    /// token can be made.
    pub(super) async fn to_watch(page_tokens: &PageTokens, l: &Listed) -> Option<Source> {
        if l.asset.status != AssetStatus::Ready {
            return None;
        }
        let ids = &l.asset.playback_ids;
        if let Some(p) = ids.iter().find(|p| p.policy == PlaybackPolicy::Public) {
            return Some(Source {
                playback_id: p.id.as_str().to_owned(),
                token: None,
            });
        }
        let signed = ids.iter().find(|p| p.policy == PlaybackPolicy::Signed)?;
        Self::with_token(
            signed.id.as_str(),
            page_tokens.token_for(signed.id.as_str()).await,
        )
    }

    /// What a moderator deciding on `l` plays: any of its playback ids with a review token,
    /// so it plays while held for review and after a block as well as when ready. `None`
    /// while there is nothing to play yet (before or without a transcode).
    pub(super) async fn to_review(page_tokens: &PageTokens, l: &Listed) -> Option<Source> {
        if !matches!(
            l.asset.status,
            AssetStatus::Ready | AssetStatus::InReview | AssetStatus::Blocked
        ) {
            return None;
        }
        let p = l.asset.playback_ids.first()?;
        Self::with_token(
            p.id.as_str(),
            page_tokens.review_token_for(p.id.as_str()).await,
        )
    }

    fn with_token(playback_id: &str, token: Result<String, AppError>) -> Option<Source> {
        match token {
            Ok(t) => Some(Source {
                playback_id: playback_id.to_owned(),
                token: Some(t),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "no playback token for a page's player");
                None
            }
        }
    }
}

/// The player of a video from `source` (from the edge named by the config) behind the
/// content warning `policy` calls for (moderators pass none), with a view ticket from
/// `views` when its plays count (moderators' do not), and its interactive transcript;
/// without a source, where the video stands (the page follows it until it is final).
pub(super) fn player(
    config: &Config,
    l: &Listed,
    policy: Option<&ContentPolicy>,
    views: Option<&Views>,
    source: Option<&Source>,
) -> (String, String) {
    let id = esc(&l.video.asset_id);
    let mut main = String::new();
    let mut transcript = String::new();
    match (l.asset.status, source) {
        (_, Some(p)) => {
            let token_query = p
                .token
                .as_ref()
                .map(|t| format!("?token={t}"))
                .unwrap_or_default();
            let src = format!(
                "{}{token_query}",
                crate::http::assets::playback_url(&config.edge_url, &p.playback_id)
            );
            let gate = policy.map(|p| warning_gate(l, p)).unwrap_or_default();
            let hidden = if gate.is_empty() { "" } else { " hidden" };
            main.push_str(&gate);
            let ticket = views
                .and_then(|v| v.ticket(&p.playback_id, l.asset.duration))
                .map(|(ticket, need)| {
                    format!(
                        " data-view-ticket=\"{}\" data-view-need=\"{need}\" data-video=\"{id}\"",
                        esc(&ticket)
                    )
                })
                .unwrap_or_default();
            let generated: Vec<&str> = l
                .asset
                .captions
                .iter()
                .filter(|c| c.source == CaptionSource::Generated)
                .map(|c| c.language.as_str())
                .collect();
            main.push_str(&format!(
                "<div class=\"player\"{hidden}><video id=\"player\" controls playsinline preload=\"metadata\" \
                 crossorigin=\"anonymous\" poster=\"/videos/{id}/poster.jpg\" data-src=\"{}\"{ticket} \
                 data-generated=\"{}\" aria-label=\"Video: {}\" aria-describedby=\"player-keys\"></video></div>\
                 <div class=\"player-menus\" hidden>\
                 <label for=\"quality\">Quality</label><select id=\"quality\"><option value=\"-1\">Auto</option></select>\
                 <label for=\"speed\">Speed</label><select id=\"speed\">\
                 <option value=\"0.5\">0.5×</option><option value=\"0.75\">0.75×</option>\
                 <option value=\"1\" selected>Normal</option><option value=\"1.25\">1.25×</option>\
                 <option value=\"1.5\">1.5×</option><option value=\"2\">2×</option></select>\
                 <label for=\"captions\">Captions</label><select id=\"captions\"><option value=\"-1\">Off</option></select>\
                 <p id=\"player-keys\" class=\"hint\">Keys: k or space play and pause, j and l go back and forward 10 seconds, \
                 arrows 5 seconds, m mutes, c turns captions on and off, f fills the screen.</p></div>",
                esc(&src),
                esc(&generated.join(" ")),
                esc(&l.video.title)
            ));
            transcript = transcript_panel(
                &config.edge_url,
                &p.playback_id,
                &token_query,
                &l.asset.captions,
            );
        }
        (AssetStatus::Ready, None) => main.push_str(
            "<div class=\"player unavailable\"><p>This video cannot play right now; \
             try again in a moment.</p></div>",
        ),
        (status, _) => main.push_str(&format!(
            "<div class=\"player pending\"><p class=\"status\" role=\"status\" aria-live=\"polite\" \
             data-video=\"{id}\">{}</p></div>",
            esc(&status_text(status))
        )),
    }
    (main, transcript)
}

/// Share: the page's link and the embed player's `<iframe>`, for a ready video a guest may
/// play (the page makes both absolute from its own address).
fn share(l: &Listed) -> String {
    let Some(p) = l
        .asset
        .playback_ids
        .iter()
        .find(|p| p.policy == PlaybackPolicy::Public)
    else {
        return String::new();
    };
    if l.asset.status != AssetStatus::Ready || l.video.visibility == Visibility::Private {
        return String::new();
    }
    format!(
        "<details class=\"share\"><summary>Share</summary>\
         <label for=\"share-link\">Link</label><input id=\"share-link\" readonly data-path=\"/watch/{}\">\
         <label for=\"share-embed\">Embed</label><textarea id=\"share-embed\" rows=\"2\" readonly data-embed=\"/embed/{}\"></textarea></details>",
        esc(&l.video.asset_id),
        esc(p.id.as_str())
    )
}

/// What stands before the player of a video with a content warning the viewer's policy does
/// not simply show: the seed's sentence with the flags in words, the uploader's summary,
/// and a button that reveals and starts the player (empty when no warning applies).
fn warning_gate(l: &Listed, policy: &ContentPolicy) -> String {
    let flags = l.warnings();
    if policy.action_for(flags) == WarningAction::Show {
        return String::new();
    }
    let words: Vec<&str> = flags.to_vec().iter().map(|f| f.label()).collect();
    let summary = if l.video.warning_summary.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"summary\">The uploader says: {}</p>",
            esc(&l.video.warning_summary)
        )
    };
    format!(
        "<section id=\"warning\" class=\"warning-gate\" aria-labelledby=\"warning-title\">\
         <h2 id=\"warning-title\">Content warning</h2>\
         <p>This video may contain sensitive content related to: {}.</p>{summary}\
         <button type=\"button\" data-confirm-warning>Watch anyway</button>\
         <p class=\"meta\"><a href=\"/settings\">Choose what you are warned about</a></p></section>",
        esc(&words.join(", "))
    )
}

/// The watch page's likes and subscribe buttons (first) and its comments (second).
async fn social_panel(
    social: &Social,
    user: Option<&User>,
    l: &Listed,
    page: u32,
) -> Result<(String, String), SocialError> {
    let id = &l.video.asset_id;
    // The page already checked the viewer may see the video.
    let (likes, liked) = social.likes_of(l, user).await?;
    let channel = social.channel(user, &l.video.owner_id).await?;
    let offset = u64::from(page - 1) * u64::from(COMMENTS_PER_PAGE);
    let (threads, more) = social.comments_of(l, COMMENTS_PER_PAGE, offset).await?;
    let mut bar = String::from("<div class=\"actions\">");
    match user {
        Some(u) => {
            bar.push_str(&format!(
                "<button type=\"button\" class=\"toggle\" data-like=\"{}\" aria-pressed=\"{liked}\">Like</button>\
                 <span class=\"count\" data-likes>{}</span>",
                esc(id),
                count(likes, "like")
            ));
            if u.id != l.video.owner_id {
                bar.push_str(&format!(
                    "<button type=\"button\" class=\"toggle\" data-subscribe=\"{}\" aria-pressed=\"{}\">Subscribe</button>",
                    esc(&channel.id),
                    channel.subscribed
                ));
                bar.push_str(
                    "<button type=\"button\" data-report aria-expanded=\"false\" aria-controls=\"report-form\">Report</button>",
                );
            }
        }
        None => bar.push_str(&format!(
            "<span class=\"count\">{}</span> <a href=\"/signin\">Sign in</a> to like, subscribe and comment",
            count(likes, "like")
        )),
    }
    bar.push_str(&format!(
        "<span class=\"count\" data-subscribers>{}</span></div>",
        count(channel.subscribers, "subscriber")
    ));
    if user.is_some_and(|u| u.id != l.video.owner_id) {
        bar.push_str(&report_form(id));
    }
    let mut comments = String::from(
        "<section class=\"comments\" aria-labelledby=\"comments-title\"><h2 id=\"comments-title\">Comments</h2>",
    );
    if user.is_some() {
        comments.push_str(&format!(
            "<form class=\"form comment-form\" data-video=\"{}\" novalidate>\
             <label for=\"comment-body\">Add a comment</label>\
             <textarea id=\"comment-body\" name=\"body\" rows=\"2\" maxlength=\"2000\" required></textarea>\
             <p class=\"error\" role=\"alert\" hidden></p><button type=\"submit\">Comment</button></form>",
            esc(id)
        ));
    }
    comments.push_str("<ol class=\"thread-list\">");
    for t in &threads {
        comments.push_str(&format!("<li>{}", comment_html(&t.comment, user, true)));
        if !t.replies.is_empty() {
            comments.push_str("<ol class=\"replies\">");
            for r in &t.replies {
                comments.push_str(&format!("<li>{}</li>", comment_html(r, user, false)));
            }
            comments.push_str("</ol>");
        }
        comments.push_str("</li>");
    }
    comments.push_str("</ol>");
    if threads.is_empty() && page == 1 {
        comments.push_str("<p class=\"empty\">No comments yet.</p>");
    }
    if page > 1 || more {
        comments.push_str("<nav class=\"pager\" aria-label=\"Comment pages\">");
        if page > 1 {
            comments.push_str(&format!(
                "<a rel=\"prev\" href=\"/watch/{}?comments={}#comments-title\">Newer comments</a>",
                esc(id),
                page - 1
            ));
        }
        if more {
            comments.push_str(&format!(
                "<a rel=\"next\" href=\"/watch/{}?comments={}#comments-title\">Older comments</a>",
                esc(id),
                page + 1
            ));
        }
        comments.push_str("</nav>");
    }
    comments.push_str("</section>");
    Ok((bar, comments))
}

/// The form that reports video `id`: why, in whose words, and where in the video (the page
/// fills in the moment playing when it opens).
fn report_form(id: &str) -> String {
    let reasons: String = [
        ReportReason::Sexual,
        ReportReason::Violent,
        ReportReason::Hateful,
        ReportReason::Spam,
        ReportReason::Copyright,
        ReportReason::Other,
    ]
    .iter()
    .map(|r| format!("<option value=\"{}\">{}</option>", r.as_str(), r.label()))
    .collect();
    format!(
        "<form class=\"form report-form\" id=\"report-form\" data-video=\"{}\" hidden novalidate \
         aria-labelledby=\"report-title\"><h2 id=\"report-title\">Report this video</h2>\
         <label for=\"report-reason\">Reason</label><select id=\"report-reason\" name=\"reason\">{reasons}</select>\
         <label for=\"report-details\">Details</label>\
         <textarea id=\"report-details\" name=\"details\" rows=\"2\" maxlength=\"1000\"></textarea>\
         <fieldset><legend>Where in the video, in seconds</legend>\
         <label for=\"report-start\">From</label><input id=\"report-start\" name=\"start_secs\" type=\"number\" min=\"0\" step=\"0.1\">\
         <label for=\"report-end\">To</label><input id=\"report-end\" name=\"end_secs\" type=\"number\" min=\"0\" step=\"0.1\"></fieldset>\
         <p class=\"error\" role=\"alert\" hidden></p><p class=\"saved\" role=\"status\" aria-live=\"polite\"></p>\
         <button type=\"submit\">Send report</button></form>",
        esc(id)
    )
}

/// One comment with the actions the viewer may take on it.
fn comment_html(c: &Comment, user: Option<&User>, top: bool) -> String {
    let body = if c.deleted {
        "<p class=\"meta\">This comment was removed.</p>".to_string()
    } else {
        format!("<p class=\"body\">{}</p>", esc(&c.body))
    };
    let edited = if c.edited_ms.is_some() {
        " · edited"
    } else {
        ""
    };
    let mut actions = String::new();
    if let Some(u) = user {
        if top && !c.deleted {
            actions.push_str("<button type=\"button\" data-reply>Reply</button>");
        }
        if c.editable_by(u) {
            actions.push_str("<button type=\"button\" data-edit>Edit</button>");
        }
        if c.removable_by(u) {
            actions.push_str("<button type=\"button\" data-delete>Delete</button>");
        }
    }
    let at = crate::app::rfc3339_of_ms(c.created_ms);
    format!(
        "<article class=\"comment\" id=\"{id}\" data-comment=\"{id}\" aria-label=\"Comment by {who}\">\
         <p class=\"meta\"><strong>{who}</strong> · <time datetime=\"{at}\">{when}</time>{edited}</p>{body}\
         <div class=\"comment-actions\">{actions}</div></article>",
        id = esc(&c.id),
        who = esc(&c.author_name),
        at = esc(&at),
        when = esc(&age(&at, now_unix())),
    )
}

/// The interactive transcript: the captions beside the player, one button per cue (the
/// script fills it from the edge's WebVTT: the current cue is highlighted and kept in view,
/// a click or Enter seeks there, a search box filters and highlights). Uploaded captions are
/// preferred; generated ones are labelled so.
fn transcript_panel(
    edge_url: &str,
    playback_id: &str,
    token_query: &str,
    captions: &[CaptionInfo],
) -> String {
    let Some(track) = captions
        .iter()
        .find(|c| c.source == CaptionSource::Uploaded)
        .or_else(|| captions.first())
    else {
        return String::new();
    };
    let vtt = format!(
        "{}/v/{playback_id}/subs/{}.vtt{token_query}",
        edge_url.trim_end_matches('/'),
        track.language
    );
    let label = if track.source == CaptionSource::Generated {
        " <span class=\"meta\">(auto-generated)</span>"
    } else {
        ""
    };
    format!(
        "<section id=\"transcript\" class=\"transcript\" aria-labelledby=\"transcript-title\" \
         data-vtt=\"{}\" lang=\"{}\"><h2 id=\"transcript-title\">Transcript{label}</h2>\
         <label for=\"transcript-search\">Search the transcript</label>\
         <input id=\"transcript-search\" type=\"search\" autocomplete=\"off\">\
         <p class=\"matches meta\" aria-live=\"polite\"></p><ol class=\"cues\"></ol></section>",
        esc(&vtt),
        esc(&track.language)
    )
}

/// `/videos/{id}/poster.jpg`: a video's picture, to whoever may see the video.
pub async fn poster(
    viewer: Viewer,
    State(videos): State<Arc<Videos>>,
    Path(id): Path<String>,
) -> Response {
    let user = viewer.session.as_ref().map(|s| &s.user);
    match videos.poster(user, &id).await {
        Ok(Some(bytes)) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            );
            resp
        }
        Ok(None) | Err(VideoError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "poster unavailable");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// `/embed/{playback id}`: the player alone, for other sites to frame: the same rules as the
/// watch page (only a public playback id of a video a guest may see; the instance's content
/// warning before it plays), a link to the video here, and nothing else of the site.
pub async fn embed(
    viewer: Viewer,
    State(videos): State<Arc<Videos>>,
    State(accounts): State<Arc<Accounts>>,
    State(players): State<Players>,
    State(config): State<Arc<Config>>,
    Path(playback_id): Path<String>,
) -> Response {
    let l = match videos.by_playback_id(&playback_id).await {
        Ok(l) => l,
        Err(VideoError::NotFound) => {
            return super::html_framed(
                &config,
                StatusCode::NOT_FOUND,
                embed_document(
                    "Not found",
                    "<p class=\"embed-missing\">This video is not available.</p>",
                    false,
                ),
                true,
            )
        }
        Err(e) => return trouble(&config, &viewer, &e),
    };
    // Embedded, the viewer is whoever the framing site shows it to: a guest.
    let guest = accounts.content_policy_of(None);
    let source = Source::to_watch(&players.page_tokens, &l).await;
    let (player, _) = player(
        &config,
        &l,
        Some(&guest),
        Some(&players.views),
        source.as_ref(),
    );
    let body = format!(
        "{player}<p class=\"embed-title\"><a href=\"/watch/{}\" target=\"_blank\" rel=\"noopener\">{} · Sunomi</a></p>",
        esc(&l.video.asset_id),
        esc(&l.video.title)
    );
    super::html_framed(
        &config,
        StatusCode::OK,
        embed_document(&l.video.title, &body, true),
        true,
    )
}

/// The embed player's whole document: no header, no navigation.
fn embed_document(title: &str, body: &str, player: bool) -> String {
    let scripts = if player {
        "<script src=\"/static/hls.min.js\"></script><script type=\"module\" src=\"/static/app.js\"></script>"
    } else {
        ""
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Sunomi</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
         <body class=\"embed\"><main>{body}</main>{scripts}</body></html>",
        esc(title)
    )
}
