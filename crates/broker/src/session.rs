//! One session's state and the outbound QoS machinery: subscriptions, the
//! in-flight window, the offline/overflow queue and packet identifiers.
//!
//! A session outlives its connections (persistent sessions), so this state is
//! not owned by the connection task: it sits behind a short `parking_lot`
//! mutex that publishers lock for the time it takes to hand over one delivery,
//! never across an `.await`. Whoever publishes does the delivery work itself
//! (check the connection's bounded outbound queue has room, authorise, assign a
//! packet id, queue it: `outbox.rs`) and the connection only encodes and writes.
//!
//! Policies, in one place:
//! - QoS 0 to a connected session goes straight to the outbound queue; if that
//!   queue is full it is dropped and counted ([`DropReason::OutboundQueueFull`]).
//!   QoS 0 to an offline session is dropped and counted
//!   ([`DropReason::OfflineQos0`]): MQTT allows queueing it, but a device
//!   reconnecting after an hour wants the next reading, not a backlog of stale
//!   ones that crowd out the QoS 1/2 messages the queue exists for.
//! - QoS 1/2 is sent at once while the in-flight window (the client's Receive
//!   Maximum, capped by `max_inflight`) has room and the outbound queue has a
//!   free slot; otherwise it waits in the session queue, in order, up to
//!   `max_queued_messages`, beyond which new messages are refused and counted
//!   ([`DropReason::SessionQueueFull`]). Acknowledgements, the connection writing
//!   out its queue, and reconnects pump the queue.
//! - Every hand-over to the connection re-checks `authorize_delivery` with the
//!   kind of delivery it is (live, queued, retry), exactly once per send, so a
//!   meter counts each delivery once and a revoked reader gets nothing more.
//! - Expired messages (Message Expiry Interval) are dropped when met.
//! - With persistence on, a stored session's QoS 1/2 deliveries get a store
//!   sequence number when offered; the ones that enter the queue are written
//!   at once (and the publisher's acknowledgement waits for that write), the
//!   ones sent straight to the connection only if they are still unacknowledged
//!   when it closes. Each leaves the store at PUBACK (QoS 1) or PUBREC (QoS 2),
//!   or when it is dropped (`persist.rs` has the whole policy).

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime};

use agora_mqtt::{ByteString, Packet, Protocol, PubResponse, QoS, ReasonCode, Will};
use parking_lot::Mutex;

use crate::auth::{Authorizer, DeliveryKind, Identity};
use crate::outbox::{NoRoom, Outbox};
use crate::persist::{Op, Persister, QueuedMessage, SessionRecord};
use crate::router::Subscription;
use crate::stats::{DropReason, Stats};
use crate::{Message, SessionId};

/// One message on its way to one subscriber: the shared message plus what is
/// particular to this delivery.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// The message, shared by every delivery of it.
    pub(crate) msg: Arc<Message>,
    /// QoS of this delivery: the lower of the message's and the subscription's.
    pub(crate) qos: QoS,
    /// RETAIN flag to send.
    pub(crate) retain: bool,
    /// Subscription identifiers of the matching subscriptions (MQTT 5).
    pub(crate) identifiers: Vec<u32>,
    /// Packet identifier, assigned when a QoS 1/2 delivery enters the window.
    pub(crate) packet_id: Option<u16>,
    /// DUP flag: set on re-sends.
    pub(crate) dup: bool,
    /// Sequence number in the session's stored queue; 0 when the session is
    /// not stored (or the delivery is QoS 0).
    pub(crate) store_seq: u64,
    /// Whether it has been written to the store under `store_seq`.
    pub(crate) on_disk: bool,
}

impl Delivery {
    /// A delivery not yet in the window (no packet id, not a re-send).
    pub(crate) fn new(
        msg: Arc<Message>,
        qos: QoS,
        retain: bool,
        identifiers: Vec<u32>,
    ) -> Delivery {
        Delivery {
            msg,
            qos,
            retain,
            identifiers,
            packet_id: None,
            dup: false,
            store_seq: 0,
            on_disk: false,
        }
    }

    fn expired(&self, now: Instant) -> bool {
        self.msg.expires_at.is_some_and(|at| at <= now)
    }
}

/// What a connection's writer is asked to send.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// An application message.
    Publish(Delivery),
    /// A PUBACK, PUBREC, PUBREL or PUBCOMP without properties: the common
    /// acknowledgements, kept small so the queue's slots stay small.
    Ack(AckKind, u16, ReasonCode),
    /// Any other packet (CONNACK, SUBACK, PINGRESP, DISCONNECT,
    /// acknowledgements with a reason string, …). Boxed: properties make a
    /// packet hundreds of bytes.
    Packet(Box<Packet>),
}

/// Which acknowledgement an [`Outbound::Ack`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckKind {
    /// QoS 1 acknowledgement.
    Ack,
    /// QoS 2, first acknowledgement.
    Rec,
    /// QoS 2, release.
    Rel,
    /// QoS 2, completion.
    Comp,
}

impl AckKind {
    /// The packet to encode.
    pub(crate) fn packet(self, packet_id: u16, reason: ReasonCode) -> Packet {
        let r = PubResponse {
            packet_id,
            reason,
            properties: Default::default(),
        };
        match self {
            AckKind::Ack => Packet::PubAck(r),
            AckKind::Rec => Packet::PubRec(r),
            AckKind::Rel => Packet::PubRel(r),
            AckKind::Comp => Packet::PubComp(r),
        }
    }
}

