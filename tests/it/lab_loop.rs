//! The closed loop on a small world: geo-nearest routing overloads a
//! region; the loop measures it, advises, applies the plan to the lab's
//! routing, and the next probe round measures the gain.

use geolat::lab::closed_loop::{self, LoopOptions};
use geolat::store::Store;
use geolat::world::World;
use tokio_util::sync::CancellationToken;

fn overloaded_world() -> World {
    let v = serde_json::json!({
        "format": "geolat-world/1",
        "name": "two-regions",
        "regions": [
            {"id": "west", "lat": 50, "lon": 0, "capacity_rps": 100, "backup": "east"},
            {"id": "east", "lat": 50, "lon": 30, "capacity_rps": 100, "backup": "west"}
        ],
        "geos": [
            {"id": "A", "continent": "EU", "country": "FR", "lat": 49, "lon": 1, "demand_rps": 90,
             "latency_ms": {"west": {"p50": 10}, "east": {"p50": 30}}},
            {"id": "B", "continent": "EU", "country": "DE", "lat": 50, "lon": 12, "demand_rps": 60,
             "latency_ms": {"west": {"p50": 12}, "east": {"p50": 20}}},
            {"id": "C", "continent": "EU", "country": "UA", "lat": 49, "lon": 29, "demand_rps": 10,
             "latency_ms": {"west": {"p50": 40}, "east": {"p50": 10}}}
        ]
    });
    World::from_json(&serde_json::to_vec(&v).unwrap(), "two-regions").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_moves_traffic_off_an_overloaded_region_and_latency_drops() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let after_store = Store::open(dir.path().join("after-plan").to_str().unwrap()).unwrap();
    let report = closed_loop::run(
        overloaded_world(),
        &LoopOptions::default(),
        &store,
        &after_store,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    let b = report.geos.iter().find(|g| g.geo == "B").unwrap();
    // Before: geo-nearest sends A and B to west (150 rps on 100).
    assert_eq!(b.before_regions.get("west"), Some(&1.0), "{b:?}");
    // After: B (the geo that loses least by moving) goes east.
    assert!(
        b.after_regions.get("east").copied().unwrap_or(0.0) > 0.9,
        "{b:?}"
    );
    assert!(report.plan.capacity["west"].utilisation_after <= 0.9 + 1e-6);
    assert!(
        report.after_ms < report.before_ms * 0.5,
        "before {:.1} ms, after {:.1} ms",
        report.before_ms,
        report.after_ms
    );
    // Both rounds went through a store.
    assert!(report.before.windows.merged >= 3 && report.after.windows.merged == 3);
    assert_eq!(after_store.keys("windows/").await.unwrap().len(), 3);
    assert_eq!(
        store.keys("windows/").await.unwrap().len() as u64,
        report.before.windows.merged
    );

    // Regression (issue 10, item 15): the store holds only windows measured
    // under one routing (the round after the plan is kept apart), so it
    // gives a plan from the command line as it is, with no range cut by hand.
    // What the lab prints to advise on them: with --accept-wide when it
    // found the machine busy (wide intervals are then expected).
    let accept_wide: &[&str] = if report.busy.is_some() {
        &["--accept-wide"]
    } else {
        &[]
    };
    let topology = dir.path().join("topology.json");
    let t = closed_loop::topology_of(&overloaded_world());
    std::fs::write(&topology, serde_json::to_vec(&t).unwrap()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_geolat"))
        .args([
            "advise",
            "--store",
            dir.path().to_str().unwrap(),
            "--topology",
        ])
        .arg(&topology)
        .args(["--since", "1h", "--json"])
        .args(accept_wide)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for geo in ["A", "B", "C"] {
        assert!(plan["assignment"][geo].is_object(), "{geo}: {plan}");
    }
    // Issue 11: the same store gives a report whose changed geos carry
    // what was measured to their proposed region, with its interval.
    let folder = dir.path().join("report");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_geolat"))
        .args([
            "report",
            "--store",
            dir.path().to_str().unwrap(),
            "--topology",
        ])
        .arg(&topology)
        .args(["--since", "1h", "--out"])
        .arg(&folder)
        .args(accept_wide)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("report.json")).unwrap()).unwrap();
    crate::util::assert_schema("report.schema.json", &report);
    assert!(report["source"]["window"]["windows"].as_u64().unwrap() >= 3);
    let b = report["geos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == "B")
        .unwrap();
    assert_eq!(b["changed"], true, "{b}");
    assert_eq!(b["measured_proposed"]["region"], "east", "{b}");
    assert!(
        b["measured_proposed"]["samples"].as_u64().unwrap() > 0,
        "{b}"
    );
    assert!(b["measured_today"]["p50_ms"].as_f64().unwrap() > 0.0, "{b}");
    // B's distributions, today's region and the proposed one, from the
    // merged histograms: ascending, ending at the whole sample.
    for (role, region) in [("today", "west"), ("proposed", "east")] {
        let cdf = report["cdfs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["geo"] == "B" && c["role"] == role)
            .unwrap_or_else(|| panic!("no {role} CDF for B: {}", report["cdfs"]));
        assert_eq!(cdf["region"], region);
        let points = cdf["points"].as_array().unwrap();
        let ms: Vec<f64> = points.iter().map(|p| p[0].as_f64().unwrap()).collect();
        assert!(ms.windows(2).all(|w| w[0] <= w[1]), "{cdf}");
        assert_eq!(points.last().unwrap()[1].as_f64(), Some(1.0), "{cdf}");
    }
    // The range cut in four slices, each advised alone and compared.
    let slices = report["stability"]["slices"].as_array().unwrap();
    assert_eq!(slices.len(), 4, "{}", report["stability"]);
    let in_slices: u64 = slices.iter().map(|s| s["windows"].as_u64().unwrap()).sum();
    assert!(in_slices <= report["source"]["window"]["windows"].as_u64().unwrap());
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        6,
        "the CDFs and the percentiles over time are drawn too"
    );
    // Percentiles over the range: twelve slices, the measured ones with
    // both today's and the proposed levels.
    let over_time = report["over_time"].as_array().unwrap();
    assert_eq!(over_time.len(), 12, "{over_time:?}");
    let measured: Vec<_> = over_time
        .iter()
        .filter(|s| s["windows"].as_u64() > Some(0))
        .collect();
    assert!(!measured.is_empty());
    for s in measured {
        assert!(s["today"]["p50_ms"].as_f64().unwrap() > 0.0, "{s}");
        assert!(
            s["proposed"]["p99_ms"].as_f64() >= s["proposed"]["p50_ms"].as_f64(),
            "{s}"
        );
    }
    for png in [
        "heatmap.png",
        "cdf.png",
        "over-time.png",
        "map.png",
        "load.png",
        "floor.png",
    ] {
        assert!(folder.join(png).is_file(), "{png}");
    }

    // Issue 11: the dashboard over the same store, in a real terminal.
    crate::dash::drive_in_a_terminal(dir.path(), &topology, "B");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_geolat"))
        .args(["advise", "--store", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--store needs --topology"));
}

/// Issue 10, item 15: a topology ships beside the built-in world, and it is
/// exactly that world without its latency.
#[test]
fn regression_the_built_in_world_ships_its_topology() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/world/aws-edges.topology.json"
    );
    let shipped = geolat::world::topology::Topology::load(std::path::Path::new(file)).unwrap();
    assert_eq!(shipped, closed_loop::topology_of(&World::builtin()));
}
