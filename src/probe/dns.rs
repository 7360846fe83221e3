//! The `dns` phase: one real query per sample through hickory-resolver with
//! its cache disabled, and the authoritative audit that asks name servers
//! directly with an EDNS Client Subnet option.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::{Resolver, TokioResolver};
use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::record::{ErrorClass, Failure, Phase};
use crate::config::{DnsProtocol, DnsSettings};

/// A resolved name: the time the query took and the addresses it returned.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub elapsed: Duration,
    pub addresses: Vec<IpAddr>,
}

/// Builds the resolver once per probe run; each lookup is still a real query
/// because the cache size is 0 and negative answers are not kept either.
pub fn build_resolver(
    settings: &DnsSettings,
    timeout: Duration,
    source: Option<IpAddr>,
) -> Result<TokioResolver, NetError> {
    let mut builder = if settings.nameservers.is_empty() {
        TokioResolver::builder_tokio()?
    } else {
        let servers = settings
            .nameservers
            .iter()
            .map(|ns| {
                let mut conn = match settings.protocol {
                    DnsProtocol::Udp => ConnectionConfig::udp(),
                    DnsProtocol::Tcp => ConnectionConfig::tcp(),
                };
                conn.port = ns.port();
                conn.bind_addr = source.map(|ip| SocketAddr::new(ip, 0));
                NameServerConfig::new(ns.ip(), true, vec![conn])
            })
            .collect();
        Resolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.cache_size = 0;
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
    builder.build()
}

/// Resolves `host` once, timing the whole lookup.
pub async fn resolve(
    resolver: &TokioResolver,
    host: &str,
    timeout: Duration,
) -> Result<Resolution, Failure> {
    // A trailing dot makes the name absolute so search domains add no queries.
    let fqdn = if host.ends_with('.') {
        host.to_owned()
    } else {
        format!("{host}.")
    };
    let start = Instant::now();
    let result = tokio::time::timeout(timeout, resolver.lookup_ip(fqdn.as_str())).await;
    let elapsed = start.elapsed();
    match result {
        Err(_) => Err(Failure::new(
            Phase::Dns,
            ErrorClass::DnsTimeout,
            format!("no answer for {host} within {timeout:?}"),
        )),
        Ok(Err(e)) => Err(classify(&e, host)),
        Ok(Ok(lookup)) => {
            let addresses: Vec<IpAddr> = lookup.iter().collect();
            if addresses.is_empty() {
                return Err(Failure::new(
                    Phase::Dns,
                    ErrorClass::NoData,
                    format!("{host}: no address records"),
                ));
            }
            Ok(Resolution { elapsed, addresses })
        }
    }
}

fn classify(e: &NetError, host: &str) -> Failure {
    let class = match e {
        NetError::Timeout => ErrorClass::DnsTimeout,
        NetError::Dns(DnsError::NoRecordsFound(nr)) => {
            rcode_class(nr.response_code).unwrap_or(ErrorClass::NoData)
        }
        NetError::Dns(DnsError::ResponseCode(code)) => {
            rcode_class(*code).unwrap_or(ErrorClass::DnsOther)
        }
        _ => ErrorClass::DnsOther,
    };
    Failure::new(Phase::Dns, class, format!("{host}: {e}"))
}

/// The error class for a failing rcode; `None` for NOERROR.
pub fn rcode_class(code: ResponseCode) -> Option<ErrorClass> {
    match code {
        ResponseCode::NoError => None,
        ResponseCode::NXDomain => Some(ErrorClass::Nxdomain),
        ResponseCode::ServFail => Some(ErrorClass::Servfail),
        ResponseCode::Refused => Some(ErrorClass::Refused),
        _ => Some(ErrorClass::DnsOther),
    }
}

/// The RFC 1035 mnemonic of an rcode, as dig prints it.
pub fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// One authoritative answer in an ECS audit.
#[derive(Debug, Clone)]
pub struct EcsAnswer {
    pub elapsed: Duration,
    pub rcode: ResponseCode,
    pub addresses: Vec<IpAddr>,
    /// The scope prefix the server said its answer is valid for.
    pub scope_prefix: Option<u8>,
}

/// Asks `server` for the A/AAAA records of `name` as if from `subnet`
/// (RFC 7871). The resolver cannot attach a per-query ECS option, so this
/// speaks the wire protocol directly with hickory-proto's message codec.
pub async fn query_with_subnet(
    server: SocketAddr,
    protocol: DnsProtocol,
    name: &str,
    subnet: IpNet,
    timeout: Duration,
) -> Result<EcsAnswer, Failure> {
    let qname = Name::from_ascii(name)
        .map_err(|e| Failure::new(Phase::Dns, ErrorClass::DnsOther, format!("{name}: {e}")))?;
    let rtype = match subnet {
        IpNet::V4(_) => RecordType::A,
        IpNet::V6(_) => RecordType::AAAA,
    };
    let mut msg = Message::query();
    msg.add_query(Query::query(qname, rtype));
    msg.metadata.recursion_desired = false;
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.options_mut()
        .insert(EdnsOption::Subnet(ClientSubnet::new(
            subnet.network(),
            subnet.prefix_len(),
            0,
        )));
    msg.set_edns(edns);
    let wire = msg
        .to_vec()
        .map_err(|e| Failure::new(Phase::Dns, ErrorClass::DnsOther, e.to_string()))?;
    let id = msg.metadata.id;

    let start = Instant::now();
    let exchange = async {
        match protocol {
            DnsProtocol::Udp => udp_exchange(server, &wire, id).await,
            DnsProtocol::Tcp => tcp_exchange(server, &wire).await,
        }
    };
    let reply = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => {
            return Err(Failure::new(
                Phase::Dns,
                ErrorClass::DnsTimeout,
                format!("{server} did not answer {name} within {timeout:?}"),
            ));
        }
        Ok(Err(e)) => {
            return Err(Failure::new(
                Phase::Dns,
                ErrorClass::DnsOther,
                format!("{server}: {e}"),
            ));
        }
        Ok(Ok(reply)) => reply,
    };
    let elapsed = start.elapsed();
    let response = Message::from_vec(&reply).map_err(|e| {
        Failure::new(
            Phase::Dns,
            ErrorClass::DnsOther,
            format!("{server}: bad reply: {e}"),
        )
    })?;
    let addresses = response
        .answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    let scope_prefix = response.edns.as_ref().and_then(|e| {
        match e.option(hickory_proto::rr::rdata::opt::EdnsCode::Subnet) {
            Some(EdnsOption::Subnet(cs)) => Some(cs.scope_prefix()),
            _ => None,
        }
    });
    Ok(EcsAnswer {
        elapsed,
        rcode: response.metadata.response_code,
        addresses,
        scope_prefix,
    })
}

async fn udp_exchange(server: SocketAddr, wire: &[u8], id: u16) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    sock.send(wire).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).await?;
        // Ignore stray datagrams that are not the reply to this query.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_exchange(server: SocketAddr, wire: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await?;
    let len = u16::try_from(wire.len()).map_err(|_| std::io::Error::other("query too large"))?;
    let mut framed = Vec::with_capacity(wire.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(wire);
    stream.write_all(&framed).await?;
    let n = stream.read_u16().await? as usize;
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}