/// What a connection's reader is told by others (take-over, control, shutdown).
#[derive(Debug, Clone)]
pub(crate) enum Command {
    /// Close the connection with this reason (MQTT 5 DISCONNECT carries it).
    Close {
        /// Reason code for the DISCONNECT.
        reason: ReasonCode,
        /// Reason string for the DISCONNECT.
        why: String,
        /// True when the session the connection served has ended (taken over
        /// with Clean Start, or discarded): the will is then due at once.
        session_ended: bool,
        /// Whether the will is published (not on broker shutdown: the client
        /// is not at fault and no one would receive it).
        will: bool,
    },
}

impl Command {
    /// A close for which the client's will is due, as for any close not of
    /// the client's asking.
    pub(crate) fn close(reason: ReasonCode, why: impl Into<String>) -> Command {
        Command::Close {
            reason,
            why: why.into(),
            session_ended: false,
            will: true,
        }
    }
}

/// The connection currently serving a session.
#[derive(Debug)]
pub(crate) struct Link {
    /// Broker-wide unique connection number; tells a stale connection from the current one.
    pub(crate) conn_id: u64,
    /// The connection's bounded outbound queue, which also carries the
    /// command that closes it.
    pub(crate) outbox: Arc<Outbox>,
    /// Protocol level of the connection.
    pub(crate) protocol: Protocol,
    /// In-flight window: the client's Receive Maximum capped by `max_inflight`.
    pub(crate) window: usize,
    /// The client's Maximum Packet Size, if it set one.
    pub(crate) max_packet: Option<usize>,
}

impl Link {
    /// Tells the connection to close; false if it has been told already (or is gone).
    pub(crate) fn tell(&mut self, cmd: Command) -> bool {
        self.outbox.tell(cmd)
    }
}

impl Drop for Link {
    /// A link dropped without a word (the session replaced or ended) still
    /// closes its connection, which would otherwise serve no session. Its
    /// own close has closed the outbox first, and a told connection keeps
    /// the first command, so this is a no-op in every orderly case.
    fn drop(&mut self) {
        if self.outbox.room() == Err(NoRoom::Closed) {
            return;
        }
        self.outbox.tell(Command::close(
            ReasonCode::SessionTakenOver,
            "session taken over",
        ));
    }
}

/// Where an outbound QoS 1/2 message is in its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Sent,
    /// QoS 2: PUBREC received, PUBREL sent; waiting for PUBCOMP.
    Released,
}

#[derive(Debug)]
struct InFlight {
    delivery: Delivery,
    stage: Stage,
    /// Order of entry into the window, for re-sending in order.
    seq: u64,
}

/// What the broker needs while it hands a delivery over.
pub(crate) struct Ctx<'a> {
    pub(crate) auth: &'a dyn Authorizer,
    pub(crate) stats: &'a Stats,
    pub(crate) max_queued: usize,
    /// Computes the encoded size of a PUBLISH for the client's Maximum Packet Size check.
    pub(crate) publish_len: fn(&Delivery, Protocol) -> usize,
    /// The store's writer, when persistence is on.
    pub(crate) persist: Option<&'a Persister>,
    /// The highest store ticket this hand-over produced (0: none), so that
    /// the publisher knows which commit its acknowledgement waits for.
    pub(crate) ticket: Cell<u64>,
}

impl Ctx<'_> {
    /// Submits a write to the store, if there is one, and notes its ticket.
    pub(crate) fn submit(&self, op: Op) {
        if let Some(p) = self.persist {
            let t = p.submit(op);
            self.ticket.set(self.ticket.get().max(t));
        }
    }
}

/// Outcome of handing one QoS 1/2 delivery to the connection.
enum Send {
    /// Sent (or deliberately dropped: denied, too large).
    Done,
    /// The outbound queue is full: give it back to the session queue.
    Blocked(Delivery),
}

/// Result of an acknowledgement from the client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    /// Nothing to send back.
    None,
    /// Send a PUBREL for this id with this reason (QoS 2, after PUBREC).
    PubRel(u16, ReasonCode),
}

/// The mutable state of a session.
#[derive(Debug)]
pub(crate) struct SessionState {
    /// Who the session belongs to; refreshed at each connect.
    pub(crate) identity: Arc<Identity>,
    /// The connection serving it, if connected.
    pub(crate) link: Option<Link>,
    /// Subscriptions by filter as subscribed (`$share/…` included).
    pub(crate) subscriptions: LazyMap<ByteString, Subscription>,
    /// Inbound QoS 2 packet ids received and routed, awaiting PUBREL.
    pub(crate) inbound_qos2: LazyMap<u16, ()>,
    /// Session Expiry Interval in seconds (capped), applied after a disconnect.
    pub(crate) expiry_secs: u32,
    /// Set when the session is discarded; late callers then leave it alone.
    pub(crate) ended: bool,
    /// Bumped on every attach and detach, so timers armed at a detach can tell
    /// whether the session has been reconnected since.
    pub(crate) generation: u64,
    /// A will waiting for its Will Delay Interval, with the identity to
    /// re-authorise it: published when the delay ends or the session ends,
    /// dropped if the session reconnects first (MQTT 5 §3.1.3.2.2).
    /// Boxed: a will with its properties is hundreds of bytes, and most
    /// sessions never have one waiting.
    pub(crate) pending_will: Option<Box<(Identity, Will)>>,
    /// `Some(id)` while the session is in the store (persistent, with
    /// persistence on): its deliveries are then written there.
    pub(crate) persisted: Option<SessionId>,
    /// Last store sequence number given to a delivery.
    pub(crate) store_seq: u64,
    inflight: LazyMap<u16, InFlight>,
    queue: VecDeque<Delivery>,
    next_id: u16,
    seq: u64,
}

