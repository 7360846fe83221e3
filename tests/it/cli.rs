//! The `geolat` binary as a user runs it: one-shot JSON against its schema,
//! a configured window into a store, signals, and one clear error line
//! with a non-zero exit for every mistake a user can make.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use geolat::lab::endpoint::Delays;
use geolat::lab::{Lab, LabSpec, RegionSpec};
use geolat::store::Store;

use crate::util;

use util::geolat;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_ca(dir: &Path) -> String {
    let path = dir.join("ca.pem");
    std::fs::write(&path, &util::pki().ca_pem).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneshot_json_holds_to_its_schema_and_stores_a_window() {
    let ep = util::endpoint("sa-east-1", "127.0.0.1:0", Delays::default(), None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path());
    let url = format!("https://127.0.0.1:{}/", ep.addr().port());
    let store = format!("file://{}", dir.path().join("store").display());
    let o = geolat(&[
        "probe", &url, "-n", "5", "--warm", "2", "--ca", &ca, "--json", "--store", &store,
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    util::assert_schema("probe-oneshot.schema.json", &v);
    assert_eq!(v["target"], url);
    assert_eq!(v["samples"], 5);
    for p in ["tcp", "tls", "ttfb", "total"] {
        assert_eq!(v["phases"][p]["count"], 5, "{p}");
    }
    assert_eq!(v["phases"]["warm"]["count"], 10);
    assert!(
        v["phases"].get("dns").is_none(),
        "an IP literal needs no DNS"
    );
    assert_eq!(v["served_by"]["sa-east-1"], 5);
    assert_eq!(v["errors"], serde_json::json!({}));
    assert_eq!(v["tls"]["version"], "TLSv1_3");
    // The run is in the store as a window.
    let o = geolat(&["store", "list", "--store", &store, "--json"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["samples"], 5);
    ep.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneshot_table_counts_errors_and_fails_when_nothing_succeeds() {
    let ep = util::endpoint("us-east-1", "127.0.0.1:0", Delays::default(), None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path());
    let url = format!("https://127.0.0.1:{}/status/502", ep.addr().port());
    let o = geolat(&["probe", &url, "-n", "3", "--ca", &ca]).await;
    // The table is printed, and the exit status says nothing succeeded.
    crate::util::assert_user_error(&o, "every sample to");
    assert!(
        stderr(&o).contains("(http_status=3: status 502)"),
        "{}",
        stderr(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("errors: http_status=3"), "{out}");
    assert!(out.contains("tls "), "{out}");
    assert!(
        !out.contains("ttfb "),
        "a failed phase is not a latency: {out}"
    );
    ep.shutdown(Duration::ZERO).await;
}

/// A lab on loopback and a probe config pointing at it.
async fn lab_config(dir: &Path, samples: u32, duration: Option<&str>) -> (Lab, std::path::PathBuf) {
    let spec = LabSpec {
        regions: ["us-east-1", "eu-central-1"]
            .iter()
            .map(|id| RegionSpec {
                id: (*id).into(),
                delays: Delays::default(),
            })
            .collect(),
        port: 0,
        dns_port: 0,
        busy_wait: false,
    };
    let lab = Lab::start(&spec).await.unwrap();
    std::fs::write(dir.join("lab-ca.pem"), &lab.ca_pem).unwrap();
    let port = lab.port;
    let duration = duration
        .map(|d| format!(", duration: {d}"))
        .unwrap_or_default();
    let yaml = format!(
        r#"
probe:
  id: lab-test
  location: edge
  geo: {{country: GB, continent: EU, city: London}}
window: {{samples: {samples}, concurrency: 4, warm_requests: 1{duration}}}
dns: {{nameservers: ["{dns}"]}}
tls: {{ca_file: lab-ca.pem}}
served_by:
  header: x-region
  addresses: {{"127.0.1.1": us-east-1, "127.0.1.2": eu-central-1}}
targets:
  - {{id: direct-us-east-1, path: direct, region: us-east-1, url: "https://us-east-1.lab.geolat.test:{port}/"}}
  - {{id: direct-eu-central-1, path: direct, region: eu-central-1, url: "https://eu-central-1.lab.geolat.test:{port}/"}}
  - {{id: route53, path: route53, url: "https://api.lab.geolat.test:{port}/"}}
  - {{id: accelerator, path: accelerator, url: "https://api.lab.geolat.test:{port}/", addresses: [127.0.1.2]}}
ecs_audit:
  name: api.lab.geolat.test
  nameservers: ["{dns}"]
  subnets: [81.2.69.0/24]
  samples: 2
"#,
        dns = lab.dns.addr()
    );
    let file = dir.join("lab.yaml");
    std::fs::write(&file, yaml).unwrap();
    (lab, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_window_lands_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, cfg) = lab_config(dir.path(), 3, None).await;
    let store_url = format!("file://{}", dir.path().join("store").display());
    let o = geolat(&[
        "--log-format",
        "json",
        "probe",
        "--config",
        cfg.to_str().unwrap(),
        "--store",
        &store_url,
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    // Logs are JSON lines for Kubernetes.
    let logs = stderr(&o);
    let stored = logs
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .find(|v| v["message"] == "window stored")
        .expect("a `window stored` log line");
    let key = stored["key"].as_str().unwrap().to_owned();

    let store = Store::open(&store_url).unwrap();
    let w = store.read_window(&key).await.unwrap().unwrap();
    util::assert_schema("window.schema.json", &serde_json::to_value(&w).unwrap());
    assert_eq!(w.probe.id, "lab-test");
    assert!(w.config_digest.starts_with("sha256:"));
    assert_eq!(w.targets.iter().map(|t| t.attempts).sum::<u64>(), 12);
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    let served = |target: &str| -> Vec<String> {
        w.series
            .iter()
            .filter(|s| s.target == target && s.phase.as_str() == "ttfb")
            .map(|s| s.served_by.clone().unwrap())
            .collect()
    };
    assert_eq!(served("route53"), ["us-east-1"]);
    assert_eq!(served("accelerator"), ["eu-central-1"]);
    let routed = w.targets.iter().find(|t| t.id == "route53").unwrap();
    assert_eq!(
        routed.dns_answers.get("127.0.1.1"),
        Some(&3),
        "{:?}",
        routed.dns_answers
    );
    assert_eq!(routed.tls.as_ref().unwrap().alpn.as_deref(), Some("h2"));
    assert_eq!(w.dns_audit.len(), 1);
    assert_eq!(w.dns_audit[0].region.as_deref(), Some("us-east-1"));
    lab.shutdown(Duration::ZERO).await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_window_and_keeps_what_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, cfg) = lab_config(dir.path(), 100, Some("60s")).await;
    let store_url = format!("file://{}", dir.path().join("store").display());
    let child = util::geolat_command(&[
        "probe",
        "--config",
        cfg.to_str().unwrap(),
        "--store",
        &store_url,
    ])
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let o = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exits soon after SIGTERM")
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let w = the_interrupted_window(&store_url).await;
    let attempts: u64 = w.targets.iter().map(|t| t.attempts).sum();
    assert!(attempts > 0 && attempts < 400, "{attempts}");
    lab.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn user_mistakes_get_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let valid = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/configs/valid/minimal.yaml"
    );
    let invalid = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/configs/invalid/bad_url.yaml"
    );
    let a_file = dir.path().join("file");
    std::fs::write(&a_file, "x").unwrap();
    let a_file = a_file.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["probe", "not-a-url"], "`not-a-url` is not a URL"),
        (vec!["probe", "ftp://example.com/"], "scheme `ftp`"),
        (
            vec![
                "probe",
                "https://127.0.0.1:9/",
                "--ca",
                "/nonexistent/ca.pem",
            ],
            "/nonexistent/ca.pem",
        ),
        (
            vec!["probe", "https://127.0.0.1:9/", "--ca", a_file],
            a_file,
        ),
        (
            vec!["probe", "https://127.0.0.1:9/", "--timeout", "0s"],
            "--timeout",
        ),
        (
            vec!["probe", "https://127.0.0.1:9/", "--max-body", "lots"],
            "--max-body: `lots` is not a size",
        ),
        (
            vec!["probe", "https://127.0.0.1:9/", "--resolver", "dns.example"],
            "--resolver",
        ),
        (vec!["probe", "https://127.0.0.1:9/", "-n", "0"], "-n 0"),
        (
            vec!["probe", "https://127.0.0.1:9/", "--store", "gs://b/p"],
            "gs://b/p",
        ),
        (
            vec!["probe", "--config", "/nonexistent/probe.yaml", "--print"],
            "/nonexistent/probe.yaml",
        ),
        (
            vec!["probe", "--config", invalid, "--print"],
            "targets[0].url",
        ),
        (vec!["probe", "--config", valid], "--store"),
        (
            vec!["store", "list", "--store", "gs://b/p"],
            "unsupported scheme",
        ),
        (vec!["store", "list", "--store", a_file], "not a directory"),
        (
            vec![
                "store",
                "list",
                "--store",
                "file:///tmp",
                "--since",
                "yesterday",
            ],
            "--since `yesterday`",
        ),
        (
            vec![
                "store",
                "list",
                "--store",
                "file:///tmp",
                "--since",
                "1m",
                "--until",
                "1h",
            ],
            "not before",
        ),
        (
            vec![
                "lab",
                "serve",
                "--ca-out",
                "/tmp/x.pem",
                "--delay",
                "mars-1=5ms",
            ],
            "unknown region `mars-1`",
        ),
        (
            vec![
                "lab",
                "serve",
                "--ca-out",
                "/tmp/x.pem",
                "--delay",
                "us-east-1",
            ],
            "REGION=DURATION",
        ),
    ];
    for (args, needle) in cases {
        let o = geolat(&args).await;
        crate::util::assert_user_error(&o, needle);
    }
}

#[tokio::test]
async fn every_command_has_accurate_help() {
    for (args, must) in [
        (
            vec!["--help"],
            vec!["probe", "store", "lab", "--log-format"],
        ),
        (
            vec!["probe", "--help"],
            vec!["--config", "--store", "--json", "--ca", "--insecure", "-n"],
        ),
        (
            vec!["store", "list", "--help"],
            vec!["--since", "--until", "--store"],
        ),
        (vec!["lab", "--help"], vec!["serve"]),
        (
            vec!["lab", "serve", "--help"],
            vec!["--ca-out", "--delay", "--port"],
        ),
    ] {
        let o = geolat(&args).await;
        assert!(o.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&o.stdout);
        for m in must {
            assert!(text.contains(m), "{args:?} help lacks {m}:\n{text}");
        }
    }
    // Usage errors are clap's: exit 2, naming the conflict.
    let o = geolat(&["probe", "https://x.example/", "--config", "p.yaml"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--config"));
}

/// The one window a stopped run stored in `store_url`, marked interrupted.
async fn the_interrupted_window(store_url: &str) -> geolat::window::Window {
    let store = Store::open(store_url).unwrap();
    let now = chrono::Utc::now();
    let keys = store
        .list_windows(
            now - chrono::Duration::hours(1),
            now + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let w = store.read_window(&keys[0]).await.unwrap().unwrap();
    assert!(w.interrupted);
    w
}

/// Issue 10's regressions in the probe's command line and shutdown.
#[cfg(unix)]
mod regression {
    use std::time::Duration;

    use super::{lab_config, stderr, util};

    fn kill(pid: u32, signal: &str) {
        std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
    }

    /// Item 3: a sparse window (2 samples over 10 minutes) used to wait
    /// out its scheduled starts after SIGTERM (47.7 s); it now stops at
    /// once and stores what it measured, marked interrupted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigterm_stops_a_sparse_window_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (lab, cfg) = lab_config(dir.path(), 2, Some("10m")).await;
        let store_url = format!("file://{}", dir.path().join("store").display());
        let child = util::geolat_command(&[
            "probe",
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            &store_url,
            "--shutdown-grace",
            "2s",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        kill(child.id().unwrap(), "-TERM");
        // Bounded only so a regression fails instead of hanging the suite.
        let o = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .expect("exits promptly after SIGTERM")
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        super::the_interrupted_window(&store_url).await;
        lab.shutdown(Duration::ZERO).await;
    }

    /// Item 3: a second signal exits at once, even while an attempt waits
    /// on a target that never answers within the grace.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_signal_exits_at_once() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let child = util::geolat_command(&[
            "probe",
            &format!("https://127.0.0.1:{port}/"),
            "-n",
            "1",
            "--timeout",
            "60s",
            "--shutdown-grace",
            "25s",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let pid = child.id().unwrap();
        kill(pid, "-TERM");
        tokio::time::sleep(Duration::from_millis(500)).await;
        kill(pid, "-TERM");
        let o = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .expect("a second signal exits at once")
            .unwrap();
        assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
        assert!(stderr(&o).contains("second signal"), "{}", stderr(&o));
        drop(silent);
    }

    /// Item 3: unbounded or zero settings are refused by name.
    #[tokio::test]
    async fn unbounded_warm_and_zero_concurrency_are_refused() {
        for (args, expect) in [
            (vec!["--warm", "4294967295"], "--warm"),
            (vec!["--concurrency", "0"], "--concurrency"),
            (vec!["--shutdown-grace", "10m"], "--shutdown-grace"),
        ] {
            let mut all = vec!["probe", "https://127.0.0.1:9/"];
            all.extend(args);
            let o = util::geolat(&all).await;
            assert!(!o.status.success());
            assert!(stderr(&o).contains(expect), "{}", stderr(&o));
        }
    }
}
