//! Hubs: create, list, read, edit (visibility and description; never the name, which is part
//! of every topic and device username below it), and soft delete.

use agora_market::{
    AccountName, Actor, Hub, HubId, HubName, MarketEvent, Party, PurchaseAction, hub,
};
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::error::conflict_on;
use crate::page::{Page, PageRequest};
use crate::rows::{self, ts};
use crate::{Result, Store, StoreError, audit, purchases};

/// Changes to a hub; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubPatch {
    /// Listed to everyone or only to its owner.
    pub public: Option<bool>,
    /// New description.
    pub description: Option<String>,
}

pub(crate) fn hub_from_row(r: &SqliteRow) -> Result<Hub> {
    Ok(Hub {
        id: rows::parse(r, "id")?,
        owner_id: rows::parse(r, "owner_id")?,
        owner: rows::parse(r, "owner_name")?,
        name: rows::parse(r, "name")?,
        public: r.try_get("public")?,
        description: r.try_get("description")?,
        created_at: rows::time(r, "created_at")?,
    })
}

/// Finds a live hub by owner and name (case-insensitively, as uniqueness is).
pub(crate) async fn find(
    conn: &mut SqliteConnection,
    owner: &AccountName,
    name: &HubName,
) -> Result<Option<Hub>> {
    let row = sqlx::query(
        "SELECT * FROM hubs WHERE owner_name = ? AND lower(name) = lower(?) AND deleted_at IS NULL",
    )
    .bind(owner.as_str())
    .bind(name.as_str())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(hub_from_row).transpose()
}

/// Finds a hub the actor may manage; anything else is `NotFound`, so that private hubs of
/// others cannot even be probed.
pub(crate) async fn find_managed(
    conn: &mut SqliteConnection,
    actor: &Actor,
    owner: &AccountName,
    name: &HubName,
) -> Result<Hub> {
    match find(conn, owner, name).await? {
        Some(h) if actor.may_manage(h.owner_id) => Ok(h),
        _ => Err(StoreError::NotFound { what: "hub" }),
    }
}

