//! Administering people, the use cases: an admin lists accounts and changes one's role or
//! status (a disabled account's sessions stop working at once), saying why; every change is
//! in the audit log. An admin cannot change their own role or status (an instance never
//! loses its last admin by a slip).

use crate::app::{now_ms, AppError};
use crate::db::reports::{self as audit_store, AuditEntry};
use crate::db::{users, Db, DbError};
use crate::domain::accounts::{Role, User, UserStatus};
use crate::domain::ids::random_token;

/// Why an administration operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The caller is not an admin.
    #[error("this needs the admin role")]
    Forbidden,
    /// No such account.
    #[error("no such account")]
    NotFound,
    /// A change the account cannot take (one's own role or status; an empty reason).
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<DbError> for AdminError {
    fn from(e: DbError) -> Self {
        AdminError::App(e.into())
    }
}

/// The administration use cases.
pub struct Admin {
    /// The state of record.
    pub db: Db,
}

fn admin(user: &User) -> Result<(), AdminError> {
    if user.role.allows(Role::Admin) {
        Ok(())
    } else {
        Err(AdminError::Forbidden)
    }
}

impl Admin {
    /// A page of accounts matching `query` (email or name), newest first.
    pub async fn users(
        &self,
        caller: &User,
        query: &str,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<User>, bool), AdminError> {
        admin(caller)?;
        let query: String = query.chars().take(100).collect();
        Ok(users::page(&self.db, query.trim(), limit, offset).await?)
    }

    /// Gives account `id` `role` and `status` (either may stay), saying why.
    pub async fn change(
        &self,
        caller: &User,
        id: &str,
        role: Option<Role>,
        status: Option<UserStatus>,
        reason: &str,
    ) -> Result<User, AdminError> {
        admin(caller)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control)
        {
            return Err(AdminError::Invalid(
                "a reason is 1 to 500 characters".into(),
            ));
        }
        if id == caller.id {
            return Err(AdminError::Invalid(
                "you cannot change your own role or status; ask another admin".into(),
            ));
        }
        let Some(account) = users::get(&self.db, id).await? else {
            return Err(AdminError::NotFound);
        };
        let role = role.unwrap_or(account.role);
        let status = status.unwrap_or(account.status);
        let mut actions = Vec::new();
        if role != account.role {
            actions.push(format!("user.role:{}", role.as_str()));
        }
        if status != account.status {
            actions.push(format!("user.status:{}", status.as_str()));
        }
        let mut tx = self.db.pool().begin().await.map_err(DbError::from)?;
        if !users::set_role_and_status(&mut tx, id, role, status).await? {
            return Err(AdminError::NotFound);
        }
        let now = now_ms();
        for action in actions {
            let entry = AuditEntry {
                id: format!("l_{}", random_token(20)),
                at_ms: now,
                actor_id: caller.id.clone(),
                action,
                subject: id.to_string(),
                reason: reason.to_string(),
            };
            audit_store::audit(&mut tx, &entry).await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        users::get(&self.db, id).await?.ok_or(AdminError::NotFound)
    }
}
