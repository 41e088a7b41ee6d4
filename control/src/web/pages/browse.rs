//! The pages that list videos: home, search, a channel, my subscriptions feed. Each lists
//! only what its viewer's content policy does not hide.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{card, count, not_found, pager, show, trouble, PageQuery, HOME_PAGE};
use crate::app::now_unix;
use crate::config::Config;
use crate::domain::videos::Order;
use crate::http::accounts::Viewer;
use crate::services::social::{Social, SocialError};
use crate::services::videos::{VideoError, Videos};
use crate::web::html::{clock, esc};

/// `/`: the newest public videos, or with `?sort=popular` the most viewed.
pub async fn home(
    viewer: Viewer,
    State(videos): State<Arc<Videos>>,
    State(config): State<Arc<Config>>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = query.ok().map(|Query(q)| q);
    let page = query
        .as_ref()
        .and_then(|q| q.page)
        .unwrap_or(1)
        .clamp(1, 100_000);
    let order = query.and_then(|q| q.sort).unwrap_or_default();
    let offset = u64::from(page - 1) * u64::from(HOME_PAGE);
    let (found, more) = match videos
        .public_page(viewer.policy.hidden(), order, HOME_PAGE, offset)
        .await
    {
        Ok(x) => x,
        Err(e) => return trouble(&config, &viewer, &e),
    };
    let now = now_unix();
    let (base, newest, popular) = match order {
        Order::Newest => ("/", " aria-current=\"page\"", ""),
        Order::Popular => ("/?sort=popular", "", " aria-current=\"page\""),
    };
    let mut main = format!(
        "<h1>Videos</h1><nav class=\"tabs\" aria-label=\"Order\"><a href=\"/\"{newest}>Newest</a>\
         <a href=\"/?sort=popular\"{popular}>Popular</a></nav>"
    );
    if found.is_empty() && page == 1 {
        main.push_str(
            "<p class=\"empty\">No videos yet. Be the first to <a href=\"/upload\">share one</a>.</p>",
        );
    } else {
        main.push_str("<ul class=\"grid\">");
        for l in &found {
            main.push_str(&card(l, now, false, &viewer.policy));
        }
        main.push_str("</ul>");
    }
    main.push_str(&pager(base, page, more));
    show(&config, &viewer, "Videos", &[], main, "")
}

/// `?q=`.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// `/search?q=`: public videos whose title or description has every word.
pub async fn search(
    viewer: Viewer,
    State(videos): State<Arc<Videos>>,
    State(config): State<Arc<Config>>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.ok().and_then(|Query(s)| s.q).unwrap_or_default();
    let found = match videos.search(&q, viewer.policy.hidden()).await {
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
            "<h2 class=\"section\">Videos</h2><p class=\"meta\">{} {}</p><ul class=\"grid\">",
            found.videos.len(),
            if found.videos.len() == 1 {
                "video"
            } else {
                "videos"
            }
        ));
        for l in &found.videos {
            main.push_str(&card(l, now, false, &viewer.policy));
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

/// `/channel/{id}`: an account's public videos and its subscribe button.
pub async fn channel(
    viewer: Viewer,
    State(social): State<Arc<Social>>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
) -> Response {
    let user = viewer.session.as_ref().map(|s| &s.user);
    let (channel, (found, _)) = match (
        social.channel(user, &id).await,
        social
            .channel_videos(&id, viewer.policy.hidden(), 48, 0)
            .await,
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
    let picture = match channel.picture {
        Some(v) => format!(
            "<img class=\"avatar large\" src=\"{}\" alt=\"\" width=\"96\" height=\"96\">",
            esc(&crate::http::social::picture_url(&channel.id, v))
        ),
        None => format!(
            "<span class=\"avatar large initial\" aria-hidden=\"true\">{}</span>",
            esc(&channel
                .display_name
                .chars()
                .next()
                .unwrap_or('?')
                .to_uppercase()
                .to_string())
        ),
    };
    let about = if channel.description.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"channel-description\">{}</p>",
            esc(&channel.description)
        )
    };
    let mut main = format!(
        "<div class=\"channel-head\">{picture}<h1>{}</h1></div>{about}<div class=\"actions\">",
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
            main.push_str(&card(l, now, false, &viewer.policy));
        }
        main.push_str("</ul>");
    }
    let title = channel.display_name.clone();
    show(&config, &viewer, &title, &[], main, "")
}

/// `/feed`: the public videos of the channels I subscribe to.
pub async fn feed(
    viewer: Viewer,
    State(social): State<Arc<Social>>,
    State(config): State<Arc<Config>>,
) -> Response {
    let Some(session) = viewer.session.as_ref() else {
        return Redirect::to("/signin").into_response();
    };
    let found = match social
        .feed(&session.user, viewer.policy.hidden(), 48, 0)
        .await
    {
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
            main.push_str(&card(l, now, false, &viewer.policy));
        }
        main.push_str("</ul>");
    }
    show(&config, &viewer, "Subscriptions", &[], main, "")
}
