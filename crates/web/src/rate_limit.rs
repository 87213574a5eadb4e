//! Login throttling (SPEC §3: "Login is rate-limited per account and per
//! address"), sign-up throttling per address (each sign-up costs an argon2 hash, and
//! unthrottled it is a way to fill the database), and the client address they key on.
//!
//! Two GCRA limiters from `governor`: one keyed by account name, one by the
//! client's IP. A password attempt must pass both, so neither spraying one
//! account from many addresses nor many accounts from one address works.
//! The state is in memory, per process: good enough for one node, and it is
//! cheap (a few dozen bytes per key), pruned whenever it grows.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;

/// How many login attempts are allowed, as a burst that refills over a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Attempts per account per minute (burst of the same size).
    pub per_account_per_minute: NonZeroU32,
    /// Attempts per client address per minute (burst of the same size).
    pub per_address_per_minute: NonZeroU32,
    /// Sign-ups (`POST /accounts`) per client address per minute.
    pub signups_per_address_per_minute: NonZeroU32,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_account_per_minute: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            per_address_per_minute: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
            signups_per_address_per_minute: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// Prune idle keys once a limiter holds this many.
const PRUNE_AT: usize = 10_000;

/// Longest account key kept: names are at most 32 characters, so this loses nothing real,
/// and a flood of huge made-up names cannot grow the table's memory.
const ACCOUNT_KEY_MAX: usize = 64;

/// The two login limiters.
pub(crate) struct LoginLimiter {
    by_account: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    signups: DefaultKeyedRateLimiter<IpAddr>,
}

impl LoginLimiter {
    pub(crate) fn new(limits: LoginLimits) -> Self {
        Self {
            by_account: DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                limits.per_account_per_minute,
            )),
            by_address: DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                limits.per_address_per_minute,
            )),
            signups: DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                limits.signups_per_address_per_minute,
            )),
        }
    }

    /// Counts one attempt; `rate_limited` (429 with `Retry-After`) when over.
    ///
    /// The address is checked first so that an address that is already
    /// blocked cannot use up an account's allowance (which would let an
    /// attacker lock a victim out from one machine).
    pub(crate) fn check(&self, account: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        if let Some(ip) = address {
            if self.by_address.len() > PRUNE_AT {
                self.by_address.retain_recent();
            }
            if let Err(not_until) = self.by_address.check_key(&ip) {
                let wait = not_until.wait_time_from(self.by_address.clock().now());
                return Err(ApiError::rate_limited(wait.as_secs() + 1));
            }
        }
        if self.by_account.len() > PRUNE_AT {
            self.by_account.retain_recent();
        }
        let key: String = account
            .chars()
            .take(ACCOUNT_KEY_MAX)
            .collect::<String>()
            .to_ascii_lowercase();
        if let Err(not_until) = self.by_account.check_key(&key) {
            let wait = not_until.wait_time_from(self.by_account.clock().now());
            tracing::warn!(account = %key, "login attempts for this account are being throttled");
            return Err(ApiError::rate_limited(wait.as_secs() + 1));
        }
        Ok(())
    }
}

impl LoginLimiter {
    /// Counts one sign-up from `address`; `rate_limited` when over. Without an address
    /// (no peer information) nothing is counted.
    pub(crate) fn check_signup(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(ip) = address else {
            return Ok(());
        };
        if self.signups.len() > PRUNE_AT {
            self.signups.retain_recent();
        }
        self.signups.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.signups.clock().now());
            ApiError::rate_limited(wait.as_secs() + 1)
        })
    }
}

/// The client's address: the peer of the TCP connection, or, when the
/// server sits behind a reverse proxy we were told to trust, the address
/// the proxy appended to `X-Forwarded-For`.
///
/// Only the right-most `X-Forwarded-For` entry is used: every hop appends,
/// so entries to the left of our proxy's are whatever the client sent.
pub(crate) fn client_ip(parts: &Parts, trust_proxy_headers: bool) -> Option<IpAddr> {
    if trust_proxy_headers && let Some(ip) = forwarded_for(&parts.headers) {
        return Some(ip);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last_header = headers.get_all("x-forwarded-for").iter().next_back()?;
    let value = last_header.to_str().ok()?;
    value.rsplit(',').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn limits(account: u32, address: u32) -> LoginLimits {
        LoginLimits {
            per_account_per_minute: NonZeroU32::new(account).unwrap_or(NonZeroU32::MIN),
            per_address_per_minute: NonZeroU32::new(address).unwrap_or(NonZeroU32::MIN),
            ..LoginLimits::default()
        }
    }

    #[test]
    fn an_account_is_throttled_after_its_burst_whatever_the_address() {
        let l = LoginLimiter::new(limits(2, 100));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!(l.check("alice", Some(a)).is_ok());
        assert!(l.check("ALICE", Some(b)).is_ok());
        let e = l.check("alice", Some(a)).err().map(|e| e.code());
        assert_eq!(e, Some(ErrorCode::RateLimited));
        assert!(l.check("bob", Some(a)).is_ok());
    }

    #[test]
    fn an_address_is_throttled_across_accounts() {
        let l = LoginLimiter::new(limits(100, 2));
        let a: IpAddr = [10, 0, 0, 1].into();
        assert!(l.check("u1", Some(a)).is_ok());
        assert!(l.check("u2", Some(a)).is_ok());
        assert!(l.check("u3", Some(a)).is_err());
        assert!(l.check("u3", Some([10, 0, 0, 9].into())).is_ok());
    }

    #[test]
    fn only_the_rightmost_forwarded_address_is_believed() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "1.2.3.4, 192.0.2.7"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(forwarded_for(&h), Some([192, 0, 2, 7].into()));
    }
}
