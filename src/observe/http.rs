//! The exporter's HTTP endpoints: `/metrics` for Prometheus, `/healthz`
//! (liveness: the process answers) and `/readyz` (readiness: a window has
//! finished and the process is not shutting down) for Kubernetes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::metrics::{CLASSIC, OPENMETRICS, ProbeMetrics};

/// Where the process is in its life, as `/readyz` reports it.
#[derive(Debug, Default)]
pub struct Health(AtomicU8);

const STARTING: u8 = 0;
const READY: u8 = 1;
const STOPPING: u8 = 2;

impl Health {
    /// A window finished: the series carry data.
    pub fn ready(&self) {
        let _ = self
            .0
            .compare_exchange(STARTING, READY, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// SIGTERM: out of the Service's endpoints while the last window ends.
    pub fn stopping(&self) {
        self.0.store(STOPPING, Ordering::SeqCst);
    }

    fn readiness(&self) -> (StatusCode, &'static str) {
        match self.0.load(Ordering::SeqCst) {
            READY => (StatusCode::OK, "ready\n"),
            STOPPING => (StatusCode::SERVICE_UNAVAILABLE, "stopping\n"),
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                "starting: the first window has not finished\n",
            ),
        }
    }
}

/// A bound listener; [`Exporter::serve`] answers on it until `stop`.
pub struct Exporter {
    listener: TcpListener,
}

impl Exporter {
    /// Binds `addr`; a taken or unusable address is the error, naming it.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Exporter> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("--serve {addr}: cannot listen: {e}; choose a free address and port"),
            )
        })?;
        Ok(Exporter { listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Answers until `stop`; connections still open then get a second to
    /// finish (a scrape in flight completes, an idle keep-alive does not
    /// hold the exit).
    pub async fn serve(
        self,
        metrics: Arc<ProbeMetrics>,
        health: Arc<Health>,
        stop: CancellationToken,
    ) {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let (stream, _) = tokio::select! {
                _ = stop.cancelled() => break,
                // Reap finished connections so a long-lived exporter's set
                // stays as small as its open connections.
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                accepted = self.listener.accept() => match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // EMFILE and friends: back off rather than spin.
                        tracing::warn!(error = %e, "metrics listener: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let (metrics, health) = (metrics.clone(), health.clone());
            connections.spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let response = respond(&req, &metrics, &health);
                    async move { Ok::<_, Infallible>(response) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    // A client that opens a connection and sends nothing
                    // is dropped instead of holding a task.
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service);
                let _ = conn.await;
            });
        }
        let drained = async { while connections.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(1), drained).await;
        // Dropping the set aborts what is still open.
    }
}

fn respond(
    req: &Request<Incoming>,
    metrics: &ProbeMetrics,
    health: &Health,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: Bytes| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .unwrap_or_default()
    };
    let text = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            text,
            Bytes::from_static(b"GET only\n"),
        );
    }
    match req.uri().path() {
        // Prometheus asks for OpenMetrics; curl and promtool get the
        // classic format.
        "/metrics" if accepts_openmetrics(req) => {
            reply(StatusCode::OK, OPENMETRICS, Bytes::from(metrics.encode()))
        }
        "/metrics" => reply(
            StatusCode::OK,
            CLASSIC,
            Bytes::from(metrics.encode_classic()),
        ),
        "/healthz" => reply(StatusCode::OK, text, Bytes::from_static(b"ok\n")),
        "/readyz" => {
            let (status, body) = health.readiness();
            reply(status, text, Bytes::from_static(body.as_bytes()))
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            text,
            Bytes::from_static(b"not found: try /metrics, /healthz or /readyz\n"),
        ),
    }
}

fn accepts_openmetrics(req: &Request<Incoming>) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}
