//! [`Access`]: the market's [`Authorizer`] for the broker.
//!
//! `authenticate` turns a CONNECT into a [`Principal`]: a device by its
//! secret or its RS256 token, an account by one of its access keys. The
//! three `authorize_*` methods apply [`rules`] to the current index and count
//! the meters. Every refusal is counted in [`AccessMetrics`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use agora_broker::auth::{AuthFuture, Authorizer, ConnectRequest, DeliveryKind, Identity, Refusal};
use agora_broker::throttle::{LoginThrottle, ThrottleConfig};
use agora_market::{PurchaseId, SecretHash};
use agora_mqtt::{QoS, ReasonCode};
use agora_store::Store;
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc};

use crate::index::{DeviceKey, Index};
use crate::jwt::{self, JwtPolicy};
use crate::meter::Meters;
use crate::metrics::{AccessMetrics, AuthFailure};
use crate::principal::Principal;
use crate::rules::{self, Delivery};

/// Settings of the access layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessConfig {
    /// Device token rules.
    pub jwt: JwtPolicy,
    /// How often meters are written to the store.
    pub flush_interval: Duration,
    /// How often period purchases past their end are expired.
    pub expiry_interval: Duration,
}

impl Default for AccessConfig {
    fn default() -> AccessConfig {
        AccessConfig {
            jwt: JwtPolicy::default(),
            flush_interval: Duration::from_secs(5),
            expiry_interval: Duration::from_secs(1),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) index: ArcSwap<Index>,
    pub(crate) meters: Mutex<Meters>,
    pub(crate) config: AccessConfig,
    pub(crate) metrics: AccessMetrics,
    /// Purchases whose message quota was just used up: the sync task flushes
    /// their meters at once so that the store ends them (and the event drops
    /// the subscriptions) without waiting for the next flush.
    pub(crate) exhausted: mpsc::UnboundedSender<PurchaseId>,
    /// Addresses that keep failing are refused for a while.
    pub(crate) throttle: LoginThrottle,
    /// Writes whose events the store has announced through the commit hook.
    pub(crate) committed: std::sync::atomic::AtomicU64,
    /// Up to which `committed` number the index and the sessions are in line.
    pub(crate) applied: tokio::sync::watch::Sender<u64>,
    /// Wakes the sync task when a write is waiting for it.
    pub(crate) nudge: tokio::sync::Notify,
    /// The sync task's id: its own writes (expiry, meter flushes) must not wait for itself.
    pub(crate) sync_task: std::sync::OnceLock<tokio::task::Id>,
}

/// The broker's view of the market. Cheap to clone; implements [`Authorizer`].
#[derive(Clone)]
pub struct Access {
    pub(crate) shared: Arc<Shared>,
}

/// What [`Access::load`] hands to [`Access::run_sync`].
pub struct SyncInputs {
    pub(crate) events: broadcast::Receiver<agora_market::MarketEvent>,
    pub(crate) exhausted: mpsc::UnboundedReceiver<PurchaseId>,
}

impl Access {
    /// Subscribes to the store's events, then loads the snapshot (in that
    /// order, so no change between the two is missed).
    pub async fn load(
        store: &Store,
        config: AccessConfig,
    ) -> Result<(Access, SyncInputs), agora_store::StoreError> {
        jwt::install_provider();
        let events = store.subscribe_events();
        let snapshot = store.entitlements().await?;
        let mut meters = Meters::default();
        let (index, skipped) = Index::build(&snapshot, &mut meters);
        for s in skipped {
            tracing::warn!(what = %s.what, why = %s.why, "left out of the access index");
        }
        tracing::info!(sizes = ?index.sizes(), "access index loaded");
        let (tx, rx) = mpsc::unbounded_channel();
        let access = Access {
            shared: Arc::new(Shared {
                index: ArcSwap::from_pointee(index),
                meters: Mutex::new(meters),
                config,
                metrics: AccessMetrics::default(),
                exhausted: tx,
                throttle: LoginThrottle::new(ThrottleConfig::default()),
                committed: std::sync::atomic::AtomicU64::new(0),
                applied: tokio::sync::watch::Sender::new(0),
                nudge: tokio::sync::Notify::new(),
                sync_task: std::sync::OnceLock::new(),
            }),
        };
        Ok((
            access,
            SyncInputs {
                events,
                exhausted: rx,
            },
        ))
    }

