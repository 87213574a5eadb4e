//! One client connection, from the first byte to the close: the CONNECT
//! handshake, the packet loop that decodes and handles every packet, and the
//! orderly close (DISCONNECT reason, will, session expiry).
//!
//! A connection is one task, and every idle connection keeps one, so it is
//! built to be small (about 2 KiB in all, see docs/benchmarks.md). The task
//! waits on the stream, the outbox (what publishers queue for this client,
//! `outbox.rs`) and the things that end a connection from outside: shutdown,
//! a command from a take-over or `BrokerControl`, the keep-alive deadline
//! (1.5 × the keep-alive, [MQTT-3.1.2-24]) and the identity's expiry, which
//! share one timer. Reads are decoded and handled at once (the publish path
//! runs right here, synchronously); answers and deliveries are encoded and
//! written by the [`Writer`](crate::writer::Writer), which stops the reading
//! while the client does not take its output.
//!
//! Bytes are read into a per-thread scratch buffer and only then copied into
//! the connection's own buffer, so an idle connection holds no read buffer.
//!
//! The CONNECT phase (read CONNECT, authenticate, refuse or accept) runs under
//! `connect_timeout` and writes its refusals directly.
//!
//! With persistence on, a QoS 1/2 PUBLISH whose routing wrote to the store
//! (a message queued for a stored session, a retained update) is acknowledged
//! only once the store has committed it: the acknowledgement waits in
//! `pending` with its ticket while the connection goes on reading, and leaves when
//! the committed ticket reaches it. Later acknowledgements queue behind it,
//! since PUBACKs go out in the order of their PUBLISHes ([MQTT-4.6.0-2]).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use agora_mqtt::topic::{split_shared, validate_topic_filter};
use agora_mqtt::{
    ByteString, ConnAck, Connect, DecodeError, Disconnect, Packet, Properties, Protocol,
    PubResponse, Publish, QoS, ReasonCode, RetainHandling, SubAck, Subscribe, SubscriptionOptions,
    UnsubAck, Unsubscribe, Will, decode, encode,
};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;

use crate::auth::{ConnectRequest, Identity, Transport};
use crate::broker::Inner;
use crate::config::DenyPublish;
use crate::outbox::Outbox;
use crate::router::Subscription;
use crate::session::{AckKind, AckOutcome, Command, Link, Outbound, Session};
use crate::stats::{DropReason, Limit};
use crate::will;

/// Bytes the handshake asks for per read (a CONNECT usually fits).
const READ_CHUNK: usize = 512;

/// Most bytes read at once after the handshake.
const READ_MAX: usize = 64 * 1024;

thread_local! {
    /// Where an accepted connection's bytes land before they are copied into
    /// its own buffer (see the module notes).
    static READ_SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_MAX].into_boxed_slice());
}

/// Serves one connection until it closes.
///
/// This future is what every idle connection holds, so it is one flat
/// future: each nested async fn that takes its arguments by value keeps its
/// own copy of them (and of whatever it moves on), which doubled the size.
#[allow(clippy::manual_async_fn)] // on purpose: see the note in the body
pub(crate) fn serve<S>(
    inner: Arc<Inner>,
    mut stream: S,
    peer: SocketAddr,
    transport: Transport,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // An async block rather than an async fn: an async fn keeps a copy of
    // its arguments beside the moved-in locals, 72 bytes here (1.2 KiB for TLS).
    // The caller tracks it (`TaskTracker::spawn` or a token): shutdown waits for it.
    async move {
        if inner.shutdown.is_cancelled() {
            return;
        }
        let Some(_permit) = Permit::take(&inner.permits) else {
            inner.stats.dropped(DropReason::ConnectionLimit);
            tracing::debug!(%peer, "connection refused: max_connections reached");
            return;
        };
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        // Boxed, like the close below: the handshake's state (CONNECT,
        // authentication, its timer) is large and short-lived; inline, every
        // connection's future would reserve room for it for its whole life.
        let Some(accepted) = Box::pin(admit(&inner, &mut stream, &mut buf, peer, transport)).await
        else {
            return;
        };
        let mut conn = attach(&inner, accepted, &peer);
        conn.session.state.lock().pump(&inner.ctx());
        // Scoped, so that the close takes no room beside the flush below.
        let flush = {
            let close = conn.serve(&mut stream, &mut buf).await;
            conn.finish(&close)
        };
        drop(buf);
        if flush {
            Box::pin(conn.flush(&mut stream)).await;
        }
        inner.stats.disconnected();
        tracing::debug!(%peer, user = %conn.identity.username, client = %conn.session.client_id, "disconnected");
    }
}

/// One of the `max_connections` permits, held for the connection's life.
/// Borrowed rather than owned (`OwnedSemaphorePermit` holds an `Arc` too):
/// 8 bytes in every connection's future instead of 16.
struct Permit<'a>(&'a tokio::sync::Semaphore);

impl Permit<'_> {
    fn take(permits: &tokio::sync::Semaphore) -> Option<Permit<'_>> {
        permits.try_acquire().ok()?.forget();
        Some(Permit(permits))
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.add_permits(1);
    }
}

/// Runs the handshake under `connect_timeout`, unless the broker shuts down.
async fn admit<S>(
    inner: &Inner,
    stream: &mut S,
    buf: &mut BytesMut,
    peer: SocketAddr,
    transport: Transport,
) -> Option<Box<Accepted>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let handshake = tokio::time::timeout(
        inner.config.connect_timeout,
        handshake(inner, stream, buf, peer, transport),
    );
    let accepted = tokio::select! {
        () = inner.shutdown.cancelled() => return None,
        r = handshake => r,
    };
    match accepted {
        Ok(accepted) => accepted,
        Err(_) => {
            inner.stats.limit(Limit::ConnectTimeout);
            tracing::debug!(%peer, "no CONNECT within connect_timeout");
            None
        }
    }
}

/// A CONNECT that was authenticated and may proceed.
struct Accepted {
    connect: Connect,
    identity: Identity,
    assigned_id: Option<ByteString>,
}

