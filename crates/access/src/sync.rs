//! The background task that keeps the broker in step with the market.
//!
//! It follows the store's change feed. After each batch of events (all that
//! arrived together) it reloads the snapshot in one consistent read, swaps
//! the new index in, and re-checks every session against it:
//!
//! - sessions whose credential is gone (device deleted, device credential
//!   rotated, access key revoked) or whose account is suspended are
//!   disconnected with 0x87 and a reason string;
//! - subscriptions that no longer lie inside a readable tree (purchase
//!   ended, product deleted) are dropped from live and stored sessions, and
//!   the sessions that held them are disconnected with 0x87.
//!
//! Re-checking everything rather than interpreting each event makes the
//! outcome correct by construction, also after a lagged feed: the index is
//! the truth, and the sessions are brought in line with it. The cost is one
//! snapshot read per batch; per-event incremental updates are the seam to
//! use when markets grow to millions of rows (docs/access.md).
//!
//! On timers it also expires period purchases (`Store::expire_due`, whose
//! events then arrive here) and flushes the meters (`add_usage_batch`, which
//! ends `messages` purchases at their quota). A quota used up on the hot path
//! triggers an immediate flush, so the subscription is dropped within
//! moments; meanwhile the meter already refuses every further delivery.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use agora_broker::control::BrokerControl;
use agora_mqtt::ReasonCode;
use agora_mqtt::topic::split_shared;
use agora_store::Store;
use agora_store::activity::ActivityReport;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::authorizer::{Access, SyncInputs};
use crate::index::Index;
use crate::principal::Principal;
use crate::rules;

