//! Devices: register (a generated secret, shown once, or an RSA public key), list, read,
//! rotate, and soft delete. Every method goes through the hub, which only its owner (or an
//! admin) may manage; anything else is `NotFound`.

use agora_market::secret::{Secret, SecretHash, SecretKind};
use agora_market::{
    AccountName, Actor, Device, DeviceCredential, DeviceCredentialKind, DeviceId, DeviceName,
    DeviceUsername, HubName, MarketEvent, NotificationKind, RsaPublicKey,
};
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::error::conflict_on;
use crate::page::{Page, PageRequest};
use crate::rows::{self, ts};
use crate::{Result, Store, StoreError, audit, hubs, notifications};

/// The credential a seller chooses at registration or rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewCredential {
    /// Agora generates a secret (`ags_…`) and returns it once.
    GenerateSecret,
    /// The device signs RS256 JWTs with the private half of this key.
    PublicKey(RsaPublicKey),
}

pub(crate) fn device_from_row(r: &SqliteRow) -> Result<Device> {
    let kind: String = r.try_get("credential_kind")?;
    Ok(Device {
        id: rows::parse(r, "id")?,
        hub_id: rows::parse(r, "hub_id")?,
        owner_id: rows::parse(r, "owner_id")?,
        name: rows::parse(r, "name")?,
        username: rows::parse(r, "username")?,
        credential: match kind.as_str() {
            "secret" => DeviceCredentialKind::Secret,
            "public_key" => DeviceCredentialKind::PublicKey,
            _ => return Err(rows::corrupt_value("credential_kind", kind)),
        },
        public_key_pem: r.try_get("public_key_pem")?,
        created_at: rows::time(r, "created_at")?,
        rotated_at: rows::opt_time(r, "rotated_at")?,
    })
}

/// The stored credential of a device row.
pub(crate) fn credential_from_row(r: &SqliteRow) -> Result<DeviceCredential> {
    let hash: Option<String> = r.try_get("secret_hash")?;
    let pem: Option<String> = r.try_get("public_key_pem")?;
    match (hash, pem) {
        (Some(h), None) => SecretHash::from_hex(&h)
            .map(DeviceCredential::Secret)
            .ok_or_else(|| rows::corrupt_value("secret_hash", "not hex")),
        (None, Some(p)) => RsaPublicKey::parse(&p)
            .map(DeviceCredential::PublicKey)
            .map_err(|e| rows::corrupt_value("public_key_pem", e)),
        _ => Err(rows::corrupt_value(
            "secret_hash",
            "exactly one credential expected",
        )),
    }
}

/// The columns to store for a credential, and the secret to show once.
fn materialise(
    c: &NewCredential,
) -> (
    DeviceCredentialKind,
    Option<String>,
    Option<String>,
    Option<Secret>,
) {
    match c {
        NewCredential::GenerateSecret => {
            let (secret, hash) = Secret::generate(SecretKind::DeviceSecret);
            (
                DeviceCredentialKind::Secret,
                Some(hash.to_hex()),
                None,
                Some(secret),
            )
        }
        NewCredential::PublicKey(k) => (
            DeviceCredentialKind::PublicKey,
            None,
            Some(k.spki_pem()),
            None,
        ),
    }
}

async fn find_managed(
    conn: &mut SqliteConnection,
    actor: &Actor,
    owner: &AccountName,
    hub: &HubName,
    name: &DeviceName,
) -> Result<SqliteRow> {
    let h = hubs::find_managed(conn, actor, owner, hub).await?;
    sqlx::query(
        "SELECT * FROM devices WHERE hub_id = ? AND lower(name) = lower(?) AND deleted_at IS NULL",
    )
    .bind(h.id.to_string())
    .bind(name.as_str())
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound { what: "device" })
}

