//! Latency published to CloudWatch (the gateway's CBOR emulator) and read
//! back: counts and percentiles against the histograms they came from,
//! the 150-value, 1000-datum and 1 MB limits, the dashboard, and
//! `geolat probe --cloudwatch` as a user runs it.

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, Statistic};
use chrono::{DateTime, Utc};
use geolat::analyze::hist::{SparseHistogram, index_of, value_range};
use geolat::analyze::matrix::Matrix;
use geolat::config::{Geo, PathKind, ProbeIdentity, Target};
use geolat::lab::endpoint::Delays;
use geolat::probe::record::{Attempt, ErrorClass, Failure, Phase};
use geolat::publish::cloudwatch::{
    self, ATTEMPTS, DEFAULT_NAMESPACE, ERRORS, LATENCY, LatencyKey, PUBLISHED,
};
use geolat::window::Window;
use geolat::window::builder::WindowBuilder;
use geolat::window::codec;
use serde_json::Value;

use super::Gateway;
use crate::util;

const GEO: &str = "GB-London";
const NEAR: &str = "eu-west-2";

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A window of 2,000 warm requests to a direct target in NEAR (spread over
/// 5-205 ms: far more than 150 buckets), 30 through Route 53 and two
/// failures; with the raw warm latencies to NEAR.
fn window(start: DateTime<Utc>) -> (Window, Vec<u64>) {
    let identity = ProbeIdentity::edge("probe-london", Geo::of("GB", "EU").with_id(GEO));
    let mut direct = Target::from_url("https://eu-west-2.api.example.com/".parse().unwrap());
    direct.id = "direct".into();
    direct.region = Some(NEAR.into());
    let mut routed = Target::from_url("https://api.example.com/".parse().unwrap());
    routed.id = "route53".into();
    routed.path = PathKind::Route53;
    let mut b = WindowBuilder::new(identity, "sha256:feed".into(), &[direct, routed], start);
    let ok = |us: u64| Attempt {
        tcp: Some(Duration::from_micros(us / 3)),
        total: Some(Duration::from_micros(us * 2)),
        warm: vec![Duration::from_micros(us)],
        served_by: Some(NEAR.into()),
        ..Attempt::default()
    };
    let (mut rng, mut raw) = (7u64, Vec::new());
    for _ in 0..2_000 {
        let us = 5_000 + splitmix(&mut rng) % 200_000;
        raw.push(us);
        b.record(0, &ok(us));
    }
    for i in 0..30 {
        b.record(1, &ok(20_000 + i * 100));
    }
    let failed = Attempt {
        failure: Some(Failure::new(Phase::Tcp, ErrorClass::ConnectTimeout, "")),
        ..Attempt::default()
    };
    b.record(0, &failed);
    b.record(0, &failed);
    (
        b.finish(start + chrono::Duration::seconds(55)).unwrap(),
        raw,
    )
}

fn dims(pairs: &[(&str, &str)]) -> Vec<Dimension> {
    pairs
        .iter()
        .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
        .collect()
}

/// SampleCount, Sum, p50 and p99 of one metric over two hours around `at`.
async fn statistics(
    cw: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    metric: &str,
    dimensions: Vec<Dimension>,
    at: DateTime<Utc>,
) -> (f64, f64, Option<f64>, Option<f64>) {
    let out = cw
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(metric)
        .set_dimensions(Some(dimensions))
        .start_time(AwsDateTime::from_secs(at.timestamp() - 3_600))
        .end_time(AwsDateTime::from_secs(at.timestamp() + 3_600))
        .period(7_200)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Sum)
        .extended_statistics("p50")
        .extended_statistics("p99")
        .send()
        .await
        .unwrap();
    let points = out.datapoints();
    assert_eq!(points.len(), 1, "{metric}: {points:?}");
    let p = &points[0];
    let ext = p.extended_statistics();
    let pct = |k: &str| ext.and_then(|e| e.get(k).copied());
    (
        p.sample_count().unwrap(),
        p.sum().unwrap(),
        pct("p50"),
        pct("p99"),
    )
}

