//! The uploader's pages: the upload form, the studio (my videos in any state) and the page
//! that edits one video.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::{card, show, status_text, trouble};
use crate::app::now_unix;
use crate::config::Config;
use crate::db::videos::Listed;
use crate::domain::asset::CaptionSource;
use crate::domain::videos::Visibility;
use crate::domain::warnings::ContentFlag;
use crate::http::accounts::Viewer;
use crate::services::videos::Videos;
use crate::web::html::{clock, esc};

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
        <label for=\"language\">Spoken language</label><select id=\"language\" name=\"language\" aria-describedby=\"language-hint\">\
        <option value=\"\">Detect it</option><option value=\"en\">English</option><option value=\"fr\">French</option>\
        <option value=\"de\">German</option><option value=\"es\">Spanish</option><option value=\"pt\">Portuguese</option>\
        <option value=\"it\">Italian</option><option value=\"nl\">Dutch</option><option value=\"ja\">Japanese</option>\
        <option value=\"zh\">Chinese</option></select>\
        <p id=\"language-hint\" class=\"hint\">For the automatic captions.</p>\
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

/// `/studio/{id}`: edit one of my videos — title, description, visibility, its content
/// warning (my flags and summary) — see what moderation found, delete it. Someone else's
/// video is not found here (an admin may edit any).
pub async fn edit_video(
    viewer: Viewer,
    State(videos): State<Arc<Videos>>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = viewer.session.as_ref() else {
        return Redirect::to("/signin").into_response();
    };
    let l = match videos.editable(&session.user, &id).await {
        Ok(l) => l,
        Err(e) => return trouble(&config, &viewer, &e),
    };
    let v = &l.video;
    let id = esc(&v.asset_id);
    let option = |value: Visibility, words: &str| {
        let selected = if v.visibility == value {
            " selected"
        } else {
            ""
        };
        format!(
            "<option value=\"{}\"{selected}>{words}</option>",
            value.as_str()
        )
    };
    let flags: String = ContentFlag::ALL
        .iter()
        .map(|f| {
            let checked = if v.flags.contains(*f) { " checked" } else { "" };
            format!(
                "<label><input type=\"checkbox\" name=\"flags\" value=\"{}\"{checked}> {}</label>",
                f.as_str(),
                esc(f.label())
            )
        })
        .collect();
    let mut main = format!(
        "<h1>Edit video</h1><p class=\"meta\"><a href=\"/watch/{id}\">{title}</a> · {status}</p>\
         <form class=\"form\" id=\"edit-video\" data-video=\"{id}\" novalidate>\
         <label for=\"title\">Title</label><input id=\"title\" name=\"title\" maxlength=\"100\" required value=\"{title}\">\
         <label for=\"description\">Description</label><textarea id=\"description\" name=\"description\" rows=\"4\" maxlength=\"5000\">{description}</textarea>\
         <label for=\"visibility\">Visibility</label><select id=\"visibility\" name=\"visibility\">{}{}{}</select>\
         <fieldset><legend>Content warning</legend>\
         <p class=\"hint\" id=\"flags-hint\">Viewers are warned before it plays, as each of them chooses.</p>\
         <div class=\"choices\" role=\"group\" aria-describedby=\"flags-hint\">{flags}</div>\
         <label for=\"warning_summary\">What it shows, in your words</label>\
         <input id=\"warning_summary\" name=\"warning_summary\" maxlength=\"500\" value=\"{summary}\"></fieldset>\
         <p class=\"error\" role=\"alert\" hidden></p><p class=\"saved\" role=\"status\" aria-live=\"polite\"></p>\
         <button type=\"submit\">Save</button></form>",
        option(Visibility::Public, "Public"),
        option(Visibility::Unlisted, "Unlisted (anyone with the link)"),
        option(Visibility::Private, "Private (only you)"),
        title = esc(&v.title),
        status = esc(&status_text(l.asset.status)),
        description = esc(&v.description),
        summary = esc(&v.warning_summary),
    );
    main.push_str(&captions_section(&l));
    main.push_str(&moderation_summary(&l));
    main.push_str(&format!(
        "<section aria-labelledby=\"delete-title\"><h2 id=\"delete-title\">Delete</h2>\
         <p>The video and its media go for good, from every edge.</p>\
         <button type=\"button\" class=\"danger\" data-delete-video=\"{id}\">Delete video</button></section>"
    ));
    show(&config, &viewer, "Edit video", &[], main, "")
}

