//! The MQTT control packets, one model for both protocol levels.
//!
//! The protocol level (3.1.1 or 5.0) is a property of the connection, fixed by
//! CONNECT, not of each packet: sessions, routing and authorisation never
//! branch on it. Fields that only exist in MQTT 5 (properties, most reason
//! codes) are simply left at their defaults on a 3.1.1 connection, and the
//! encoder maps what 3.1.1 can express (e.g. a CONNACK reason code to a
//! 3.1.1 return code, a SUBACK failure to 0x80) and drops the rest.
//!
//! Strings are [`ByteString`]s and binary data are [`Bytes`]: decoding slices
//! the receive buffer instead of copying, and a PUBLISH payload fanned out to
//! many subscribers is shared, never copied.

use bytes::Bytes;
pub use bytestring::ByteString;

use crate::properties::Properties;
use crate::reason::ReasonCode;

/// The protocol level a connection speaks, fixed by its CONNECT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl Protocol {
    /// The protocol level byte carried in CONNECT.
    pub const fn level(self) -> u8 {
        match self {
            Protocol::V311 => 4,
            Protocol::V5 => 5,
        }
    }
}

/// Quality of service of a PUBLISH or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum QoS {
    /// QoS 0: at most once, no acknowledgement.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: at least once, PUBACK.
    AtLeastOnce = 1,
    /// QoS 2: exactly once, PUBREC / PUBREL / PUBCOMP.
    ExactlyOnce = 2,
}

impl QoS {
    /// Parses the two QoS bits; 3 is malformed ([MQTT-3.3.1-4]).
    pub const fn from_u8(v: u8) -> Option<QoS> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// One MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (client → server). Boxed: it is large and rare.
    Connect(Box<Connect>),
    /// CONNACK (server → client).
    ConnAck(ConnAck),
    /// PUBLISH (both ways).
    Publish(Publish),
    /// PUBACK: QoS 1 acknowledgement.
    PubAck(PubResponse),
    /// PUBREC: QoS 2, first acknowledgement.
    PubRec(PubResponse),
    /// PUBREL: QoS 2, release.
    PubRel(PubResponse),
    /// PUBCOMP: QoS 2, completion.
    PubComp(PubResponse),
    /// SUBSCRIBE (client → server).
    Subscribe(Subscribe),
    /// SUBACK (server → client).
    SubAck(SubAck),
    /// UNSUBSCRIBE (client → server).
    Unsubscribe(Unsubscribe),
    /// UNSUBACK (server → client).
    UnsubAck(UnsubAck),
    /// PINGREQ (client → server).
    PingReq,
    /// PINGRESP (server → client).
    PingResp,
    /// DISCONNECT (both ways in MQTT 5; client → server in 3.1.1).
    Disconnect(Disconnect),
    /// AUTH (MQTT 5 only): enhanced authentication exchange.
    Auth(Auth),
}

impl Packet {
    /// The control packet type number (1..=15) of the fixed header.
    pub const fn packet_type(&self) -> u8 {
        match self {
            Packet::Connect(_) => 1,
            Packet::ConnAck(_) => 2,
            Packet::Publish(_) => 3,
            Packet::PubAck(_) => 4,
            Packet::PubRec(_) => 5,
            Packet::PubRel(_) => 6,
            Packet::PubComp(_) => 7,
            Packet::Subscribe(_) => 8,
            Packet::SubAck(_) => 9,
            Packet::Unsubscribe(_) => 10,
            Packet::UnsubAck(_) => 11,
            Packet::PingReq => 12,
            Packet::PingResp => 13,
            Packet::Disconnect(_) => 14,
            Packet::Auth(_) => 15,
        }
    }

    /// A short name for logs and errors.
    pub const fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PubRel(_) => "PUBREL",
            Packet::PubComp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::UnsubAck(_) => "UNSUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect(_) => "DISCONNECT",
            Packet::Auth(_) => "AUTH",
        }
    }
}

/// CONNECT: the first packet of every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol level requested by the client.
    pub protocol: Protocol,
    /// Clean Session (3.1.1) / Clean Start (5).
    pub clean_start: bool,
    /// Keep-alive in seconds; 0 disables it.
    pub keep_alive: u16,
    /// Client identifier; may be empty (the server then assigns one, or refuses).
    pub client_id: ByteString,
    /// The will message, if the will flag is set.
    pub will: Option<Will>,
    /// User name, if present.
    pub username: Option<ByteString>,
    /// Password (binary data), if present.
    pub password: Option<Bytes>,
    /// CONNECT properties (MQTT 5).
    pub properties: Properties,
}

