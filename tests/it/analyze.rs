//! `geolat analyze`: the matrix against brute force on known raw samples,
//! confidence and significance, window hygiene (duplicates, skew, late,
//! corrupt, range), measured worlds, and the command line.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use geolat::analyze::confidence::rank_interval;
use geolat::analyze::estimate::estimate;
use geolat::analyze::geo::Verdict;
use geolat::analyze::hist::SparseHistogram;
use geolat::analyze::{Analysis, Scope, table};
use geolat::config::{Geo, PathKind, ProbeIdentity, Target};
use geolat::probe::record::{Attempt, ErrorClass, Failure, Phase};
use geolat::store::Store;
use geolat::window::Window;
use geolat::window::builder::WindowBuilder;
use geolat::world::topology::Topology;
use tempfile::TempDir;

use crate::util;

mod cli;
mod windows;
mod world;

const NEAR: &str = "eu-west-2";
const FAR: &str = "us-east-1";
/// Target indices of [`targets`].
pub(super) const DIRECT_NEAR: usize = 0;
pub(super) const DIRECT_FAR: usize = 1;
pub(super) const ROUTE53: usize = 2;

pub(super) fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn targets() -> Vec<Target> {
    let mut out = Vec::new();
    for r in [NEAR, FAR] {
        let mut d = Target::from_url(format!("https://{r}.api.example.com/").parse().unwrap());
        d.id = format!("direct-{r}");
        d.region = Some(r.into());
        out.push(d);
    }
    let mut routed = Target::from_url("https://api.example.com/".parse().unwrap());
    routed.id = "route53".into();
    routed.path = PathKind::Route53;
    out.push(routed);
    out
}

/// A successful attempt taking `us` in every phase after DNS.
pub(super) fn ok(us: u64, served_by: &str) -> Attempt {
    let d = Duration::from_micros(us);
    Attempt {
        dns: Some(Duration::from_micros(500)),
        tcp: Some(d),
        tls: Some(d),
        ttfb: Some(d),
        total: Some(d),
        warm: vec![d],
        served_by: Some(served_by.into()),
        ..Attempt::default()
    }
}

fn failed() -> Attempt {
    Attempt {
        dns: Some(Duration::from_micros(500)),
        failure: Some(Failure::new(Phase::Tcp, ErrorClass::ConnectTimeout, "")),
        ..Attempt::default()
    }
}

/// A one-minute window of `geo`'s probe from `start`.
pub(super) fn window(geo: &str, start: DateTime<Utc>, attempts: &[(usize, Attempt)]) -> Window {
    let identity = ProbeIdentity::edge(&format!("probe-{geo}"), Geo::of("GB", "EU").with_id(geo));
    let mut b = WindowBuilder::new(identity, "sha256:feedface".into(), &targets(), start);
    for (target, a) in attempts {
        b.record(*target, a);
    }
    b.finish(start + chrono::Duration::seconds(55)).unwrap()
}

pub(super) struct TestStore {
    dir: TempDir,
    store: Store,
}

