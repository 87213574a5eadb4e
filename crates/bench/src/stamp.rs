//! What every benchmark payload carries: who sent it, its sequence number and
//! when it was sent.
//!
//! The first [`STAMP_LEN`] bytes of a payload are a magic number, the
//! publisher's index, its per-publisher sequence number (from 0) and the send
//! time in nanoseconds on the run's [`Clock`]; the rest is filler up to the
//! requested size. Publishers and subscribers live in one process, so one
//! monotonic clock serves both ends and no clock sync is needed: latency is
//! `receive time − send time` of the same clock.

use std::time::Instant;

/// Bytes taken by the stamp; payloads are at least this long.
pub(crate) const STAMP_LEN: usize = 24;

/// Marks our own payloads, so a stray message (another client on a shared
/// broker, a retained message from an earlier run) is counted, not misread.
const MAGIC: u32 = 0xA60A_BE4C;

/// The decoded stamp of one payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// Index of the publishing connection (0-based, dense).
    pub(crate) publisher: u32,
    /// Sequence number of this message within its publisher (0-based).
    pub(crate) seq: u64,
    /// Send time, nanoseconds since the run's clock started.
    pub(crate) sent_ns: u64,
}

impl Stamp {
    /// Writes the stamp followed by `size - STAMP_LEN` filler bytes into `out`
    /// (`size` is raised to [`STAMP_LEN`] if smaller).
    pub(crate) fn write(&self, size: usize, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&self.publisher.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.sent_ns.to_be_bytes());
        out.resize(size.max(STAMP_LEN), b'x');
    }

    /// Overwrites the sequence number and send time of a payload made by
    /// [`Stamp::write`], leaving magic, publisher and filler alone: the hot
    /// path re-stamps one buffer instead of rebuilding it.
    pub(crate) fn restamp(payload: &mut [u8], seq: u64, sent_ns: u64) {
        if payload.len() >= STAMP_LEN {
            payload[8..16].copy_from_slice(&seq.to_be_bytes());
            payload[16..24].copy_from_slice(&sent_ns.to_be_bytes());
        }
    }

    /// Reads the stamp at the start of `payload`; `None` if it is too short
    /// or not ours.
    pub(crate) fn read(payload: &[u8]) -> Option<Stamp> {
        let head: &[u8; STAMP_LEN] = payload.get(..STAMP_LEN)?.try_into().ok()?;
        let word = |at: usize| -> [u8; 8] {
            let mut b = [0u8; 8];
            b.copy_from_slice(&head[at..at + 8]);
            b
        };
        let magic = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if magic != MAGIC {
            return None;
        }
        Some(Stamp {
            publisher: u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
            seq: u64::from_be_bytes(word(8)),
            sent_ns: u64::from_be_bytes(word(16)),
        })
    }
}

/// The run's monotonic clock: nanoseconds since it was created.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock starting now.
    pub(crate) fn start() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// Nanoseconds since the clock started (saturating at `u64::MAX`, ~584 years).
    pub(crate) fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_as_written() {
        let s = Stamp {
            publisher: 7,
            seq: 1 << 40,
            sent_ns: 123_456_789,
        };
        let mut buf = Vec::new();
        s.write(64, &mut buf);
        assert_eq!(buf.len(), 64);
        assert_eq!(Stamp::read(&buf), Some(s));
    }

    #[test]
    fn small_sizes_are_raised_to_the_stamp_length() {
        let mut buf = Vec::new();
        Stamp {
            publisher: 0,
            seq: 0,
            sent_ns: 0,
        }
        .write(3, &mut buf);
        assert_eq!(buf.len(), STAMP_LEN);
    }

    #[test]
    fn restamping_changes_only_sequence_and_time() {
        let mut buf = Vec::new();
        Stamp {
            publisher: 3,
            seq: 0,
            sent_ns: 0,
        }
        .write(40, &mut buf);
        Stamp::restamp(&mut buf, 99, 5_000);
        assert_eq!(
            Stamp::read(&buf),
            Some(Stamp {
                publisher: 3,
                seq: 99,
                sent_ns: 5_000
            })
        );
        assert!(buf[STAMP_LEN..].iter().all(|&b| b == b'x'));
    }

    #[test]
    fn foreign_or_short_payloads_are_not_stamps() {
        assert_eq!(Stamp::read(b"21.5"), None);
        assert_eq!(Stamp::read(&[0u8; 40]), None);
        let mut buf = Vec::new();
        Stamp {
            publisher: 1,
            seq: 2,
            sent_ns: 3,
        }
        .write(24, &mut buf);
        assert_eq!(Stamp::read(&buf[..23]), None);
        let mut short = [0u8; 10];
        Stamp::restamp(&mut short, 1, 2); // no panic, no change
        assert_eq!(short, [0u8; 10]);
    }

    #[test]
    fn the_clock_moves_forward() {
        let c = Clock::start();
        let a = c.now_ns();
        let b = c.now_ns();
        assert!(b >= a);
    }
}
