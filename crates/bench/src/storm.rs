//! Connection storm: how many CONNECT → CONNACK handshakes per second a
//! broker completes, and how long each takes.
//!
//! `concurrency` workers each loop: open TCP, send CONNECT (with the run's
//! credentials, so password checking is part of the cost), wait for CONNACK,
//! send DISCONNECT, close. Latency runs from the start of the TCP connect to
//! the CONNACK. A refused CONNACK counts as a refusal, not a connect; the
//! first error of each kind is kept for the report.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agora_mqtt::{Disconnect, Packet, Properties, ReasonCode};
use anyhow::{Context, Result};
use tokio::task::JoinSet;

use crate::client::{Conn, Target};
use crate::flow::LatencyUs;
use crate::histogram::Histogram;
use crate::procstat::{BrokerUsage, Sampler};

/// Storm parameters.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct StormSettings {
    /// Handshakes to perform in total.
    pub(crate) connections: usize,
    /// Handshakes in flight at once.
    pub(crate) concurrency: usize,
    /// Start no new handshake after this long (seconds), even if fewer than `connections` were made.
    #[serde(serialize_with = "ser_secs")]
    pub(crate) max_duration: Duration,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// The outcome of a storm.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct StormResult {
    /// Handshakes attempted (fewer than asked if the time ran out).
    pub(crate) attempted: usize,
    /// CONNACKs that accepted the connection.
    pub(crate) accepted: usize,
    /// CONNACKs that refused it.
    pub(crate) refused: usize,
    /// Attempts that failed otherwise (connect error, timeout, closed).
    pub(crate) failed: usize,
    /// Wall time of the whole storm, seconds.
    pub(crate) wall_seconds: f64,
    /// Accepted connections per second.
    pub(crate) connects_per_sec: f64,
    /// Connect-to-CONNACK latency of accepted connections.
    pub(crate) connack_latency_us: LatencyUs,
    /// The first refusal or failure, for diagnosis.
    pub(crate) first_error: Option<String>,
    /// Broker CPU and memory, if `--broker-pid` was given.
    pub(crate) broker: Option<BrokerUsage>,
}

#[derive(Debug, Default)]
struct WorkerOutcome {
    latency: Histogram,
    accepted: usize,
    refused: usize,
    failed: usize,
    first_error: Option<String>,
}

/// Runs the storm.
pub(crate) async fn run(
    target: &Target,
    settings: &StormSettings,
    run_id: &str,
    broker_pid: Option<u32>,
) -> Result<StormResult> {
    let next = Arc::new(AtomicUsize::new(0));
    let sampler = match broker_pid {
        Some(pid) => Some(Sampler::start(pid, Duration::from_millis(200))?),
        None => None,
    };
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..settings.concurrency.clamp(1, settings.connections.max(1)) {
        let (t, next, total, run_id) = (
            target.clone(),
            Arc::clone(&next),
            settings.connections,
            run_id.to_owned(),
        );
        let deadline = started + settings.max_duration;
        workers.spawn(async move { worker(t, next, total, deadline, run_id).await });
    }
    let mut all = WorkerOutcome::default();
    while let Some(r) = workers.join_next().await {
        let o = r.context("a storm worker panicked")?;
        all.latency.merge(&o.latency);
        all.accepted += o.accepted;
        all.refused += o.refused;
        all.failed += o.failed;
        if all.first_error.is_none() {
            all.first_error = o.first_error;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let broker = match sampler {
        Some(s) => Some(s.finish()?),
        None => None,
    };
    Ok(StormResult {
        attempted: all.accepted + all.refused + all.failed,
        accepted: all.accepted,
        refused: all.refused,
        failed: all.failed,
        wall_seconds: wall,
        connects_per_sec: if wall > 0.0 {
            all.accepted as f64 / wall
        } else {
            0.0
        },
        connack_latency_us: LatencyUs::from_ns(&all.latency),
        first_error: all.first_error,
        broker,
    })
}

async fn worker(
    target: Target,
    next: Arc<AtomicUsize>,
    total: usize,
    deadline: Instant,
    run_id: String,
) -> WorkerOutcome {
    let mut out = WorkerOutcome::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total || Instant::now() >= deadline {
            return out;
        }
        let id = format!("{run_id}-c{i}");
        let t0 = Instant::now();
        match Conn::open_raw(&target, &id).await {
            Ok((mut conn, ack)) if ack.reason.is_success() => {
                out.latency
                    .record(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
                out.accepted += 1;
                let bye = Packet::Disconnect(Disconnect {
                    reason: ReasonCode::Success,
                    properties: Properties::default(),
                });
                if conn.queue(&bye).is_ok() {
                    let _ = conn.flush().await;
                }
            }
            Ok((_, ack)) => {
                out.refused += 1;
                out.first_error
                    .get_or_insert_with(|| format!("{id}: CONNACK refused: {:?}", ack.reason));
            }
            Err(e) => {
                out.failed += 1;
                out.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
}
