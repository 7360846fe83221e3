//! The `ttfb`, `total` and `warm` phases: HTTP over the connection the probe
//! established itself (hyper's connection-level client), so each phase is
//! timed separately and the warm requests reuse exactly that connection.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;

use super::record::{ErrorClass, Failure, Phase};
use super::timeline::Timeline;
use crate::config::{HttpMethod, ProbeSettings, Target};

/// A request that got a 2xx response head. The head's timing and headers
/// stand even when the body then fails: they were measured.
#[derive(Debug)]
pub struct Exchange {
    pub ttfb: Duration,
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Request written to the arrival of the last body byte, or why the
    /// body did not arrive whole (a failure of the body's phase: `total` on
    /// the fresh connection, `warm` afterwards).
    pub total: Result<Duration, Failure>,
}

/// The phase a body failure belongs to: the first request's body is
/// `total`; a warm request is `warm` throughout.
fn body_phase(head: Phase) -> Phase {
    match head {
        Phase::Ttfb => Phase::Total,
        other => other,
    }
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

    /// Sends one request, times its head, then reads its body frame by
    /// frame, counting and discarding the bytes (see [`drain`]). `phase` is
    /// the head's phase: `ttfb` on the fresh connection (its body is then
    /// `total`), `warm` afterwards. `Err` is a request that got no 2xx head;
    /// a body that fails is in [`Exchange::total`].
    pub async fn exchange(
        &mut self,
        target: &Target,
        settings: &ProbeSettings,
        phase: Phase,
    ) -> Result<Exchange, Failure> {
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
        if !parts.status.is_success() {
            return Err(fail(
                ErrorClass::HttpStatus,
                format!("status {}", parts.status.as_u16()),
            ));
        }
        let total = self
            .body(body, &parts.headers, settings, body_phase(phase))
            .await
            .map(|()| self.timeline.data_end(sent, Instant::now()) - sent);
        Ok(Exchange {
            ttfb,
            status: parts.status,
            headers: parts.headers,
            total,
        })
    }

    /// Reads the body to its end within the body timeout and size cap.
    async fn body(
        &self,
        body: Incoming,
        headers: &HeaderMap,
        settings: &ProbeSettings,
        phase: Phase,
    ) -> Result<(), Failure> {
        let (limit, max) = (settings.timeouts.body, settings.max_body);
        let fail = |class, detail: String| Failure::new(phase, class, detail);
        // A declared length over the cap fails before a byte is read (a
        // HEAD response declares the length of a body it does not send).
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(len) = declared
            && len > max
            && settings.method != HttpMethod::Head
        {
            return Err(fail(
                ErrorClass::HttpOther,
                format!("{}: content-length {len}", too_large(max)),
            ));
        }
        let mut read = 0u64;
        match tokio::time::timeout(limit, drain(body, max, &mut read)).await {
            Err(_) => Err(fail(
                ErrorClass::HttpTimeout,
                format!("body incomplete after {limit:?} ({read} bytes read)"),
            )),
            Ok(Err(BodyError::TooLarge)) => Err(fail(
                ErrorClass::HttpOther,
                format!("{} ({read} bytes read)", too_large(max)),
            )),
            Ok(Err(BodyError::Read(e))) => Err(fail(
                hyper_class(&e),
                format!("body after {read} bytes: {e}"),
            )),
            Ok(Ok(())) => Ok(()),
        }
    }
}

/// The detail of a body over the cap: the words a person greps the log for.
fn too_large(max: u64) -> String {
    format!("body larger than max_body {max} bytes")
}

#[derive(Debug)]
enum BodyError<E> {
    TooLarge,
    Read(E),
}

/// Reads a body to its end, one frame at a time, adding the data bytes to
/// `read` and dropping each frame as soon as it is counted: a probe measures
/// when the last byte arrives, never what the bytes say, so memory stays at
/// one frame (hyper's read buffer, or HTTP/2's flow-control window) however
/// long the body is. Stops with `TooLarge` once `read` passes `max`.
async fn drain<B>(mut body: B, max: u64, read: &mut u64) -> Result<(), BodyError<B::Error>>
where
    B: hyper::body::Body + Unpin,
{
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        if let Some(data) = frame.data_ref() {
            *read = read.saturating_add(data.remaining() as u64);
            if *read > max {
                return Err(BodyError::TooLarge);
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that never ends, every frame the same 64 KiB (shared, so the
    /// test itself holds one copy however many frames it yields).
    fn endless() -> impl hyper::body::Body<Data = Bytes, Error = std::convert::Infallible> + Unpin {
        let chunk = Bytes::from(vec![b'x'; 64 << 10]);
        http_body_util::StreamBody::new(futures::stream::repeat_with(move || {
            Ok(hyper::body::Frame::data(chunk.clone()))
        }))
    }

    mod regression {
        use super::*;

        /// An endless body once grew the probe to 1.5 GB before its timeout:
        /// now it is counted, not kept, and stops at the cap.
        #[tokio::test]
        async fn endless_body_stops_at_max_body() {
            let mut read = 0;
            let r = drain(endless(), 1 << 20, &mut read).await;
            assert!(matches!(r, Err(BodyError::TooLarge)), "{r:?}");
            assert_eq!(
                read,
                (1 << 20) + (64 << 10),
                "stops at the first frame over"
            );
        }
    }

    #[tokio::test]
    async fn drain_counts_a_body_that_ends() {
        let body = http_body_util::Full::new(Bytes::from_static(b"hello"));
        let mut read = 0;
        assert!(drain(body, 5, &mut read).await.is_ok());
        assert_eq!(read, 5);
    }
}
