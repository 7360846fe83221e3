//! Histogram throughput: recording attempts into a window, and encoding,
//! decoding and merging the V2 payloads that analysis reads back.
//!
//! Run: cargo bench --bench histogram

use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use geolat::config::{Geo, ProbeIdentity, Target};
use geolat::probe::record::Attempt;
use geolat::window::builder::WindowBuilder;
use geolat::window::codec;

fn identity() -> ProbeIdentity {
    ProbeIdentity {
        id: "bench".into(),
        location: "edge".into(),
        region: None,
        geo: Geo {
            id: None,
            country: "DE".into(),
            continent: "EU".into(),
            city: None,
        },
        lat: None,
        lon: None,
    }
}

/// Latencies shaped like a real probe: a body around 20 ms, a long tail.
fn latencies(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x % 10_000) as f64 / 10_000.0;
            (20_000.0 * (1.0 + 4.0 * u * u * u)) as u64
        })
        .collect()
}

fn histogram_of(values: &[u64]) -> hdrhistogram::Histogram<u64> {
    let mut h = codec::new_histogram();
    for v in values {
        codec::record(&mut h, *v);
    }
    h
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    let values = latencies(10_000);
    g.throughput(Throughput::Elements(values.len() as u64));
    g.bench_function("hdr_record", |b| {
        b.iter(|| black_box(histogram_of(black_box(&values))))
    });
    let target = Target::from_url("https://a.example/".parse().unwrap());
    let attempts: Vec<Attempt> = values
        .iter()
        .map(|v| Attempt {
            tcp: Some(Duration::from_micros(*v / 3)),
            tls: Some(Duration::from_micros(*v)),
            ttfb: Some(Duration::from_micros(*v)),
            total: Some(Duration::from_micros(*v + 50)),
            warm: vec![Duration::from_micros(*v)],
            served_by: Some("eu-central-1".into()),
            ..Attempt::default()
        })
        .collect();
    // Five phases per attempt.
    g.throughput(Throughput::Elements(attempts.len() as u64 * 5));
    g.bench_function("window_builder_attempts", |b| {
        b.iter(|| {
            let mut w = WindowBuilder::new(
                identity(),
                "d".into(),
                std::slice::from_ref(&target),
                Utc::now(),
            );
            for a in &attempts {
                w.record(0, a);
            }
            black_box(w)
        })
    });
    g.finish();
}

fn codec_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    for n in [10usize, 1_000, 100_000] {
        let h = histogram_of(&latencies(n));
        let encoded = codec::encode(&h).unwrap();
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("encode", n), &h, |b, h| {
            b.iter(|| codec::encode(black_box(h)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("decode", n), &encoded, |b, e| {
            b.iter(|| codec::decode(black_box(e)).unwrap())
        });
        println!("payload for {n} samples: {} base64 bytes", encoded.len());
    }
    let parts: Vec<_> = (0..60)
        .map(|i| histogram_of(&latencies(1_000 + i)))
        .collect();
    g.throughput(Throughput::Elements(parts.len() as u64));
    g.bench_function("merge_60_windows", |b| {
        b.iter(|| {
            let mut m = codec::new_histogram();
            for p in &parts {
                m.add(p).unwrap();
            }
            black_box(m)
        })
    });
    g.finish();
}

criterion_group!(benches, record, codec_benches);
criterion_main!(benches);