/// A session: its identity key and its state.
#[derive(Debug)]
pub(crate) struct Session {
    /// Broker-wide unique id, used by the router.
    pub(crate) id: SessionId,
    /// User name part of the key.
    pub(crate) username: Arc<str>,
    /// Client identifier part of the key.
    pub(crate) client_id: ByteString,
    /// The state, locked briefly.
    pub(crate) state: Mutex<SessionState>,
    /// Whether a connection serves the session; mirrors `state.link` so that
    /// routing can prefer connected shared-group members without locking.
    pub(crate) connected: AtomicBool,
}

impl Session {
    /// The session as the store keeps it.
    pub(crate) fn record(
        &self,
        state: &SessionState,
        disconnected_at: Option<SystemTime>,
    ) -> SessionRecord {
        SessionRecord {
            id: self.id,
            username: Arc::clone(&self.username),
            client_id: self.client_id.clone(),
            expiry_secs: state.expiry_secs,
            disconnected_at,
            subscriptions: state
                .subscriptions
                .iter()
                .map(|(f, s)| (f.clone(), *s))
                .collect(),
        }
    }

    pub(crate) fn new(
        id: SessionId,
        identity: impl Into<Arc<Identity>>,
        client_id: ByteString,
    ) -> Session {
        let identity = identity.into();
        Session {
            id,
            username: Arc::clone(&identity.username),
            client_id,
            state: Mutex::new(SessionState::new(identity)),
            connected: AtomicBool::new(false),
        }
    }
}

impl SessionState {
    pub(crate) fn new(identity: impl Into<Arc<Identity>>) -> SessionState {
        let identity = identity.into();
        SessionState {
            identity,
            link: None,
            subscriptions: LazyMap::default(),
            inbound_qos2: LazyMap::default(),
            expiry_secs: 0,
            ended: false,
            generation: 0,
            pending_will: None,
            persisted: None,
            store_seq: 0,
            inflight: LazyMap::default(),
            queue: VecDeque::new(),
            next_id: 0,
            seq: 0,
        }
    }

    /// Messages waiting in the session queue.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// QoS 1/2 messages sent and not yet fully acknowledged.
    pub(crate) fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// Hands one delivery (packet id not yet assigned) to the session.
    pub(crate) fn offer(&mut self, mut d: Delivery, kind: DeliveryKind, ctx: &Ctx<'_>) {
        if self.ended {
            return;
        }
        if self.persisted.is_some() && d.qos != QoS::AtMostOnce {
            self.store_seq += 1;
            d.store_seq = self.store_seq;
        }
        if d.expired(Instant::now()) {
            ctx.stats.dropped(DropReason::Expired);
            return;
        }
        let Some(link) = &self.link else {
            if d.qos == QoS::AtMostOnce {
                ctx.stats.dropped(DropReason::OfflineQos0);
            } else {
                self.enqueue(d, ctx);
            }
            return;
        };
        if d.qos == QoS::AtMostOnce {
            if link.outbox.room().is_err() {
                // Full, or closed because the connection is going away: either
                // way a QoS 0 message is not kept.
                ctx.stats.dropped(DropReason::OutboundQueueFull);
                return;
            }
            // Size first: a delivery that cannot be sent must not be
            // authorised, since authorising is where a meter counts it.
            if too_large(link, &d, ctx) || !allowed(&self.identity, &d, kind, ctx) {
                return;
            }
            link.outbox.push(Outbound::Publish(d));
            return;
        }
        if !self.queue.is_empty() || self.inflight.len() >= link.window {
            self.enqueue(d, ctx);
            return;
        }
        if let Send::Blocked(d) = self.send_new(d, kind, ctx) {
            self.queue.push_front(d);
        }
    }

    /// Moves queued messages into the window while it and the outbound queue
    /// have room. Called after acknowledgements, when the writer has drained
    /// its queue, and after a reconnect.
    pub(crate) fn pump(&mut self, ctx: &Ctx<'_>) {
        let Some(link) = &self.link else { return };
        let window = link.window;
        let now = Instant::now();
        while self.inflight.len() < window {
            let Some(d) = self.queue.pop_front() else {
                break;
            };
            if d.expired(now) {
                ctx.stats.dropped(DropReason::Expired);
                forget(self.persisted, &d, ctx);
                continue;
            }
            if let Send::Blocked(d) = self.send_new(d, DeliveryKind::Queued, ctx) {
                self.queue.push_front(d);
                break;
            }
        }
    }

    /// Whether the writer should call [`pump`](SessionState::pump) after a batch.
    pub(crate) fn has_backlog(&self) -> bool {
        !self.queue.is_empty()
            && self
                .link
                .as_ref()
                .is_some_and(|l| self.inflight.len() < l.window)
    }

    fn enqueue(&mut self, mut d: Delivery, ctx: &Ctx<'_>) {
        if self.queue.len() >= ctx.max_queued {
            ctx.stats.dropped(DropReason::SessionQueueFull);
            return;
        }
        self.write(&mut d, ctx);
        self.queue.push_back(d);
    }

