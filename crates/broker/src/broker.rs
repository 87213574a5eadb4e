//! The [`Broker`] handle: listeners, the shared state every connection works
//! on, the publish path, and shutdown.
//!
//! Everything a connection shares with others lives in one `Inner` behind an
//! `Arc`: the subscription trie and the session table (each behind a short
//! `parking_lot` lock, never held across an `.await`), the retained store, the
//! counters, and the shutdown machinery. Shutdown is one `CancellationToken`
//! that every accept loop, connection and timer watches, plus one
//! `TaskTracker` that [`Broker::shutdown`] waits on, so that when it returns
//! no task of the broker is left running.
//!
//! The publish path ([`Inner::publish`]) runs on the publisher's own task:
//! route through the trie under the read lock, then for each receiving session
//! lock its state briefly and hand over one `Arc<Message>`-backed delivery.
//! Nothing on it awaits, so a slow subscriber can never stall a publisher: its
//! bounded outbound queue fills and the session's policy applies.
//!
//! With persistence on ([`Broker::open`]), the store's writes are handed to
//! the group-commit writer (`persist.rs`) on the same path, without waiting:
//! [`Inner::publish`] returns the ticket the publisher's acknowledgement must
//! wait for, and the connection holds that acknowledgement until the commit.
//! At start-up the stored retained messages and sessions are loaded before
//! anything listens.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use agora_mqtt::{QoS, ReasonCode, Will};
use parking_lot::{Mutex, RwLock};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Authorizer, DeliveryKind, Identity, Transport};
use crate::config::BrokerConfig;
use crate::control::BrokerControl;
use crate::persist::{BrokerStore, Op, Persister, StoreError};
use crate::registry::Registry;
use crate::retained::RetainedStore;
use crate::router::{Route, Router};
use crate::session::{Ctx, Delivery, Session};
use crate::stats::{Stats, StatsSnapshot};
use crate::store_redb::RedbStore;
use crate::{Message, connection, sys, writer};

/// An MQTT 3.1.1/5.0 broker. Cheap to clone: every clone is a handle on the
/// same broker.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").finish_non_exhaustive()
    }
}

/// The state shared by every connection of one broker.
pub(crate) struct Inner {
    pub(crate) config: BrokerConfig,
    pub(crate) auth: Arc<dyn Authorizer>,
    pub(crate) stats: Stats,
    pub(crate) router: RwLock<Router>,
    pub(crate) retained: Mutex<RetainedStore>,
    pub(crate) registry: RwLock<Registry>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) started: Instant,
    /// The store's writer, when persistence is on.
    pub(crate) persist: Option<Persister>,
    next_session: AtomicU64,
    next_conn: AtomicU64,
    background: Once,
}

thread_local! {
    /// Routes of the publish being handled on this thread, reused so that a
    /// publish allocates nothing for its route list.
    static ROUTES: Cell<Vec<Route>> = const { Cell::new(Vec::new()) };
}

impl Broker {
    /// A broker with these limits and this authoriser. Nothing listens until
    /// [`serve_tcp`](Broker::serve_tcp), [`serve_tls`](Broker::serve_tls) or
    /// [`serve_connection`](Broker::serve_connection) is called.
    ///
    /// The configuration is used as given; the binary validates it first
    /// ([`BrokerConfig::validate`]).
    ///
    /// This broker keeps everything in memory: [`BrokerConfig::persistence`]
    /// is honoured by [`Broker::open`].
    pub fn new(config: BrokerConfig, authorizer: Arc<dyn Authorizer>) -> Broker {
        Broker::build(config, authorizer, None)
    }

    /// A broker that keeps its retained messages and persistent sessions in
    /// the redb file named by [`BrokerConfig::persistence`] (in memory only
    /// when that is `None`): loads what the file holds, then starts the
    /// writer. Call it before listening, from inside the runtime.
    pub async fn open(
        config: BrokerConfig,
        authorizer: Arc<dyn Authorizer>,
    ) -> Result<Broker, StoreError> {
        let Some(path) = config.persistence.clone() else {
            return Ok(Broker::new(config, authorizer));
        };
        let store = tokio::task::spawn_blocking(move || RedbStore::open(&path))
            .await
            .map_err(|e| StoreError::Engine(e.to_string()))??;
        Broker::with_store(config, authorizer, Arc::new(store)).await
    }

