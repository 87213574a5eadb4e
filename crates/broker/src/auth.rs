//! The authentication and authorisation seam: the one place where whoever
//! embeds the broker decides who may connect, subscribe, publish and receive.
//!
//! The broker calls an [`Authorizer`] at four points:
//!
//! 1. [`Authorizer::authenticate`] once per CONNECT, before CONNACK. It is the
//!    only asynchronous method: verifying a password hash (argon2, milliseconds)
//!    or looking something up may take time, and the connection simply waits.
//!    It turns the credentials into an [`Identity`] that the session carries for
//!    its whole life.
//! 2. [`Authorizer::authorize_subscribe`] for each filter of each SUBSCRIBE.
//! 3. [`Authorizer::authorize_publish`] for each PUBLISH, and for the will at
//!    CONNECT time.
//! 4. [`Authorizer::authorize_delivery`] for every message about to be sent to a
//!    subscriber, whatever its origin (live, retained, queued while offline,
//!    re-sent). Re-checking here is what makes revocation take effect on the
//!    next message without touching stored subscriptions.
//!
//! Methods 2 to 4 sit on the publish hot path, so they are synchronous and must
//! answer from memory: no I/O, no locks held for long, no blocking. An
//! implementation that needs fresh data keeps an in-memory index current in the
//! background (and uses `BrokerControl` to kick sessions whose rights vanish).
//!
//! Everything here is deny-friendly: a refusal is always an explicit value, and
//! the broker never treats an error as permission.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use agora_mqtt::{ByteString, Protocol, QoS, ReasonCode};
use bytes::Bytes;

/// The transport a connection arrived on, for authorisers that treat them differently
/// (e.g. refuse passwords over plain TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Plain TCP.
    Tcp,
    /// TCP with TLS.
    Tls,
    /// MQTT over WebSocket (plain or secure, depending on the listener).
    WebSocket,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::WebSocket => "websocket",
        })
    }
}

/// What a client presented in CONNECT, handed to [`Authorizer::authenticate`].
///
/// `Debug` is implemented by hand so that the password never reaches a log.
#[derive(Clone)]
pub struct ConnectRequest {
    /// The client identifier (possibly assigned by the broker if the client sent none).
    pub client_id: ByteString,
    /// The user name field, if present.
    pub username: Option<ByteString>,
    /// The password field (binary in MQTT 5), if present. Never log it.
    pub password: Option<Bytes>,
    /// The remote address of the connection.
    pub peer: SocketAddr,
    /// The transport the connection arrived on.
    pub transport: Transport,
    /// The protocol level of the CONNECT.
    pub protocol: Protocol,
}

impl fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectRequest")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("peer", &self.peer)
            .field("transport", &self.transport)
            .field("protocol", &self.protocol)
            .finish()
    }
}

/// Who a session is, as established by [`Authorizer::authenticate`].
///
/// The broker stores it with the session and passes it back to every
/// `authorize_*` call and to `BrokerControl` predicates. It is cheap to clone
/// (reference-counted fields only).
#[derive(Clone)]
pub struct Identity {
    /// The authenticated user name (empty for anonymous sessions).
    pub username: Arc<str>,
    /// Which credential was used (e.g. an access-key id), so control operations
    /// can find every session opened with it when it is revoked.
    pub credential: Option<Arc<str>>,
    /// The instant the broker closes the session (MQTT 5: DISCONNECT 0xA0
    /// "Maximum connect time"), e.g. a token's `exp`. `None` = no limit.
    pub expires_at: Option<SystemTime>,
    /// Superusers may read `$SYS/#`; the authoriser decides what else it grants them.
    pub superuser: bool,
    /// The authoriser's own per-session data (e.g. the account an entitlement
    /// index is keyed by). The broker only carries it; downcast it in `authorize_*`.
    pub attachment: Option<Arc<dyn Any + Send + Sync>>,
}

impl Identity {
    /// An identity with just a user name: no credential id, no expiry, not a
    /// superuser, no attachment.
    pub fn new(username: impl Into<Arc<str>>) -> Identity {
        Identity {
            username: username.into(),
            credential: None,
            expires_at: None,
            superuser: false,
            attachment: None,
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("username", &self.username)
            .field("credential", &self.credential)
            .field("expires_at", &self.expires_at)
            .field("superuser", &self.superuser)
            .field("attachment", &self.attachment.as_ref().map(|_| ".."))
            .finish()
    }
}

/// Why a CONNECT was refused: the CONNACK reason code, and a message that the
/// broker logs and (MQTT 5 only) sends as the CONNACK reason string.
///
/// The message goes to the client, so it must not reveal more than the code
/// does (e.g. never "no such user" vs "wrong password").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// CONNACK reason code; 3.1.1 clients get the closest return code.
    pub reason: ReasonCode,
    /// Human-readable explanation, safe to show the client.
    pub message: String,
}

impl Refusal {
    /// A refusal with the given reason code and message.
    pub fn new(reason: ReasonCode, message: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.message, self.reason.as_u8())
    }
}

impl std::error::Error for Refusal {}