    /// Writes a stored session's delivery to the store, once.
    fn write(&self, d: &mut Delivery, ctx: &Ctx<'_>) {
        let Some(session) = self.persisted else {
            return;
        };
        if d.on_disk || d.store_seq == 0 || ctx.persist.is_none() {
            return;
        }
        d.on_disk = true;
        ctx.submit(Op::PutQueued {
            session,
            seq: d.store_seq,
            message: QueuedMessage {
                msg: Arc::clone(&d.msg),
                qos: d.qos,
                retain: d.retain,
                identifiers: d.identifiers.clone(),
            },
        });
    }

    /// At a disconnect: writes the unacknowledged deliveries that went
    /// straight to the connection, so that they survive a crash while the
    /// session is offline. They come back in their order, before the queue.
    pub(crate) fn persist_inflight(&mut self, ctx: &Ctx<'_>) {
        let mut pending: Vec<(u16, Delivery)> = self
            .inflight
            .iter()
            .filter(|(_, e)| e.stage == Stage::Sent && !e.delivery.on_disk)
            .map(|(id, e)| (*id, e.delivery.clone()))
            .collect();
        pending.sort_unstable_by_key(|(_, d)| d.store_seq);
        for (id, mut d) in pending {
            self.write(&mut d, ctx);
            if let Some(e) = self.inflight.get_mut(&id) {
                e.delivery.on_disk = d.on_disk;
            }
        }
    }

    /// Restores a stored message into the queue (start-up).
    pub(crate) fn restore(&mut self, seq: u64, m: QueuedMessage) {
        let mut d = Delivery::new(m.msg, m.qos, m.retain, m.identifiers);
        d.store_seq = seq;
        d.on_disk = true;
        self.store_seq = self.store_seq.max(seq);
        self.queue.push_back(d);
    }

    /// Authorises, assigns a packet id and hands a QoS 1/2 delivery to the
    /// connection. The caller has checked that the window has room.
    fn send_new(&mut self, mut d: Delivery, kind: DeliveryKind, ctx: &Ctx<'_>) -> Send {
        let Some(link) = &self.link else {
            return Send::Blocked(d);
        };
        let open = match link.outbox.room() {
            Ok(()) => true,
            Err(NoRoom::Full) => return Send::Blocked(d),
            // The connection is closing: the message goes into the window as if
            // sent and is re-sent (DUP) when the session next connects.
            Err(NoRoom::Closed) => false,
        };
        if too_large(link, &d, ctx) || !allowed(&self.identity, &d, kind, ctx) {
            forget(self.persisted, &d, ctx);
            return Send::Done;
        }
        let id = alloc_id(&mut self.next_id, &self.inflight);
        d.packet_id = Some(id);
        self.seq += 1;
        let entry = InFlight {
            delivery: d.clone(),
            stage: Stage::Sent,
            seq: self.seq,
        };
        self.inflight.insert(id, entry);
        if open {
            // Closed since `room`: the window keeps it for the re-send, as above.
            link.outbox.push(Outbound::Publish(d));
        }
        Send::Done
    }

    /// PUBACK from the client.
    pub(crate) fn on_puback(&mut self, id: u16, ctx: &Ctx<'_>) {
        if let Some(e) = self.inflight.get(&id)
            && e.delivery.qos == QoS::AtLeastOnce
        {
            if let Some(e) = self.inflight.remove(&id) {
                forget(self.persisted, &e.delivery, ctx);
            }
            self.pump(ctx);
        }
    }

    /// PUBREC from the client: answer with PUBREL, or end the flow on a failure code.
    pub(crate) fn on_pubrec(&mut self, id: u16, reason: ReasonCode, ctx: &Ctx<'_>) -> AckOutcome {
        let persisted = self.persisted;
        match self.inflight.get_mut(&id) {
            Some(e) if e.delivery.qos == QoS::ExactlyOnce => {
                // The client has the message (or refuses it for good): the
                // store needs it no more, only the PUBREL is left to do.
                forget(persisted, &e.delivery, ctx);
                e.delivery.on_disk = false;
                if !reason.is_success() {
                    // MQTT 5 §4.3.3: a PUBREC with a reason code of 0x80 or
                    // above ends the flow; the packet id is free again.
                    self.inflight.remove(&id);
                    self.pump(ctx);
                    return AckOutcome::None;
                }
                if let Some(e) = self.inflight.get_mut(&id) {
                    e.stage = Stage::Released;
                }
                AckOutcome::PubRel(id, ReasonCode::Success)
            }
            _ => AckOutcome::PubRel(id, ReasonCode::PacketIdentifierNotFound),
        }
    }

    /// PUBCOMP from the client.
    pub(crate) fn on_pubcomp(&mut self, id: u16, ctx: &Ctx<'_>) {
        if let Some(e) = self.inflight.get(&id)
            && e.stage == Stage::Released
        {
            self.inflight.remove(&id);
            self.pump(ctx);
        }
    }

