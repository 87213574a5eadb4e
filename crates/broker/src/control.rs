//! [`BrokerControl`]: how the embedding application acts on live sessions when
//! rights change (a purchase ends, a key is revoked, an account suspended).
//!
//! Each operation walks the session table once, under its read lock, and
//! tells the affected connections to close through their command channel;
//! the connection tasks act on it at once (well within SPEC §4's second).
//! Subscriptions dropped here leave both the trie and the stored session, so
//! a persistent session that reconnects later does not get them back.
//!
//! The handle holds the broker weakly: an authoriser may keep one (to kick
//! sessions from its own background task) without keeping a shut-down broker
//! alive. On a dropped broker every operation does nothing and returns 0.

use std::sync::{Arc, Weak};
use std::time::SystemTime;

use agora_mqtt::{ByteString, Protocol, ReasonCode};

use crate::auth::Identity;
use crate::broker::Inner;
use crate::session::{Command, Session};

/// A handle for disconnecting sessions and dropping subscriptions. Cheap to clone.
#[derive(Clone)]
pub struct BrokerControl {
    inner: Weak<Inner>,
}

impl std::fmt::Debug for BrokerControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerControl").finish_non_exhaustive()
    }
}

/// One session as [`BrokerControl::list_sessions`] reports it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The session's user name.
    pub username: Arc<str>,
    /// The session's client identifier.
    pub client_id: ByteString,
    /// The identity the session last connected with.
    pub identity: Identity,
    /// Whether a connection serves it now.
    pub connected: bool,
    /// Protocol of the current connection, if connected.
    pub protocol: Option<Protocol>,
    /// Its subscriptions, as subscribed (`$share/…` included).
    pub subscriptions: Vec<ByteString>,
    /// Messages waiting in its queue.
    pub queued: usize,
    /// QoS 1/2 messages sent and not yet acknowledged.
    pub inflight: usize,
    /// When the identity's credentials expire, if they do.
    pub expires_at: Option<SystemTime>,
}

impl BrokerControl {
    pub(crate) fn new(inner: Weak<Inner>) -> BrokerControl {
        BrokerControl { inner }
    }

    /// Disconnects every connected session whose identity matches `pred`.
    /// MQTT 5 clients get DISCONNECT with `reason` (e.g. 0x87 Not authorized)
    /// and `why` as reason string; 3.1.1 clients see the connection close.
    /// Returns how many connections were told to close.
    pub fn disconnect_where(
        &self,
        pred: impl Fn(&Identity) -> bool,
        reason: ReasonCode,
        why: &str,
    ) -> usize {
        let Some(inner) = self.inner.upgrade() else {
            return 0;
        };
        let registry = inner.registry.read();
        let mut n = 0;
        for session in registry.sessions() {
            let mut guard = session.state.lock();
            let state = &mut *guard;
            if let Some(link) = &mut state.link
                && pred(&state.identity)
            {
                n += usize::from(close(link, reason, why));
            }
        }
        n
    }

    /// Removes every subscription (connected or stored session) for which
    /// `pred(identity, filter)` holds, and disconnects the connected sessions
    /// that held one, with `reason` and `why`. `filter` is passed as
    /// subscribed (`$share/{group}/…` included). Returns how many
    /// subscriptions were removed.
    pub fn drop_subscriptions_where(
        &self,
        pred: impl Fn(&Identity, &str) -> bool,
        reason: ReasonCode,
        why: &str,
    ) -> usize {
        let Some(inner) = self.inner.upgrade() else {
            return 0;
        };
        let mut removed: Vec<(u64, ByteString)> = Vec::new();
        {
            let registry = inner.registry.read();
            for session in registry.sessions() {
                let mut state = session.state.lock();
                let doomed: Vec<ByteString> = state
                    .subscriptions
                    .keys()
                    .filter(|f| pred(&state.identity, f))
                    .cloned()
                    .collect();
                if doomed.is_empty() {
                    continue;
                }
                for f in &doomed {
                    state.subscriptions.remove(f);
                }
                inner.store_session(session, &state, false);
                if let Some(link) = &mut state.link {
                    close(link, reason, why);
                }
                removed.extend(doomed.into_iter().map(|f| (session.id, f)));
            }
        }
        if !removed.is_empty() {
            let mut router = inner.router.write();
            for (id, f) in &removed {
                router.unsubscribe(*id, f);
            }
        }
        removed.len()
    }

    /// Every session the broker holds, connected or stored.
    pub fn list_sessions(&self) -> Vec<SessionInfo> {
        let Some(inner) = self.inner.upgrade() else {
            return Vec::new();
        };
        let registry = inner.registry.read();
        registry.sessions().map(|s| info(s)).collect()
    }

    /// Disconnects the session of (`username`, `client_id`) if it is connected,
    /// with 0x98 Administrative action. Returns whether it was.
    pub fn kick(&self, username: &str, client_id: &str) -> bool {
        let Some(inner) = self.inner.upgrade() else {
            return false;
        };
        let registry = inner.registry.read();
        let key = (Arc::from(username), ByteString::from(client_id));
        let Some(session) = registry.get(&key) else {
            return false;
        };
        let mut state = session.state.lock();
        match &mut state.link {
            Some(link) => close(
                link,
                ReasonCode::AdministrativeAction,
                "disconnected by an administrator",
            ),
            None => false,
        }
    }
}

fn close(link: &mut crate::session::Link, reason: ReasonCode, why: &str) -> bool {
    link.tell(Command::close(reason, why))
}

fn info(s: &Session) -> SessionInfo {
    let state = s.state.lock();
    SessionInfo {
        username: Arc::clone(&s.username),
        client_id: s.client_id.clone(),
        identity: (*state.identity).clone(),
        connected: state.link.is_some(),
        protocol: state.link.as_ref().map(|l| l.protocol),
        subscriptions: state.subscriptions.keys().cloned().collect(),
        queued: state.queued(),
        inflight: state.inflight(),
        expires_at: state.identity.expires_at,
    }
}
