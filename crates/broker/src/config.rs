//! The broker's limits and policies, as one plain struct with the defaults of
//! SPEC §9.
//!
//! The library takes a ready [`BrokerConfig`]; reading files and environment
//! variables is the binary's job. [`BrokerConfig::validate`] rejects values
//! that would make the broker misbehave (a zero packet size, a zero queue) so
//! that a bad configuration stops start-up instead of surfacing as odd
//! behaviour later.
//!
//! Session lifetime: MQTT 5 clients choose their Session Expiry Interval and
//! the broker caps it at [`BrokerConfig::max_session_expiry`] (telling the
//! client the value it applied in CONNACK). MQTT 3.1.1 has no such interval: a
//! `clean session = 0` session would be kept forever by the letter of the
//! specification, which lets abandoned client ids accumulate queued messages
//! without bound. Here such sessions are kept for `max_session_expiry` (24
//! hours by default) after their last connection closes.

use std::path::PathBuf;
use std::time::Duration;

use agora_mqtt::QoS;
use serde::{Deserialize, Serialize};

/// What the broker does with a PUBLISH the authoriser refuses (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DenyPublish {
    /// Drop the message, count and log it; an MQTT 5 client gets PUBACK/PUBREC
    /// 0x87 for QoS 1/2 (3.1.1 has no negative acknowledgement).
    #[default]
    Refuse,
    /// Close the connection (MQTT 5: DISCONNECT 0x87 first).
    Disconnect,
}

/// Limits and policies of one broker instance.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// Largest packet accepted from a client, in bytes (also announced to MQTT 5
    /// clients as Maximum Packet Size). Default 256 KiB.
    pub max_packet_size: u32,
    /// Time a new connection has to deliver its CONNECT (and be authenticated). Default 10 s.
    pub connect_timeout: Duration,
    /// Time a TLS client has to complete its handshake. Default 10 s.
    pub tls_handshake_timeout: Duration,
    /// A connection is closed after `keep_alive × keep_alive_factor` without a
    /// packet from the client ([MQTT-3.1.2-24] uses 1.5). Default 1.5.
    pub keep_alive_factor: f64,
    /// If set, MQTT 5 clients are told to use this keep-alive (Server Keep Alive)
    /// instead of their own. Default none.
    pub server_keep_alive: Option<u16>,
    /// Messages a session may hold beyond its in-flight window (offline, or while
    /// the client is slow to acknowledge). Default 1,000.
    pub max_queued_messages: usize,
    /// Outbound QoS 1/2 messages unacknowledged at once per session; the client's
    /// Receive Maximum lowers it. Also our Receive Maximum towards clients. Default 65,535.
    pub max_inflight: u16,
    /// Packets waiting for a connection's writer. When full, QoS 0 deliveries are
    /// dropped (and counted) and QoS 1/2 ones wait in the session queue. Default 1,024.
    pub outbound_queue: usize,
    /// Subscriptions one session may hold. Default 100.
    pub max_subscriptions: usize,
    /// Longest topic name or filter, in bytes. Default 512.
    pub max_topic_len: usize,
    /// Most levels in a topic name or filter. Default 16.
    pub max_topic_levels: usize,
    /// Connections served at once; further ones are closed at accept. Default 100,000.
    pub max_connections: usize,
    /// Upper bound for a session's life after its connection closes (see the
    /// module docs; MQTT 3.1.1 persistent sessions get exactly this). Default 24 h.
    pub max_session_expiry: Duration,
    /// Topic aliases an MQTT 5 client may use towards the broker (our Topic Alias
    /// Maximum); 0 disables them. Default 64.
    pub topic_alias_maximum: u16,
    /// Whether retained messages are supported (MQTT 5 Retain Available). Default true.
    pub retain_available: bool,
    /// Highest QoS accepted and granted (MQTT 5 Maximum QoS). Default 2.
    pub maximum_qos: QoS,
    /// What to do with a refused PUBLISH. Default [`DenyPublish::Refuse`].
    pub deny_publish: DenyPublish,
    /// How often `$SYS/broker/...` topics are published; `None` disables them. Default 10 s.
    pub sys_interval: Option<Duration>,
    /// Most PUBLISH packets per second one connection may send, with a burst of
    /// as many; beyond it the broker stops reading from that connection until
    /// the rate allows the next one (TCP then slows the client down), and
    /// counts it. `None` (the default) = no limit.
    pub max_publish_rate: Option<u32>,
    /// Whether `$share/{group}/{filter}` subscriptions are accepted (MQTT 5
    /// Shared Subscription Available); when off they get SUBACK 0x9E. Default true.
    pub shared_subscriptions: bool,
    /// Time a closing connection has to flush its last packets (e.g. a DISCONNECT
    /// reason) to a client that may not be reading. Default 2 s.
    pub close_flush_timeout: Duration,
    /// Where retained messages and persistent sessions (with their queued
    /// QoS 1/2 messages) are stored so that they survive a crash (a redb
    /// file, see `persist.rs` for what is durable when). `None`: in memory
    /// only. Honoured by [`Broker::open`](crate::Broker::open). Default none.
    pub persistence: Option<PathBuf>,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig {
            max_packet_size: 256 * 1024,
            connect_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            keep_alive_factor: 1.5,
            server_keep_alive: None,
            max_queued_messages: 1_000,
            max_inflight: u16::MAX,
            outbound_queue: 1_024,
            max_subscriptions: 100,
            max_topic_len: 512,
            max_topic_levels: 16,
            max_connections: 100_000,
            max_session_expiry: Duration::from_secs(24 * 3600),
            topic_alias_maximum: 64,
            retain_available: true,
            maximum_qos: QoS::ExactlyOnce,
            deny_publish: DenyPublish::Refuse,
            sys_interval: Some(Duration::from_secs(10)),
            max_publish_rate: None,
            shared_subscriptions: true,
            close_flush_timeout: Duration::from_secs(2),
            persistence: None,
        }
    }
}