/// Reads and vets CONNECT. Refusals are answered here (CONNACK with a reason)
/// and give `None`.
async fn handshake<S>(
    inner: &Inner,
    io: &mut S,
    buf: &mut BytesMut,
    peer: SocketAddr,
    transport: Transport,
) -> Option<Box<Accepted>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let max = inner.config.max_packet_size as usize;
    let connect = loop {
        match decode(buf, None, max) {
            Ok(Some(Packet::Connect(c))) => break *c,
            Ok(Some(other)) => {
                // The decoder refuses anything but CONNECT first; stay safe anyway.
                inner.stats.protocol_error();
                tracing::debug!(%peer, packet = other.name(), "first packet is not CONNECT");
                return None;
            }
            Ok(None) => {}
            Err(e) => {
                inner.stats.protocol_error();
                tracing::debug!(%peer, error = %e, "bad CONNECT");
                if e.is_unsupported_protocol() {
                    // [MQTT-3.1.2-2]: answer 0x01 (3.1.1 form, which any level understands), then close.
                    let _ = refuse(
                        io,
                        Protocol::V311,
                        ReasonCode::UnsupportedProtocolVersion,
                        None,
                    )
                    .await;
                } else if matches!(e, DecodeError::PacketTooLarge { .. }) {
                    inner.stats.limit(Limit::PacketTooLarge);
                }
                return None;
            }
        }
        buf.reserve(READ_CHUNK);
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => inner.stats.bytes_in(n),
        }
    };
    let protocol = connect.protocol;
    let config = &inner.config;

    let mut assigned_id = None;
    if connect.client_id.is_empty() {
        if protocol == Protocol::V311 && !connect.clean_start {
            // [MQTT-3.1.3-8]: an empty client id needs Clean Session 1 in 3.1.1.
            let _ = refuse(io, protocol, ReasonCode::ClientIdentifierNotValid, None).await;
            return None;
        }
        assigned_id = Some(ByteString::from(format!(
            "agora-{:x}-{:x}",
            inner.started_unix_nanos(),
            inner.next_conn_id()
        )));
    }
    if connect.properties.authentication_method.is_some() {
        // Enhanced authentication (AUTH exchanges) is not offered.
        let _ = refuse(
            io,
            protocol,
            ReasonCode::BadAuthenticationMethod,
            Some("enhanced authentication is not supported"),
        )
        .await;
        return None;
    }
    if let Some(w) = &connect.will {
        if w.qos > config.maximum_qos {
            inner.stats.limit(Limit::QosOrRetain);
            let _ = refuse(
                io,
                protocol,
                ReasonCode::QoSNotSupported,
                Some("will QoS above the maximum QoS"),
            )
            .await;
            return None;
        }
        if w.retain && !config.retain_available {
            inner.stats.limit(Limit::QosOrRetain);
            let _ = refuse(
                io,
                protocol,
                ReasonCode::RetainNotSupported,
                Some("retained messages are not available"),
            )
            .await;
            return None;
        }
        if topic_too_big(config, &w.topic) {
            inner.stats.limit(Limit::Topic);
            let _ = refuse(
                io,
                protocol,
                ReasonCode::TopicNameInvalid,
                Some("will topic too long or too deep"),
            )
            .await;
            return None;
        }
    }

    let client_id = assigned_id
        .clone()
        .unwrap_or_else(|| connect.client_id.clone());
    let request = ConnectRequest {
        client_id,
        username: connect.username.clone(),
        password: connect.password.clone(),
        peer,
        transport,
        protocol,
    };
    let identity = match inner.auth.authenticate(request).await {
        Ok(identity) => identity,
        Err(refusal) => {
            inner.stats.auth_failure();
            tracing::info!(%peer, user = ?connect.username, reason = %refusal, "CONNECT refused");
            let reason = if refusal.reason.is_success() {
                ReasonCode::NotAuthorized
            } else {
                refusal.reason
            };
            let _ = refuse(io, protocol, reason, Some(&refusal.message)).await;
            return None;
        }
    };
    if let Some(w) = &connect.will {
        let is_sys = is_sys_topic(&w.topic);
        let denied = if is_sys {
            Err(ReasonCode::NotAuthorized)
        } else {
            inner
                .auth
                .authorize_publish(&identity, &w.topic, w.qos, w.retain)
        };
        if let Err(code) = denied {
            inner.stats.auth_failure();
            inner.stats.publish_denied();
            tracing::info!(%peer, user = %identity.username, topic = %w.topic, "will refused");
            let code = if code.is_success() {
                ReasonCode::NotAuthorized
            } else {
                code
            };
            let _ = refuse(
                io,
                protocol,
                code,
                Some("not authorized to publish the will"),
            )
            .await;
            return None;
        }
    }
    Some(Box::new(Accepted {
        connect,
        identity,
        assigned_id,
    }))
}

/// Writes a refusing CONNACK and flushes it.
async fn refuse<W: AsyncWrite + Unpin>(
    wr: &mut W,
    protocol: Protocol,
    reason: ReasonCode,
    why: Option<&str>,
) -> std::io::Result<()> {
    let mut properties = Properties::default();
    if protocol == Protocol::V5 {
        properties.reason_string = why.map(ByteString::from);
    }
    let ack = Packet::ConnAck(ConnAck {
        session_present: false,
        reason,
        properties,
    });
    let mut out = BytesMut::new();
    if let Err(e) = encode(&ack, protocol, &mut out) {
        tracing::error!(error = %e, "cannot encode CONNACK");
        return Ok(());
    }
    wr.write_all(&out).await?;
    wr.flush().await?;
    wr.shutdown().await
}

/// Retain Handling: 0 always sends retained messages, 1 only for a new
/// subscription, 2 never (MQTT 5 §3.8.3.1).
fn sends_retained(handling: RetainHandling, existed: bool) -> bool {
    match handling {
        RetainHandling::SendAtSubscribe => true,
        RetainHandling::SendIfNew => !existed,
        RetainHandling::DoNotSend => false,
    }
}

/// `$SYS` topics are the broker's own: no client may publish there.
fn is_sys_topic(topic: &str) -> bool {
    topic == "$SYS" || topic.starts_with("$SYS/")
}

fn topic_too_big(config: &crate::BrokerConfig, topic: &str) -> bool {
    topic.len() > config.max_topic_len || topic.split('/').count() > config.max_topic_levels
}

