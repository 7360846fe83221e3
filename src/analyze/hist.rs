//! The merged histogram of one matrix cell: HdrHistogram buckets kept
//! sparse, as sorted `(bucket index, count)` pairs.
//!
//! Every geolat window encodes its histograms with the layout of
//! [`codec::new_histogram`](crate::window::codec::new_histogram) (lowest
//! discernible value 1 us, 3 significant digits: 2,048 sub-buckets per power
//! of two), so bucket indices are the same in every window and merging is
//! adding counts index by index, exactly as HdrHistogram's `add` does.
//!
//! Why not a `hdrhistogram::Histogram` per cell: its counts array spans every
//! bucket from 0 to the largest value seen (about 10,000 `u64`s, 80 KiB, for
//! values up to a second), so a day's matrix of 12,000 cells would need a
//! gigabyte of mostly zeros. A cell's latencies cluster around the round
//! trip to one region, so the buckets it actually uses are a few hundred:
//! the sparse form costs 16 bytes per used bucket and is bounded by the
//! layout (never more than one entry per bucket), so memory grows with
//! cells, not with windows or samples.

/// log2 of half the sub-bucket count for 3 significant digits (2,048 sub-buckets).
const SUB_HALF_MAGNITUDE: u32 = 10;
const SUB_HALF_COUNT: u32 = 1 << SUB_HALF_MAGNITUDE;
/// Values below this share bucket 0 (one value per sub-bucket).
const SUB_BUCKET_MASK: u64 = (1 << (SUB_HALF_MAGNITUDE + 1)) - 1;

/// The index of the bucket holding `u64::MAX`: no valid index is larger.
pub const MAX_INDEX: u32 = 56_319;

/// The counts-array index HdrHistogram (lowest 1, 3 significant digits)
/// records `value` at.
pub fn index_of(value: u64) -> u32 {
    let bucket = 63 - SUB_HALF_MAGNITUDE - (value | SUB_BUCKET_MASK).leading_zeros();
    let sub = (value >> bucket) as u32;
    // (bucket + 1) * half + (sub - half), without going negative.
    ((bucket + 1) << SUB_HALF_MAGNITUDE) + sub - SUB_HALF_COUNT
}

/// The range of values `[lowest, highest]` that bucket `index` holds.
pub fn value_range(index: u32) -> (u64, u64) {
    let (bucket, sub) = match (index >> SUB_HALF_MAGNITUDE).checked_sub(1) {
        Some(b) => (b, (index & (SUB_HALF_COUNT - 1)) + SUB_HALF_COUNT),
        None => (0, index & (SUB_HALF_COUNT - 1)),
    };
    // An index from `index_of` has bucket <= 53, so neither shift overflows.
    let lowest = u64::from(sub) << bucket;
    (lowest, lowest + ((1u64 << bucket) - 1))
}

/// The bucket counts of one cell, merged over windows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparseHistogram {
    /// `(bucket index, count)`, ascending by index, every count > 0.
    buckets: Vec<(u32, u64)>,
    total: u64,
}