    /// What to re-send when the session reconnects: unacknowledged PUBLISHes
    /// with DUP (re-authorised as [`DeliveryKind::Retry`]; a refused one is
    /// dropped from the window) and PUBRELs, in their original order.
    pub(crate) fn resends(&mut self, ctx: &Ctx<'_>) -> Vec<Outbound> {
        let mut entries: Vec<(u64, u16)> =
            self.inflight.iter().map(|(id, e)| (e.seq, *id)).collect();
        entries.sort_unstable();
        let now = Instant::now();
        let mut out = Vec::with_capacity(entries.len());
        for (_, id) in entries {
            let Some(e) = self.inflight.get_mut(&id) else {
                continue;
            };
            match e.stage {
                Stage::Released => out.push(Outbound::Ack(AckKind::Rel, id, ReasonCode::Success)),
                Stage::Sent => {
                    let d = e.delivery.clone();
                    let refused = d.expired(now) || {
                        let ok = ctx.auth.authorize_delivery(
                            &self.identity,
                            &d.msg.topic,
                            d.msg.payload.len(),
                            DeliveryKind::Retry,
                        );
                        !ok
                    };
                    if refused {
                        ctx.stats.dropped(if d.expired(now) {
                            DropReason::Expired
                        } else {
                            DropReason::DeliveryDenied
                        });
                        self.inflight.remove(&id);
                        forget(self.persisted, &d, ctx);
                        continue;
                    }
                    out.push(Outbound::Publish(Delivery { dup: true, ..d }));
                }
            }
        }
        out
    }
}

/// Removes a delivered or dropped delivery of a stored session from the store.
fn forget(persisted: Option<SessionId>, d: &Delivery, ctx: &Ctx<'_>) {
    if let Some(session) = persisted
        && d.on_disk
    {
        ctx.submit(Op::RemoveQueued {
            session,
            seq: d.store_seq,
        });
    }
}

/// Asks the authoriser whether this delivery may go out now, counting a refusal.
fn allowed(who: &Identity, d: &Delivery, kind: DeliveryKind, ctx: &Ctx<'_>) -> bool {
    let ok = ctx
        .auth
        .authorize_delivery(who, &d.msg.topic, d.msg.payload.len(), kind);
    if !ok {
        ctx.stats.dropped(DropReason::DeliveryDenied);
    }
    ok
}

/// A packet identifier not in use by an outbound flow. The window is at most
/// 65,535 wide, so one is always free when the caller has room.
fn alloc_id(next: &mut u16, inflight: &LazyMap<u16, InFlight>) -> u16 {
    loop {
        *next = next.wrapping_add(1);
        if *next == 0 {
            *next = 1;
        }
        if !inflight.contains_key(next) {
            return *next;
        }
    }
}

fn too_large(link: &Link, d: &Delivery, ctx: &Ctx<'_>) -> bool {
    let Some(max) = link.max_packet else {
        return false;
    };
    if (ctx.publish_len)(d, link.protocol) > max {
        // [MQTT-3.1.2-25]: a packet the client cannot take is not sent, and
        // the flow is treated as complete.
        ctx.stats.dropped(DropReason::PacketTooLarge);
        return true;
    }
    false
}

/// A hash map that takes 8 bytes until its first insert, instead of the 48
/// of an empty `HashMap`: a session has three (subscriptions, QoS 2 ids
/// received, deliveries in flight), and an idle connection uses none. Once
/// allocated it stays, so that a window going 1 → 0 → 1 does not allocate
/// per message.
#[derive(Debug)]
#[allow(clippy::box_collection)] // the point: see above
pub(crate) struct LazyMap<K, V>(Option<Box<HashMap<K, V>>>);

impl<K, V> Default for LazyMap<K, V> {
    fn default() -> Self {
        LazyMap(None)
    }
}

