//! One test per bug fixed, named for the bug (issue 10, "Hardening for
//! production"). Each runs the binary as a user would and holds it to one
//! clear error line, or to finishing at all.

use geolat::store::Store;

use crate::util::{self, assert_user_error, geolat};

/// An empty, existing store directory.
fn empty_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    (dir, url)
}

/// A topology the advisor accepts, written to `dir`.
fn topology_file(dir: &std::path::Path) -> String {
    let v = serde_json::json!({
        "format": "geolat-topology/1",
        "name": "regression",
        "regions": [
            {"id": "eu-west-2", "lat": 51.5, "lon": -0.1, "capacity_rps": 1000},
            {"id": "us-east-1", "lat": 38.9, "lon": -77.0, "capacity_rps": 1000}
        ],
        "geos": [{"id": "GB-London", "continent": "EU", "lat": 51.5, "lon": -0.1, "demand_rps": 100}]
    });
    let path = dir.join("topology.json");
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn far_past_since_is_an_error_not_a_panic() {
    let (dir, url) = empty_store();
    let topology = topology_file(dir.path());
    for args in [
        vec!["analyze", "--store", &url, "--since", "500000y"],
        vec!["store", "list", "--store", &url, "--since", "500000y"],
        vec!["analyze", "--store", &url, "--until", "500000y"],
        vec![
            "advise",
            "--store",
            &url,
            "--topology",
            &topology,
            "--since",
            "500000y",
        ],
    ] {
        let o = geolat(&args).await;
        assert_user_error(&o, "too far back");
    }
    // An empty range names both ends.
    let o = geolat(&["store", "list", "--store", &url, "--since", "now"]).await;
    assert_user_error(&o, "--since now is not before --until now");
}

#[tokio::test]
async fn a_bad_typed_value_is_one_line_naming_flag_and_value() {
    let (_dir, url) = empty_store();
    let o = geolat(&["analyze", "--store", &url, "--phase", "warmish"]).await;
    assert_user_error(
        &o,
        "--phase `warmish` is not one of dns, tcp, tls, ttfb, total, warm",
    );
    let o = geolat(&["store", "list", "--store", &url, "--until", "soon"]).await;
    assert_user_error(&o, "--until `soon`: `soon` is neither a duration ago");
}

/// `analyze --since 1000y` walked every hour of a millennium (some nine
/// minutes on an empty store); listing now walks the hours that exist.
#[tokio::test]
async fn a_long_range_lists_only_the_hours_that_exist() {
    let (dir, url) = empty_store();
    let o = geolat(&["analyze", "--store", &url, "--since", "1000y", "--json"]).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A window within the millennium is still found.
    let store = Store::open(&url).unwrap();
    let start: chrono::DateTime<chrono::Utc> = "2026-11-29T21:15:00Z".parse().unwrap();
    store
        .put_window(&util::sample_window("probe-a", start))
        .await
        .unwrap();
    // Directories that are no dates, or out of range, are passed over.
    std::fs::create_dir_all(dir.path().join("windows/notes")).unwrap();
    std::fs::create_dir_all(dir.path().join("windows/1999/01/01/00")).unwrap();
    let o = geolat(&["store", "list", "--store", &url, "--since", "1000y"]).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("probe=probe-a"), "{out}");
    assert!(out.contains("1 windows, 0 unreadable"), "{out}");
}

/// A window whose histogram header claims a 2 GiB payload, in 1.6 KB.
fn oversized_histogram() -> String {
    use base64::Engine as _;
    use std::io::Write as _;
    let mut v2 = Vec::new();
    v2.extend_from_slice(&0x1c84_9313u32.to_be_bytes()); // V2 cookie
    v2.extend_from_slice(&0x8000_0000u32.to_be_bytes()); // payload length: 2 GiB
    v2.extend_from_slice(&0u32.to_be_bytes()); // normalizing offset
    v2.extend_from_slice(&3u32.to_be_bytes()); // significant digits
    v2.extend_from_slice(&1u64.to_be_bytes()); // lowest
    v2.extend_from_slice(&3_600_000_000u64.to_be_bytes()); // highest
    v2.extend_from_slice(&1.0f64.to_be_bytes()); // conversion ratio
    v2.extend_from_slice(&[2, 1]); // a couple of counts
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&v2).unwrap();
    let zlib = z.finish().unwrap();
    let mut raw = Vec::new();
    raw.extend_from_slice(&0x1c84_9314u32.to_be_bytes());
    raw.extend_from_slice(&(zlib.len() as u32).to_be_bytes());
    raw.extend_from_slice(&zlib);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// `store list` stopped at the first entry it could not open (here a