impl Store {
    /// Registers a device in the actor's hub. With [`NewCredential::GenerateSecret`] the
    /// secret is returned once; only its hash is stored. Names are unique per hub
    /// case-insensitively.
    pub async fn register_device(
        &self,
        actor: &Actor,
        owner: &AccountName,
        hub: &HubName,
        name: &DeviceName,
        credential: &NewCredential,
    ) -> Result<(Device, Option<Secret>)> {
        let mut w = self.write_as(actor).await?;
        let h = hubs::find_managed(w.conn(), actor, owner, hub).await?;
        let (kind, hash, pem, secret) = materialise(credential);
        let device = Device {
            id: DeviceId::new(),
            hub_id: h.id,
            owner_id: h.owner_id,
            name: name.clone(),
            username: DeviceUsername::new(h.owner.clone(), h.name.clone(), name.clone()),
            credential: kind,
            public_key_pem: pem.clone(),
            created_at: crate::now(),
            rotated_at: None,
        };
        sqlx::query(
            "INSERT INTO devices (id, hub_id, owner_id, name, username, credential_kind, secret_hash, public_key_pem, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(device.id.to_string())
        .bind(h.id.to_string())
        .bind(h.owner_id.to_string())
        .bind(name.as_str())
        .bind(device.username.to_string())
        .bind(kind.as_str())
        .bind(hash)
        .bind(pem)
        .bind(ts(device.created_at))
        .execute(w.conn())
        .await
        .map_err(conflict_on("name", "this hub already has a device with this name"))?;
        audit::record(
            w.conn(),
            Some(actor),
            "device.register",
            &device.username.to_string(),
            json!({"credential": kind.as_str()}),
        )
        .await?;
        w.emit(MarketEvent::DeviceRegistered {
            device_id: device.id,
            username: device.username.clone(),
        });
        w.commit().await?;
        Ok((device, secret))
    }

    /// The devices of a hub the actor manages, newest first.
    pub async fn list_devices(
        &self,
        actor: &Actor,
        owner: &AccountName,
        hub: &HubName,
        page: &PageRequest,
    ) -> Result<Page<Device>> {
        let limit = page.limit();
        let after = page.after_id()?;
        let mut conn = self.pool.acquire().await?;
        let h = hubs::find_managed(&mut conn, actor, owner, hub).await?;
        let rows = sqlx::query("SELECT * FROM devices WHERE hub_id = ? AND deleted_at IS NULL AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?")
            .bind(h.id.to_string())
            .bind(after.clone())
            .bind(after)
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *conn)
            .await?;
        let items = rows
            .iter()
            .map(device_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::keyset(items, limit, |d| d.id.to_string()))
    }

    /// One device of a hub the actor manages.
    pub async fn get_device(
        &self,
        actor: &Actor,
        owner: &AccountName,
        hub: &HubName,
        name: &DeviceName,
    ) -> Result<Device> {
        let mut conn = self.pool.acquire().await?;
        device_from_row(&find_managed(&mut conn, actor, owner, hub, name).await?)
    }

    /// Deletes a device (soft); the broker closes its sessions on the event.
    pub async fn delete_device(
        &self,
        actor: &Actor,
        owner: &AccountName,
        hub: &HubName,
        name: &DeviceName,
    ) -> Result<()> {
        let mut w = self.write().await?;
        let d = device_from_row(&find_managed(w.conn(), actor, owner, hub, name).await?)?;
        sqlx::query("UPDATE devices SET deleted_at = ? WHERE id = ?")
            .bind(ts(crate::now()))
            .bind(d.id.to_string())
            .execute(w.conn())
            .await?;
        audit::record(
            w.conn(),
            Some(actor),
            "device.delete",
            &d.username.to_string(),
            json!({}),
        )
        .await?;
        w.emit(MarketEvent::DeviceDeleted {
            device_id: d.id,
            username: d.username,
        });
        w.commit().await
    }

    /// Replaces a device's credential (either kind may become either kind). A new secret is
    /// returned once; the broker closes sessions that used the old credential.
    pub async fn rotate_device(
        &self,
        actor: &Actor,
        owner: &AccountName,
        hub: &HubName,
        name: &DeviceName,
        credential: &NewCredential,
    ) -> Result<(Device, Option<Secret>)> {
        let mut w = self.write_as(actor).await?;
        let d = device_from_row(&find_managed(w.conn(), actor, owner, hub, name).await?)?;
        let (kind, hash, pem, secret) = materialise(credential);
        let row = sqlx::query("UPDATE devices SET credential_kind = ?, secret_hash = ?, public_key_pem = ?, rotated_at = ? WHERE id = ? RETURNING *")
            .bind(kind.as_str())
            .bind(hash)
            .bind(pem)
            .bind(ts(crate::now()))
            .bind(d.id.to_string())
            .fetch_one(w.conn())
            .await?;
        let device = device_from_row(&row)?;
        audit::record(
            w.conn(),
            Some(actor),
            "device.rotate",
            &device.username.to_string(),
            json!({"credential": kind.as_str()}),
        )
        .await?;
        notifications::notify(
            w.conn(),
            device.owner_id,
            NotificationKind::DeviceRotated,
            &format!("The credential of device {} was replaced.", device.username),
            None,
            None,
        )
        .await?;
        w.emit(MarketEvent::DeviceRotated {
            device_id: device.id,
            username: device.username.clone(),
        });
        w.commit().await?;
        Ok((device, secret))
    }

    /// A live device's credential by MQTT username, with whether its owner is suspended;
    /// `None` for unknown or deleted devices. (The broker's hot path uses
    /// [`Store::entitlements`] instead; this is for tools and tests.)
    pub async fn device_credential(
        &self,
        username: &DeviceUsername,
    ) -> Result<Option<(Device, DeviceCredential, bool)>> {
        let row = sqlx::query(
            "SELECT d.*, a.suspended AS owner_suspended FROM devices d JOIN accounts a ON a.id = d.owner_id
             WHERE d.username = ? AND d.deleted_at IS NULL",
        )
        .bind(username.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                device_from_row(&r)?,
                credential_from_row(&r)?,
                r.try_get("owner_suspended")?,
            ))
        })
        .transpose()
    }
}
