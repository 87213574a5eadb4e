//! The bulk view the broker's access layer loads at start-up (and after missing events):
//! everything needed to authenticate and authorise in memory, read in one transaction so
//! that it is one consistent snapshot.

use agora_market::{
    AccessKeyId, AccountId, AccountName, DeviceCredential, DeviceId, DeviceUsername, HubId,
    ProductId, ProductKind, ProductTopic, PurchaseId, Role, SecretHash,
};
use std::collections::HashMap;

use sqlx::Row;
use time::OffsetDateTime;

use crate::rows;
use crate::{Result, Store, devices};

/// An account's part of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEntitlement {
    /// The account.
    pub id: AccountId,
    /// Its name (the buyer's MQTT username).
    pub name: AccountName,
    /// Admins read everything and `$SYS/#`.
    pub role: Role,
    /// Suspended accounts (and their devices) are refused.
    pub suspended: bool,
}

/// A live device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEntitlement {
    /// The device.
    pub id: DeviceId,
    /// Its MQTT username.
    pub username: DeviceUsername,
    /// Its owner (check the owner's suspension).
    pub owner_id: AccountId,
    /// Its hub: it may publish into every live product of this hub.
    pub hub_id: HubId,
    /// Secret hash or public key.
    pub credential: DeviceCredential,
}

/// A live product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductEntitlement {
    /// The product.
    pub id: ProductId,
    /// Its topic tree.
    pub topic: ProductTopic,
    /// Whether buyers may send commands.
    pub kind: ProductKind,
    /// Its hub (whose devices publish).
    pub hub_id: HubId,
    /// Its seller (who reads the whole tree with an access key).
    pub owner_id: AccountId,
}

/// An active purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseEntitlement {
    /// The purchase (meters count against it).
    pub id: PurchaseId,
    /// The buyer.
    pub buyer_id: AccountId,
    /// The product.
    pub product_id: ProductId,
    /// Its topic.
    pub topic: ProductTopic,
    /// End of a period purchase: access stops at this instant even before `expire_due`.
    pub ends_at: Option<OffsetDateTime>,
    /// Quota of a messages purchase.
    pub quota_messages: Option<u64>,
    /// Messages delivered so far (as last flushed).
    pub used_messages: u64,
}

/// A live (not revoked) access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyEntitlement {
    /// The key (sessions remember it, to be closed on revocation).
    pub id: AccessKeyId,
    /// The account it logs in as.
    pub account_id: AccountId,
    /// SHA-256 of the key; compare with [`SecretHash::verify`].
    pub hash: SecretHash,
    /// Products it is limited to; empty means no limit.
    pub products: Vec<ProductId>,
    /// When it stops working.
    pub expires_at: Option<OffsetDateTime>,
}

/// The whole snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entitlements {
    /// Every account.
    pub accounts: Vec<AccountEntitlement>,
    /// Every live device.
    pub devices: Vec<DeviceEntitlement>,
    /// Every live product.
    pub products: Vec<ProductEntitlement>,
    /// Every active purchase of a live product.
    pub purchases: Vec<PurchaseEntitlement>,
    /// Every access key neither revoked nor expired.
    pub access_keys: Vec<AccessKeyEntitlement>,
}

impl Store {
    /// Loads the snapshot. Apply [`agora_market::MarketEvent`]s from
    /// [`Store::subscribe_events`] after it (subscribe first, then load, to miss nothing).
    pub async fn entitlements(&self) -> Result<Entitlements> {
        let mut tx = self.read().await?;
        let now = rows::ts(crate::now());
        let mut e = Entitlements::default();
        for r in sqlx::query("SELECT id, name, role, suspended FROM accounts")
            .fetch_all(&mut *tx)
            .await?
        {
            let role: String = r.try_get("role")?;
            e.accounts.push(AccountEntitlement {
                id: rows::parse(&r, "id")?,
                name: rows::parse(&r, "name")?,
                role: Role::parse(&role)
                    .ok_or_else(|| rows::corrupt_value("role", role.clone()))?,
                suspended: r.try_get("suspended")?,
            });
        }
        for r in sqlx::query("SELECT * FROM devices WHERE deleted_at IS NULL")
            .fetch_all(&mut *tx)
            .await?
        {
            e.devices.push(DeviceEntitlement {
                id: rows::parse(&r, "id")?,
                username: rows::parse(&r, "username")?,
                owner_id: rows::parse(&r, "owner_id")?,
                hub_id: rows::parse(&r, "hub_id")?,
                credential: devices::credential_from_row(&r)?,
            });
        }
        for r in sqlx::query(
            "SELECT id, topic, kind, hub_id, owner_id FROM products WHERE deleted_at IS NULL",
        )
        .fetch_all(&mut *tx)
        .await?
        {
            let kind: String = r.try_get("kind")?;
            e.products.push(ProductEntitlement {
                id: rows::parse(&r, "id")?,
                topic: rows::parse(&r, "topic")?,
                kind: ProductKind::parse(&kind).map_err(|e| rows::corrupt_value("kind", e))?,
                hub_id: rows::parse(&r, "hub_id")?,
                owner_id: rows::parse(&r, "owner_id")?,
            });
        }
        for r in sqlx::query(
            "SELECT u.id, u.buyer_id, u.product_id, u.topic, u.ends_at, u.quota_messages, u.used_messages FROM purchases u
             JOIN products p ON p.id = u.product_id WHERE u.state = 'active' AND p.deleted_at IS NULL",
        )
        .fetch_all(&mut *tx)
        .await?
        {
            e.purchases.push(PurchaseEntitlement {
                id: rows::parse(&r, "id")?,
                buyer_id: rows::parse(&r, "buyer_id")?,
                product_id: rows::parse(&r, "product_id")?,
                topic: rows::parse(&r, "topic")?,
                ends_at: rows::opt_time(&r, "ends_at")?,
                quota_messages: rows::opt_u64(&r, "quota_messages")?,
                used_messages: rows::u64_col(&r, "used_messages")?,
            });
        }
        let mut key_products: HashMap<String, Vec<ProductId>> = HashMap::new();
        for kp in sqlx::query("SELECT key_id, product_id FROM access_key_products")
            .fetch_all(&mut *tx)
            .await?
        {
            key_products
                .entry(kp.try_get("key_id")?)
                .or_default()
                .push(rows::parse(&kp, "product_id")?);
        }
        for r in sqlx::query("SELECT id, account_id, key_hash, expires_at FROM access_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)")
            .bind(now)
            .fetch_all(&mut *tx)
            .await?
        {
            let id: String = r.try_get("id")?;
            let hash: String = r.try_get("key_hash")?;
            let products = key_products.remove(&id).unwrap_or_default();
            e.access_keys.push(AccessKeyEntitlement {
                id: id.parse().map_err(|e| rows::corrupt_value("id", e))?,
                account_id: rows::parse(&r, "account_id")?,
                hash: SecretHash::from_hex(&hash).ok_or_else(|| rows::corrupt_value("key_hash", "not hex"))?,
                products,
                expires_at: rows::opt_time(&r, "expires_at")?,
            });
        }
        tx.commit().await?;
        Ok(e)
    }
}
