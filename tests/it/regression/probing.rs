//! A test for every probing bug fixed, named for the bug (issue 10,
//! "Hardening for production"). Every server is our own, on 127.0.0.1.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use geolat::config::{ProbeSettings, Target};
use geolat::lab::endpoint::{Delays, Endpoint, EndpointSpec};
use geolat::probe::record::{Attempt, ErrorClass, Failure, Phase};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::util;

// ---------------------------------------------------------------------------
// Plain HTTP/1.1 servers that misbehave in the body, written by hand so the
// misbehaviour is exact.

#[derive(Debug, Clone, Copy)]
enum Body {
    /// 200 with a chunked body that never ends.
    Endless,
    /// 200 declaring 100 bytes, sending 10, then nothing.
    Stalled,
    /// The first request on a connection answered whole; later ones stall.
    WholeThenStalled,
}

const STALLED_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nx-region: eu-west-1\r\ncontent-length: 100\r\n\r\n0123456789";

async fn http_server(body: Body) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, body));
        }
    });
    addr
}

async fn serve(mut s: TcpStream, body: Body) {
    let mut requests = 0;
    while read_head(&mut s).await {
        requests += 1;
        match (body, requests) {
            (Body::Endless, _) => {
                let head =
                    b"HTTP/1.1 200 OK\r\nx-region: eu-west-1\r\ntransfer-encoding: chunked\r\n\r\n";
                if s.write_all(head).await.is_err() {
                    return;
                }
                let mut chunk = b"10000\r\n".to_vec();
                chunk.extend(std::iter::repeat_n(b'x', 0x10000));
                chunk.extend_from_slice(b"\r\n");
                while s.write_all(&chunk).await.is_ok() {}
                return;
            }
            (Body::WholeThenStalled, 1) => {
                let whole =
                    b"HTTP/1.1 200 OK\r\nx-region: eu-west-1\r\ncontent-length: 3\r\n\r\nok\n";
                if s.write_all(whole).await.is_err() {
                    return;
                }
            }
            (Body::Stalled | Body::WholeThenStalled, _) => {
                let _ = s.write_all(STALLED_HEAD).await;
                // Hold the connection open until the client gives up.
                let mut sink = [0u8; 64];
                while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
        }
    }
}

/// Reads one request head (a GET has no body); false at end of stream.
async fn read_head(s: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    true
}

fn plain(addr: SocketAddr) -> Target {
    Target::from_url(format!("http://{addr}/").parse().unwrap())
}

fn failure(a: &Attempt) -> &Failure {
    a.failure
        .as_ref()
        .unwrap_or_else(|| panic!("expected a failure, got success: {a:?}"))
}

/// A run's attempt cannot hang a test: every timeout here is seconds.
async fn attempt(settings: ProbeSettings, target: &Target) -> Attempt {
    let prober = util::prober(settings);
    tokio::time::timeout(Duration::from_secs(60), prober.attempt(target, 0))
        .await
        .expect("the attempt ends by its own timeouts")
}

/// Resident memory of this process, bytes (Linux /proc).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

/// Runs `f` while a thread samples resident memory; returns `f`'s result
/// and the highest growth over the resident size before it started.
async fn peak_rss_growth<F: std::future::Future>(f: F) -> (F::Output, u64) {
    let before = rss_bytes();
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let out = f.await;
    peak.fetch_max(rss_bytes(), Ordering::Relaxed);
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    (out, peak.load(Ordering::Relaxed).saturating_sub(before))
}

// ---------------------------------------------------------------------------
// 1. Response bodies were buffered whole.

/// One target streaming forever drove a one-sample probe to 1.5 GB before
/// the body timeout. With no cap in the way, the body timeout ends the
/// attempt, and memory does not grow with what was streamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_body_is_not_buffered() {
    let addr = http_server(Body::Endless).await;
    let mut s = util::settings(None);
    s.timeouts.body = Duration::from_secs(1);
    s.max_body = u64::MAX;
    s.warm_requests = 0;
    let (a, growth) = peak_rss_growth(attempt(s, &plain(addr))).await;
    let f = failure(&a);
    assert!(
        growth < 200 << 20,
        "resident memory grew {} MB streaming a body ({})",
        growth >> 20,
        f.detail
    );
    assert_eq!(
        (f.phase, f.class),
        (Phase::Total, ErrorClass::HttpTimeout),
        "{}",
        f.detail
    );
    assert!(f.detail.contains("bytes read"), "{}", f.detail);
    assert!(a.ttfb.is_some(), "the head arrived: ttfb stands");
}