impl TestStore {
    pub(super) fn new() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        TestStore { dir, store }
    }

    fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    /// Stores `w` as a probe writing on time would: mtime just after its end.
    async fn put(&self, w: &Window) -> String {
        let key = self.store.put_window(w).await.unwrap();
        self.written_at(&key, w.end + chrono::Duration::seconds(2));
        key
    }

    fn written_at(&self, key: &str, at: DateTime<Utc>) {
        std::fs::File::options()
            .write(true)
            .open(self.dir.path().join(key))
            .unwrap()
            .set_modified(SystemTime::from(at))
            .unwrap();
    }

    async fn analyze(&self, since: &str, until: &str, phase: Phase) -> Analysis {
        let scope = Scope {
            store: self.url(),
            since: t(since),
            until: t(until),
            now: t("2026-11-29T23:00:00Z"),
            phase,
        };
        geolat::analyze::analyze(&self.store, scope).await.unwrap()
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[tokio::test]
async fn matrix_matches_brute_force_on_raw_samples() {
    let s = TestStore::new();
    let mut rng = 42u64;
    let (mut near, mut far) = (Vec::new(), Vec::new());
    // Twelve windows: 50 samples a window to NEAR (600 in all: the normal
    // approximation), 3 to FAR (36: exact binomial), one failure each.
    for w in 0..12 {
        let start = t("2026-11-29T21:00:00Z") + chrono::Duration::minutes(w);
        let mut attempts = Vec::new();
        for _ in 0..50 {
            let v = 8_000 + splitmix(&mut rng) % 30_000;
            near.push(v);
            attempts.push((DIRECT_NEAR, ok(v, NEAR)));
        }
        for _ in 0..3 {
            let v = 70_000 + splitmix(&mut rng) % 900_000;
            far.push(v);
            attempts.push((DIRECT_FAR, ok(v, FAR)));
        }
        attempts.push((DIRECT_FAR, failed()));
        s.put(&window("GB-London", start, &attempts)).await;
    }
    let a = s
        .analyze("2026-11-29T21:00:00Z", "2026-11-29T22:00:00Z", Phase::Warm)
        .await;
    assert_eq!(a.windows.merged, 12);
    for (region, raw) in [(NEAR, &mut near), (FAR, &mut far)] {
        raw.sort_unstable();
        let cell = a
            .matrix
            .cell("GB-London", PathKind::Direct, region, Phase::Warm)
            .unwrap();
        let n = raw.len() as u64;
        assert_eq!(cell.samples, n);
        let mut h = geolat::window::codec::new_histogram();
        for v in raw.iter() {
            geolat::window::codec::record(&mut h, *v);
        }
        let p = cell.percentiles.unwrap();
        for (q, e) in [(0.5, p.p50), (0.9, p.p90), (0.99, p.p99), (0.999, p.p99_9)] {
            assert_eq!(e.value_us, h.value_at_quantile(q), "{region} q={q}");
            let rank = ((q * n as f64).ceil() as usize).max(1);
            let truth = raw[rank - 1];
            assert!(
                h.lowest_equivalent(e.value_us) <= truth && truth <= e.value_us,
                "{region} q={q}: {} vs sorted {truth}",
                e.value_us
            );
            let ranks = rank_interval(n, q);
            match ranks.lower {
                Some(l) => {
                    let l = l.min(rank as u64) as usize;
                    assert_eq!(e.ci_low_us, Some(h.lowest_equivalent(raw[l - 1])));
                }
                None => assert_eq!(e.ci_low_us, None),
            }
            match ranks.upper {
                Some(u) => {
                    let u = u.max(rank as u64) as usize;
                    assert_eq!(e.ci_high_us, Some(h.highest_equivalent(raw[u - 1])));
                }
                None => assert_eq!(e.ci_high_us, None, "{region} q={q} n={n}"),
            }
        }
        assert_eq!(cell.min_us, Some(h.lowest_equivalent(raw[0])));
    }
    let far_cell = a
        .matrix
        .cell("GB-London", PathKind::Direct, FAR, Phase::Warm)
        .unwrap();
    assert_eq!((far_cell.attempts, far_cell.errors), (48, 12));
    assert_eq!(far_cell.error_rate, Some(0.25));
    // The failures are kept by class (issue 11: the dashboard shows them).
    let far = a
        .matrix
        .outcomes
        .iter()
        .find(|o| o.geo == "GB-London" && o.region.as_deref() == Some(FAR))
        .unwrap();
    assert_eq!(
        far.errors_by_class,
        std::collections::BTreeMap::from([(ErrorClass::ConnectTimeout, 12)])
    );
    // DNS was timed on every attempt, the failed ones included.
    let dns = a
        .matrix
        .cell("GB-London", PathKind::Direct, FAR, Phase::Dns)
        .unwrap();
    assert_eq!(dns.samples, 48);
}

#[test]
fn confidence_intervals_cover_the_true_quantile() {
    // Uniform on [1 ms, 101 ms]: the true q-quantile is 1 ms + q * 100 ms.
    let mut rng = 7u64;
    for (n, q) in [(30u64, 0.5), (200, 0.5), (200, 0.9), (2_000, 0.99)] {
        let trials = 400;
        let mut covered = 0;
        for _ in 0..trials {
            let mut h = SparseHistogram::default();
            for _ in 0..n {
                h.record_n(1_000 + splitmix(&mut rng) % 100_000, 1);
            }
            let e = estimate(&h, q).unwrap();
            let truth = 1_000 + (q * 100_000.0) as u64;
            if e.ci_low_us.is_none_or(|lo| lo <= truth) && e.ci_high_us.is_none_or(|hi| truth <= hi)
            {
                covered += 1;
            }
        }
        let coverage = f64::from(covered) / f64::from(trials);
        assert!(
            (0.92..=0.995).contains(&coverage),
            "n={n} q={q}: coverage {coverage}"
        );
    }
}

#[tokio::test]
async fn served_by_penalty_and_significance() {
    let s = TestStore::new();
    let mut rng = 3u64;
    for w in 0..4 {
        let start = t("2026-11-29T21:00:00Z") + chrono::Duration::minutes(w);
        // Clear case: NEAR ~10 ms, FAR ~50 ms, DNS sends 3/4 to FAR.
        let mut clear = Vec::new();
        // Noisy case: both regions 20-40 ms (FAR 1 ms slower), 10 samples a
        // window: enough to state each p50, not to tell them apart.
        let mut noisy = Vec::new();
        for i in 0..40 {
            clear.push((DIRECT_NEAR, ok(10_000 + splitmix(&mut rng) % 500, NEAR)));
            clear.push((DIRECT_FAR, ok(50_000 + splitmix(&mut rng) % 500, FAR)));
            let served = if i % 4 == 0 { NEAR } else { FAR };
            clear.push((ROUTE53, ok(30_000, served)));
        }
        for _ in 0..10 {
            noisy.push((DIRECT_NEAR, ok(20_000 + splitmix(&mut rng) % 20_000, NEAR)));
            noisy.push((DIRECT_FAR, ok(21_000 + splitmix(&mut rng) % 20_000, FAR)));
            noisy.push((ROUTE53, ok(30_000, FAR)));
        }
        s.put(&window("clear", start, &clear)).await;
        s.put(&window("noisy", start, &noisy)).await;
    }
    let a = s
        .analyze("2026-11-29T21:00:00Z", "2026-11-29T22:00:00Z", Phase::Warm)
        .await;
    let clear = a.geos.iter().find(|g| g.geo == "clear").unwrap();
    let served = &clear.served_by[&PathKind::Route53];
    assert_eq!(served.answered, 160);
    assert_eq!(served.fractions[NEAR], 0.25);
    assert_eq!(served.fractions[FAR], 0.75);
    assert_eq!(clear.today_path, Some(PathKind::Route53));
    assert_eq!(clear.best_direct.as_ref().unwrap().region, NEAR);
    let penalty = clear.penalty_us.unwrap();
    assert!((29_000.0..31_000.0).contains(&penalty), "{penalty}");
    assert_eq!(clear.verdict, Verdict::Significant);

    let noisy = a.geos.iter().find(|g| g.geo == "noisy").unwrap();
    assert_eq!(noisy.verdict, Verdict::NotSignificant, "{noisy:?}");
    let (today, best) = (
        noisy.today.as_ref().unwrap(),
        noisy.best_direct.as_ref().unwrap(),
    );
    assert!(today.ci_low_us <= best.p50.ci_high_us, "{noisy:?}");
    assert!(noisy.penalty_us.unwrap() >= 0.0);
}

#[tokio::test]
async fn insufficient_cells_are_marked_and_never_stated() {
    let s = TestStore::new();
    let mut attempts: Vec<(usize, Attempt)> = (0..30)
        .map(|i| (DIRECT_NEAR, ok(10_000 + i * 10, NEAR)))
        .collect();
    attempts.extend((0..5).map(|i| (DIRECT_FAR, ok(40_000 + i, FAR))));
    attempts.extend((0..30).map(|_| (ROUTE53, ok(40_000, FAR))));
    s.put(&window("thin", t("2026-11-29T21:00:00Z"), &attempts))
        .await;
    let a = s
        .analyze("2026-11-29T21:00:00Z", "2026-11-29T22:00:00Z", Phase::Warm)
        .await;
    let far = a
        .matrix
        .cell("thin", PathKind::Direct, FAR, Phase::Warm)
        .unwrap();
    assert!(far.insufficient.as_deref().unwrap().contains("5 samples"));
    let near = a
        .matrix
        .cell("thin", PathKind::Direct, NEAR, Phase::Warm)
        .unwrap();
    assert!(near.sufficient(), "{near:?}");
    util::assert_schema("analysis.schema.json", &serde_json::to_value(&a).unwrap());
    let g = &a.geos[0];
    // Today's region (FAR) is too thin to compare: no penalty is claimed.
    assert_eq!(g.verdict, Verdict::Insufficient);
    assert_eq!(g.penalty_us, None);
    assert!(g.reason.as_deref().unwrap().contains(FAR), "{g:?}");
    let mut out = Vec::new();
    table::render(&a, &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    let far_row = out
        .lines()
        .find(|l| l.contains("direct") && l.contains(FAR))
        .unwrap();
    assert!(far_row.contains("n/a (n=5)"), "{out}");
    assert!(
        !far_row.contains("40.00"),
        "a thin cell shows no number: {far_row}"
    );
    // 30 samples bound p50 but not p99: marked approximate.
    let near_row = out
        .lines()
        .find(|l| l.contains("direct") && l.contains(NEAR))
        .unwrap();
    assert!(near_row.contains('~'), "{near_row}");
    assert!(out.contains("insufficient: today's region"), "{out}");
}

fn topology(geos: &[&str]) -> Topology {
    let geos: Vec<serde_json::Value> = geos
        .iter()
        .map(|g| serde_json::json!({"id": g, "continent": "EU", "lat": 51.5, "lon": -0.1, "demand_rps": 100}))
        .collect();
    let v = serde_json::json!({
        "format": "geolat-topology/1",
        "name": "test",
        "regions": [
            {"id": NEAR, "lat": 51.5, "lon": -0.1, "capacity_rps": 1000, "backup": FAR},
            {"id": FAR, "lat": 38.9, "lon": -77.0, "capacity_rps": 1000}
        ],
        "geos": geos
    });
    Topology::from_json(&serde_json::to_vec(&v).unwrap(), "topology.json").unwrap()
}

/// Two geos with 40 samples a region and Route 53 answers from both.
async fn two_geo_store() -> TestStore {
    let s = TestStore::new();
    for geo in ["GB-London", "DE-Berlin"] {
        let mut attempts = Vec::new();
        for i in 0..40 {
            attempts.push((DIRECT_NEAR, ok(10_000 + i * 20, NEAR)));
            attempts.push((DIRECT_FAR, ok(75_000 + i * 20, FAR)));
            attempts.push((ROUTE53, ok(75_000, if i < 30 { FAR } else { NEAR })));
        }
        s.put(&window(geo, t("2026-11-29T21:00:00Z"), &attempts))
            .await;
    }
    s
}