/// symlink loop), and decoded histograms with the hdrhistogram crate, which
/// allocates what a header claims: 2.1 GB for one crafted window. It now
/// reads as `analyze` does, skipping and naming both.
#[tokio::test]
async fn store_list_skips_and_names_what_it_cannot_read() {
    let (dir, url) = empty_store();
    let store = Store::open(&url).unwrap();
    let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let good = store
        .put_window(&util::sample_window("good", t("2026-11-29T21:10:00Z")))
        .await
        .unwrap();
    let mut crafted = util::sample_window("crafted", t("2026-11-29T21:20:00Z"));
    crafted.series.truncate(1);
    crafted.series[0].histogram = oversized_histogram();
    let crafted_key = store.put_window(&crafted).await.unwrap();
    let size = std::fs::metadata(store.local_path(&crafted_key).unwrap())
        .unwrap()
        .len();
    assert!(size < 2_000, "the crafted window is small: {size} bytes");
    let hour = dir.path().join("windows/2026/11/29/21");
    let looped = "20261129T213000.000Z_loop_000000000000.json";
    std::os::unix::fs::symlink(hour.join(looped), hour.join(looped)).unwrap();
    // At most 1.5 GB of address space: the 2 GiB allocation cannot happen.
    let o = tokio::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1500000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_geolat"))
        .args(["store", "list", "--store", &url])
        .args([
            "--since",
            "2026-11-29T21:00:00Z",
            "--until",
            "2026-11-29T22:00:00Z",
        ])
        .env("NO_COLOR", "1")
        .env_remove("GEOLAT_LOG")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{err}");
    assert!(out.contains(&good), "{out}");
    assert!(out.contains("1 windows, 2 unreadable (skipped)"), "{out}");
    assert!(
        err.contains(&crafted_key),
        "names the crafted window: {err}"
    );
    assert!(err.contains(looped), "names the symlink loop: {err}");
    // analyze skips and names the same two.
    let o = geolat(&[
        "analyze",
        "--store",
        &url,
        "--json",
        "--since",
        "2026-11-29T21:00:00Z",
        "--until",
        "2026-11-29T22:00:00Z",
    ])
    .await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&crafted_key) && out.contains(looped), "{out}");
}

/// `store list --store file://typo` said "0 windows" and created `typo/`;
/// `advise --store` too. Commands that only read open existing stores.
#[tokio::test]
async fn readers_do_not_create_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo");
    let url = format!("file://{}", typo.display());
    let topology = topology_file(dir.path());
    for args in [
        vec!["store", "list", "--store", &url],
        vec!["analyze", "--store", &url],
        vec!["advise", "--store", &url, "--topology", &topology],
    ] {
        let o = geolat(&args).await;
        assert_user_error(&o, "is not an existing directory");
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
}