impl SparseHistogram {
    /// Adds `(index, count)` pairs sorted by index (an index may repeat).
    ///
    /// Merged in place from the back, so no new list is allocated: once a
    /// cell's buckets saturate (most pairs land in buckets it already has)
    /// a merge allocates nothing, and the list grows with a little slack
    /// when it does not.
    pub fn merge_sorted(&mut self, pairs: &[(u32, u64)]) {
        let n = self.buckets.len();
        let fresh = self.fresh_indices(pairs);
        if fresh > 0 {
            if self.buckets.capacity() < n + fresh {
                self.buckets.reserve_exact(fresh + (n + fresh) / 8);
            }
            self.buckets.resize(n + fresh, (0, 0));
        }
        // Fill from the back: `w` is the next slot to write, `a` and `b`
        // one past the next old bucket and the next pair to place.
        let (mut a, mut b, mut w) = (n, pairs.len(), n + fresh);
        while b > 0 {
            let index = pairs[b - 1].0;
            let mut added = 0u64;
            while b > 0 && pairs[b - 1].0 == index {
                added = added.saturating_add(pairs[b - 1].1);
                b -= 1;
            }
            // Old buckets above `index` move up to make room.
            while a > 0 && self.buckets[a - 1].0 > index {
                self.buckets[w - 1] = self.buckets[a - 1];
                a -= 1;
                w -= 1;
            }
            if added == 0 {
                continue;
            }
            self.total = self.total.saturating_add(added);
            if a > 0 && self.buckets[a - 1].0 == index {
                let (_, count) = self.buckets[a - 1];
                self.buckets[w - 1] = (index, count.saturating_add(added));
                a -= 1;
            } else {
                self.buckets[w - 1] = (index, added);
            }
            w -= 1;
        }
    }

    /// How many distinct indices with a non-zero count in `pairs` (sorted)
    /// have no bucket yet.
    fn fresh_indices(&self, pairs: &[(u32, u64)]) -> usize {
        let (mut fresh, mut i) = (0, 0);
        let mut previous = None;
        for &(index, count) in pairs {
            if count == 0 || previous == Some(index) {
                continue;
            }
            previous = Some(index);
            while i < self.buckets.len() && self.buckets[i].0 < index {
                i += 1;
            }
            if self.buckets.get(i).is_none_or(|b| b.0 != index) {
                fresh += 1;
            }
        }
        fresh
    }

    /// Adds one value `count` times.
    pub fn record_n(&mut self, value: u64, count: u64) {
        self.merge_sorted(&[(index_of(value), count)]);
    }

    /// Number of values recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Buckets in use (what this cell costs in memory).
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// `(bucket index, count)` pairs, ascending by index, every count > 0.
    pub fn pairs(&self) -> &[(u32, u64)] {
        &self.buckets
    }

    /// The bucket holding the `rank`-th smallest value (1-based), as its
    /// value range; `None` if `rank` is 0 or beyond the count.
    pub fn at_rank(&self, rank: u64) -> Option<(u64, u64)> {
        if rank == 0 || rank > self.total {
            return None;
        }
        let mut seen = 0u64;
        for &(index, count) in &self.buckets {
            seen = seen.saturating_add(count);
            if seen >= rank {
                return Some(value_range(index));
            }
        }
        None
    }

    /// The value at quantile `q`, exactly as HdrHistogram's
    /// `value_at_quantile` reports it: the highest value equivalent to the
    /// bucket holding rank `max(1, ceil(q * n))`.
    pub fn value_at_quantile(&self, q: f64) -> Option<u64> {
        self.at_rank(quantile_rank(self.total, q)).map(|r| r.1)
    }

    /// Lowest value recorded (the lowest value of its bucket).
    pub fn min(&self) -> Option<u64> {
        self.buckets.first().map(|b| value_range(b.0).0)
    }

    /// Highest value recorded (the highest value of its bucket).
    pub fn max(&self) -> Option<u64> {
        self.buckets.last().map(|b| value_range(b.0).1)
    }
}

/// Pairs a cell collects before merging them into its buckets.
const PENDING: usize = 64;

/// A cell's histogram while windows are folded in.
///
/// A day's matrix is tens of megabytes of buckets and every window touches
/// fifty cells at random, so finding a bucket costs a cache miss per probe
/// whatever the search. Instead, new pairs are appended to a short pending
/// list (one cache line per series) and merged in bulk every [`PENDING`]
/// pairs: a sort of 64 pairs and one sequential pass over the buckets,
/// which the hardware prefetches.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    merged: SparseHistogram,
    pending: Vec<(u32, u64)>,
}

