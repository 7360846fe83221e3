//! Histograms on the wire: the standard HdrHistogram V2 encoding, DEFLATE
//! compressed (cookie 0x1c849304), then base64. Java's, Go's and Python's
//! (`hdrh`) HdrHistogram all read this form, so a window can be analysed by
//! tools other than geolat.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};

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
    Encode(hdrhistogram::serialization::V2DeflateSerializeError),
}

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

pub fn encode(h: &Histogram<u64>) -> Result<String, CodecError> {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .map_err(CodecError::Encode)?;
    Ok(STANDARD.encode(buf))
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
}
