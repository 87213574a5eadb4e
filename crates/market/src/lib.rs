//! The Agora market domain: every rule of the marketplace, with no SQL and no HTTP.
//!
//! Central types:
//! - validated names ([`AccountName`], [`HubName`], [`DeviceName`], [`ProductName`]) and the
//!   MQTT identities built from them ([`DeviceUsername`] = `owner$hub$device`,
//!   [`ProductTopic`] = `owner/hub/name`), see SPEC §2;
//! - the things people create: [`Account`], [`Hub`], [`Device`], [`Product`],
//!   [`Purchase`] (with its state machine in [`purchase`]), [`AccessKey`], [`ApiToken`],
//!   [`Notification`], [`Rating`], [`AuditEntry`];
//! - credentials: [`secret`] (generated high-entropy secrets, stored as SHA-256),
//!   [`password`] (argon2id for people), [`rsa_key`] (device public keys);
//! - [`MarketEvent`], what changed, for the broker's access layer.
//!
//! `agora-store` persists these types and calls the rules here before every change;
//! `agora-web` and the broker's access layer read them. A value of one of these types has
//! passed its validation: constructors are the only way in, so the web layer cannot forget a
//! rule.

pub mod access_key;
pub mod account;
pub mod api_token;
pub mod audit;
pub mod device;
pub mod error;
pub mod event;
pub mod hub;
pub mod ids;
pub mod label;
pub mod names;
pub mod notification;
pub mod password;
pub mod product;
pub mod purchase;
pub mod rating;
pub mod rsa_key;
pub mod secret;

pub use access_key::AccessKey;
pub use account::{Account, Actor, Role};
pub use api_token::{ApiToken, ApiTokenKind};
pub use audit::AuditEntry;
pub use device::{Device, DeviceCredential, DeviceCredentialKind};
pub use error::ValidationError;
pub use event::MarketEvent;
pub use hub::Hub;
pub use ids::{
    AccessKeyId, AccountId, ApiTokenId, DeviceId, HubId, NotificationId, ProductId, PurchaseId,
};
pub use label::Label;
pub use names::{AccountName, DeviceName, DeviceUsername, HubName, ProductName, ProductTopic};
pub use notification::{Notification, NotificationKind};
pub use password::{Password, PasswordHash};
pub use product::{Location, Plan, Price, Product, ProductDetails, ProductKind, Tag, Title};
pub use purchase::{Party, Purchase, PurchaseAction, PurchaseState};
pub use rating::{Rating, Stars};
pub use rsa_key::RsaPublicKey;
pub use secret::{Secret, SecretHash, SecretKind};
