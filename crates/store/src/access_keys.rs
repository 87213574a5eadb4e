//! Buyers' MQTT access keys: create (secret shown once), list, revoke, authenticate.

use agora_market::secret::{self, Secret, SecretHash, SecretKind};
use agora_market::{
    AccessKey, AccessKeyId, Account, AccountName, Actor, Label, MarketEvent, ProductId,
    ProductTopic, ValidationError, access_key,
};
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;

use crate::page::{Page, PageRequest};
use crate::rows::{self, opt_ts, ts};
use crate::{Result, Store, StoreError, accounts, audit, products};

async fn key_from_row(conn: &mut SqliteConnection, r: &SqliteRow) -> Result<AccessKey> {
    let id: String = r.try_get("id")?;
    let limits = sqlx::query(
        "SELECT kp.product_id, p.topic FROM access_key_products kp JOIN products p ON p.id = kp.product_id
         WHERE kp.key_id = ? ORDER BY p.topic",
    )
    .bind(&id)
    .fetch_all(conn)
    .await?;
    let mut products = Vec::with_capacity(limits.len());
    let mut topics = Vec::with_capacity(limits.len());
    for l in &limits {
        products.push(rows::parse::<ProductId>(l, "product_id")?);
        topics.push(rows::parse::<ProductTopic>(l, "topic")?);
    }
    let name: String = r.try_get("name")?;
    Ok(AccessKey {
        id: id.parse().map_err(|e| rows::corrupt_value("id", e))?,
        account_id: rows::parse(r, "account_id")?,
        name: Label::parse("name", &name).map_err(|e| rows::corrupt_value("name", e))?,
        products,
        topics,
        expires_at: rows::opt_time(r, "expires_at")?,
        created_at: rows::time(r, "created_at")?,
        revoked_at: rows::opt_time(r, "revoked_at")?,
    })
}

impl Store {
    /// Creates an access key for the actor; the secret (`agk_…`) is returned once. With
    /// `products` non-empty the key opens only those (live) products.
    pub async fn create_access_key(
        &self,
        actor: &Actor,
        name: &Label,
        products: &[ProductTopic],
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(AccessKey, Secret)> {
        let now = crate::now();
        access_key::check_expiry(expires_at, now)?;
        if products.len() > access_key::PRODUCTS_MAX {
            return Err(ValidationError::new(
                "products",
                format!("at most {} products per key", access_key::PRODUCTS_MAX),
            )
            .into());
        }
        let (secret, hash) = Secret::generate(SecretKind::AccessKey);
        let id = AccessKeyId::new();
        let mut w = self.write_as(actor).await?;
        let mut limits = Vec::with_capacity(products.len());
        for t in products {
            let p = products::find(w.conn(), t)
                .await?
                .ok_or_else(|| ValidationError::new("products", format!("no product {t}")))?;
            limits.push((p.topic, p.id));
        }
        limits.sort();
        limits.dedup();
        let (topics, ids): (Vec<ProductTopic>, Vec<ProductId>) = limits.into_iter().unzip();
        sqlx::query("INSERT INTO access_keys (id, account_id, name, key_hash, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(id.to_string())
            .bind(actor.id.to_string())
            .bind(name.as_str())
            .bind(hash.to_hex())
            .bind(opt_ts(expires_at))
            .bind(ts(now))
            .execute(w.conn())
            .await?;
        for p in &ids {
            sqlx::query("INSERT INTO access_key_products (key_id, product_id) VALUES (?, ?)")
                .bind(id.to_string())
                .bind(p.to_string())
                .execute(w.conn())
                .await?;
        }
        audit::record(w.conn(), Some(actor), "access_key.create", &id.to_string(), json!({"name": name.as_str(), "products": products.iter().map(ToString::to_string).collect::<Vec<_>>()})).await?;
        w.emit(MarketEvent::AccessKeyCreated {
            key_id: id,
            account: actor.name.clone(),
        });
        w.commit().await?;
        let key = AccessKey {
            id,
            account_id: actor.id,
            name: name.clone(),
            products: ids,
            topics,
            expires_at,
            created_at: now,
            revoked_at: None,
        };
        Ok((key, secret))
    }

    /// The actor's access keys (revoked ones included, marked), newest first.
    pub async fn list_access_keys(
        &self,
        actor: &Actor,
        page: &PageRequest,
    ) -> Result<Page<AccessKey>> {
        let limit = page.limit();
        let after = page.after_id()?;
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query("SELECT * FROM access_keys WHERE account_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?")
            .bind(actor.id.to_string())
            .bind(after.clone())
            .bind(after)
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *conn)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            items.push(key_from_row(&mut conn, r).await?);
        }
        Ok(Page::keyset(items, limit, |k| k.id.to_string()))
    }

    /// Revokes one of the actor's keys (another account's key is `NotFound`); the broker
    /// closes the sessions that used it.
    pub async fn revoke_access_key(&self, actor: &Actor, id: AccessKeyId) -> Result<AccessKey> {
        let mut w = self.write().await?;
        let row = sqlx::query("UPDATE access_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? AND account_id = ? RETURNING *")
            .bind(ts(crate::now()))
            .bind(id.to_string())
            .bind(actor.id.to_string())
            .fetch_optional(w.conn())
            .await?
            .ok_or(StoreError::NotFound { what: "access key" })?;
        let key = key_from_row(w.conn(), &row).await?;
        audit::record(
            w.conn(),
            Some(actor),
            "access_key.revoke",
            &id.to_string(),
            json!({}),
        )
        .await?;
        w.emit(MarketEvent::AccessKeyRevoked {
            key_id: id,
            account: actor.name.clone(),
        });
        w.commit().await?;
        Ok(key)
    }

    /// Checks an MQTT login of a buyer (username = account name, password = access key).
    /// Wrong, revoked, expired or another account's key gives `Unauthenticated`; a
    /// suspended account gives `Suspended`.
    pub async fn authenticate_access_key(
        &self,
        username: &str,
        key: &str,
    ) -> Result<(Account, AccessKey)> {
        let name = AccountName::parse_exact(username).map_err(|_| StoreError::Unauthenticated)?;
        if !secret::looks_like(SecretKind::AccessKey, key) {
            return Err(StoreError::Unauthenticated);
        }
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query(
            "SELECT k.*, a.id AS a_id, a.name AS a_name, a.role AS a_role, a.suspended AS a_suspended, a.created_at AS a_created
             FROM access_keys k JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ?",
        )
        .bind(SecretHash::of(key).to_hex())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::Unauthenticated)?;
        let a_name: String = row.try_get("a_name")?;
        if a_name != name.as_str() {
            return Err(StoreError::Unauthenticated);
        }
        let k = key_from_row(&mut conn, &row).await?;
        if !k.is_live(crate::now()) {
            return Err(StoreError::Unauthenticated);
        }
        let account = accounts::account_from_row_prefixed(&row)?;
        if account.suspended {
            return Err(StoreError::Suspended);
        }
        Ok((account, k))
    }
}