    /// A broker on any [`BrokerStore`]: loads it, then starts its writer.
    pub async fn with_store(
        config: BrokerConfig,
        authorizer: Arc<dyn Authorizer>,
        store: Arc<dyn BrokerStore>,
    ) -> Result<Broker, StoreError> {
        let loader = Arc::clone(&store);
        let loaded = tokio::task::spawn_blocking(move || loader.load(SystemTime::now()))
            .await
            .map_err(|e| StoreError::Engine(e.to_string()))??;
        let persister = Persister::start(store).map_err(|e| StoreError::Engine(e.to_string()))?;
        let broker = Broker::build(config, authorizer, Some(persister));
        broker.inner.restore(loaded);
        Ok(broker)
    }

    fn build(
        config: BrokerConfig,
        authorizer: Arc<dyn Authorizer>,
        persist: Option<Persister>,
    ) -> Broker {
        let permits = Arc::new(Semaphore::new(
            config.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        Broker {
            inner: Arc::new(Inner {
                config,
                auth: authorizer,
                stats: Stats::default(),
                router: RwLock::new(Router::new()),
                retained: Mutex::new(RetainedStore::new()),
                registry: RwLock::new(Registry::default()),
                shutdown: CancellationToken::new(),
                tracker: TaskTracker::new(),
                permits,
                started: Instant::now(),
                persist,
                next_session: AtomicU64::new(1),
                next_conn: AtomicU64::new(1),
                background: Once::new(),
            }),
        }
    }

    /// Accepts MQTT connections on `listener` until [`shutdown`](Broker::shutdown).
    /// Each connection gets `TCP_NODELAY` (the writer batches, so Nagle would
    /// only add latency) and its own task.
    pub async fn serve_tcp(&self, listener: TcpListener) {
        self.inner.start_background();
        loop {
            let accepted = tokio::select! {
                () = self.inner.shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
                    }
                    // The connection's own future, not wrapped in another: every
                    // wrapper would keep a copy of the stream for the
                    // connection's whole life.
                    let inner = Arc::clone(&self.inner);
                    self.inner.tracker.spawn(connection::serve(
                        inner,
                        stream,
                        peer,
                        Transport::Tcp,
                    ));
                }
                Err(e) => accept_error(e).await,
            }
        }
    }

    /// Accepts MQTT-over-TLS connections on `listener` until shutdown. The TLS
    /// handshake runs on the connection's own task, under
    /// `tls_handshake_timeout`, so a slow or silent client holds up no one.
    pub async fn serve_tls(&self, listener: TcpListener, tls: Arc<rustls::ServerConfig>) {
        self.inner.start_background();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        loop {
            let accepted = tokio::select! {
                () = self.inner.shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
                    }
                    let inner = Arc::clone(&self.inner);
                    let acceptor = acceptor.clone();
                    let timeout = self.inner.config.tls_handshake_timeout;
                    let stop = self.inner.shutdown.clone();
                    self.inner.tracker.spawn(async move {
                        let handshake = tokio::time::timeout(timeout, acceptor.accept(stream));
                        let tls = tokio::select! {
                            () = stop.cancelled() => return,
                            r = handshake => r,
                        };
                        // The stream moves into the connection's future before
                        // the await, so this block holds no copy of it.
                        let connection = match tls {
                            Ok(Ok(tls)) => connection::serve(inner, tls, peer, Transport::Tls),
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                        connection.await;
                    });
                }
                Err(e) => accept_error(e).await,
            }
        }
    }

    /// Serves one MQTT connection over any byte stream (TCP, TLS, a WebSocket
    /// bridged to a pipe) until it closes. Returns when the connection is
    /// closed; shutdown waits for it.
    pub async fn serve_connection<S>(&self, stream: S, peer: SocketAddr, transport: Transport)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.inner.start_background();
        let _tracked = self.inner.tracker.token();
        connection::serve(Arc::clone(&self.inner), stream, peer, transport).await;
    }

    /// Stops accepting, closes every connection (MQTT 5 clients get DISCONNECT
    /// 0x8B "server shutting down"), and waits for every task of the broker
    /// (connections, timers, `$SYS`) to end. Wills are not published on
    /// shutdown: the clients are not at fault and no one would receive them.
    ///
    /// With persistence on, what the closing connections wrote is committed
    /// and the store is closed before this returns.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        // Connections learn of it as of any close. One that attaches after
        // this pass sees the cancelled token (the registry lock orders them).
        for session in self.inner.registry.read().sessions() {
            if let Some(link) = session.state.lock().link.as_mut() {
                link.tell(crate::session::Command::Close {
                    reason: ReasonCode::ServerShuttingDown,
                    why: "server shutting down".into(),
                    session_ended: false,
                    will: false,
                });
            }
        }
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        if let Some(p) = &self.inner.persist {
            p.close().await;
        }
    }

    /// The control handle through which the embedding application disconnects
    /// sessions and drops subscriptions when rights change.
    pub fn control(&self) -> BrokerControl {
        BrokerControl::new(Arc::downgrade(&self.inner))
    }

    /// The broker's counters and gauges now.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.snapshot()
    }
}

