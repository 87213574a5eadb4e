//! A connection's writer: drains the bounded outbound queue, encodes
//! everything queued into one buffer and writes it with one system call per
//! wake-up.
//!
//! Batching is the point. Under load a subscriber's queue holds many messages
//! each time the writer wakes, and writing them together turns a system call
//! per message (what caps Mosquitto on small machines) into one per batch.
//! Deliveries arrive as `Arc<Message>` plus per-delivery fields and are
//! encoded here, on the subscriber's task, so the publisher's task only routes.
//!
//! Topic aliases towards the client (MQTT 5) live here too, since they are a
//! property of the byte stream: the first `Topic Alias Maximum` distinct
//! topics a client receives get an alias; the first PUBLISH on such a topic
//! carries topic and alias, later ones only the alias, which saves the topic's
//! bytes on every message of a chatty sensor.
//!
//! After each batch the writer pumps the session queue: QoS 1/2 messages that
//! found the outbound queue full wait there, and the writer having made room
//! is what lets them move.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use agora_mqtt::{
    ByteString, Packet, Properties, Protocol, PublishRef, QoS, encode, encode_publish, publish_len,
};
use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::broker::Inner;
use crate::session::{Delivery, Outbound, Session};

/// Most queue entries taken per wake-up; bounds the buffer a batch can grow to.
const BATCH: usize = 256;

/// A buffer grown beyond this by a burst of large messages is given back.
const KEEP_BUFFER: usize = 256 * 1024;

/// What the writer knows about its client.
pub(crate) struct Peer {
    /// Protocol level of the connection.
    pub(crate) protocol: Protocol,
    /// The client's Topic Alias Maximum (MQTT 5; 0 = no aliases).
    pub(crate) topic_alias_maximum: u16,
    /// The client's Maximum Packet Size, which an alias must not make us exceed.
    pub(crate) max_packet: Option<usize>,
}

/// Outbound topic aliases of one connection.
struct Aliases {
    max: u16,
    by_topic: HashMap<ByteString, u16>,
}

impl Aliases {
    /// The alias to use for `topic` and whether the client already knows it.
    fn lookup(&mut self, topic: &ByteString) -> Option<(u16, bool)> {
        if self.max == 0 {
            return None;
        }
        if let Some(&a) = self.by_topic.get(topic) {
            return Some((a, true));
        }
        let next = u16::try_from(self.by_topic.len() + 1).ok()?;
        if next > self.max {
            return None;
        }
        self.by_topic.insert(topic.clone(), next);
        Some((next, false))
    }
}

