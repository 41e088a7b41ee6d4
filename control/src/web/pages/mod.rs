//! The pages: rendered on the server from the same services the API uses (a first page needs
//! no script to show what it lists), with small scripts for what must be live (forms that
//! call the API, the upload, the player, status that changes by itself).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

mod account;
mod admin;
mod browse;
mod moderation;
mod studio;
pub mod watch;

pub use account::{notifications, settings, sign_in, sign_up};
pub use admin::admin;
pub use browse::{channel, feed, home, search};
pub use moderation::{my_reports, queue as moderation_queue, review as moderation_review};
pub use studio::{edit_video, studio, upload};
pub use watch::{embed, poster, watch};

use super::html::{age, clock, esc, Page};
use crate::config::Config;
use crate::db::videos::Listed;
use crate::domain::asset::AssetStatus;
use crate::domain::warnings::{ContentPolicy, WarningAction};
use crate::http::accounts::Viewer;
use crate::services::videos::VideoError;

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
    html_framed(config, status, body, false)
}

/// A page as [`html`] makes it; one that `embeddable` may be framed by any site (the embed
/// player), every other by none.
fn html_framed(config: &Config, status: StatusCode, body: String, embeddable: bool) -> Response {
    let edge = origin(&config.edge_url);
    let ancestors = if embeddable { "*" } else { "'none'" };
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         media-src 'self' blob: {edge}; connect-src 'self' {edge}; worker-src 'self' blob:; \
         frame-ancestors {ancestors}; base-uri 'none'; form-action 'self'"
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
    if !embeddable {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
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
    viewer: &Viewer,
    title: &str,
    scripts: &[&str],
    main: String,
    query: &str,
) -> Response {
    let body = Page {
        title,
        viewer: viewer.session.as_ref(),
        scripts,
        main,
        query,
    }
    .render();
    html(config, StatusCode::OK, body)
}

fn not_found(config: &Config, viewer: &Viewer) -> Response {
    let page = Page {
        title: "Not found",
        viewer: viewer.session.as_ref(),
        scripts: &[],
        main: "<h1>Not found</h1><p>There is no such page, or it is not yours to see.</p>\
               <p><a href=\"/\">Back to the videos</a></p>"
            .into(),
        query: "",
    };
    html(config, StatusCode::NOT_FOUND, page.render())
}

fn trouble(config: &Config, viewer: &Viewer, e: &VideoError) -> Response {
    if matches!(e, VideoError::NotFound | VideoError::Forbidden) {
        return not_found(config, viewer);
    }
    tracing::warn!(error = %e, "a page could not be made");
    let page = Page {
        title: "Unavailable",
        viewer: viewer.session.as_ref(),
        scripts: &[],
        main: "<h1>Something is unavailable</h1><p>Try again in a moment.</p>".into(),
        query: "",
    };
    html(config, StatusCode::SERVICE_UNAVAILABLE, page.render())
}

/// One video in a list: its picture (linking to it), title, channel and age; a note of its
/// content warning, and its picture blurred, as the viewer's `policy` says.
/// In the owner's view (the studio) it shows the video's status and visibility and links to
/// its edit page.
fn card(l: &Listed, now: u64, owner_view: bool, policy: &ContentPolicy) -> String {
    let id = esc(&l.video.asset_id);
    let duration = l
        .asset
        .duration
        .map(|d| format!("<span class=\"duration\">{}</span>", clock(d)))
        .unwrap_or_default();
    let status = if owner_view {
        format!(
            " · <span class=\"status\">{}</span> · {} · <a href=\"/studio/{id}\" aria-label=\"Edit {}\">Edit</a>",
            esc(&status_text(l.asset.status)),
            esc(l.video.visibility.as_str()),
            esc(&l.video.title)
        )
    } else {
        String::new()
    };
    let flags = l.warnings();
    let action = policy.action_for(flags);
    let (blur, note) = if action >= WarningAction::Warn || (owner_view && !flags.is_empty()) {
        let words: Vec<&str> = flags.to_vec().iter().map(|f| f.label()).collect();
        (
            if action >= WarningAction::Blur {
                " blurred"
            } else {
                ""
            },
            format!(
                "<p class=\"warning-note\">Sensitive: {}</p>",
                esc(&words.join(", "))
            ),
        )
    } else {
        ("", String::new())
    };
    format!(
        "<li class=\"card\"><a class=\"thumb{blur}\" href=\"/watch/{id}\" tabindex=\"-1\" aria-hidden=\"true\">\
         <img src=\"/videos/{id}/poster.jpg\" alt=\"\" loading=\"lazy\" width=\"320\" height=\"180\">{duration}</a>\
         <h2><a href=\"/watch/{id}\">{}</a></h2><p class=\"meta\">{} · {} · {}{status}</p>{note}</li>",
        esc(&l.video.title),
        esc(&l.owner_name),
        count(l.views, "view"),
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

/// `?page=` (and on the home page `?sort=`).
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    page: Option<u32>,
    sort: Option<crate::domain::videos::Order>,
}

/// Links to the previous and next pages of a list at `base` (a path, perhaps with a query
/// already: `page` joins it).
fn pager(base: &str, page: u32, more: bool) -> String {
    if page == 1 && !more {
        return String::new();
    }
    let base = esc(base);
    let join = if base.contains('?') { "&amp;" } else { "?" };
    let mut h = String::from("<nav class=\"pager\" aria-label=\"Pages\">");
    if page > 1 {
        h.push_str(&format!(
            "<a rel=\"prev\" href=\"{base}{join}page={}\">Previous</a>",
            page - 1
        ));
    }
    if more {
        h.push_str(&format!(
            "<a rel=\"next\" href=\"{base}{join}page={}\">Next</a>",
            page + 1
        ));
    }
    h.push_str("</nav>");
    h
}

fn count(n: i64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