/// A window claiming 2^64-1 attempts was merged, and the sum wrapped.
/// Counts are checked before a window is merged; an implausible one is
/// skipped and named.
#[tokio::test]
async fn implausible_counts_are_skipped_and_named_not_merged() {
    let (_dir, url) = empty_store();
    let store = Store::open(&url).unwrap();
    let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    store
        .put_window(&util::sample_window("good", t("2026-11-29T21:10:00Z")))
        .await
        .unwrap();
    let mut wrapped = util::sample_window("wrapped", t("2026-11-29T21:20:00Z"));
    wrapped.targets[0].attempts = u64::MAX;
    let wrapped_key = store.put_window(&wrapped).await.unwrap();
    let mut failing = util::sample_window("failing", t("2026-11-29T21:30:00Z"));
    failing.errors[0].count = failing.targets[1].attempts + 1;
    let failing_key = store.put_window(&failing).await.unwrap();
    let range = [
        "--since",
        "2026-11-29T21:00:00Z",
        "--until",
        "2026-11-29T22:00:00Z",
    ];
    let o = geolat(&[&["analyze", "--store", &url, "--json"][..], &range].concat()).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let analysis: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = analysis.to_string();
    for key in [&wrapped_key, &failing_key] {
        assert!(text.contains(key.as_str()), "{key} not named: {text}");
    }
    assert!(text.contains("implausible counts"), "{text}");
    // Only the good window's counts were merged: nothing near wrapping.
    for o in analysis["matrix"]["outcomes"].as_array().unwrap() {
        assert!(o["attempts"].as_u64().unwrap() <= 26, "{o}");
    }
    let o = geolat(&[&["store", "list", "--store", &url][..], &range].concat()).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("1 windows, 2 unreadable"), "{out}");
}

/// `lab serve --delay REGION=500000000000y` panicked on the first client
/// (`Instant + delay`). Delays are bounded when parsed.
#[tokio::test]
async fn an_enormous_lab_delay_is_refused_when_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    for delay in ["eu-central-1=500000000000y", "eu-central-1=2h"] {
        let o = geolat(&[
            "lab",
            "serve",
            "--port",
            "0",
            "--ca-out",
            ca.to_str().unwrap(),
            "--delay",
            delay,
        ])
        .await;
        assert_user_error(&o, "at most 1h of delay");
        assert!(!ca.exists(), "nothing is created");
    }
}

/// Type errors in world, topology and AWS files gave a line and column
/// (`invalid type: string "lots", expected f64 at line 9 column 25`) but
/// not the field.
#[tokio::test]
async fn a_type_error_in_an_input_file_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let (_store_dir, url) = empty_store();
    let world = dir.path().join("world.json");
    std::fs::write(
        &world,
        r#"{"format": "geolat-world/1", "regions": [{"id": "eu-west-2", "capacity_rps": "lots"}]}"#,
    )
    .unwrap();
    let o = geolat(&["advise", "--world", world.to_str().unwrap()]).await;
    assert_user_error(
        &o,
        "`regions[0].capacity_rps`: invalid type: string \"lots\"",
    );
    let topology = dir.path().join("topology.json");
    std::fs::write(
        &topology,
        r#"{"format": "geolat-topology/1", "regions": [{"id": "eu-west-2", "lat": "north"}]}"#,
    )
    .unwrap();
    let out = dir.path().join("world-out.json");
    let o = geolat(&[
        "analyze",
        "--store",
        &url,
        "--topology",
        topology.to_str().unwrap(),
        "--world-out",
        out.to_str().unwrap(),
    ])
    .await;
    assert_user_error(&o, "`regions[0].lat`");
    assert!(!out.exists());
    let aws = dir.path().join("aws.yaml");
    std::fs::write(
        &aws,
        "route53:\n  hosted_zone_id: Z1\n  name: api.example.com\n  ttl: soon\n  targets: {}\n",
    )
    .unwrap();
    let o = geolat(&["routing", "show", "--aws", aws.to_str().unwrap()]).await;
    assert_user_error(&o, "`route53.ttl`");
}

/// `budget breached: Nodes { nodes: 250001 }` named neither the limit nor
/// the fix.
#[tokio::test]
async fn a_yaml_file_over_the_node_limit_is_told_the_limit_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let aws = dir.path().join("aws.yaml");
    let targets: String = (0..130_000).map(|i| format!("    r{i}: t\n")).collect();
    std::fs::write(
        &aws,
        format!("route53:\n  hosted_zone_id: Z1\n  name: api.example.com\n  targets:\n{targets}"),
    )
    .unwrap();
    let o = geolat(&["routing", "show", "--aws", aws.to_str().unwrap()]).await;
    assert_user_error(&o, "more than 250000 values, lists and maps");
    assert_user_error(&o, "split it");
}