    /// The hook to give the store ([`Store::set_commit_hook`]): every write that
    /// changed rights returns to its caller only once the broker enforces the
    /// change (or after a second, if the sync task is stuck). So a revocation
    /// answered by the API is already in force: nothing published after the
    /// answer reaches the revoked buyer.
    pub fn commit_hook(&self) -> agora_store::CommitHook {
        let shared = self.shared.clone();
        Arc::new(move |_events: &[agora_market::MarketEvent]| {
            let shared = shared.clone();
            let seq = shared.committed.fetch_add(1, Ordering::AcqRel) + 1;
            let own = tokio::task::try_id().is_some_and(|id| shared.sync_task.get() == Some(&id));
            Box::pin(async move {
                if own {
                    return;
                }
                shared.nudge.notify_one();
                let mut applied = shared.applied.subscribe();
                let waited =
                    tokio::time::timeout(Duration::from_secs(1), applied.wait_for(|a| *a >= seq))
                        .await;
                if waited.is_err() {
                    tracing::warn!(
                        seq,
                        "the access layer did not apply a change within 1 s; answering anyway"
                    );
                }
            })
        })
    }

    /// The counters, for `/metrics`.
    pub fn metrics(&self) -> &AccessMetrics {
        &self.shared.metrics
    }

    fn refuse(
        &self,
        why: AuthFailure,
        peer: SocketAddr,
        username: &str,
        reason: ReasonCode,
        message: &str,
    ) -> Refusal {
        self.shared.metrics.auth_failed(why);
        tracing::info!(%peer, username, reason = why.label(), "MQTT login refused");
        Refusal::new(reason, message)
    }

    fn authenticate_now(&self, req: &ConnectRequest) -> Result<Identity, Refusal> {
        let peer = req.peer;
        if !self.shared.throttle.allows(peer.ip()) {
            self.shared.metrics.auth_failed(AuthFailure::Throttled);
            return Err(Refusal::new(
                ReasonCode::ConnectionRateExceeded,
                "too many failed logins from this address; wait a minute",
            ));
        }
        let Some(username) = req.username.as_deref() else {
            return Err(self.refuse(
                AuthFailure::NoUsername,
                peer,
                "",
                ReasonCode::NotAuthorized,
                "a user name is required: an account name or owner$hub$device",
            ));
        };
        let password = req.password.as_deref().unwrap_or_default();
        if jwt::looks_like_private_key(password) {
            return Err(self.refuse(
                AuthFailure::PrivateKeySent,
                peer,
                username,
                ReasonCode::BadUserNameOrPassword,
                "that password is a private key: never send it; sign a token with it (agora token --key …) and send the token",
            ));
        }
        let bad = || {
            self.refuse(
                AuthFailure::BadPassword,
                peer,
                username,
                ReasonCode::BadUserNameOrPassword,
                "bad user name or password",
            )
        };
        let unknown = || {
            self.refuse(
                AuthFailure::UnknownUser,
                peer,
                username,
                ReasonCode::BadUserNameOrPassword,
                "bad user name or password",
            )
        };
        let index = self.shared.index.load();
        let Ok(password) = std::str::from_utf8(password) else {
            return Err(bad());
        };
        let now = SystemTime::now();
        if username.contains('$') {
            let Some(device) = index.device(username) else {
                return Err(unknown());
            };
            if index.is_suspended(device.owner_id) {
                return Err(self.refuse(
                    AuthFailure::Suspended,
                    peer,
                    username,
                    ReasonCode::NotAuthorized,
                    "the device's owner is suspended",
                ));
            }
            let mut expires_at = None;
            match &device.key {
                DeviceKey::Secret(hash) => {
                    if !hash.verify(password) {
                        return Err(bad());
                    }
                }
                DeviceKey::PublicKey(key) => {
                    match jwt::verify(password, key, username, &self.shared.config.jwt, now) {
                        Ok(exp) => {
                            if self.shared.config.jwt.disconnect_on_expiry {
                                expires_at = Some(exp);
                            }
                        }
                        Err(e) => {
                            return Err(self.refuse(
                                AuthFailure::BadToken,
                                peer,
                                username,
                                ReasonCode::BadUserNameOrPassword,
                                &e.to_string(),
                            ));
                        }
                    }
                }
            }
            let mut id = Identity::new(username);
            id.credential = Some(Arc::from(format!("device:{}", device.id)));
            id.expires_at = expires_at;
            id.attachment = Some(Arc::new(Principal::Device {
                id: device.id,
                hub_id: device.hub_id,
                owner_id: device.owner_id,
                credential: device.fingerprint,
            }));
            return Ok(id);
        }
        let Some(account) = index.account(username) else {
            return Err(unknown());
        };
        let Some(key) = index.key(&SecretHash::of(password)) else {
            return Err(bad());
        };
        if key.account_id != account.id || key.expires_at.is_some_and(|e| e <= now) {
            return Err(bad());
        }
        if account.suspended {
            return Err(self.refuse(
                AuthFailure::Suspended,
                peer,
                username,
                ReasonCode::NotAuthorized,
                "the account is suspended",
            ));
        }
        let mut id = Identity::new(username);
        id.credential = Some(Arc::from(format!("access-key:{}", key.id)));
        id.expires_at = key.expires_at;
        id.superuser = account.admin;
        id.attachment = Some(Arc::new(Principal::Account {
            id: account.id,
            admin: account.admin,
            key_id: key.id,
            key_products: key.products.clone(),
        }));
        Ok(id)
    }
}

impl Authorizer for Access {
    fn authenticate(&self, req: ConnectRequest) -> AuthFuture<'_> {
        // Everything is in memory and an RS256 verification takes ~20 µs:
        // no reason to leave the connection's task.
        let result = self.authenticate_now(&req);
        if result.is_ok() {
            self.shared.metrics.auth_ok.fetch_add(1, Ordering::Relaxed);
        }
        Box::pin(std::future::ready(result))
    }

