//! The message-flow engine behind fan-in, fan-out, pairs and stall: a set of
//! publishers, a set of subscribers, a warm-up, a measured window and a drain.
//!
//! A [`Plan`] says which topic each publisher writes and which publishers
//! each subscriber should hear from. Every connection is one task. Publishers
//! encode as many stamped PUBLISH packets as the rate, the QoS window and a
//! 64 KiB batch allow, then write them at once; subscribers decode every
//! packet a read brings, acknowledge in one write, and keep a latency
//! histogram and a [`SeqTracker`] per publisher. Counters shared with the
//! coordinator are atomics touched once per batch, not per message.
//!
//! Phases: `Warmup` (traffic flows, nothing is measured) → `Measure` (latency
//! recorded for messages *sent* in the window; throughput counted from
//! messages *received* in it) → `Stop` (publishers stop and wait for their
//! last acknowledgements) → `Drain` (subscribers leave once they have
//! everything or hear nothing for a while) → `Done` (everyone leaves).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agora_mqtt::{Packet, Properties, PubResponse, PublishRef, QoS, encode_publish};
use anyhow::{Context, Result, bail};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::client::{Conn, Target};
use crate::histogram::Histogram;
use crate::procstat::{BrokerUsage, Sampler};
use crate::sequence::{SeqTotals, SeqTracker};
use crate::stamp::{Clock, STAMP_LEN, Stamp};

/// A publisher stops encoding once this much is waiting to be written.
const BATCH_BYTES: usize = 64 * 1024;

/// How long stopped publishers wait for their last acknowledgements.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Run phases, in order; tasks watch them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Warmup,
    Measure,
    Stop,
    Drain,
    Done,
}

/// Which publishers a subscriber should receive from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sources {
    /// Every publisher (a wildcard subscription).
    All,
    /// Only this publisher.
    One(u32),
}

impl Sources {
    /// The publisher ids this stands for, out of `n_pub`.
    fn list(self, n_pub: u32) -> Vec<u32> {
        match self {
            Sources::All => (0..n_pub).collect(),
            Sources::One(p) => vec![p],
        }
    }
}

/// One subscriber of a plan.
#[derive(Debug, Clone)]
pub(crate) struct SubPlan {
    /// Topic filter it subscribes to.
    pub(crate) filter: String,
    /// Which publishers' messages that filter matches.
    pub(crate) sources: Sources,
    /// Subscribes, then never reads (the slow-consumer scenario).
    pub(crate) stalled: bool,
}

/// Who publishes where and who listens.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Topic of each publisher; its index is the publisher id in the stamp.
    pub(crate) publishers: Vec<String>,
    /// The subscribers.
    pub(crate) subscribers: Vec<SubPlan>,
}

/// How the traffic flows.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct FlowSettings {
    /// QoS of every PUBLISH and subscription.
    #[serde(serialize_with = "ser_qos")]
    pub(crate) qos: QoS,
    /// Payload size in bytes (at least the 24-byte stamp).
    pub(crate) payload_bytes: usize,
    /// Total publish rate over all publishers (msg/s); `None` = as fast as possible.
    pub(crate) rate: Option<f64>,
    /// Unmeasured time before the window.
    #[serde(serialize_with = "ser_secs")]
    pub(crate) warmup: Duration,
    /// The measured window.
    #[serde(serialize_with = "ser_secs")]
    pub(crate) duration: Duration,
    /// Unacknowledged QoS 1/2 messages allowed per publisher (also capped by the broker's Receive Maximum).
    pub(crate) inflight: u16,
    /// A draining subscriber that hears nothing this long gives up.
    #[serde(serialize_with = "ser_secs")]
    pub(crate) drain_idle: Duration,
    /// Connections opened at once while setting up.
    pub(crate) connect_concurrency: usize,
    /// Messages a subscriber may be behind its publishers, in total, before
    /// they wait for it (0 = never wait). Keeps "max rate" at the broker's
    /// sustainable rate instead of piling seconds of traffic into socket
    /// buffers, which would make latency meaningless and drains endless.
    pub(crate) max_lag: u64,
}

