//! Ratings: one per buyer and product, only from accounts that hold or held a purchase.

use agora_market::{Actor, ProductTopic, Rating, Stars, rating};
use serde_json::json;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::page::{Page, PageRequest};
use crate::rows::{self, ts};
use crate::{Result, Store, StoreError, audit, products};

fn rating_from_row(r: &SqliteRow) -> Result<Rating> {
    let stars: i64 = r.try_get("stars")?;
    Ok(Rating {
        product_id: rows::parse(r, "product_id")?,
        buyer: rows::parse(r, "buyer_name")?,
        stars: Stars::new(stars).map_err(|e| rows::corrupt_value("stars", e))?,
        review: r.try_get("review")?,
        updated_at: rows::time(r, "updated_at")?,
    })
}

impl Store {
    /// Rates a product (creating or replacing the actor's rating). Only accounts that hold or
    /// held a purchase of it (ever active) may rate; sellers cannot rate their own.
    pub async fn rate(
        &self,
        actor: &Actor,
        topic: &ProductTopic,
        stars: Stars,
        review: Option<&str>,
    ) -> Result<Rating> {
        let review = rating::check_review(review)?;
        let now = ts(crate::now());
        let mut w = self.write_as(actor).await?;
        let p = products::find(w.conn(), topic)
            .await?
            .ok_or(StoreError::NotFound { what: "product" })?;
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM purchases WHERE product_id = ? AND buyer_id = ? AND started_at IS NOT NULL")
            .bind(p.id.to_string())
            .bind(actor.id.to_string())
            .fetch_one(w.conn())
            .await?;
        if held == 0 {
            return Err(StoreError::Forbidden {
                message: "only buyers who hold or held a purchase of this product may rate it"
                    .into(),
            });
        }
        sqlx::query(
            "INSERT INTO ratings (product_id, buyer_id, stars, review, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (product_id, buyer_id) DO UPDATE SET stars = excluded.stars, review = excluded.review, updated_at = excluded.updated_at",
        )
        .bind(p.id.to_string())
        .bind(actor.id.to_string())
        .bind(i64::from(stars.get()))
        .bind(review.clone())
        .bind(now)
        .bind(now)
        .execute(w.conn())
        .await?;
        audit::record(
            w.conn(),
            Some(actor),
            "product.rate",
            &topic.to_string(),
            json!({"stars": stars.get()}),
        )
        .await?;
        w.commit().await?;
        Ok(Rating {
            product_id: p.id,
            buyer: actor.name.clone(),
            stars,
            review,
            updated_at: rows::time_of(now)?,
        })
    }

    /// A product's ratings, newest first.
    pub async fn list_ratings(
        &self,
        topic: &ProductTopic,
        page: &PageRequest,
    ) -> Result<Page<Rating>> {
        let limit = page.limit();
        let offset = page.offset()?;
        let p = self.get_product(topic).await?;
        let rows = sqlx::query(
            "SELECT r.*, a.name AS buyer_name FROM ratings r JOIN accounts a ON a.id = r.buyer_id
             WHERE r.product_id = ? ORDER BY r.updated_at DESC, a.name LIMIT ? OFFSET ?",
        )
        .bind(p.id.to_string())
        .bind(i64::from(limit) + 1)
        .bind(rows::i64_of(offset))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(rating_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::offset(items, limit, offset))
    }
}
