//! The pages: rendered on the server from the same services the API uses (a first page needs
//! no script to show what it lists), with small scripts for what must be live (forms that
//! call the API, the upload, the player, status that changes by itself).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::html::{age, clock, esc, Page};
use crate::app::now_unix;
use crate::config::Config;
use crate::db::videos::Listed;
use crate::domain::accounts::User;
use crate::domain::asset::{AssetStatus, CaptionInfo, CaptionSource, PlaybackPolicy};
use crate::domain::social::Comment;
use crate::domain::videos::Visibility;
use crate::http::accounts::MaybeSignedIn;
use crate::services::social::{Social, SocialError};
use crate::services::videos::{VideoError, Videos};

/// Videos on a page of the home page.
const HOME_PAGE: u32 = 24;

/// The origin (`scheme://host[:port]`) of a URL.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}")
}

/// A page as a response, with the headers every page carries: a content security policy
/// that lets scripts, styles and images come only from here and media from the edge fleet,
/// no framing, no sniffing, no referrer outside this site.
fn html(config: &Config, status: StatusCode, body: String) -> Response {
    let edge = origin(&config.edge_url);
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         media-src 'self' blob: {edge}; connect-src 'self' {edge}; worker-src 'self' blob:; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A 200 page with the layout.
fn show(
    config: &Config,
    viewer: &MaybeSignedIn,
    title: &str,
    scripts: &[&str],
    main: String,
    query: &str,
) -> Response {
    let body = Page {
        title,
        viewer: viewer.0.as_ref(),
        scripts,
        main,
        query,
    }
    .render();
    html(config, StatusCode::OK, body)
}

fn not_found(config: &Config, viewer: &MaybeSignedIn) -> Response {
    let page = Page {
        title: "Not found",
        viewer: viewer.0.as_ref(),
        scripts: &[],
        main: "<h1>Not found</h1><p>There is no such page, or it is not yours to see.</p>\
               <p><a href=\"/\">Back to the videos</a></p>"
            .into(),
        query: "",
    };
    html(config, StatusCode::NOT_FOUND, page.render())
}

fn trouble(config: &Config, viewer: &MaybeSignedIn, e: &VideoError) -> Response {
    if matches!(e, VideoError::NotFound) {
        return not_found(config, viewer);
    }
    tracing::warn!(error = %e, "a page could not be made");
    let page = Page {
        title: "Unavailable",
        viewer: viewer.0.as_ref(),
        scripts: &[],
        main: "<h1>Something is unavailable</h1><p>Try again in a moment.</p>".into(),
        query: "",
    };
    html(config, StatusCode::SERVICE_UNAVAILABLE, page.render())
}

/// One video in a list: its picture (linking to it), title, channel and age.
fn card(l: &Listed, now: u64, show_status: bool) -> String {
    let id = esc(&l.video.asset_id);
    let duration = l
        .asset
        .duration
        .map(|d| format!("<span class=\"duration\">{}</span>", clock(d)))
        .unwrap_or_default();
    let status = if show_status {
        format!(
            " · <span class=\"status\">{}</span> · {}",
            esc(&status_text(l.asset.status)),
            esc(l.video.visibility.as_str())
        )
    } else {
        String::new()
    };
    format!(
        "<li class=\"card\"><a class=\"thumb\" href=\"/watch/{id}\" tabindex=\"-1\" aria-hidden=\"true\">\
         <img src=\"/videos/{id}/poster.jpg\" alt=\"\" loading=\"lazy\" width=\"320\" height=\"180\">{duration}</a>\
         <h2><a href=\"/watch/{id}\">{}</a></h2><p class=\"meta\">{} · {}{status}</p></li>",
        esc(&l.video.title),
        esc(&l.owner_name),
        esc(&age(&l.video.created_at, now)),
    )
}

/// What a status means to a person.
pub fn status_text(status: AssetStatus) -> String {
    match status {
        AssetStatus::WaitingUpload => "waiting for the file".into(),
        AssetStatus::Ready => "ready".into(),
        AssetStatus::Blocked => "blocked by moderation".into(),
        AssetStatus::InReview => "in review".into(),
        AssetStatus::Errored => "failed".into(),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default(),
    }
}

/// `?page=`.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    page: Option<u32>,
}

