//! A standalone MQTT 3.1.1/5.0 broker on tokio: listeners, sessions, routing,
//! retained messages, limits, and the authentication/authorisation seam.
//!
//! It knows nothing of markets. Whoever embeds it builds a [`Broker`] from a
//! [`BrokerConfig`] and an [`auth::Authorizer`] that authenticates each
//! CONNECT and authorises every SUBSCRIBE, PUBLISH and delivery in memory,
//! feeds it connections ([`Broker::serve_tcp`], [`Broker::serve_tls`], or any
//! byte stream through [`Broker::serve_connection`], as the WebSocket bridge
//! does), and keeps a [`BrokerControl`] to disconnect sessions and drop
//! subscriptions when rights change.
//!
//! Decisions where MQTT leaves a choice (each is explained where it is made):
//! - QoS 0 messages are not queued for offline sessions, and are dropped
//!   (counted) when a connection's bounded outbound queue is full; QoS 1/2
//!   wait in the session queue up to `max_queued_messages` (`session.rs`).
//! - Every delivery, live, retained, queued or re-sent, asks
//!   `authorize_delivery` once, just before it is handed to the connection,
//!   so a revoked reader gets nothing more and a meter counts each once.
//! - MQTT 3.1.1 persistent sessions live for `max_session_expiry` after their
//!   connection closes; MQTT 5 session expiry is capped by it (`config.rs`).
//! - Wills are re-authorised when they are published, and not published on
//!   broker shutdown (`will.rs`, `broker.rs`).
//! - Clients may not publish under `$SYS` (`connection.rs`); the `$SYS` topics
//!   are published by the broker and read only by whom the authoriser allows.
//! - A shared group prefers its connected members; retained messages are not
//!   sent for shared subscriptions (`router.rs`, `connection.rs`).
//! - `max_publish_rate` slows a client down (the broker stops reading) rather
//!   than dropping its messages or disconnecting it.
//! - With persistence ([`Broker::open`] and [`BrokerConfig::persistence`]),
//!   a QoS 1/2 PUBLISH is acknowledged only after the messages it queued for
//!   stored sessions and its retained update are committed (group commit,
//!   one fsync per batch); QoS 0 and deliveries to connected sessions never
//!   wait for the disk (`persist.rs`).
//!
//! Module map:
//! - [`broker`](Broker): the handle, accept loops, the publish path, shutdown.
//! - `connection`: one connection's task: CONNECT handshake, packet loop and
//!   close; `writer`: its batching writer; `outbox`: the bounded queue
//!   publishers hand its deliveries to.
//! - `session`: session state, in-flight window, queue, packet ids;
//!   `registry`: sessions by (user name, client id); `will`: delayed wills
//!   and session expiry; `sweep`: keep-alive and credential deadlines.
//! - [`router`]: the subscription trie (wildcards, shared subscriptions).
//! - [`retained`]: retained messages, matched against new subscriptions.
//! - [`control`]: [`BrokerControl`], acting on live sessions.
//! - [`stats`]: counters, read as a [`StatsSnapshot`]; `sys`: `$SYS` topics.
//! - [`message`]: the shared application message.
//! - [`auth`]: the authentication/authorisation traits; [`static_auth`] is a
//!   config-file implementation (users, argon2id hashes, topic patterns).
//! - [`tls`]: TLS server configuration, including the self-signed certificate.
//! - [`persist`]: the [`BrokerStore`] seam, its ops and the group-commit
//!   writer; [`store_redb`]: the redb implementation ([`RedbStore`]).

pub mod auth;
mod broker;
pub mod config;
mod connection;
pub mod control;
pub mod message;
mod outbox;
pub mod persist;
mod registry;
pub mod retained;
pub mod router;
mod session;
pub mod static_auth;
pub mod stats;
pub mod store_redb;
mod sweep;
mod sys;
pub mod throttle;
pub mod tls;
mod will;
mod writer;

pub use auth::{Authorizer, DeliveryKind, Identity, Transport};
pub use broker::Broker;
pub use config::{BrokerConfig, ConfigError, DenyPublish};
pub use control::{BrokerControl, SessionInfo};
pub use message::{Message, SessionId};
pub use persist::{BrokerStore, StoreError};
pub use stats::{DropReason, Limit, StatsSnapshot};
pub use store_redb::RedbStore;
