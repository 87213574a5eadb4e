//! What a run prints: one JSON object (`--json`), or a short human summary.
//!
//! The JSON is the contract with `bench/compare.sh`: `scenario`, `target`
//! (address, protocol, QoS, whether credentials were sent), `settings` and
//! `result`, whose fields are the scenario's result struct verbatim.

use std::fmt::Write as _;

use serde::Serialize;

use crate::cli::CommonArgs;
use crate::client::Target;
use crate::flow::{FlowResult, FlowSettings, LatencyUs};
use crate::idle::{IdleResult, IdleSettings};
use crate::procstat::BrokerUsage;
use crate::storm::{StormResult, StormSettings};

/// Where the run went.
#[derive(Debug, Serialize)]
pub(crate) struct TargetInfo {
    /// Broker address.
    pub(crate) addr: String,
    /// "3.1.1" or "5".
    pub(crate) protocol: &'static str,
    /// QoS used by the message scenarios.
    pub(crate) qos: u8,
    /// Whether a user name and password were sent.
    pub(crate) auth: bool,
    /// Runtime worker threads of the tool.
    pub(crate) tool_threads: usize,
}

/// A scenario's settings and result.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Outcome {
    /// fan-in, fan-out, pairs, stall.
    Flow {
        /// Traffic settings.
        settings: FlowSettings,
        /// Measurements.
        result: FlowResult,
    },
    /// storm.
    Storm {
        /// Storm settings.
        settings: StormSettings,
        /// Measurements.
        result: StormResult,
    },
    /// idle.
    Idle {
        /// Idle settings.
        settings: IdleSettings,
        /// Measurements.
        result: IdleResult,
    },
}

/// The whole report.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// Always "agora-bench".
    pub(crate) tool: &'static str,
    /// The tool's version.
    pub(crate) version: &'static str,
    /// Scenario name.
    pub(crate) scenario: &'static str,
    /// Where and how.
    pub(crate) target: TargetInfo,
    /// Settings and result.
    #[serde(flatten)]
    pub(crate) outcome: Outcome,
}

impl Report {
    /// Assembles a report.
    pub(crate) fn new(
        scenario: &'static str,
        t: &Target,
        c: &CommonArgs,
        outcome: Outcome,
    ) -> Report {
        Report {
            tool: "agora-bench",
            version: env!("CARGO_PKG_VERSION"),
            scenario,
            target: TargetInfo {
                addr: t.addr.to_string(),
                protocol: match t.protocol {
                    agora_mqtt::Protocol::V311 => "3.1.1",
                    agora_mqtt::Protocol::V5 => "5",
                },
                qos: c.qos,
                auth: t.username.is_some() || t.password.is_some(),
                tool_threads: c.threads.max(1),
            },
            outcome,
        }
    }

    /// The human summary, a few aligned lines.
    pub(crate) fn human(&self) -> String {
        let t = &self.target;
        let auth = if t.auth { "auth on" } else { "no auth" };
        let mut s = String::new();
        match &self.outcome {
            Outcome::Flow {
                settings,
                result: r,
            } => {
                let rate = settings.rate.map_or_else(
                    || "max rate".to_owned(),
                    |r| format!("{} msg/s", thousands(r)),
                );
                let _ = writeln!(
                    s,
                    "{}  {}  MQTT {}  QoS {}  {} pub → {} sub  {} B  {}  {auth}",
                    self.scenario,
                    t.addr,
                    t.protocol,
                    t.qos,
                    r.publishers,
                    r.subscribers,
                    settings.payload_bytes,
                    rate
                );
                let _ = writeln!(
                    s,
                    "  throughput  published {} msg/s   delivered {} msg/s   ({:.1} s window)",
                    thousands(r.published_per_sec),
                    thousands(r.delivered_per_sec),
                    r.window_seconds
                );
                let _ = writeln!(s, "  latency     {}", latency(&r.latency_us));
                if settings.rate.is_none() && settings.max_lag > 0 {
                    let _ = writeln!(
                        s,
                        "              (max rate: includes queueing, up to {} messages per subscriber)",
                        settings.max_lag
                    );
                }
                if let Some(l) = &r.send_lateness_us {
                    let _ = writeln!(s, "  send late   {}", latency(l));
                }
                let q = &r.sequence;
                let _ = writeln!(
                    s,
                    "  sequence    expected {}  received {}  lost {}  duplicates {}  reordered {}  unexpected {}  unacked {}",
                    thousands(q.expected as f64),
                    thousands(q.unique as f64),
                    thousands(q.lost as f64),
                    q.duplicates,
                    q.reordered,
                    r.unexpected,
                    r.unacked
                );
                broker(&mut s, r.broker.as_ref());
            }
            Outcome::Storm {
                settings,
                result: r,
            } => {
                let _ = writeln!(
                    s,
                    "storm  {}  MQTT {}  up to {} connections in {:.0} s, {} at once  {auth}",
                    t.addr,
                    t.protocol,
                    settings.connections,
                    settings.max_duration.as_secs_f64(),
                    settings.concurrency
                );
                let _ = writeln!(
                    s,
                    "  connects    {} /s   accepted {}  refused {}  failed {}   ({:.2} s)",
                    thousands(r.connects_per_sec),
                    r.accepted,
                    r.refused,
                    r.failed,
                    r.wall_seconds
                );
                let _ = writeln!(s, "  CONNACK     {}", latency(&r.connack_latency_us));
                if let Some(e) = &r.first_error {
                    let _ = writeln!(s, "  first error {e}");
                }
                broker(&mut s, r.broker.as_ref());
            }
            Outcome::Idle {
                settings,
                result: r,
            } => {
                let _ = writeln!(
                    s,
                    "idle  {}  MQTT {}  {} connections{}  {auth}",
                    t.addr,
                    t.protocol,
                    settings.connections,
                    if settings.subscribe {
                        " with one subscription each"
                    } else {
                        ""
                    }
                );
                let _ = writeln!(
                    s,
                    "  open        {}  failed {}  (connected in {:.2} s)",
                    r.open, r.failed, r.connect_seconds
                );
                let _ = writeln!(
                    s,
                    "  broker RSS  {} → {} → {}   = {:.0} bytes per connection ({:.0} marginal, over the second half)",
                    mib(r.rss_before_bytes),
                    mib(r.rss_half_bytes),
                    mib(r.rss_after_bytes),
                    r.bytes_per_connection,
                    r.marginal_bytes_per_connection
                );
                if let Some(e) = &r.first_error {
                    let _ = writeln!(s, "  first error {e}");
                }
            }
        }
        s
    }
}

fn latency(l: &LatencyUs) -> String {
    if l.count == 0 {
        return "no samples".to_owned();
    }
    format!(
        "p50 {} µs   p99 {} µs   p99.9 {} µs   max {} µs   (n = {})",
        thousands(l.p50),
        thousands(l.p99),
        thousands(l.p999),
        thousands(l.max),
        thousands(l.count as f64)
    )
}

fn broker(s: &mut String, b: Option<&BrokerUsage>) {
    if let Some(b) = b {
        let _ = writeln!(
            s,
            "  broker      CPU {:.0} %   RSS {} → {} → {} (peak {})",
            b.cpu_percent,
            mib(b.rss_start_bytes),
            mib(b.rss_mid_bytes),
            mib(b.rss_end_bytes),
            mib(b.rss_peak_bytes)
        );
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// `1234567.8` → `"1,234,568"`.
pub(crate) fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-20_000.0), "-20,000");
    }
}
