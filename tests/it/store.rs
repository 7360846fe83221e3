//! Windows in a store: round trip, time-range listing, atomic and
//! non-overwriting writes, and readers that survive damaged windows.

use chrono::{DateTime, Duration, Utc};
use geolat::store::{Store, StoreError, window_key};
use geolat::window::{Window, codec};

use crate::util;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[tokio::test]
async fn window_round_trips_and_matches_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("file://{}", dir.path().display())).unwrap();
    let w = util::sample_window("probe-a", t("2026-11-29T21:15:00Z"));
    util::assert_schema("window.schema.json", &serde_json::to_value(&w).unwrap());
    let key = store.put_window(&w).await.unwrap();
    assert!(
        key.starts_with("windows/2026/11/29/21/20261129T211500.000Z_probe-a_"),
        "{key}"
    );
    let keys = store
        .list_windows(t("2026-11-29T21:00:00Z"), t("2026-11-29T22:00:00Z"))
        .await
        .unwrap();
    assert_eq!(keys, vec![key.clone()]);
    let back = store.read_window(&key).await.unwrap().unwrap();
    assert_eq!(back, w);
    // Percentiles survive the trip.
    let tls = back
        .series
        .iter()
        .find(|s| s.phase.as_str() == "tls" && s.target == "route53")
        .unwrap();
    let h = codec::decode(&tls.histogram).unwrap();
    assert_eq!(h.len(), 25);
    assert_eq!(back.errors[0].count, 1);
}

#[tokio::test]
async fn listing_covers_exactly_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    for s in [
        "2026-11-29T20:59:59Z",
        "2026-11-29T21:00:00Z",
        "2026-11-29T22:30:00Z",
        "2026-11-29T23:00:00Z",
    ] {
        store
            .put_window(&util::sample_window("p", t(s)))
            .await
            .unwrap();
    }
    let keys = store
        .list_windows(t("2026-11-29T21:00:00Z"), t("2026-11-29T23:00:00Z"))
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys[0].contains("20261129T210000.000Z"));
    assert!(keys[1].contains("20261129T223000.000Z"));
}

#[tokio::test]
async fn the_same_window_twice_is_refused_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let w = util::sample_window("p", t("2026-11-29T21:15:00Z"));
    store.put_window(&w).await.unwrap();
    match store.put_window(&w).await {
        Err(e @ StoreError::AlreadyExists { .. }) => {
            assert!(e.to_string().contains(&window_key(&w)))
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_each_land_whole() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().to_str().unwrap().to_owned();
    let writes = (0..8).map(|i| {
        let url = url.clone();
        tokio::spawn(async move {
            let store = Store::open(&url).unwrap();
            let w = util::sample_window(&format!("probe-{i}"), t("2026-11-29T21:15:00Z"));
            store.put_window(&w).await.unwrap()
        })
    });
    for w in futures::future::join_all(writes).await {
        w.unwrap();
    }
    let store = Store::open(&url).unwrap();
    let keys = store
        .list_windows(t("2026-11-29T21:00:00Z"), t("2026-11-29T22:00:00Z"))
        .await
        .unwrap();
    assert_eq!(keys.len(), 8);
    for k in keys {
        store.read_window(&k).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn damaged_windows_are_reported_with_their_key_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let good = util::sample_window("good", t("2026-11-29T21:10:00Z"));
    store.put_window(&good).await.unwrap();
    let json = String::from_utf8(good.to_json().unwrap()).unwrap();
    let hour = dir.path().join("windows/2026/11/29/21");
    let bad_histogram = {
        let mut w: Window = good.clone();
        w.series[0].histogram = "SGVsbG8=".into();
        String::from_utf8(w.to_json().unwrap()).unwrap()
    };
    let damaged = [
        (
            "20261129T211100.000Z_garbage_x.json",
            "\u{0}\u{1}not json".to_owned(),
        ),
        (
            "20261129T211200.000Z_truncated_x.json",
            json[..json.len() / 2].to_owned(),
        ),
        (
            "20261129T211300.000Z_future_x.json",
            json.replace("geolat-window/1", "geolat-window/9"),
        ),
        ("20261129T211400.000Z_badhist_x.json", bad_histogram),
    ];
    for (name, body) in &damaged {
        std::fs::write(hour.join(name), body).unwrap();
    }
    let keys = store
        .list_windows(t("2026-11-29T21:00:00Z"), t("2026-11-29T22:00:00Z"))
        .await
        .unwrap();
    assert_eq!(keys.len(), 5);
    let mut readable = 0;
    for key in &keys {
        match store.read_window(key).await.unwrap() {
            Ok(_) => readable += 1,
            Err(bad) => {
                assert_eq!(&bad.key, key);
                assert!(!bad.problem.is_empty());
                if key.contains("future") {
                    assert!(bad.problem.contains("geolat-window/9"), "{}", bad.problem);
                }
                if key.contains("badhist") {
                    assert!(bad.problem.contains("series 0"), "{}", bad.problem);
                }
            }
        }
    }
    assert_eq!(readable, 1);
}

#[test]
fn bad_store_urls_are_named() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let cases = [
        (
            format!("file://{}", file.path().display()),
            "not a directory",
        ),
        ("gs://bucket/x".to_owned(), "unsupported scheme"),
        ("s3://".to_owned(), "no bucket"),
        ("file://".to_owned(), "no directory"),
    ];
    for (url, expect) in cases {
        let err = Store::open(&url)
            .err()
            .unwrap_or_else(|| panic!("{url} accepted"))
            .to_string();
        assert!(err.contains(&url) && err.contains(expect), "{url}: {err}");
    }
}

#[tokio::test]
async fn an_interrupted_window_says_so() {
    let mut w = util::sample_window("p", t("2026-11-29T21:15:00Z"));
    w.interrupted = true;
    let back = Window::from_json(&w.to_json().unwrap()).unwrap();
    assert!(back.interrupted);
    let plain = util::sample_window("p", t("2026-11-29T21:15:00Z") + Duration::seconds(1));
    assert!(
        !String::from_utf8(plain.to_json().unwrap())
            .unwrap()
            .contains("interrupted")
    );
}
