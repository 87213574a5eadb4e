//! `$SYS/broker/...`: the broker's own statistics, published as retained
//! messages every `sys_interval` (and once at start), in the topic layout
//! Mosquitto made familiar so existing dashboards read them.
//!
//! They go through the ordinary publish path, so who may read them is the
//! authoriser's decision (`authorize_subscribe` / `authorize_delivery`, SPEC
//! §4: admins only), and no client may publish under `$SYS` itself (the
//! connection refuses it). Filters starting with a wildcard never match `$`
//! topics ([MQTT-4.7.2-1]), so a `#` subscriber does not receive them.

use std::sync::Arc;

use agora_mqtt::{ByteString, Properties, QoS};
use bytes::Bytes;

use crate::Message;
use crate::broker::Inner;
use crate::stats::StatsSnapshot;

/// Starts the `$SYS` publisher unless `sys_interval` is `None`.
pub(crate) fn spawn(inner: &Arc<Inner>) {
    let Some(every) = inner.config.sys_interval else {
        return;
    };
    inner.spawn_every(every, publish);
}

/// The `$SYS` topics and their values for one snapshot.
pub(crate) fn topics(s: &StatsSnapshot) -> Vec<(&'static str, String)> {
    let dropped: u64 = s.drops.iter().map(|(_, n)| n).sum();
    vec![
        (
            "$SYS/broker/version",
            format!("agora-broker {}", env!("CARGO_PKG_VERSION")),
        ),
        ("$SYS/broker/uptime", format!("{} seconds", s.uptime_secs)),
        (
            "$SYS/broker/clients/connected",
            s.connections_current.to_string(),
        ),
        ("$SYS/broker/clients/total", s.sessions.to_string()),
        ("$SYS/broker/messages/received", s.messages_in.to_string()),
        ("$SYS/broker/messages/sent", s.messages_out.to_string()),
        ("$SYS/broker/messages/dropped", dropped.to_string()),
        ("$SYS/broker/bytes/received", s.bytes_in.to_string()),
        ("$SYS/broker/bytes/sent", s.bytes_out.to_string()),
        (
            "$SYS/broker/subscriptions/count",
            s.subscriptions.to_string(),
        ),
        (
            "$SYS/broker/retained messages/count",
            s.retained.to_string(),
        ),
    ]
}

fn publish(inner: &Inner) {
    let snapshot = inner.snapshot();
    for (topic, value) in topics(&snapshot) {
        inner.publish(Arc::new(Message {
            topic: ByteString::from_static(topic),
            payload: Bytes::from(value),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Properties::default(),
            expires_at: None,
            publisher: None,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_topics_are_under_sys_broker_and_name_the_version() {
        let t = topics(&StatsSnapshot::default());
        assert!(t.iter().all(|(topic, _)| topic.starts_with("$SYS/broker/")));
        let version = t.iter().find(|(topic, _)| *topic == "$SYS/broker/version");
        assert!(version.is_some_and(|(_, v)| v.starts_with("agora-broker ")));
    }
}
