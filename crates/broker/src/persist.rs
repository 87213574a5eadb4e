//! The persistence seam: what the broker writes so that retained messages and
//! persistent sessions (with their queued QoS 1/2 messages) survive a crash,
//! and the group-commit writer that makes those writes durable.
//!
//! [`BrokerStore`] is the trait an engine implements (`store_redb.rs` is the
//! one `agora serve` uses): a bulk [`load`](BrokerStore::load) at start-up and
//! [`apply`](BrokerStore::apply), which writes a batch of [`Op`]s in one
//! durable transaction. The broker never calls it on its hot path: the publish
//! path hands each op to the [`Persister`], a dedicated thread that drains
//! everything pending into one transaction per wake-up (one fsync for a whole
//! batch, while the next batch gathers), then publishes the ticket of the last
//! op it made durable. A QoS 1/2 PUBLISH that queued messages for a stored
//! session, or changed a retained message, is acknowledged only once the
//! committed ticket reaches its own (`connection.rs`), so an acknowledged
//! message is on disk.
//!
//! Durability policy, in one place:
//! - Durable before the PUBACK/PUBREC: messages queued for persistent
//!   sessions (offline, or connected with a backlog) and retained updates.
//! - Durable soon after, without holding any acknowledgement: session records
//!   (key, expiry, subscriptions) at CONNECT, SUBSCRIBE, UNSUBSCRIBE and
//!   disconnect; the in-flight window of a session at its disconnect; the
//!   removal of a delivered message at its PUBACK (QoS 1) or PUBREC (QoS 2).
//!   The writer is FIFO, so a session record written before a message was
//!   queued for it is on disk when that message is acknowledged.
//! - Not durable: QoS 0; deliveries handed straight to a connected session
//!   and not yet acknowledged by it when the process dies; wills; `$SYS`
//!   topics; inbound QoS 2 packet ids awaiting PUBREL. Identity is never
//!   stored: a restored session gets its identity at its next CONNECT, and
//!   every delivery is authorised then, so a buyer revoked while the broker
//!   was down receives nothing of the queue.
//! - If a commit fails (disk full, I/O error) the writer logs it and stops
//!   advancing the committed ticket: acknowledgements that need the disk are
//!   withheld from then on (clients re-send), rather than acknowledging what
//!   is not stored.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use agora_mqtt::{ByteString, QoS};
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use crate::router::Subscription;
use crate::{Message, SessionId};

/// What a persistent session is, minus its identity and its queue.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The session's broker-wide id; stable across restarts.
    pub id: SessionId,
    /// User name part of the key.
    pub username: Arc<str>,
    /// Client identifier part of the key.
    pub client_id: ByteString,
    /// Session Expiry Interval in seconds, counted from `disconnected_at`.
    pub expiry_secs: u32,
    /// When its last connection closed; `None` while connected (a session
    /// found connected at start-up was cut by the crash: its expiry starts then).
    pub disconnected_at: Option<SystemTime>,
    /// Subscriptions by filter as subscribed (`$share/…` included).
    pub subscriptions: Vec<(ByteString, Subscription)>,
}

/// One message waiting for (or in flight to) a stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedMessage {
    /// The message.
    pub msg: Arc<Message>,
    /// QoS of this delivery (1 or 2).
    pub qos: QoS,
    /// RETAIN flag to send.
    pub retain: bool,
    /// Subscription identifiers of the matching subscriptions.
    pub identifiers: Vec<u32>,
}

/// One write. A batch of them is applied in one transaction, in order.
#[derive(Debug, Clone)]
pub enum Op {
    /// Store this retained message for its topic.
    PutRetained(Arc<Message>),
    /// Delete the topic's retained message.
    DeleteRetained(ByteString),
    /// Create or replace a session record.
    PutSession(SessionRecord),
    /// Delete a session record and every message queued for it.
    DeleteSession(SessionId),
    /// Queue a message for a session under its per-session sequence number.
    PutQueued {
        /// The session.
        session: SessionId,
        /// Order within the session's queue.
        seq: u64,
        /// The message.
        message: QueuedMessage,
    },
    /// A queued message was delivered (or dropped): forget it.
    RemoveQueued {
        /// The session.
        session: SessionId,
        /// Its sequence number.
        seq: u64,
    },
}

/// Everything stored, as found at start-up.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Retained messages (expired ones left out).
    pub retained: Vec<Arc<Message>>,
    /// Stored sessions whose expiry has not passed, each with its queue in order.
    pub sessions: Vec<(SessionRecord, Vec<(u64, QueuedMessage)>)>,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine failed (I/O, a damaged file, the file in use by another process).
    #[error("broker store: {0}")]
    Engine(String),
    /// A stored record could not be decoded.
    #[error("broker store: corrupt {what} record")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
    },
}

/// A durable home for the broker's retained messages and persistent sessions.
pub trait BrokerStore: Send + Sync {
    /// Reads everything stored. Sessions whose expiry passed before `now`
    /// (and their queues) and expired messages are discarded, from the
    /// result and from the store.
    fn load(&self, now: SystemTime) -> Result<Loaded, StoreError>;

    /// Applies `ops` in order, in one transaction that is durable (synced to
    /// disk) when this returns `Ok`.
    fn apply(&self, ops: &[Op]) -> Result<(), StoreError>;
}

enum Job {
    Op(u64, Op),
    Stop,
}

