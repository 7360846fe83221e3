//! A regional endpoint for the lab: HTTPS on a loopback address that delays
//! its TLS server flight and every response by a per-client amount (the
//! client's source address stands for its geo), names its region in a
//! header, keeps connections alive, and drains gracefully on shutdown:
//! stop accepting, finish in-flight requests, then close what is left.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::LazyConfigAcceptor;
use tokio_util::sync::CancellationToken;

use super::timer::precise_sleep;

/// Injected one-way delays, by client address. This is the lab's ground
/// truth: a probe from that address should measure exactly this much more.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delays {
    pub default: Duration,
    pub by_client: HashMap<IpAddr, Duration>,
}

impl Delays {
    pub fn uniform(d: Duration) -> Delays {
        Delays {
            default: d,
            by_client: HashMap::new(),
        }
    }

    pub fn for_client(&self, ip: IpAddr) -> Duration {
        self.by_client.get(&ip).copied().unwrap_or(self.default)
    }
}

/// Misbehaviour on purpose, to test how probes classify failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Read the client's first TLS flight, then reset the connection
    /// (RST via SO_LINGER 0): a middlebox or crashed server mid-handshake.
    ResetHandshake,
    /// Accept the TCP connection and never speak.
    StallHandshake,
}

#[derive(Debug, Clone)]
pub struct EndpointSpec {
    pub region: String,
    pub bind: SocketAddr,
    pub delays: Delays,
    pub fault: Option<Fault>,
    /// Spend delays busy rather than asleep: exact to tens of microseconds
    /// even on virtual machines, at a core per waiting request (see
    /// [`precise_sleep`]). For measurements with few clients.
    pub busy_wait: bool,
}

/// Counters a test or the lab can read while the endpoint runs.
#[derive(Debug, Default)]
pub struct EndpointStats {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    pub active: AtomicU64,
}

/// What a drain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections open when the drain began.
    pub open_at_start: u64,
    /// Connections still open when the grace period ran out (closed hard).
    pub forced: u64,
}

pub struct Endpoint {
    addr: SocketAddr,
    region: String,
    delays: Arc<RwLock<Delays>>,
    stats: Arc<EndpointStats>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<DrainReport>,
    grace: Arc<RwLock<Duration>>,
}

struct Shared {
    region: String,
    delays: Arc<RwLock<Delays>>,
    stats: Arc<EndpointStats>,
    tls: Arc<ServerConfig>,
    stop: CancellationToken,
    busy_wait: bool,
}

impl Shared {
    fn delay_for(&self, ip: IpAddr) -> Duration {
        self.delays
            .read()
            .map(|d| d.for_client(ip))
            .unwrap_or_default()
    }
}

impl Endpoint {
    /// Binds and starts serving. Port 0 picks a free port.
    pub async fn start(spec: EndpointSpec, tls: Arc<ServerConfig>) -> std::io::Result<Endpoint> {
        let listener = TcpListener::bind(spec.bind).await?;
        let addr = listener.local_addr()?;
        let delays = Arc::new(RwLock::new(spec.delays));
        let stats = Arc::new(EndpointStats::default());
        let stop = CancellationToken::new();
        let grace = Arc::new(RwLock::new(Duration::from_secs(5)));
        let shared = Arc::new(Shared {
            region: spec.region.clone(),
            delays: delays.clone(),
            stats: stats.clone(),
            tls,
            stop: stop.clone(),
            busy_wait: spec.busy_wait,
        });
        let task = tokio::spawn(serve(listener, shared, spec.fault, grace.clone()));
        Ok(Endpoint {
            addr,
            region: spec.region,
            delays,
            stats,
            stop,
            task,
            grace,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Changes the injected delays for new handshakes and requests.
    pub fn set_delays(&self, delays: Delays) {
        if let Ok(mut d) = self.delays.write() {
            *d = delays;
        }
    }

    /// Drains: stops accepting, lets in-flight requests finish and asks
    /// kept-alive clients to close (HTTP/1.1 `Connection: close`, HTTP/2
    /// GOAWAY); after `grace`, closes whatever remains.
    pub async fn shutdown(self, grace: Duration) -> DrainReport {
        if let Ok(mut g) = self.grace.write() {
            *g = grace;
        }
        self.stop.cancel();
        self.task.await.unwrap_or(DrainReport {
            open_at_start: 0,
            forced: 0,
        })
    }
}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    fault: Option<Fault>,
    grace: Arc<RwLock<Duration>>,
) -> DrainReport {
    let graceful = GracefulShutdown::new();
    let mut handshakes = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((mut stream, peer)) = accepted else { continue };
                shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                let shared = shared.clone();
                let watcher = graceful.watcher();
                handshakes.spawn(async move {
                    match fault {
                        Some(Fault::ResetHandshake) => {
                            let mut hello = [0u8; 512];
                            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut hello).await;
                            // Linger 0 makes close send RST instead of FIN.
                            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                            drop(stream);
                        }
                        Some(Fault::StallHandshake) => {
                            shared.stop.cancelled().await;
                            drop(stream);
                        }
                        None => connection(stream, peer, shared, watcher).await,
                    }
                });
            }
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
        }
    }
    drop(listener);
    let open_at_start = shared.stats.active.load(Ordering::Relaxed);
    let grace = grace.read().map(|g| *g).unwrap_or(Duration::from_secs(5));
    let drained = tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_ok();
    let forced = if drained {
        0
    } else {
        shared.stats.active.load(Ordering::Relaxed)
    };
    handshakes.abort_all();
    DrainReport {
        open_at_start,
        forced,
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let _ = stream.set_nodelay(true);
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = tokio::select! {
        _ = shared.stop.cancelled() => return,
        r = acceptor => match r { Ok(s) => s, Err(_) => return },
    };
    // The ClientHello is in; hold the server's flight back by the delay.
    precise_sleep(shared.delay_for(peer.ip()), shared.busy_wait).await;
    let tls = match start.into_stream(shared.tls.clone()).await {
        Ok(s) => s,
        Err(_) => return,
    };
    shared.stats.active.fetch_add(1, Ordering::Relaxed);
    let svc_shared = shared.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let shared = svc_shared.clone();
        async move { Ok::<_, Infallible>(respond(req, peer.ip(), &shared).await) }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder
        .serve_connection(TokioIo::new(tls), service)
        .into_owned();
    let _ = watcher.watch(conn).await;
    shared.stats.active.fetch_sub(1, Ordering::Relaxed);
}

/// Routes: `/status/NNN` answers NNN, `/stall` never answers (until the
/// endpoint stops), `/bytes/N` returns N bytes, anything else 200 `ok`.
async fn respond(req: Request<Incoming>, client: IpAddr, shared: &Shared) -> Response<Full<Bytes>> {
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    precise_sleep(shared.delay_for(client), shared.busy_wait).await;
    let path = req.uri().path();
    let mut status = StatusCode::OK;
    let mut body = Bytes::from_static(b"ok\n");
    if let Some(code) = path.strip_prefix("/status/") {
        status = code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
    } else if path == "/stall" {
        shared.stop.cancelled().await;
        status = StatusCode::SERVICE_UNAVAILABLE;
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        let n = n.parse::<usize>().unwrap_or(0).min(16 << 20);
        body = Bytes::from(vec![b'x'; n]);
    }
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(&shared.region) {
        resp.headers_mut().insert("x-region", v);
    }
    resp
}
