//! A standalone MQTT 3.1.1/5.0 broker on tokio: listeners, sessions, routing,
//! retained messages, limits, and the authentication/authorisation seam.
//!
//! It knows nothing of markets. Whoever embeds it supplies an
//! [`auth::Authorizer`] that authenticates each CONNECT and authorises every
//! SUBSCRIBE, PUBLISH and delivery in memory, and keeps a
//! [`control::BrokerControl`] to disconnect sessions and drop subscriptions
//! when rights change.
//!
//! Module map:
//! - [`message`]: the shared application message.
//! - [`router`]: the subscription trie (wildcards, shared subscriptions).
//! - [`retained`]: retained messages, matched against new subscriptions.
//! - [`auth`]: the authentication/authorisation traits; [`static_auth`] is a
//!   config-file implementation (users, argon2id hashes, topic patterns).
//! - [`tls`]: TLS server configuration, including the self-signed certificate.

pub mod auth;
pub mod config;
pub mod message;
pub mod retained;
pub mod router;
pub mod static_auth;
pub mod tls;

pub use config::{BrokerConfig, ConfigError, DenyPublish};
pub use message::{Message, SessionId};
