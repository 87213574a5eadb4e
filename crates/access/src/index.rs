//! The entitlement index: the store's snapshot, arranged for lookups by what
//! the broker holds in hand (a user name, a topic, a presented key).
//!
//! An `Index` is immutable once built; the sync task builds a new one from a
//! fresh snapshot and swaps it in atomically, so readers on the hot path
//! never wait and never see a half-applied change. Meters are not part of the
//! snapshot: the builder takes them from [`Meters`] by id, so counts survive.
//!
//! Every map is keyed so that the hot path can look up with borrowed data:
//! products by their topic text (`owner/hub/name`, the first three levels of
//! any topic inside the product), accounts and devices by MQTT user name,
//! access keys by the SHA-256 of the key (the key has ≥ 128 bits of entropy,
//! so hashing it once is both the lookup and the proof).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use agora_market::{
    AccessKeyId, AccountId, DeviceCredential, DeviceId, HubId, ProductId, ProductKind, PurchaseId,
    Role, SecretHash,
};
use agora_store::Entitlements;
use jsonwebtoken::DecodingKey;
use sha2::{Digest, Sha256};

use crate::meter::{Meters, ProductMeter, PurchaseMeter};
use crate::principal::Fingerprint;

/// An account.
#[derive(Debug, Clone)]
pub struct AccountEntry {
    /// Its id.
    pub id: AccountId,
    /// Its name.
    pub name: Arc<str>,
    /// Admins may do everything.
    pub admin: bool,
    /// Suspended accounts (and their devices) are refused and cut off.
    pub suspended: bool,
}

/// How a device proves itself.
#[derive(Clone)]
pub enum DeviceKey {
    /// SHA-256 of its generated secret.
    Secret(SecretHash),
    /// Its RSA public key, parsed once.
    PublicKey(Arc<DecodingKey>),
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceKey::Secret(_) => "Secret(..)",
            DeviceKey::PublicKey(_) => "PublicKey(..)",
        })
    }
}

/// A live device.
#[derive(Debug, Clone)]
pub struct DeviceEntry {
    /// Its id.
    pub id: DeviceId,
    /// Its owner.
    pub owner_id: AccountId,
    /// Its hub.
    pub hub_id: HubId,
    /// Its credential.
    pub key: DeviceKey,
    /// Changes when the credential is rotated.
    pub fingerprint: Fingerprint,
}

/// A live product.
#[derive(Debug, Clone)]
pub struct ProductEntry {
    /// Its id.
    pub id: ProductId,
    /// Its topic, `owner/hub/name`.
    pub topic: Arc<str>,
    /// Sensor, actuator or both.
    pub kind: ProductKind,
    /// The hub whose devices publish into it.
    pub hub_id: HubId,
    /// Its seller.
    pub owner_id: AccountId,
    /// Its liveness.
    pub meter: Arc<ProductMeter>,
}

/// An active purchase.
#[derive(Debug, Clone)]
pub struct PurchaseEntry {
    /// Its id.
    pub id: PurchaseId,
    /// When a period purchase ends: access stops at this instant.
    pub ends_at: Option<SystemTime>,
    /// The message quota of a `messages` purchase.
    pub quota: Option<u64>,
    /// Its meter.
    pub meter: Arc<PurchaseMeter>,
}

impl PurchaseEntry {
    /// Whether the purchase grants access at `now` (ignoring the quota, which the meter decides).
    pub fn live_at(&self, now: SystemTime) -> bool {
        self.ends_at.is_none_or(|end| now < end)
    }
}

/// A live access key.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// Its id.
    pub id: AccessKeyId,
    /// The account it logs in as.
    pub account_id: AccountId,
    /// Products it is limited to; empty = none.
    pub products: Arc<[ProductId]>,
    /// When it stops working.
    pub expires_at: Option<SystemTime>,
}

/// The whole index.
#[derive(Debug, Default)]
pub struct Index {
    accounts: HashMap<Arc<str>, AccountEntry>,
    account_names: HashMap<AccountId, Arc<str>>,
    devices: HashMap<Box<str>, DeviceEntry>,
    device_ids: HashMap<DeviceId, Fingerprint>,
    products: HashMap<Arc<str>, ProductEntry>,
    purchases: HashMap<(AccountId, ProductId), PurchaseEntry>,
    keys: HashMap<[u8; 32], KeyEntry>,
    key_ids: HashMap<AccessKeyId, AccountId>,
}

/// Why a snapshot entry was left out of the index (logged, never fatal: one
/// bad row must not lock every client out).
#[derive(Debug)]
pub struct Skipped {
    /// What was skipped.
    pub what: String,
    /// Why.
    pub why: String,
}

fn to_system(t: time::OffsetDateTime) -> SystemTime {
    let nanos = t.unix_timestamp_nanos();
    if nanos >= 0 {
        SystemTime::UNIX_EPOCH
            + std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    } else {
        SystemTime::UNIX_EPOCH
    }
}