/// The cap ends an endless body before its timeout, as its own detail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_body_stops_at_max_body() {
    let addr = http_server(Body::Endless).await;
    let mut s = util::settings(None);
    s.timeouts.body = Duration::from_secs(30);
    s.max_body = 1 << 20;
    let a = attempt(s, &plain(addr)).await;
    let f = failure(&a);
    assert_eq!(
        (f.phase, f.class),
        (Phase::Total, ErrorClass::HttpOther),
        "{}",
        f.detail
    );
    assert!(f.detail.contains("max_body 1048576"), "{}", f.detail);
    assert!(a.ttfb.is_some() && a.total.is_none(), "{a:?}");
}

/// A declared length over the cap fails without reading the body; one at
/// the cap is read (HTTPS, HTTP/2: the lab endpoint's `/bytes/N`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_body_over_max_body_fails_at_the_head() {
    let ep = util::endpoint("eu-west-1", "127.0.0.1:0", Delays::default(), None).await;
    let mut s = util::settings(None);
    s.max_body = 4096;
    let over = Target::from_url(util::url("127.0.0.1", ep.addr(), "/bytes/4097"));
    let a = attempt(s.clone(), &over).await;
    let f = failure(&a);
    assert_eq!(
        (f.phase, f.class),
        (Phase::Total, ErrorClass::HttpOther),
        "{}",
        f.detail
    );
    assert!(f.detail.contains("content-length 4097"), "{}", f.detail);
    assert_eq!(a.served_by.as_deref(), Some("eu-west-1"));
    let at = Target::from_url(util::url("127.0.0.1", ep.addr(), "/bytes/4096"));
    let a = attempt(s, &at).await;
    assert!(a.failure.is_none(), "{:?}", a.failure);
    assert_eq!(a.warm.len(), 1);
    ep.shutdown(Duration::ZERO).await;
}

// ---------------------------------------------------------------------------
// 2. Body failures were filed as http_other under ttfb, dropping the ttfb.

/// Headers at once, then the body stalls: a timeout of `total`, with the
/// measured ttfb, status and region kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_is_a_total_timeout_and_keeps_ttfb() {
    let addr = http_server(Body::Stalled).await;
    let mut s = util::settings(None);
    s.timeouts.body = Duration::from_millis(300);
    let a = attempt(s, &plain(addr)).await;
    let f = failure(&a);
    assert_eq!(
        (f.phase, f.class),
        (Phase::Total, ErrorClass::HttpTimeout),
        "{}",
        f.detail
    );
    assert!(f.detail.contains("10 bytes read"), "{}", f.detail);
    assert!(a.ttfb.is_some(), "ttfb was measured: {a:?}");
    assert!(a.total.is_none(), "a failed phase is never a latency");
    assert_eq!(a.status, Some(200));
    assert_eq!(a.served_by.as_deref(), Some("eu-west-1"));
    let recorded: Vec<Phase> = a.latencies().map(|(p, _)| p).collect();
    assert_eq!(recorded, vec![Phase::Tcp, Phase::Ttfb]);
}

/// A warm request whose body stalls is a `warm` failure; the fresh
/// connection's phases stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_warm_body_is_a_warm_timeout() {
    let addr = http_server(Body::WholeThenStalled).await;
    let mut s = util::settings(None);
    s.timeouts.body = Duration::from_millis(300);
    s.warm_requests = 2;
    let a = attempt(s, &plain(addr)).await;
    let f = failure(&a);
    assert_eq!(
        (f.phase, f.class),
        (Phase::Warm, ErrorClass::HttpTimeout),
        "{}",
        f.detail
    );
    assert!(a.ttfb.is_some() && a.total.is_some(), "{a:?}");
    assert!(a.warm.is_empty(), "{a:?}");
}

// ---------------------------------------------------------------------------
// 3. A self-signed CA:TRUE server certificate given with --ca was rejected.

/// A certificate as `openssl req -x509 -subj /CN=127.0.0.1 -addext
/// subjectAltName=IP:...` makes it: self-signed, basicConstraints CA:TRUE.
struct SelfSigned {
    pem: String,
    server: Arc<ServerConfig>,
}

fn self_signed(ip: IpAddr, expired: bool) -> SelfSigned {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, ip.to_string());
    params.subject_alt_names.push(SanType::IpAddress(ip));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut server = ServerConfig::builder_with_provider(geolat::probe::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    SelfSigned {
        pem: cert.pem(),
        server: Arc::new(server),
    }
}

async fn serve_tls(cert: &SelfSigned) -> Endpoint {
    Endpoint::start(
        EndpointSpec {
            region: "eu-west-1".into(),
            bind: "127.0.0.1:0".parse().unwrap(),
            delays: Delays::default(),
            fault: None,
            busy_wait: false,
        },
        cert.server.clone(),
    )
    .await
    .unwrap()
}

