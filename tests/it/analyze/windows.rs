//! What analysis does with duplicate, skewed, late, corrupt and
//! out-of-range windows, and that it says so.

use chrono::Duration;
use geolat::config::PathKind;
use geolat::probe::record::{Attempt, Phase};

use super::{DIRECT_NEAR, NEAR, TestStore, ok, t, window};

#[tokio::test]
async fn windows_are_screened_and_reported() {
    let s = TestStore::new();
    let attempts: Vec<(usize, Attempt)> = (0..25)
        .map(|i| (DIRECT_NEAR, ok(10_000 + i, NEAR)))
        .collect();
    let base = t("2026-11-29T21:00:00Z");
    let w = |geo: &str, minute: i64| window(geo, base + Duration::minutes(minute), &attempts);
    // On time.
    s.put(&w("a", 0)).await;
    // The same window again under another key: counted once.
    let original = w("a", 1);
    let key = s.put(&original).await;
    let copy = key.replace(".json", "_copy.json");
    std::fs::copy(s.dir.path().join(&key), s.dir.path().join(&copy)).unwrap();
    s.written_at(&copy, original.end + Duration::seconds(3));
    // Late: written two hours after it ended.
    let late = s.put(&w("b", 2)).await;
    s.written_at(&late, base + Duration::hours(2));
    // Skewed: ends 20 minutes after the store says it was written.
    let ahead = s.put(&w("c", 3)).await;
    s.written_at(&ahead, base - Duration::minutes(16));
    // Skewed: ends before it starts.
    let mut backwards = w("d", 4);
    backwards.end = backwards.start - Duration::seconds(30);
    let backwards = s.put(&backwards).await;
    s.written_at(&backwards, base + Duration::minutes(5));
    // Corrupt: not JSON, and a window whose histogram is damaged.
    let garbage = "windows/2026/11/29/21/20261129T210500.000Z_probe-x_feedface.json";
    std::fs::write(s.dir.path().join(garbage), b"{not json").unwrap();
    let mut damaged = w("e", 6);
    damaged.series[0].histogram = "HISTbroken".into();
    let damaged = s.put(&damaged).await;
    // Outside the range: never read.
    s.put(&w("f", 90)).await;

    let a = s
        .analyze("2026-11-29T21:00:00Z", "2026-11-29T22:00:00Z", Phase::Warm)
        .await;
    crate::util::assert_schema("analysis.schema.json", &serde_json::to_value(&a).unwrap());
    let r = &a.windows;
    assert_eq!((r.read, r.merged), (8, 3), "{r:#?}");
    assert_eq!(r.duplicates.len(), 1);
    assert_eq!(r.duplicates[0].key, copy, "the later key is the duplicate");
    assert_eq!(r.late.len(), 1);
    assert_eq!(r.late[0].key, late);
    assert!(r.late[0].problem.contains("1h 57m"), "{:?}", r.late);
    let skewed: Vec<&str> = r.skewed.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(skewed, vec![ahead.as_str(), backwards.as_str()]);
    let unreadable: Vec<&str> = r.unreadable.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(unreadable, vec![garbage, damaged.as_str()]);
    assert!(r.unreadable[1].problem.contains("series 0"), "{r:?}");
    assert_eq!(r.counts.unreadable, 2);
    // Geo a counted once (50 samples, not 75); b (late) merged; c, d not.
    let cell = |geo: &str| a.matrix.cell(geo, PathKind::Direct, NEAR, Phase::Warm);
    assert_eq!(cell("a").unwrap().samples, 50);
    assert_eq!(cell("b").unwrap().samples, 25);
    assert!(cell("c").is_none() && cell("d").is_none() && cell("f").is_none());
}