impl Store {
    /// Creates a hub owned by the actor. Names are unique per owner case-insensitively.
    pub async fn create_hub(
        &self,
        actor: &Actor,
        name: &HubName,
        public: bool,
        description: &str,
    ) -> Result<Hub> {
        hub::check_description(description)?;
        let h = Hub {
            id: HubId::new(),
            owner_id: actor.id,
            owner: actor.name.clone(),
            name: name.clone(),
            public,
            description: description.to_owned(),
            created_at: crate::now(),
        };
        let mut w = self.write_as(actor).await?;
        sqlx::query("INSERT INTO hubs (id, owner_id, owner_name, name, public, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(h.id.to_string())
            .bind(h.owner_id.to_string())
            .bind(h.owner.as_str())
            .bind(h.name.as_str())
            .bind(public)
            .bind(description)
            .bind(ts(h.created_at))
            .execute(w.conn())
            .await
            .map_err(conflict_on("name", "you already have a hub with this name"))?;
        audit::record(
            w.conn(),
            Some(actor),
            "hub.create",
            &format!("{}/{}", h.owner, h.name),
            json!({"public": public}),
        )
        .await?;
        w.commit().await?;
        Ok(h)
    }

    /// The actor's own hubs, newest first.
    pub async fn list_hubs(&self, actor: &Actor, page: &PageRequest) -> Result<Page<Hub>> {
        self.list_hubs_where(Some(actor.id.to_string()), None, page)
            .await
    }

    /// Public hubs, optionally of one owner, newest first.
    pub async fn list_public_hubs(
        &self,
        owner: Option<&AccountName>,
        page: &PageRequest,
    ) -> Result<Page<Hub>> {
        self.list_hubs_where(None, owner.map(|o| o.as_str().to_owned()), page)
            .await
    }

    async fn list_hubs_where(
        &self,
        owner_id: Option<String>,
        public_owner: Option<String>,
        page: &PageRequest,
    ) -> Result<Page<Hub>> {
        let limit = page.limit();
        let after = page.after_id()?;
        let rows = sqlx::query(
            "SELECT * FROM hubs WHERE deleted_at IS NULL
             AND (CASE WHEN ? IS NOT NULL THEN owner_id = ? ELSE public = 1 AND (? IS NULL OR owner_name = ?) END)
             AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(owner_id.clone())
        .bind(owner_id)
        .bind(public_owner.clone())
        .bind(public_owner)
        .bind(after.clone())
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(hub_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::keyset(items, limit, |h| h.id.to_string()))
    }

    /// A hub: public hubs for anyone, private ones only for their owner (and admins);
    /// otherwise `NotFound`.
    pub async fn get_hub(
        &self,
        actor: Option<&Actor>,
        owner: &AccountName,
        name: &HubName,
    ) -> Result<Hub> {
        let mut conn = self.pool.acquire().await?;
        match find(&mut conn, owner, name).await? {
            Some(h) if h.public || actor.is_some_and(|a| a.may_manage(h.owner_id)) => Ok(h),
            _ => Err(StoreError::NotFound { what: "hub" }),
        }
    }

    /// Edits a hub's visibility or description (owner or admin).
    pub async fn update_hub(
        &self,
        actor: &Actor,
        owner: &AccountName,
        name: &HubName,
        patch: &HubPatch,
    ) -> Result<Hub> {
        if let Some(d) = &patch.description {
            hub::check_description(d)?;
        }
        let mut w = self.write_as(actor).await?;
        let h = find_managed(w.conn(), actor, owner, name).await?;
        let row = sqlx::query("UPDATE hubs SET public = coalesce(?, public), description = coalesce(?, description) WHERE id = ? RETURNING *")
            .bind(patch.public)
            .bind(patch.description.clone())
            .bind(h.id.to_string())
            .fetch_one(w.conn())
            .await?;
        let updated = hub_from_row(&row)?;
        audit::record(
            w.conn(),
            Some(actor),
            "hub.update",
            &format!("{owner}/{name}"),
            json!({"public": patch.public, "description_changed": patch.description.is_some()}),
        )
        .await?;
        w.commit().await?;
        Ok(updated)
    }

    /// Deletes a hub with its devices and products (all soft: history stays). Live purchases
    /// of its products are revoked, with events, so the broker cuts access at once.
    pub async fn delete_hub(
        &self,
        actor: &Actor,
        owner: &AccountName,
        name: &HubName,
    ) -> Result<()> {
        let mut w = self.write_as(actor).await?;
        let h = find_managed(w.conn(), actor, owner, name).await?;
        let now = ts(crate::now());
        let devices = sqlx::query("UPDATE devices SET deleted_at = ? WHERE hub_id = ? AND deleted_at IS NULL RETURNING id, username")
            .bind(now)
            .bind(h.id.to_string())
            .fetch_all(w.conn())
            .await?;
        for d in &devices {
            w.emit(MarketEvent::DeviceDeleted {
                device_id: rows::parse(d, "id")?,
                username: rows::parse(d, "username")?,
            });
        }
        let products =
            sqlx::query("SELECT id, topic FROM products WHERE hub_id = ? AND deleted_at IS NULL")
                .bind(h.id.to_string())
                .fetch_all(w.conn())
                .await?;
        for p in &products {
            let id = rows::parse(p, "id")?;
            purchases::end_all_for_product(
                &mut w,
                id,
                PurchaseAction::Revoke,
                Party::System,
                "the hub was deleted",
            )
            .await?;
            sqlx::query("UPDATE products SET deleted_at = ? WHERE id = ?")
                .bind(now)
                .bind(id.to_string())
                .execute(w.conn())
                .await?;
            w.emit(MarketEvent::ProductDeleted {
                product_id: id,
                topic: rows::parse(p, "topic")?,
            });
        }
        sqlx::query("UPDATE hubs SET deleted_at = ? WHERE id = ?")
            .bind(now)
            .bind(h.id.to_string())
            .execute(w.conn())
            .await?;
        audit::record(
            w.conn(),
            Some(actor),
            "hub.delete",
            &format!("{owner}/{name}"),
            json!({"devices": devices.len(), "products": products.len()}),
        )
        .await?;
        w.commit().await
    }
}
