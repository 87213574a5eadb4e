//! The subscribers of one filter (or of one shared-subscription group): a set
//! keyed by session, iterated on every route.
//!
//! Most filters have one or a handful of subscribers, so the entries live in a
//! plain `Vec` that routing scans linearly and cache-friendly. A popular
//! filter (thousands of sessions on `sensors/#`) would make subscribe and
//! unsubscribe O(n) with a scan, so past [`INDEX_FROM`] entries a position
//! index by session is kept beside the `Vec`; below it the index stays empty
//! and costs nothing.

use std::collections::HashMap;

use super::Subscription;
use crate::SessionId;

/// Entry count from which the session → position index is maintained.
const INDEX_FROM: usize = 16;

/// Subscriptions keyed by session, at most one per session.
#[derive(Debug, Default)]
pub(super) struct SubscriberSet {
    entries: Vec<(SessionId, Subscription)>,
    /// Position of each session in `entries`; empty while `entries` is short.
    index: HashMap<SessionId, usize>,
}

impl SubscriberSet {
    /// The entries, in no particular order.
    pub(super) fn entries(&self) -> &[(SessionId, Subscription)] {
        &self.entries
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, session: SessionId) -> Option<usize> {
        if self.index.is_empty() {
            self.entries.iter().position(|(s, _)| *s == session)
        } else {
            self.index.get(&session).copied()
        }
    }

    /// Adds or replaces `session`'s subscription; true if it replaced one.
    pub(super) fn insert(&mut self, session: SessionId, sub: Subscription) -> bool {
        if let Some(i) = self.position(session) {
            self.entries[i].1 = sub;
            return true;
        }
        self.entries.push((session, sub));
        if !self.index.is_empty() {
            self.index.insert(session, self.entries.len() - 1);
        } else if self.entries.len() > INDEX_FROM {
            self.index = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, (s, _))| (*s, i))
                .collect();
        }
        false
    }

    /// Removes `session`'s subscription; false if it had none.
    pub(super) fn remove(&mut self, session: SessionId) -> bool {
        let Some(i) = self.position(session) else {
            return false;
        };
        self.entries.swap_remove(i);
        if !self.index.is_empty() {
            self.index.remove(&session);
            if let Some((moved, _)) = self.entries.get(i) {
                self.index.insert(*moved, i);
            }
            if self.entries.len() <= INDEX_FROM / 2 {
                // Hysteresis: drop the index (and its memory) only well below
                // the threshold, so a set hovering around it does not rebuild
                // the index on every change.
                self.index = HashMap::new();
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: u32) -> Subscription {
        Subscription {
            options: Default::default(),
            identifier: Some(id),
        }
    }

    #[test]
    fn insert_replace_and_remove_stay_consistent_across_the_index_threshold() {
        let mut set = SubscriberSet::default();
        for s in 0..40u64 {
            assert!(!set.insert(s, sub(1)));
        }
        assert!(set.insert(7, sub(2)));
        assert_eq!(set.len(), 40);
        for s in (0..40u64).step_by(2) {
            assert!(set.remove(s));
            assert!(!set.remove(s));
        }
        assert_eq!(set.len(), 20);
        for s in 0..40u64 {
            let found = set.entries().iter().find(|(x, _)| *x == s);
            assert_eq!(found.is_some(), s % 2 == 1, "session {s}");
        }
        assert_eq!(
            set.entries()
                .iter()
                .find(|(x, _)| *x == 7)
                .map(|e| e.1.identifier),
            Some(Some(2))
        );
        for s in (1..40u64).step_by(2) {
            assert!(set.remove(s));
        }
        assert!(set.is_empty());
        assert!(set.index.is_empty());
    }
}
