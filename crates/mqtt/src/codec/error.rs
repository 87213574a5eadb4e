//! Why a packet could not be decoded or encoded.
//!
//! Decode errors are small `Copy` values: the broker logs them and answers
//! with [`DecodeError::reason_code`] (an MQTT 5 DISCONNECT, or a CONNACK for
//! an unsupported protocol) before closing the connection. Each message cites
//! the normative statement it enforces; where MQTT 3.1.1 numbers the same rule
//! differently both numbers are given, the 3.1.1 one marked as such.

use thiserror::Error;

use crate::reason::ReasonCode;
use crate::topic::TopicError;

/// A received packet violates MQTT 3.1.1 or 5.0; the connection must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The connection has not sent CONNECT yet and this packet is something else.
    #[error("[MQTT-3.1.0-1] the first packet of a connection must be CONNECT, got packet type {0}")]
    FirstPacketNotConnect(u8),
    /// Packet type 0, or 15 (AUTH) on a 3.1.1 connection.
    #[error("[MQTT-2.1.3-1] control packet type {0} is reserved")]
    ReservedPacketType(u8),
    /// The low nibble of the fixed header differs from the value the specification fixes.
    #[error(
        "[MQTT-2.1.3-1] / [MQTT-2.2.2-1] (3.1.1): the fixed header flags of {packet} must be {expected:#06b}, got {actual:#06b}"
    )]
    InvalidFixedHeaderFlags {
        /// Packet name.
        packet: &'static str,
        /// The flags the specification requires.
        expected: u8,
        /// The flags received.
        actual: u8,
    },
    /// A Variable Byte Integer longer than four bytes or not minimally encoded.
    #[error(
        "[MQTT-1.5.5-1] the {0} must be a Variable Byte Integer of at most four bytes, minimally encoded"
    )]
    InvalidVarInt(&'static str),
    /// The packet is larger than the connection's maximum packet size.
    #[error(
        "[MQTT-3.2.2-15]: packet of {size} bytes exceeds the maximum packet size of {max} bytes"
    )]
    PacketTooLarge {
        /// Total size the fixed header announces.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A field runs past the end of the packet (or of its property block).
    #[error("§1.5 §4.13: {packet}: the {field} runs past the end of the packet (malformed)")]
    Truncated {
        /// Packet name.
        packet: &'static str,
        /// Field being read.
        field: &'static str,
    },
    /// Bytes left after the last field of a packet whose length is fully determined.
    #[error("§2.1.4 §4.13: {packet}: {count} bytes after the last field (malformed)")]
    TrailingBytes {
        /// Packet name.
        packet: &'static str,
        /// How many.
        count: usize,
    },
    /// A UTF-8 Encoded String that is not well-formed UTF-8 (incl. surrogates).
    #[error("[MQTT-1.5.4-1] / [MQTT-1.5.3-1] (3.1.1): the {0} is not well-formed UTF-8")]
    InvalidUtf8(&'static str),
    /// A UTF-8 Encoded String containing U+0000.
    #[error("[MQTT-1.5.4-2] / [MQTT-1.5.3-2] (3.1.1): the {0} contains the null character U+0000")]
    NulInString(&'static str),
    /// CONNECT with an unknown protocol name or level: answer CONNACK 0x01 / 0x84, then close.
    #[error(
        "[MQTT-3.1.2-1] [MQTT-3.1.2-2]: unsupported protocol (name is \"MQTT\": {name_is_mqtt}, level {level})"
    )]
    UnsupportedProtocol {
        /// Whether the protocol name was "MQTT" (false e.g. for MQTT 3.1's "MQIsdp").
        name_is_mqtt: bool,
        /// The protocol level byte.
        level: u8,
    },
    /// Bit 0 of the CONNECT flags is set.
    #[error("[MQTT-3.1.2-3]: the reserved flag of CONNECT must be 0")]
    ConnectReservedFlag,
    /// Will QoS 3.
    #[error("[MQTT-3.1.2-12] / [MQTT-3.1.2-14] (3.1.1): will QoS 3 is malformed")]
    InvalidWillQoS,
    /// Will QoS or will retain set while the will flag is 0.
    #[error(
        "[MQTT-3.1.2-11] [MQTT-3.1.2-13] / [MQTT-3.1.2-13] [MQTT-3.1.2-15] (3.1.1): will QoS and will retain must be 0 without the will flag"
    )]
    WillFlagsWithoutWill,
    /// MQTT 3.1.1: password flag without user name flag.
    #[error("[MQTT-3.1.2-22] (3.1.1): the password flag must be 0 when the user name flag is 0")]
    PasswordWithoutUsername,
    /// The will topic is not a valid topic name.
    #[error("[MQTT-3.1.3-11] / [MQTT-3.1.3-10] (3.1.1): invalid will topic: {0}")]
    InvalidWillTopic(TopicError),
    /// Reserved bits of the CONNACK acknowledge flags are set.
    #[error("[MQTT-3.2.2-1]: bits 7-1 of the CONNACK acknowledge flags are reserved and must be 0")]
    ConnAckReservedFlags,
    /// PUBLISH (or a subscription option) with QoS 3.
    #[error("[MQTT-3.3.1-4]: QoS 3 is malformed")]
    InvalidQoS,
    /// PUBLISH with DUP set and QoS 0.
    #[error("[MQTT-3.3.1-2]: the DUP flag must be 0 for QoS 0 messages")]
    DupWithQoS0,
    /// The PUBLISH topic name is invalid (wildcards, or empty on 3.1.1).
    #[error("[MQTT-3.3.2-2] [MQTT-4.7.3-1]: invalid PUBLISH topic name: {0}")]
    InvalidTopicName(TopicError),
    /// MQTT 5 PUBLISH with an empty topic name and no topic alias.
    #[error("§3.3.2.1: a zero-length topic name without a topic alias is a protocol error")]
    EmptyTopicWithoutAlias,
    /// A packet identifier of 0 where a non-zero one is required.
    #[error("[MQTT-2.2.1-3] / [MQTT-2.3.1-1] (3.1.1): {0} needs a non-zero packet identifier")]
    ZeroPacketId(&'static str),
    /// SUBSCRIBE or UNSUBSCRIBE without any topic filter.
    #[error(
        "[MQTT-3.8.3-2] [MQTT-3.10.3-2] / [MQTT-3.8.3-3] [MQTT-3.10.3-2] (3.1.1): {0} must contain at least one topic filter"
    )]
    NoTopicFilters(&'static str),
    /// SUBACK or MQTT 5 UNSUBACK without any reason code.
    #[error("§3.9.3 §3.11.3: {0} must contain a reason code for each topic filter, at least one")]
    NoReasonCodes(&'static str),
    /// Reserved bits of a SUBSCRIBE entry's options byte are set.
    #[error(
        "[MQTT-3.8.3-5] / [MQTT-3.8.3-4] (3.1.1): the reserved bits of the subscription options must be 0"
    )]
    SubscriptionOptionsReserved,
    /// Retain Handling 3.
    #[error("§3.8.3.1: a Retain Handling value of 3 is a protocol error")]
    InvalidRetainHandling,
    /// No Local on a shared subscription.
    #[error("[MQTT-3.8.3-4]: No Local must not be set on a shared subscription")]
    NoLocalOnSharedSubscription,
    /// A reason (or return) code that is not defined for this packet.
    #[error("§2.4 / §3.2.2.3 (3.1.1): reason code {code:#04x} is not valid in {packet}")]
    InvalidReasonCode {
        /// Packet name.
        packet: &'static str,
        /// The byte received.
        code: u8,
    },
    /// A property identifier that is unknown or not allowed in this packet.
    #[error("§2.2.2.2: property identifier {id:#04x} is not valid in {packet}")]
    PropertyNotAllowed {
        /// Packet name (or "will properties").
        packet: &'static str,
        /// The identifier.
        id: u32,
    },
    /// A property that may appear at most once appears twice.
    #[error("§2.2.2.2: property {id:#04x} appears more than once in {packet}")]
    DuplicateProperty {
        /// Packet name.
        packet: &'static str,
        /// The identifier.
        id: u8,
    },
    /// A property with a value the specification forbids.
    #[error("{packet}: {rule}")]
    InvalidPropertyValue {
        /// Packet name.
        packet: &'static str,
        /// The rule broken, with its citation.
        rule: &'static str,
    },
    /// A SUBSCRIBE or UNSUBSCRIBE topic filter that is not a valid filter.
    #[error(
        "[MQTT-3.8.3-1] [MQTT-3.10.3-1] [MQTT-4.7.1-1]: invalid topic filter in {packet}: {error}"
    )]
    InvalidTopicFilter {
        /// Packet name.
        packet: &'static str,
        /// What is wrong with the filter.
        error: TopicError,
    },
    /// CONNACK with Session Present set and a failure reason code.
    #[error(
        "[MQTT-3.2.2-6] / [MQTT-3.2.2-4] (3.1.1): session present must be 0 when the CONNACK reports a failure"
    )]
    SessionPresentWithFailure,
    /// AUTH with properties but without an authentication method.
    #[error("§3.15.2.2.2: an AUTH packet without an authentication method is a protocol error")]
    AuthWithoutMethod,
    /// Authentication data without an authentication method.
    #[error(
        "§3.1.2.11.10 §3.15.2.2.3: authentication data without an authentication method is a protocol error"
    )]
    AuthDataWithoutMethod,
}

