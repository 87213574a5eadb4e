//! In-app notifications: written inside the transaction of the change they report.

use agora_market::{
    AccountId, Actor, Notification, NotificationId, NotificationKind, ProductTopic, PurchaseId,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::page::{Page, PageRequest};
use crate::rows::{self, ts};
use crate::{Result, Store, StoreError};

/// Adds a notification for `account`.
pub(crate) async fn notify(
    conn: &mut SqliteConnection,
    account: AccountId,
    kind: NotificationKind,
    message: &str,
    topic: Option<&ProductTopic>,
    purchase: Option<PurchaseId>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (id, account_id, kind, message, topic, purchase_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(NotificationId::new().to_string())
    .bind(account.to_string())
    .bind(kind.as_str())
    .bind(message)
    .bind(topic.map(ToString::to_string))
    .bind(purchase.map(|p| p.to_string()))
    .bind(ts(crate::now()))
    .execute(conn)
    .await?;
    Ok(())
}

fn from_row(r: &SqliteRow) -> Result<Notification> {
    let kind: String = r.try_get("kind")?;
    Ok(Notification {
        id: rows::parse(r, "id")?,
        account_id: rows::parse(r, "account_id")?,
        kind: NotificationKind::parse(&kind)
            .ok_or_else(|| rows::corrupt_value("kind", kind.clone()))?,
        message: r.try_get("message")?,
        topic: rows::opt_parse(r, "topic")?,
        purchase_id: rows::opt_parse(r, "purchase_id")?,
        created_at: rows::time(r, "created_at")?,
        read_at: rows::opt_time(r, "read_at")?,
    })
}

impl Store {
    /// The actor's notifications, newest first; only unread ones if `unread_only`.
    pub async fn list_notifications(
        &self,
        actor: &Actor,
        unread_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Notification>> {
        let limit = page.limit();
        let after = page.after_id()?;
        let rows = sqlx::query(
            "SELECT * FROM notifications WHERE account_id = ? AND (? = 0 OR read_at IS NULL)
             AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(actor.id.to_string())
        .bind(unread_only)
        .bind(after.clone())
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::keyset(items, limit, |n| n.id.to_string()))
    }

    /// How many unread notifications the actor has (for the bell).
    pub async fn unread_notifications(&self, actor: &Actor) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifications WHERE account_id = ? AND read_at IS NULL",
        )
        .bind(actor.id.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Marks one of the actor's notifications read (idempotent).
    pub async fn mark_notification_read(
        &self,
        actor: &Actor,
        id: NotificationId,
    ) -> Result<Notification> {
        let mut w = self.write().await?;
        let row = sqlx::query(
            "UPDATE notifications SET read_at = coalesce(read_at, ?) WHERE id = ? AND account_id = ? RETURNING *",
        )
        .bind(ts(crate::now()))
        .bind(id.to_string())
        .bind(actor.id.to_string())
        .fetch_optional(w.conn())
        .await?
        .ok_or(StoreError::NotFound { what: "notification" })?;
        let n = from_row(&row)?;
        w.commit().await?;
        Ok(n)
    }

    /// Marks all of the actor's notifications read; returns how many changed.
    pub async fn mark_all_notifications_read(&self, actor: &Actor) -> Result<u64> {
        let mut w = self.write().await?;
        let done = sqlx::query(
            "UPDATE notifications SET read_at = ? WHERE account_id = ? AND read_at IS NULL",
        )
        .bind(ts(crate::now()))
        .bind(actor.id.to_string())
        .execute(w.conn())
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(done)
    }
}
