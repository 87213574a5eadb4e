//! Counters of the access layer for `/metrics`: authentication failures by
//! reason, refusals, revocations and how long they took.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why a CONNECT was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No user name.
    NoUsername,
    /// No such account or device.
    UnknownUser,
    /// Wrong device secret or access key.
    BadPassword,
    /// A device token that failed verification.
    BadToken,
    /// The account (or the device's owner) is suspended.
    Suspended,
    /// A PEM private key was sent as the password.
    PrivateKeySent,
    /// The address failed too often recently and was not checked.
    Throttled,
}

impl AuthFailure {
    /// Every reason, in the order of [`AccessMetrics::auth_failures`].
    pub const ALL: [AuthFailure; 7] = [
        AuthFailure::NoUsername,
        AuthFailure::UnknownUser,
        AuthFailure::BadPassword,
        AuthFailure::BadToken,
        AuthFailure::Suspended,
        AuthFailure::PrivateKeySent,
        AuthFailure::Throttled,
    ];

    /// The label value in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::NoUsername => "no_username",
            AuthFailure::UnknownUser => "unknown_user",
            AuthFailure::BadPassword => "bad_password",
            AuthFailure::BadToken => "bad_token",
            AuthFailure::Suspended => "suspended",
            AuthFailure::PrivateKeySent => "private_key_sent",
            AuthFailure::Throttled => "throttled",
        }
    }
}

/// Upper bounds (seconds) of the revocation latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0];

/// The counters.
#[derive(Debug, Default)]
pub struct AccessMetrics {
    /// CONNECTs accepted.
    pub auth_ok: AtomicU64,
    /// CONNECTs refused, by [`AuthFailure::ALL`] index.
    pub auth_failures: [AtomicU64; 7],
    /// PUBLISHes refused.
    pub publish_denied: AtomicU64,
    /// SUBSCRIBE filters refused.
    pub subscribe_denied: AtomicU64,
    /// Deliveries withheld (no right, or quota used up).
    pub delivery_denied: AtomicU64,
    /// Sessions disconnected because a right ended.
    pub sessions_revoked: AtomicU64,
    /// Subscriptions dropped because a right ended.
    pub subscriptions_revoked: AtomicU64,
    /// Revocation passes (one per batch of market events).
    pub revocation_passes: AtomicU64,
    /// Revocation latency (event received → sessions told), cumulative buckets.
    pub revocation_latency: [AtomicU64; 8],
    /// Sum of revocation latencies, in microseconds.
    pub revocation_latency_sum_us: AtomicU64,
    /// Meter flushes that failed (retried at the next flush).
    pub flush_failures: AtomicU64,
}

impl AccessMetrics {
    /// Counts a refused CONNECT.
    pub fn auth_failed(&self, why: AuthFailure) {
        let i = AuthFailure::ALL.iter().position(|w| *w == why).unwrap_or(0);
        self.auth_failures[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Records one revocation pass that took `took`.
    pub fn revocation_took(&self, took: Duration) {
        self.revocation_passes.fetch_add(1, Ordering::Relaxed);
        let s = took.as_secs_f64();
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if s <= *bound {
                self.revocation_latency[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.revocation_latency_sum_us.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Appends the counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP agora_auth_success_total MQTT CONNECTs accepted."
        );
        let _ = writeln!(out, "# TYPE agora_auth_success_total counter");
        let _ = writeln!(out, "agora_auth_success_total {}", g(&self.auth_ok));
        let _ = writeln!(
            out,
            "# HELP agora_auth_failures_total MQTT CONNECTs refused, by reason."
        );
        let _ = writeln!(out, "# TYPE agora_auth_failures_total counter");
        for (i, why) in AuthFailure::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "agora_auth_failures_total{{reason=\"{}\"}} {}",
                why.label(),
                g(&self.auth_failures[i])
            );
        }
        let _ = writeln!(
            out,
            "# HELP agora_denials_total Publications, subscriptions and deliveries refused by the market's rules."
        );
        let _ = writeln!(out, "# TYPE agora_denials_total counter");
        let _ = writeln!(
            out,
            "agora_denials_total{{what=\"publish\"}} {}",
            g(&self.publish_denied)
        );
        let _ = writeln!(
            out,
            "agora_denials_total{{what=\"subscribe\"}} {}",
            g(&self.subscribe_denied)
        );
        let _ = writeln!(
            out,
            "agora_denials_total{{what=\"delivery\"}} {}",
            g(&self.delivery_denied)
        );
        let _ = writeln!(
            out,
            "# HELP agora_revocations_total Sessions disconnected and subscriptions dropped because a right ended."
        );
        let _ = writeln!(out, "# TYPE agora_revocations_total counter");
        let _ = writeln!(
            out,
            "agora_revocations_total{{what=\"session\"}} {}",
            g(&self.sessions_revoked)
        );
        let _ = writeln!(
            out,
            "agora_revocations_total{{what=\"subscription\"}} {}",
            g(&self.subscriptions_revoked)
        );
        let _ = writeln!(
            out,
            "# HELP agora_revocation_latency_seconds From a market event to the affected sessions being told."
        );
        let _ = writeln!(out, "# TYPE agora_revocation_latency_seconds histogram");
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "agora_revocation_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                g(&self.revocation_latency[i])
            );
        }
        let passes = g(&self.revocation_passes);
        let _ = writeln!(
            out,
            "agora_revocation_latency_seconds_bucket{{le=\"+Inf\"}} {passes}"
        );
        let _ = writeln!(
            out,
            "agora_revocation_latency_seconds_sum {}",
            g(&self.revocation_latency_sum_us) as f64 / 1e6
        );
        let _ = writeln!(out, "agora_revocation_latency_seconds_count {passes}");
        let _ = writeln!(
            out,
            "# HELP agora_meter_flush_failures_total Meter flushes to the store that failed and were retried."
        );
        let _ = writeln!(out, "# TYPE agora_meter_flush_failures_total counter");
        let _ = writeln!(
            out,
            "agora_meter_flush_failures_total {}",
            g(&self.flush_failures)
        );
    }
}
