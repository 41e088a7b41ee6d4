//! The pages of accounts: sign in, sign up, settings, notifications.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::show;
use crate::app::{now_unix, rfc3339_of_ms};
use crate::config::Config;
use crate::domain::warnings::{ContentFlag, WarningAction};
use crate::http::accounts::Viewer;
use crate::services::notifications::Notifications;
use crate::services::profiles::Profiles;
use crate::services::videos::VideoError;
use crate::web::html::{age, esc};

/// `?sso=`: why a sign-in with a provider did not happen (one word from `http::sso`).
#[derive(Debug, serde::Deserialize)]
pub struct SignInQuery {
    sso: Option<String>,
}

/// The sentence for a failed sign-in with a provider.
fn sso_failure(reason: &str) -> &'static str {
    match reason {
        "expired" => "That sign-in expired or was already used. Please try again.",
        "refused" => "The provider did not sign you in.",
        "provider" => "The provider did not answer as expected. Please try again later.",
        "no_email" => {
            "The provider did not share a verified email address, which an account needs."
        }
        "email_taken" => "An account with that email address exists: sign in with its password.",
        "closed" => "Registration is closed on this instance; ask an administrator for an account.",
        "pending" => {
            "Thanks! An administrator approves new accounts; you can sign in once they have."
        }
        "disabled" => "This account is disabled.",
        _ => "That sign-in did not work. Please try again.",
    }
}

/// `/signin`: email and password, and a button per configured sign-in provider.
pub async fn sign_in(
    viewer: Viewer,
    State(config): State<Arc<Config>>,
    query: Result<axum::extract::Query<SignInQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if viewer.session.is_some() {
        return Redirect::to("/").into_response();
    }
    let failure = query
        .ok()
        .and_then(|q| q.0.sso)
        .map(|r| {
            format!(
                "<p class=\"notice\" role=\"alert\">{}</p>",
                esc(sso_failure(&r))
            )
        })
        .unwrap_or_default();
    let providers: String = config
        .accounts
        .sso
        .iter()
        .map(|p| {
            format!(
                "<a class=\"button\" href=\"/api/v1/auth/sso/{}?next=/\">Sign in with {}</a>",
                esc(&p.id),
                esc(&p.name)
            )
        })
        .collect();
    let providers = if providers.is_empty() {
        String::new()
    } else {
        format!("<div class=\"sso\"><p>Or</p>{providers}</div>")
    };
    let main = format!("<h1>Sign in</h1>{failure}\
        <form class=\"form\" data-api=\"/api/v1/auth/signin\" data-next=\"/\" novalidate>\
        <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
        <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
        <div class=\"two-factor field\" hidden><label for=\"code\">Authentication code</label>\
        <input id=\"code\" name=\"code\" autocomplete=\"one-time-code\" inputmode=\"numeric\" maxlength=\"64\" aria-describedby=\"code-hint\">\
        <p id=\"code-hint\" class=\"hint\">The 6 digits your authenticator app shows, or one of your recovery codes.</p></div>\
        <p class=\"error\" role=\"alert\" hidden></p>\
        <button type=\"submit\">Sign in</button></form>{providers}\
        <p>New here? <a href=\"/signup\">Sign up</a></p>"
    );
    show(&config, &viewer, "Sign in", &[], main, "")
}