fn ser_qos<S: serde::Serializer>(q: &QoS, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(*q as u8)
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub(crate) struct LatencyUs {
    /// Messages whose latency was recorded.
    pub(crate) count: u64,
    /// Minimum.
    pub(crate) min: f64,
    /// Mean.
    pub(crate) mean: f64,
    /// Median.
    pub(crate) p50: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
    /// 99.9th percentile.
    pub(crate) p999: f64,
    /// Maximum.
    pub(crate) max: f64,
}

impl LatencyUs {
    /// Summarises a histogram of nanoseconds.
    pub(crate) fn from_ns(h: &Histogram) -> LatencyUs {
        let us = |ns: u64| ns as f64 / 1_000.0;
        LatencyUs {
            count: h.len(),
            min: us(h.min()),
            mean: h.mean() / 1_000.0,
            p50: us(h.quantile(0.50)),
            p99: us(h.quantile(0.99)),
            p999: us(h.quantile(0.999)),
            max: us(h.max()),
        }
    }
}

/// The outcome of a flow run.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct FlowResult {
    /// Publishing connections.
    pub(crate) publishers: usize,
    /// Subscribing connections.
    pub(crate) subscribers: usize,
    /// Length of the measured window actually observed, seconds.
    pub(crate) window_seconds: f64,
    /// Messages published per second in the window (all publishers).
    pub(crate) published_per_sec: f64,
    /// Messages delivered per second in the window (all subscribers).
    pub(crate) delivered_per_sec: f64,
    /// Total messages published, warm-up included.
    pub(crate) published_total: u64,
    /// Publish-to-deliver latency of messages sent in the window.
    pub(crate) latency_us: LatencyUs,
    /// Loss, duplicates and reordering over the whole run.
    pub(crate) sequence: SeqTotals,
    /// Messages without our stamp, or from a publisher the subscriber should not hear.
    pub(crate) unexpected: u64,
    /// QoS 1/2 publishes never acknowledged when the publishers stopped waiting.
    pub(crate) unacked: u64,
    /// At a fixed rate: how late publishers sent against their schedule.
    pub(crate) send_lateness_us: Option<LatencyUs>,
    /// Broker CPU and memory, if `--broker-pid` was given.
    pub(crate) broker: Option<BrokerUsage>,
}

/// State shared by every task of a run.
#[derive(Debug)]
struct Shared {
    clock: Clock,
    settings: FlowSettings,
    /// Messages sent so far by each publisher (= its next sequence number).
    sent: Vec<AtomicU64>,
    /// Messages received so far by all subscribers.
    received: AtomicU64,
    /// Per publisher, per (non-stalled) subscriber of it: how far that
    /// subscriber has got in the publisher's sequence.
    progress: Vec<Vec<AtomicU64>>,
    /// Per publisher: woken when one of its subscribers makes progress.
    wake: Vec<tokio::sync::Notify>,
    /// Per publisher: how far it may run ahead of its slowest subscriber (0 = no limit).
    lag_limit: u64,
    /// Clock times bounding the measured window (set by the coordinator).
    window_start_ns: AtomicU64,
    window_end_ns: AtomicU64,
}

impl Shared {
    fn in_window(&self, sent_ns: u64) -> bool {
        sent_ns >= self.window_start_ns.load(Ordering::Relaxed)
            && sent_ns < self.window_end_ns.load(Ordering::Relaxed)
    }

    fn total_sent(&self) -> u64 {
        self.sent.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }
}

/// What a publisher task hands back.
#[derive(Debug, Default)]
struct PubOutcome {
    /// QoS 1/2 publishes never acknowledged.
    unacked: u64,
    /// Send time − scheduled time, at a fixed rate, for messages sent in the window (ns).
    lateness: Histogram,
}

/// What a subscriber task hands back.
#[derive(Debug, Default)]
struct SubOutcome {
    latency: Histogram,
    trackers: Vec<(u32, SeqTracker)>,
    unexpected: u64,
}

