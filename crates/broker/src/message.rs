//! An application message as the broker holds it between receipt and delivery.

use std::time::Instant;

use agora_mqtt::{ByteString, Properties, QoS};
use bytes::Bytes;

/// A message accepted from a publisher (or a will), shared by every delivery.
///
/// Deliveries hold it behind an `Arc`, so fan-out to N subscribers never copies
/// the payload or the properties; each delivery only adds its own packet id,
/// QoS, retain flag and subscription identifiers when it is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name (never a filter, never empty: aliases are resolved on receipt).
    pub topic: ByteString,
    /// Payload, shared.
    pub payload: Bytes,
    /// QoS the publisher sent it with.
    pub qos: QoS,
    /// RETAIN flag as published.
    pub retain: bool,
    /// Properties forwarded to subscribers (MQTT 5): payload format, content
    /// type, response topic, correlation data, user properties. Topic alias and
    /// subscription identifiers are stripped on receipt.
    pub properties: Properties,
    /// When the message expires (from Message Expiry Interval), if it does.
    pub expires_at: Option<Instant>,
    /// The session that published it, for No Local; `None` for wills and `$SYS`.
    pub publisher: Option<SessionId>,
}

/// A broker-wide unique number for a session, assigned when it is created.
///
/// Routing tables key on this rather than on (username, client id) strings so
/// that the hot path compares integers.
pub type SessionId = u64;