impl<K: std::hash::Hash + Eq, V> LazyMap<K, V> {
    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.0.as_ref()?.get(k)
    }

    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.0.as_mut()?.get_mut(k)
    }

    pub(crate) fn contains_key(&self, k: &K) -> bool {
        self.0.as_ref().is_some_and(|m| m.contains_key(k))
    }

    pub(crate) fn insert(&mut self, k: K, v: V) -> Option<V> {
        self.0.get_or_insert_default().insert(k, v)
    }

    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        self.0.as_mut()?.remove(k)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |m| m.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().flat_map(|m| m.iter())
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use agora_mqtt::Properties;
    use bytes::Bytes;

    use super::*;
    use crate::auth::{AuthFuture, ConnectRequest};

    struct Rule(fn(&str) -> bool);

    impl Authorizer for Rule {
        fn authenticate(&self, _req: ConnectRequest) -> AuthFuture<'_> {
            Box::pin(async { Ok(Identity::new("t")) })
        }
        fn authorize_subscribe(&self, _: &Identity, _: &str) -> Result<(), ReasonCode> {
            Ok(())
        }
        fn authorize_publish(
            &self,
            _: &Identity,
            _: &str,
            _: QoS,
            _: bool,
        ) -> Result<(), ReasonCode> {
            Ok(())
        }
        fn authorize_delivery(&self, _: &Identity, topic: &str, _: usize, _: DeliveryKind) -> bool {
            (self.0)(topic)
        }
    }

    fn len_of(d: &Delivery, _: Protocol) -> usize {
        d.msg.payload.len() + d.msg.topic.len() + 4
    }

    fn msg(topic: &'static str, qos: QoS) -> Arc<Message> {
        Arc::new(Message {
            topic: ByteString::from_static(topic),
            payload: Bytes::from_static(b"payload"),
            qos,
            retain: false,
            properties: Properties::default(),
            expires_at: None,
            publisher: None,
        })
    }

    fn d(topic: &'static str, qos: QoS) -> Delivery {
        Delivery::new(msg(topic, qos), qos, false, Vec::new())
    }

    struct Fixture {
        auth: Rule,
        stats: Stats,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                auth: Rule(|t| !t.starts_with("deny")),
                stats: Stats::default(),
            }
        }
        fn ctx(&self, max_queued: usize) -> Ctx<'_> {
            Ctx {
                auth: &self.auth,
                stats: &self.stats,
                max_queued,
                publish_len: len_of,
                persist: None,
                ticket: Cell::new(0),
            }
        }
    }

    fn connect(s: &mut SessionState, window: usize, queue: usize) -> Arc<Outbox> {
        let outbox = Arc::new(Outbox::new(queue));
        s.link = Some(Link {
            conn_id: 1,
            outbox: Arc::clone(&outbox),
            protocol: Protocol::V5,
            window,
            max_packet: None,
        });
        outbox
    }

    fn ids(rx: &mut Arc<Outbox>) -> Vec<(Option<u16>, bool)> {
        let mut out = Vec::new();
        while let Some(o) = rx.try_recv() {
            match o {
                Outbound::Publish(d) => out.push((d.packet_id, d.dup)),
                Outbound::Ack(AckKind::Rel, id, _) => out.push((Some(id), false)),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[test]
    fn a_link_dropped_without_a_word_still_closes_its_connection() {
        let mut s = SessionState::new(Identity::new("u"));
        let outbox = connect(&mut s, 10, 16);
        s.link = None;
        match outbox.command() {
            Some(Command::Close { reason, .. }) => {
                assert_eq!(reason, ReasonCode::SessionTakenOver)
            }
            None => panic!("the connection was not told"),
        }
        // A link told first keeps that command; its drop adds nothing.
        let outbox = connect(&mut s, 10, 16);
        if let Some(link) = s.link.as_mut() {
            assert!(link.tell(Command::close(ReasonCode::AdministrativeAction, "test")));
        }
        s.link = None;
        match outbox.command() {
            Some(Command::Close { reason, .. }) => {
                assert_eq!(reason, ReasonCode::AdministrativeAction)
            }
            None => panic!("the command was lost"),
        }
        assert!(outbox.command().is_none());
    }

    #[test]
    fn qos1_beyond_the_window_waits_and_each_puback_releases_one() {
        let f = Fixture::new();
        let ctx = f.ctx(100);
        let mut s = SessionState::new(Identity::new("u"));
        let mut rx = connect(&mut s, 2, 64);
        for _ in 0..5 {
            s.offer(d("a", QoS::AtLeastOnce), DeliveryKind::Live, &ctx);
        }
        assert_eq!(ids(&mut rx), vec![(Some(1), false), (Some(2), false)]);
        assert_eq!((s.inflight(), s.queued()), (2, 3));
        s.on_puback(1, &ctx);
        assert_eq!(ids(&mut rx), vec![(Some(3), false)]);
        s.on_puback(1, &ctx); // duplicate: ignored
        assert!(ids(&mut rx).is_empty());
        s.on_puback(2, &ctx);
        s.on_puback(3, &ctx);
        assert_eq!(ids(&mut rx), vec![(Some(4), false), (Some(5), false)]);
    }

    #[test]
    fn qos0_is_dropped_and_counted_when_the_outbound_queue_is_full_or_offline() {
        let f = Fixture::new();
        let ctx = f.ctx(100);
        let mut s = SessionState::new(Identity::new("u"));
        let mut rx = connect(&mut s, 10, 2);
        for _ in 0..3 {
            s.offer(d("a", QoS::AtMostOnce), DeliveryKind::Live, &ctx);
        }
        assert_eq!(ids(&mut rx).len(), 2);
        s.link = None;
        s.offer(d("a", QoS::AtMostOnce), DeliveryKind::Live, &ctx);
        let snap = f.stats.snapshot();
        assert_eq!(snap.dropped(DropReason::OutboundQueueFull), 1);
        assert_eq!(snap.dropped(DropReason::OfflineQos0), 1);
        assert_eq!(s.queued(), 0);
    }

    #[test]
    fn qos1_waits_when_the_outbound_queue_is_full_and_the_pump_sends_it_later() {
        let f = Fixture::new();
        let ctx = f.ctx(100);
        let mut s = SessionState::new(Identity::new("u"));
        let mut rx = connect(&mut s, 10, 2);
        for _ in 0..4 {
            s.offer(d("a", QoS::AtLeastOnce), DeliveryKind::Live, &ctx);
        }
        assert_eq!(ids(&mut rx).len(), 2);
        assert!(s.has_backlog());
        s.pump(&ctx);
        assert_eq!(ids(&mut rx), vec![(Some(3), false), (Some(4), false)]);
        assert!(!s.has_backlog());
    }

    #[test]
    fn the_offline_queue_is_bounded_and_replayed_in_order_on_reconnect() {
        let f = Fixture::new();
        let ctx = f.ctx(3);
        let mut s = SessionState::new(Identity::new("u"));
        for _ in 0..5 {
            s.offer(d("a", QoS::ExactlyOnce), DeliveryKind::Live, &ctx);
        }
        assert_eq!(s.queued(), 3);
        assert_eq!(f.stats.snapshot().dropped(DropReason::SessionQueueFull), 2);
        let mut rx = connect(&mut s, 10, 16);
        assert!(s.resends(&ctx).is_empty());
        s.pump(&ctx);
        assert_eq!(
            ids(&mut rx),
            vec![(Some(1), false), (Some(2), false), (Some(3), false)]
        );
    }

    #[test]
    fn unacknowledged_messages_are_resent_with_dup_and_pubrel_after_pubrec() {
        let f = Fixture::new();
        let ctx = f.ctx(100);
        let mut s = SessionState::new(Identity::new("u"));
        let mut rx = connect(&mut s, 10, 16);
        s.offer(d("a", QoS::ExactlyOnce), DeliveryKind::Live, &ctx);
        s.offer(d("a", QoS::AtLeastOnce), DeliveryKind::Live, &ctx);
        assert_eq!(ids(&mut rx).len(), 2);
        assert_eq!(
            s.on_pubrec(1, ReasonCode::Success, &ctx),
            AckOutcome::PubRel(1, ReasonCode::Success)
        );
        s.link = None;
        let resent: Vec<_> = s
            .resends(&ctx)
            .into_iter()
            .map(|o| match o {
                Outbound::Publish(d) => (d.packet_id, d.dup, "publish"),
                Outbound::Ack(AckKind::Rel, id, _) => (Some(id), false, "pubrel"),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            resent,
            vec![(Some(1), false, "pubrel"), (Some(2), true, "publish")]
        );
        s.on_pubcomp(1, &ctx);
        s.on_puback(2, &ctx);
        assert_eq!(s.inflight(), 0);
    }

    #[test]
    fn a_pubrec_with_a_failure_code_ends_the_flow_and_an_unknown_one_gets_0x92() {
        let f = Fixture::new();
        let ctx = f.ctx(100);
        let mut s = SessionState::new(Identity::new("u"));
        let _rx = connect(&mut s, 10, 16);
        s.offer(d("a", QoS::ExactlyOnce), DeliveryKind::Live, &ctx);
        assert_eq!(
            s.on_pubrec(1, ReasonCode::QuotaExceeded, &ctx),
            AckOutcome::None
        );
        assert_eq!(s.inflight(), 0);
        match s.on_pubrec(9, ReasonCode::Success, &ctx) {
            AckOutcome::PubRel(_, reason) => {
                assert_eq!(reason, ReasonCode::PacketIdentifierNotFound)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_send_rechecks_delivery_rights_including_retries() {
        let f = Fixture::new();
        let ctx = f.ctx(100);
        let mut s = SessionState::new(Identity::new("u"));
        let mut rx = connect(&mut s, 10, 16);
        s.offer(d("deny/x", QoS::AtLeastOnce), DeliveryKind::Live, &ctx);
        s.offer(d("deny/x", QoS::AtMostOnce), DeliveryKind::Live, &ctx);
        assert!(ids(&mut rx).is_empty());
        assert_eq!(s.inflight(), 0);
        assert_eq!(f.stats.snapshot().dropped(DropReason::DeliveryDenied), 2);
    }

    #[test]
    fn expired_messages_are_dropped_from_the_queue() {
        let f = Fixture::new();
        let ctx = f.ctx(100);
        let mut s = SessionState::new(Identity::new("u"));
        let mut m = (*msg("a", QoS::AtLeastOnce)).clone();
        m.expires_at = Some(Instant::now() + Duration::from_millis(1));
        s.offer(
            Delivery::new(Arc::new(m), QoS::AtLeastOnce, false, vec![]),
            DeliveryKind::Live,
            &ctx,
        );
        assert_eq!(s.queued(), 1);
        std::thread::sleep(Duration::from_millis(5));
        let mut rx = connect(&mut s, 10, 16);
        s.pump(&ctx);
        assert!(ids(&mut rx).is_empty());
        assert_eq!(f.stats.snapshot().dropped(DropReason::Expired), 1);
    }

    #[test]
    fn packet_ids_skip_those_still_in_flight_and_never_use_zero() {
        let f = Fixture::new();
        let ctx = f.ctx(100);
        let mut s = SessionState::new(Identity::new("u"));
        let mut rx = connect(&mut s, 3, 16);
        s.next_id = u16::MAX - 1;
        for _ in 0..3 {
            s.offer(d("a", QoS::AtLeastOnce), DeliveryKind::Live, &ctx);
        }
        assert_eq!(
            ids(&mut rx),
            vec![(Some(u16::MAX), false), (Some(1), false), (Some(2), false)]
        );
        s.on_puback(1, &ctx);
        s.offer(d("a", QoS::AtLeastOnce), DeliveryKind::Live, &ctx);
        assert_eq!(ids(&mut rx), vec![(Some(3), false)]);
    }

    mod properties {
        use std::collections::HashSet;

        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            Offer(u8),
            /// Deliver what the writer holds and acknowledge the n-th in-flight entry.
            AckOne(usize),
            /// The writer drains its queue (and pumps, as it does after a batch).
            Drain,
            Disconnect,
            Reconnect,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => (0u8..3).prop_map(Op::Offer),
                3 => (0usize..8).prop_map(Op::AckOne),
                2 => Just(Op::Drain),
                1 => Just(Op::Disconnect),
                1 => Just(Op::Reconnect),
            ]
        }

        fn tagged(tag: u32, qos: QoS) -> Delivery {
            let m = Message {
                topic: ByteString::from_static("p"),
                payload: Bytes::from(tag.to_be_bytes().to_vec()),
                qos,
                retain: false,
                properties: Properties::default(),
                expires_at: None,
                publisher: None,
            };
            Delivery::new(Arc::new(m), qos, false, Vec::new())
        }

        fn tag_of(d: &Delivery) -> u32 {
            let b = &d.msg.payload;
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        }

        /// A client that acknowledges QoS 1 with PUBACK and QoS 2 with PUBREC
        /// then PUBCOMP, remembering what it saw.
        fn receive(rx: &mut Arc<Outbox>, seen: &mut HashSet<u32>, pending: &mut Vec<(u16, QoS)>) {
            while let Some(o) = rx.try_recv() {
                match o {
                    Outbound::Publish(d) => {
                        seen.insert(tag_of(&d));
                        if let Some(id) = d.packet_id {
                            pending.push((id, d.qos));
                        }
                    }
                    Outbound::Ack(AckKind::Rel, id, _) => pending.push((id, QoS::AtMostOnce)),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }

        proptest! {
            #[test]
            fn every_qos1_and_qos2_message_arrives_and_the_window_is_never_exceeded(
                ops in proptest::collection::vec(op(), 1..120)
            ) {
                const WINDOW: usize = 3;
                let f = Fixture::new();
                let ctx = f.ctx(10_000);
                let mut s = SessionState::new(Identity::new("u"));
                let mut rx = Some(connect(&mut s, WINDOW, 4));
                let mut seen = HashSet::new();
                let mut pending: Vec<(u16, QoS)> = Vec::new();
                let mut offered = Vec::new();
                let mut tag = 0u32;
                for op in ops {
                    match op {
                        Op::Offer(q) => {
                            tag += 1;
                            let qos = QoS::from_u8(q).unwrap_or_default();
                            if qos != QoS::AtMostOnce {
                                offered.push(tag);
                            }
                            s.offer(tagged(tag, qos), DeliveryKind::Live, &ctx);
                        }
                        Op::Drain => {
                            if let Some(r) = rx.as_mut() {
                                receive(r, &mut seen, &mut pending);
                                s.pump(&ctx);
                            }
                        }
                        Op::AckOne(n) => {
                            if let Some(r) = rx.as_mut() {
                                receive(r, &mut seen, &mut pending);
                                if !pending.is_empty() {
                                    let (id, qos) = pending.remove(n % pending.len());
                                    match qos {
                                        QoS::AtLeastOnce => s.on_puback(id, &ctx),
                                        QoS::ExactlyOnce => {
                                            // The PUBREL goes to the client, which answers PUBCOMP later.
                                            if let AckOutcome::PubRel(id, _) =
                                                s.on_pubrec(id, ReasonCode::Success, &ctx)
                                            {
                                                pending.push((id, QoS::AtMostOnce));
                                            }
                                        }
                                        QoS::AtMostOnce => s.on_pubcomp(id, &ctx),
                                    }
                                }
                            }
                        }
                        Op::Disconnect => {
                            s.link = None;
                            rx = None;
                            pending.clear();
                        }
                        Op::Reconnect => {
                            if rx.is_none() {
                                let mut r = connect(&mut s, WINDOW, 4);
                                for o in s.resends(&ctx) {
                                    match o {
                                        Outbound::Publish(d) => {
                                            seen.insert(tag_of(&d));
                                            pending.push((d.packet_id.unwrap_or(0), d.qos));
                                        }
                                        Outbound::Ack(AckKind::Rel, id, _) => pending.push((id, QoS::AtMostOnce)),
                                        other => panic!("unexpected {other:?}"),
                                    }
                                }
                                s.pump(&ctx);
                                receive(&mut r, &mut seen, &mut pending);
                                rx = Some(r);
                            }
                        }
                    }
                    prop_assert!(s.inflight() <= WINDOW, "window exceeded: {}", s.inflight());
                }
                // Finally: connect and let the client acknowledge everything.
                if rx.is_none() {
                    let r = connect(&mut s, WINDOW, 4);
                    for o in s.resends(&ctx) {
                        if let Outbound::Publish(d) = &o {
                            seen.insert(tag_of(d));
                        }
                        match o {
                            Outbound::Publish(d) => pending.push((d.packet_id.unwrap_or(0), d.qos)),
                            Outbound::Ack(AckKind::Rel, id, _) => pending.push((id, QoS::AtMostOnce)),
                            _ => {}
                        }
                    }
                    rx = Some(r);
                }
                let mut r = rx.take().unwrap_or_else(|| connect(&mut s, WINDOW, 4));
                for _ in 0..10_000 {
                    s.pump(&ctx);
                    receive(&mut r, &mut seen, &mut pending);
                    let Some((id, qos)) = pending.pop() else {
                        if s.inflight() == 0 && s.queued() == 0 {
                            break;
                        }
                        continue;
                    };
                    match qos {
                        QoS::AtLeastOnce => s.on_puback(id, &ctx),
                        QoS::ExactlyOnce => {
                            if let AckOutcome::PubRel(id, _) = s.on_pubrec(id, ReasonCode::Success, &ctx) {
                                pending.push((id, QoS::AtMostOnce));
                            }
                        }
                        QoS::AtMostOnce => s.on_pubcomp(id, &ctx),
                    }
                }
                prop_assert_eq!((s.inflight(), s.queued()), (0, 0));
                for t in offered {
                    prop_assert!(seen.contains(&t), "QoS 1/2 message {} never arrived", t);
                }
            }
        }
    }
}