impl DecodeError {
    /// The MQTT 5 reason code to close the connection with (DISCONNECT, or CONNACK
    /// while connecting): 0x81 malformed, 0x82 protocol error, 0x95 packet too
    /// large, 0x84 unsupported protocol version, 0x90 topic name invalid.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            UnsupportedProtocol { .. } => ReasonCode::UnsupportedProtocolVersion,
            InvalidTopicName(_) | InvalidWillTopic(_) => ReasonCode::TopicNameInvalid,
            FirstPacketNotConnect(_)
            | EmptyTopicWithoutAlias
            | ZeroPacketId(_)
            | NoTopicFilters(_)
            | NoReasonCodes(_)
            | InvalidRetainHandling
            | NoLocalOnSharedSubscription
            | DuplicateProperty { .. }
            | InvalidPropertyValue { .. }
            | AuthWithoutMethod
            | AuthDataWithoutMethod => ReasonCode::ProtocolError,
            InvalidTopicFilter { .. } => ReasonCode::TopicFilterInvalid,
            ReservedPacketType(_)
            | InvalidFixedHeaderFlags { .. }
            | InvalidVarInt(_)
            | Truncated { .. }
            | TrailingBytes { .. }
            | InvalidUtf8(_)
            | NulInString(_)
            | ConnectReservedFlag
            | InvalidWillQoS
            | WillFlagsWithoutWill
            | PasswordWithoutUsername
            | ConnAckReservedFlags
            | SessionPresentWithFailure
            | InvalidQoS
            | DupWithQoS0
            | SubscriptionOptionsReserved
            | InvalidReasonCode { .. }
            | PropertyNotAllowed { .. } => ReasonCode::MalformedPacket,
        }
    }

    /// True for a CONNECT with an unknown protocol name or level. The server
    /// answers with a CONNACK whose reason is [`ReasonCode::UnsupportedProtocolVersion`]
    /// encoded for [`Protocol::V311`](crate::Protocol::V311) (return code 0x01:
    /// the client's own level is unknown and the 3.1.1 form is the one older
    /// clients understand), then closes ([MQTT-3.1.2-2]).
    pub fn is_unsupported_protocol(&self) -> bool {
        matches!(self, DecodeError::UnsupportedProtocol { .. })
    }
}

