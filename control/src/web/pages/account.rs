//! The pages of accounts: sign in, sign up.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::show;
use crate::config::Config;
use crate::http::accounts::Viewer;

/// `/signin`.
pub async fn sign_in(viewer: Viewer, State(config): State<Arc<Config>>) -> Response {
    if viewer.session.is_some() {
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