    fn authorize_subscribe(&self, who: &Identity, filter: &str) -> Result<(), ReasonCode> {
        let index = self.shared.index.load();
        match Principal::of(who) {
            Some(p) if rules::may_subscribe(&index, p, filter, SystemTime::now()) => Ok(()),
            _ => {
                self.shared
                    .metrics
                    .subscribe_denied
                    .fetch_add(1, Ordering::Relaxed);
                Err(ReasonCode::NotAuthorized)
            }
        }
    }

    fn authorize_publish(
        &self,
        who: &Identity,
        topic: &str,
        _qos: QoS,
        _retain: bool,
    ) -> Result<(), ReasonCode> {
        let index = self.shared.index.load();
        let now = SystemTime::now();
        if Principal::of(who).is_some_and(|p| rules::may_publish(&index, p, topic, now)) {
            // Metering happens in `published`, which knows the payload size.
            return Ok(());
        }
        self.shared
            .metrics
            .publish_denied
            .fetch_add(1, Ordering::Relaxed);
        Err(ReasonCode::NotAuthorized)
    }

    fn published(&self, who: &Identity, topic: &str, payload_len: usize) {
        // Only a device's data counts as the product's liveness. The broker
        // calls this only after `authorize_publish` allowed the topic, so the
        // product lookup is all that is left to do.
        if !matches!(Principal::of(who), Some(Principal::Device { .. })) {
            return;
        }
        if let Some(product) = rules::data_product(&self.shared.index.load(), topic) {
            product.meter.record(payload_len as u64, SystemTime::now());
        }
    }

    fn authorize_delivery(
        &self,
        who: &Identity,
        topic: &str,
        payload_len: usize,
        kind: DeliveryKind,
    ) -> bool {
        let index = self.shared.index.load();
        let Some(p) = Principal::of(who) else {
            return false;
        };
        match rules::may_receive(&index, p, topic, SystemTime::now()) {
            Delivery::Free => true,
            Delivery::Metered(purchase) => {
                if kind == DeliveryKind::Retry {
                    // Already counted when first sent; a retry never bills twice.
                    return true;
                }
                let (allowed, used_up) = purchase.meter.take(purchase.quota, payload_len as u64);
                if used_up {
                    let _ = self.shared.exhausted.send(purchase.id);
                }
                if !allowed {
                    self.shared
                        .metrics
                        .delivery_denied
                        .fetch_add(1, Ordering::Relaxed);
                }
                allowed
            }
            Delivery::Denied => {
                self.shared
                    .metrics
                    .delivery_denied
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}
