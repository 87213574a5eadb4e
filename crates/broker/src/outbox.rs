//! A connection's outbound queue: where publishers on other tasks hand it
//! deliveries, for the connection's own task to encode and write.
//!
//! It replaces a tokio `mpsc` channel for one reason: memory. A channel
//! allocates its first block of slots (32 × 48 bytes) and its cache-padded
//! state when it is made, about 1.5 KiB for every connection, idle or not.
//! This queue is a `VecDeque` behind a lock: empty, it holds no slots at all.
//!
//! Producers (publishers' tasks, under the session's lock) check [`room`]
//! before they authorise a delivery and [`push`] it after, so a message the
//! queue cannot take is never metered. The capacity is the configured
//! `outbound_queue`; deliveries are serialised by the session lock, so
//! check-then-push cannot overshoot it. The consumer (the connection) takes
//! everything at once by swapping buffers, so the lock is held for a few
//! instructions whatever the batch size.
//!
//! [`room`]: Outbox::room
//! [`push`]: Outbox::push

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Context;

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;

use crate::session::{Command, Outbound};

/// Why [`Outbox::room`] said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// The queue holds `capacity` items: the connection is not keeping up.
    Full,
    /// The connection is closing and takes nothing more.
    Closed,
}

/// A bounded multi-producer, single-consumer queue of [`Outbound`] items,
/// with a slot for the one [`Command`] a connection can be told (every
/// command closes it).
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// The connection's task, registered each time it polls (lock-free).
    waker: AtomicWaker,
    /// Items queued, readable without the lock (for [`Outbox::room`]).
    len: AtomicUsize,
    closed: AtomicBool,
    /// Set by the first command, never cleared: later ones are refused, and
    /// the consumer looks for one (under the lock) only once it is set.
    told: AtomicBool,
    capacity: usize,
    /// When the keep-alive runs out, in broker milliseconds (`Inner::now_ms`);
    /// moved on by the connection at every read. `u64::MAX`: never.
    alive_until: AtomicU64,
    /// When the client's credentials expire, in broker milliseconds.
    expires: AtomicU64,
}

/// Which deadline of a connection has passed ([`Outbox::overdue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overdue {
    /// Nothing came from the client for 1.5 × its keep-alive.
    KeepAlive,
    /// The credentials it connected with have expired.
    Credentials,
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Outbound>,
    /// Boxed: told once at most, and 8 bytes here instead of 40.
    command: Option<Box<Command>>,
}