impl Access {
    /// Runs until `shutdown` is cancelled (then flushes the meters one last
    /// time) or the store's feed closes.
    pub async fn run_sync(
        self,
        store: Store,
        control: BrokerControl,
        mut inputs: SyncInputs,
        shutdown: CancellationToken,
    ) {
        if let Some(id) = tokio::task::try_id() {
            let _ = self.shared.sync_task.set(id);
        }
        let mut flush = tokio::time::interval(self.shared.config.flush_interval);
        let mut expiry = tokio::time::interval(self.shared.config.expiry_interval);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.shared.nudge.notified() => {
                    // A write waits for its change to be in force (see `commit_hook`).
                    let started = Instant::now();
                    let target = self.shared.committed.load(Ordering::Acquire);
                    if *self.shared.applied.borrow() < target && self.reload(&store).await {
                        self.enforce(&control);
                        self.shared.metrics.revocation_took(started.elapsed());
                        self.shared.applied.send_replace(target);
                    }
                }
                event = inputs.events.recv() => {
                    let started = Instant::now();
                    match event {
                        Ok(ev) => {
                            tracing::debug!(event = ?ev, "market event");
                            // Take everything that is already queued: one reload for the batch.
                            while let Ok(ev) = inputs.events.try_recv() {
                                tracing::debug!(event = ?ev, "market event");
                            }
                        }
                        Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "market feed lagged; reloading everything"),
                        Err(RecvError::Closed) => break,
                    }
                    let target = self.shared.committed.load(Ordering::Acquire);
                    if self.reload(&store).await {
                        self.enforce(&control);
                        self.shared.metrics.revocation_took(started.elapsed());
                        self.shared.applied.send_if_modified(|a| {
                            let moved = *a < target;
                            *a = (*a).max(target);
                            moved
                        });
                    }
                }
                Some(_) = inputs.exhausted.recv() => {
                    while inputs.exhausted.try_recv().is_ok() {}
                    self.flush(&store).await;
                }
                _ = flush.tick() => self.flush(&store).await,
                _ = expiry.tick() => {
                    let now = time::OffsetDateTime::now_utc();
                    if let Err(e) = store.expire_due(now).await {
                        tracing::error!(error = %e, "cannot expire period purchases; retrying at the next tick");
                    }
                }
            }
        }
        self.flush(&store).await;
    }

    /// Reloads the snapshot and swaps the index in; false when the store
    /// could not be read (the old index stays, and the next event retries).
    pub async fn reload(&self, store: &Store) -> bool {
        let snapshot = match store.entitlements().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot reload entitlements; keeping the previous index");
                return false;
            }
        };
        let (index, skipped) = {
            let mut meters = self.shared.meters.lock();
            let built = Index::build(&snapshot, &mut meters);
            // Meters of purchases that ended are dropped once nothing is left to flush.
            let live: std::collections::HashSet<_> =
                snapshot.purchases.iter().map(|p| p.id).collect();
            meters.purchases.retain(|id, m| {
                live.contains(id)
                    || m.pending_messages.load(Ordering::Acquire) > 0
                    || m.pending_bytes.load(Ordering::Acquire) > 0
            });
            built
        };
        for s in skipped {
            tracing::warn!(what = %s.what, why = %s.why, "left out of the access index");
        }
        self.shared.index.store(std::sync::Arc::new(index));
        true
    }

    /// Brings the broker's sessions in line with the current index.
    pub fn enforce(&self, control: &BrokerControl) {
        let index = self.shared.index.load();
        let m = &self.shared.metrics;
        let now = SystemTime::now();
        let mut sessions = 0;
        sessions += control.disconnect_where(
            |id| matches!(Principal::of(id), Some(Principal::Device { id, .. }) if index.device_fingerprint(*id).is_none()),
            ReasonCode::NotAuthorized,
            "the device was deleted",
        );
        sessions += control.disconnect_where(
            |id| matches!(Principal::of(id), Some(Principal::Device { id, credential, .. }) if index.device_fingerprint(*id).is_some_and(|f| f != credential)),
            ReasonCode::NotAuthorized,
            "the device's credential was replaced; connect with the new one",
        );
        sessions += control.disconnect_where(
            |id| match Principal::of(id) {
                Some(Principal::Device { owner_id, .. }) => index.is_suspended(*owner_id),
                Some(Principal::Account { id, .. }) => index.is_suspended(*id),
                None => false,
            },
            ReasonCode::NotAuthorized,
            "the account is suspended",
        );
        sessions += control.disconnect_where(
            |id| matches!(Principal::of(id), Some(Principal::Account { key_id, .. }) if !index.key_is_live(*key_id)),
            ReasonCode::NotAuthorized,
            "the access key was revoked",
        );
        let dropped = control.drop_subscriptions_where(
            |id, filter| {
                let inner = split_shared(filter).map_or(filter, |(_, f)| f);
                Principal::of(id).is_some_and(|p| !rules::may_subscribe(&index, p, inner, now))
            },
            ReasonCode::NotAuthorized,
            "access to the product ended (purchase ended, or product deleted)",
        );
        m.sessions_revoked
            .fetch_add(sessions as u64, Ordering::Relaxed);
        m.subscriptions_revoked
            .fetch_add(dropped as u64, Ordering::Relaxed);
        if sessions > 0 || dropped > 0 {
            tracing::info!(sessions, subscriptions = dropped, "access revoked");
        }
    }

    /// Writes the meters' unflushed counts to the store; on failure they are
    /// kept for the next flush, so no delivered message goes unbilled.
    pub async fn flush(&self, store: &Store) {
        self.flush_usage(store).await;
        self.flush_activity(store).await;
    }

    /// Reports what each product's devices published (its liveness).
    async fn flush_activity(&self, store: &Store) {
        let drained: Vec<_> = {
            let meters = self.shared.meters.lock();
            meters
                .products
                .iter()
                .filter_map(|(id, m)| m.drain().map(|d| (*id, d, m.clone())))
                .collect()
        };
        if drained.is_empty() {
            return;
        }
        let reports: Vec<_> = drained
            .iter()
            .map(
                |(id, (messages, bytes, last_ms, interval_ms), _)| ActivityReport {
                    product_id: *id,
                    messages: *messages,
                    bytes: *bytes,
                    last_data_at: time::OffsetDateTime::from_unix_timestamp_nanos(
                        i128::from(*last_ms) * 1_000_000,
                    )
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
                    measured_interval_secs: interval_ms.map(|ms| ms as f64 / 1000.0),
                },
            )
            .collect();
        if let Err(e) = store.record_product_activity(&reports).await {
            tracing::error!(error = %e, "cannot write product liveness; keeping it for the next flush");
            self.shared
                .metrics
                .flush_failures
                .fetch_add(1, Ordering::Relaxed);
            for (_, (messages, bytes, _, _), meter) in drained {
                meter.restore(messages, bytes);
            }
        }
    }

    /// Reports delivered messages and bytes per purchase (billing, quotas).
    async fn flush_usage(&self, store: &Store) {
        let drained: Vec<_> = {
            let meters = self.shared.meters.lock();
            meters
                .purchases
                .iter()
                .filter_map(|(id, m)| {
                    let (messages, bytes) = m.drain();
                    (messages > 0 || bytes > 0).then(|| (*id, messages, bytes, m.clone()))
                })
                .collect()
        };
        if drained.is_empty() {
            return;
        }
        let usage: Vec<_> = drained.iter().map(|(id, m, b, _)| (*id, *m, *b)).collect();
        if let Err(e) = store.add_usage_batch(&usage).await {
            tracing::error!(error = %e, "cannot write meters; keeping them for the next flush");
            self.shared
                .metrics
                .flush_failures
                .fetch_add(1, Ordering::Relaxed);
            for (_, messages, bytes, meter) in drained {
                meter.restore(messages, bytes);
            }
        }
    }
}
