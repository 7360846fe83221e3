//! The lab endpoint drains as the seed's service must before a release:
//! stop accepting, finish in-flight requests, close kept-alive connections.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use geolat::config::{Target, TlsSettings};
use geolat::lab::endpoint::Delays;
use geolat::probe::http::HttpConn;
use geolat::probe::record::Phase;
use geolat::probe::{connect, tls};
use tokio_rustls::TlsConnector;

use crate::util;

async fn open(target: &Target) -> HttpConn {
    let config = tls::client_config(&TlsSettings {
        ca_pem: Some(util::pki().ca_pem.clone()),
        ..TlsSettings::default()
    })
    .unwrap();
    let addr = std::net::SocketAddr::new("127.0.0.1".parse().unwrap(), target.port());
    let (tcp, _) = connect::connect(addr, None, Duration::from_secs(1))
        .await
        .unwrap();
    let timeline = tcp.timeline();
    let (stream, _, info) = tls::handshake(
        &TlsConnector::from(config),
        "127.0.0.1",
        tcp,
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    HttpConn::start(stream, info.alpn.as_deref() == Some("h2"), timeline)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_finishes_in_flight_requests_then_closes() {
    let delay = Duration::from_millis(400);
    let ep = util::endpoint("eu-central-1", "127.0.0.1:0", Delays::uniform(delay), None).await;
    let target = Target::from_url(util::url("127.0.0.1", ep.addr(), "/"));
    let settings = util::settings(None);

    // A long-lived connection, idle after one request...
    let mut idle = open(&target).await;
    idle.exchange(&target, &settings, Phase::Ttfb)
        .await
        .unwrap();
    // ...and one with a request in flight when the drain starts.
    let mut busy = open(&target).await;
    let (t2, s2) = (target.clone(), settings.clone());
    let in_flight = tokio::spawn(async move { busy.exchange(&t2, &s2, Phase::Ttfb).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ep.stats().active.load(Ordering::Relaxed), 2);

    let addr = ep.addr();
    let started = Instant::now();
    let report = ep.shutdown(Duration::from_secs(3)).await;
    assert_eq!(report.open_at_start, 2);
    assert_eq!(report.forced, 0, "nothing had to be closed hard");
    // The in-flight request was answered, not cut off.
    let answered = in_flight
        .await
        .unwrap()
        .expect("in-flight request completes");
    assert_eq!(answered.status.as_u16(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "drain waited only for in-flight work"
    );
    // The idle connection was closed and no new connection is accepted.
    assert!(
        idle.exchange(&target, &settings, Phase::Warm)
            .await
            .is_err()
    );
    assert!(
        connect::connect(addr, None, Duration::from_millis(500))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_closes_what_outlives_the_grace_period() {
    let ep = util::endpoint(
        "eu-central-1",
        "127.0.0.1:0",
        Delays::uniform(Duration::ZERO),
        None,
    )
    .await;
    let target = Target::from_url(util::url("127.0.0.1", ep.addr(), "/"));
    let settings = util::settings(None);
    let mut conn = open(&target).await;
    // Make requests slow only after the handshake, so this one outlives the grace.
    ep.set_delays(Delays::uniform(Duration::from_secs(5)));
    let (t2, s2) = (target.clone(), settings.clone());
    let in_flight = tokio::spawn(async move { conn.exchange(&t2, &s2, Phase::Ttfb).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = ep.shutdown(Duration::from_millis(200)).await;
    assert_eq!(report.forced, 1);
    let failure = in_flight.await.unwrap().unwrap_err();
    assert_eq!(
        failure.class,
        geolat::probe::record::ErrorClass::Reset,
        "{failure:?}"
    );
}