/// `/signup`.
pub async fn sign_up(viewer: Viewer, State(config): State<Arc<Config>>) -> Response {
    if viewer.session.is_some() {
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

/// `/settings`: what I am warned about (the instance's policy until I choose).
pub async fn settings(
    viewer: Viewer,
    State(config): State<Arc<Config>>,
    State(profiles): State<Arc<Profiles>>,
) -> Response {
    let Some(session) = viewer.session.as_ref() else {
        return Redirect::to("/signin").into_response();
    };
    let policy = &viewer.policy;
    let actions = [
        (WarningAction::Show, "Show"),
        (WarningAction::Warn, "Warn before playing"),
        (WarningAction::Blur, "Blur the picture and warn"),
        (WarningAction::Hide, "Hide from lists and search"),
    ];
    let options = |chosen: Option<WarningAction>, inherit: bool| -> String {
        let mut h = String::new();
        if inherit {
            let selected = if chosen.is_none() { " selected" } else { "" };
            h.push_str(&format!(
                "<option value=\"\"{selected}>Same as for everything</option>"
            ));
        }
        for (a, words) in actions {
            let selected = if chosen == Some(a) { " selected" } else { "" };
            h.push_str(&format!(
                "<option value=\"{}\"{selected}>{words}</option>",
                a.as_str()
            ));
        }
        h
    };
    let per_flag: String = ContentFlag::ALL
        .iter()
        .map(|f| {
            format!(
                "<label for=\"flag-{name}\">{label}</label><select id=\"flag-{name}\" name=\"flag-{name}\">{}</select>",
                options(policy.flags.get(f).copied(), true),
                name = f.as_str(),
                label = esc(&capitalized(f.label())),
            )
        })
        .collect();
    let source = if session.user.content_policy.is_some() {
        "You chose these."
    } else {
        "These are this site's defaults until you choose."
    };
    let two_factor = if session.user.totp_secret.is_some() {
        "<section aria-labelledby=\"tf-title\"><h2 id=\"tf-title\">Two-factor sign-in</h2>\
         <p>On: signing in needs a code from your authenticator app.</p>\
         <form class=\"form\" id=\"two-factor-off\" novalidate>\
         <label for=\"tf-password\">Password</label><input id=\"tf-password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <label for=\"tf-off-code\">Code from the app, or a recovery code</label><input id=\"tf-off-code\" name=\"code\" autocomplete=\"one-time-code\" required>\
         <p class=\"error\" role=\"alert\" hidden></p><p class=\"saved\" role=\"status\" aria-live=\"polite\"></p>\
         <button type=\"submit\">Turn off two-factor sign-in</button></form></section>"
    } else {
        "<section aria-labelledby=\"tf-title\"><h2 id=\"tf-title\">Two-factor sign-in</h2>\
         <p class=\"tf-state\">Off. With it on, signing in also needs a code from an authenticator app.</p>\
         <button type=\"button\" id=\"two-factor-begin\">Set up two-factor sign-in</button>\
         <form class=\"form\" id=\"two-factor-on\" hidden novalidate>\
         <p>Add this key to your authenticator app (or open the link on your phone): \
         <code class=\"secret\"></code> <a class=\"otpauth\" href=\"#\">Open in an authenticator app</a></p>\
         <label for=\"tf-code\">Code from the app</label><input id=\"tf-code\" name=\"code\" autocomplete=\"one-time-code\" inputmode=\"numeric\" required>\
         <p class=\"error\" role=\"alert\" hidden></p>\
         <button type=\"submit\">Turn on</button></form>\
         <div id=\"recovery\" hidden><p role=\"status\">Two-factor sign-in is on. Keep these recovery codes somewhere safe: each signs you in once if you lose your phone. They are shown only now.</p>\
         <ul class=\"recovery-codes\"></ul></div></section>"
    };
    let about = match profiles.profile(&session.user.id).await {
        Ok(p) => p,
        Err(e) => return super::trouble(&config, &viewer, &VideoError::App(e)),
    };
    let (picture, remove) = match about.picture_ms {
        Some(v) => (
            format!(
                "<img class=\"avatar large\" src=\"{}\" alt=\"Your picture\" width=\"96\" height=\"96\">",
                esc(&crate::http::social::picture_url(&session.user.id, v))
            ),
            "<button type=\"button\" data-remove-picture>Remove picture</button>",
        ),
        None => (String::new(), ""),
    };
    let profile = format!(
        "<section aria-labelledby=\"profile-title\"><h2 id=\"profile-title\">Profile</h2>\
         <form class=\"form\" id=\"rename\" novalidate>\
         <label for=\"display_name\">Display name</label><input id=\"display_name\" name=\"display_name\" maxlength=\"50\" required value=\"{}\">\
         <p class=\"error\" role=\"alert\" hidden></p><p class=\"saved\" role=\"status\" aria-live=\"polite\"></p>\
         <button type=\"submit\">Save name</button></form>\
         <form class=\"form\" id=\"picture\" novalidate>{picture}\
         <label for=\"picture-file\">Picture</label>\
         <input id=\"picture-file\" name=\"file\" type=\"file\" accept=\"image/jpeg,image/png,image/webp,image/gif\" aria-describedby=\"picture-hint\">\
         <p id=\"picture-hint\" class=\"hint\">A JPEG, PNG, WebP or GIF up to 2 MB; its centre square is shown.</p>\
         <p class=\"error\" role=\"alert\" hidden></p><p class=\"saved\" role=\"status\" aria-live=\"polite\"></p>\
         <button type=\"submit\">Save picture</button>{remove}</form>\
         <form class=\"form\" id=\"channel-about\" novalidate>\
         <label for=\"channel-description\">Channel description</label>\
         <textarea id=\"channel-description\" name=\"description\" rows=\"4\" maxlength=\"1000\">{}</textarea>\
         <p class=\"error\" role=\"alert\" hidden></p><p class=\"saved\" role=\"status\" aria-live=\"polite\"></p>\
         <button type=\"submit\">Save description</button></form>\
         <form class=\"form\" id=\"password-change\" novalidate>\
         <label for=\"current_password\">Current password</label><input id=\"current_password\" name=\"current_password\" type=\"password\" autocomplete=\"current-password\" required>\
         <label for=\"new_password\">New password</label><input id=\"new_password\" name=\"new_password\" type=\"password\" autocomplete=\"new-password\" minlength=\"10\" required>\
         <p class=\"error\" role=\"alert\" hidden></p><p class=\"saved\" role=\"status\" aria-live=\"polite\"></p>\
         <button type=\"submit\">Change password</button></form></section>",
        esc(&session.user.display_name),
        esc(&about.description),
    );
    let data = "<section aria-labelledby=\"data-title\"><h2 id=\"data-title\">Your data</h2>\
         <p><a href=\"/api/v1/me/export\" download>Download my data</a> (everything Sunomi keeps about you, as JSON).</p>\
         <form class=\"form\" id=\"delete-account\" novalidate aria-labelledby=\"delete-account-title\">\
         <h3 id=\"delete-account-title\">Delete my account</h3>\
         <p>Your videos go from every edge, your likes and subscriptions go, your comments show as removed. This cannot be undone.</p>\
         <label for=\"delete-password\">Password</label><input id=\"delete-password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <label for=\"delete-code\">Two-factor code (if it is on)</label><input id=\"delete-code\" name=\"code\" autocomplete=\"one-time-code\">\
         <p class=\"error\" role=\"alert\" hidden></p>\
         <button type=\"submit\" class=\"danger\">Delete my account</button></form></section>";
    let main = format!(
        "<h1>Settings</h1>{profile}{two_factor}\
         <section aria-labelledby=\"cw-title\"><h2 id=\"cw-title\">Content warnings</h2>\
         <p class=\"hint\">Some videos are flagged as sensitive, by moderation or by their uploader. {source}</p>\
         <form class=\"form\" id=\"content-policy\" novalidate>\
         <label for=\"default-action\">For everything sensitive</label>\
         <select id=\"default-action\" name=\"default\">{}</select>\
         <fieldset><legend>Per kind of content</legend>{per_flag}</fieldset>\
         <p class=\"error\" role=\"alert\" hidden></p><p class=\"saved\" role=\"status\" aria-live=\"polite\"></p>\
         <button type=\"submit\">Save warnings</button>\
         <button type=\"button\" id=\"content-policy-reset\">Use this site's defaults</button></form></section>\
         <section aria-labelledby=\"reports-title\"><h2 id=\"reports-title\">Reports</h2>\
         <p><a href=\"/reports\">What came of my reports</a></p></section>{data}",
        options(Some(policy.default), false)
    );
    show(&config, &viewer, "Settings", &[], main, "")
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|first| first.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// `/notifications`: mine, newest first; opening the page marks them read.
pub async fn notifications(
    viewer: Viewer,
    State(notifications): State<Arc<Notifications>>,
    State(config): State<Arc<Config>>,
) -> Response {
    let Some(session) = viewer.session.as_ref() else {
        return Redirect::to("/signin").into_response();
    };
    let (list, _) = match notifications.of(&session.user).await {
        Ok(x) => x,
        Err(e) => return super::trouble(&config, &viewer, &VideoError::App(e)),
    };
    let now = now_unix();
    let mut main = String::from("<h1>Notifications</h1>");
    if list.is_empty() {
        main.push_str("<p class=\"empty\">Nothing yet.</p>");
    } else {
        main.push_str("<ul class=\"notifications\">");
        for n in &list {
            let at = rfc3339_of_ms(n.created_ms);
            let unread = if n.read { "" } else { " class=\"unread\"" };
            main.push_str(&format!(
                "<li{unread}><a href=\"{}\">{}</a> <span class=\"meta\"><time datetime=\"{at}\">{}</time>{}</span></li>",
                esc(&n.link()),
                esc(&n.text()),
                esc(&age(&at, now)),
                if n.read { "" } else { " · new" },
            ));
        }
        main.push_str("</ul>");
    }
    if let Err(e) = notifications.mark_read(&session.user, None).await {
        tracing::warn!(error = %e, "notifications not marked read");
    }
    show(&config, &viewer, "Notifications", &[], main, "")
}