/// Why the packet loop ended.
enum Close {
    /// The client sent DISCONNECT; `will` is true for reason 0x04.
    Client { will: bool },
    /// The peer went away (EOF, error, writer failed): the will is due.
    Gone,
    /// The broker closes: MQTT 5 clients get a DISCONNECT with this reason.
    Server {
        reason: ReasonCode,
        why: String,
        will: bool,
        /// The session ended with the close (Clean Start take-over).
        session_ended: bool,
    },
}

impl Close {
    fn server(reason: ReasonCode, why: impl Into<String>) -> Close {
        Close::Server {
            reason,
            why: why.into(),
            will: true,
            session_ended: false,
        }
    }
}

/// Most acknowledgements waiting for the store: beyond the Receive Maximum
/// we announce, so only a client that ignores it gets there.
const MAX_PENDING_ACKS: usize = 1 << 16;

/// What handling one packet calls for.
enum Step {
    /// Nothing to answer.
    Nothing,
    /// A property-less acknowledgement.
    Ack(AckKind, u16, ReasonCode),
    /// An acknowledgement to send once the store has committed this ticket.
    AckAfter(AckKind, u16, ReasonCode, u64),
    /// Any other answer.
    Send(Box<Packet>),
    /// A SUBACK, then the retained messages of the new subscriptions.
    Subscribed {
        ack: Box<Packet>,
        retained: Vec<(ByteString, QoS)>,
        id: Option<u32>,
    },
    /// The connection ends.
    Close(Close),
}

/// The state of an accepted connection.
struct Conn<'a> {
    inner: Arc<Inner>,
    session: Arc<Session>,
    conn_id: u64,
    protocol: Protocol,
    identity: Arc<Identity>,
    /// The client's address, for the logs; it lives in the connection's future.
    peer: &'a SocketAddr,
    /// What publishers queue for this client.
    outbox: Arc<Outbox>,
    /// Encodes and writes the outbox and the connection's own answers.
    writer: crate::writer::Writer,
    /// Inbound topic aliases (MQTT 5). Boxed on first use: most clients set none.
    // An empty map is 48 bytes inline; boxed and absent, 8.
    #[allow(clippy::box_collection)]
    aliases: Option<Box<HashMap<u16, ByteString>>>,
    /// Boxed: a will with properties is hundreds of bytes, and most clients have none.
    will: Option<Box<Will>>,
    /// Session Expiry Interval asked for at CONNECT (capped), for the DISCONNECT rule [MQTT-3.14.2-2].
    connect_expiry: u32,
    /// The client's Request Problem Information: when 0, acknowledgements
    /// carry no reason string [MQTT-3.1.2-29].
    problem_information: bool,
    /// Token bucket for `max_publish_rate`: tokens left and when it was last filled.
    /// Boxed: most brokers set no rate, and then it is 8 bytes, not 24.
    rate: Option<Box<(f64, Instant)>>,
    /// The keep-alive limit (1.5 × the keep-alive) in milliseconds; 0: none.
    keep_alive_ms: u64,
    /// Acknowledgements waiting for a store commit (ticket, packet), in order.
    pending: VecDeque<(u64, Outbound)>,
}

