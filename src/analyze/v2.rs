//! Reads a window's `hdrhistogram-v2-deflate-base64` histogram straight
//! into `(bucket index, count)` pairs, without building a
//! `hdrhistogram::Histogram`.
//!
//! Why not [`codec::decode`](crate::window::codec::decode): it allocates and
//! zeroes a counts array spanning the histogram's whole range (tens of KiB)
//! for a series that holds a handful of values, and analysis of a day reads
//! some fifteen million series. This reader keeps its buffers (base64 output,
//! inflated bytes) across calls, inflates with the small-stream inflater of
//! [`super::inflate`], and walks the V2 payload, a run-length and
//! ZigZag-LEB128 encoded counts array, emitting only non-zero buckets. The format is HdrHistogram's V2 encoding as Java's
//! `HistogramLogWriter` writes it: `[cookie 0x1c849314][length][zlib stream of
//! [cookie 0x1c849313][payload length][normalizing offset][significant
//! digits][lowest][highest][conversion ratio][counts]]`, all big-endian.

use super::hist::{MAX_INDEX, index_of};
use super::inflate::{InflateError, Inflater};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

const COMPRESSED_COOKIE: u32 = 0x1c84_9314;
const COOKIE: u32 = 0x1c84_9313;
const HEADER_LEN: usize = 40;
/// geolat's own layout: counts indices need no translation.
const NATIVE_LOWEST: u64 = 1;
const NATIVE_DIGITS: u32 = 3;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum V2Error {
    #[error("histogram is not base64")]
    Base64,
    #[error("histogram is not a compressed HdrHistogram V2 (cookie {0:#x})")]
    Cookie(u32),
    #[error("histogram does not inflate: {0}")]
    Inflate(#[from] InflateError),
    #[error("histogram is truncated")]
    Truncated,
    #[error("histogram uses an unsupported feature: {0}")]
    Unsupported(&'static str),
    #[error("histogram is corrupt: {0}")]
    Corrupt(&'static str),
}

/// Counts summing past `u64::MAX`: no probe records that many values.
const COUNTS_OVERFLOW: V2Error = V2Error::Corrupt("counts add up to more than 2^64-1");

/// Reusable decoder: one per thread, buffers kept between histograms.
pub struct V2Reader {
    raw: Vec<u8>,
    inflated: Vec<u8>,
    inflater: Inflater,
}

impl Default for V2Reader {
    fn default() -> Self {
        V2Reader {
            raw: Vec::with_capacity(512),
            inflated: Vec::with_capacity(1024),
            inflater: Inflater::default(),
        }
    }
}

impl V2Reader {
    /// Appends the histogram's non-zero buckets to `out` in index order
    /// (geolat's layout: lowest 1 us, 3 significant digits) and returns the
    /// number of values it holds.
    pub fn read_into(&mut self, encoded: &str, out: &mut Vec<(u32, u64)>) -> Result<u64, V2Error> {
        self.raw.clear();
        STANDARD
            .decode_vec(encoded.trim(), &mut self.raw)
            .map_err(|_| V2Error::Base64)?;
        let cookie = be_u32(&self.raw, 0)?;
        if cookie != COMPRESSED_COOKIE {
            return Err(V2Error::Cookie(cookie));
        }
        let len = be_u32(&self.raw, 4)? as usize;
        let zlib = self.raw.get(8..8 + len).ok_or(V2Error::Truncated)?;
        self.inflater.zlib(zlib, &mut self.inflated)?;
        let start = out.len();
        let total = read_counts(&self.inflated, start, out);
        if total.is_err() {
            out.truncate(start);
        }
        total
    }
}

/// How a foreign layout's counts index maps to a value.
struct Layout {
    unit_magnitude: u32,
    sub_half_magnitude: u32,
}

impl Layout {
    fn new(lowest: u64, digits: u32) -> Result<Layout, V2Error> {
        if lowest == 0 || digits > 5 {
            return Err(V2Error::Unsupported("lowest value or significant digits"));
        }
        let largest = 2 * 10u64.pow(digits);
        // ceil(log2(largest)) - 1, as HdrHistogram sizes its sub-buckets.
        let sub_count_magnitude = 64 - (largest - 1).leading_zeros();
        Ok(Layout {
            unit_magnitude: 63 - lowest.leading_zeros(),
            sub_half_magnitude: sub_count_magnitude.saturating_sub(1),
        })
    }

    /// The lowest value of bucket `index`, or `None` past u64.
    fn value(&self, index: u64) -> Option<u64> {
        let half = 1u64 << self.sub_half_magnitude;
        let (bucket, sub) = match (index >> self.sub_half_magnitude).checked_sub(1) {
            Some(b) => (b, (index & (half - 1)) + half),
            None => (0, index & (half - 1)),
        };
        let shift = u32::try_from(bucket).ok()? + self.unit_magnitude;
        if shift + self.sub_half_magnitude + 1 > 63 {
            return None;
        }
        Some(sub << shift)
    }
}

/// Appends this histogram's buckets to `out`, whose first `start` entries
/// belong to other histograms.
fn read_counts(v2: &[u8], start: usize, out: &mut Vec<(u32, u64)>) -> Result<u64, V2Error> {
    let cookie = be_u32(v2, 0)?;
    if cookie != COOKIE {
        return Err(V2Error::Cookie(cookie));
    }
    let payload_len = be_u32(v2, 4)? as usize;
    if be_u32(v2, 8)? != 0 {
        return Err(V2Error::Unsupported("normalizing index offset"));
    }
    let digits = be_u32(v2, 12)?;
    let lowest = be_u64(v2, 16)?;
    if f64::from_bits(be_u64(v2, 32)?) != 1.0 {
        return Err(V2Error::Unsupported("integer to double conversion ratio"));
    }
    let payload = v2
        .get(HEADER_LEN..HEADER_LEN + payload_len)
        .ok_or(V2Error::Truncated)?;
    let foreign = if (lowest, digits) == (NATIVE_LOWEST, NATIVE_DIGITS) {
        None
    } else {
        Some(Layout::new(lowest, digits)?)
    };
    let mut index: u64 = 0;
    let mut total: u64 = 0;
    let mut pos = 0;
    while pos < payload.len() {
        let (zz, used) = varint(&payload[pos..])?;
        pos += used;
        let n = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
        if n < 0 {
            index = index.saturating_add(n.unsigned_abs());
            continue;
        }
        let count = n.unsigned_abs();
        if count > 0 {
            let native = match &foreign {
                None if index <= u64::from(MAX_INDEX) => index as u32,
                None => return Err(V2Error::Corrupt("bucket beyond the largest value")),
                Some(layout) => index_of(
                    layout
                        .value(index)
                        .ok_or(V2Error::Corrupt("bucket beyond the largest value"))?,
                ),
            };
            // A foreign, coarser layout can map neighbours to one bucket.
            match out[start..].last_mut() {
                Some(last) if last.0 == native => {
                    last.1 = last.1.checked_add(count).ok_or(COUNTS_OVERFLOW)?;
                }
                _ => out.push((native, count)),
            }
            total = total.checked_add(count).ok_or(COUNTS_OVERFLOW)?;
        }
        index += 1;
    }
    Ok(total)
}

/// LEB128 as HdrHistogram writes it: at most 9 bytes, the ninth whole.
fn varint(b: &[u8]) -> Result<(u64, usize), V2Error> {
    let mut value = 0u64;
    for i in 0..9 {
        let byte = *b.get(i).ok_or(V2Error::Truncated)?;
        if i == 8 {
            return Ok((value | (u64::from(byte) << 56), 9));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(V2Error::Truncated)
}

fn be_u32(b: &[u8], at: usize) -> Result<u32, V2Error> {
    let bytes = b.get(at..at + 4).ok_or(V2Error::Truncated)?;
    Ok(u32::from_be_bytes(
        bytes.try_into().map_err(|_| V2Error::Truncated)?,
    ))
}

fn be_u64(b: &[u8], at: usize) -> Result<u64, V2Error> {
    let bytes = b.get(at..at + 8).ok_or(V2Error::Truncated)?;
    Ok(u64::from_be_bytes(
        bytes.try_into().map_err(|_| V2Error::Truncated)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::hist::SparseHistogram;
    use crate::window::codec;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};

    fn encode(h: &Histogram<u64>) -> String {
        let mut buf = Vec::new();
        V2DeflateSerializer::new().serialize(h, &mut buf).unwrap();
        STANDARD.encode(buf)
    }

    fn values(seed: u64, n: usize, spread: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                1 + (x >> 20) % spread
            })
            .collect()
    }

    #[test]
    fn reads_what_the_codec_writes() {
        let mut reader = V2Reader::default();
        for (seed, n, spread) in [
            (1, 1, 10),
            (2, 7, 50_000),
            (3, 3_000, 2_000_000),
            (4, 500, 900),
        ] {
            let vs = values(seed, n, spread);
            let mut h = codec::new_histogram();
            let mut want = SparseHistogram::default();
            for v in &vs {
                codec::record(&mut h, *v);
                want.record_n(*v, 1);
            }
            let mut pairs = Vec::new();
            let total = reader
                .read_into(&codec::encode(&h).unwrap(), &mut pairs)
                .unwrap();
            assert_eq!(total, n as u64);
            assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
            let mut got = SparseHistogram::default();
            got.merge_sorted(&pairs);
            assert_eq!(got, want, "seed {seed}");
        }
    }

    #[test]
    fn histograms_read_back_to_back_stay_apart() {
        // Regression: a histogram starting in the bucket where the previous
        // one ended was merged into the previous one's last pair.
        let mut h = codec::new_histogram();
        codec::record(&mut h, 40_000);
        let e = codec::encode(&h).unwrap();
        let mut reader = V2Reader::default();
        let mut out = Vec::new();
        reader.read_into(&e, &mut out).unwrap();
        reader.read_into(&e, &mut out).unwrap();
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], out[1]);
    }

    #[test]
    fn foreign_layouts_are_translated_by_value() {
        let mut h: Histogram<u64> = Histogram::new_with_bounds(1_000, 10_000_000, 2).unwrap();
        for v in [1_000u64, 25_000, 25_100, 3_000_000] {
            h.record(v).unwrap();
        }
        let mut pairs = Vec::new();
        let total = V2Reader::default()
            .read_into(&encode(&h), &mut pairs)
            .unwrap();
        assert_eq!(total, 4);
        let mut got = SparseHistogram::default();
        got.merge_sorted(&pairs);
        let mut want = SparseHistogram::default();
        for v in [1_000u64, 25_000, 25_100, 3_000_000] {
            want.record_n(h.lowest_equivalent(v), 1);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn damage_is_an_error() {
        let mut h = codec::new_histogram();
        codec::record(&mut h, 1234);
        let good = codec::encode(&h).unwrap();
        let mut reader = V2Reader::default();
        let mut out = Vec::new();
        assert_eq!(
            reader.read_into("not base64!", &mut out),
            Err(V2Error::Base64)
        );
        assert!(matches!(
            reader.read_into("aGVsbG8gd29ybGQ=", &mut out),
            Err(V2Error::Cookie(_))
        ));
        let mut raw = STANDARD.decode(&good).unwrap();
        raw.truncate(raw.len() - 6);
        assert!(reader.read_into(&STANDARD.encode(&raw), &mut out).is_err());
        assert!(reader.read_into("", &mut out).is_err());
        assert!(out.is_empty(), "nothing half-read: {out:?}");
        // The reader recovers for the next histogram.
        assert_eq!(reader.read_into(&good, &mut out), Ok(1));
    }
}
