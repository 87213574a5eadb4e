//! Meters: messages and bytes delivered per purchase and published per
//! product, counted with atomics on the hot path.
//!
//! Meters live outside the index (in [`Meters`]) and are handed to each new
//! index by id, so an index rebuild never loses a count. A purchase meter
//! keeps `used`, the total of delivered messages including what the store
//! already had at first load, so that a `messages` plan stops at exactly its
//! quota; `pending_*` hold what has not been flushed to the store yet.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use agora_market::{ProductId, PurchaseId};

/// Counters of one purchase.
#[derive(Debug, Default)]
pub struct PurchaseMeter {
    /// Messages delivered in all (store's count at load + since).
    pub used: AtomicU64,
    /// Messages not yet flushed.
    pub pending_messages: AtomicU64,
    /// Bytes not yet flushed.
    pub pending_bytes: AtomicU64,
}

impl PurchaseMeter {
    /// Counts one delivery of `bytes` unless `quota` is already used up;
    /// returns `(allowed, quota_now_used_up)`.
    pub fn take(&self, quota: Option<u64>, bytes: u64) -> (bool, bool) {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if quota.is_some_and(|q| used >= q) {
                return (false, false);
            }
            match self.used.compare_exchange_weak(
                used,
                used + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => used = now,
            }
        }
        self.pending_messages.fetch_add(1, Ordering::Relaxed);
        self.pending_bytes.fetch_add(bytes, Ordering::Relaxed);
        (true, quota.is_some_and(|q| used + 1 >= q))
    }

    /// Takes the unflushed counts (resetting them).
    pub fn drain(&self) -> (u64, u64) {
        (
            self.pending_messages.swap(0, Ordering::AcqRel),
            self.pending_bytes.swap(0, Ordering::AcqRel),
        )
    }

    /// Gives back counts whose flush failed, to be retried.
    pub fn restore(&self, messages: u64, bytes: u64) {
        self.pending_messages.fetch_add(messages, Ordering::AcqRel);
        self.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
    }
}

/// Counters of one product (what its devices published): its liveness.
#[derive(Debug, Default)]
pub struct ProductMeter {
    /// Messages published into the product's data tree.
    pub messages: AtomicU64,
    /// Bytes published.
    pub bytes: AtomicU64,
    /// When the last one arrived, in milliseconds since the Unix epoch (0 = never).
    pub last_ms: AtomicU64,
    /// Exponentially smoothed interval between messages, in milliseconds (0 = unknown).
    pub interval_ms: AtomicU64,
    /// How many of `messages` have been reported to the store.
    pub flushed_messages: AtomicU64,
    /// How many of `bytes` have been reported to the store.
    pub flushed_bytes: AtomicU64,
}

impl ProductMeter {
    /// Counts one publication of `bytes` at `now`.
    pub fn record(&self, bytes: u64, now: SystemTime) {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let last = self.last_ms.swap(now_ms, Ordering::AcqRel);
        if last != 0 && now_ms >= last {
            let gap = now_ms - last;
            let old = self.interval_ms.load(Ordering::Relaxed);
            // An EWMA with weight 1/8: steady under jitter, follows a real change within a few messages.
            let new = if old == 0 {
                gap
            } else {
                old - old / 8 + gap / 8
            };
            self.interval_ms.store(new, Ordering::Relaxed);
        }
    }

    /// What has not been reported to the store yet: `(messages, bytes, last_ms, interval_ms)`,
    /// marking it reported; `None` when nothing new arrived.
    pub fn drain(&self) -> Option<(u64, u64, u64, Option<u64>)> {
        let total = self.messages.load(Ordering::Acquire);
        let before = self.flushed_messages.swap(total, Ordering::AcqRel);
        let bytes = self.bytes.load(Ordering::Acquire);
        let bytes_before = self.flushed_bytes.swap(bytes, Ordering::AcqRel);
        if total <= before {
            return None;
        }
        let interval = self.interval_ms.load(Ordering::Relaxed);
        Some((
            total - before,
            bytes.saturating_sub(bytes_before),
            self.last_ms.load(Ordering::Relaxed),
            (interval != 0).then_some(interval),
        ))
    }

    /// Gives back a report whose write failed, to be sent again.
    pub fn restore(&self, messages: u64, bytes: u64) {
        self.flushed_messages.fetch_sub(messages, Ordering::AcqRel);
        self.flushed_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Every meter, by id; survives index rebuilds.
#[derive(Debug, Default)]
pub struct Meters {
    /// Per purchase.
    pub purchases: HashMap<PurchaseId, Arc<PurchaseMeter>>,
    /// Per product.
    pub products: HashMap<ProductId, Arc<ProductMeter>>,
}

impl Meters {
    /// The meter of `id`, created with `used` messages if new; an existing
    /// meter is raised to `used` if the store knows of more (never lowered).
    pub fn purchase(&mut self, id: PurchaseId, used: u64) -> Arc<PurchaseMeter> {
        let m = self.purchases.entry(id).or_insert_with(|| {
            Arc::new(PurchaseMeter {
                used: AtomicU64::new(used),
                ..PurchaseMeter::default()
            })
        });
        m.used.fetch_max(used, Ordering::AcqRel);
        m.clone()
    }

    /// The meter of product `id`.
    pub fn product(&mut self, id: ProductId) -> Arc<ProductMeter> {
        self.products.entry(id).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_quota_allows_exactly_its_count() {
        let m = PurchaseMeter::default();
        let mut allowed = 0;
        let mut exhausted_at = None;
        for i in 0..10 {
            let (ok, done) = m.take(Some(3), 5);
            allowed += u32::from(ok);
            if done {
                exhausted_at = Some(i);
            }
        }
        assert_eq!(allowed, 3);
        assert_eq!(
            exhausted_at,
            Some(2),
            "the third delivery uses the quota up"
        );
        assert_eq!(m.drain(), (3, 15));
        assert_eq!(m.drain(), (0, 0));
    }

    #[test]
    fn a_quota_counts_what_the_store_already_had() {
        let mut meters = Meters::default();
        let id = PurchaseId::new();
        let m = meters.purchase(id, 9);
        assert_eq!(m.take(Some(10), 1), (true, true));
        assert_eq!(m.take(Some(10), 1), (false, false));
        // A later snapshot with an older count never lowers the meter.
        let again = meters.purchase(id, 5);
        assert_eq!(again.used.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn liveness_measures_the_interval() {
        let p = ProductMeter::default();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..5 {
            p.record(10, t0 + Duration::from_secs(5 * i));
        }
        let (messages, bytes, last_ms, interval_ms) = p.drain().expect("five new messages");
        assert_eq!((messages, bytes), (5, 50));
        assert_eq!(interval_ms, Some(5000));
        assert_eq!(last_ms, 1_000_020_000);
        assert_eq!(p.drain(), None, "reported once");
    }
}
