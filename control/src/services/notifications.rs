//! Notifications, the use cases: a person reads theirs and marks them read. They are written
//! where the facts are (`db::notifications`), never here.

use crate::app::{now_ms, AppError};
use crate::db::notifications as store;
use crate::db::Db;
use crate::domain::accounts::User;
use crate::domain::notifications::Notification;

/// The notification use cases.
pub struct Notifications {
    /// The state of record.
    pub db: Db,
}

impl Notifications {
    /// `user`'s newest notifications (at most 50) and how many are unread.
    pub async fn of(&self, user: &User) -> Result<(Vec<Notification>, i64), AppError> {
        Ok(store::of_user(&self.db, &user.id, 50).await?)
    }

    /// Marks `user`'s notifications `ids` (all: `None`) read.
    pub async fn mark_read(&self, user: &User, ids: Option<&[String]>) -> Result<(), AppError> {
        Ok(store::mark_read(&self.db, &user.id, ids, now_ms()).await?)
    }
}
