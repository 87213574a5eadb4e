//! A connection's output: takes what is queued for the client, encodes it and
//! writes it, driven from the connection's one task (`connection.rs`).
//!
//! Batching is the point. Under load a subscriber's queue holds many messages
//! each time its connection wakes, and writing them together turns a system
//! call per message (what caps Mosquitto on small machines) into one per
//! batch. Deliveries arrive as `Arc<Message>` plus per-delivery fields and are
//! encoded here, on the subscriber's task, so the publisher's task only routes.
//!
//! Memory is the other point: every connection has a writer, and most of them
//! are idle. Output is encoded into a per-thread scratch buffer and written
//! from there; only what the socket does not take at once (a slow reader) is
//! copied into the connection's own buffer. With nothing to send, a writer
//! holds no buffer at all.
//!
//! Backpressure: while unwritten output waits, the connection stops reading
//! its client ([`Writer::backed_up`]), so a client that does not read cannot
//! make the broker buffer answers to what it keeps sending; deliveries from
//! others stop at the bounded outbox and are dropped (QoS 0) or wait in the
//! session queue (QoS 1/2).
//!
//! Topic aliases towards the client (MQTT 5) live here too, since they are a
//! property of the byte stream: the first `Topic Alias Maximum` distinct
//! topics a client receives get an alias; the first PUBLISH on such a topic
//! carries topic and alias, later ones only the alias, which saves the topic's
//! bytes on every message of a chatty sensor.
//!
//! After each batch the writer pumps the session queue: QoS 1/2 messages that
//! found the outbox full wait there, and the writer having made room is what
//! lets them move.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use agora_mqtt::{
    ByteString, Properties, Protocol, PublishRef, QoS, encode, encode_publish, publish_len,
};
use bytes::{Buf, BytesMut};
use tokio::io::AsyncWrite;

use crate::broker::Inner;
use crate::outbox::Outbox;
use crate::session::{Delivery, Outbound, Session};

/// Output encoded per round before it is written: bounds a round's buffer
/// and so what a slow reader can leave behind in its connection.
const ROUND_BYTES: usize = 64 * 1024;

/// Rounds of take-encode-write per call before the writer yields, so that a
/// subscriber with a flood of input does not starve the connection's reading
/// or the other tasks on its thread.
const ROUNDS: usize = 8;

/// A scratch buffer grown beyond this by a burst of large messages is given back.
const KEEP_SCRATCH: usize = 256 * 1024;

thread_local! {
    /// Where output is encoded before it is written (see the module notes).
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

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
    /// Boxed on first use: most connections never get an alias.
    // An empty map is 48 bytes inline; boxed and absent, 8.
    #[allow(clippy::box_collection)]
    by_topic: Option<Box<HashMap<ByteString, u16>>>,
}

impl Aliases {
    /// The alias to use for `topic` and whether the client already knows it.
    fn lookup(&mut self, topic: &ByteString) -> Option<(u16, bool)> {
        if self.max == 0 {
            return None;
        }
        let by_topic = self.by_topic.get_or_insert_default();
        if let Some(&a) = by_topic.get(topic) {
            return Some((a, true));
        }
        let next = u16::try_from(by_topic.len() + 1).ok()?;
        if next > self.max {
            return None;
        }
        by_topic.insert(topic.clone(), next);
        Some((next, false))
    }

    /// Forgets the alias just given to `topic` (it did not fit the packet).
    fn forget(&mut self, topic: &ByteString) {
        if let Some(by_topic) = &mut self.by_topic {
            by_topic.remove(topic);
        }
    }
}

/// The output side of one connection.
pub(crate) struct Writer {
    protocol: Protocol,
    max_packet: Option<usize>,
    aliases: Aliases,
    /// Taken from the outbox or queued by the connection itself; not yet encoded.
    queue: VecDeque<Outbound>,
    /// Encoded output the stream has not taken yet (a client that reads slowly).
    unwritten: BytesMut,
    /// Written since the stream was last flushed.
    unflushed: bool,
}

impl Writer {
    /// A writer with nothing to send.
    pub(crate) fn new(peer: Peer) -> Writer {
        let max = if peer.protocol == Protocol::V5 {
            peer.topic_alias_maximum
        } else {
            0
        };
        Writer {
            protocol: peer.protocol,
            max_packet: peer.max_packet,
            aliases: Aliases {
                max,
                by_topic: None,
            },
            queue: VecDeque::new(),
            unwritten: BytesMut::new(),
            unflushed: false,
        }
    }

    /// Queues one of the connection's own packets, behind everything queued
    /// before it (a SUBACK thus precedes the retained messages it lets through).
    pub(crate) fn push(&mut self, o: Outbound) {
        self.queue.push_back(o);
    }

    /// Moves what the outbox holds behind what is queued, so that answers
    /// pushed next go out after it: output keeps the order in which it was
    /// queued (the CONNACK before any answer to packets that came with the
    /// CONNECT, a delivery before a later acknowledgement).
    pub(crate) fn catch_up(&mut self, outbox: &Outbox) {
        outbox.take(&mut self.queue);
    }

    /// True while output waits for the client to read: the connection then
    /// stops reading from it.
    pub(crate) fn backed_up(&self) -> bool {
        !self.unwritten.is_empty()
    }

