//! The lab: regional endpoints and an authoritative DNS on loopback, with
//! injected latency as ground truth, so probes (and later the whole
//! probe -> analyze -> advise -> apply loop) run on one machine.
//!
//! Layout: region `i` listens on `127.0.1.(i+1):PORT` (one port for all, so
//! DNS answers alone choose the region), with the name
//! `<region>.lab.geolat.test`; `api.lab.geolat.test` is the routed service
//! name. A probe standing for a geo sends from its own loopback address,
//! which is how endpoints pick that geo's delay.
//!
//! What the lab does not emulate: the kernel completes the TCP handshake
//! before user space sees a connection, so injected delay never lengthens
//! `tcp`; it lengthens the TLS server flight and every response.

pub mod accelerator;
pub mod certs;
pub mod closed_loop;
pub mod dns;
pub mod endpoint;
pub mod routing;
pub mod timer;
pub mod world;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use certs::LabPki;
use dns::{DnsTable, LabDns, NameRule};
use endpoint::{Delays, Endpoint, EndpointSpec};

/// The lab's DNS zone.
pub const ZONE: &str = "lab.geolat.test";
/// The routed service name (what Route 53 would answer for).
pub const SERVICE_NAME: &str = "api.lab.geolat.test";

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Certs(#[from] certs::CertError),
    #[error("lab cannot bind {addr}: {source} (is another lab running? pass another --port)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("lab DNS: {0}")]
    Dns(String),
}

/// One serving region of the lab.
#[derive(Debug, Clone)]
pub struct RegionSpec {
    pub id: String,
    pub delays: Delays,
}

#[derive(Debug, Clone)]
pub struct LabSpec {
    pub regions: Vec<RegionSpec>,
    /// HTTPS port shared by every region; 0 picks a free one.
    pub port: u16,
    /// DNS port on 127.0.0.1; 0 picks a free one.
    pub dns_port: u16,
    /// Endpoints spend delays busy (exact, costly): see [`endpoint::EndpointSpec`].
    pub busy_wait: bool,
}

/// The loopback address of region `index`.
pub fn region_ip(index: usize) -> IpAddr {
    let i = u8::try_from(index + 1).unwrap_or(u8::MAX);
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, i))
}

/// The loopback address a probe standing for geo `index` sends from
/// (127.2.0.1, 127.2.0.2, ...: room for 65,000 geos).
pub fn geo_ip(index: usize) -> IpAddr {
    let n = u32::try_from(index + 1).unwrap_or(u32::MAX).min(0xffff);
    IpAddr::V4(Ipv4Addr::new(127, 2, (n >> 8) as u8, (n & 0xff) as u8))
}

pub fn region_host(region: &str) -> String {
    format!("{region}.{ZONE}")
}

pub struct Lab {
    pub endpoints: Vec<Endpoint>,
    pub dns: std::sync::Arc<LabDns>,
    pub ca_pem: String,
    pub port: u16,
}

impl Lab {
    pub async fn start(spec: &LabSpec) -> Result<Lab, LabError> {
        let ips: Vec<IpAddr> = (0..spec.regions.len()).map(region_ip).collect();
        let mut all_ips = ips.clone();
        all_ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let pki = LabPki::generate(
            "geolat lab CA",
            &[format!("*.{ZONE}"), ZONE.to_owned(), "localhost".to_owned()],
            &all_ips,
        )?;
        let (endpoints, port) = start_endpoints(spec, &ips, &pki).await?;

        let mut table = DnsTable::default();
        for (r, ip) in spec.regions.iter().zip(&ips) {
            table
                .insert(
                    &region_host(&r.id),
                    NameRule::Addresses {
                        default: vec![*ip],
                        by_subnet: Vec::new(),
                    },
                )
                .map_err(LabError::Dns)?;
        }
        if let Some(first) = ips.first() {
            table
                .insert(
                    SERVICE_NAME,
                    NameRule::Addresses {
                        default: vec![*first],
                        by_subnet: Vec::new(),
                    },
                )
                .map_err(LabError::Dns)?;
        }
        let dns_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), spec.dns_port);
        let dns = LabDns::start(dns_addr, table)
            .await
            .map_err(|source| LabError::Bind {
                addr: dns_addr,
                source,
            })?;
        Ok(Lab {
            endpoints,
            dns: std::sync::Arc::new(dns),
            ca_pem: pki.ca_pem,
            port,
        })
    }

    pub fn service_url(&self) -> String {
        format!("https://{SERVICE_NAME}:{}/", self.port)
    }

    /// Drains every endpoint and stops DNS.
    pub async fn shutdown(self, grace: Duration) {
        for e in self.endpoints {
            e.shutdown(grace).await;
        }
        self.dns.shutdown().await;
    }
}

/// Binds every region on one port: the first bind picks it (if 0), the
/// others must get the same; on a clash, start over with a new port.
async fn start_endpoints(
    spec: &LabSpec,
    ips: &[IpAddr],
    pki: &LabPki,
) -> Result<(Vec<Endpoint>, u16), LabError> {
    let attempts = if spec.port == 0 { 20 } else { 1 };
    let mut last_err = None;
    'retry: for _ in 0..attempts {
        let mut port = spec.port;
        let mut endpoints: Vec<Endpoint> = Vec::with_capacity(ips.len());
        for (r, ip) in spec.regions.iter().zip(ips) {
            let bind = SocketAddr::new(*ip, port);
            let es = EndpointSpec {
                region: r.id.clone(),
                bind,
                delays: r.delays.clone(),
                fault: None,
                busy_wait: spec.busy_wait,
            };
            match Endpoint::start(es, pki.server.clone()).await {
                Ok(e) => {
                    port = e.addr().port();
                    endpoints.push(e);
                }
                Err(source) => {
                    for e in endpoints {
                        e.shutdown(Duration::ZERO).await;
                    }
                    last_err = Some(LabError::Bind { addr: bind, source });
                    continue 'retry;
                }
            }
        }
        return Ok((endpoints, port));
    }
    Err(last_err.unwrap_or(LabError::Dns("no regions".into())))
}