fn put_calls(gw: &Gateway) -> Vec<(u64, u64)> {
    let calls = gw.control("GET", "/_emulator/calls", &Value::Null);
    calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["op"] == "PutMetricData")
        .map(|c| (c["status"].as_u64().unwrap(), c["bytes"].as_u64().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_published_window_reads_back_with_its_counts_and_percentiles() {
    let gw = Gateway::start();
    let cw = geolat::aws::cloudwatch_client(&gw.sdk().await);
    let (w, raw) = window(Utc::now() - chrono::Duration::minutes(5));
    let matrix = Matrix::of_window(&w).unwrap();
    let data = cloudwatch::metric_data(&matrix, w.end);
    let near = matrix
        .cell(GEO, PathKind::Direct, NEAR, Phase::Warm)
        .unwrap();
    assert!(
        near.histogram.buckets() > 150,
        "{}",
        near.histogram.buckets()
    );
    // At most 150 values per metric in a request: as many requests as
    // the largest histogram has data.
    let mut per_metric = std::collections::HashMap::new();
    for d in &data {
        let dims: Vec<String> = d.dimensions().iter().map(|x| format!("{x:?}")).collect();
        *per_metric
            .entry((d.metric_name().map(str::to_owned), dims))
            .or_insert(0) += 1;
    }
    let most = per_metric.values().copied().max().unwrap();
    assert!(most >= 2);
    let sent = cloudwatch::publish(&cw, "GeolatTest", data).await.unwrap();
    assert_eq!(sent.requests, most);
    let statuses: Vec<u64> = put_calls(&gw).iter().map(|c| c.0).collect();
    assert_eq!(statuses, vec![200; most]);

    // The warm distribution to NEAR, against an HdrHistogram of the raw values.
    let mut h = codec::new_histogram();
    raw.iter().for_each(|&us| codec::record(&mut h, us));
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let latency = |path: &str, region: &str, phase: &str| {
        dims(&[
            ("Geo", GEO),
            ("Region", region),
            ("Path", path),
            ("Phase", phase),
        ])
    };
    let (count, sum, p50, p99) = statistics(
        &cw,
        "GeolatTest",
        LATENCY,
        latency("direct", NEAR, "warm"),
        w.end,
    )
    .await;
    assert_eq!(count, 2_000.0);
    assert_eq!((p50, p99), (Some(ms(0.5)), Some(ms(0.99))));
    // Each value stands for the top of its bucket: the mean is high by < 0.1%.
    let true_mean = raw.iter().sum::<u64>() as f64 / 2_000.0 / 1000.0;
    let mean = sum / count;
    assert!(
        mean >= true_mean && mean < true_mean * 1.001,
        "{mean} vs {true_mean}"
    );
    // Routed: keyed by who answered.
    let (count, ..) = statistics(
        &cw,
        "GeolatTest",
        LATENCY,
        latency("route53", NEAR, "total"),
        w.end,
    )
    .await;
    assert_eq!(count, 30.0);

    let outcome = |metric: &'static str, path: &'static str, region: &'static str| {
        let cw = cw.clone();
        async move {
            let d = dims(&[("Geo", GEO), ("Region", region), ("Path", path)]);
            statistics(&cw, "GeolatTest", metric, d, w.end).await.1
        }
    };
    assert_eq!(outcome(ATTEMPTS, "direct", NEAR).await, 2_002.0);
    assert_eq!(outcome(ERRORS, "direct", NEAR).await, 2.0);
    assert_eq!(outcome(ATTEMPTS, "route53", "any").await, 30.0);
    assert_eq!(outcome(ERRORS, "route53", "any").await, 0.0);
}

/// A histogram with `buckets` distinct buckets from 2 ms up.
fn histogram(buckets: u32, count: u64) -> SparseHistogram {
    let mut h = SparseHistogram::default();
    let first = index_of(2_000);
    for i in 0..buckets {
        h.record_n(value_range(first + i).0, count);
    }
    h
}

fn key(geo: &str) -> LatencyKey<'_> {
    LatencyKey {
        geo,
        region: NEAR,
        path: PathKind::Direct,
        phase: Phase::Ttfb,
    }
}