/// Runs a plan to completion and reports.
pub(crate) async fn run(
    target: &Target,
    plan: &Plan,
    settings: &FlowSettings,
    run_id: &str,
    broker_pid: Option<u32>,
) -> Result<FlowResult> {
    if plan.publishers.is_empty() {
        bail!("the plan has no publishers");
    }
    // Give each (publisher, live subscriber) pair a progress slot.
    let n_pub = plan.publishers.len() as u32;
    let mut listeners = vec![0usize; plan.publishers.len()];
    let mut slots: Vec<Vec<Option<usize>>> = Vec::with_capacity(plan.subscribers.len());
    let mut busiest = 1usize;
    for sp in &plan.subscribers {
        let sources = sp.sources.list(n_pub);
        if !sp.stalled {
            busiest = busiest.max(sources.len());
        }
        slots.push(
            sources
                .iter()
                .map(|&p| {
                    (!sp.stalled).then(|| {
                        let slot = listeners[p as usize];
                        listeners[p as usize] += 1;
                        slot
                    })
                })
                .collect(),
        );
    }
    let shared = Arc::new(Shared {
        clock: Clock::start(),
        settings: settings.clone(),
        sent: plan.publishers.iter().map(|_| AtomicU64::new(0)).collect(),
        received: AtomicU64::new(0),
        progress: listeners
            .iter()
            .map(|&n| (0..n).map(|_| AtomicU64::new(0)).collect())
            .collect(),
        wake: plan
            .publishers
            .iter()
            .map(|_| tokio::sync::Notify::new())
            .collect(),
        lag_limit: if settings.max_lag == 0 {
            0
        } else {
            (settings.max_lag / busiest as u64).max(1)
        },
        window_start_ns: AtomicU64::new(u64::MAX),
        window_end_ns: AtomicU64::new(u64::MAX),
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Warmup);

    // Subscribers first, all subscribed before anyone publishes.
    let mut subs = JoinSet::new();
    let (ready_tx, mut ready_rx) =
        tokio::sync::mpsc::channel::<Result<()>>(plan.subscribers.len().max(1));
    let gate = Arc::new(tokio::sync::Semaphore::new(
        settings.connect_concurrency.max(1),
    ));
    let sub_target = target.for_subscribers();
    for (i, (sp, slots)) in plan.subscribers.iter().zip(slots).enumerate() {
        let (t, sp, sh, ph, ready, gate) = (
            sub_target.clone(),
            (sp.clone(), slots),
            Arc::clone(&shared),
            phase_rx.clone(),
            ready_tx.clone(),
            Arc::clone(&gate),
        );
        let id = format!("{run_id}-s{i}");
        subs.spawn(async move { subscriber(t, id, sp, n_pub, sh, ph, ready, gate).await });
    }
    drop(ready_tx);
    for _ in 0..plan.subscribers.len() {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e.context("setting up a subscriber")),
            None => bail!("a subscriber ended before subscribing"),
        }
    }

    // Publishers: connect them all, then start together.
    let (go_tx, go_rx) = watch::channel(false);
    let (pready_tx, mut pready_rx) =
        tokio::sync::mpsc::channel::<Result<()>>(plan.publishers.len());
    let mut pubs = JoinSet::new();
    for (i, topic) in plan.publishers.iter().enumerate() {
        let (t, topic, sh, ph, go, ready, gate) = (
            target.clone(),
            topic.clone(),
            Arc::clone(&shared),
            phase_rx.clone(),
            go_rx.clone(),
            pready_tx.clone(),
            Arc::clone(&gate),
        );
        let id = format!("{run_id}-p{i}");
        pubs.spawn(async move { publisher(t, id, i as u32, topic, sh, ph, go, ready, gate).await });
    }
    drop(pready_tx);
    for _ in 0..plan.publishers.len() {
        match pready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e.context("setting up a publisher")),
            None => bail!("a publisher ended before connecting"),
        }
    }
    let _ = go_tx.send(true);

    tokio::time::sleep(settings.warmup).await;
    let sampler = match broker_pid {
        Some(pid) => Some(Sampler::start(pid, Duration::from_millis(200))?),
        None => None,
    };
    let w_start = Instant::now();
    shared
        .window_start_ns
        .store(shared.clock.now_ns(), Ordering::Relaxed);
    let sent0 = shared.total_sent();
    let recv0 = shared.received.load(Ordering::Relaxed);
    let _ = phase_tx.send(Phase::Measure);

    tokio::time::sleep(settings.duration).await;
    shared
        .window_end_ns
        .store(shared.clock.now_ns(), Ordering::Relaxed);
    let sent1 = shared.total_sent();
    let recv1 = shared.received.load(Ordering::Relaxed);
    let window = w_start.elapsed().as_secs_f64();
    let broker = match sampler {
        Some(s) => Some(s.finish()?),
        None => None,
    };
    let _ = phase_tx.send(Phase::Stop);

    let mut unacked = 0u64;
    let mut lateness = Histogram::new();
    while let Some(r) = pubs.join_next().await {
        let o = r.context("a publisher task panicked")??;
        unacked += o.unacked;
        lateness.merge(&o.lateness);
    }
    let _ = phase_tx.send(Phase::Drain);
    // Subscribers leave by themselves when complete or idle; this bounds the wait.
    let drain_cap = settings.drain_idle * 4 + Duration::from_secs(2);
    let deadline = tokio::time::sleep(drain_cap);
    tokio::pin!(deadline);
    let mut outcomes = Vec::new();
    loop {
        tokio::select! {
            r = subs.join_next() => match r {
                Some(r) => outcomes.push(r.context("a subscriber task panicked")??),
                None => break,
            },
            () = &mut deadline, if *phase_tx.borrow() < Phase::Done => { let _ = phase_tx.send(Phase::Done); }
        }
    }

    let mut latency = Histogram::new();
    let mut sequence = SeqTotals::default();
    let mut unexpected = 0;
    for o in &outcomes {
        latency.merge(&o.latency);
        unexpected += o.unexpected;
        for (p, t) in &o.trackers {
            let sent = shared
                .sent
                .get(*p as usize)
                .map_or(0, |s| s.load(Ordering::Relaxed));
            sequence.add(&t.totals(sent));
        }
    }
    let per_sec = |n: u64| if window > 0.0 { n as f64 / window } else { 0.0 };
    Ok(FlowResult {
        publishers: plan.publishers.len(),
        subscribers: plan.subscribers.len(),
        window_seconds: window,
        published_per_sec: per_sec(sent1 - sent0),
        delivered_per_sec: per_sec(recv1 - recv0),
        published_total: shared.total_sent(),
        latency_us: LatencyUs::from_ns(&latency),
        sequence,
        unexpected,
        unacked,
        send_lateness_us: settings.rate.map(|_| LatencyUs::from_ns(&lateness)),
        broker,
    })
}

