//! Shared test helpers: loopback lab parts, probers that trust them, and
//! the Python tools some tests check against.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use geolat::config::{DnsSettings, ProbeSettings, ServedBy, Timeouts, TlsSettings};
use geolat::lab::certs::LabPki;
use geolat::lab::endpoint::{Delays, Endpoint, EndpointSpec, Fault};
use geolat::probe::Prober;

pub const HOST: &str = "endpoint.lab.geolat.test";

/// One CA and server identity for the whole test binary (key generation
/// is the slow part).
pub fn pki() -> &'static LabPki {
    static PKI: OnceLock<LabPki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ips: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap()];
        LabPki::generate(
            "geolat test CA",
            &[
                HOST.to_owned(),
                "*.lab.geolat.test".to_owned(),
                "localhost".to_owned(),
            ],
            &ips,
        )
        .unwrap()
    })
}

/// A second, unrelated CA: certificates from it must not verify.
pub fn other_pki() -> &'static LabPki {
    static PKI: OnceLock<LabPki> = OnceLock::new();
    PKI.get_or_init(|| {
        LabPki::generate(
            "unrelated CA",
            &[HOST.to_owned()],
            &["127.0.0.1".parse().unwrap()],
        )
        .unwrap()
    })
}

pub async fn endpoint(region: &str, bind: &str, delays: Delays, fault: Option<Fault>) -> Endpoint {
    endpoint_with(region, bind, delays, fault, pki()).await
}

pub async fn endpoint_with(
    region: &str,
    bind: &str,
    delays: Delays,
    fault: Option<Fault>,
    pki: &LabPki,
) -> Endpoint {
    Endpoint::start(
        EndpointSpec {
            region: region.to_owned(),
            bind: bind.parse::<SocketAddr>().unwrap(),
            delays,
            fault,
            busy_wait: true,
        },
        pki.server.clone(),
    )
    .await
    .unwrap()
}

/// Settings that trust the test CA, resolve with `dns` (if any), read the
/// region from `x-region`, and time out quickly.
pub fn settings(dns: Option<SocketAddr>) -> ProbeSettings {
    ProbeSettings {
        timeouts: Timeouts {
            dns: Duration::from_millis(800),
            tcp: Duration::from_secs(2),
            tls: Duration::from_secs(2),
            ttfb: Duration::from_secs(2),
            body: Duration::from_secs(2),
        },
        dns: DnsSettings {
            nameservers: dns.into_iter().collect(),
            ..DnsSettings::default()
        },
        tls: TlsSettings {
            ca_pem: Some(pki().ca_pem.clone()),
            ..TlsSettings::default()
        },
        served_by: ServedBy {
            header: Some("x-region".into()),
            ..ServedBy::default()
        },
        warm_requests: 1,
        ..ProbeSettings::default()
    }
}

pub fn prober(settings: ProbeSettings) -> Arc<Prober> {
    Arc::new(Prober::new(settings).unwrap())
}

pub fn url(host: &str, addr: SocketAddr, path: &str) -> url::Url {
    format!("https://{host}:{}{path}", addr.port())
        .parse()
        .unwrap()
}

/// A Python with the packages of tests/requirements.txt, in `.venv` at the
/// repository root, made (or updated) on first use by tests/setup-python.sh
/// so `cargo test` needs no setup. The script locks the venv, so test
/// binaries running at once share one install. A missing Python is a
/// failure, never a skipped test.
pub fn python_venv() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(root.join("tests/setup-python.sh"))
            .output()
            .expect("tests/setup-python.sh runs (needs sh)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        root.join(".venv/bin/python")
    })
    .clone()
}

#[path = "../shared/schema.rs"]
mod schema;
pub use schema::assert_schema;

/// A window of synthetic attempts against two targets.
pub fn sample_window(
    probe_id: &str,
    start: chrono::DateTime<chrono::Utc>,
) -> geolat::window::Window {
    use geolat::config::{Geo, PathKind, ProbeIdentity, Target};
    use geolat::probe::record::{Attempt, ErrorClass, Failure, Phase};
    use geolat::window::builder::WindowBuilder;
    let identity = ProbeIdentity {
        id: probe_id.into(),
        location: "region".into(),
        region: Some("eu-central-1".into()),
        geo: Geo {
            id: None,
            country: "DE".into(),
            continent: "EU".into(),
            city: Some("Frankfurt".into()),
        },
        lat: Some(50.1),
        lon: Some(8.7),
    };
    let mut direct = Target::from_url("https://eu-central-1.api.example.com/".parse().unwrap());
    direct.id = "direct-eu-central-1".into();
    direct.region = Some("eu-central-1".into());
    let mut routed = Target::from_url("https://api.example.com/".parse().unwrap());
    routed.id = "route53".into();
    routed.path = PathKind::Route53;
    let targets = [direct, routed];
    let mut b = WindowBuilder::new(identity, "sha256:0123456789abcdef".into(), &targets, start);
    for i in 0..50u64 {
        let a = Attempt {
            dns: Some(Duration::from_micros(900 + i)),
            tcp: Some(Duration::from_micros(10_000 + i * 10)),
            tls: Some(Duration::from_micros(21_000 + i * 20)),
            ttfb: Some(Duration::from_micros(11_000 + i * 30)),
            total: Some(Duration::from_micros(11_500 + i * 30)),
            warm: vec![Duration::from_micros(10_500 + i)],
            served_by: Some("eu-central-1".into()),
            ..Attempt::default()
        };
        b.record((i % 2) as usize, &a);
    }
    b.record(
        1,
        &Attempt {
            dns: Some(Duration::from_micros(800)),
            failure: Some(Failure::new(Phase::Tcp, ErrorClass::ConnectTimeout, "x")),
            ..Attempt::default()
        },
    );
    b.finish(start + chrono::Duration::seconds(60)).unwrap()
}

/// A lab DNS on 127.0.0.1 answering `name` with 127.0.0.1 for everyone.
pub async fn dns_for(name: &str) -> geolat::lab::dns::LabDns {
    use geolat::lab::dns::{DnsTable, LabDns, NameRule};
    let mut table = DnsTable::default();
    table
        .insert(
            name,
            NameRule::Addresses {
                default: vec!["127.0.0.1".parse().unwrap()],
                by_subnet: Vec::new(),
            },
        )
        .unwrap();
    LabDns::start("127.0.0.1:0".parse().unwrap(), table)
        .await
        .unwrap()
}

/// A mistake a user can make: exit status 1 and one line, `error: ...`,
/// naming what to fix (`needle`).
pub fn assert_user_error(o: &std::process::Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "exit code; stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "`{err}` does not mention `{needle}`");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

/// The geolat binary as a user's fresh shell runs it: none of geolat's own
/// settings (a default store, log levels) leak in from whoever runs the tests.
pub fn geolat_command(args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_geolat"));
    c.args(args)
        .env_remove("GEOLAT_STORE")
        .env_remove("GEOLAT_LOG")
        .env_remove("RUST_LOG");
    c
}

/// Runs [`geolat_command`] to completion.
pub async fn geolat(args: &[&str]) -> Output {
    geolat_command(args).output().await.unwrap()
}
