//! Failures are classified, counted, and never recorded as latency.

use std::time::Duration;

use geolat::config::{ProbeSettings, Target, Timeouts};
use geolat::lab::dns::{DnsTable, LabDns, NameRule};
use geolat::lab::endpoint::{Delays, Fault};
use geolat::probe::record::{Attempt, ErrorClass, Phase};
use hickory_proto::op::ResponseCode;

use crate::util;

fn quick(mut s: ProbeSettings) -> ProbeSettings {
    s.timeouts = Timeouts {
        dns: Duration::from_millis(300),
        tcp: Duration::from_millis(300),
        tls: Duration::from_millis(300),
        ttfb: Duration::from_millis(300),
        body: Duration::from_millis(300),
    };
    s
}

fn assert_failed(a: &Attempt, phase: Phase, class: ErrorClass) {
    let f = a
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("expected {class}, got success: {a:?}"));
    assert_eq!((f.phase, f.class), (phase, class), "{}", f.detail);
    // The failed phase and everything after it carry no latency.
    let recorded: Vec<Phase> = a.latencies().map(|(p, _)| p).collect();
    assert!(
        recorded.iter().all(|p| *p < phase),
        "{recorded:?} recorded at/after failed {phase}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_during_handshake() {
    let ep = util::endpoint(
        "r",
        "127.0.0.1:0",
        Delays::default(),
        Some(Fault::ResetHandshake),
    )
    .await;
    let target = Target::from_url(util::url("127.0.0.1", ep.addr(), "/"));
    let a = util::prober(quick(util::settings(None)))
        .attempt(&target, 0)
        .await;
    assert_failed(&a, Phase::Tls, ErrorClass::Reset);
    assert!(a.tcp.is_some(), "tcp completed before the reset");
    ep.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshake_times_out() {
    let ep = util::endpoint(
        "r",
        "127.0.0.1:0",
        Delays::default(),
        Some(Fault::StallHandshake),
    )
    .await;
    let target = Target::from_url(util::url("127.0.0.1", ep.addr(), "/"));
    let start = std::time::Instant::now();
    let a = util::prober(quick(util::settings(None)))
        .attempt(&target, 0)
        .await;
    assert_failed(&a, Phase::Tls, ErrorClass::TlsTimeout);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the tls timeout bounds the attempt"
    );
    ep.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_response_times_out() {
    let ep = util::endpoint("r", "127.0.0.1:0", Delays::default(), None).await;
    let target = Target::from_url(util::url("127.0.0.1", ep.addr(), "/stall"));
    let a = util::prober(quick(util::settings(None)))
        .attempt(&target, 0)
        .await;
    assert_failed(&a, Phase::Ttfb, ErrorClass::HttpTimeout);
    assert!(a.tls.is_some());
    ep.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_from_an_unknown_ca() {
    let ep = util::endpoint_with(
        "r",
        "127.0.0.1:0",
        Delays::default(),
        None,
        util::other_pki(),
    )
    .await;
    let target = Target::from_url(util::url("127.0.0.1", ep.addr(), "/"));
    let a = util::prober(util::settings(None)).attempt(&target, 0).await;
    assert_failed(&a, Phase::Tls, ErrorClass::TlsCert);
    ep.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_for_another_name() {
    let ep = util::endpoint("r", "127.0.0.1:0", Delays::default(), None).await;
    let dns = util::dns_for("wrong.example.test").await;
    let target = Target::from_url(util::url("wrong.example.test", ep.addr(), "/"));
    let a = util::prober(util::settings(Some(dns.addr())))
        .attempt(&target, 0)
        .await;
    assert_failed(&a, Phase::Tls, ErrorClass::TlsCert);
    // --insecure accepts it, and says so only because it was asked to.
    let mut s = util::settings(Some(dns.addr()));
    s.tls.insecure = true;
    let a = util::prober(s).attempt(&target, 0).await;
    assert!(a.failure.is_none(), "{:?}", a.failure);
    ep.shutdown(Duration::ZERO).await;
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_2xx_status_is_an_error_with_its_region() {
    let ep = util::endpoint("eu-west-1", "127.0.0.1:0", Delays::default(), None).await;
    let target = Target::from_url(util::url("127.0.0.1", ep.addr(), "/status/503"));
    let a = util::prober(util::settings(None)).attempt(&target, 0).await;
    assert_failed(&a, Phase::Ttfb, ErrorClass::HttpStatus);
    ep.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_connect_refused() {
    // Bind then drop to get a port that is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = Target::from_url(format!("https://127.0.0.1:{port}/").parse().unwrap());
    let a = util::prober(util::settings(None)).attempt(&target, 0).await;
    assert_failed(&a, Phase::Tcp, ErrorClass::ConnectRefused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_failures_by_rcode_and_silence() {
    let mut table = DnsTable::default();
    table
        .insert(
            "servfail.lab.geolat.test",
            NameRule::Fail(ResponseCode::ServFail),
        )
        .unwrap();
    table
        .insert(
            "refused.lab.geolat.test",
            NameRule::Fail(ResponseCode::Refused),
        )
        .unwrap();
    table
        .insert("silent.lab.geolat.test", NameRule::Silent)
        .unwrap();
    let dns = LabDns::start("127.0.0.1:0".parse().unwrap(), table)
        .await
        .unwrap();
    let prober = util::prober(quick(util::settings(Some(dns.addr()))));
    for (name, class) in [
        ("missing.lab.geolat.test", ErrorClass::Nxdomain),
        ("servfail.lab.geolat.test", ErrorClass::Servfail),
        ("refused.lab.geolat.test", ErrorClass::Refused),
        ("silent.lab.geolat.test", ErrorClass::DnsTimeout),
    ] {
        let target = Target::from_url(format!("https://{name}:443/").parse().unwrap());
        let a = prober.attempt(&target, 0).await;
        assert_failed(&a, Phase::Dns, class);
        assert!(a.dns.is_none() && a.tcp.is_none());
    }
    dns.shutdown().await;
}
