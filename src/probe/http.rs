//! The `ttfb`, `total` and `warm` phases: HTTP over the connection the probe
//! established itself (hyper's connection-level client), so each phase is
//! timed separately and the warm requests reuse exactly that connection.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;

use super::record::{ErrorClass, Failure, Phase};
use super::timeline::Timeline;
use crate::config::{HttpMethod, ProbeSettings, Target};

/// The first exchange on a fresh connection.
#[derive(Debug)]
pub struct FirstResponse {
    pub ttfb: Duration,
    pub total: Duration,
    pub status: StatusCode,
    pub headers: HeaderMap,
}

enum Sender {
    H1(http1::SendRequest<Empty<Bytes>>),
    H2(http2::SendRequest<Empty<Bytes>>),
}

/// An HTTP connection over an established stream. Dropping it closes the
/// connection: its driver task is aborted.
pub struct HttpConn {
    sender: Sender,
    timeline: Timeline,
    driver: JoinHandle<()>,
    h2: bool,
}

impl Drop for HttpConn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl HttpConn {
    /// Runs the HTTP/1.1 or HTTP/2 client handshake (no round trip for
    /// HTTP/1.1; HTTP/2's preface is sent with the first request).
    pub async fn start<IO>(io: IO, h2: bool, timeline: Timeline) -> Result<HttpConn, Failure>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        let other =
            |e: hyper::Error| Failure::new(Phase::Ttfb, ErrorClass::HttpOther, e.to_string());
        if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(other)?;
            let driver = tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(HttpConn {
                sender: Sender::H2(sender),
                timeline,
                driver,
                h2,
            })
        } else {
            let (sender, conn) = http1::handshake(io).await.map_err(other)?;
            let driver = tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(HttpConn {
                sender: Sender::H1(sender),
                timeline,
                driver,
                h2,
            })
        }
    }

    /// Sends one request and reads the whole body. `phase` says which phase
    /// a failure belongs to: ttfb on the fresh connection, warm afterwards.
    pub async fn exchange(
        &mut self,
        target: &Target,
        settings: &ProbeSettings,
        phase: Phase,
    ) -> Result<FirstResponse, Failure> {
        let req = build_request(target, settings, self.h2)
            .map_err(|e| Failure::new(phase, ErrorClass::HttpOther, e))?;
        let timeouts = settings.timeouts;
        let fail = |class, detail: String| Failure::new(phase, class, detail);
        // Wait for the connection to accept a request before the clock starts.
        let ready = match &mut self.sender {
            Sender::H1(s) => s.ready().await,
            Sender::H2(s) => s.ready().await,
        };
        ready.map_err(|e| fail(hyper_class(&e), e.to_string()))?;

        // The clock starts when the request is handed over, and moves to
        // when its first byte is written (see `timeline`).
        self.timeline.watch_next_write();
        let start = Instant::now();
        let send = async {
            match &mut self.sender {
                Sender::H1(s) => s.send_request(req).await,
                Sender::H2(s) => s.send_request(req).await,
            }
        };
        let resp = match tokio::time::timeout(timeouts.ttfb, send).await {
            Err(_) => {
                return Err(fail(
                    ErrorClass::HttpTimeout,
                    format!("no response head within {:?}", timeouts.ttfb),
                ));
            }
            Ok(Err(e)) => return Err(fail(hyper_class(&e), e.to_string())),
            Ok(Ok(r)) => r,
        };
        let sent = self.timeline.written(start);
        let ttfb = self.timeline.data_end(sent, Instant::now()) - sent;
        let (parts, body) = resp.into_parts();
        match tokio::time::timeout(timeouts.body, body.collect()).await {
            Err(_) => {
                return Err(fail(
                    ErrorClass::HttpOther,
                    format!("body incomplete after {:?}", timeouts.body),
                ));
            }
            Ok(Err(e)) => return Err(fail(hyper_class(&e), e.to_string())),
            Ok(Ok(_)) => {}
        }
        let total = self.timeline.data_end(sent, Instant::now()) - sent;
        if !parts.status.is_success() {
            return Err(fail(
                ErrorClass::HttpStatus,
                format!("status {}", parts.status.as_u16()),
            ));
        }
        Ok(FirstResponse {
            ttfb,
            total,
            status: parts.status,
            headers: parts.headers,
        })
    }
}

fn build_request(
    target: &Target,
    settings: &ProbeSettings,
    h2: bool,
) -> Result<Request<Empty<Bytes>>, String> {
    let url = &target.url;
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let authority = match url.port() {
        Some(p) => format!("{}:{p}", target.host()),
        None => target.host().to_owned(),
    };
    // HTTP/2 carries the authority in the URI; HTTP/1.1 in the Host header.
    let uri = if h2 {
        format!("{}://{authority}{path_and_query}", url.scheme())
    } else {
        path_and_query
    };
    let method = match settings.method {
        HttpMethod::Get => http::Method::GET,
        HttpMethod::Head => http::Method::HEAD,
    };
    let mut builder = Request::builder().method(method).uri(uri).header(
        header::USER_AGENT,
        concat!("geolat/", env!("CARGO_PKG_VERSION")),
    );
    if !h2 {
        builder = builder.header(header::HOST, authority);
    }
    for (k, v) in &settings.headers {
        builder = builder.header(k, v);
    }
    builder.body(Empty::new()).map_err(|e| e.to_string())
}

fn hyper_class(e: &hyper::Error) -> ErrorClass {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && super::connect::is_reset(io)
        {
            return ErrorClass::Reset;
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        ErrorClass::Reset
    } else {
        ErrorClass::HttpOther
    }
}
