//! `geolat probe --serve` end to end: the lab's regions are probed, a real
//! Prometheus (Debian's `prometheus`, started here on 127.0.0.1) scrapes
//! the exporter, and every expression of the Grafana dashboards
//! (`crate::dashboards::expressions`) must return data from it. `promtool
//! check metrics` must accept the exposition, and SIGTERM must end the
//! process cleanly with its window stored.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.0 GET on loopback: status and body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_scrapes_the_exporter_and_every_dashboard_query_has_data() {
    for tool in ["prometheus", "promtool"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "{tool} not found: apt-get install prometheus (.ci/run installs it)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut lab = Killed(
        Command::new(env!("CARGO_BIN_EXE_geolat"))
            .args([
                "lab",
                "serve",
                "--port",
                "0",
                "--dns-port",
                "0",
                "--for",
                "10m",
            ])
            .arg("--ca-out")
            .arg(&ca)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut ready = String::new();
    BufReader::new(lab.0.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let (port, dns) = (
        ready["port"].as_u64().unwrap(),
        ready["dns"].as_str().unwrap(),
    );

    // The shipped lab probe, on the lab's ports, plus a target nobody
    // listens on so the error panels have errors to show.
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/probes/lab-london.yaml"
    ))
    .unwrap();
    let config = shipped
        .replace(":8443/", &format!(":{port}/"))
        .replace("127.0.0.1:5353", dns)
        .replace("ca_file: lab-ca.pem", &format!("ca_file: {}", ca.display()))
        .replace(
            "  - {id: route53,",
            "  - {id: closed, path: direct, region: us-east-1, url: \"https://127.0.0.1:1/\"}\n  - {id: route53,",
        );
    let config_file = dir.path().join("probe.yaml");
    std::fs::write(&config_file, config).unwrap();

    let metrics_port = free_port();
    let store = format!("file://{}", dir.path().join("store").display());
    let mut probe = Killed(
        Command::new(env!("CARGO_BIN_EXE_geolat"))
            .args(["probe", "--config"])
            .arg(&config_file)
            .args(["--serve", &format!("127.0.0.1:{metrics_port}")])
            .args(["--every", "2s", "--store", &store])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for("the exporter's /readyz", Duration::from_secs(60), || {
        get(metrics_port, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    assert_eq!(get(metrics_port, "/healthz").unwrap().0, 200);
    assert_eq!(get(metrics_port, "/nope").unwrap().0, 404);

    // promtool reads what curl reads: the classic text format.
    let (_, exposition) = get(metrics_port, "/metrics").unwrap();
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let prom_port = free_port();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             scrape_configs:\n  - job_name: geolat\n    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let query = |expr: &str| -> serde_json::Value {
        let q: String = url::form_urlencoded::byte_serialize(expr.as_bytes()).collect();
        let (status, body) =
            get(prom_port, &format!("/api/v1/query?query={q}")).unwrap_or((0, String::new()));
        assert_eq!(status, 200, "{expr}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let has_data = |v: &serde_json::Value| match v["data"]["resultType"].as_str() {
        Some("vector" | "matrix") => v["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        Some("scalar") => true,
        _ => false,
    };
    wait_for(
        "Prometheus scraping the exporter",
        Duration::from_secs(60),
        || {
            get(prom_port, "/-/ready").is_some_and(|(s, _)| s == 200)
                && has_data(&query(
                    "count(rate(geolat_probe_requests_total{result=\"error\"}[5m]) > 0)",
                ))
        },
    );
    // Some seconds more so every rate has several scrapes under it.
    std::thread::sleep(Duration::from_secs(8));

    let expressions = crate::dashboards::expressions();
    assert!(expressions.len() > 10, "{expressions:?}");
    let mut empty = Vec::new();
    for e in &expressions {
        if !has_data(&query(&e.expr)) {
            empty.push(format!("{e}: {}", e.expr));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries with no data:\n{}",
        empty.join("\n")
    );
    // The lab's geo and all six regions are in Prometheus.
    let regions = query(
        "count by (region) (geolat_probe_requests_total{geo=\"lab-london\",path=\"direct\"})",
    );
    assert_eq!(
        regions["data"]["result"].as_array().unwrap().len(),
        6,
        "{regions}"
    );

    // SIGTERM: not ready at once, the window is stored, exit 0.
    let pid = probe.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = probe.0.wait().unwrap();
    let mut log = String::new();
    probe
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "exit {status}: {log}");
    assert!(log.contains("window stored"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

/// Regression: a taken --serve address was reported as "cannot encode the
/// window"; it must name the flag and the address, exit non-zero at once.
#[tokio::test]
async fn serve_on_a_taken_address_names_it() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    // The shipped lab probe without its CA file (not there on a clean checkout).
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/probes/lab-london.yaml"
    ))
    .unwrap();
    let config = dir.path().join("probe.yaml");
    std::fs::write(&config, shipped.replace("tls: {ca_file: lab-ca.pem}\n", "")).unwrap();
    let config = config.to_str().unwrap();
    let o = crate::util::geolat(&["probe", "--config", config, "--serve", &addr]).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains(&format!("--serve {addr}: cannot listen")),
        "{err}"
    );
    assert!(!err.contains("encode"), "{err}");
}
