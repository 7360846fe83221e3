//! Histograms on the wire: the standard HdrHistogram V2 encoding, DEFLATE
//! compressed (cookie 0x1c849304), then base64. Java's, Go's and Python's
//! (`hdrh`) HdrHistogram all read this form, so a window can be analysed by
//! tools other than geolat.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};

/// Significant decimal digits kept by every geolat histogram: 0.1% relative
/// error, the HdrHistogram default.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Values above this (one hour, in microseconds) are clamped: no phase has a
/// timeout anywhere near it.
pub const MAX_VALUE_US: u64 = 3_600_000_000;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("histogram is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("histogram does not decode: {0:?}")]
    Decode(hdrhistogram::serialization::DeserializeError),
    #[error("histogram does not encode: {0:?}")]
    Encode(hdrhistogram::serialization::V2SerializeError),
    #[error("histogram does not compress: {0}")]
    Compress(#[from] std::io::Error),
}

/// The compressed-V2 cookie: a zlib stream of a V2 payload follows.
const COMPRESSED_COOKIE: u32 = 0x1c84_9314;
/// Payloads up to this size are stored in the zlib stream, not deflated.
const STORE_UP_TO: usize = 128;

/// An empty auto-resizing histogram in microseconds, lowest discernible 1 us.
pub fn new_histogram() -> Histogram<u64> {
    // `new` only fails for sigfig > 5.
    Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is valid")
}

/// Records one value, clamped to [`MAX_VALUE_US`]. Auto-resize grows the
/// histogram to fit; (`saturating_record` would clamp to the current range
/// instead, silently flattening every value above it).
pub fn record(h: &mut Histogram<u64>, us: u64) {
    // Cannot fail on a 64-bit target: resizing only fails when the bucket
    // count overflows usize.
    let _ = h.record(us.min(MAX_VALUE_US));
}

/// The compressed V2 form, as `V2DeflateSerializer` writes it except for
/// one choice: a small payload (a window's series usually holds a handful of
/// values: about 55 bytes) goes into the zlib stream as a stored block
/// rather than deflated. Deflate saves some ten bytes there, but inflating
/// a dynamic-Huffman block costs a reader more than everything else about
/// the histogram, and analysis reads each window far more often than a
/// probe writes it. Stored blocks are plain DEFLATE (RFC 1951 block type
/// 0): every HdrHistogram implementation reads them.
pub fn encode(h: &Histogram<u64>) -> Result<String, CodecError> {
    let mut payload = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut payload)
        .map_err(CodecError::Encode)?;
    let level = if payload.len() <= STORE_UP_TO {
        Compression::none()
    } else {
        Compression::default()
    };
    let mut z = ZlibEncoder::new(Vec::with_capacity(payload.len() + 16), level);
    z.write_all(&payload)?;
    let zlib = z.finish()?;
    let mut out = Vec::with_capacity(zlib.len() + 8);
    out.extend_from_slice(&COMPRESSED_COOKIE.to_be_bytes());
    out.extend_from_slice(&(zlib.len() as u32).to_be_bytes());
    out.extend_from_slice(&zlib);
    Ok(STANDARD.encode(out))
}

pub fn decode(s: &str) -> Result<Histogram<u64>, CodecError> {
    let bytes = STANDARD.decode(s.trim())?;
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(CodecError::Decode)?;
    // Decoded histograms are fixed-size; merging windows needs them to grow.
    h.auto(true);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_percentiles() {
        let mut h = new_histogram();
        for v in [120u64, 450, 451, 900, 15_000, 2_000_000] {
            record(&mut h, v);
        }
        assert_eq!(h.max(), h.highest_equivalent(2_000_000));
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back.len(), h.len());
        for q in [0.5, 0.9, 0.99, 1.0] {
            assert_eq!(back.value_at_quantile(q), h.value_at_quantile(q));
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode("not base64!").is_err());
        assert!(decode("aGVsbG8gd29ybGQ=").is_err());
        assert!(decode("").is_err());
    }

    #[test]
    fn small_payloads_are_stored_large_ones_deflated() {
        // After the 8-byte V2 header and the 2-byte zlib header: the first
        // block's header, BFINAL in bit 0 and BTYPE in bits 1-2.
        let block_type =
            |h: &Histogram<u64>| STANDARD.decode(encode(h).unwrap()).unwrap()[10] >> 1 & 3;
        let mut small = new_histogram();
        for v in [5_100u64, 5_230, 5_400, 5_600, 5_610, 16_000] {
            record(&mut small, v);
        }
        assert_eq!(block_type(&small), 0, "stored");
        let mut large = new_histogram();
        for v in 0..5_000u64 {
            record(&mut large, 1_000 + v * 37 % 90_000);
        }
        assert_ne!(block_type(&large), 0, "deflated");
        for h in [small, large] {
            let back = decode(&encode(&h).unwrap()).unwrap();
            assert_eq!(back.len(), h.len());
            assert!(back.iter_recorded().eq(h.iter_recorded()));
        }
    }
}