/// The video's captions — each with its source and a delete button — and a form that
/// uploads (or replaces) a WebVTT file in a language.
fn captions_section(l: &Listed) -> String {
    let id = esc(&l.video.asset_id);
    let tracks: String = l
        .asset
        .captions
        .iter()
        .map(|c| {
            let source = match c.source {
                CaptionSource::Generated => "auto-generated",
                CaptionSource::Uploaded => "uploaded",
            };
            format!(
                "<li>{lang} <span class=\"meta\">{source}</span> \
                 <button type=\"button\" class=\"danger\" data-delete-captions=\"{lang}\" \
                 aria-label=\"Delete the {lang} captions\">Delete</button></li>",
                lang = esc(&c.language),
            )
        })
        .collect();
    let list = if tracks.is_empty() {
        "<p class=\"empty\">No captions yet.</p>".to_string()
    } else {
        format!("<ul class=\"captions-list\">{tracks}</ul>")
    };
    format!(
        "<section aria-labelledby=\"captions-title\" data-video=\"{id}\" id=\"captions-section\">\
         <h2 id=\"captions-title\">Captions</h2>{list}\
         <form class=\"form\" id=\"captions-upload\" novalidate>\
         <label for=\"captions-lang\">Language</label><input id=\"captions-lang\" name=\"lang\" \
         pattern=\"[a-z]{{2,3}}\" maxlength=\"3\" required aria-describedby=\"captions-lang-hint\">\
         <p id=\"captions-lang-hint\" class=\"hint\">Two or three letters: en, fr, por.</p>\
         <label for=\"captions-file\">Captions file (WebVTT)</label>\
         <input id=\"captions-file\" name=\"file\" type=\"file\" accept=\".vtt,text/vtt\" required>\
         <p class=\"error\" role=\"alert\" hidden></p><p class=\"saved\" role=\"status\" aria-live=\"polite\"></p>\
         <button type=\"submit\">Upload captions</button></form></section>"
    )
}

/// What moderation decided and found, for the video's owner: the decision, the flags it
/// published the video behind, and the most confident labels.
fn moderation_summary(l: &Listed) -> String {
    let m = &l.asset.moderation;
    let Some(verdict) = &m.verdict else {
        return String::new();
    };
    let decided = match m.reviews.last() {
        Some(r) => format!(
            "A moderator decided: {}.",
            serde_json::to_value(r.decision)
                .ok()
                .and_then(|d| d.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
        None => format!(
            "Automatic check: {}.",
            serde_json::to_value(verdict.decision)
                .ok()
                .and_then(|d| d.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
    };
    let warned: Vec<&str> = m.warnings().to_vec().iter().map(|f| f.label()).collect();
    let warned = if warned.is_empty() {
        String::new()
    } else {
        format!(
            "<p>Moderation warns viewers about: {}.</p>",
            esc(&warned.join(", "))
        )
    };
    let mut labels: Vec<_> = verdict.labels.iter().collect();
    labels.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let rows: String = labels
        .iter()
        .take(5)
        .map(|x| {
            format!(
                "<li>{} — {:.0}% at {}</li>",
                esc(&x.category),
                x.confidence,
                clock(x.time_secs)
            )
        })
        .collect();
    format!(
        "<section aria-labelledby=\"moderation-title\"><h2 id=\"moderation-title\">Moderation</h2>\
         <p>{}</p>{warned}<ul class=\"labels\">{rows}</ul></section>",
        esc(&decided)
    )
}