/// Why a message is being delivered, passed to [`Authorizer::authorize_delivery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryKind {
    /// A message just published, routed to a connected subscriber.
    Live,
    /// A retained message sent because of a new subscription.
    Retained,
    /// A message that was queued while the session was offline, now sent.
    Queued,
    /// A QoS 1/2 message re-sent (DUP) after a reconnect; already counted once.
    Retry,
}

/// The future returned by [`Authorizer::authenticate`].
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<Identity, Refusal>> + Send + 'a>>;

/// Decides who may connect, subscribe, publish and receive.
///
/// One instance is shared (`Arc<dyn Authorizer>`) by every connection, so
/// methods take `&self` and implementations synchronise internally. Only
/// [`authenticate`](Authorizer::authenticate) may wait; the three `authorize_*`
/// methods are synchronous, run on the broker's hot path for every packet, and
/// must answer from memory without I/O or blocking.
///
/// The `authorize_*` methods run while the broker holds its session table's
/// read lock: they must not call [`BrokerControl`](crate::BrokerControl)
/// themselves (hand such work to a task instead), or a concurrent CONNECT
/// waiting for the write lock could deadlock them.
pub trait Authorizer: Send + Sync + 'static {
    /// Called once per CONNECT, before CONNACK, with the client's credentials.
    ///
    /// `Ok(identity)` accepts the connection and the session carries the
    /// identity from then on. `Err(refusal)` answers CONNACK with
    /// `refusal.reason` (typically 0x86 Bad User Name or Password, 0x87 Not
    /// authorized, 0x8A Banned) and closes the connection; the broker logs
    /// `refusal.message` and sends it as the reason string to MQTT 5 clients.
    ///
    /// May be slow (argon2 verification takes milliseconds): implementations
    /// move CPU-heavy work to `tokio::task::spawn_blocking` so the runtime's
    /// workers stay free. The broker applies its own CONNECT timeout.
    fn authenticate(&self, req: ConnectRequest) -> AuthFuture<'_>;

    /// Called for each filter of each SUBSCRIBE, before the subscription is
    /// added. For a shared subscription `$share/{group}/{filter}` the broker
    /// passes the inner `filter`.
    ///
    /// `Ok(())` allows it. `Err(code)` refuses this one filter: the SUBACK
    /// carries `code` for it (normally 0x87 Not authorized; 3.1.1 clients see
    /// 0x80) and the other filters of the packet are unaffected.
    /// Synchronous, in memory, no I/O.
    fn authorize_subscribe(&self, who: &Identity, filter: &str) -> Result<(), ReasonCode>;

    /// Called for each PUBLISH received (and for the will message at CONNECT
    /// time), before it is routed or retained. `topic` is a valid topic name
    /// with any topic alias already resolved.
    ///
    /// `Ok(())` allows it. `Err(code)` refuses it: the broker answers PUBACK /
    /// PUBREC with `code` (MQTT 5) or applies its deny-publish policy (3.1.1
    /// has no negative acknowledgement), and the message goes nowhere. A
    /// refused will makes the CONNECT fail with `code`.
    /// Synchronous, in memory, no I/O.
    fn authorize_publish(
        &self,
        who: &Identity,
        topic: &str,
        qos: QoS,
        retain: bool,
    ) -> Result<(), ReasonCode>;

    /// Called for each message about to be sent to the subscriber `who`,
    /// whatever its origin (see [`DeliveryKind`]), just before it is queued for
    /// the connection.
    ///
    /// `true` sends it; `false` drops this one delivery silently (the
    /// subscriber is not told; the subscription stays). Implementations that
    /// meter may count here, counting only `kind != Retry` so that a re-sent
    /// QoS 1/2 message is not billed twice.
    /// Synchronous, in memory, no I/O.
    fn authorize_delivery(
        &self,
        who: &Identity,
        topic: &str,
        payload_len: usize,
        kind: DeliveryKind,
    ) -> bool;

    /// Called once for each PUBLISH that [`authorize_publish`](Authorizer::authorize_publish)
    /// allowed, with its payload size, just before it is routed: the place to
    /// meter what publishers send (e.g. a product's liveness). Not called for
    /// wills. Synchronous, in memory, no I/O. Does nothing by default.
    fn published(&self, who: &Identity, topic: &str, payload_len: usize) {
        let _ = (who, topic, payload_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn connect_request_debug_never_shows_the_password() {
        let req = ConnectRequest {
            client_id: ByteString::from_static("c1"),
            username: Some(ByteString::from_static("alice")),
            password: Some(Bytes::from_static(b"hunter2")),
            peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1883),
            transport: Transport::Tcp,
            protocol: Protocol::V5,
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains("alice"), "{shown}");
    }

    #[test]
    fn refusal_display_names_message_and_code() {
        let r = Refusal::new(
            ReasonCode::BadUserNameOrPassword,
            "bad user name or password",
        );
        assert_eq!(r.to_string(), "bad user name or password (0x86)");
    }

    #[test]
    fn identity_new_grants_nothing_extra() {
        let id = Identity::new("bob");
        assert_eq!(&*id.username, "bob");
        assert!(!id.superuser);
        assert!(id.credential.is_none() && id.expires_at.is_none() && id.attachment.is_none());
    }
}