#[tokio::test]
async fn histograms_past_150_buckets_and_1000_data_are_split() {
    let gw = Gateway::start();
    let sdk = gw.sdk().await;
    let cw = geolat::aws::cloudwatch_client(&sdk);
    let at = Utc::now();

    // 400 buckets: three data of one metric (150, 150, 100), in three
    // requests (at most 150 values per metric in one request).
    let mut h = histogram(400, 1);
    h.record_n(value_range(index_of(2_000) + 399).0, 99);
    let data = cloudwatch::latency_data(&key(GEO), &h, at);
    let values: Vec<usize> = data.iter().map(|d| d.values().len()).collect();
    assert_eq!(values, [150, 150, 100]);
    // As CloudWatch does, the emulator refuses them in one request.
    let refused = cw
        .put_metric_data()
        .namespace("Split")
        .set_metric_data(Some(data.clone()))
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("at most 150 values per metric"),
        "{refused:?}"
    );
    let sent = cloudwatch::publish(&cw, "Split", data).await.unwrap();
    assert_eq!((sent.requests, sent.data), (3, 3));
    let d = dims(&[
        ("Geo", GEO),
        ("Region", NEAR),
        ("Path", "direct"),
        ("Phase", "ttfb"),
    ]);
    let (count, _, p50, p99) = statistics(&cw, "Split", LATENCY, d, at).await;
    assert_eq!(count, h.len() as f64);
    let ms = |q: f64| h.value_at_quantile(q).map(|v| v as f64 / 1000.0);
    assert_eq!((p50, p99), (ms(0.5), ms(0.99)));

    // 1001 data: a full request of 1000 and one more.
    gw.control("DELETE", "/_emulator/calls", &Value::Null);
    let one = histogram(1, 3);
    let geos: Vec<String> = (0..1001).map(|i| format!("geo-{i:04}")).collect();
    let data: Vec<MetricDatum> = geos
        .iter()
        .flat_map(|g| cloudwatch::latency_data(&key(g), &one, at))
        .collect();
    let sent = cloudwatch::publish(&cw, "Many", data).await.unwrap();
    assert_eq!((sent.requests, sent.data), (2, 1001));
    let statuses: Vec<u64> = put_calls(&gw).iter().map(|c| c.0).collect();
    assert_eq!(statuses, [200, 200]);
    let listed = cw
        .list_metrics()
        .namespace("Many")
        .send()
        .await
        .unwrap()
        .metrics()
        .len();
    assert_eq!(listed, 1001);

    // 400 data of 150 values: the megabyte binds first. Uncompressed, so
    // the gateway sees the bytes the estimate is of.
    gw.control("DELETE", "/_emulator/calls", &Value::Null);
    let plain = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&sdk)
            .disable_request_compression(true)
            .build(),
    );
    let full = histogram(150, 2);
    let geos: Vec<String> = (0..400).map(|i| format!("geo-{i:03}")).collect();
    let data: Vec<MetricDatum> = geos
        .iter()
        .flat_map(|g| cloudwatch::latency_data(&key(g), &full, at))
        .collect();
    let estimates: Vec<usize> = cloudwatch::batches(data.clone(), "Big")
        .iter()
        .map(|b| cloudwatch::request_size(b, "Big"))
        .collect();
    let sent = cloudwatch::publish(&plain, "Big", data).await.unwrap();
    assert!(sent.requests >= 2, "{sent:?}");
    let calls = put_calls(&gw);
    assert_eq!(calls.len(), estimates.len());
    for ((status, bytes), estimate) in calls.iter().zip(&estimates) {
        assert_eq!(*status, 200);
        let bytes = *bytes as usize;
        assert!(bytes <= *estimate, "sent {bytes}, estimated {estimate}");
        assert!(
            bytes * 10 >= *estimate * 9,
            "an estimate this loose wastes requests: sent {bytes}, estimated {estimate}"
        );
        assert!(*estimate <= cloudwatch::MAX_REQUEST_BYTES);
    }
}

#[tokio::test]
async fn a_body_past_a_megabyte_is_refused_as_cloudwatch_refuses_it() {
    let gw = Gateway::start();
    let sdk = gw.sdk().await;
    let plain = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&sdk)
            .disable_request_compression(true)
            .build(),
    );
    // 500 full data in one request, bypassing the batching: about 1.4 MB.
    let full = histogram(150, 2);
    let geos: Vec<String> = (0..500).map(|i| format!("geo-{i:03}")).collect();
    let data: Vec<MetricDatum> = geos
        .iter()
        .flat_map(|g| cloudwatch::latency_data(&key(g), &full, Utc::now()))
        .collect();
    let err = plain
        .put_metric_data()
        .namespace("Big")
        .set_metric_data(Some(data))
        .send()
        .await
        .unwrap_err();
    let line = geolat::aws::describe(&err);
    assert!(
        line.starts_with("RequestEntityTooLarge: Request size "),
        "{line}"
    );
    assert_eq!(put_calls(&gw)[0].0, 413);
}

/// One `SEARCH('{Namespace,Dim,...} MetricName="M" Key="v" ...', 'stat', period)`.
struct Search {
    namespace: String,
    dims: Vec<String>,
    filters: Vec<(String, String)>,
    stat: String,
}

