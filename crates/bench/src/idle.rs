//! Idle connections: what an open, silent connection costs the broker.
//!
//! Reads the broker's RSS, opens `connections` MQTT connections (optionally
//! each with one subscription, as an idle device would have) in two halves,
//! reading RSS after each once the broker has settled. Two figures come out:
//! the average, (after − before) / n, which includes one-time costs such as
//! tables growing; and the marginal cost, the growth over the second half
//! divided by its size, which is what one more connection costs at scale and
//! is immune to the baseline moving (a previous scenario's memory being
//! returned to the OS can shrink RSS by more than a thousand idle connections
//! add: run this on a fresh broker for the average to mean anything).
//!
//! The connections send nothing until the last reading; keep the settle time
//! shorter than the keep-alive so no PINGREQ is needed.

use std::time::{Duration, Instant};

use agora_mqtt::QoS;
use anyhow::{Context, Result, bail};
use tokio::task::JoinSet;

use crate::client::{Conn, Target};
use crate::procstat::sample;

/// Idle-connection parameters.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct IdleSettings {
    /// Connections to open.
    pub(crate) connections: usize,
    /// Connections opened at once.
    pub(crate) concurrency: usize,
    /// Subscribe each connection to its own topic.
    pub(crate) subscribe: bool,
    /// Wait between the last CONNACK and the memory reading, seconds.
    #[serde(serialize_with = "ser_secs")]
    pub(crate) settle: Duration,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// The outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct IdleResult {
    /// Connections open at the memory reading.
    pub(crate) open: usize,
    /// Connections that failed.
    pub(crate) failed: usize,
    /// Time to open them all, seconds.
    pub(crate) connect_seconds: f64,
    /// Broker RSS before connecting, bytes.
    pub(crate) rss_before_bytes: u64,
    /// Broker RSS with every connection open, bytes.
    pub(crate) rss_after_bytes: u64,
    /// Broker RSS with the first half open, bytes.
    pub(crate) rss_half_bytes: u64,
    /// (after − before) / open.
    pub(crate) bytes_per_connection: f64,
    /// (after − half) / connections of the second half.
    pub(crate) marginal_bytes_per_connection: f64,
    /// The first failure, for diagnosis.
    pub(crate) first_error: Option<String>,
}

/// Connections opened by [`open_all`], and what went wrong.
#[derive(Debug, Default)]
struct Opened {
    conns: Vec<Conn>,
    failed: usize,
    first_error: Option<String>,
}

/// Opens the connections numbered `range`, `settings.concurrency` at a time.
async fn open_all(
    target: &Target,
    settings: &IdleSettings,
    range: std::ops::Range<usize>,
    ids: &str,
    topic_base: &str,
) -> Result<Opened> {
    let per_task = range.len().div_ceil(settings.concurrency.max(1));
    let mut tasks = JoinSet::new();
    for t in 0..settings.concurrency.max(1) {
        let first = range.start + t * per_task;
        let last = (first + per_task).min(range.end);
        if first >= last {
            break;
        }
        let (target, ids, base, subscribe) = (
            target.clone(),
            ids.to_owned(),
            topic_base.to_owned(),
            settings.subscribe,
        );
        tasks.spawn(async move {
            let mut out = Opened::default();
            for i in first..last {
                let id = format!("{ids}-i{i}");
                let r = async {
                    let mut c = Conn::open(&target, &id).await?;
                    if subscribe {
                        let topic = format!("{base}/idle/{i}");
                        c.subscribe(&topic, QoS::AtLeastOnce, target.handshake_timeout)
                            .await?;
                    }
                    // The idle connection needs no buffers of its own.
                    c.rbuf = bytes::BytesMut::new();
                    c.wbuf = bytes::BytesMut::new();
                    Ok::<_, anyhow::Error>(c)
                };
                match r.await {
                    Ok(c) => out.conns.push(c),
                    Err(e) => {
                        out.failed += 1;
                        out.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            out
        });
    }
    let mut all = Opened::default();
    while let Some(r) = tasks.join_next().await {
        let o = r.context("a connecting task panicked")?;
        all.conns.extend(o.conns);
        all.failed += o.failed;
        if all.first_error.is_none() {
            all.first_error = o.first_error;
        }
    }
    Ok(all)
}

/// Runs the scenario; needs the broker's pid.
pub(crate) async fn run(
    target: &Target,
    settings: &IdleSettings,
    run_id: &str,
    topic_base: &str,
    broker_pid: u32,
) -> Result<IdleResult> {
    tokio::time::sleep(settings.settle).await;
    let before = sample(broker_pid)?;
    let started = Instant::now();
    let half = settings.connections / 2;
    let first = open_all(target, settings, 0..half, run_id, topic_base).await?;
    tokio::time::sleep(settings.settle).await;
    let mid = sample(broker_pid)?;
    let second = open_all(
        target,
        settings,
        half..settings.connections,
        run_id,
        topic_base,
    )
    .await?;
    let connect_seconds = started.elapsed().as_secs_f64() - settings.settle.as_secs_f64();
    let (open_first, open_second) = (first.conns.len(), second.conns.len());
    let open = open_first + open_second;
    if open == 0 {
        bail!(
            "no connection could be opened: {}",
            first.first_error.or(second.first_error).unwrap_or_default()
        );
    }
    tokio::time::sleep(settings.settle).await;
    let after = sample(broker_pid)?;
    drop((first.conns, second.conns));
    let per = |grew: f64, n: usize| if n == 0 { 0.0 } else { grew / n as f64 };
    Ok(IdleResult {
        open,
        failed: first.failed + second.failed,
        connect_seconds,
        rss_before_bytes: before.rss_bytes,
        rss_half_bytes: mid.rss_bytes,
        rss_after_bytes: after.rss_bytes,
        bytes_per_connection: per(after.rss_bytes as f64 - before.rss_bytes as f64, open),
        marginal_bytes_per_connection: per(
            after.rss_bytes as f64 - mid.rss_bytes as f64,
            open_second,
        ),
        first_error: first.first_error.or(second.first_error),
    })
}