/// Writes until the queue closes or a [`Outbound::Close`] is met, then shuts
/// the stream down. Cancels `done` when it stops, so the reader learns that
/// the peer can no longer be written to.
pub(crate) async fn run<W>(
    mut w: W,
    mut rx: mpsc::Receiver<Outbound>,
    session: Arc<Session>,
    peer: Peer,
    inner: Arc<Inner>,
    done: CancellationToken,
) where
    W: AsyncWrite + Unpin,
{
    let _done = done.drop_guard();
    let protocol = peer.protocol;
    let mut aliases = Aliases {
        max: if protocol == Protocol::V5 {
            peer.topic_alias_maximum
        } else {
            0
        },
        by_topic: HashMap::new(),
    };
    // Empty until the first packet: `recv_many` grows it as needed (up to
    // BATCH), so an idle connection holds no batch at all. Pre-allocating
    // BATCH slots cost ~8 KiB per connection, most of an idle one's memory.
    let mut batch = Vec::new();
    // Grown by the encoder to what a batch needs, so an idle connection holds none.
    let mut buf = BytesMut::new();
    loop {
        if rx.recv_many(&mut batch, BATCH).await == 0 {
            break;
        }
        let now = Instant::now();
        let mut closing = false;
        let mut published = 0u64;
        for item in batch.drain(..) {
            if closing {
                continue;
            }
            let encoded = match item {
                Outbound::Publish(d) => {
                    published += 1;
                    let mut alias = aliases.lookup(&d.msg.topic);
                    if let (Some((a, false)), Some(max)) = (alias, peer.max_packet) {
                        // Setting an alias adds its property to this packet;
                        // send it plainly if that would cross the client's limit.
                        let mut r = publish_ref(&d, &d.msg.properties, None);
                        r.topic_alias = Some(a);
                        if publish_len(&r, protocol) > max {
                            alias = None;
                            aliases.by_topic.remove(&d.msg.topic);
                        }
                    }
                    encode_delivery(&d, protocol, now, alias, &mut buf)
                }
                Outbound::Ack(kind, id, reason) => {
                    encode(&kind.packet(id, reason), protocol, &mut buf)
                }
                Outbound::Packet(p) => encode(&p, protocol, &mut buf),
                Outbound::Close(disconnect) => {
                    closing = true;
                    match disconnect {
                        // 3.1.1 has no server DISCONNECT: closing the stream is the message.
                        Some(d) if protocol == Protocol::V5 => {
                            encode(&Packet::Disconnect(*d), protocol, &mut buf)
                        }
                        _ => Ok(()),
                    }
                }
            };
            if let Err(e) = encoded {
                // Only our own packets are encoded here, so this is a bug, not
                // the peer's doing: log it and skip the packet.
                tracing::error!(error = %e, "cannot encode an outbound packet");
            }
        }
        if !buf.is_empty() {
            let written = w.write_all(&buf).await;
            let flushed = match written {
                Ok(()) => w.flush().await,
                Err(e) => Err(e),
            };
            if let Err(e) = flushed {
                tracing::debug!(error = %e, "write failed; closing");
                return;
            }
            inner.stats.bytes_out(buf.len());
            inner.stats.messages_out(published);
            buf.clear();
            if buf.capacity() > KEEP_BUFFER {
                buf = BytesMut::new();
            }
        }
        if closing {
            break;
        }
        let mut state = session.state.lock();
        if state.has_backlog() {
            state.pump(&inner.ctx());
        }
    }
    let _ = w.shutdown().await;
}

/// The PUBLISH fields of a delivery, with the properties to send and the
/// topic alias (and whether the client knows it already, so the topic can be
/// left out).
fn publish_ref<'a>(
    d: &'a Delivery,
    properties: &'a Properties,
    alias: Option<(u16, bool)>,
) -> PublishRef<'a> {
    let topic: &str = match alias {
        Some((_, true)) => "",
        _ => &d.msg.topic,
    };
    PublishRef {
        dup: d.dup,
        qos: d.qos,
        retain: d.retain,
        topic,
        packet_id: d.packet_id,
        properties,
        subscription_identifiers: &d.identifiers,
        topic_alias: alias.map(|(a, _)| a),
        payload: &d.msg.payload,
    }
}

/// Encodes one delivery. A message with an expiry is sent with the time it has
/// left ([MQTT-3.3.2-6]), which costs a copy of its properties; others are
/// encoded straight from the shared message.
pub(crate) fn encode_delivery(
    d: &Delivery,
    protocol: Protocol,
    now: Instant,
    alias: Option<(u16, bool)>,
    out: &mut BytesMut,
) -> Result<(), agora_mqtt::EncodeError> {
    match d.msg.expires_at {
        Some(at) if protocol == Protocol::V5 => {
            let left = at.saturating_duration_since(now);
            // Round up, and never announce 0 (which would read as "expired")
            // for a message that was still alive when it was queued.
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            let properties = Properties {
                message_expiry_interval: Some(u32::try_from(secs.max(1)).unwrap_or(u32::MAX)),
                ..d.msg.properties.clone()
            };
            encode_publish(&publish_ref(d, &properties, alias), protocol, out)
        }
        _ => encode_publish(&publish_ref(d, &d.msg.properties, alias), protocol, out),
    }
}

/// The encoded size of a delivery, for the client's Maximum Packet Size. The
/// packet id may not be assigned yet; it takes two bytes either way.
pub(crate) fn delivery_len(d: &Delivery, protocol: Protocol) -> usize {
    let mut r = publish_ref(d, &d.msg.properties, None);
    if r.qos != QoS::AtMostOnce && r.packet_id.is_none() {
        r.packet_id = Some(1);
    }
    publish_len(&r, protocol)
}
