//! Retained messages: the last message published with RETAIN on each topic,
//! kept in memory and handed to every new matching subscription.
//!
//! A PUBLISH with RETAIN and an empty payload deletes the topic's retained
//! message ([MQTT-3.3.1-10]); any other replaces it ([MQTT-3.3.1-5]). Expired
//! messages (Message Expiry Interval) are never returned and are removed when
//! met.
//!
//! Lookups by a filter without wildcards are one hash lookup. A wildcard
//! filter scans every retained topic with `agora_mqtt::topic::matches`: new
//! subscriptions are rare next to publishes, and a marketplace keeps about one
//! retained message per product, so a scan of a flat map beats maintaining a
//! second trie. If retained topics ever number in the millions this is the
//! place to index them by first level.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use agora_mqtt::ByteString;
use agora_mqtt::topic::matches;

use crate::Message;

/// The retained message of every topic that has one.
#[derive(Debug, Default)]
pub struct RetainedStore {
    by_topic: HashMap<ByteString, Arc<Message>>,
}

impl RetainedStore {
    /// An empty store.
    pub fn new() -> RetainedStore {
        RetainedStore::default()
    }

    /// Number of topics with a retained message (expired ones included until
    /// they are next met).
    pub fn len(&self) -> usize {
        self.by_topic.len()
    }

    /// Whether no topic has a retained message.
    pub fn is_empty(&self) -> bool {
        self.by_topic.is_empty()
    }

    /// Stores `msg` as its topic's retained message, or deletes the topic's
    /// retained message if the payload is empty.
    pub fn set(&mut self, msg: Arc<Message>) {
        if msg.payload.is_empty() {
            self.by_topic.remove(&msg.topic);
        } else {
            self.by_topic.insert(msg.topic.clone(), msg);
        }
    }

    /// The unexpired retained messages whose topic `filter` matches (a valid,
    /// non-shared filter), in no particular order. Expired ones met on the way
    /// are removed.
    pub fn matching(&mut self, filter: &str, now: Instant) -> Vec<Arc<Message>> {
        let expired = |m: &Message| m.expires_at.is_some_and(|at| at <= now);
        let mut out = Vec::new();
        if !filter.contains(['+', '#']) {
            if let Some(m) = self.by_topic.get(filter) {
                if expired(m) {
                    self.by_topic.remove(filter);
                } else {
                    out.push(Arc::clone(m));
                }
            }
            return out;
        }
        let mut stale = Vec::new();
        for (topic, m) in &self.by_topic {
            if !matches(filter, topic) {
                continue;
            }
            if expired(m) {
                stale.push(topic.clone());
            } else {
                out.push(Arc::clone(m));
            }
        }
        for topic in stale {
            self.by_topic.remove(&topic);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use agora_mqtt::{Properties, QoS};
    use bytes::Bytes;

    use super::*;

    fn msg(topic: &'static str, payload: &'static [u8]) -> Arc<Message> {
        Arc::new(Message {
            topic: ByteString::from_static(topic),
            payload: Bytes::from_static(payload),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Properties::default(),
            expires_at: None,
            publisher: None,
        })
    }

    fn payloads(mut v: Vec<Arc<Message>>) -> Vec<Bytes> {
        v.sort_by(|a, b| a.topic.cmp(&b.topic));
        v.into_iter().map(|m| m.payload.clone()).collect()
    }

    #[test]
    fn a_new_retained_message_replaces_the_old_and_an_empty_one_deletes_it() {
        let mut store = RetainedStore::new();
        let now = Instant::now();
        store.set(msg("a/b", b"1"));
        store.set(msg("a/b", b"2"));
        assert_eq!(
            payloads(store.matching("a/b", now)),
            vec![Bytes::from_static(b"2")]
        );
        store.set(msg("a/b", b""));
        assert!(store.matching("a/b", now).is_empty());
        assert!(store.is_empty());
    }

    #[test]
    fn wildcard_filters_find_every_match_but_not_dollar_topics() {
        let mut store = RetainedStore::new();
        let now = Instant::now();
        store.set(msg("a/b", b"1"));
        store.set(msg("a/c/d", b"2"));
        store.set(msg("$SYS/x", b"3"));
        assert_eq!(payloads(store.matching("a/+", now)).len(), 1);
        assert_eq!(payloads(store.matching("a/#", now)).len(), 2);
        assert_eq!(payloads(store.matching("#", now)).len(), 2);
        assert_eq!(payloads(store.matching("$SYS/#", now)).len(), 1);
    }

    #[test]
    fn expired_messages_are_not_returned_and_are_removed() {
        let mut store = RetainedStore::new();
        let now = Instant::now();
        let mut m = (*msg("a/b", b"1")).clone();
        m.expires_at = Some(now + Duration::from_secs(5));
        store.set(Arc::new(m));
        assert_eq!(store.matching("a/b", now).len(), 1);
        assert!(
            store
                .matching("a/#", now + Duration::from_secs(6))
                .is_empty()
        );
        assert!(store.is_empty());
    }
}