/// Every search in a string.
fn searches(text: &str) -> Vec<Search> {
    let mut out = Vec::new();
    for part in text.split("SEARCH('").skip(1) {
        let (schema, rest) = part
            .strip_prefix('{')
            .and_then(|p| p.split_once('}'))
            .unwrap_or_else(|| panic!("no {{schema}} in SEARCH('{part}"));
        let mut schema = schema.split(',').map(str::trim).map(str::to_owned);
        let namespace = schema.next().unwrap();
        let dims: Vec<String> = schema.collect();
        let (query, rest) = rest.split_once('\'').unwrap();
        let filters = query
            .split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{kv}"));
                (k.to_owned(), v.trim_matches('"').to_owned())
            })
            .collect();
        let stat = rest.split('\'').nth(1).unwrap_or_default().to_owned();
        out.push(Search {
            namespace,
            dims,
            filters,
            stat,
        });
    }
    out
}

/// Checks one search against what geolat publishes; the metric it names.
fn check_search(search: &Search, patterns: &BTreeSet<String>) -> String {
    let Search {
        namespace,
        dims,
        filters,
        ..
    } = search;
    assert_eq!(namespace, DEFAULT_NAMESPACE);
    let metric = filters
        .iter()
        .find(|(k, _)| k == "MetricName")
        .map(|(_, v)| v.clone())
        .expect("a search names its metric");
    let published = PUBLISHED
        .iter()
        .find(|(m, _)| *m == metric)
        .unwrap_or_else(|| panic!("geolat publishes no metric {metric}"));
    let mut want: Vec<&str> = published.1.to_vec();
    let mut have: Vec<&str> = dims.iter().map(String::as_str).collect();
    want.sort_unstable();
    have.sort_unstable();
    assert_eq!(have, want, "{metric} is published with other dimensions");
    for (k, v) in filters.iter().filter(|(k, _)| k != "MetricName") {
        assert!(
            dims.contains(k),
            "{metric}: filter on {k}, not in its schema"
        );
        if patterns.contains(v) {
            continue;
        }
        match k.as_str() {
            "Path" => assert!(
                [PathKind::Direct, PathKind::Route53, PathKind::Accelerator]
                    .iter()
                    .any(|p| p.as_str() == v),
                "Path {v}"
            ),
            "Phase" => assert!(Phase::ALL.iter().any(|p| p.as_str() == v), "Phase {v}"),
            _ => panic!("{metric}: {k}={v} is neither a variable nor a fixed value geolat uses"),
        }
    }
    metric
}

#[tokio::test]
async fn the_dashboard_reads_only_what_geolat_publishes_and_is_accepted() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/cloudwatch-latency.json");
    let body = std::fs::read_to_string(&path).unwrap();
    let doc: Value = serde_json::from_str(&body).unwrap();
    let patterns: BTreeSet<String> = doc["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pattern"].as_str().unwrap().to_owned())
        .collect();
    let mut metrics = BTreeSet::new();
    for v in doc["variables"].as_array().unwrap() {
        if let Some(search) = v["search"].as_str() {
            let s = searches(&format!("SEARCH('{search}', '', 0)"));
            metrics.insert(check_search(&s[0], &patterns));
            let dims = &s[0].dims;
            assert!(dims.iter().any(|d| v["populateFrom"] == d.as_str()));
        }
    }
    for w in doc["widgets"].as_array().unwrap() {
        if w["type"] != "metric" {
            continue;
        }
        let entries = w["properties"]["metrics"].as_array().unwrap();
        let mut found = 0;
        for entry in entries {
            for item in entry.as_array().unwrap() {
                // Explicit [namespace, metric, ...] arrays would need
                // checking too; this dashboard searches.
                assert!(item.is_object(), "{}: {item}", w["properties"]["title"]);
                let expression = item["expression"].as_str().unwrap();
                for s in searches(expression) {
                    let metric = check_search(&s, &patterns);
                    let stat = &s.stat;
                    if metric == LATENCY {
                        assert!(stat.starts_with('p'), "{metric} as {stat}");
                    } else {
                        assert_eq!(stat, "Sum", "{metric}");
                    }
                    metrics.insert(metric);
                    found += 1;
                }
            }
        }
        assert!(found > 0, "{}: no search", w["properties"]["title"]);
    }
    let all: BTreeSet<String> = PUBLISHED.iter().map(|(m, _)| m.to_string()).collect();
    assert_eq!(metrics, all, "the dashboard shows every published metric");

    let gw = Gateway::start();
    let cw = geolat::aws::cloudwatch_client(&gw.sdk().await);
    let put = cw
        .put_dashboard()
        .dashboard_name("geolat-latency")
        .dashboard_body(&body)
        .send()
        .await
        .unwrap();
    assert!(put.dashboard_validation_messages().is_empty());
    let got = cw
        .get_dashboard()
        .dashboard_name("geolat-latency")
        .send()
        .await
        .unwrap();
    assert_eq!(got.dashboard_body(), Some(body.as_str()));
}

