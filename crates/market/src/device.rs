//! Devices and their MQTT credentials (SPEC §3): a generated secret or an RSA public key.

use serde::Serialize;
use time::OffsetDateTime;

use crate::{AccountId, DeviceId, DeviceName, DeviceUsername, HubId, RsaPublicKey, SecretHash};

/// How a device proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceCredential {
    /// The MQTT password is a secret Agora generated; only its hash is kept.
    Secret(SecretHash),
    /// The MQTT password is an RS256 JWT signed by the device's private key.
    PublicKey(RsaPublicKey),
}

impl DeviceCredential {
    /// Which kind of credential this is.
    #[must_use]
    pub fn kind(&self) -> DeviceCredentialKind {
        match self {
            Self::Secret(_) => DeviceCredentialKind::Secret,
            Self::PublicKey(_) => DeviceCredentialKind::PublicKey,
        }
    }
}

/// The kind of a device credential, without the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceCredentialKind {
    /// A generated secret.
    Secret,
    /// An RSA public key.
    PublicKey,
}

impl DeviceCredentialKind {
    /// The stored form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::PublicKey => "public_key",
        }
    }
}

/// A device as listed to its owner. The secret hash is never part of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    /// Its id.
    pub id: DeviceId,
    /// Its hub.
    pub hub_id: HubId,
    /// The owner.
    pub owner_id: AccountId,
    /// The device's name in its hub.
    pub name: DeviceName,
    /// Its MQTT username, `owner$hub$device`.
    pub username: DeviceUsername,
    /// How it authenticates.
    pub credential: DeviceCredentialKind,
    /// For key-based devices, the normalised SPKI PEM.
    pub public_key_pem: Option<String>,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its credential was last replaced, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub rotated_at: Option<OffsetDateTime>,
}
