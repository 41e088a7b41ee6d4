//! The uploader's pages: the upload form and the studio (my videos in any state).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::{card, show, trouble};
use crate::app::now_unix;
use crate::config::Config;
use crate::http::accounts::Viewer;
use crate::services::videos::Videos;

/// `/upload`: choose a file, describe it, send it (resumable), watch it being processed.
pub async fn upload(viewer: Viewer, State(config): State<Arc<Config>>) -> Response {
    if viewer.session.is_none() {
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
    viewer: Viewer,
    State(videos): State<Arc<Videos>>,
    State(config): State<Arc<Config>>,
) -> Response {
    let Some(session) = viewer.session.as_ref() else {
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
            main.push_str(&card(l, now, true, &viewer.policy));
        }
        main.push_str("</ul>");
    }
    show(&config, &viewer, "Studio", &[], main, "")
}
