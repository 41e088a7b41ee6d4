//! The moderators' pages: the one queue (held and reported videos, registrations awaiting
//! approval, the newest decisions), and a video's review page — the player at the moment
//! reported, the transcript, the reports and what moderation found, and the decision. And
//! the page where a reporter follows what came of their reports.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::watch::Source;
use super::{not_found, show, status_text, trouble};
use crate::app::{now_unix, rfc3339_of_ms};
use crate::config::Config;
use crate::domain::reports::Report;
use crate::domain::warnings::ContentFlag;
use crate::http::accounts::Viewer;
use crate::services::moderation::{Moderation, ModerationError};
use crate::services::page_tokens::PageTokens;
use crate::services::videos::VideoError;
use crate::web::html::{age, clock, esc};

fn failed(config: &Config, viewer: &Viewer, e: ModerationError) -> Response {
    match e {
        ModerationError::NotFound(_) | ModerationError::Forbidden => not_found(config, viewer),
        other => trouble(
            config,
            viewer,
            &VideoError::App(crate::app::AppError::Store(other.to_string())),
        ),
    }
}

/// Where in the video a report points, as words and a link that plays from there.
fn range(video_id: &str, r: &Report) -> String {
    match r.range_ms {
        Some((s, e)) => {
            let (s, e) = (s as f64 / 1000.0, e as f64 / 1000.0);
            format!(
                "<a href=\"/moderation/videos/{}?t={}\" data-seek=\"{s}\">{}–{}</a>",
                esc(video_id),
                s.floor(),
                clock(s),
                clock(e)
            )
        }
        None => "the whole video".into(),
    }
}

/// `/moderation`: the queue.
pub async fn queue(
    viewer: Viewer,
    State(moderation): State<Arc<Moderation>>,
    State(config): State<Arc<Config>>,
) -> Response {
    let Some(session) = viewer.session.as_ref() else {
        return Redirect::to("/signin").into_response();
    };
    let user = &session.user;
    let q = match moderation.queue(user).await {
        Ok(q) => q,
        Err(e) => return failed(&config, &viewer, e),
    };
    let now = now_unix();
    let mut main = String::from("<h1>Moderation</h1>");
    main.push_str("<section aria-labelledby=\"videos-title\"><h2 id=\"videos-title\">Videos</h2>");
    if q.videos.is_empty() {
        main.push_str("<p class=\"empty\">No video is waiting.</p>");
    } else {
        main.push_str("<ul class=\"queue\">");
        for item in &q.videos {
            let v = &item.listed.video;
            let why = if item.held {
                "Held by the automatic check".to_string()
            } else {
                let reasons: Vec<&str> = item.reports.iter().map(|r| r.reason.label()).collect();
                format!(
                    "{} {}: {}",
                    item.reports.len(),
                    if item.reports.len() == 1 {
                        "report"
                    } else {
                        "reports"
                    },
                    reasons.join(", ")
                )
            };
            main.push_str(&format!(
                "<li><a href=\"/moderation/videos/{}\">{}</a> <span class=\"meta\">{} · {} · {}</span></li>",
                esc(&v.asset_id),
                esc(&v.title),
                esc(&item.listed.owner_name),
                esc(&why),
                esc(&age(&v.created_at, now)),
            ));
        }
        main.push_str("</ul>");
    }
    main.push_str("</section>");
    main.push_str(
        "<section aria-labelledby=\"registrations-title\"><h2 id=\"registrations-title\">Registrations</h2>",
    );
    if q.registrations.is_empty() {
        main.push_str("<p class=\"empty\">No account is waiting for approval.</p>");
    } else {
        main.push_str("<ul class=\"queue\">");
        for u in &q.registrations {
            main.push_str(&format!(
                "<li><form class=\"inline-form\" data-registration=\"{id}\" aria-label=\"Registration of {email}\" novalidate>\
                 <span><strong>{name}</strong> <span class=\"meta\">{email} · {when}</span></span>\
                 <label for=\"why-{id}\">Reason</label><input id=\"why-{id}\" name=\"reason\" maxlength=\"500\" required>\
                 <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
                 <button type=\"submit\" name=\"decision\" value=\"reject\" class=\"danger\">Reject</button>\
                 <p class=\"error\" role=\"alert\" hidden></p></form></li>",
                id = esc(&u.id),
                name = esc(&u.display_name),
                email = esc(&u.email),
                when = esc(&age(&u.created_at, now)),
            ));
        }
        main.push_str("</ul>");
    }
    main.push_str("</section>");
    if let Ok(log) = moderation.audit_log(user).await {
        main.push_str(
            "<section aria-labelledby=\"log-title\"><h2 id=\"log-title\">Recent decisions</h2>",
        );
        if log.is_empty() {
            main.push_str("<p class=\"empty\">No decisions yet.</p>");
        } else {
            main.push_str("<ol class=\"log\">");
            for e in log.iter().take(20) {
                let at = rfc3339_of_ms(e.at_ms);
                main.push_str(&format!(
                    "<li><time datetime=\"{at}\">{}</time> · {} · <code>{}</code> on {} — {}</li>",
                    esc(&age(&at, now)),
                    esc(&e.actor_id),
                    esc(&e.action),
                    esc(&e.subject),
                    esc(&e.reason),
                ));
            }
            main.push_str("</ol>");
        }
        main.push_str("</section>");
    }
    show(&config, &viewer, "Moderation", &[], main, "")
}

