//! The broker's view of the market: who may connect, publish, subscribe and
//! receive, answered from memory on every packet, and kept current from the
//! store's change events so that a right that ends stops working at once.
//!
//! Central types:
//! - [`Access`]: the entry point. [`Access::load`] reads the store's
//!   entitlement snapshot into an [`index::Index`]; `Access` implements the
//!   broker's [`agora_broker::auth::Authorizer`]; [`Access::run_sync`] is the
//!   background task that follows the store's events, rebuilds the index,
//!   cuts off sessions and subscriptions that lost their right (through
//!   [`agora_broker::control::BrokerControl`]), expires period purchases on
//!   time and flushes the meters.
//! - [`principal::Principal`]: what an authenticated session is (a device or
//!   an account with the access key it used), carried in the broker's
//!   [`agora_broker::auth::Identity`].
//! - [`rules`]: SPEC §4 as pure functions over the index: the only place that
//!   decides.
//! - [`jwt`]: RS256 device tokens (SPEC §3).
//! - [`meter`]: per-purchase and per-product counters (atomics on the hot
//!   path, flushed to the store every few seconds).
//! - [`metrics`]: counters for `/metrics`.
//!
//! The hot path (`authorize_publish`, `authorize_subscribe`,
//! `authorize_delivery`) takes one `ArcSwap` load of the current index, a few
//! hash lookups keyed by borrowed `&str` slices of the topic, and atomic
//! meter updates: no database, no lock held, no allocation.

pub mod authorizer;
pub mod index;
pub mod jwt;
pub mod meter;
pub mod metrics;
pub mod principal;
pub mod rules;
pub mod sync;

pub use authorizer::{Access, AccessConfig};
pub use jwt::JwtPolicy;
pub use metrics::AccessMetrics;
