//! Login and sign-up throttling for the pages (SPEC §3: "Login is rate-limited per account
//! and per address").
//!
//! `agora-web` keeps its limiter private, so the pages hold their own, built the same way:
//! GCRA limiters from `governor`, one keyed by account name and one by client address; a
//! password attempt must pass both, so neither spraying one account from many addresses nor
//! many accounts from one address works. The address is checked first, so that a blocked
//! address cannot use up (and so lock) a victim's account allowance. State is in memory,
//! a few dozen bytes per key, pruned when it grows.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

/// How many attempts are allowed, as a burst that refills over a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Login attempts per account per minute.
    pub per_account_per_minute: NonZeroU32,
    /// Login attempts per client address per minute.
    pub per_address_per_minute: NonZeroU32,
    /// Sign-ups per client address per minute (each costs an argon2 hash and a row).
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

/// Longest account key kept (names are at most 32 characters), so a flood of huge made-up
/// names cannot grow the table.
const ACCOUNT_KEY_MAX: usize = 64;

/// The limiters.
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

    /// Counts one login attempt; `Err(seconds to wait)` when over.
    pub(crate) fn check_login(&self, account: &str, address: Option<IpAddr>) -> Result<(), u64> {
        if let Some(ip) = address {
            if self.by_address.len() > PRUNE_AT {
                self.by_address.retain_recent();
            }
            if let Err(not_until) = self.by_address.check_key(&ip) {
                return Err(not_until
                    .wait_time_from(self.by_address.clock().now())
                    .as_secs()
                    + 1);
            }
        }
        if self.by_account.len() > PRUNE_AT {
            self.by_account.retain_recent();
        }
        let key = account
            .chars()
            .take(ACCOUNT_KEY_MAX)
            .collect::<String>()
            .to_ascii_lowercase();
        if let Err(not_until) = self.by_account.check_key(&key) {
            tracing::warn!(account = %key, "web login attempts for this account are being throttled");
            return Err(not_until
                .wait_time_from(self.by_account.clock().now())
                .as_secs()
                + 1);
        }
        Ok(())
    }

    /// Counts one sign-up; `Err(seconds to wait)` when over.
    pub(crate) fn check_signup(&self, address: Option<IpAddr>) -> Result<(), u64> {
        let Some(ip) = address else {
            return Ok(());
        };
        if self.signups.len() > PRUNE_AT {
            self.signups.retain_recent();
        }
        self.signups
            .check_key(&ip)
            .map_err(|n| n.wait_time_from(self.signups.clock().now()).as_secs() + 1)
    }
}

/// The client's address: the TCP peer, or with `trust_proxy_headers` the right-most
/// `X-Forwarded-For` entry (every hop appends, so entries left of our proxy's are whatever
/// the client sent).
pub(crate) fn client_ip(parts: &Parts, trust_proxy_headers: bool) -> Option<IpAddr> {
    if trust_proxy_headers
        && let Some(ip) = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(ip);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(account: u32, address: u32) -> LoginLimiter {
        LoginLimiter::new(LoginLimits {
            per_account_per_minute: NonZeroU32::new(account).unwrap_or(NonZeroU32::MIN),
            per_address_per_minute: NonZeroU32::new(address).unwrap_or(NonZeroU32::MIN),
            ..LoginLimits::default()
        })
    }

    #[test]
    fn an_account_is_throttled_after_its_burst_from_any_address() {
        let l = limiter(2, 100);
        assert!(l.check_login("alice", Some([10, 0, 0, 1].into())).is_ok());
        assert!(l.check_login("ALICE", Some([10, 0, 0, 2].into())).is_ok());
        assert!(l.check_login("alice", Some([10, 0, 0, 3].into())).is_err());
        assert!(l.check_login("bob", Some([10, 0, 0, 1].into())).is_ok());
    }

    #[test]
    fn an_address_is_throttled_across_accounts() {
        let l = limiter(100, 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        assert!(l.check_login("u1", Some(a)).is_ok());
        assert!(l.check_login("u2", Some(a)).is_ok());
        assert!(l.check_login("u3", Some(a)).is_err());
        assert!(l.check_login("u3", Some([10, 0, 0, 9].into())).is_ok());
    }
}

/// The client's address as an extractor (see [`client_ip`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub(crate) Option<IpAddr>);

impl axum::extract::FromRequestParts<crate::UiState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::UiState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(parts, state.settings().trust_proxy_headers)))
    }
}