/// Packet identifiers for QoS 1/2 publishes: a rolling counter that skips 0
/// and identifiers still awaiting their acknowledgement.
#[derive(Debug)]
struct PacketIds {
    in_use: Vec<bool>,
    next: u16,
    outstanding: usize,
}

impl PacketIds {
    fn new() -> PacketIds {
        PacketIds {
            in_use: vec![false; 65_536],
            next: 1,
            outstanding: 0,
        }
    }

    /// A free identifier; callers keep `outstanding` below 65,535.
    fn take(&mut self) -> u16 {
        loop {
            let id = self.next;
            self.next = self.next.wrapping_add(1).max(1);
            if !self.in_use[usize::from(id)] {
                self.in_use[usize::from(id)] = true;
                self.outstanding += 1;
                return id;
            }
        }
    }

    /// Frees an identifier; an unknown one (a stray ack) is ignored.
    fn release(&mut self, id: u16) {
        if std::mem::take(&mut self.in_use[usize::from(id)]) {
            self.outstanding -= 1;
        }
    }
}

/// Waits for the gate, then connects.
async fn open_gated(target: &Target, id: &str, gate: &tokio::sync::Semaphore) -> Result<Conn> {
    let _permit = gate.acquire().await.context("connect gate closed")?;
    Conn::open(target, id).await
}