fn trusting(pem: &str) -> ProbeSettings {
    let mut s = util::settings(None);
    s.tls.ca_pem = Some(pem.to_owned());
    s
}

fn localhost() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_ca_certificate_is_trusted_with_ca() {
    let cert = self_signed(localhost(), false);
    let ep = serve_tls(&cert).await;
    let target = Target::from_url(util::url("127.0.0.1", ep.addr(), "/"));
    let a = attempt(trusting(&cert.pem), &target).await;
    assert!(a.failure.is_none(), "{:?}", a.failure);
    assert!(a.tls.is_some() && a.total.is_some());
    ep.shutdown(Duration::ZERO).await;
}

/// Trusting the certificate as it is still checks its name, its validity
/// period, and that it is the very certificate given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_ca_certificate_still_needs_name_validity_and_identity() {
    let tls_cert = |a: &Attempt| {
        let f = failure(a);
        assert_eq!(
            (f.phase, f.class),
            (Phase::Tls, ErrorClass::TlsCert),
            "{}",
            f.detail
        );
        f.detail.clone()
    };
    // For another address.
    let other = self_signed("127.0.0.2".parse().unwrap(), false);
    let ep = serve_tls(&other).await;
    let target = Target::from_url(util::url("127.0.0.1", ep.addr(), "/"));
    let detail = tls_cert(&attempt(trusting(&other.pem), &target).await);
    assert!(detail.contains("not valid for name"), "{detail}");
    ep.shutdown(Duration::ZERO).await;

    // Expired.
    let expired = self_signed(localhost(), true);
    let ep = serve_tls(&expired).await;
    let target = Target::from_url(util::url("127.0.0.1", ep.addr(), "/"));
    let detail = tls_cert(&attempt(trusting(&expired.pem), &target).await);
    assert!(detail.contains("expired"), "{detail}");
    ep.shutdown(Duration::ZERO).await;

    // A different certificate for the same address than the one trusted.
    let served = self_signed(localhost(), false);
    let trusted = self_signed(localhost(), false);
    let ep = serve_tls(&served).await;
    let target = Target::from_url(util::url("127.0.0.1", ep.addr(), "/"));
    tls_cert(&attempt(trusting(&trusted.pem), &target).await);
    ep.shutdown(Duration::ZERO).await;
}

/// The one-shot CLI with `--ca FILE` holding the server's own certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneshot_accepts_a_self_signed_ca_certificate_given_with_ca() {
    let cert = self_signed(localhost(), false);
    let ep = serve_tls(&cert).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("server.pem");
    std::fs::write(&ca, &cert.pem).unwrap();
    let url = format!("https://127.0.0.1:{}/", ep.addr().port());
    let o = util::geolat(&["probe", &url, "-n", "2", "--ca", ca.to_str().unwrap()]).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("errors: none"), "{out}");
    ep.shutdown(Duration::ZERO).await;
}

/// `tls_cert=2` alone did not say what to fix: the one-line summaries
/// (the table's `errors:` line, the exit message and `causes` in JSON)
/// name the first cause of each class.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneshot_summary_names_the_first_cause_of_each_class() {
    let expired = self_signed(localhost(), true);
    let ep = serve_tls(&expired).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("server.pem");
    std::fs::write(&ca, &expired.pem).unwrap();
    let ca = ca.to_str().unwrap();
    let url = format!("https://127.0.0.1:{}/", ep.addr().port());
    let o = util::geolat(&["probe", &url, "-n", "2", "--ca", ca]).await;
    util::assert_user_error(
        &o,
        "(tls_cert=2: 127.0.0.1: invalid peer certificate: certificate expired",
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "errors: tls_cert=2: 127.0.0.1: invalid peer certificate: certificate expired"
        ),
        "{out}"
    );
    let o = util::geolat(&["probe", &url, "-n", "2", "--ca", ca, "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    util::assert_schema("probe-oneshot.schema.json", &v);
    let cause = v["causes"]["tls_cert"].as_str().unwrap();
    assert!(cause.contains("certificate expired"), "{cause}");
    ep.shutdown(Duration::ZERO).await;

    // A source address this host does not have: bind fails, nothing is sent.
    let o = util::geolat(&[
        "probe",
        &url,
        "-n",
        "1",
        "--ca",
        ca,
        "--source",
        "192.0.2.1",
    ])
    .await;
    util::assert_user_error(&o, "(connect_other=1: bind 192.0.2.1: ");
}