/// `/`: the newest public videos.
pub async fn home(
    viewer: MaybeSignedIn,
    State(videos): State<Arc<Videos>>,
    State(config): State<Arc<Config>>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = query
        .ok()
        .and_then(|Query(q)| q.page)
        .unwrap_or(1)
        .clamp(1, 100_000);
    let offset = u64::from(page - 1) * u64::from(HOME_PAGE);
    let (found, more) = match videos.public_page(HOME_PAGE, offset).await {
        Ok(x) => x,
        Err(e) => return trouble(&config, &viewer, &e),
    };
    let now = now_unix();
    let mut main = String::from("<h1>Videos</h1>");
    if found.is_empty() && page == 1 {
        main.push_str(
            "<p class=\"empty\">No videos yet. Be the first to <a href=\"/upload\">share one</a>.</p>",
        );
    } else {
        main.push_str("<ul class=\"grid\">");
        for l in &found {
            main.push_str(&card(l, now, false));
        }
        main.push_str("</ul>");
    }
    main.push_str(&pager("/", page, more));
    show(&config, &viewer, "Videos", &[], main, "")
}

fn pager(base: &str, page: u32, more: bool) -> String {
    if page == 1 && !more {
        return String::new();
    }
    let mut h = String::from("<nav class=\"pager\" aria-label=\"Pages\">");
    if page > 1 {
        h.push_str(&format!(
            "<a rel=\"prev\" href=\"{base}?page={}\">Newer</a>",
            page - 1
        ));
    }
    if more {
        h.push_str(&format!(
            "<a rel=\"next\" href=\"{base}?page={}\">Older</a>",
            page + 1
        ));
    }
    h.push_str("</nav>");
    h
}

/// `?q=`.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// `/search?q=`: public videos whose title or description has every word.
pub async fn search(
    viewer: MaybeSignedIn,
    State(videos): State<Arc<Videos>>,
    State(config): State<Arc<Config>>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.ok().and_then(|Query(s)| s.q).unwrap_or_default();
    let found = match videos.search(&q).await {
        Ok(f) => f,
        Err(e) => return trouble(&config, &viewer, &e),
    };
    let now = now_unix();
    let mut main = format!("<h1>Search: {}</h1>", esc(q.trim()));
    if found.videos.is_empty() && found.moments.is_empty() {
        main.push_str("<p class=\"empty\">No videos match.</p>");
    }
    if !found.videos.is_empty() {
        main.push_str(&format!(
            "<h2 class=\"section\">Titles and descriptions</h2><p class=\"meta\">{} {}</p><ul class=\"grid\">",
            found.videos.len(),
            if found.videos.len() == 1 { "video" } else { "videos" }
        ));
        for l in &found.videos {
            main.push_str(&card(l, now, false));
        }
        main.push_str("</ul>");
    }
    if !found.moments.is_empty() {
        main.push_str("<h2 class=\"section\">Said in the video</h2><ul class=\"moments\">");
        for (l, at_ms, words) in &found.moments {
            let secs = at_ms / 1000;
            main.push_str(&format!(
                "<li><a href=\"/watch/{id}?t={secs}\">{title} at {at}</a> \
                 <span class=\"meta\">{owner}</span><p class=\"said\">“{words}”</p></li>",
                id = esc(&l.video.asset_id),
                title = esc(&l.video.title),
                at = clock(secs as f64),
                owner = esc(&l.owner_name),
                words = esc(words),
            ));
        }
        main.push_str("</ul>");
    }
    show(&config, &viewer, "Search", &[], main, &q)
}

