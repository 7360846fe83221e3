//! Probing: one attempt measures every phase of reaching a target on a
//! fresh connection (`attempt`), and a run takes many attempts into a
//! window (`runner`). Sockets live here; everything downstream consumes
//! [`record::Attempt`].

pub mod cert;
pub mod connect;
pub mod dns;
pub mod ecs;
pub mod http;
pub mod record;
pub mod runner;
pub mod timeline;
pub mod tls;

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use tokio_rustls::TlsConnector;

use crate::config::{ProbeSettings, ServedBy, Target};
use http::HttpConn;
use record::{Attempt, Failure};

/// Why a prober could not be set up (before any sample is taken).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Tls(#[from] tls::TlsSetupError),
    #[error("DNS resolver: {0}")]
    Resolver(#[from] hickory_resolver::net::NetError),
}

/// Everything expensive to build (TLS roots, resolver) built once and shared
/// by every attempt of a run.
pub struct Prober {
    settings: ProbeSettings,
    tls: TlsConnector,
    resolver: TokioResolver,
}

impl Prober {
    pub fn new(settings: ProbeSettings) -> Result<Prober, SetupError> {
        let config = tls::client_config(&settings.tls)?;
        tls::warm_up(&config);
        let tls = TlsConnector::from(config);
        let resolver = dns::build_resolver(
            &settings.dns,
            settings.timeouts.dns,
            settings.source_address,
        )?;
        Ok(Prober {
            settings,
            tls,
            resolver,
        })
    }

    /// One attempt on a fresh connection. `sample` picks which of several
    /// addresses to use (round-robin across samples), so every address a name
    /// resolves to is measured over a window.
    pub async fn attempt(&self, target: &Target, sample: u64) -> Attempt {
        let mut attempt = Attempt::default();
        if let Err(failure) = self.run_phases(target, sample, &mut attempt).await {
            tracing::debug!(target = %target.id, phase = %failure.phase, class = %failure.class, detail = %failure.detail, "attempt failed");
            attempt.failure = Some(failure);
        }
        attempt
    }

    async fn run_phases(
        &self,
        target: &Target,
        sample: u64,
        a: &mut Attempt,
    ) -> Result<(), Failure> {
        let s = &self.settings;
        let addresses = self.addresses(target, a).await?;
        let pick = usize::try_from(sample % addresses.len() as u64).unwrap_or(0);
        let remote = SocketAddr::new(addresses[pick], target.port());
        a.remote = Some(remote);

        let (tcp, elapsed) = connect::connect(remote, s.source_address, s.timeouts.tcp).await?;
        a.tcp = Some(elapsed);
        let timeline = tcp.timeline();

        let mut conn = if target.is_https() {
            let (tls_stream, elapsed, info) =
                tls::handshake(&self.tls, target.host(), tcp, s.timeouts.tls).await?;
            a.tls = Some(elapsed);
            let h2 = info.alpn.as_deref() == Some("h2");
            a.tls_info = Some(info);
            HttpConn::start(tls_stream, h2, timeline).await?
        } else {
            HttpConn::start(tcp, false, timeline).await?
        };

        let first = match conn.exchange(target, s, record::Phase::Ttfb).await {
            Ok(r) => r,
            Err(f) => {
                // A non-2xx answer still says who answered.
                a.served_by = served_by(&s.served_by, None, remote.ip());
                return Err(f);
            }
        };
        // The head arrived: ttfb stands, and its headers say who answered,
        // whether or not the body then arrives.
        a.ttfb = Some(first.ttfb);
        a.status = Some(first.status.as_u16());
        a.served_by = served_by(&s.served_by, Some(&first.headers), remote.ip());
        a.total = Some(first.total?);

        for _ in 0..s.warm_requests {
            let r = conn.exchange(target, s, record::Phase::Warm).await?;
            a.warm.push(r.total?);
        }
        Ok(())
    }

    async fn addresses(&self, target: &Target, a: &mut Attempt) -> Result<Vec<IpAddr>, Failure> {
        if !target.addresses.is_empty() {
            return Ok(target.addresses.clone());
        }
        if let Some(host) = target.url.host() {
            match host {
                url::Host::Ipv4(ip) => return Ok(vec![IpAddr::V4(ip)]),
                url::Host::Ipv6(ip) => return Ok(vec![IpAddr::V6(ip)]),
                url::Host::Domain(_) => {}
            }
        }
        let r = dns::resolve(&self.resolver, target.host(), self.settings.timeouts.dns).await?;
        a.dns = Some(r.elapsed);
        a.dns_answers.clone_from(&r.addresses);
        Ok(r.addresses)
    }
}

/// The region that answered: the configured response header wins, then the
/// address map; `None` when neither says.
pub fn served_by(
    cfg: &ServedBy,
    headers: Option<&::http::HeaderMap>,
    remote: IpAddr,
) -> Option<String> {
    if let (Some(name), Some(headers)) = (&cfg.header, headers)
        && let Some(v) = headers.get(name.as_str()).and_then(|v| v.to_str().ok())
        && !v.is_empty()
    {
        return Some(v.to_owned());
    }
    cfg.addresses.get(&remote).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_by_prefers_header_then_address() {
        let mut cfg = ServedBy {
            header: Some("x-region".into()),
            ..ServedBy::default()
        };
        let ip: IpAddr = "127.0.1.1".parse().unwrap();
        cfg.addresses.insert(ip, "us-east-1".into());
        let mut h = ::http::HeaderMap::new();
        h.insert("x-region", "eu-west-1".parse().unwrap());
        assert_eq!(served_by(&cfg, Some(&h), ip).as_deref(), Some("eu-west-1"));
        assert_eq!(served_by(&cfg, None, ip).as_deref(), Some("us-east-1"));
        assert_eq!(served_by(&cfg, None, "10.0.0.1".parse().unwrap()), None);
    }
}