/// One publishing connection; returns how many QoS 1/2 publishes were never acknowledged.
#[allow(clippy::too_many_arguments)]
async fn publisher(
    target: Target,
    id: String,
    index: u32,
    topic: String,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
    mut go: watch::Receiver<bool>,
    ready: tokio::sync::mpsc::Sender<Result<()>>,
    gate: Arc<tokio::sync::Semaphore>,
) -> Result<PubOutcome> {
    let mut conn = match open_gated(&target, &id, &gate).await {
        Ok(c) => {
            let _ = ready.send(Ok(())).await;
            c
        }
        Err(e) => {
            let _ = ready.send(Err(e)).await;
            return Ok(PubOutcome::default());
        }
    };
    drop(ready);
    go.wait_for(|g| *g).await.context("start signal lost")?;

    let s = &shared.settings;
    let qos = s.qos;
    let window = match qos {
        QoS::AtMostOnce => usize::MAX,
        _ => usize::from(s.inflight.min(conn.receive_maximum).clamp(1, 65_534)),
    };
    // This publisher's share of the total rate, in messages per second.
    let rate = s.rate.map(|r| r / shared.sent.len() as f64);
    let props = Properties::default();
    let mut payload = Vec::with_capacity(s.payload_bytes.max(STAMP_LEN));
    Stamp {
        publisher: index,
        seq: 0,
        sent_ns: 0,
    }
    .write(s.payload_bytes, &mut payload);
    let mut ids = PacketIds::new();
    let mut seq: u64 = 0;
    let started = Instant::now();
    let started_ns = shared.clock.now_ns();
    let mut lateness = Histogram::new();
    let mut stop_at: Option<Instant> = None;
    let counter = &shared.sent[index as usize];

    loop {
        let current = *phase.borrow();
        // When to wake up if nothing else happens: the next message due at a
        // fixed rate, or the end of our wait for the last acknowledgements.
        let mut next_due: Option<Instant> = None;
        if current >= Phase::Stop {
            let give_up = *stop_at.get_or_insert_with(|| Instant::now() + STOP_GRACE);
            // A broker that stopped reading us (say, to push back on a stalled
            // subscriber) must not hang the run: leave at the deadline.
            if (conn.wbuf.is_empty() && ids.outstanding == 0) || Instant::now() >= give_up {
                break;
            }
            next_due = Some(give_up);
        }

        // Encode what the rate, the QoS window, the subscribers' lag and the batch allow.
        let mut lag_blocked = false;
        if current < Phase::Stop && conn.wbuf.len() < BATCH_BYTES {
            let mut allowed = usize::MAX;
            if let Some(r) = rate {
                // Message k is due at k / r: k = 0 goes out at once.
                let due = (started.elapsed().as_secs_f64() * r) as u64 + 1;
                allowed = due.saturating_sub(seq).min(usize::MAX as u64) as usize;
                if allowed == 0 {
                    next_due = Some(started + Duration::from_secs_f64(seq as f64 / r));
                }
            }
            if qos != QoS::AtMostOnce {
                allowed = allowed.min(window.saturating_sub(ids.outstanding));
            }
            if shared.lag_limit > 0 {
                let slowest = shared.progress[index as usize]
                    .iter()
                    .map(|p| p.load(Ordering::Relaxed))
                    .min()
                    .unwrap_or(u64::MAX);
                let room = shared.lag_limit.saturating_sub(seq.saturating_sub(slowest));
                if room == 0 {
                    lag_blocked = true;
                }
                allowed = allowed.min(usize::try_from(room).unwrap_or(usize::MAX));
            }
            let mut encoded = 0usize;
            while encoded < allowed && conn.wbuf.len() < BATCH_BYTES {
                // The stamp is the real send time, so latency is the broker's
                // path alone. At a fixed rate we also record how late each
                // message left against its schedule: a broker that holds
                // publishers up (TCP back-pressure, the QoS window) shows up
                // there and in the published rate, not hidden (coordinated
                // omission); tokio's millisecond timer alone makes it ~1 ms.
                let sent_ns = shared.clock.now_ns();
                if let Some(r) = rate
                    && shared.in_window(sent_ns)
                {
                    let due_ns = started_ns + (seq as f64 * 1e9 / r) as u64;
                    lateness.record(sent_ns.saturating_sub(due_ns));
                }
                Stamp::restamp(&mut payload, seq, sent_ns);
                let packet_id = (qos != QoS::AtMostOnce).then(|| ids.take());
                let p = PublishRef {
                    dup: false,
                    qos,
                    retain: false,
                    topic: &topic,
                    packet_id,
                    properties: &props,
                    subscription_identifiers: &[],
                    topic_alias: None,
                    payload: &payload,
                };
                encode_publish(&p, conn.protocol, &mut conn.wbuf).context("encoding PUBLISH")?;
                seq += 1;
                encoded += 1;
            }
            if encoded > 0 {
                counter.store(seq, Ordering::Relaxed);
            }
        }

        let Conn {
            stream, rbuf, wbuf, ..
        } = &mut conn;
        let (mut rd, mut wr) = stream.split();
        if rbuf.capacity() - rbuf.len() < 4096 {
            rbuf.reserve(16 * 1024);
        }
        let sleep =
            tokio::time::sleep_until(next_due.map_or_else(tokio::time::Instant::now, Into::into));
        tokio::select! {
            biased;
            r = tokio::io::AsyncReadExt::read_buf(&mut rd, rbuf) => {
                if r.context("reading acknowledgements")? == 0 {
                    bail!("{id}: the broker closed the connection");
                }
                while let Some(p) = conn.decode_next()? {
                    match p {
                        Packet::PubAck(a) | Packet::PubComp(a) => ids.release(a.packet_id),
                        Packet::PubRec(a) => {
                            if !a.reason.is_success() {
                                ids.release(a.packet_id);
                            } else {
                                conn.queue(&Packet::PubRel(PubResponse::success(a.packet_id)))?;
                            }
                        }
                        Packet::Disconnect(d) => bail!("{id}: the broker disconnected us: {:?}", d.reason),
                        _ => {}
                    }
                }
            }
            w = wr.write_buf(wbuf), if !wbuf.is_empty() => {
                w.context("writing PUBLISH packets")?;
            }
            _ = phase.changed() => {}
            () = shared.wake[index as usize].notified(), if lag_blocked => {}
            () = sleep, if next_due.is_some() && (wbuf.is_empty() || current >= Phase::Stop) => {}
        }
    }
    // Only say goodbye on a connection whose queue drained.
    let stuck = !conn.wbuf.is_empty();
    let _ = conn.queue(&Packet::Disconnect(agora_mqtt::Disconnect {
        reason: agora_mqtt::ReasonCode::Success,
        properties: Properties::default(),
    }));
    if !stuck {
        let _ = tokio::time::timeout(STOP_GRACE, conn.flush()).await;
    }
    Ok(PubOutcome {
        unacked: ids.outstanding as u64,
        lateness,
    })
}