/// Attaches the accepted connection to its session: CONNACK, take-over,
/// re-sends. Synchronous, so that the CONNECT packet and the rest of the
/// set-up never live in the connection task's future (which every idle
/// connection keeps for its whole life).
fn attach<'a>(inner: &Arc<Inner>, a: Box<Accepted>, peer: &'a SocketAddr) -> Conn<'a> {
    let a = *a;
    let config = &inner.config;
    let c = a.connect;
    let protocol = c.protocol;
    let v5 = protocol == Protocol::V5;
    // Copied out of the CONNECT: decoded strings are slices of the receive
    // buffer, and the session would otherwise keep that buffer alive.
    let client_id = a
        .assigned_id
        .clone()
        .unwrap_or_else(|| ByteString::from(&*c.client_id));
    let cap = config.max_session_expiry_secs();
    let expiry = if v5 {
        c.properties.session_expiry_interval.unwrap_or(0).min(cap)
    } else if c.clean_start {
        0
    } else {
        cap
    };
    let window = if v5 {
        usize::from(
            c.properties
                .receive_maximum
                .unwrap_or(u16::MAX)
                .min(config.max_inflight),
        )
    } else {
        usize::from(config.max_inflight)
    };
    let keep_alive = match (v5, config.server_keep_alive) {
        (true, Some(k)) => k,
        _ => c.keep_alive,
    };

    let mut props = Properties::default();
    if v5 {
        if c.properties.session_expiry_interval.unwrap_or(0) != expiry {
            props.session_expiry_interval = Some(expiry);
        }
        if config.max_inflight < u16::MAX {
            props.receive_maximum = Some(config.max_inflight);
        }
        props.maximum_packet_size = Some(config.max_packet_size);
        props.topic_alias_maximum = Some(config.topic_alias_maximum).filter(|m| *m > 0);
        if !config.retain_available {
            props.retain_available = Some(0);
        }
        if config.maximum_qos < QoS::ExactlyOnce {
            props.maximum_qos = Some(config.maximum_qos as u8);
        }
        if !config.shared_subscriptions {
            props.shared_subscription_available = Some(0);
        }
        props.assigned_client_identifier = a.assigned_id.clone();
        if config.server_keep_alive.is_some() {
            props.server_keep_alive = Some(keep_alive);
        }
    }

    let outbox = Arc::new(Outbox::new(config.outbound_queue));
    // The deadlines the sweeper watches (`sweep.rs`), set before the link is
    // visible to it.
    let now_ms = inner.now_ms();
    let keep_alive_ms = if keep_alive > 0 {
        let limit = Duration::from_secs(u64::from(keep_alive)).mul_f64(config.keep_alive_factor);
        u64::try_from(limit.as_millis()).unwrap_or(u64::MAX).max(1)
    } else {
        0
    };
    if keep_alive_ms > 0 {
        outbox.alive_until(now_ms.saturating_add(keep_alive_ms));
    }
    if let Some(at) = a.identity.expires_at {
        let left = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let left = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
        outbox.expires(now_ms.saturating_add(left));
    }
    let conn_id = inner.next_conn_id();
    // Shared with the session's state rather than copied: one identity per
    // connection instead of two.
    let identity = Arc::new(a.identity);
    let key = (Arc::clone(&identity.username), client_id.clone());

    // Attach under the registry's write lock: no publish can reach the new
    // link before the CONNACK is first in its queue.
    let (session, discarded) = {
        let mut registry = inner.registry.write();
        let existing = registry.get(&key).cloned();
        let resumable = existing.filter(|s| !c.clean_start && !s.state.lock().ended);
        let (session, discarded, present) = match resumable {
            Some(s) => (s, None, true),
            None => {
                let s = Arc::new(Session::new(
                    inner.next_session_id(),
                    identity.clone(),
                    client_id.clone(),
                ));
                let old = registry.insert(Arc::clone(&s));
                (s, old, false)
            }
        };
        let ack = ConnAck {
            session_present: present,
            reason: ReasonCode::Success,
            properties: props,
        };
        outbox.push(Outbound::Packet(Box::new(Packet::ConnAck(ack))));
        let mut state = session.state.lock();
        if let Some(mut old) = state.link.take() {
            old.tell(Command::close(
                ReasonCode::SessionTakenOver,
                "session taken over by a new connection",
            ));
        }
        state.identity = identity.clone();
        state.expiry_secs = expiry;
        if let Some(p) = &inner.persist {
            if expiry > 0 {
                state.persisted = Some(session.id);
            } else if let Some(id) = state.persisted.take() {
                // Resumed without expiry: it ends with this connection, so
                // the store lets it go now.
                p.submit(crate::persist::Op::DeleteSession(id));
            }
        }
        state.generation += 1;
        // A reconnect before the will delay ends cancels the will (MQTT 5 §3.1.3.2.2).
        state.pending_will = None;
        session.connected.store(true, Ordering::Relaxed);
        state.link = Some(Link {
            conn_id,
            outbox: Arc::clone(&outbox),
            protocol,
            window,
            max_packet: if v5 {
                c.properties.maximum_packet_size.map(|m| m as usize)
            } else {
                None
            },
        });
        inner.store_session(&session, &state, false);
        // Re-sends go first, in order, right behind the CONNACK. They may
        // take the outbox past its capacity (the window bounds them), which
        // only makes new deliveries wait until they are written.
        for o in state.resends(&inner.ctx()) {
            outbox.push(o);
        }
        drop(state);
        (session, discarded)
    };
    if let Some(old) = discarded {
        // A Clean Start replaced this session: its connection (if any) is
        // told, and its subscriptions leave the trie.
        let link = old.state.lock().link.take();
        if let Some(mut link) = link {
            link.tell(Command::Close {
                reason: ReasonCode::SessionTakenOver,
                why: "session taken over by a new connection".into(),
                session_ended: true,
                will: true,
            });
        }
        inner.end_session(&old);
    }
    inner.stats.connected();
    tracing::debug!(%peer, user = %identity.username, client = %client_id, ?protocol, "connected");

    let peer_info = crate::writer::Peer {
        protocol,
        topic_alias_maximum: if v5 {
            c.properties.topic_alias_maximum.unwrap_or(0)
        } else {
            0
        },
        max_packet: if v5 {
            c.properties.maximum_packet_size.map(|m| m as usize)
        } else {
            None
        },
    };
    Conn {
        inner: Arc::clone(inner),
        session,
        conn_id,
        protocol,
        identity,
        peer,
        outbox,
        writer: crate::writer::Writer::new(peer_info),
        aliases: None,
        will: c.will.map(|w| {
            // As for the client id: do not keep the CONNECT's buffer alive.
            Box::new(Will {
                topic: ByteString::from(&*w.topic),
                payload: bytes::Bytes::copy_from_slice(&w.payload),
                ..w
            })
        }),
        connect_expiry: expiry,
        problem_information: c.properties.request_problem_information != Some(0),
        rate: inner
            .config
            .max_publish_rate
            .map(|r| Box::new((f64::from(r), Instant::now()))),
        keep_alive_ms,
        pending: VecDeque::new(),
    }
}

/// What the stream had for the connection's loop.
enum Io {
    /// This many bytes were read into the buffer.
    Read(usize),
    /// The client went away (EOF, or the stream failed).
    Gone,
    /// The connection was told to close (take-over, `BrokerControl`).
    Told(Command),
}

/// Waits for the store's committed ticket to move, owning the receiver
/// meanwhile; `None` once the store's writer has stopped. Boxed and made
/// only while acknowledgements wait, so connections without any do not
/// carry its state.
type CommitWait = Pin<Box<dyn Future<Output = Option<watch::Receiver<u64>>> + Send>>;

fn wait_for_commit(mut rx: watch::Receiver<u64>) -> CommitWait {
    Box::pin(async move { rx.changed().await.ok().map(|()| rx) })
}

