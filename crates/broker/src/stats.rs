//! Broker counters: plain relaxed atomics bumped on the hot path, read as a
//! [`StatsSnapshot`] by `$SYS` publishing, `/metrics` and tests.
//!
//! Every message the broker does not deliver is counted under a
//! [`DropReason`]: the full-queue policy drops QoS 0 messages on purpose, and a
//! counter is what turns that from silent loss into an observable decision.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a message (or a connection) was dropped instead of delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A QoS 0 delivery found the connection's outbound queue full.
    OutboundQueueFull,
    /// A QoS 0 message for a session that is not connected: only QoS 1/2
    /// messages are queued for offline sessions (see `session.rs`).
    OfflineQos0,
    /// A session queue was full (`max_queued_messages`): the new message was refused.
    SessionQueueFull,
    /// A queued or in-flight message expired (Message Expiry Interval).
    Expired,
    /// The packet would exceed the client's Maximum Packet Size.
    PacketTooLarge,
    /// `authorize_delivery` refused the delivery.
    DeliveryDenied,
    /// A connection was refused because `max_connections` were open.
    ConnectionLimit,
}

impl DropReason {
    /// Every reason, in the order [`StatsSnapshot::drops`] lists them.
    pub const ALL: [DropReason; 7] = [
        DropReason::OutboundQueueFull,
        DropReason::OfflineQos0,
        DropReason::SessionQueueFull,
        DropReason::Expired,
        DropReason::PacketTooLarge,
        DropReason::DeliveryDenied,
        DropReason::ConnectionLimit,
    ];

    /// A stable snake_case name for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::OutboundQueueFull => "outbound_queue_full",
            DropReason::OfflineQos0 => "offline_qos0",
            DropReason::SessionQueueFull => "session_queue_full",
            DropReason::Expired => "expired",
            DropReason::PacketTooLarge => "packet_too_large",
            DropReason::DeliveryDenied => "delivery_denied",
            DropReason::ConnectionLimit => "connection_limit",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A limit of [`BrokerConfig`](crate::BrokerConfig) that a client ran into
/// (SPEC §9: each one gives its MQTT 5 reason code and a counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// A packet larger than `max_packet_size` (0x95).
    PacketTooLarge,
    /// More unacknowledged QoS 2 PUBLISHes than our Receive Maximum (0x93).
    ReceiveMaximum,
    /// More subscriptions than `max_subscriptions` (0x97).
    Subscriptions,
    /// A topic name or filter longer than `max_topic_len` or deeper than
    /// `max_topic_levels` (0x90 / 0x8F).
    Topic,
    /// A shared subscription while they are disabled (0x9E).
    SharedSubscriptions,
    /// A topic alias of 0, above our Topic Alias Maximum, or unknown (0x94 / 0x82).
    TopicAlias,
    /// QoS or retain beyond what the broker offers (0x9B / 0x9A).
    QosOrRetain,
    /// No CONNECT (or no authentication result) within `connect_timeout`.
    ConnectTimeout,
    /// No packet within 1.5 × keep-alive (0x8D).
    KeepAlive,
    /// A connection published faster than `max_publish_rate` and was slowed down.
    PublishRate,
}

impl Limit {
    /// Every limit, in the order [`StatsSnapshot::limits`] lists them.
    pub const ALL: [Limit; 10] = [
        Limit::PacketTooLarge,
        Limit::ReceiveMaximum,
        Limit::Subscriptions,
        Limit::Topic,
        Limit::SharedSubscriptions,
        Limit::TopicAlias,
        Limit::QosOrRetain,
        Limit::ConnectTimeout,
        Limit::KeepAlive,
        Limit::PublishRate,
    ];