/// One subscribing connection.
#[allow(clippy::too_many_arguments)]
async fn subscriber(
    target: Target,
    id: String,
    (plan, slots): (SubPlan, Vec<Option<usize>>),
    n_pub: u32,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
    ready: tokio::sync::mpsc::Sender<Result<()>>,
    gate: Arc<tokio::sync::Semaphore>,
) -> Result<SubOutcome> {
    let qos = shared.settings.qos;
    let setup = async {
        let mut c = open_gated(&target, &id, &gate).await?;
        c.subscribe(&plan.filter, qos, target.handshake_timeout)
            .await?;
        Ok::<_, anyhow::Error>(c)
    };
    let mut conn = match setup.await {
        Ok(c) => {
            let _ = ready.send(Ok(())).await;
            c
        }
        Err(e) => {
            let _ = ready.send(Err(e)).await;
            return Ok(SubOutcome::default());
        }
    };
    drop(ready);

    let mut out = SubOutcome {
        trackers: plan
            .sources
            .list(n_pub)
            .iter()
            .map(|&p| (p, SeqTracker::new()))
            .collect(),
        ..SubOutcome::default()
    };
    let mut reported = vec![0u64; out.trackers.len()];
    if plan.stalled {
        // Never read: let the broker's queue for us fill up.
        phase
            .wait_for(|p| *p >= Phase::Drain)
            .await
            .context("phase lost")?;
        out.trackers.clear();
        return Ok(out);
    }
    let tracker_index = |publisher: u32| -> Option<usize> {
        match plan.sources {
            Sources::All => (publisher < n_pub).then_some(publisher as usize),
            Sources::One(p) => (publisher == p).then_some(0),
        }
    };

    loop {
        let current = *phase.borrow();
        if current >= Phase::Done {
            break;
        }
        if current >= Phase::Drain && complete(&out.trackers, &shared) {
            break;
        }
        let idle = tokio::time::sleep(shared.settings.drain_idle);
        let got = tokio::select! {
            biased;
            r = conn.read_some() => r?,
            _ = phase.changed() => continue,
            () = idle, if current >= Phase::Drain => break,
        };
        if got == 0 {
            if current >= Phase::Stop {
                break;
            }
            bail!("{id}: the broker closed the connection");
        }
        let now = shared.clock.now_ns();
        let mut n = 0u64;
        while let Some(p) = conn.decode_next()? {
            match p {
                Packet::Publish(p) => {
                    n += 1;
                    conn.queue_ack(p.qos, p.packet_id)?;
                    let Some(st) = Stamp::read(&p.payload) else {
                        out.unexpected += 1;
                        continue;
                    };
                    let Some(ti) = tracker_index(st.publisher) else {
                        out.unexpected += 1;
                        continue;
                    };
                    out.trackers[ti].1.observe(st.seq);
                    if shared.in_window(st.sent_ns) {
                        out.latency.record(now.saturating_sub(st.sent_ns));
                    }
                }
                Packet::PubRel(r) => {
                    conn.queue(&Packet::PubComp(PubResponse::success(r.packet_id)))?
                }
                Packet::Disconnect(d) => bail!("{id}: the broker disconnected us: {:?}", d.reason),
                _ => {}
            }
        }
        shared.received.fetch_add(n, Ordering::Relaxed);
        // Tell publishers we moved on, so that the lag limit lets them go.
        for (i, (p, t)) in out.trackers.iter().enumerate() {
            let hw = t.high_water();
            if let Some(slot) = slots.get(i).copied().flatten()
                && hw != reported[i]
            {
                reported[i] = hw;
                shared.progress[*p as usize][slot].store(hw, Ordering::Relaxed);
                shared.wake[*p as usize].notify_one();
            }
        }
        if !conn.wbuf.is_empty() {
            conn.stream
                .write_all(&conn.wbuf)
                .await
                .context("writing acknowledgements")?;
            conn.wbuf.clear();
        }
    }
    Ok(out)
}

/// Whether a subscriber has received (at least as many messages as) everything sent to it.
fn complete(trackers: &[(u32, SeqTracker)], shared: &Shared) -> bool {
    trackers.iter().all(|(p, t)| {
        let sent = shared
            .sent
            .get(*p as usize)
            .map_or(0, |s| s.load(Ordering::Relaxed));
        t.totals(sent).lost == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_ids_skip_zero_and_ids_in_use() {
        let mut ids = PacketIds::new();
        ids.next = u16::MAX;
        assert_eq!(ids.take(), u16::MAX);
        assert_eq!(ids.take(), 1); // wrapped past 0
        ids.next = u16::MAX;
        assert_eq!(ids.take(), 2); // 65535 and 1 are still in use
        assert_eq!(ids.outstanding, 3);
        ids.release(1);
        ids.release(1); // a stray duplicate ack
        assert_eq!(ids.outstanding, 2);
    }

    #[test]
    fn phases_are_ordered() {
        assert!(Phase::Warmup < Phase::Measure && Phase::Measure < Phase::Stop);
        assert!(Phase::Stop < Phase::Drain && Phase::Drain < Phase::Done);
    }
}
