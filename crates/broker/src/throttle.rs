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
//! the table starts over, so a flood of addresses can neither grow it without
//! limit nor make every failure scan it.

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
            buckets.retain(|_, b| {
                let minutes = now.saturating_duration_since(b.at).as_secs_f64() / 60.0;
                b.level - minutes * self.config.refill_per_minute > 0.0
            });
            // Pruning scans the whole table; if it freed little, start over, so
            // that a flood of fresh addresses costs O(1) per failure on average
            // instead of a full scan each time.
            if buckets.len() > self.config.max_entries / 4 * 3 {
                buckets.clear();
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
}
