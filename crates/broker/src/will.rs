//! What happens after a connection ends and its session lives on: the delayed
//! will and the session's expiry.
//!
//! MQTT 5 lets a will wait for its Will Delay Interval and a session survive
//! for its Session Expiry Interval. Both are one timer task per disconnect,
//! tracked with the broker's other tasks and cancelled by shutdown. The task
//! carries the session's generation at the disconnect: a reconnect bumps it,
//! so a timer that wakes for a session that has been resumed since does
//! nothing. The will itself waits in the session state (not in the task), so
//! that whoever ends the session first (the timer, a Clean Start take-over)
//! publishes it exactly once.

use std::sync::Arc;
use std::time::Duration;

use crate::broker::Inner;
use crate::session::Session;

/// Arms the timers for a session whose connection just closed.
///
/// `will_delay` is set when a will is waiting in the session state; `expiry`
/// is the Session Expiry Interval (the caller ends sessions with expiry 0
/// itself). A will delay longer than the expiry is cut to it: the will goes
/// out when the session ends at the latest.
pub(crate) fn after_disconnect(
    inner: &Arc<Inner>,
    session: Arc<Session>,
    generation: u64,
    will_delay: Option<Duration>,
    expiry: Duration,
) {
    let stop = inner.shutdown.clone();
    let weak = Arc::downgrade(inner);
    inner.tracker.spawn(async move {
        let unchanged = |s: &Session| {
            let st = s.state.lock();
            !st.ended && st.generation == generation && st.link.is_none()
        };
        let mut slept = Duration::ZERO;
        if let Some(delay) = will_delay.filter(|d| *d < expiry) {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            slept = delay;
            let Some(inner) = weak.upgrade() else { return };
            if !unchanged(&session) {
                return;
            }
            let will = session.state.lock().pending_will.take();
            if let Some(pending) = will {
            let (who, will) = *pending;
                inner.publish_will(&who, will);
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(expiry.saturating_sub(slept)) => {}
        }
        let Some(inner) = weak.upgrade() else { return };
        if unchanged(&session) {
            tracing::debug!(user = %session.username, client = %session.client_id, "session expired");
            inner.end_session(&session);
        }
    });
}
