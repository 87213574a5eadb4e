//! Product liveness (SPEC §5): the broker reports what each product published; the product
//! page shows when it last received data and its measured rate beside the declared one.
//!
//! Kept in the store (not only in the broker's memory) so that it survives restarts and the
//! web layer can show it without asking the broker.

use agora_market::ProductId;
use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use crate::rows::{self, ts};
use crate::{Result, Store, StoreError};

/// What one product published since the previous report (one meter flush).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivityReport {
    /// The product.
    pub product_id: ProductId,
    /// Messages published since the last report.
    pub messages: u64,
    /// Bytes published since the last report.
    pub bytes: u64,
    /// When the latest of them arrived.
    pub last_data_at: OffsetDateTime,
    /// The broker's current estimate of seconds between messages, if it has one.
    pub measured_interval_secs: Option<f64>,
}

/// A product's liveness as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProductActivity {
    /// When it last received data.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_data_at: Option<OffsetDateTime>,
    /// Messages published in all.
    pub published_messages: u64,
    /// Bytes published in all.
    pub published_bytes: u64,
    /// Measured seconds between messages (compare with the declared rate).
    pub measured_interval_secs: Option<f64>,
}

impl Store {
    /// Adds the broker's activity reports in one transaction. Unknown products are skipped;
    /// `last_data_at` never moves backwards.
    pub async fn record_product_activity(&self, reports: &[ActivityReport]) -> Result<()> {
        if reports.is_empty() {
            return Ok(());
        }
        let mut w = self.write().await?;
        for r in reports {
            let interval_ms = r
                .measured_interval_secs
                .filter(|s| s.is_finite() && *s >= 0.0)
                // Rounded to whole milliseconds: finer precision means nothing at MQTT rates.
                .map(|s| (s * 1000.0).round().min(i64::MAX as f64) as i64);
            sqlx::query(
                "UPDATE products SET
                   published_messages = published_messages + ?,
                   published_bytes = published_bytes + ?,
                   last_data_at = max(coalesce(last_data_at, 0), ?),
                   measured_interval_ms = coalesce(?, measured_interval_ms)
                 WHERE id = ?",
            )
            .bind(rows::i64_of(r.messages))
            .bind(rows::i64_of(r.bytes))
            .bind(ts(r.last_data_at))
            .bind(interval_ms)
            .bind(r.product_id.to_string())
            .execute(w.conn())
            .await?;
        }
        w.commit().await
    }

    /// A live product's liveness.
    pub async fn product_activity(&self, id: ProductId) -> Result<ProductActivity> {
        let row = sqlx::query(
            "SELECT last_data_at, published_messages, published_bytes, measured_interval_ms FROM products
             WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound { what: "product" })?;
        let interval: Option<i64> = row.try_get("measured_interval_ms")?;
        Ok(ProductActivity {
            last_data_at: rows::opt_time(&row, "last_data_at")?,
            published_messages: rows::u64_col(&row, "published_messages")?,
            published_bytes: rows::u64_col(&row, "published_bytes")?,
            #[allow(clippy::cast_precision_loss)] // milliseconds far below 2^52
            measured_interval_secs: interval.map(|ms| ms as f64 / 1000.0),
        })
    }
}
