//! The broker's one clock for every connection's deadlines: the keep-alive
//! (1.5 × the keep-alive with no packet from the client, [MQTT-3.1.2-24])
//! and the expiry of the credentials it connected with.
//!
//! A timer per connection costs a tokio `Sleep` (112 bytes) in every idle
//! connection's task. Instead each connection writes its deadlines into its
//! outbox (two atomics; a read moves the keep-alive on) and this task looks
//! at all of them every [`EVERY`], telling the overdue ones to close the
//! way a take-over does. Mosquitto checks keep-alives the same way, in its
//! main loop. A deadline is thus met up to [`EVERY`] late, never early.

use std::sync::Arc;
use std::time::Duration;

use agora_mqtt::ReasonCode;

use crate::broker::Inner;
use crate::outbox::Overdue;
use crate::session::Command;
use crate::stats::Limit;

/// How often deadlines are checked.
pub(crate) const EVERY: Duration = Duration::from_millis(250);

/// Starts the sweeper; it stops with the broker.
pub(crate) fn spawn(inner: &Arc<Inner>) {
    inner.spawn_every(EVERY, sweep);
}

/// Tells every connection whose deadline has passed to close.
pub(crate) fn sweep(inner: &Inner) {
    let now = inner.now_ms();
    let registry = inner.registry.read();
    for session in registry.sessions() {
        if !session.connected.load(std::sync::atomic::Ordering::Relaxed) {
            continue;
        }
        let mut state = session.state.lock();
        let Some(link) = state.link.as_mut() else {
            continue;
        };
        let (reason, why) = match link.outbox.overdue(now) {
            None => continue,
            Some(Overdue::KeepAlive) => (ReasonCode::KeepAliveTimeout, "keep alive timeout"),
            Some(Overdue::Credentials) => (
                ReasonCode::MaximumConnectTime,
                "credentials expired: maximum connect time",
            ),
        };
        if link.tell(Command::close(reason, why)) && reason == ReasonCode::KeepAliveTimeout {
            inner.stats.limit(Limit::KeepAlive);
        }
    }
}