/// `/moderation/videos/{id}`: one video to decide about.
pub async fn review(
    viewer: Viewer,
    State(moderation): State<Arc<Moderation>>,
    State(page_tokens): State<Arc<PageTokens>>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = viewer.session.as_ref() else {
        return Redirect::to("/signin").into_response();
    };
    let item = match moderation.item(&session.user, &id).await {
        Ok(i) => i,
        Err(e) => return failed(&config, &viewer, e),
    };
    let l = &item.listed;
    let vid = &l.video.asset_id;
    let source = Source::to_review(&page_tokens, l).await;
    let (player, transcript) = super::watch::player(&config, l, None, None, source.as_ref());
    let mut main = format!(
        "<h1>Review: {}</h1><p class=\"meta\"><a href=\"/channel/{}\">{}</a> · {} · {}</p>",
        esc(&l.video.title),
        esc(&l.video.owner_id),
        esc(&l.owner_name),
        esc(&status_text(l.asset.status)),
        esc(l.video.visibility.as_str()),
    );
    main.push_str(&player);
    if item.reports.is_empty() {
        main.push_str("<p>No open reports.</p>");
    } else {
        main.push_str(
            "<section aria-labelledby=\"reports-title\"><h2 id=\"reports-title\">Reports</h2><ul class=\"reports\">",
        );
        for r in &item.reports {
            let details = if r.details.is_empty() {
                String::new()
            } else {
                format!("<p class=\"said\">“{}”</p>", esc(&r.details))
            };
            main.push_str(&format!(
                "<li><strong>{}</strong> at {} <span class=\"meta\">{}</span>{details}</li>",
                esc(r.reason.label()),
                range(vid, r),
                esc(&age(&rfc3339_of_ms(r.created_ms), now_unix())),
            ));
        }
        main.push_str("</ul></section>");
    }
    if let Some(v) = &l.asset.moderation.verdict {
        let mut labels: Vec<_> = v.labels.iter().collect();
        labels.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        let rows: String = labels
            .iter()
            .take(8)
            .map(|x| {
                format!(
                    "<li>{} {:.0}% at <a href=\"?t={}\" data-seek=\"{}\">{}</a></li>",
                    esc(&x.category),
                    x.confidence,
                    x.time_secs.floor(),
                    x.time_secs,
                    clock(x.time_secs)
                )
            })
            .collect();
        let reasons = if v.reasons.is_empty() {
            String::new()
        } else {
            format!("<p>{}</p>", esc(&v.reasons.join("; ")))
        };
        main.push_str(&format!(
            "<section aria-labelledby=\"labels-title\"><h2 id=\"labels-title\">What the automatic check found</h2>\
             {reasons}<ul class=\"labels\">{rows}</ul></section>"
        ));
    }
    main.push_str(&transcript);
    let flags: String = ContentFlag::ALL
        .iter()
        .map(|f| {
            format!(
                "<label><input type=\"checkbox\" name=\"flags\" value=\"{}\"> {}</label>",
                f.as_str(),
                esc(f.label())
            )
        })
        .collect();
    let dismiss = if item.held {
        ""
    } else {
        "<label><input type=\"radio\" name=\"decision\" value=\"dismiss\"> Dismiss the reports (leave the video as it is)</label>"
    };
    main.push_str(&format!(
        "<form class=\"form\" id=\"decision\" data-video=\"{}\" novalidate aria-labelledby=\"decision-title\">\
         <h2 id=\"decision-title\">Decision</h2>\
         <fieldset><legend>What happens to the video</legend><div class=\"choices column\">\
         <label><input type=\"radio\" name=\"decision\" value=\"approve\" required> Approve (publish as it is)</label>\
         <label><input type=\"radio\" name=\"decision\" value=\"warn\"> Publish behind a content warning</label>\
         <label><input type=\"radio\" name=\"decision\" value=\"block\"> Block (every edge stops serving it)</label>\
         {dismiss}</div></fieldset>\
         <fieldset><legend>Warn about</legend><div class=\"choices\">{flags}</div></fieldset>\
         <label for=\"decision-reason\">Reason</label><input id=\"decision-reason\" name=\"reason\" maxlength=\"500\" required>\
         <p class=\"error\" role=\"alert\" hidden></p><button type=\"submit\">Decide</button></form>",
        esc(vid)
    ));
    show(&config, &viewer, "Review", &["hls.min.js"], main, "")
}

/// `/reports`: my reports and what came of them.
pub async fn my_reports(
    viewer: Viewer,
    State(moderation): State<Arc<Moderation>>,
    State(config): State<Arc<Config>>,
) -> Response {
    let Some(session) = viewer.session.as_ref() else {
        return Redirect::to("/signin").into_response();
    };
    let reports = match moderation.reports_of(&session.user).await {
        Ok(r) => r,
        Err(e) => return failed(&config, &viewer, e),
    };
    let mut main = String::from("<h1>My reports</h1>");
    if reports.is_empty() {
        main.push_str("<p class=\"empty\">You have not reported anything.</p>");
    } else {
        main.push_str("<ul class=\"reports\">");
        for r in &reports {
            let outcome = r
                .decision
                .map_or("Waiting for a moderator.", |d| d.outcome());
            main.push_str(&format!(
                "<li><a href=\"/watch/{}\">{}</a> <span class=\"meta\">{}</span><p>{}</p></li>",
                esc(&r.video_id),
                esc(r.reason.label()),
                esc(&age(&rfc3339_of_ms(r.created_ms), now_unix())),
                esc(outcome),
            ));
        }
        main.push_str("</ul>");
    }
    show(&config, &viewer, "My reports", &[], main, "")
}