    /// A stable snake_case name for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Limit::PacketTooLarge => "packet_too_large",
            Limit::ReceiveMaximum => "receive_maximum",
            Limit::Subscriptions => "subscriptions",
            Limit::Topic => "topic",
            Limit::SharedSubscriptions => "shared_subscriptions",
            Limit::TopicAlias => "topic_alias",
            Limit::QosOrRetain => "qos_or_retain",
            Limit::ConnectTimeout => "connect_timeout",
            Limit::KeepAlive => "keep_alive",
            Limit::PublishRate => "publish_rate",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Live counters of one broker. All updates are `Relaxed`: they are statistics,
/// not synchronisation.
#[derive(Debug, Default)]
pub struct Stats {
    connections_current: AtomicU64,
    connections_total: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    drops: [AtomicU64; DropReason::ALL.len()],
    limits: [AtomicU64; Limit::ALL.len()],
    auth_failures: AtomicU64,
    publish_denied: AtomicU64,
    subscribe_denied: AtomicU64,
    protocol_errors: AtomicU64,
}

/// A point-in-time copy of [`Stats`] (plus gauges the broker adds when asked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Connections open now (after CONNACK).
    pub connections_current: u64,
    /// Connections accepted (after CONNACK) since start.
    pub connections_total: u64,
    /// PUBLISH packets received from clients (including refused ones).
    pub messages_in: u64,
    /// PUBLISH packets sent to clients (including re-sends).
    pub messages_out: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Drops per reason, in [`DropReason::ALL`] order.
    pub drops: Vec<(DropReason, u64)>,
    /// Limit hits per limit, in [`Limit::ALL`] order.
    pub limits: Vec<(Limit, u64)>,
    /// CONNECTs refused by the authoriser (or for a refused will).
    pub auth_failures: u64,
    /// PUBLISHes refused by `authorize_publish`.
    pub publish_denied: u64,
    /// SUBSCRIBE filters refused by `authorize_subscribe`.
    pub subscribe_denied: u64,
    /// Connections closed for a malformed packet or protocol error.
    pub protocol_errors: u64,
    /// Sessions known (connected or stored).
    pub sessions: u64,
    /// Subscriptions in the routing table.
    pub subscriptions: u64,
    /// Retained messages stored.
    pub retained: u64,
    /// Seconds since the broker was created.
    pub uptime_secs: u64,
}

impl StatsSnapshot {
    /// The drop count for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// The hit count for one limit.
    pub fn limit_hits(&self, limit: Limit) -> u64 {
        self.limits
            .iter()
            .find(|(l, _)| *l == limit)
            .map_or(0, |(_, n)| *n)
    }
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn connected(&self) {
        bump(&self.connections_current, 1);
        bump(&self.connections_total, 1);
    }

    pub(crate) fn disconnected(&self) {
        self.connections_current.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn message_in(&self) {
        bump(&self.messages_in, 1);
    }

    pub(crate) fn messages_out(&self, n: u64) {
        bump(&self.messages_out, n);
    }

    pub(crate) fn bytes_in(&self, n: usize) {
        bump(&self.bytes_in, n as u64);
    }

    pub(crate) fn bytes_out(&self, n: usize) {
        bump(&self.bytes_out, n as u64);
    }

    pub(crate) fn dropped(&self, reason: DropReason) {
        bump(&self.drops[reason.index()], 1);
    }

    pub(crate) fn limit(&self, limit: Limit) {
        bump(&self.limits[limit.index()], 1);
    }

    pub(crate) fn auth_failure(&self) {
        bump(&self.auth_failures, 1);
    }

    pub(crate) fn publish_denied(&self) {
        bump(&self.publish_denied, 1);
    }

    pub(crate) fn subscribe_denied(&self) {
        bump(&self.subscribe_denied, 1);
    }

    pub(crate) fn protocol_error(&self) {
        bump(&self.protocol_errors, 1);
    }

    /// Copies the counters; gauges owned elsewhere (sessions, subscriptions,
    /// retained) are left at zero for the broker to fill in.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            connections_current: get(&self.connections_current),
            connections_total: get(&self.connections_total),
            messages_in: get(&self.messages_in),
            messages_out: get(&self.messages_out),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            drops: DropReason::ALL
                .iter()
                .map(|r| (*r, get(&self.drops[r.index()])))
                .collect(),
            limits: Limit::ALL
                .iter()
                .map(|l| (*l, get(&self.limits[l.index()])))
                .collect(),
            auth_failures: get(&self.auth_failures),
            publish_denied: get(&self.publish_denied),
            subscribe_denied: get(&self.subscribe_denied),
            protocol_errors: get(&self.protocol_errors),
            sessions: 0,
            subscriptions: 0,
            retained: 0,
            uptime_secs: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_counted_per_reason() {
        let s = Stats::default();
        s.dropped(DropReason::OutboundQueueFull);
        s.dropped(DropReason::OutboundQueueFull);
        s.dropped(DropReason::Expired);
        let snap = s.snapshot();
        assert_eq!(snap.dropped(DropReason::OutboundQueueFull), 2);
        assert_eq!(snap.dropped(DropReason::Expired), 1);
        assert_eq!(snap.dropped(DropReason::PacketTooLarge), 0);
    }

    #[test]
    fn drop_reason_order_matches_indices() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{}", r.as_str());
        }
    }

    #[test]
    fn limit_order_matches_indices() {
        for (i, l) in Limit::ALL.iter().enumerate() {
            assert_eq!(l.index(), i, "{}", l.as_str());
        }
    }

    #[test]
    fn connection_gauge_goes_up_and_down() {
        let s = Stats::default();
        s.connected();
        s.connected();
        s.disconnected();
        let snap = s.snapshot();
        assert_eq!((snap.connections_current, snap.connections_total), (1, 2));
    }
}