/// The group-commit writer: a thread that owns the store after start-up.
pub(crate) struct Persister {
    /// Last ticket handed out, and the way to the writer. Locked only to
    /// number and send one op, so that tickets follow the channel's order.
    tx: Mutex<(u64, mpsc::UnboundedSender<Job>)>,
    committed: watch::Receiver<u64>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Persister {
    /// Starts the writer thread on `store`.
    pub(crate) fn start(store: Arc<dyn BrokerStore>) -> std::io::Result<Persister> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = watch::channel(0u64);
        // A dedicated thread rather than `spawn_blocking`: the writer lives as
        // long as the broker and blocks on fsync most of its life.
        let thread = std::thread::Builder::new()
            .name("broker-store".into())
            .spawn(move || write_loop(&*store, rx, &done_tx))?;
        Ok(Persister {
            tx: Mutex::new((0, tx)),
            committed: done_rx,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Hands one op to the writer; its ticket (compare with [`committed`](Persister::committed)).
    pub(crate) fn submit(&self, op: Op) -> u64 {
        let mut g = self.tx.lock();
        g.0 += 1;
        let ticket = g.0;
        // After `close` the writer is gone; nothing waits for this ticket then.
        let _ = g.1.send(Job::Op(ticket, op));
        ticket
    }

    /// The last ticket made durable, watchable.
    pub(crate) fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// Commits what is pending and stops the writer; waits for it.
    pub(crate) async fn close(&self) {
        let _ = self.tx.lock().1.send(Job::Stop);
        let Some(thread) = self.thread.lock().take() else {
            return;
        };
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            tracing::error!("the broker store writer ended abnormally");
        }
    }
}

/// Most ops in one transaction: bounds the time one commit takes.
const MAX_BATCH: usize = 65_536;

fn write_loop(
    store: &dyn BrokerStore,
    mut rx: mpsc::UnboundedReceiver<Job>,
    done: &watch::Sender<u64>,
) {
    let mut batch = Vec::new();
    let mut failed = false;
    loop {
        let Some(first) = rx.blocking_recv() else {
            return;
        };
        let mut last = 0;
        let mut stop = false;
        let mut job = Some(first);
        while let Some(j) = job.take() {
            match j {
                Job::Op(ticket, op) => {
                    last = ticket;
                    batch.push(op);
                }
                Job::Stop => {
                    stop = true;
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                job = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() && !failed {
            match store.apply(&batch) {
                Ok(()) => {
                    done.send_replace(last);
                }
                Err(e) => {
                    // Acknowledging later ops would skip these lost ones:
                    // stop confirming anything (see the module docs).
                    failed = true;
                    tracing::error!(error = %e, "broker store commit failed; acknowledgements that need the disk are withheld from now on");
                }
            }
        }
        batch.clear();
        if stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc as std_mpsc;

    use super::*;

    /// A store that records batch sizes; its first commit waits to be released,
    /// and it fails when told to.
    struct Gate {
        started: Mutex<Option<std_mpsc::Sender<()>>>,
        release: Mutex<Option<std_mpsc::Receiver<()>>>,
        batches: Mutex<Vec<usize>>,
        fail: bool,
    }

    impl BrokerStore for Gate {
        fn load(&self, _: SystemTime) -> Result<Loaded, StoreError> {
            Ok(Loaded::default())
        }
        fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
            if let Some(started) = self.started.lock().take() {
                let _ = started.send(());
                if let Some(release) = self.release.lock().take() {
                    let _ = release.recv();
                }
            }
            self.batches.lock().push(ops.len());
            if self.fail {
                return Err(StoreError::Engine("disk full".into()));
            }
            Ok(())
        }
    }

    fn gate(fail: bool) -> (Arc<Gate>, std_mpsc::Receiver<()>, std_mpsc::Sender<()>) {
        let (started_tx, started_rx) = std_mpsc::channel();
        let (release_tx, release_rx) = std_mpsc::channel();
        let g = Arc::new(Gate {
            started: Mutex::new(Some(started_tx)),
            release: Mutex::new(Some(release_rx)),
            batches: Mutex::new(Vec::new()),
            fail,
        });
        (g, started_rx, release_tx)
    }

    fn op() -> Op {
        Op::DeleteRetained(ByteString::from_static("t"))
    }

    #[test]
    fn writes_that_arrive_during_a_commit_share_the_next_one() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (g, started, release) = gate(false);
        let p = Persister::start(Arc::clone(&g) as Arc<dyn BrokerStore>).expect("start");
        let mut committed = p.committed();
        assert_eq!(p.submit(op()), 1);
        started.recv().expect("first commit started");
        let last = (0..100).map(|_| p.submit(op())).last();
        assert_eq!(last, Some(101));
        release.send(()).expect("release");
        rt.block_on(async {
            while *committed.borrow_and_update() < 101 {
                committed.changed().await.expect("writer alive");
            }
        });
        assert_eq!(
            *g.batches.lock(),
            vec![1, 100],
            "two commits for 101 writes"
        );
        rt.block_on(p.close());
    }

    #[test]
    fn after_a_failed_commit_nothing_more_is_confirmed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (g, started, release) = gate(true);
        let p = Persister::start(Arc::clone(&g) as Arc<dyn BrokerStore>).expect("start");
        p.submit(op());
        started.recv().expect("first commit started");
        release.send(()).expect("release");
        p.submit(op());
        rt.block_on(p.close());
        assert_eq!(*p.committed().borrow(), 0);
        assert_eq!(
            *g.batches.lock(),
            vec![1],
            "no commit is tried after a failure"
        );
    }
}