impl Conn<'_> {
    /// Serves the connection until something ends it.
    ///
    /// Deadlines (keep-alive, credential expiry) are watched by the broker's
    /// sweeper (`sweep.rs`), which tells the connection to close like any
    /// other command, and shutdown arrives the same way: this loop waits on
    /// nothing but the stream and the outbox, plus the store's commit while
    /// acknowledgements wait for it and a timer while `max_publish_rate`
    /// pauses the reading.
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        buf: &mut BytesMut,
    ) -> Close {
        if self.inner.shutdown.is_cancelled() {
            // Attached after shutdown told every connection: see `Broker::shutdown`.
            return Close::Server {
                reason: ReasonCode::ServerShuttingDown,
                why: "server shutting down".into(),
                will: false,
                session_ended: false,
            };
        }
        let mut committed = self.inner.persist.as_ref().map(|p| p.committed());
        let mut commit_wait: Option<CommitWait> = None;
        // While set, reading is paused until it fires (`max_publish_rate`).
        // Boxed, and made only when a pause is due: most clients never get one.
        let mut pause: Option<Pin<Box<tokio::time::Sleep>>> = None;
        loop {
            if pause.is_none() {
                match self.handle_buffered(buf) {
                    Ok(None) => {}
                    Ok(Some(d)) => {
                        // Not reading is the broker's doing: the keep-alive
                        // waits out the pause too. A pause (at most 1/rate,
                        // so ≤ 1 s) is never longer than the keep-alive limit
                        // (≥ 1 s), but at that edge the sweeper could
                        // otherwise fire before the next packet is decoded.
                        if self.keep_alive_ms > 0 {
                            let d_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                            let due = self.inner.now_ms().saturating_add(self.keep_alive_ms);
                            self.outbox.alive_until(due.saturating_add(d_ms));
                        }
                        pause = Some(Box::pin(tokio::time::sleep(d)));
                    }
                    Err(close) => return close,
                }
            }
            if buf.is_empty() && buf.capacity() > 0 {
                // Nothing half-read: hold no buffer while waiting.
                *buf = BytesMut::new();
            }
            if !self.pending.is_empty()
                && commit_wait.is_none()
                && let Some(rx) = committed.take()
            {
                commit_wait = Some(wait_for_commit(rx));
            }
            let reading = pause.is_none();
            let event = tokio::select! {
                biased;
                rx = poll_fn(|cx| match commit_wait.as_mut() {
                    Some(wait) => wait.as_mut().poll(cx),
                    None => Poll::Pending,
                }), if commit_wait.is_some() => {
                    commit_wait = None;
                    // A store whose writer stopped confirms nothing more: the
                    // waiting acknowledgements are never sent.
                    if let Some(mut rx) = rx {
                        self.release_acks(Some(&mut rx));
                        committed = Some(rx);
                    }
                    continue;
                }
                () = poll_fn(|cx| match pause.as_mut() {
                    Some(sleep) => sleep.as_mut().poll(cx),
                    None => Poll::Pending,
                }), if !reading => {
                    pause = None;
                    continue;
                }
                event = poll_fn(|cx| self.poll_io(cx, io, buf, reading)) => event,
            };
            match event {
                Io::Read(n) => self.inner.stats.bytes_in(n),
                Io::Gone => return Close::Gone,
                Io::Told(Command::Close {
                    reason,
                    why,
                    session_ended,
                    will,
                }) => {
                    return Close::Server {
                        reason,
                        why,
                        will,
                        session_ended,
                    };
                }
            }
        }
    }

    /// Drives the connection once: a command first, then writes what is
    /// queued (the writer registers its own wake-ups), then reads if
    /// `reading` and the client takes its output.
    fn poll_io<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
        buf: &mut BytesMut,
        reading: bool,
    ) -> Poll<Io> {
        // Registered before looking, so a push or command after the look wakes us.
        self.outbox.register(cx);
        if let Some(command) = self.outbox.command() {
            return Poll::Ready(Io::Told(command));
        }
        let outbox = Some(&*self.outbox);
        if let Err(e) = self.writer.send(cx, io, outbox, &self.session, &self.inner) {
            tracing::debug!(error = %e, "write failed; closing");
            return Poll::Ready(Io::Gone);
        }
        if !reading || self.writer.backed_up() {
            // The writer's wake-up (room in the stream) brings reading back.
            return Poll::Pending;
        }
        READ_SCRATCH.with_borrow_mut(|scratch| {
            let mut rb = ReadBuf::new(scratch);
            match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(Io::Gone),
                Poll::Ready(Ok(())) => {
                    buf.extend_from_slice(rb.filled());
                    Poll::Ready(Io::Read(rb.filled().len()))
                }
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "read failed; closing");
                    Poll::Ready(Io::Gone)
                }
                Poll::Pending => Poll::Pending,
            }
        })
    }

    /// Decodes and handles the complete packets in `buf`, until it holds
    /// none or `max_publish_rate` asks for a pause (returned). `Err` ends the
    /// connection.
    fn handle_buffered(&mut self, buf: &mut BytesMut) -> Result<Option<Duration>, Close> {
        if buf.is_empty() {
            return Ok(None);
        }
        // What publishers queued so far goes out before these packets' answers.
        self.writer.catch_up(&self.outbox);
        let max = self.inner.config.max_packet_size as usize;
        let mut decoded = false;
        let handled = loop {
            match decode(buf, Some(self.protocol), max) {
                Ok(Some(packet)) => {
                    decoded = true;
                    let pause = if matches!(packet, Packet::Publish(_)) {
                        self.throttle()
                    } else {
                        None
                    };
                    let step = self.step(packet);
                    if let Some(close) = self.apply(step) {
                        break Err(close);
                    }
                    if pause.is_some() {
                        break Ok(pause);
                    }
                }
                Ok(None) => break Ok(None),
                Err(e) => {
                    if matches!(e, DecodeError::PacketTooLarge { .. }) {
                        self.inner.stats.limit(Limit::PacketTooLarge);
                    } else {
                        self.inner.stats.protocol_error();
                    }
                    tracing::debug!(peer = %self.peer, error = %e, "bad packet; closing");
                    break Err(Close::server(e.reason_code(), e.to_string()));
                }
            }
        };
        if decoded && self.keep_alive_ms > 0 {
            let due = self.inner.now_ms().saturating_add(self.keep_alive_ms);
            self.outbox.alive_until(due);
        }
        handled
    }

    /// Sends the waiting acknowledgements whose commit is done, in order.
    fn release_acks(&mut self, committed: Option<&mut watch::Receiver<u64>>) {
        let done = committed.map_or(u64::MAX, |rx| *rx.borrow_and_update());
        while self.pending.front().is_some_and(|(t, _)| *t <= done) {
            let Some((_, o)) = self.pending.pop_front() else {
                break;
            };
            self.writer.push(o);
        }
    }

    /// Puts an acknowledgement behind those waiting for the store.
    fn ack_later(&mut self, ticket: u64, o: Outbound) -> Option<Close> {
        if self.pending.len() >= MAX_PENDING_ACKS {
            self.inner.stats.limit(Limit::ReceiveMaximum);
            return Some(Close::server(
                ReasonCode::ReceiveMaximumExceeded,
                "receive maximum exceeded",
            ));
        }
        self.pending.push_back((ticket, o));
        None
    }

    /// Carries out a decision: queue the answer. `Some` ends the connection.
    fn apply(&mut self, step: Step) -> Option<Close> {
        match step {
            Step::Nothing => None,
            Step::AckAfter(kind, id, reason, ticket) => {
                self.ack_later(ticket, Outbound::Ack(kind, id, reason))
            }
            // Behind acknowledgements that wait for the store, to keep their order.
            Step::Ack(kind @ (AckKind::Ack | AckKind::Rec), id, reason)
                if !self.pending.is_empty() =>
            {
                self.ack_later(0, Outbound::Ack(kind, id, reason))
            }
            Step::Ack(kind, id, reason) => {
                self.writer.push(Outbound::Ack(kind, id, reason));
                None
            }
            Step::Send(p)
                if !self.pending.is_empty()
                    && matches!(*p, Packet::PubAck(_) | Packet::PubRec(_)) =>
            {
                self.ack_later(0, Outbound::Packet(p))
            }
            Step::Send(p) => {
                self.writer.push(Outbound::Packet(p));
                None
            }
            Step::Subscribed { ack, retained, id } => {
                self.writer.push(Outbound::Packet(ack));
                // After the SUBACK, so that the client knows the subscription.
                for (filter, granted) in retained {
                    self.inner
                        .send_retained(&self.session, &filter, granted, id);
                }
                None
            }
            Step::Close(c) => Some(c),
        }
    }

    /// Decides what one packet does and what to answer.
    fn step(&mut self, packet: Packet) -> Step {
        match packet {
            Packet::Publish(p) => self.on_publish(p),
            Packet::PubAck(r) => {
                self.session
                    .state
                    .lock()
                    .on_puback(r.packet_id, &self.inner.ctx());
                Step::Nothing
            }
            Packet::PubRec(r) => {
                let outcome =
                    self.session
                        .state
                        .lock()
                        .on_pubrec(r.packet_id, r.reason, &self.inner.ctx());
                match outcome {
                    AckOutcome::None => Step::Nothing,
                    AckOutcome::PubRel(id, reason) => Step::Ack(AckKind::Rel, id, reason),
                }
            }
            Packet::PubRel(r) => {
                let known = self
                    .session
                    .state
                    .lock()
                    .inbound_qos2
                    .remove(&r.packet_id)
                    .is_some();
                let reason = if known || self.protocol == Protocol::V311 {
                    ReasonCode::Success
                } else {
                    ReasonCode::PacketIdentifierNotFound
                };
                Step::Ack(AckKind::Comp, r.packet_id, reason)
            }
            Packet::PubComp(r) => {
                self.session
                    .state
                    .lock()
                    .on_pubcomp(r.packet_id, &self.inner.ctx());
                Step::Nothing
            }
            Packet::Subscribe(s) => self.on_subscribe(s),
            Packet::Unsubscribe(u) => self.on_unsubscribe(u),
            Packet::PingReq => Step::Send(Box::new(Packet::PingResp)),
            Packet::Disconnect(d) => self.on_disconnect(d),
            Packet::Connect(_) => {
                self.inner.stats.protocol_error();
                Step::Close(Close::server(
                    ReasonCode::ProtocolError,
                    "[MQTT-3.1.0-2] a second CONNECT is a protocol error",
                ))
            }
            Packet::Auth(_) => {
                self.inner.stats.protocol_error();
                Step::Close(Close::server(
                    ReasonCode::ProtocolError,
                    "AUTH without enhanced authentication",
                ))
            }
            other => {
                self.inner.stats.protocol_error();
                Step::Close(Close::server(
                    ReasonCode::ProtocolError,
                    format!("{} is not sent by clients", other.name()),
                ))
            }
        }
    }

    fn on_disconnect(&mut self, d: Disconnect) -> Step {
        if let Some(x) = d.properties.session_expiry_interval {
            if self.connect_expiry == 0 && x != 0 {
                // [MQTT-3.14.2-2]
                self.inner.stats.protocol_error();
                return Step::Close(Close::server(
                    ReasonCode::ProtocolError,
                    "[MQTT-3.14.2-2] session expiry cannot be set on DISCONNECT when CONNECT had 0",
                ));
            }
            let cap = self.inner.config.max_session_expiry_secs();
            self.session.state.lock().expiry_secs = x.min(cap);
        }
        Step::Close(Close::Client {
            will: d.reason == ReasonCode::DisconnectWithWill,
        })
    }

    /// Answers a QoS 1/2 PUBLISH that goes nowhere with `code` (MQTT 5), or
    /// acknowledges it plainly (3.1.1 has no negative acknowledgement).
    fn refuse_publish(&self, p: &Publish, code: ReasonCode, why: &str) -> Step {
        let Some(id) = p.packet_id else {
            return Step::Nothing;
        };
        let v5 = self.protocol == Protocol::V5;
        let mut properties = Properties::default();
        if v5 && self.problem_information {
            properties.reason_string = Some(ByteString::from(why));
        }
        let reason = if v5 { code } else { ReasonCode::Success };
        let ack = PubResponse {
            packet_id: id,
            reason,
            properties,
        };
        match p.qos {
            QoS::AtMostOnce => Step::Nothing,
            QoS::AtLeastOnce => Step::Send(Box::new(Packet::PubAck(ack))),
            QoS::ExactlyOnce => {
                if !v5 {
                    // 3.1.1: the flow continues with PUBREL → PUBCOMP.
                    self.session.state.lock().inbound_qos2.insert(id, ());
                }
                Step::Send(Box::new(Packet::PubRec(ack)))
            }
        }
    }

    /// How long to pause reading after this PUBLISH for `max_publish_rate`
    /// (a token bucket). Not reading is the back-pressure: the client's sends
    /// then block on TCP.
    fn throttle(&mut self) -> Option<Duration> {
        let (Some(rate), Some(bucket)) = (self.inner.config.max_publish_rate, &mut self.rate)
        else {
            return None;
        };
        let (tokens, filled) = &mut **bucket;
        let rate = f64::from(rate);
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*filled).as_secs_f64() * rate).min(rate) - 1.0;
        *filled = now;
        if *tokens >= 0.0 {
            return None;
        }
        self.inner.stats.limit(Limit::PublishRate);
        Some(Duration::from_secs_f64(-*tokens / rate))
    }

    /// The publish path: alias, limits, authorisation, routing; what to answer.
    fn on_publish(&mut self, mut p: Publish) -> Step {
        let inner = Arc::clone(&self.inner);
        let config = &inner.config;
        inner.stats.message_in();
        let v5 = self.protocol == Protocol::V5;

        if v5 && let Some(alias) = p.properties.topic_alias.take() {
            if alias == 0 || alias > config.topic_alias_maximum {
                inner.stats.limit(Limit::TopicAlias);
                return Step::Close(Close::server(
                    ReasonCode::TopicAliasInvalid,
                    format!("topic alias {alias} is out of range"),
                ));
            }
            if p.topic.is_empty() {
                match self.aliases.as_ref().and_then(|a| a.get(&alias)) {
                    Some(t) => p.topic = t.clone(),
                    None => {
                        inner.stats.limit(Limit::TopicAlias);
                        return Step::Close(Close::server(
                            ReasonCode::ProtocolError,
                            format!("topic alias {alias} was never set"),
                        ));
                    }
                }
            } else {
                self.aliases
                    .get_or_insert_default()
                    .insert(alias, p.topic.clone());
            }
        }
        if p.qos > config.maximum_qos {
            inner.stats.limit(Limit::QosOrRetain);
            return Step::Close(Close::server(
                ReasonCode::QoSNotSupported,
                "QoS above the maximum QoS",
            ));
        }
        if p.retain && !config.retain_available {
            inner.stats.limit(Limit::QosOrRetain);
            return Step::Close(Close::server(
                ReasonCode::RetainNotSupported,
                "retained messages are not available",
            ));
        }
        if topic_too_big(config, &p.topic) {
            inner.stats.limit(Limit::Topic);
            return self.refuse_publish(
                &p,
                ReasonCode::TopicNameInvalid,
                "topic too long or too deep",
            );
        }
        if p.qos == QoS::ExactlyOnce
            && let Some(id) = p.packet_id
        {
            let (duplicate, full) = {
                let state = self.session.state.lock();
                (
                    state.inbound_qos2.contains_key(&id),
                    state.inbound_qos2.len() >= usize::from(config.max_inflight),
                )
            };
            if duplicate {
                // A re-send of a message already routed: acknowledge, do not route again.
                return Step::Ack(AckKind::Rec, id, ReasonCode::Success);
            }
            if full {
                inner.stats.limit(Limit::ReceiveMaximum);
                return Step::Close(Close::server(
                    ReasonCode::ReceiveMaximumExceeded,
                    "receive maximum exceeded",
                ));
            }
        }

        let denied = if is_sys_topic(&p.topic) {
            Err(ReasonCode::NotAuthorized)
        } else {
            inner
                .auth
                .authorize_publish(&self.identity, &p.topic, p.qos, p.retain)
        };
        if let Err(code) = denied {
            inner.stats.publish_denied();
            tracing::info!(peer = %self.peer, user = %self.identity.username, topic = %p.topic, "publish refused");
            let code = if code.is_success() {
                ReasonCode::NotAuthorized
            } else {
                code
            };
            if config.deny_publish == DenyPublish::Disconnect {
                return Step::Close(Close::server(
                    code,
                    format!("not authorized to publish to {}", p.topic),
                ));
            }
            return self.refuse_publish(&p, code, "not authorized");
        }
        inner
            .auth
            .published(&self.identity, &p.topic, p.payload.len());

        let mut properties = std::mem::take(&mut p.properties);
        properties.subscription_identifiers.clear();
        let expires_at = properties
            .message_expiry_interval
            .map(|s| Instant::now() + Duration::from_secs(u64::from(s)));
        let msg = Arc::new(crate::Message {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
            properties,
            expires_at,
            publisher: Some(self.session.id),
        });
        let ticket = inner.publish(msg);
        let ack = |kind, id| {
            if ticket > 0 {
                Step::AckAfter(kind, id, ReasonCode::Success, ticket)
            } else {
                Step::Ack(kind, id, ReasonCode::Success)
            }
        };
        match (p.qos, p.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => ack(AckKind::Ack, id),
            (QoS::ExactlyOnce, Some(id)) => {
                self.session.state.lock().inbound_qos2.insert(id, ());
                ack(AckKind::Rec, id)
            }
            _ => Step::Nothing,
        }
    }

    fn on_subscribe(&mut self, s: Subscribe) -> Step {
        let id = s.properties.subscription_identifiers.first().copied();
        let mut reasons = Vec::with_capacity(s.filters.len());
        let mut retained = Vec::new();
        for (filter, options) in s.filters {
            let reason = self.subscribe_one(&filter, options, id, &mut retained);
            reasons.push(reason);
        }
        let ack = SubAck {
            packet_id: s.packet_id,
            reasons,
            properties: Properties::default(),
        };
        Step::Subscribed {
            ack: Box::new(Packet::SubAck(ack)),
            retained,
            id,
        }
    }

    /// Subscribes one filter; the SUBACK reason code for it.
    fn subscribe_one(
        &mut self,
        filter: &ByteString,
        options: SubscriptionOptions,
        id: Option<u32>,
        retained: &mut Vec<(ByteString, QoS)>,
    ) -> ReasonCode {
        let inner = &self.inner;
        let config = &inner.config;
        if validate_topic_filter(filter).is_err() {
            return ReasonCode::TopicFilterInvalid;
        }
        let (shared, effective) = match split_shared(filter) {
            Some((_, f)) => (true, f),
            None => (false, &filter[..]),
        };
        if topic_too_big(config, effective) {
            inner.stats.limit(Limit::Topic);
            return ReasonCode::TopicFilterInvalid;
        }
        if shared && !config.shared_subscriptions {
            inner.stats.limit(Limit::SharedSubscriptions);
            return ReasonCode::SharedSubscriptionsNotSupported;
        }
        if let Err(code) = inner.auth.authorize_subscribe(&self.identity, effective) {
            inner.stats.subscribe_denied();
            tracing::info!(peer = %self.peer, user = %self.identity.username, %filter, "subscribe refused");
            return if code.is_success() {
                ReasonCode::NotAuthorized
            } else {
                code
            };
        }
        let existed = {
            let state = self.session.state.lock();
            if state.ended {
                // The session was discarded (Clean Start elsewhere) and this
                // connection is about to close: add nothing to the trie.
                return ReasonCode::UnspecifiedError;
            }
            let existed = state.subscriptions.contains_key(filter);
            if !existed && state.subscriptions.len() >= config.max_subscriptions {
                drop(state);
                inner.stats.limit(Limit::Subscriptions);
                return ReasonCode::QuotaExceeded;
            }
            existed
        };
        let granted = options.qos.min(config.maximum_qos);
        let sub = Subscription {
            options: SubscriptionOptions {
                qos: granted,
                ..options
            },
            identifier: id,
        };
        inner.router.write().subscribe(self.session.id, filter, sub);
        let ended = {
            let mut state = self.session.state.lock();
            state.subscriptions.insert(filter.clone(), sub);
            inner.store_session(&self.session, &state, false);
            state.ended
        };
        if ended {
            // Lost a race with the session's end, which has already cleared
            // the trie of what it knew: take this one out again.
            inner.router.write().unsubscribe(self.session.id, filter);
            return ReasonCode::UnspecifiedError;
        }
        // Retained messages are not sent for shared subscriptions (MQTT 5 §4.8.2).
        if !shared && config.retain_available && sends_retained(options.retain_handling, existed) {
            retained.push((ByteString::from(effective), granted));
        }
        match granted {
            QoS::AtMostOnce => ReasonCode::GrantedQoS0,
            QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
            QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
        }
    }

    fn on_unsubscribe(&mut self, u: Unsubscribe) -> Step {
        let mut reasons = Vec::with_capacity(u.filters.len());
        for filter in &u.filters {
            let had = {
                let mut state = self.session.state.lock();
                let had = state.subscriptions.remove(filter).is_some();
                if had {
                    self.inner.store_session(&self.session, &state, false);
                }
                had
            };
            let removed = self
                .inner
                .router
                .write()
                .unsubscribe(self.session.id, filter);
            reasons.push(if had || removed {
                ReasonCode::Success
            } else {
                ReasonCode::NoSubscriptionExisted
            });
        }
        let ack = UnsubAck {
            packet_id: u.packet_id,
            reasons,
            properties: Properties::default(),
        };
        Step::Send(Box::new(Packet::UnsubAck(ack)))
    }

    /// Ends the connection's part in its session: queues the DISCONNECT
    /// (MQTT 5, server side), detaches, publishes or parks the will, decides
    /// the session's fate. Synchronous, so that none of it (a will is
    /// hundreds of bytes) takes room in the connection's future. True when
    /// the output should still be written out ([`Conn::flush`]).
    fn finish(&mut self, close: &Close) -> bool {
        let inner = Arc::clone(&self.inner);
        let (publish_will, session_ended) = match close {
            Close::Client { will } => (*will, false),
            Close::Gone => (true, false),
            Close::Server {
                will,
                session_ended,
                ..
            } => (*will, *session_ended),
        };
        // What publishers queued goes out before the DISCONNECT; from now on
        // they find the outbox closed (a QoS 1/2 delivery then stays in the
        // window for the session's next connection).
        for o in self.outbox.close() {
            self.writer.push(o);
        }
        if let Close::Server { reason, why, .. } = close {
            tracing::debug!(peer = %self.peer, user = %self.identity.username, reason = ?reason, %why, "closing");
            // 3.1.1 has no server DISCONNECT: closing the stream is the message.
            if self.protocol == Protocol::V5 {
                let d = Disconnect::with_reason(*reason, why.as_str());
                self.writer
                    .push(Outbound::Packet(Box::new(Packet::Disconnect(d))));
            }
        }

        let mut will = if publish_will {
            self.will.take().map(|w| *w)
        } else {
            None
        };
        let will_delay = will
            .as_ref()
            .and_then(|w| w.properties.will_delay_interval)
            .filter(|d| *d > 0)
            .map(|d| Duration::from_secs(u64::from(d)));

        // Detach, only if the session is still ours (not taken over). A will
        // that must wait (for its delay, or for the session's end) is parked
        // in the same critical section, so a reconnect racing this close
        // cancels it like any other.
        let detached = {
            let mut state = self.session.state.lock();
            if state
                .link
                .as_ref()
                .is_some_and(|l| l.conn_id == self.conn_id)
            {
                state.link = None;
                self.session.connected.store(false, Ordering::Relaxed);
                state.generation += 1;
                if state.expiry_secs > 0 {
                    state.persist_inflight(&inner.ctx());
                    inner.store_session(&self.session, &state, true);
                }
                if (state.expiry_secs == 0 || will_delay.is_some())
                    && let Some(w) = will.take()
                {
                    state.pending_will = Some(Box::new(((*self.identity).clone(), w)));
                }
                Some((state.generation, state.expiry_secs))
            } else {
                None
            }
        };
        match detached {
            // The session ends with the connection; its end publishes the will.
            Some((_, 0)) => inner.end_session(&self.session),
            Some((generation, expiry)) => {
                let parked = will.is_none() && will_delay.is_some();
                if let Some(w) = will {
                    inner.publish_will(&self.identity, w);
                }
                will::after_disconnect(
                    &inner,
                    Arc::clone(&self.session),
                    generation,
                    will_delay.filter(|_| parked),
                    Duration::from_secs(u64::from(expiry)),
                );
            }
            None => {
                // Taken over: a delayed will is cancelled by the new connection
                // unless the session ended with the take-over.
                if let Some(w) = will
                    && (session_ended || will_delay.is_none())
                {
                    inner.publish_will(&self.identity, w);
                }
            }
        }

        !matches!(close, Close::Gone)
    }

    /// Writes out what is left, DISCONNECT included, and closes the stream;
    /// for at most `close_flush_timeout`, so that a client that does not
    /// read cannot hold the task.
    async fn flush<S: AsyncWrite + Unpin>(&mut self, io: &mut S) {
        let flush = self.inner.config.close_flush_timeout;
        let (writer, session, inner) = (&mut self.writer, &self.session, &self.inner);
        let _ = tokio::time::timeout(flush, async {
            poll_fn(|cx| writer.poll_drain(cx, io, session, inner)).await?;
            io.shutdown().await
        })
        .await;
    }
}
