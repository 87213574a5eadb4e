//! Loss, duplicate and reordering accounting for one publisher's stream as
//! seen by one subscriber.
//!
//! A publisher numbers its messages 0, 1, 2, … The tracker remembers the next
//! number it expects (one past the highest seen) and the *gaps*: numbers
//! skipped so far, kept as ranges so that a burst of loss costs one entry, not
//! one per message. A number below the high-water mark either fills a gap (it
//! arrived late: reordered) or does not (seen before: a duplicate). Whatever
//! is still missing when the run ends, plus everything the publisher sent past
//! the high-water mark, was lost.

use std::collections::BTreeMap;

/// Receive accounting of one (publisher, subscriber) stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SeqTracker {
    /// One past the highest sequence number received.
    next: u64,
    /// Missing numbers below `next`: start → end (exclusive), non-overlapping.
    gaps: BTreeMap<u64, u64>,
    /// Messages received, duplicates included.
    received: u64,
    /// Messages received more than once.
    duplicates: u64,
    /// Messages that arrived after a higher-numbered one.
    reordered: u64,
}

/// What became of one received sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// The first arrival of a number above everything seen before (possibly skipping some).
    InOrder,
    /// The first arrival of a number below the highest seen: it filled a gap.
    Reordered,
    /// A number received before.
    Duplicate,
}

/// Totals of one or more streams after the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct SeqTotals {
    /// Messages the subscribers should have received.
    pub(crate) expected: u64,
    /// Distinct messages received.
    pub(crate) unique: u64,
    /// Expected messages never received.
    pub(crate) lost: u64,
    /// Extra copies received.
    pub(crate) duplicates: u64,
    /// Messages that arrived after a later one.
    pub(crate) reordered: u64,
}

impl SeqTotals {
    /// Adds another stream's totals.
    pub(crate) fn add(&mut self, o: &SeqTotals) {
        self.expected += o.expected;
        self.unique += o.unique;
        self.lost += o.lost;
        self.duplicates += o.duplicates;
        self.reordered += o.reordered;
    }
}

impl SeqTracker {
    /// A tracker that has seen nothing.
    pub(crate) fn new() -> SeqTracker {
        SeqTracker::default()
    }

    /// Accounts for the arrival of `seq`.
    pub(crate) fn observe(&mut self, seq: u64) -> Arrival {
        self.received += 1;
        if seq >= self.next {
            if seq > self.next {
                self.gaps.insert(self.next, seq);
            }
            self.next = seq.saturating_add(1);
            return Arrival::InOrder;
        }
        // Below the high-water mark: find the gap that would hold it.
        let Some((&start, &end)) = self.gaps.range(..=seq).next_back() else {
            self.duplicates += 1;
            return Arrival::Duplicate;
        };
        if seq >= end {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.gaps.remove(&start);
        if start < seq {
            self.gaps.insert(start, seq);
        }
        if seq + 1 < end {
            self.gaps.insert(seq + 1, end);
        }
        self.reordered += 1;
        Arrival::Reordered
    }

    /// One past the highest sequence number received: how far the stream got.
    pub(crate) fn high_water(&self) -> u64 {
        self.next
    }

    /// Final accounting, given how many messages the publisher sent
    /// (numbers `0..sent`). A number at or above `sent` cannot have been sent
    /// and is not counted as expected.
    pub(crate) fn totals(&self, sent: u64) -> SeqTotals {
        let missing_below: u64 = self
            .gaps
            .iter()
            .map(|(&s, &e)| e.min(sent).saturating_sub(s))
            .sum();
        let tail = sent.saturating_sub(self.next);
        let unique = self.received - self.duplicates;
        SeqTotals {
            expected: sent,
            unique,
            lost: missing_below + tail,
            duplicates: self.duplicates,
            reordered: self.reordered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seqs: &[u64]) -> SeqTracker {
        let mut t = SeqTracker::new();
        for &s in seqs {
            t.observe(s);
        }
        t
    }

    #[test]
    fn an_in_order_stream_has_no_loss_dups_or_reordering() {
        let t = feed(&[0, 1, 2, 3, 4]);
        assert_eq!(
            t.totals(5),
            SeqTotals {
                expected: 5,
                unique: 5,
                lost: 0,
                duplicates: 0,
                reordered: 0
            }
        );
    }

    #[test]
    fn skipped_numbers_and_an_unreceived_tail_are_lost() {
        let t = feed(&[0, 3, 4, 7]);
        // missing 1, 2, 5, 6 and the tail 8, 9
        assert_eq!(t.totals(10).lost, 6);
        assert_eq!(t.totals(10).unique, 4);
    }

    #[test]
    fn a_late_arrival_fills_its_gap_and_counts_as_reordered() {
        let mut t = SeqTracker::new();
        assert_eq!(t.observe(0), Arrival::InOrder);
        assert_eq!(t.observe(5), Arrival::InOrder);
        assert_eq!(t.observe(3), Arrival::Reordered);
        assert_eq!(t.observe(1), Arrival::Reordered);
        assert_eq!(t.observe(4), Arrival::Reordered);
        assert_eq!(t.observe(2), Arrival::Reordered);
        let tot = t.totals(6);
        assert_eq!(
            (tot.lost, tot.reordered, tot.duplicates, tot.unique),
            (0, 4, 0, 6)
        );
        assert!(t.gaps.is_empty());
    }

    #[test]
    fn a_repeated_number_is_a_duplicate_wherever_it_falls() {
        let mut t = SeqTracker::new();
        t.observe(0);
        t.observe(1);
        assert_eq!(t.observe(1), Arrival::Duplicate);
        t.observe(4);
        assert_eq!(t.observe(0), Arrival::Duplicate); // below every gap
        assert_eq!(t.observe(2), Arrival::Reordered);
        assert_eq!(t.observe(2), Arrival::Duplicate); // its gap is filled now
        assert_eq!(t.observe(4), Arrival::Duplicate); // the high-water mark itself
        let tot = t.totals(5);
        assert_eq!(
            (tot.unique, tot.duplicates, tot.lost, tot.reordered),
            (4, 4, 1, 1)
        );
        assert_eq!(t.received, 8);
        assert_eq!(t.high_water(), 5);
    }

    #[test]
    fn a_huge_gap_costs_one_entry() {
        let mut t = SeqTracker::new();
        t.observe(0);
        t.observe(10_000_000);
        assert_eq!(t.gaps.len(), 1);
        assert_eq!(t.totals(10_000_001).lost, 9_999_999);
    }

    #[test]
    fn numbers_beyond_what_was_sent_are_not_expected() {
        let t = feed(&[0, 1, 2]);
        let tot = t.totals(2);
        assert_eq!((tot.expected, tot.lost), (2, 0));
    }

    #[test]
    fn nothing_received_means_everything_lost() {
        assert_eq!(SeqTracker::new().totals(42).lost, 42);
    }

    #[test]
    fn totals_add_up() {
        let mut a = SeqTotals {
            expected: 1,
            unique: 2,
            lost: 3,
            duplicates: 4,
            reordered: 5,
        };
        a.add(&SeqTotals {
            expected: 10,
            unique: 20,
            lost: 30,
            duplicates: 40,
            reordered: 50,
        });
        assert_eq!(
            a,
            SeqTotals {
                expected: 11,
                unique: 22,
                lost: 33,
                duplicates: 44,
                reordered: 55
            }
        );
    }
}