/// A packet cannot be encoded as asked: a bug in the caller, never a peer's doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// A string or binary field longer than 65,535 bytes.
    #[error("{packet}: the {field} is longer than 65,535 bytes")]
    FieldTooLong {
        /// Packet name.
        packet: &'static str,
        /// Field name.
        field: &'static str,
    },
    /// The packet's remaining length exceeds 268,435,455 bytes.
    #[error("{packet}: the packet would exceed the largest remaining length, 268,435,455 bytes")]
    PacketTooLarge {
        /// Packet name.
        packet: &'static str,
    },
    /// The packet does not exist in this protocol version (AUTH on 3.1.1).
    #[error("{packet} does not exist in MQTT 3.1.1")]
    NotInProtocol {
        /// Packet name.
        packet: &'static str,
    },
    /// A CONNECT whose `protocol` field differs from the protocol asked to encode it for.
    #[error("CONNECT says {packet_level} but is being encoded for level {requested}")]
    ProtocolMismatch {
        /// Level in the packet.
        packet_level: u8,
        /// Level asked for.
        requested: u8,
    },
    /// PUBLISH whose packet identifier does not fit its QoS, or a zero identifier.
    #[error(
        "{packet}: packet identifier must be non-zero, and present on PUBLISH exactly when QoS > 0"
    )]
    InvalidPacketId {
        /// Packet name.
        packet: &'static str,
    },
    /// PUBLISH with DUP and QoS 0.
    #[error("PUBLISH: the DUP flag must be 0 for QoS 0 messages [MQTT-3.3.1-2]")]
    DupWithQoS0,
    /// An empty topic name where the protocol requires one (3.1.1, or 5.0 without topic alias).
    #[error("PUBLISH: empty topic name without a topic alias")]
    EmptyTopic,
    /// SUBSCRIBE or UNSUBSCRIBE without filters.
    #[error("{packet} must contain at least one topic filter")]
    NoTopicFilters {
        /// Packet name.
        packet: &'static str,
    },
    /// SUBACK or MQTT 5 UNSUBACK without reason codes.
    #[error("{packet} must contain at least one reason code")]
    NoReasonCodes {
        /// Packet name.
        packet: &'static str,
    },
    /// MQTT 3.1.1 CONNECT with a password but no user name.
    #[error("CONNECT: MQTT 3.1.1 allows a password only with a user name [MQTT-3.1.2-22]")]
    PasswordWithoutUsername,
    /// A property set that the packet may not carry.
    #[error("{packet}: property {id:#04x} is not allowed in this packet")]
    PropertyNotAllowed {
        /// Packet name.
        packet: &'static str,
        /// Property identifier.
        id: u8,
    },
    /// A property value that cannot be encoded (subscription identifier 0 or above 268,435,455).
    #[error("{packet}: {rule}")]
    InvalidPropertyValue {
        /// Packet name.
        packet: &'static str,
        /// What is wrong.
        rule: &'static str,
    },
    /// A reason code not defined for this packet.
    #[error("{packet}: reason code {code:#04x} is not valid in this packet")]
    InvalidReasonCode {
        /// Packet name.
        packet: &'static str,
        /// The code.
        code: u8,
    },
}