/// `/signin`.
pub async fn sign_in(viewer: MaybeSignedIn, State(config): State<Arc<Config>>) -> Response {
    if viewer.0.is_some() {
        return Redirect::to("/").into_response();
    }
    let main = "<h1>Sign in</h1>\
        <form class=\"form\" data-api=\"/api/v1/auth/signin\" data-next=\"/\" novalidate>\
        <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
        <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
        <p class=\"error\" role=\"alert\" hidden></p>\
        <button type=\"submit\">Sign in</button></form>\
        <p>New here? <a href=\"/signup\">Sign up</a></p>"
        .to_string();
    show(&config, &viewer, "Sign in", &[], main, "")
}

/// `/signup`.
pub async fn sign_up(viewer: MaybeSignedIn, State(config): State<Arc<Config>>) -> Response {
    if viewer.0.is_some() {
        return Redirect::to("/").into_response();
    }
    let main = "<h1>Sign up</h1>\
        <form class=\"form\" data-api=\"/api/v1/auth/signup\" data-next=\"/\" novalidate>\
        <label for=\"display_name\">Display name</label><input id=\"display_name\" name=\"display_name\" autocomplete=\"nickname\" maxlength=\"50\" required>\
        <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
        <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"10\" required aria-describedby=\"password-hint\">\
        <p id=\"password-hint\" class=\"hint\">At least 10 characters.</p>\
        <p class=\"error\" role=\"alert\" hidden></p>\
        <button type=\"submit\">Sign up</button></form>\
        <p>Have an account? <a href=\"/signin\">Sign in</a></p>"
        .to_string();
    show(&config, &viewer, "Sign up", &[], main, "")
}

/// `/upload`: choose a file, describe it, send it (resumable), watch it being processed.
pub async fn upload(viewer: MaybeSignedIn, State(config): State<Arc<Config>>) -> Response {
    if viewer.0.is_none() {
        return Redirect::to("/signin").into_response();
    }
    let main = "<h1>Upload</h1>\
        <form class=\"form\" id=\"upload\" novalidate>\
        <label for=\"file\">Video file</label><input id=\"file\" name=\"file\" type=\"file\" accept=\"video/*\" required>\
        <label for=\"title\">Title</label><input id=\"title\" name=\"title\" maxlength=\"100\" required>\
        <label for=\"description\">Description</label><textarea id=\"description\" name=\"description\" rows=\"4\" maxlength=\"5000\"></textarea>\
        <label for=\"visibility\">Visibility</label><select id=\"visibility\" name=\"visibility\">\
        <option value=\"public\">Public</option><option value=\"unlisted\">Unlisted (anyone with the link)</option>\
        <option value=\"private\">Private (only you)</option></select>\
        <p class=\"error\" role=\"alert\" hidden></p>\
        <button type=\"submit\">Upload</button></form>\
        <section id=\"progress\" hidden aria-labelledby=\"progress-title\"><h2 id=\"progress-title\">Sending</h2>\
        <progress max=\"100\" value=\"0\" aria-labelledby=\"progress-title\"></progress>\
        <p class=\"sent\" aria-live=\"polite\"></p>\
        <button type=\"button\" id=\"pause\">Pause</button></section>\
        <section id=\"processing\" hidden aria-labelledby=\"processing-title\"><h2 id=\"processing-title\">Processing</h2>\
        <p class=\"status\" role=\"status\" aria-live=\"polite\"></p><p class=\"watch-link\" hidden></p></section>"
        .to_string();
    show(&config, &viewer, "Upload", &["tus.min.js"], main, "")
}

