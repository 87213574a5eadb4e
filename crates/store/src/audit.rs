//! The audit log: written inside the transaction of each change, read by admins (everything)
//! and by accounts (their own actions).

use agora_market::{AccountName, Actor, AuditEntry};
use sqlx::{Row, SqliteConnection};

use crate::page::{Page, PageRequest};
use crate::rows::{self, ts};
use crate::{Result, Store};

/// Records one change. `actor` is `None` for Agora itself. `detail` must never hold secrets.
pub(crate) async fn record(
    conn: &mut SqliteConnection,
    actor: Option<&Actor>,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query("INSERT INTO audit_log (at, actor_id, actor_name, action, subject, detail) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(ts(crate::now()))
        .bind(actor.map(|a| a.id.to_string()))
        .bind(actor.map(|a| a.name.to_string()))
        .bind(action)
        .bind(subject)
        .bind(detail.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts for operators and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MarketStats {
    /// Accounts.
    pub accounts: u64,
    /// Suspended accounts.
    pub suspended_accounts: u64,
    /// Live hubs.
    pub hubs: u64,
    /// Live devices.
    pub devices: u64,
    /// Live products.
    pub products: u64,
    /// Active purchases.
    pub active_purchases: u64,
    /// Requests waiting for approval.
    pub pending_purchases: u64,
}

impl Store {
    /// Market-wide counts (cheap enough for a metrics scrape).
    pub async fn market_stats(&self) -> Result<MarketStats> {
        let r = sqlx::query(
            "SELECT
               (SELECT count(*) FROM accounts) AS accounts,
               (SELECT count(*) FROM accounts WHERE suspended = 1) AS suspended,
               (SELECT count(*) FROM hubs WHERE deleted_at IS NULL) AS hubs,
               (SELECT count(*) FROM devices WHERE deleted_at IS NULL) AS devices,
               (SELECT count(*) FROM products WHERE deleted_at IS NULL) AS products,
               (SELECT count(*) FROM purchases WHERE state = 'active') AS active,
               (SELECT count(*) FROM purchases WHERE state = 'pending') AS pending",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(MarketStats {
            accounts: rows::u64_col(&r, "accounts")?,
            suspended_accounts: rows::u64_col(&r, "suspended")?,
            hubs: rows::u64_col(&r, "hubs")?,
            devices: rows::u64_col(&r, "devices")?,
            products: rows::u64_col(&r, "products")?,
            active_purchases: rows::u64_col(&r, "active")?,
            pending_purchases: rows::u64_col(&r, "pending")?,
        })
    }

    /// The audit log, newest first: all of it for admins, the actor's own actions otherwise.
    pub async fn audit_log(&self, actor: &Actor, page: &PageRequest) -> Result<Page<AuditEntry>> {
        let limit = page.limit();
        let after: Option<i64> = match page.after_id()? {
            Some(s) => Some(s.parse().map_err(|_| {
                agora_market::ValidationError::new("cursor", "is not a cursor this list handed out")
            })?),
            None => None,
        };
        let rows = sqlx::query(
            "SELECT id, at, actor_name, action, subject, detail FROM audit_log
             WHERE (? OR actor_id = ?) AND (? IS NULL OR id < ?)
             ORDER BY id DESC LIMIT ?",
        )
        .bind(actor.is_admin())
        .bind(actor.id.to_string())
        .bind(after)
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: rows::time(r, "at")?,
                    actor: rows::opt_parse::<AccountName>(r, "actor_name")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    detail: serde_json::from_str(&detail)
                        .map_err(|e| rows::corrupt_value("detail", e))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::keyset(items, limit, |e| e.id.to_string()))
    }
}