/// A configuration value the broker cannot work with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("broker setting `{key}` = {value}: {allowed}")]
pub struct ConfigError {
    /// The field name.
    pub key: &'static str,
    /// The value given, rendered.
    pub value: String,
    /// What would have been accepted.
    pub allowed: &'static str,
}

impl BrokerConfig {
    /// Checks every limit for a value the broker can honour.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(key: &'static str, value: impl ToString, allowed: &'static str) -> ConfigError {
            ConfigError {
                key,
                value: value.to_string(),
                allowed,
            }
        }
        // 268,435,455 is the largest remaining length the fixed header can express.
        if !(64..=268_435_460).contains(&self.max_packet_size) {
            return Err(bad(
                "max_packet_size",
                self.max_packet_size,
                "64 ..= 268435460 bytes",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(bad("connect_timeout", "0s", "more than zero"));
        }
        if self.tls_handshake_timeout.is_zero() {
            return Err(bad("tls_handshake_timeout", "0s", "more than zero"));
        }
        if !(self.keep_alive_factor >= 1.0 && self.keep_alive_factor <= 10.0) {
            return Err(bad(
                "keep_alive_factor",
                self.keep_alive_factor,
                "1.0 ..= 10.0",
            ));
        }
        if self.max_queued_messages == 0 {
            return Err(bad("max_queued_messages", 0, "at least 1"));
        }
        if self.max_inflight == 0 {
            return Err(bad("max_inflight", 0, "1 ..= 65535"));
        }
        if self.outbound_queue < 16 {
            return Err(bad("outbound_queue", self.outbound_queue, "at least 16"));
        }
        if self.max_topic_len == 0 || self.max_topic_len > 65_535 {
            return Err(bad("max_topic_len", self.max_topic_len, "1 ..= 65535"));
        }
        if self.max_topic_levels == 0 {
            return Err(bad("max_topic_levels", 0, "at least 1"));
        }
        if self.max_publish_rate == Some(0) {
            return Err(bad("max_publish_rate", 0, "at least 1 per second, or off"));
        }
        if self.max_connections == 0 {
            return Err(bad("max_connections", 0, "at least 1"));
        }
        if self.max_session_expiry > Duration::from_secs(u64::from(u32::MAX)) {
            return Err(bad(
                "max_session_expiry",
                format!("{:?}", self.max_session_expiry),
                "at most 4294967295 s",
            ));
        }
        if matches!(self.sys_interval, Some(d) if d < Duration::from_secs(1)) {
            return Err(bad(
                "sys_interval",
                format!("{:?}", self.sys_interval),
                "at least 1 s, or off",
            ));
        }
        Ok(())
    }

    /// The session expiry cap in seconds, as MQTT 5 expresses it.
    pub(crate) fn max_session_expiry_secs(&self) -> u32 {
        u32::try_from(self.max_session_expiry.as_secs()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_spec_section_9_and_validate() {
        let c = BrokerConfig::default();
        assert_eq!(c.max_packet_size, 262_144);
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.keep_alive_factor, 1.5);
        assert_eq!(c.max_queued_messages, 1_000);
        assert_eq!(c.max_inflight, 65_535);
        assert_eq!(c.max_subscriptions, 100);
        assert_eq!((c.max_topic_len, c.max_topic_levels), (512, 16));
        assert_eq!(c.max_connections, 100_000);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn a_zero_queue_is_refused_with_its_key() {
        let c = BrokerConfig {
            max_queued_messages: 0,
            ..BrokerConfig::default()
        };
        let err = c.validate().unwrap_err();
        assert_eq!(err.key, "max_queued_messages");
        assert!(err.to_string().contains("at least 1"), "{err}");
    }

    #[test]
    fn deny_publish_reads_as_lowercase_words() {
        use serde::de::IntoDeserializer;
        use serde::de::value::Error;
        let parsed = DenyPublish::deserialize("disconnect".into_deserializer());
        assert_eq!(parsed, Ok::<_, Error>(DenyPublish::Disconnect));
        let parsed = DenyPublish::deserialize("Disconnect".into_deserializer());
        assert!(Result::<_, Error>::is_err(&parsed));
    }
}
