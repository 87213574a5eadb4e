//! MQTT 5 properties: one struct holding every property any packet may carry.
//!
//! One flat struct (rather than one type per packet) keeps the model simple
//! for the broker, which copies properties between packets (a PUBLISH's
//! properties become a delivery's). The codec enforces which property may
//! appear in which packet and that none appears twice (except user properties
//! and, on PUBLISH, subscription identifiers): a property where it does not
//! belong is a protocol error (0x81/0x82).

use bytes::Bytes;
use bytestring::ByteString;

/// Every MQTT 5 property. `None` / empty means absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    /// 0x01 Payload Format Indicator (PUBLISH, will): 0 bytes, 1 UTF-8.
    pub payload_format_indicator: Option<u8>,
    /// 0x02 Message Expiry Interval in seconds (PUBLISH, will).
    pub message_expiry_interval: Option<u32>,
    /// 0x03 Content Type (PUBLISH, will).
    pub content_type: Option<ByteString>,
    /// 0x08 Response Topic (PUBLISH, will).
    pub response_topic: Option<ByteString>,
    /// 0x09 Correlation Data (PUBLISH, will).
    pub correlation_data: Option<Bytes>,
    /// 0x0B Subscription Identifier(s): one on SUBSCRIBE, any number on PUBLISH (1..=268,435,455).
    pub subscription_identifiers: Vec<u32>,
    /// 0x11 Session Expiry Interval in seconds (CONNECT, CONNACK, DISCONNECT).
    pub session_expiry_interval: Option<u32>,
    /// 0x12 Assigned Client Identifier (CONNACK).
    pub assigned_client_identifier: Option<ByteString>,
    /// 0x13 Server Keep Alive in seconds (CONNACK).
    pub server_keep_alive: Option<u16>,
    /// 0x15 Authentication Method (CONNECT, CONNACK, AUTH).
    pub authentication_method: Option<ByteString>,
    /// 0x16 Authentication Data (CONNECT, CONNACK, AUTH).
    pub authentication_data: Option<Bytes>,
    /// 0x17 Request Problem Information (CONNECT): 0 or 1.
    pub request_problem_information: Option<u8>,
    /// 0x18 Will Delay Interval in seconds (will properties).
    pub will_delay_interval: Option<u32>,
    /// 0x19 Request Response Information (CONNECT): 0 or 1.
    pub request_response_information: Option<u8>,
    /// 0x1A Response Information (CONNACK).
    pub response_information: Option<ByteString>,
    /// 0x1C Server Reference (CONNACK, DISCONNECT).
    pub server_reference: Option<ByteString>,
    /// 0x1F Reason String (acks, CONNACK, DISCONNECT, AUTH).
    pub reason_string: Option<ByteString>,
    /// 0x21 Receive Maximum (CONNECT, CONNACK): 1..=65,535.
    pub receive_maximum: Option<u16>,
    /// 0x22 Topic Alias Maximum (CONNECT, CONNACK).
    pub topic_alias_maximum: Option<u16>,
    /// 0x23 Topic Alias (PUBLISH): 1..=topic alias maximum.
    pub topic_alias: Option<u16>,
    /// 0x24 Maximum QoS (CONNACK): 0 or 1 (absent means 2).
    pub maximum_qos: Option<u8>,
    /// 0x25 Retain Available (CONNACK): 0 or 1.
    pub retain_available: Option<u8>,
    /// 0x26 User Properties, in order, repeats allowed.
    pub user_properties: Vec<(ByteString, ByteString)>,
    /// 0x27 Maximum Packet Size (CONNECT, CONNACK): > 0.
    pub maximum_packet_size: Option<u32>,
    /// 0x28 Wildcard Subscription Available (CONNACK).
    pub wildcard_subscription_available: Option<u8>,
    /// 0x29 Subscription Identifier Available (CONNACK).
    pub subscription_identifier_available: Option<u8>,
    /// 0x2A Shared Subscription Available (CONNACK).
    pub shared_subscription_available: Option<u8>,
}

impl Properties {
    /// True when no property is set (the common case on 3.1.1 and for most packets).
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }
}