/// The binary with the gateway as its AWS, set on the child only (and no
/// AWS configuration files of whoever runs the tests).
async fn geolat(gw: &Gateway, args: &[&str]) -> Output {
    let nowhere = "/dev/null";
    util::geolat_command(args)
        .env("AWS_ENDPOINT_URL", &gw.url)
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", nowhere)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_cloudwatch_publishes_the_window_it_measured() {
    let gw = Gateway::start();
    let ep = util::endpoint("sa-east-1", "127.0.0.1:0", Delays::default(), None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &util::pki().ca_pem).unwrap();
    let ca = ca.to_str().unwrap();
    let url = format!("https://127.0.0.1:{}/", ep.addr().port());
    let args = [
        "probe",
        &url,
        "-n",
        "5",
        "--ca",
        ca,
        "--json",
        "--cloudwatch",
        "--cloudwatch-namespace",
        "GeolatTest",
    ];
    let o = geolat(&gw, &args).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["samples"], 5);

    // A one-shot probe is geo `oneshot`; its URL names no region.
    let cw = geolat::aws::cloudwatch_client(&gw.sdk().await);
    let listed = cw
        .list_metrics()
        .namespace("GeolatTest")
        .metric_name(LATENCY)
        .send()
        .await
        .unwrap();
    let phases: BTreeSet<String> = listed
        .metrics()
        .iter()
        .flat_map(|m| m.dimensions())
        .filter(|d| d.name() == Some("Phase"))
        .filter_map(|d| d.value().map(str::to_owned))
        .collect();
    assert!(
        phases.contains("total") && phases.contains("warm"),
        "{phases:?}"
    );
    let d = dims(&[
        ("Geo", "oneshot"),
        ("Region", "unknown"),
        ("Path", "direct"),
        ("Phase", "total"),
    ]);
    let (count, ..) = statistics(&cw, "GeolatTest", LATENCY, d, Utc::now()).await;
    assert_eq!(count, 5.0);
    let d = dims(&[
        ("Geo", "oneshot"),
        ("Region", "unknown"),
        ("Path", "direct"),
    ]);
    let (_, attempts, ..) = statistics(&cw, "GeolatTest", ATTEMPTS, d, Utc::now()).await;
    assert_eq!(attempts, 5.0);

    // CloudWatch refusing: one line naming the namespace and the request.
    gw.control(
        "POST",
        "/_emulator/faults",
        &serde_json::json!({"match": "PutMetricData", "error": "InvalidParameterValue",
                            "message": "The value for parameter X is invalid."}),
    );
    let o = geolat(&gw, &args).await;
    crate::util::assert_user_error(
        &o,
        "CloudWatch namespace GeolatTest: PutMetricData request 1 of 1 failed, 0 of ",
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("InvalidParameterValue"));
}

#[tokio::test]
async fn cloudwatch_mistakes_are_one_line_errors_before_any_work() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().display());
    let old = (Utc::now() - chrono::Duration::days(30)).to_rfc3339();
    let since = (Utc::now() - chrono::Duration::days(31)).to_rfc3339();
    for (args, needle) in [
        (
            vec![
                "probe",
                "https://127.0.0.1:9/",
                "--cloudwatch",
                "--cloudwatch-namespace",
                "AWS/Geolat",
            ],
            "--cloudwatch-namespace `AWS/Geolat`: namespaces starting with AWS/",
        ),
        (
            vec![
                "analyze",
                "--store",
                &store,
                "--since",
                &since,
                "--until",
                &old,
                "--cloudwatch",
            ],
            "CloudWatch takes data points from the last two weeks only",
        ),
    ] {
        let o = geolat(&gw, &args).await;
        crate::util::assert_user_error(&o, needle);
    }
    assert!(gw.calls().is_empty(), "nothing was sent");
}
