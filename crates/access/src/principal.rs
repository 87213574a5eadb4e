//! What an authenticated session is, as the access layer sees it.
//!
//! A [`Principal`] is created once per CONNECT and stored in the session's
//! [`Identity`] attachment; every later check downcasts it instead of parsing
//! the user name again. It records the credential the session used, so that
//! a rotation or a revocation can find exactly the sessions it affects.

use std::sync::Arc;

use agora_broker::auth::Identity;
use agora_market::{AccessKeyId, AccountId, DeviceId, HubId, ProductId};

/// A fingerprint of a device credential: SHA-256 of the secret hash or of the
/// public key's SPKI DER. A rotation changes it.
pub type Fingerprint = [u8; 32];

/// The authenticated party behind a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A seller's device (MQTT user name `owner$hub$device`).
    Device {
        /// The device.
        id: DeviceId,
        /// Its hub: it publishes into this hub's products.
        hub_id: HubId,
        /// Its owner (a suspended owner silences the device).
        owner_id: AccountId,
        /// The credential it logged in with.
        credential: Fingerprint,
    },
    /// An account (buyer, seller reading its own products, or admin) with an access key.
    Account {
        /// The account.
        id: AccountId,
        /// Admins read and write everything, `$SYS/#` included.
        admin: bool,
        /// The access key used.
        key_id: AccessKeyId,
        /// The products the key is limited to; empty = no limit.
        key_products: Arc<[ProductId]>,
    },
}

impl Principal {
    /// The principal of a session, if the access layer authenticated it.
    pub fn of(identity: &Identity) -> Option<&Principal> {
        identity.attachment.as_ref()?.downcast_ref::<Principal>()
    }

    /// Whether an access key limited to `key_products` opens `product`.
    pub fn key_covers(key_products: &[ProductId], product: ProductId) -> bool {
        key_products.is_empty() || key_products.contains(&product)
    }
}