    /// Writes all it can now: what is left from before, then its own queue,
    /// then what the outbox holds (if given; the caller has registered its
    /// waker with it). Afterwards a wake-up is registered for room in the
    /// stream if it waits for that. An error means the stream is broken.
    pub(crate) fn send<S: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
        outbox: Option<&Outbox>,
        session: &Session,
        inner: &Inner,
    ) -> io::Result<()> {
        for _ in 0..ROUNDS {
            if !self.unwritten.is_empty() {
                match poll_write_some(cx, io, &self.unwritten)? {
                    Poll::Ready(n) => {
                        inner.stats.bytes_out(n);
                        self.unwritten.advance(n);
                        self.unflushed = true;
                        continue;
                    }
                    Poll::Pending => return Ok(()),
                }
            }
            if self.queue.is_empty()
                && let Some(outbox) = outbox
            {
                // The connection registered its waker before calling.
                self.catch_up(outbox);
            }
            if self.queue.is_empty() {
                if self.unflushed {
                    match Pin::new(&mut *io).poll_flush(cx) {
                        Poll::Ready(Ok(())) => self.unflushed = false,
                        Poll::Ready(Err(e)) => return Err(e),
                        Poll::Pending => return Ok(()),
                    }
                }
                // Idle: hold no memory until there is something to send.
                self.queue = VecDeque::new();
                self.unwritten = BytesMut::new();
                return Ok(());
            }
            SCRATCH.with_borrow_mut(|buf| self.write_round(cx, io, buf, inner))?;
            self.unflushed = true;
            if outbox.is_some() {
                let mut state = session.state.lock();
                if state.has_backlog() {
                    state.pump(&inner.ctx());
                }
            }
        }
        // More to do than a fair share: come back after the others.
        cx.waker().wake_by_ref();
        Ok(())
    }

    /// Writes out everything queued and flushes, taking nothing new: the
    /// end of a connection. Ready once all of it is out (or the stream broke).
    pub(crate) fn poll_drain<S: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
        session: &Session,
        inner: &Inner,
    ) -> Poll<io::Result<()>> {
        self.send(cx, io, None, session, inner)?;
        if self.queue.is_empty() && self.unwritten.is_empty() && !self.unflushed {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Encodes queued items into `buf` (up to [`ROUND_BYTES`]), writes as
    /// much as the stream takes, and keeps the rest in `unwritten`.
    fn write_round<S: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
        buf: &mut BytesMut,
        inner: &Inner,
    ) -> io::Result<()> {
        buf.clear();
        let published = self.encode_round(buf);
        inner.stats.messages_out(published);
        let mut written = 0;
        let result = loop {
            if written == buf.len() {
                break Ok(());
            }
            match poll_write_some(cx, io, &buf[written..]) {
                Ok(Poll::Ready(n)) => written += n,
                Ok(Poll::Pending) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        inner.stats.bytes_out(written);
        if result.is_ok() && written < buf.len() {
            self.unwritten.extend_from_slice(&buf[written..]);
        }
        buf.clear();
        if buf.capacity() > KEEP_SCRATCH {
            *buf = BytesMut::new();
        }
        result
    }

    /// Encodes from the queue into `buf` until it is empty or the round is
    /// full; returns how many application messages it encoded.
    fn encode_round(&mut self, buf: &mut BytesMut) -> u64 {
        let protocol = self.protocol;
        let now = Instant::now();
        let mut published = 0u64;
        while buf.len() < ROUND_BYTES {
            let Some(item) = self.queue.pop_front() else {
                break;
            };
            let encoded = match item {
                Outbound::Publish(d) => {
                    published += 1;
                    let mut alias = self.aliases.lookup(&d.msg.topic);
                    if let (Some((a, false)), Some(max)) = (alias, self.max_packet) {
                        // Setting an alias adds its property to this packet;
                        // send it plainly if that would cross the client's limit.
                        let mut r = publish_ref(&d, &d.msg.properties, None);
                        r.topic_alias = Some(a);
                        if publish_len(&r, protocol) > max {
                            alias = None;
                            self.aliases.forget(&d.msg.topic);
                        }
                    }
                    encode_delivery(&d, protocol, now, alias, buf)
                }
                Outbound::Ack(kind, id, reason) => encode(&kind.packet(id, reason), protocol, buf),
                Outbound::Packet(p) => encode(&p, protocol, buf),
            };
            if let Err(e) = encoded {
                // Only our own packets are encoded here, so this is a bug, not
                // the peer's doing: log it and skip the packet.
                tracing::error!(error = %e, "cannot encode an outbound packet");
            }
        }
        published
    }
}

/// One `poll_write`; a stream that takes nothing is broken.
fn poll_write_some<S: AsyncWrite + Unpin>(
    cx: &mut Context<'_>,
    io: &mut S,
    data: &[u8],
) -> io::Result<Poll<usize>> {
    match Pin::new(io).poll_write(cx, data) {
        Poll::Ready(Ok(0)) => Err(io::ErrorKind::WriteZero.into()),
        Poll::Ready(Ok(n)) => Ok(Poll::Ready(n)),
        Poll::Ready(Err(e)) => Err(e),
        Poll::Pending => Ok(Poll::Pending),
    }
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
