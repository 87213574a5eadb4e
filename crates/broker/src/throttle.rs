//! Throttling of failed logins per client address.
//!
//! A client address that keeps presenting wrong credentials is refused for a
//! while without its credentials being checked at all: a guessing storm then
//! costs neither CPU (argon2 takes milliseconds per try) nor log volume, and
//! other addresses are unaffected. Successful logins never count.
//!
//! Each address has a leaky bucket: every failure adds one, the level drains
//! at `refill_per_minute`, and at `burst` the address is refused (CONNACK
//! 0x9F Connection rate exceeded; MQTT 3.1.1 gets 0x03 Server unavailable)
//! until the level drops below it again. The table is bounded: when it is
//! full, drained entries are pruned, and if that frees less than a quarter
//! the least-charged entries go, so a flood of addresses can neither grow it
//! without limit, nor make every failure scan it, nor wipe the record of an
//! address that is being refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use parking_lot::Mutex;

/// Settings of a [`LoginThrottle`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleConfig {
    /// Failures an address may have in a row before it is refused.
    pub burst: f64,
    /// How many failures an address is forgiven per minute.
    pub refill_per_minute: f64,
    /// Most addresses remembered at once.
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> ThrottleConfig {
        ThrottleConfig {
            burst: 10.0,
            refill_per_minute: 10.0,
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: f64,
    at: Instant,
}

/// Failed-login throttle, shared by every connection of one authoriser.
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl LoginThrottle {
    /// A throttle with `config`.
    pub fn new(config: ThrottleConfig) -> LoginThrottle {
        LoginThrottle {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn drained(&self, b: Bucket, now: Instant) -> f64 {
        let minutes = now.saturating_duration_since(b.at).as_secs_f64() / 60.0;
        (b.level - minutes * self.config.refill_per_minute).max(0.0)
    }

    /// Whether `ip` may try to log in now.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allows_at(ip, Instant::now())
    }

    fn allows_at(&self, ip: IpAddr, now: Instant) -> bool {
        let buckets = self.buckets.lock();
        buckets
            .get(&ip)
            .is_none_or(|b| self.drained(*b, now) + 1.0 <= self.config.burst)
    }

    /// Records a failed login from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        self.failed_at(ip, Instant::now());
    }

    fn failed_at(&self, ip: IpAddr, now: Instant) {
        let mut buckets = self.buckets.lock();
        if buckets.len() >= self.config.max_entries && !buckets.contains_key(&ip) {
            buckets.retain(|_, b| self.drained(*b, now) > 0.0);
            // Pruning scans the whole table, so it must free a good share of
            // it for a flood of fresh addresses to cost O(1) per failure on
            // average. If draining freed too little, the least-charged
            // entries go: an address at its limit keeps its record, whatever
            // the flood.
            let keep = self.config.max_entries / 4 * 3;
            if buckets.len() > keep {
                let cut = buckets.len() - keep;
                let mut levels: Vec<f64> =
                    buckets.values().map(|b| self.drained(*b, now)).collect();
                let (_, &mut threshold, _) = levels.select_nth_unstable_by(cut - 1, f64::total_cmp);
                let mut dropped = 0;
                buckets.retain(|_, b| {
                    let drop = dropped < cut && self.drained(*b, now) <= threshold;
                    dropped += usize::from(drop);
                    !drop
                });
            }
        }
        let level = buckets.get(&ip).map_or(0.0, |b| self.drained(*b, now));
        buckets.insert(
            ip,
            Bucket {
                level: level + 1.0,
                at: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn an_address_is_refused_after_its_burst_and_forgiven_over_time() {
        let t = LoginThrottle::new(ThrottleConfig {
            burst: 3.0,
            refill_per_minute: 6.0,
            max_entries: 10,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(t.allows_at(ip(1), t0));
            t.failed_at(ip(1), t0);
        }
        assert!(!t.allows_at(ip(1), t0), "the burst is used up");
        assert!(t.allows_at(ip(2), t0), "other addresses are unaffected");
        // One failure is forgiven every 10 s.
        assert!(t.allows_at(ip(1), t0 + Duration::from_secs(11)));
    }

    #[test]
    fn the_table_never_grows_past_its_bound() {
        let t = LoginThrottle::new(ThrottleConfig {
            burst: 3.0,
            refill_per_minute: 1.0,
            max_entries: 4,
        });
        let t0 = Instant::now();
        for i in 0..50 {
            t.failed_at(ip(i), t0 + Duration::from_millis(u64::from(i)));
        }
        assert!(t.buckets.lock().len() <= 4);
    }

    #[test]
    fn a_flood_of_fresh_addresses_does_not_forgive_a_refused_one() {
        let t = LoginThrottle::new(ThrottleConfig {
            burst: 3.0,
            refill_per_minute: 1.0,
            max_entries: 8,
        });
        let t0 = Instant::now();
        let attacker = IpAddr::from([192, 0, 2, 1]);
        for _ in 0..3 {
            t.failed_at(attacker, t0);
        }
        assert!(!t.allows_at(attacker, t0));
        for i in 0..200 {
            t.failed_at(ip(i), t0);
            assert!(t.buckets.lock().len() <= 8);
        }
        assert!(!t.allows_at(attacker, t0), "still refused after the flood");
    }
}