/// `/studio`: my videos, in any state.
pub async fn studio(
    viewer: MaybeSignedIn,
    State(videos): State<Arc<Videos>>,
    State(config): State<Arc<Config>>,
) -> Response {
    let Some(session) = viewer.0.as_ref() else {
        return Redirect::to("/signin").into_response();
    };
    let (found, _) = match videos.owned_page(&session.user, 100, 0).await {
        Ok(x) => x,
        Err(e) => return trouble(&config, &viewer, &e),
    };
    let now = now_unix();
    let mut main = String::from("<h1>Studio</h1>");
    if found.is_empty() {
        main.push_str(
            "<p class=\"empty\">You have no videos yet. <a href=\"/upload\">Share your first</a>.</p>",
        );
    } else {
        main.push_str("<ul class=\"grid\">");
        for l in &found {
            main.push_str(&card(l, now, true));
        }
        main.push_str("</ul>");
    }
    show(&config, &viewer, "Studio", &[], main, "")
}

/// `/watch/{id}`: the player (or where the video stands), its title, channel and description.
pub async fn watch(
    viewer: MaybeSignedIn,
    State(videos): State<Arc<Videos>>,
    State(social): State<Arc<Social>>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
) -> Response {
    let user = viewer.0.as_ref().map(|s| &s.user);
    let l = match videos.get(user, &id).await {
        Ok(l) => l,
        Err(e) => return trouble(&config, &viewer, &e),
    };
    let id = esc(&l.video.asset_id);
    let public = l
        .asset
        .playback_ids
        .iter()
        .find(|p| p.policy == PlaybackPolicy::Public);
    let mut main = String::new();
    let mut transcript = String::new();
    match (l.asset.status, public) {
        (AssetStatus::Ready, Some(p)) => {
            let src = crate::http::assets::playback_url(&config.edge_url, p.id.as_str());
            main.push_str(&format!(
                "<div class=\"player\"><video id=\"player\" controls playsinline preload=\"metadata\" \
                 crossorigin=\"anonymous\" poster=\"/videos/{id}/poster.jpg\" data-src=\"{}\" \
                 aria-label=\"Video: {}\"></video></div>",
                esc(&src),
                esc(&l.video.title)
            ));
            transcript = transcript_panel(&config.edge_url, p.id.as_str(), &l.asset.captions);
        }
        (AssetStatus::Ready, None) => main.push_str(
            "<div class=\"player unavailable\"><p>This private video plays only through a signed \
             link, which this page cannot make yet.</p></div>",
        ),
        (status, _) => main.push_str(&format!(
            "<div class=\"player pending\"><p class=\"status\" role=\"status\" aria-live=\"polite\" \
             data-video=\"{id}\">{}</p></div>",
            esc(&status_text(status))
        )),
    }
    let visibility = match l.video.visibility {
        Visibility::Public => String::new(),
        v => format!(" · {}", v.as_str()),
    };
    let social_part = match social_panel(&social, user, &l).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "likes, channel or comments unavailable");
            (String::new(), String::new())
        }
    };
    main.push_str(&format!(
        "<h1>{}</h1><p class=\"meta\"><a href=\"/channel/{}\">{}</a> · {}{visibility}</p>{}\
         <div class=\"description\">{}</div>",
        esc(&l.video.title),
        esc(&l.video.owner_id),
        esc(&l.owner_name),
        esc(&age(&l.video.created_at, now_unix())),
        social_part.0,
        esc(&l.video.description),
    ));
    main.push_str(&transcript);
    main.push_str(&social_part.1);
    show(&config, &viewer, &l.video.title, &["hls.min.js"], main, "")
}

/// The watch page's likes and subscribe buttons (first) and its comments (second).
async fn social_panel(
    social: &Social,
    user: Option<&User>,
    l: &Listed,
) -> Result<(String, String), SocialError> {
    let id = &l.video.asset_id;
    // The page already checked the viewer may see the video.
    let (likes, liked) = social.likes_of(l, user).await?;
    let channel = social.channel(user, &l.video.owner_id).await?;
    let (threads, more) = social.comments_of(l, 20, 0).await?;
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
    if threads.is_empty() {
        comments.push_str("<p class=\"empty\">No comments yet.</p>");
    }
    if more {
        comments.push_str(
            "<p class=\"meta\">Older comments are in the API (paging comes to this page next).</p>",
        );
    }
    comments.push_str("</section>");
    Ok((bar, comments))
}