/// Accept errors are mostly transient (EMFILE, ECONNABORTED); pausing briefly
/// keeps a full file table from turning the loop into a busy spin.
async fn accept_error(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

impl Inner {
    /// Starts the background tasks (`$SYS`) once, from inside the runtime.
    fn start_background(self: &Arc<Self>) {
        self.background.call_once(|| {
            sys::spawn(self);
            crate::sweep::spawn(self);
        });
    }

    /// Runs `job` every `every` (the first time at once) until shutdown, on a
    /// task that holds the broker only weakly, so it never keeps it alive.
    pub(crate) fn spawn_every(self: &Arc<Self>, every: Duration, job: fn(&Inner)) {
        let weak = Arc::downgrade(self);
        let stop = self.shutdown.clone();
        self.tracker.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let Some(inner) = weak.upgrade() else { break };
                job(&inner);
            }
        });
    }

    /// Milliseconds since the broker started: the clock of connection deadlines.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn next_session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// The start time as nanoseconds since the Unix epoch, which makes
    /// assigned client ids unique across restarts as well.
    pub(crate) fn started_unix_nanos(&self) -> u128 {
        SystemTime::now()
            .checked_sub(self.started.elapsed())
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos())
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// What a session needs to hand over deliveries.
    pub(crate) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            auth: &*self.auth,
            stats: &self.stats,
            max_queued: self.config.max_queued_messages,
            publish_len: writer::delivery_len,
            persist: self.persist.as_ref(),
            ticket: std::cell::Cell::new(0),
        }
    }

    /// Puts the loaded retained messages and sessions in place (start-up).
    /// Restored sessions are offline, with the identity of their user name
    /// only until their next CONNECT; their expiry timers start now.
    fn restore(self: &Arc<Self>, loaded: crate::persist::Loaded) {
        let now = SystemTime::now();
        {
            let mut retained = self.retained.lock();
            for m in loaded.retained {
                retained.set(m);
            }
        }
        let mut max_id = 0;
        let (n, queued) = (
            loaded.sessions.len(),
            loaded.sessions.iter().map(|(_, q)| q.len()).sum::<usize>(),
        );
        for (record, queue) in loaded.sessions {
            max_id = max_id.max(record.id);
            let session = Arc::new(Session::new(
                record.id,
                Identity::new(Arc::clone(&record.username)),
                record.client_id.clone(),
            ));
            let generation = {
                let mut state = session.state.lock();
                state.expiry_secs = record.expiry_secs;
                state.persisted = Some(record.id);
                let mut router = self.router.write();
                for (filter, sub) in record.subscriptions {
                    router.subscribe(record.id, &filter, sub);
                    state.subscriptions.insert(filter, sub);
                }
                drop(router);
                for (seq, m) in queue {
                    state.restore(seq, m);
                }
                state.generation
            };
            let since = record.disconnected_at.unwrap_or(now);
            let left = (since + Duration::from_secs(u64::from(record.expiry_secs)))
                .duration_since(now)
                .unwrap_or(Duration::ZERO);
            self.registry.write().insert(Arc::clone(&session));
            crate::will::after_disconnect(self, session, generation, None, left);
        }
        self.next_session.fetch_max(max_id + 1, Ordering::Relaxed);
        tracing::info!(
            retained = self.retained.lock().len(),
            sessions = n,
            queued,
            "broker state loaded from the store"
        );
    }

    /// Writes a persistent session's record (after CONNECT, SUBSCRIBE,
    /// UNSUBSCRIBE, disconnect); the caller holds its state lock, so records
    /// reach the writer in the order of the changes.
    pub(crate) fn store_session(
        &self,
        session: &Session,
        state: &crate::session::SessionState,
        disconnected: bool,
    ) {
        if let (Some(p), Some(_)) = (&self.persist, state.persisted) {
            let at = disconnected.then(SystemTime::now);
            p.submit(Op::PutSession(session.record(state, at)));
        }
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let mut s = self.stats.snapshot();
        s.sessions = self.registry.read().len() as u64;
        s.subscriptions = self.router.read().subscription_count() as u64;
        s.retained = self.retained.lock().len() as u64;
        s.uptime_secs = self.started.elapsed().as_secs();
        s
    }

    /// Stores (if RETAIN) and routes one accepted message to every matching
    /// session. Synchronous: no lock is held across an `.await` because there is none.
    ///
    /// Returns the store ticket whose commit the publisher's acknowledgement
    /// waits for: 0 when nothing went to the store (no persistence, QoS 0,
    /// only connected receivers).
    pub(crate) fn publish(&self, msg: Arc<Message>) -> u64 {
        let mut ticket = 0;
        if msg.retain && self.config.retain_available {
            let mut retained = self.retained.lock();
            retained.set(Arc::clone(&msg));
            // `$SYS` is republished every few seconds and means nothing after
            // a restart. Submitted under the lock: the store sees the updates
            // of one topic in the order the map did.
            if let Some(p) = &self.persist
                && !msg.topic.starts_with('$')
            {
                ticket = p.submit(if msg.payload.is_empty() {
                    Op::DeleteRetained(msg.topic.clone())
                } else {
                    Op::PutRetained(Arc::clone(&msg))
                });
            }
        }
        let mut routes = ROUTES.with(Cell::take);
        // Lock order: registry, then router or a session's state; nothing
        // takes the registry while holding either.
        let registry = self.registry.read();
        self.router
            .read()
            .route_preferring(&msg.topic, msg.publisher, &mut routes, |id| {
                registry
                    .by_id(id)
                    .is_some_and(|s| s.connected.load(Ordering::Relaxed))
            });
        if !routes.is_empty() {
            let ctx = self.ctx();
            for route in routes.drain(..) {
                let Some(session) = registry.by_id(route.session) else {
                    continue;
                };
                let qos = msg.qos.min(route.qos);
                // [MQTT-3.3.1-12] / MQTT 5 Retain As Published: a live message
                // keeps RETAIN only if the subscription asks for it.
                let retain = msg.retain && route.retain_as_published;
                let d = Delivery::new(Arc::clone(&msg), qos, retain, route.identifiers);
                session.state.lock().offer(d, DeliveryKind::Live, &ctx);
            }
            ticket = ticket.max(ctx.ticket.get());
        }
        if routes.capacity() <= 1024 {
            ROUTES.with(|cell| cell.set(routes));
        }
        ticket
    }

    /// Sends the retained messages matching `filter` (non-shared) to one session
    /// after its SUBSCRIBE, with RETAIN set ([MQTT-3.3.1-8]).
    pub(crate) fn send_retained(
        &self,
        session: &Session,
        filter: &str,
        granted: QoS,
        id: Option<u32>,
    ) {
        let messages = self.retained.lock().matching(filter, Instant::now());
        if messages.is_empty() {
            return;
        }
        let ctx = self.ctx();
        let mut state = session.state.lock();
        for m in messages {
            let qos = m.qos.min(granted);
            let d = Delivery::new(m, qos, true, id.into_iter().collect());
            state.offer(d, DeliveryKind::Retained, &ctx);
        }
    }

    /// Publishes a will on behalf of `who`, re-checking the right to publish it
    /// (the right may have been revoked since CONNECT).
    pub(crate) fn publish_will(&self, who: &Identity, will: Will) {
        if self
            .auth
            .authorize_publish(who, &will.topic, will.qos, will.retain)
            .is_err()
        {
            self.stats.publish_denied();
            tracing::debug!(user = %who.username, topic = %will.topic, "will refused at publication");
            return;
        }
        let mut properties = will.properties;
        properties.will_delay_interval = None;
        let expires_at = properties
            .message_expiry_interval
            .map(|s| Instant::now() + Duration::from_secs(u64::from(s)));
        // Nobody waits for a will's acknowledgement: its ticket is not needed.
        let _ = self.publish(Arc::new(Message {
            topic: will.topic,
            payload: will.payload,
            qos: will.qos.min(self.config.maximum_qos),
            retain: will.retain,
            properties,
            expires_at,
            publisher: None,
        }));
    }

    /// Ends a session: unregisters it, removes its subscriptions from the
    /// trie, and publishes a will still waiting for its delay (the session's
    /// end is the latest moment for it, MQTT 5 §3.1.2.5).
    pub(crate) fn end_session(&self, session: &Arc<Session>) {
        self.registry.write().remove(session);
        let (subscriptions, will) = {
            let mut state = session.state.lock();
            state.ended = true;
            if let (Some(p), Some(id)) = (&self.persist, state.persisted.take()) {
                p.submit(Op::DeleteSession(id));
            }
            state.link = None;
            session.connected.store(false, Ordering::Relaxed);
            (
                std::mem::take(&mut state.subscriptions),
                state.pending_will.take(),
            )
        };
        if !subscriptions.is_empty() {
            let mut router = self.router.write();
            for filter in subscriptions.keys() {
                router.unsubscribe(session.id, filter);
            }
        }
        if let Some(pending) = will {
            let (who, will) = *pending;
            self.publish_will(&who, will);
        }
    }
}
