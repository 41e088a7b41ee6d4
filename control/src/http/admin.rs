//! `/api/v1/admin/users`: an admin lists accounts and changes their role or status. A session
//! with the admin role only (403 otherwise); every change is audited.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accounts::{SignedIn, UserView};
use super::problem::{errors, ApiError, ErrorCode};
use crate::domain::accounts::{Role, UserStatus};
use crate::services::admin::{Admin, AdminError};

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let text = e.to_string();
        match e {
            AdminError::Forbidden => ApiError::new(ErrorCode::Forbidden, text),
            AdminError::NotFound => ApiError::not_found("account"),
            AdminError::Invalid(_) => ApiError::new(ErrorCode::InvalidState, text),
            AdminError::App(a) => a.into(),
        }
    }
}

/// Which accounts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Part of an email or display name.
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u32>,
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// Newest first.
    pub data: Vec<UserView>,
    /// This page's number.
    pub page: u32,
    /// Whether another page follows.
    pub has_more: bool,
}

errors!(ListUsersErrors: Unauthorized, Forbidden, InvalidRequest, Unavailable);

/// Accounts, newest first (50 a page).
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "accounts",
    params(UserQuery),
    responses(
        (status = 200, description = "A page of accounts", body = UserList),
        ListUsersErrors,
    ),
    security(("session" = [])))]
pub async fn users(
    signed_in: SignedIn,
    State(admin): State<Arc<Admin>>,
    query: Result<Query<UserQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UserList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let page = q.page.unwrap_or(1);
    if !(1..=100_000).contains(&page) || q.q.as_ref().is_some_and(|s| s.chars().count() > 100) {
        return Err(ApiError::bad_request(
            "page is 1-100000 and q at most 100 characters",
        ));
    }
    let (found, has_more) = admin
        .users(
            &signed_in.0.user,
            q.q.as_deref().unwrap_or(""),
            50,
            u64::from(page - 1) * 50,
        )
        .await?;
    Ok(Json(UserList {
        data: found.iter().map(UserView::of).collect(),
        page,
        has_more,
    }))
}

/// What to change about an account (absent fields stay).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeUser {
    /// `user`, `moderator` or `admin`.
    pub role: Option<Role>,
    /// `active`, `pending` or `disabled` (a disabled account's sessions stop at once).
    pub status: Option<UserStatus>,
    /// Why (1–500 characters), kept in the audit log.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

errors!(ChangeUserErrors: Unauthorized, CsrfFailed, Forbidden, InvalidRequest, UnsupportedMediaType, NotFound, InvalidState, Unavailable);

/// Change an account's role or status (not one's own).
#[utoipa::path(patch, path = "/api/v1/admin/users/{user_id}", tag = "accounts",
    params(("user_id" = String, Path, description = "Account id"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    request_body = ChangeUser,
    responses(
        (status = 200, description = "The account as it is now", body = UserView),
        ChangeUserErrors,
    ),
    security(("session" = [])))]
pub async fn change_user(
    signed_in: SignedIn,
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    body: Result<Json<ChangeUser>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<UserView>, ApiError> {
    let Json(ask) = body.map_err(super::json_rejection)?;
    let user = admin
        .change(&signed_in.0.user, &id, ask.role, ask.status, &ask.reason)
        .await?;
    Ok(Json(UserView::of(&user)))
}