impl Accumulator {
    /// Adds `(index, count)` pairs in any order.
    pub fn add(&mut self, pairs: &[(u32, u64)]) {
        self.pending.extend_from_slice(pairs);
        if self.pending.len() >= PENDING {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.pending.sort_unstable_by_key(|p| p.0);
        self.merged.merge_sorted(&self.pending);
        self.pending.clear();
    }

    /// Buckets in use plus pairs waiting: what this cell costs in memory.
    pub fn size(&self) -> usize {
        self.merged.buckets() + self.pending.capacity()
    }

    /// Adds everything `other` accumulated.
    pub fn absorb(&mut self, other: Accumulator) {
        let other = other.finish();
        self.flush();
        self.merged.merge_sorted(&other.buckets);
    }

    pub fn finish(mut self) -> SparseHistogram {
        self.flush();
        self.merged
    }
}

/// The rank HdrHistogram reads quantile `q` of `n` values at.
pub fn quantile_rank(n: u64, q: f64) -> u64 {
    // Ranks are far below 2^52, where f64 is exact.
    ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::codec;

    #[test]
    fn layout_matches_hdrhistogram() {
        let h = codec::new_histogram();
        for v in [
            0u64,
            1,
            2047,
            2048,
            2049,
            4095,
            4096,
            12_345,
            999_999,
            3_600_000_000,
        ] {
            let (lo, hi) = value_range(index_of(v));
            assert_eq!(lo, h.lowest_equivalent(v), "{v}");
            assert_eq!(hi, h.highest_equivalent(v), "{v}");
            assert!(lo <= v && v <= hi);
        }
        assert_eq!(index_of(u64::MAX), MAX_INDEX);
        assert_eq!(value_range(MAX_INDEX).1, u64::MAX);
    }

    #[test]
    fn quantiles_match_hdrhistogram() {
        let mut h = codec::new_histogram();
        let mut s = SparseHistogram::default();
        let mut x = 7u64;
        for _ in 0..5_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let v = 1_000 + (x >> 33) % 400_000;
            codec::record(&mut h, v);
            s.record_n(v, 1);
        }
        assert_eq!(s.len(), h.len());
        for q in [0.0, 0.001, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(s.value_at_quantile(q), Some(h.value_at_quantile(q)), "{q}");
        }
        assert_eq!(s.min(), Some(h.lowest_equivalent(h.min())));
        assert_eq!(s.max(), Some(h.highest_equivalent(h.max())));
    }

    #[test]
    fn merges_and_inserts() {
        let mut s = SparseHistogram::default();
        s.merge_sorted(&[(5, 1), (9, 2)]);
        s.merge_sorted(&[(1, 1), (5, 3), (5, 1), (7, 0), (7, 0), (12, 1)]);
        assert_eq!(s.buckets, vec![(1, 1), (5, 5), (9, 2), (12, 1)]);
        assert_eq!(s.len(), 9);
        assert_eq!(s.at_rank(2), Some(value_range(5)));
        assert_eq!(s.at_rank(10), None);
        assert_eq!(s.at_rank(0), None);
    }

    #[test]
    fn accumulator_matches_a_reference_map() {
        let mut acc = Accumulator::default();
        let mut reference = std::collections::BTreeMap::new();
        let mut x = 11u64;
        for round in 0..300 {
            // Series of 0-9 sorted pairs, repeats and zero counts included.
            let mut pairs: Vec<(u32, u64)> = (0..round % 10)
                .map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (((x >> 40) % 400) as u32, (x >> 61) % 3)
                })
                .collect();
            pairs.sort_unstable();
            for &(i, c) in &pairs {
                if c > 0 {
                    *reference.entry(i).or_insert(0u64) += c;
                }
            }
            acc.add(&pairs);
        }
        let got = acc.finish();
        let want: Vec<(u32, u64)> = reference.into_iter().collect();
        assert_eq!(got.len(), want.iter().map(|b| b.1).sum::<u64>());
        assert_eq!(got.buckets, want);
    }
}