/// A read error printed the OS error twice.
#[tokio::test]
async fn a_read_error_names_the_os_error_once() {
    let o = geolat(&["advise", "--world", "/nonexistent/world.json"]).await;
    assert_user_error(&o, "/nonexistent/world.json");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

/// Log lines carried ANSI colour codes into pipes and files.
#[tokio::test]
async fn logs_into_a_pipe_carry_no_colour() {
    let (dir, url) = empty_store();
    let hour = dir.path().join("windows/2026/11/29/21");
    std::fs::create_dir_all(&hour).unwrap();
    std::fs::write(hour.join("20261129T211000.000Z_p_x.json"), "not a window").unwrap();
    let o = util::geolat_command(&[
        "store",
        "list",
        "--store",
        &url,
        "--since",
        "2026-11-29T21:00:00Z",
        "--until",
        "2026-11-29T22:00:00Z",
    ])
    .env_remove("NO_COLOR")
    .output()
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("skipping unreadable window"), "{err}");
    assert!(!err.contains('\u{1b}'), "colour codes in a pipe: {err:?}");
}

/// With `--log-format json` the final error was a plain `error:` line
/// among JSON log lines.
#[tokio::test]
async fn with_json_logs_the_final_error_is_json_too() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("missing").display());
    let o = geolat(&["--log-format", "json", "store", "list", "--store", &url]).await;
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    let line: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(line["level"], "ERROR");
    let message = line["message"].as_str().unwrap();
    assert!(
        message.contains("is not an existing directory"),
        "{message}"
    );
}

/// `geolat ... | head` ended with `error: Broken pipe`.
#[tokio::test]
async fn a_closed_stdout_ends_quietly() {
    let (_dir, url) = empty_store();
    let mut child = util::geolat_command(&["store", "list", "--store", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before geolat writes a line.
    drop(child.stdout.take());
    let o = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.is_empty(), "{err}");
}

/// A command line clap refused was clap's plain text among JSON log lines
/// under `--log-format json`; now it is one JSON line too (status 2 for a
/// usage mistake, 1 for a bad value), and a person still gets clap's usage.
#[tokio::test]
async fn with_json_logs_a_refused_command_line_is_json_too() {
    let json_line = |o: &std::process::Output| -> serde_json::Value {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        serde_json::from_str(err.trim()).unwrap()
    };
    let o = geolat(&["--log-format", "json", "probe", "--bogus"]).await;
    assert_eq!(o.status.code(), Some(2));
    let line = json_line(&o);
    assert_eq!(line["level"], "ERROR");
    assert!(
        line["message"].as_str().unwrap().contains("'--bogus'"),
        "{line}"
    );

    let o = geolat(&["analyze", "--since", "yesterday", "--log-format=json"]).await;
    assert_eq!(o.status.code(), Some(1));
    let message = json_line(&o)["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("--since `yesterday`"), "{message}");

    let o = geolat(&["probe", "--bogus"]).await;
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: unexpected argument '--bogus'"),
        "{err}"
    );
    assert!(err.contains("Usage: geolat probe"), "{err}");
}

/// A plan file cut short (a full disk, a copy interrupted) is refused in
/// one line naming the file, before anything is written to the store.
#[tokio::test]
async fn a_truncated_plan_file_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"format": "geolat-change-plan/1", "binding": {"zone""#,
    )
    .unwrap();
    let store = dir.path().join("store");
    let aws = format!(
        "{}/deploy/aws-routing.example.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let url = format!("file://{}", store.display());
    let plan = plan.display().to_string();
    for apply in [false, true] {
        let mut args = vec!["apply", "--aws", &aws, "--store", &url, &plan, "--yes"];
        if apply {
            args.push("--apply");
        }
        let o = geolat(&args).await;
        assert_user_error(&o, "is not a change plan (make one with `geolat plan`)");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&plan) && err.contains("EOF while parsing"),
            "{err}"
        );
        assert!(!store.exists(), "the refusal wrote to the store");
    }
}