/// A credential's fingerprint (SHA-256 over a tag and the stored form).
pub fn fingerprint(credential: &DeviceCredential) -> Fingerprint {
    let mut h = Sha256::new();
    match credential {
        DeviceCredential::Secret(s) => {
            h.update(b"secret:");
            h.update(s.as_bytes());
        }
        DeviceCredential::PublicKey(k) => {
            h.update(b"spki:");
            h.update(k.spki_der());
        }
    }
    h.finalize().into()
}

impl Index {
    /// Builds the index from a snapshot, taking meters from `meters`.
    pub fn build(snapshot: &Entitlements, meters: &mut Meters) -> (Index, Vec<Skipped>) {
        let mut ix = Index::default();
        let mut skipped = Vec::new();
        for a in &snapshot.accounts {
            let name: Arc<str> = Arc::from(a.name.as_str());
            ix.account_names.insert(a.id, name.clone());
            ix.accounts.insert(
                name.clone(),
                AccountEntry {
                    id: a.id,
                    name,
                    admin: a.role == Role::Admin,
                    suspended: a.suspended,
                },
            );
        }
        for d in &snapshot.devices {
            let key = match &d.credential {
                DeviceCredential::Secret(s) => DeviceKey::Secret(*s),
                DeviceCredential::PublicKey(k) => {
                    match DecodingKey::from_rsa_pem(k.spki_pem().as_bytes()) {
                        Ok(dk) => DeviceKey::PublicKey(Arc::new(dk)),
                        Err(e) => {
                            skipped.push(Skipped {
                                what: format!("device {}", d.username),
                                why: format!("its public key cannot be used: {e}"),
                            });
                            continue;
                        }
                    }
                }
            };
            let fp = fingerprint(&d.credential);
            ix.device_ids.insert(d.id, fp);
            ix.devices.insert(
                d.username.to_string().into_boxed_str(),
                DeviceEntry {
                    id: d.id,
                    owner_id: d.owner_id,
                    hub_id: d.hub_id,
                    key,
                    fingerprint: fp,
                },
            );
        }
        for p in &snapshot.products {
            let topic: Arc<str> = Arc::from(p.topic.to_string());
            ix.products.insert(
                topic.clone(),
                ProductEntry {
                    id: p.id,
                    topic,
                    kind: p.kind,
                    hub_id: p.hub_id,
                    owner_id: p.owner_id,
                    meter: meters.product(p.id),
                },
            );
        }
        for u in &snapshot.purchases {
            ix.purchases.insert(
                (u.buyer_id, u.product_id),
                PurchaseEntry {
                    id: u.id,
                    ends_at: u.ends_at.map(to_system),
                    quota: u.quota_messages,
                    meter: meters.purchase(u.id, u.used_messages),
                },
            );
        }
        for k in &snapshot.access_keys {
            ix.key_ids.insert(k.id, k.account_id);
            ix.keys.insert(
                *k.hash.as_bytes(),
                KeyEntry {
                    id: k.id,
                    account_id: k.account_id,
                    products: Arc::from(k.products.as_slice()),
                    expires_at: k.expires_at.map(to_system),
                },
            );
        }
        (ix, skipped)
    }

    /// The account called `name` (exact, as MQTT compares user names).
    pub fn account(&self, name: &str) -> Option<&AccountEntry> {
        self.accounts.get(name)
    }

    /// Whether the account `id` exists and is suspended. Unknown counts as suspended: deny by default.
    pub fn is_suspended(&self, id: AccountId) -> bool {
        self.account_names
            .get(&id)
            .and_then(|n| self.accounts.get(n))
            .is_none_or(|a| a.suspended)
    }

    /// The device whose MQTT user name is `username`.
    pub fn device(&self, username: &str) -> Option<&DeviceEntry> {
        self.devices.get(username)
    }

    /// The current credential fingerprint of device `id`, if it still exists.
    pub fn device_fingerprint(&self, id: DeviceId) -> Option<&Fingerprint> {
        self.device_ids.get(&id)
    }

    /// The product whose topic is `topic` (exactly `owner/hub/name`).
    pub fn product(&self, topic: &str) -> Option<&ProductEntry> {
        self.products.get(topic)
    }

    /// Every product, for listing liveness.
    pub fn products(&self) -> impl Iterator<Item = &ProductEntry> {
        self.products.values()
    }

    /// The active purchase of `product` by `buyer`.
    pub fn purchase(&self, buyer: AccountId, product: ProductId) -> Option<&PurchaseEntry> {
        self.purchases.get(&(buyer, product))
    }

    /// Every active purchase (for flushing meters).
    pub fn purchases(&self) -> impl Iterator<Item = &PurchaseEntry> {
        self.purchases.values()
    }

    /// The live key whose SHA-256 is `hash`.
    pub fn key(&self, hash: &SecretHash) -> Option<&KeyEntry> {
        self.keys.get(hash.as_bytes())
    }

    /// Whether access key `id` is still live.
    pub fn key_is_live(&self, id: AccessKeyId) -> bool {
        self.key_ids.contains_key(&id)
    }

    /// Counts, for logs and metrics.
    pub fn sizes(&self) -> [(&'static str, usize); 5] {
        [
            ("accounts", self.accounts.len()),
            ("devices", self.devices.len()),
            ("products", self.products.len()),
            ("purchases", self.purchases.len()),
            ("access_keys", self.keys.len()),
        ]
    }
}
