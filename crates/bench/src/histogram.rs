//! A log-bucket latency histogram in the spirit of HdrHistogram.
//!
//! Values (nanoseconds) are grouped by their highest set bit, and each such
//! power-of-two range is split into [`SUB_BUCKETS`] equal sub-buckets, so every
//! recorded value is kept to within 1/[`SUB_BUCKETS`] (under 0.8 %) of itself
//! over the whole `u64` range, with constant-time recording and no
//! configuration. Counts live in a `Vec` that only grows as far as the largest
//! value seen: a histogram of sub-millisecond latencies stays a few kilobytes,
//! which matters when a fan-out run keeps one per subscriber.
//!
//! Our own ~150 lines rather than the `hdrhistogram` crate: we need record,
//! merge and quantiles only, and this keeps the workspace's dependency graph
//! (shared by five people) unchanged.

/// Sub-buckets per power of two (a power of two itself).
const SUB_BUCKET_BITS: u32 = 7;
/// Number of sub-buckets per power of two: the histogram's relative precision.
pub(crate) const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;

/// Counts of values in logarithmic buckets, mergeable, with quantiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

/// The bucket index of `v`. Values below [`SUB_BUCKETS`] get a bucket each;
/// above, the index is (power of two, top bits of the mantissa).
fn index_of(v: u64) -> usize {
    if v < SUB_BUCKETS {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // >= SUB_BUCKET_BITS
    let shift = msb - SUB_BUCKET_BITS;
    let mantissa = (v >> shift) - SUB_BUCKETS; // 0..SUB_BUCKETS
    ((u64::from(shift) + 1) * SUB_BUCKETS + mantissa) as usize
}

/// The smallest and largest value that fall into bucket `i`.
fn bounds_of(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB_BUCKETS {
        return (i, i);
    }
    let shift = i / SUB_BUCKETS - 1;
    let mantissa = i % SUB_BUCKETS;
    let low = (SUB_BUCKETS + mantissa) << shift;
    let width = 1u64 << shift;
    (low, low + (width - 1))
}

impl Histogram {
    /// An empty histogram.
    pub(crate) fn new() -> Histogram {
        Histogram::default()
    }

    /// Records one value.
    pub(crate) fn record(&mut self, v: u64) {
        let i = index_of(v);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        if self.total == 0 || v < self.min {
            self.min = v;
        }
        if v > self.max {
            self.max = v;
        }
        self.total += 1;
        self.sum += u128::from(v);
    }

    /// Adds every value of `other` to `self`.
    pub(crate) fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        if self.total == 0 || other.min < self.min {
            self.min = other.min;
        }
        self.max = self.max.max(other.max);
        self.total += other.total;
        self.sum += other.sum;
    }

    /// Number of recorded values.
    pub(crate) fn len(&self) -> u64 {
        self.total
    }

    /// The smallest recorded value (0 when empty).
    pub(crate) fn min(&self) -> u64 {
        self.min
    }

    /// The largest recorded value (0 when empty).
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The mean of the recorded values (0 when empty).
    pub(crate) fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value below which a fraction `q` (0..=1) of the recorded values fall:
    /// the upper bound of the bucket holding the ⌈q·n⌉-th smallest value,
    /// clamped to the true maximum. 0 when empty.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let q = q.clamp(0.0, 1.0);
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bounds_of(i).1.min(self.max).max(self.min);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_that_contains_it() {
        let mut v = 0u64;
        while v < u64::MAX / 3 {
            let (lo, hi) = bounds_of(index_of(v));
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
            v = v * 3 / 2 + 1;
        }
        let (lo, hi) = bounds_of(index_of(u64::MAX));
        assert!(lo < u64::MAX && hi == u64::MAX);
    }

    #[test]
    fn buckets_are_contiguous_and_increasing() {
        for i in 1..(40 * SUB_BUCKETS as usize) {
            let (_, prev_hi) = bounds_of(i - 1);
            let (lo, _) = bounds_of(i);
            assert_eq!(prev_hi + 1, lo, "gap before bucket {i}");
        }
    }

    #[test]
    fn relative_error_stays_under_one_percent() {
        for v in [1_000u64, 12_345, 999_999, 50_000_000, 7_777_777_777] {
            let (lo, hi) = bounds_of(index_of(v));
            assert!(((hi - lo) as f64) / (v as f64) < 0.01, "{v}: [{lo}, {hi}]");
        }
    }

    #[test]
    fn quantiles_of_one_to_ten_thousand() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1_000);
        }
        assert_eq!(h.len(), 10_000);
        assert_eq!(h.min(), 1_000);
        assert_eq!(h.max(), 10_000_000);
        for (q, want) in [
            (0.5, 5_000_000f64),
            (0.99, 9_900_000.0),
            (0.999, 9_990_000.0),
        ] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.01, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.quantile(1.0), 10_000_000);
        assert!((h.mean() - 5_000_500.0).abs() < 1.0);
    }

    #[test]
    fn empty_histogram_reports_zeros() {
        let h = Histogram::new();
        assert_eq!((h.len(), h.quantile(0.99), h.min(), h.max()), (0, 0, 0, 0));
        assert_eq!(h.mean(), 0.0);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..5_000u64 {
            let x = v * v % 1_000_003;
            if v % 3 == 0 {
                a.record(x)
            } else {
                b.record(x)
            }
            all.record(x);
        }
        let mut merged = Histogram::new();
        merged.merge(&b);
        merged.merge(&a);
        merged.merge(&Histogram::new());
        assert_eq!(merged, all);
    }

    #[test]
    fn a_single_value_is_every_quantile() {
        let mut h = Histogram::new();
        h.record(123_456);
        assert_eq!(h.quantile(0.0), 123_456);
        assert_eq!(h.quantile(0.5), 123_456);
        assert_eq!(h.quantile(0.999), 123_456);
    }
}
