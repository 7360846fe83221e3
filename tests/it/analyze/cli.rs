//! `geolat analyze` as a user runs it: JSON held to its schema, a world
//! written, and one error line with exit code 1 for every bad input.

use std::path::Path;

use super::{topology, two_geo_store};
use crate::util;

use util::geolat;

#[tokio::test]
async fn cli_json_holds_to_its_schema_and_writes_a_world() {
    let s = two_geo_store().await;
    let url = s.url();
    let range = [
        "--since",
        "2026-11-29T21:00:00Z",
        "--until",
        "2026-11-29T22:00:00Z",
    ];
    let mut args = vec!["analyze", "--store", &url, "--json"];
    args.extend(range);
    let o = geolat(&args).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    util::assert_schema("analysis.schema.json", &v);
    assert_eq!(v["format"], "geolat-analysis/1");
    assert_eq!(v["phase"], "warm");
    assert_eq!(v["windows"]["merged"], 2);
    assert_eq!(v["method"]["confidence_level"], 0.95);

    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("topology.json");
    std::fs::write(
        &topo,
        serde_json::to_vec(&topology(&["GB-London"])).unwrap(),
    )
    .unwrap();
    let world = dir.path().join("world.json");
    let (topo, world_s) = (topo.to_str().unwrap(), world.to_str().unwrap());
    let mut args = vec!["analyze", "--store", &url, "--phase", "ttfb"];
    args.extend(range);
    args.extend(["--topology", topo, "--world-out", world_s]);
    let o = geolat(&args).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("latency at phase ttfb"), "{table}");
    let w = geolat::world::World::load(&world).unwrap();
    assert_eq!(w.geos.len(), 1);
    assert!(!world.with_extension("json.tmp").exists());
}

#[tokio::test]
async fn cli_bad_inputs_are_one_line_errors() {
    let s = two_geo_store().await;
    let url = s.url();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope").join("store");
    let dead = format!("file://{}", missing.display());
    let no_topo = dir.path().join("missing-topology.json");
    let no_topo = no_topo.to_str().unwrap();
    let out = dir.path().join("w.json");
    let out = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["analyze", "--store", &dead],
            "is not an existing directory",
        ),
        (
            vec!["analyze", "--store", &url, "--since", "yesterday"],
            "--since `yesterday`",
        ),
        (
            vec![
                "analyze",
                "--store",
                &url,
                "--topology",
                no_topo,
                "--world-out",
                out,
            ],
            "cannot read topology file",
        ),
        (
            vec!["analyze", "--store", &url, "--phase", "rtt"],
            "--phase `rtt`",
        ),
        (
            vec!["analyze", "--store", &url, "--world-out", out],
            "needs --topology",
        ),
    ];
    for (args, needle) in cases {
        let o = geolat(&args).await;
        crate::util::assert_user_error(&o, needle);
    }
    assert!(!missing.exists(), "analyze never creates a store");
    assert!(!Path::new(out).exists());
}