fn count(n: i64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
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

/// `/channel/{id}`: an account's public videos and its subscribe button.
pub async fn channel(
    viewer: MaybeSignedIn,
    State(social): State<Arc<Social>>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
) -> Response {
    let user = viewer.0.as_ref().map(|s| &s.user);
    let (channel, (found, _)) = match (
        social.channel(user, &id).await,
        social.channel_videos(&id, 48, 0).await,
    ) {
        (Ok(c), Ok(v)) => (c, v),
        (Err(SocialError::NotFound(_)), _) => return not_found(&config, &viewer),
        _ => {
            return trouble(
                &config,
                &viewer,
                &VideoError::App(crate::app::AppError::Store("channel".into())),
            )
        }
    };
    let mut main = format!(
        "<h1>{}</h1><div class=\"actions\">",
        esc(&channel.display_name)
    );
    if user.is_some_and(|u| u.id != channel.id) {
        main.push_str(&format!(
            "<button type=\"button\" class=\"toggle\" data-subscribe=\"{}\" aria-pressed=\"{}\">Subscribe</button>",
            esc(&channel.id),
            channel.subscribed
        ));
    }
    main.push_str(&format!(
        "<span class=\"count\" data-subscribers>{}</span></div>",
        count(channel.subscribers, "subscriber")
    ));
    let now = now_unix();
    if found.is_empty() {
        main.push_str("<p class=\"empty\">No public videos yet.</p>");
    } else {
        main.push_str("<ul class=\"grid\">");
        for l in &found {
            main.push_str(&card(l, now, false));
        }
        main.push_str("</ul>");
    }
    let title = channel.display_name.clone();
    show(&config, &viewer, &title, &[], main, "")
}

/// `/feed`: the public videos of the channels I subscribe to.
pub async fn feed(
    viewer: MaybeSignedIn,
    State(social): State<Arc<Social>>,
    State(config): State<Arc<Config>>,
) -> Response {
    let Some(session) = viewer.0.as_ref() else {
        return Redirect::to("/signin").into_response();
    };
    let found = match social.feed(&session.user, 48, 0).await {
        Ok((f, _)) => f,
        Err(_) => {
            return trouble(
                &config,
                &viewer,
                &VideoError::App(crate::app::AppError::Store("feed".into())),
            )
        }
    };
    let now = now_unix();
    let mut main = String::from("<h1>Subscriptions</h1>");
    if found.is_empty() {
        main.push_str("<p class=\"empty\">Nothing here yet: subscribe to channels to see their new videos.</p>");
    } else {
        main.push_str("<ul class=\"grid\">");
        for l in &found {
            main.push_str(&card(l, now, false));
        }
        main.push_str("</ul>");
    }
    show(&config, &viewer, "Subscriptions", &[], main, "")
}

/// The interactive transcript: the captions beside the player, one button per cue (the
/// script fills it from the edge's WebVTT: the current cue is highlighted and kept in view,
/// a click or Enter seeks there, a search box filters and highlights). Uploaded captions are
/// preferred; generated ones are labelled so.
fn transcript_panel(edge_url: &str, playback_id: &str, captions: &[CaptionInfo]) -> String {
    let Some(track) = captions
        .iter()
        .find(|c| c.source == CaptionSource::Uploaded)
        .or_else(|| captions.first())
    else {
        return String::new();
    };
    let vtt = format!(
        "{}/v/{playback_id}/subs/{}.vtt",
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
    viewer: MaybeSignedIn,
    State(videos): State<Arc<Videos>>,
    Path(id): Path<String>,
) -> Response {
    let user = viewer.0.as_ref().map(|s| &s.user);
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
