//! The one record every probe attempt produces, and the vocabulary of phases
//! and error classes that everything downstream (windows, reports, analysis)
//! is keyed by.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A measured step of reaching the service. Each is timed on its own clock
/// interval so a slow phase is never hidden inside another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Name resolution: one real query per sample (no cache).
    Dns,
    /// TCP three-way handshake (`connect(2)` returning).
    Tcp,
    /// TLS handshake on the wire: ClientHello written to the arrival of the
    /// server flight that completes it. The probe's own cryptography is not
    /// counted (see `tls::handshake`).
    Tls,
    /// Request written to the arrival of the first response byte (the
    /// response head), by the kernel's receive stamp.
    Ttfb,
    /// Request written to the arrival of the last body byte, on the fresh
    /// connection.
    Total,
    /// A request on an already-established, kept-alive connection, to the
    /// arrival of its last body byte.
    Warm,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Dns,
        Phase::Tcp,
        Phase::Tls,
        Phase::Ttfb,
        Phase::Total,
        Phase::Warm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Dns => "dns",
            Phase::Tcp => "tcp",
            Phase::Tls => "tls",
            Phase::Ttfb => "ttfb",
            Phase::Total => "total",
            Phase::Warm => "warm",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt failed. Classes are coarse on purpose: they are counted
/// per series and compared across regions, so they must mean the same thing
/// everywhere. The detail text goes to the log, not into the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// No DNS answer within the dns timeout.
    DnsTimeout,
    /// The name does not exist (rcode NXDOMAIN).
    Nxdomain,
    /// The name exists but has no address record of the asked type.
    NoData,
    /// rcode SERVFAIL.
    Servfail,
    /// rcode REFUSED.
    Refused,
    /// Any other DNS failure (FORMERR, transport errors...).
    DnsOther,
    /// The peer actively refused the TCP connection (RST to SYN).
    ConnectRefused,
    /// The TCP handshake did not complete within the tcp timeout.
    ConnectTimeout,
    /// Other connect failures (unreachable network, no route...).
    ConnectOther,
    /// The connection was reset or closed by the peer mid-exchange.
    Reset,
    /// The server's certificate did not verify (unknown issuer, wrong name, expired).
    TlsCert,
    /// The TLS handshake did not complete within the tls timeout.
    TlsTimeout,
    /// Any other TLS failure (protocol, alert, no common cipher...).
    TlsOther,
    /// The response head did not arrive within the ttfb timeout (phase
    /// `ttfb`), or its body not within the body timeout (phase `total`, or
    /// `warm`; the head's `ttfb` is kept).
    HttpTimeout,
    /// The response status was not 2xx.
    HttpStatus,
    /// Malformed HTTP, a body that failed to read, or a body larger than
    /// `max_body` (in the body's phase, `total` or `warm`; the detail says
    /// which).
    HttpOther,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::DnsTimeout => "dns_timeout",
            ErrorClass::Nxdomain => "nxdomain",
            ErrorClass::NoData => "no_data",
            ErrorClass::Servfail => "servfail",
            ErrorClass::Refused => "refused",
            ErrorClass::DnsOther => "dns_other",
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::ConnectOther => "connect_other",
            ErrorClass::Reset => "reset",
            ErrorClass::TlsCert => "tls_cert",
            ErrorClass::TlsTimeout => "tls_timeout",
            ErrorClass::TlsOther => "tls_other",
            ErrorClass::HttpTimeout => "http_timeout",
            ErrorClass::HttpStatus => "http_status",
            ErrorClass::HttpOther => "http_other",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified failure: the phase it ended in, its class, and a detail
/// message for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub phase: Phase,
    pub class: ErrorClass,
    pub detail: String,
}

impl Failure {
    pub fn new(phase: Phase, class: ErrorClass, detail: impl Into<String>) -> Self {
        Failure {
            phase,
            class,
            detail: detail.into(),
        }
    }
}

/// What was negotiated on the TLS connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    pub version: String,
    pub cipher: String,
    pub alpn: Option<String>,
}

/// One probe attempt against one target: a field per phase, `None` where the
/// phase did not happen (an IP literal needs no DNS; a failed handshake has
/// no ttfb). A failed attempt keeps the phases that completed before the
/// failure, and the failure itself; its failed phase is never a latency.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    pub dns: Option<Duration>,
    pub tcp: Option<Duration>,
    pub tls: Option<Duration>,
    pub ttfb: Option<Duration>,
    pub total: Option<Duration>,
    /// One entry per warm request that completed.
    pub warm: Vec<Duration>,
    pub remote: Option<SocketAddr>,
    /// What the `dns` phase answered (empty when it did not run).
    pub dns_answers: Vec<std::net::IpAddr>,
    pub tls_info: Option<TlsInfo>,
    pub status: Option<u16>,
    /// Region that answered, from the configured header or address map.
    pub served_by: Option<String>,
    pub failure: Option<Failure>,
}

impl Attempt {
    /// The completed phases as (phase, duration) pairs, warm requests included.
    pub fn latencies(&self) -> impl Iterator<Item = (Phase, Duration)> + '_ {
        let fresh = [
            (Phase::Dns, self.dns),
            (Phase::Tcp, self.tcp),
            (Phase::Tls, self.tls),
            (Phase::Ttfb, self.ttfb),
            (Phase::Total, self.total),
        ];
        fresh
            .into_iter()
            .filter_map(|(p, d)| d.map(|d| (p, d)))
            .chain(self.warm.iter().map(|d| (Phase::Warm, *d)))
    }
}

/// Microseconds, the unit of every recorded value. Rounds to nearest, and
/// never records a completed phase as 0 so it stays visible in a histogram
/// whose lowest discernible value is 1 us.
pub fn micros(d: Duration) -> u64 {
    let us = (d.as_nanos() + 500) / 1000;
    u64::try_from(us).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_rounds_and_floors_at_one() {
        assert_eq!(micros(Duration::from_nanos(1_499)), 1);
        assert_eq!(micros(Duration::from_nanos(1_500)), 2);
        assert_eq!(micros(Duration::from_nanos(10)), 1);
        assert_eq!(micros(Duration::from_millis(3)), 3000);
    }

    #[test]
    fn latencies_lists_only_completed_phases() {
        let a = Attempt {
            tcp: Some(Duration::from_micros(50)),
            tls: Some(Duration::from_micros(400)),
            warm: vec![Duration::from_micros(90), Duration::from_micros(80)],
            ..Attempt::default()
        };
        let phases: Vec<Phase> = a.latencies().map(|(p, _)| p).collect();
        assert_eq!(
            phases,
            vec![Phase::Tcp, Phase::Tls, Phase::Warm, Phase::Warm]
        );
    }

    #[test]
    fn class_names_match_serde() {
        for c in [
            ErrorClass::Nxdomain,
            ErrorClass::TlsCert,
            ErrorClass::HttpStatus,
        ] {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
    }
}