impl Outbox {
    /// An empty queue that [`room`](Outbox::room) reports full at `capacity` items.
    pub(crate) fn new(capacity: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State::default()),
            waker: AtomicWaker::new(),
            len: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            told: AtomicBool::new(false),
            capacity: capacity.max(1),
            alive_until: AtomicU64::new(u64::MAX),
            expires: AtomicU64::new(u64::MAX),
        }
    }

    /// Moves the keep-alive deadline (`u64::MAX`: none).
    pub(crate) fn alive_until(&self, ms: u64) {
        self.alive_until.store(ms, Ordering::Relaxed);
    }

    /// Sets when the credentials expire (`u64::MAX`: never).
    pub(crate) fn expires(&self, ms: u64) {
        self.expires.store(ms, Ordering::Relaxed);
    }

    /// The deadline that has passed at `now_ms`, if any; expiry first.
    pub(crate) fn overdue(&self, now_ms: u64) -> Option<Overdue> {
        if now_ms >= self.expires.load(Ordering::Relaxed) {
            Some(Overdue::Credentials)
        } else if now_ms >= self.alive_until.load(Ordering::Relaxed) {
            Some(Overdue::KeepAlive)
        } else {
            None
        }
    }

    /// Whether a delivery may be queued now.
    pub(crate) fn room(&self) -> Result<(), NoRoom> {
        if self.closed.load(Ordering::Acquire) {
            Err(NoRoom::Closed)
        } else if self.len.load(Ordering::Acquire) >= self.capacity {
            Err(NoRoom::Full)
        } else {
            Ok(())
        }
    }

    /// Queues an item whatever the capacity (the caller checked
    /// [`room`](Outbox::room), or the item must not be lost: the CONNACK and
    /// the re-sends of a resumed session). False when the queue is closed.
    pub(crate) fn push(&self, item: Outbound) -> bool {
        {
            let mut s = self.state.lock();
            // Checked under the lock: `close` sets the flag under it too, so
            // nothing slips in after the consumer's last take.
            if self.closed.load(Ordering::Acquire) {
                return false;
            }
            s.items.push_back(item);
            self.len.store(s.items.len(), Ordering::Release);
        }
        // Woken outside the lock: the consumer may run at once on another thread.
        self.waker.wake();
        true
    }

    /// Tells the connection to close; false if it was told already or is closing.
    pub(crate) fn tell(&self, command: Command) -> bool {
        {
            let mut s = self.state.lock();
            if self.closed.load(Ordering::Acquire) || self.told.load(Ordering::Acquire) {
                return false;
            }
            s.command = Some(Box::new(command));
            self.told.store(true, Ordering::Release);
        }
        self.waker.wake();
        true
    }

    /// Registers the consumer's task, to be woken by the next push or
    /// command. Call before looking for either, so that none is missed.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        self.waker.register(cx.waker());
    }

    /// The command the connection was told, if any.
    pub(crate) fn command(&self) -> Option<Command> {
        if !self.told.load(Ordering::Acquire) {
            return None;
        }
        self.state.lock().command.take().map(|c| *c)
    }

    /// Moves every queued item to the back of `into`; false if there was none.
    pub(crate) fn take(&self, into: &mut VecDeque<Outbound>) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut s = self.state.lock();
        if s.items.is_empty() {
            return false;
        }
        if into.is_empty() {
            // Swap buffers: the producers get `into`'s (empty) allocation.
            std::mem::swap(&mut s.items, into);
        } else {
            into.append(&mut s.items);
        }
        self.len.store(0, Ordering::Release);
        true
    }

    /// Refuses everything from now on and returns what is still queued.
    pub(crate) fn close(&self) -> VecDeque<Outbound> {
        let mut s = self.state.lock();
        self.closed.store(true, Ordering::Release);
        self.len.store(0, Ordering::Release);
        s.command = None;
        std::mem::take(&mut s.items)
    }

    /// Takes the oldest item, if any (tests drive sessions without a connection).
    #[cfg(test)]
    pub(crate) fn try_recv(&self) -> Option<Outbound> {
        let mut s = self.state.lock();
        let item = s.items.pop_front();
        self.len.store(s.items.len(), Ordering::Release);
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::AckKind;
    use agora_mqtt::ReasonCode;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn ack(id: u16) -> Outbound {
        Outbound::Ack(AckKind::Ack, id, ReasonCode::Success)
    }

    fn id_of(o: &Outbound) -> u16 {
        match o {
            Outbound::Ack(_, id, _) => *id,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn close() -> Command {
        Command::close(ReasonCode::SessionTakenOver, "test")
    }

    #[test]
    fn room_runs_out_at_capacity_and_comes_back_when_taken() {
        let q = Outbox::new(2);
        assert_eq!(q.room(), Ok(()));
        assert!(q.push(ack(1)));
        assert!(q.push(ack(2)));
        assert_eq!(q.room(), Err(NoRoom::Full));
        let mut got = VecDeque::new();
        assert!(q.take(&mut got));
        assert_eq!(got.iter().map(id_of).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(q.room(), Ok(()));
        assert!(!q.take(&mut got), "nothing more to take");
    }

    #[test]
    fn a_registered_task_is_woken_by_a_push_and_by_a_command() {
        let q = Outbox::new(8);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let cx = Context::from_waker(&waker);
        q.register(&cx);
        q.push(ack(1));
        q.push(ack(2));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "one wake per registration"
        );
        q.register(&cx);
        assert!(q.tell(close()));
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(q.command().is_some());
        assert!(q.command().is_none(), "a command is taken once");
    }

    #[test]
    fn a_deadline_is_overdue_once_reached_and_expiry_wins() {
        let q = Outbox::new(8);
        assert_eq!(q.overdue(u64::MAX - 1), None, "no deadlines by default");
        q.alive_until(1_000);
        assert_eq!(q.overdue(999), None);
        assert_eq!(q.overdue(1_000), Some(Overdue::KeepAlive));
        q.alive_until(5_000);
        assert_eq!(q.overdue(1_000), None, "a read moves the keep-alive on");
        q.expires(2_000);
        assert_eq!(q.overdue(6_000), Some(Overdue::Credentials));
    }

    #[test]
    fn only_the_first_command_counts() {
        let q = Outbox::new(8);
        assert!(q.tell(close()));
        assert!(!q.tell(close()));
    }

    #[test]
    fn a_take_appends_behind_what_the_consumer_already_holds() {
        let q = Outbox::new(8);
        let mut got = VecDeque::from([ack(1)]);
        q.push(ack(2));
        assert!(q.take(&mut got));
        assert_eq!(got.iter().map(id_of).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn a_closed_queue_refuses_and_hands_back_what_it_held() {
        let q = Outbox::new(8);
        q.push(ack(1));
        let left = q.close();
        assert_eq!(left.len(), 1);
        assert_eq!(q.room(), Err(NoRoom::Closed));
        assert!(!q.push(ack(2)));
        assert!(!q.tell(close()), "a closing connection needs no command");
    }
}
