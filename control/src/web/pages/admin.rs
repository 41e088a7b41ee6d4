//! The admin's page: accounts — find one, change its role or status, saying why.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{not_found, pager, show, trouble};
use crate::config::Config;
use crate::domain::accounts::{Role, UserStatus};
use crate::http::accounts::Viewer;
use crate::services::admin::{Admin, AdminError};
use crate::services::videos::VideoError;
use crate::web::html::esc;

/// `?q=&page=`.
#[derive(Debug, Deserialize)]
pub struct AdminQuery {
    q: Option<String>,
    page: Option<u32>,
}

/// `/admin`: accounts, 50 a page.
pub async fn admin(
    viewer: Viewer,
    State(admin): State<Arc<Admin>>,
    State(config): State<Arc<Config>>,
    query: Result<Query<AdminQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(session) = viewer.session.as_ref() else {
        return Redirect::to("/signin").into_response();
    };
    let (q, page) = query
        .map(|Query(a)| {
            (
                a.q.unwrap_or_default(),
                a.page.unwrap_or(1).clamp(1, 100_000),
            )
        })
        .unwrap_or_default();
    let page = page.max(1);
    let (found, more) = match admin
        .users(&session.user, &q, 50, u64::from(page - 1) * 50)
        .await
    {
        Ok(x) => x,
        Err(AdminError::Forbidden) => return not_found(&config, &viewer),
        Err(e) => {
            return trouble(
                &config,
                &viewer,
                &VideoError::App(crate::app::AppError::Store(e.to_string())),
            )
        }
    };
    let mut main = format!(
        "<h1>Admin</h1><section aria-labelledby=\"accounts-title\"><h2 id=\"accounts-title\">Accounts</h2>\
         <form class=\"inline-form\" action=\"/admin\" method=\"get\" role=\"search\" aria-label=\"Find accounts\">\
         <label for=\"find\">Find an account</label><input id=\"find\" name=\"q\" type=\"search\" value=\"{}\" maxlength=\"100\">\
         <button type=\"submit\">Find</button></form><ul class=\"queue\">",
        esc(&q)
    );
    for u in &found {
        let role_options: String = [Role::User, Role::Moderator, Role::Admin]
            .iter()
            .map(|r| {
                let selected = if *r == u.role { " selected" } else { "" };
                format!("<option value=\"{0}\"{selected}>{0}</option>", r.as_str())
            })
            .collect();
        let status_options: String = [
            UserStatus::Active,
            UserStatus::Pending,
            UserStatus::Disabled,
        ]
        .iter()
        .map(|s| {
            let selected = if *s == u.status { " selected" } else { "" };
            format!("<option value=\"{0}\"{selected}>{0}</option>", s.as_str())
        })
        .collect();
        let yourself = u.id == session.user.id;
        let disabled = if yourself { " disabled" } else { "" };
        main.push_str(&format!(
            "<li><form class=\"inline-form\" data-user=\"{id}\" aria-label=\"Account {email}\" novalidate>\
             <span><strong>{name}</strong> <span class=\"meta\">{email}{you}</span></span>\
             <label for=\"role-{id}\">Role</label><select id=\"role-{id}\" name=\"role\"{disabled}>{role_options}</select>\
             <label for=\"status-{id}\">Status</label><select id=\"status-{id}\" name=\"status\"{disabled}>{status_options}</select>\
             <label for=\"reason-{id}\">Reason</label><input id=\"reason-{id}\" name=\"reason\" maxlength=\"500\" required{disabled}>\
             <button type=\"submit\"{disabled}>Save</button>\
             <p class=\"error\" role=\"alert\" hidden></p><p class=\"saved\" role=\"status\" aria-live=\"polite\"></p></form></li>",
            id = esc(&u.id),
            name = esc(&u.display_name),
            email = esc(&u.email),
            you = if yourself { " · you" } else { "" },
        ));
    }
    main.push_str("</ul>");
    let base = if q.is_empty() {
        "/admin".to_string()
    } else {
        let q = percent_encoding::utf8_percent_encode(&q, percent_encoding::NON_ALPHANUMERIC);
        format!("/admin?q={q}")
    };
    main.push_str(&pager(&base, page, more));
    // The integrations' credentials, listed and changed by the page through the same API
    // routes an API key opens (an admin's session opens them too: `http::auth::ApiKey`).
    main.push_str(
        "</section>\
         <section aria-labelledby=\"keys-title\" data-admin-list=\"api-keys\"><h2 id=\"keys-title\">API keys</h2>\
         <ul class=\"admin-items\"></ul>\
         <form class=\"form\" data-admin-create novalidate><label for=\"key-name\">Name of a new key</label>\
         <input id=\"key-name\" name=\"name\" maxlength=\"100\" required>\
         <p class=\"error\" role=\"alert\" hidden></p><button type=\"submit\">Make key</button></form>\
         <div class=\"secret-shown\" hidden><p role=\"status\">The new key, shown only now:</p><pre></pre></div></section>\
         <section aria-labelledby=\"hooks-title\" data-admin-list=\"webhooks\"><h2 id=\"hooks-title\">Webhook endpoints</h2>\
         <ul class=\"admin-items\"></ul>\
         <form class=\"form\" data-admin-create novalidate><label for=\"hook-url\">URL of a new endpoint</label>\
         <input id=\"hook-url\" name=\"url\" type=\"url\" maxlength=\"2048\" required>\
         <p class=\"error\" role=\"alert\" hidden></p><button type=\"submit\">Add endpoint</button></form>\
         <div class=\"secret-shown\" hidden><p role=\"status\">Its signing secret, shown only now:</p><pre></pre></div></section>\
         <section aria-labelledby=\"signing-title\" data-admin-list=\"signing-keys\"><h2 id=\"signing-title\">Signing keys</h2>\
         <p>Signed playback ids play with tokens signed by one of these.</p><ul class=\"admin-items\"></ul>\
         <form class=\"form\" data-admin-create novalidate><p class=\"error\" role=\"alert\" hidden></p>\
         <button type=\"submit\">Make signing key</button></form>\
         <div class=\"secret-shown\" hidden><p role=\"status\">Its private key, shown only now:</p><pre></pre></div></section>",
    );
    show(&config, &viewer, "Admin", &[], main, "")
}
