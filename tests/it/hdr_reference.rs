//! The window's histogram encoding against a reference payload made by
//! another HdrHistogram implementation (Python `hdrh`, see
//! tests/fixtures/make_hdr_reference.py).

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use geolat::window::codec;
use hdrhistogram::Histogram;
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    values: Vec<u64>,
    payload_base64: String,
    total_count: u64,
    min: u64,
    max: u64,
    percentiles: std::collections::BTreeMap<String, u64>,
}

fn reference() -> Reference {
    let text = include_str!("../fixtures/hdr_reference.json");
    serde_json::from_str(text).expect("fixture parses")
}

/// Body of a compressed V2 payload: 4-byte cookie, 4-byte length, zlib stream.
fn inflate(b64: &str) -> Vec<u8> {
    let bytes = STANDARD.decode(b64).unwrap();
    assert_eq!(
        &bytes[0..4],
        &[0x1c, 0x84, 0x93, 0x14],
        "compressed V2 cookie"
    );
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&bytes[8..])
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn decodes_python_payload_to_the_same_percentiles() {
    let r = reference();
    let h = codec::decode(&r.payload_base64).unwrap();
    assert_eq!(h.len(), r.total_count);
    assert_eq!(h.min(), r.min);
    assert_eq!(h.max(), r.max);
    for (q, expected) in &r.percentiles {
        let q: f64 = q.parse().unwrap();
        assert_eq!(h.value_at_percentile(q), *expected, "p{q}");
    }
}

#[test]
fn encodes_the_same_histogram_as_python() {
    let r = reference();
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for v in &r.values {
        h.record(*v).unwrap();
    }
    let ours = codec::encode(&h).unwrap();
    // Same header (cookie, significant digits, lowest, highest, ratio)...
    assert_eq!(inflate(&ours)[..40], inflate(&r.payload_base64)[..40]);
    // ...and the same counts in every bucket. (The count bytes may differ:
    // V2 lets an encoder write a lone zero either as 0 or as a run of one.)
    let theirs = codec::decode(&r.payload_base64).unwrap();
    let back = codec::decode(&ours).unwrap();
    let buckets = |h: &Histogram<u64>| -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    };
    assert_eq!(buckets(&back), buckets(&theirs));
}

/// The other direction: Python's `hdrh` reads what geolat writes, deflated
/// (the reference's 5,000 values) and stored (a window's handful).
#[test]
fn python_hdrh_decodes_geolat_payload() {
    let r = reference();
    let python = crate::util::python_venv();
    let script = r#"
import json, sys
from hdrh.histogram import HdrHistogram
h = HdrHistogram.decode(sys.argv[1].encode())
print(json.dumps({"total": h.get_total_count(),
    "buckets": [[i.value_iterated_to, i.count_at_value_iterated_to] for i in h.get_recorded_iterator()]}))
"#;
    let small = [5_100u64, 5_230, 5_400, 5_600, 5_610, 16_000];
    for values in [&r.values[..], &small[..]] {
        let mut h = codec::new_histogram();
        for v in values {
            codec::record(&mut h, *v);
        }
        let payload = codec::encode(&h).unwrap();
        let out = std::process::Command::new(&python)
            .args(["-c", script, &payload])
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got["total"], values.len());
        let ours: Vec<(u64, u64)> = h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        let theirs: Vec<(u64, u64)> = serde_json::from_value(got["buckets"].clone()).unwrap();
        assert_eq!(theirs, ours, "bucket counts of {} values", values.len());
    }
}

#[test]
fn auto_resized_histograms_keep_percentiles_through_the_codec() {
    let r = reference();
    let mut h = codec::new_histogram();
    for v in &r.values {
        codec::record(&mut h, *v);
    }
    let back = codec::decode(&codec::encode(&h).unwrap()).unwrap();
    for (q, expected) in &r.percentiles {
        let q: f64 = q.parse().unwrap();
        assert_eq!(back.value_at_percentile(q), *expected, "p{q}");
    }
}
