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
//! After each batch the writer pumps the session queue: QoS 1/2 messages that
//! found the outbound queue full wait there, and the writer having made room
//! is what lets them move.

use std::sync::Arc;
use std::time::Instant;

use agora_mqtt::{
    Packet, Properties, Protocol, PublishRef, QoS, encode, encode_publish, publish_len,
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

/// Writes until the queue closes or a [`Outbound::Close`] is met, then shuts
/// the stream down. Cancels `done` when it stops, so the reader learns that
/// the peer can no longer be written to.
pub(crate) async fn run<W>(
    mut w: W,
    mut rx: mpsc::Receiver<Outbound>,
    session: Arc<Session>,
    protocol: Protocol,
    inner: Arc<Inner>,
    done: CancellationToken,
) where
    W: AsyncWrite + Unpin,
{
    let _done = done.drop_guard();
    let mut batch = Vec::with_capacity(BATCH);
    let mut buf = BytesMut::with_capacity(8 * 1024);
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
                    encode_delivery(&d, protocol, now, &mut buf)
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
                buf = BytesMut::with_capacity(8 * 1024);
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

/// The PUBLISH fields of a delivery, with the properties to send.
fn publish_ref<'a>(d: &'a Delivery, properties: &'a Properties) -> PublishRef<'a> {
    PublishRef {
        dup: d.dup,
        qos: d.qos,
        retain: d.retain,
        topic: &d.msg.topic,
        packet_id: d.packet_id,
        properties,
        subscription_identifiers: &d.identifiers,
        topic_alias: None,
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
            encode_publish(&publish_ref(d, &properties), protocol, out)
        }
        _ => encode_publish(&publish_ref(d, &d.msg.properties), protocol, out),
    }
}

/// The encoded size of a delivery, for the client's Maximum Packet Size. The
/// packet id may not be assigned yet; it takes two bytes either way.
pub(crate) fn delivery_len(d: &Delivery, protocol: Protocol) -> usize {
    let mut r = publish_ref(d, &d.msg.properties);
    if r.qos != QoS::AtMostOnce && r.packet_id.is_none() {
        r.packet_id = Some(1);
    }
    publish_len(&r, protocol)
}