/// The will message carried in CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will topic (a topic name: no wildcards).
    pub topic: ByteString,
    /// Will payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will retain flag.
    pub retain: bool,
    /// Will properties (MQTT 5): will delay, message expiry, content type, …
    pub properties: Properties,
}

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Whether the server resumed a stored session.
    pub session_present: bool,
    /// Result; on 3.1.1 encoded as the closest return code (0–5).
    pub reason: ReasonCode,
    /// CONNACK properties (MQTT 5).
    pub properties: Properties,
}

/// PUBLISH: an application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP flag: this may be a re-delivery.
    pub dup: bool,
    /// QoS of this transmission.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name; may be empty in MQTT 5 when a topic alias is used.
    pub topic: ByteString,
    /// Packet identifier: `Some` exactly when `qos > 0`.
    pub packet_id: Option<u16>,
    /// PUBLISH properties (MQTT 5).
    pub properties: Properties,
    /// Application payload, shared, never copied on fan-out.
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share this shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubResponse {
    /// Packet identifier being acknowledged.
    pub packet_id: u16,
    /// Reason code (MQTT 5; always success on 3.1.1).
    pub reason: ReasonCode,
    /// Properties (MQTT 5): reason string, user properties.
    pub properties: Properties,
}

impl PubResponse {
    /// A successful acknowledgement without properties.
    pub fn success(packet_id: u16) -> PubResponse {
        PubResponse {
            packet_id,
            reason: ReasonCode::Success,
            properties: Properties::default(),
        }
    }
}

/// What the server does with retained messages when a subscription is made (MQTT 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription did not already exist.
    SendIfNew = 1,
    /// 2: do not send retained messages.
    DoNotSend = 2,
}

/// The options byte of one SUBSCRIBE entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS the client accepts on this subscription.
    pub qos: QoS,
    /// No Local (MQTT 5): do not send the client its own publications.
    pub no_local: bool,
    /// Retain As Published (MQTT 5): keep the RETAIN flag on forwarded messages.
    pub retain_as_published: bool,
    /// Retain Handling (MQTT 5).
    pub retain_handling: RetainHandling,
}

/// SUBSCRIBE: one or more topic filters with options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: u16,
    /// Topic filters with their options; never empty ([MQTT-3.8.3-3]).
    pub filters: Vec<(ByteString, SubscriptionOptions)>,
    /// SUBSCRIBE properties (MQTT 5): subscription identifier, user properties.
    pub properties: Properties,
}

/// SUBACK: one reason code per requested filter, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier of the SUBSCRIBE.
    pub packet_id: u16,
    /// Granted QoS (0x00–0x02) or a failure code per filter; 3.1.1 maps every failure to 0x80.
    pub reasons: Vec<ReasonCode>,
    /// SUBACK properties (MQTT 5).
    pub properties: Properties,
}

/// UNSUBSCRIBE: one or more topic filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: u16,
    /// Topic filters; never empty ([MQTT-3.10.3-2]).
    pub filters: Vec<ByteString>,
    /// UNSUBSCRIBE properties (MQTT 5).
    pub properties: Properties,
}

/// UNSUBACK: one reason code per filter in MQTT 5, none in 3.1.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet identifier of the UNSUBSCRIBE.
    pub packet_id: u16,
    /// Reason codes (MQTT 5 only; ignored by the 3.1.1 encoder).
    pub reasons: Vec<ReasonCode>,
    /// UNSUBACK properties (MQTT 5).
    pub properties: Properties,
}

/// DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// Reason code (MQTT 5; 3.1.1 has none).
    pub reason: ReasonCode,
    /// DISCONNECT properties (MQTT 5): session expiry, reason string, server reference.
    pub properties: Properties,
}

impl Disconnect {
    /// A DISCONNECT with a reason code and, for MQTT 5 clients, a human-readable reason string.
    pub fn with_reason(reason: ReasonCode, reason_string: impl Into<ByteString>) -> Disconnect {
        Disconnect {
            reason,
            properties: Properties {
                reason_string: Some(reason_string.into()),
                ..Properties::default()
            },
        }
    }
}

/// AUTH (MQTT 5): one step of an enhanced authentication exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// 0x00 success, 0x18 continue authentication, 0x19 re-authenticate.
    pub reason: ReasonCode,
    /// Authentication method and data, reason string, user properties.
    pub properties: Properties,
}
