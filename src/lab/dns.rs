//! The lab's authoritative DNS: answers A/AAAA queries from a routing table
//! keyed by client subnet, the way Route 53 geolocation and weighted records
//! answer per resolver or EDNS Client Subnet. Runs in-process on
//! hickory-server over UDP and TCP; the table can change while it runs (the
//! lab applies routing plans to it).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_server::proto::rr::rdata::{A, AAAA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use ipnet::IpNet;
use tokio::net::{TcpListener, UdpSocket};

/// How the lab answers one name.
#[derive(Debug, Clone, PartialEq)]
pub enum NameRule {
    /// Addresses chosen by the longest subnet that contains the client
    /// (the ECS subnet if the query has one, else the query's source).
    Addresses {
        default: Vec<IpAddr>,
        by_subnet: Vec<(IpNet, Vec<IpAddr>)>,
    },
    /// One address per answer, chosen by weight per client subnet, as
    /// Route 53 weighted records (nested in geolocation rules) answer.
    Weighted {
        default: WeightedChoice,
        by_subnet: Vec<(IpNet, WeightedChoice)>,
    },
    /// Always this failing rcode (SERVFAIL, REFUSED...).
    Fail(ResponseCode),
    /// Never answer: the client times out.
    Silent,
}

/// Addresses with weights; each pick returns one. Picks follow a
/// low-discrepancy sequence (golden-ratio steps), so even a few queries
/// split close to the weights, deterministically.
#[derive(Debug, Default)]
pub struct WeightedChoice {
    choices: Vec<(IpAddr, u32)>,
    picks: AtomicU64,
}

impl Clone for WeightedChoice {
    fn clone(&self) -> Self {
        WeightedChoice::new(self.choices.clone())
    }
}

impl PartialEq for WeightedChoice {
    fn eq(&self, other: &Self) -> bool {
        self.choices == other.choices
    }
}

impl WeightedChoice {
    /// Zero weights get no traffic; all-zero answers nothing.
    pub fn new(choices: Vec<(IpAddr, u32)>) -> Self {
        WeightedChoice {
            choices,
            picks: AtomicU64::new(0),
        }
    }

    pub fn pick(&self) -> Option<IpAddr> {
        pick_weighted(&self.choices, self.picks.fetch_add(1, Ordering::Relaxed))
    }
}

/// The `k`-th pick among weighted items: position `frac(k * phi)` on the
/// cumulative weights.
pub fn pick_weighted<T: Copy>(items: &[(T, u32)], k: u64) -> Option<T> {
    let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    const PHI: f64 = 0.618_033_988_749_894_9;
    let u = ((k as f64) * PHI).fract();
    let target = (u * total as f64) as u64;
    let mut acc = 0u64;
    for (item, w) in items {
        acc += u64::from(*w);
        if target < acc {
            return Some(*item);
        }
    }
    items.iter().rev().find(|(_, w)| *w > 0).map(|(i, _)| *i)
}

/// Names the lab DNS knows; any other name is NXDOMAIN.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DnsTable {
    rules: HashMap<LowerName, NameRule>,
}

impl DnsTable {
    pub fn insert(&mut self, name: &str, rule: NameRule) -> Result<(), String> {
        let name = Name::from_ascii(name).map_err(|e| format!("`{name}`: {e}"))?;
        let mut fqdn = name;
        fqdn.set_fqdn(true);
        self.rules.insert(LowerName::from(fqdn), rule);
        Ok(())
    }

    /// The answer for `name` asked by `client`: addresses and the prefix
    /// length of the subnet that decided it (the ECS scope).
    pub fn answer(
        &self,
        name: &LowerName,
        client: IpAddr,
    ) -> Result<(Vec<IpAddr>, u8), Option<ResponseCode>> {
        match self.rules.get(name) {
            None => Err(Some(ResponseCode::NXDomain)),
            Some(NameRule::Fail(code)) => Err(Some(*code)),
            Some(NameRule::Silent) => Err(None),
            Some(NameRule::Addresses { default, by_subnet }) => {
                let best = by_subnet
                    .iter()
                    .filter(|(net, _)| net.contains(&client))
                    .max_by_key(|(net, _)| net.prefix_len());
                Ok(match best {
                    Some((net, addrs)) => (addrs.clone(), net.prefix_len()),
                    None => (default.clone(), 0),
                })
            }
            Some(NameRule::Weighted { default, by_subnet }) => {
                let best = by_subnet
                    .iter()
                    .filter(|(net, _)| net.contains(&client))
                    .max_by_key(|(net, _)| net.prefix_len());
                let (choice, scope) = match best {
                    Some((net, c)) => (c, net.prefix_len()),
                    None => (default, 0),
                };
                Ok((choice.pick().into_iter().collect(), scope))
            }
        }
    }
}

struct Handler {
    table: Arc<RwLock<DnsTable>>,
    queries: Arc<AtomicU64>,
}

fn no_response(request: &Request, code: ResponseCode) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = code;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let builder = MessageResponseBuilder::from_message_request(request);
        let Ok(info) = request.request_info() else {
            let msg = builder.error_msg(&request.metadata, ResponseCode::FormErr);
            return response_handle
                .send_response(msg)
                .await
                .unwrap_or_else(|_| no_response(request, ResponseCode::FormErr));
        };
        let ecs = request
            .edns
            .as_ref()
            .and_then(|e| match e.option(EdnsCode::Subnet) {
                Some(EdnsOption::Subnet(cs)) => Some(*cs),
                _ => None,
            });
        let client = ecs.map(|cs| cs.addr()).unwrap_or(info.src.ip());
        let answer = self
            .table
            .read()
            .map_err(|_| Some(ResponseCode::ServFail))
            .and_then(|t| t.answer(info.query.name(), client));
        let qtype = info.query.query_type();
        let (addrs, scope) = match answer {
            Err(None) => return no_response(request, ResponseCode::NoError),
            Err(Some(code)) => {
                let msg = builder.error_msg(&request.metadata, code);
                return response_handle
                    .send_response(msg)
                    .await
                    .unwrap_or_else(|_| no_response(request, code));
            }
            Ok(a) => a,
        };
        let name = Name::from(info.query.name().clone());
        let records: Vec<Record> = addrs
            .iter()
            .filter_map(|ip| match (ip, qtype) {
                (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(*v4))),
                (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(*v6))),
                _ => None,
            })
            .map(|rdata| Record::from_rdata(name.clone(), 0, rdata))
            .collect();
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        // Echo the client subnet with the scope the answer is valid for (RFC 7871 s7.2.1).
        let edns = request.edns.as_ref().map(|req| {
            let mut e = Edns::new();
            e.set_max_payload(req.max_payload().max(512));
            if let Some(cs) = ecs {
                e.options_mut().insert(EdnsOption::Subnet(ClientSubnet::new(
                    cs.addr(),
                    cs.source_prefix(),
                    scope.min(cs.source_prefix()),
                )));
            }
            e
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(e) = &edns {
            builder.edns(e);
        }
        let msg = builder.build(metadata, records.iter(), [], [], []);
        response_handle
            .send_response(msg)
            .await
            .unwrap_or_else(|_| no_response(request, ResponseCode::ServFail))
    }
}

/// A running lab DNS server.
pub struct LabDns {
    addr: SocketAddr,
    table: Arc<RwLock<DnsTable>>,
    queries: Arc<AtomicU64>,
    stop: tokio_util::sync::CancellationToken,
    server: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LabDns {
    /// Serves `table` on UDP and TCP at `bind` (port 0: a free port, the same
    /// for both protocols).
    pub async fn start(bind: SocketAddr, table: DnsTable) -> std::io::Result<LabDns> {
        let (udp, tcp) = bind_pair(bind).await?;
        let addr = udp.local_addr()?;
        let table = Arc::new(RwLock::new(table));
        let queries = Arc::new(AtomicU64::new(0));
        let mut server = Server::new(Handler {
            table: table.clone(),
            queries: queries.clone(),
        });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        let stop = server.shutdown_token().clone();
        let task = tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        Ok(LabDns {
            addr,
            table,
            queries,
            stop,
            server: tokio::sync::Mutex::new(Some(task)),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queries received so far (each one a real query: tests use this to
    /// prove the probe does not cache).
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// A copy of the table it serves now.
    pub fn table(&self) -> DnsTable {
        self.table.read().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn set_table(&self, table: DnsTable) {
        if let Ok(mut t) = self.table.write() {
            *t = table;
        }
    }

    /// Stops serving and waits for the server's tasks to end.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        if let Some(task) = self.server.lock().await.take() {
            let _ = task.await;
        }
    }
}

/// UDP and TCP on the same port: bind UDP first, then TCP on its port,
/// retrying with a new port if TCP's is taken.
async fn bind_pair(bind: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(bind).await?;
        let addr = udp.local_addr()?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if bind.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port for DNS")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_subnet_wins_and_unknown_is_nxdomain() {
        let mut t = DnsTable::default();
        let a: IpAddr = "127.0.1.1".parse().unwrap();
        let b: IpAddr = "127.0.1.2".parse().unwrap();
        t.insert(
            "api.lab.test",
            NameRule::Addresses {
                default: vec![a],
                by_subnet: vec![
                    ("10.0.0.0/8".parse().unwrap(), vec![a]),
                    ("10.1.0.0/16".parse().unwrap(), vec![b]),
                ],
            },
        )
        .unwrap();
        let name = LowerName::from(Name::from_ascii("api.lab.test.").unwrap());
        assert_eq!(
            t.answer(&name, "10.1.2.3".parse().unwrap()),
            Ok((vec![b], 16))
        );
        assert_eq!(
            t.answer(&name, "10.2.2.3".parse().unwrap()),
            Ok((vec![a], 8))
        );
        assert_eq!(
            t.answer(&name, "192.0.2.1".parse().unwrap()),
            Ok((vec![a], 0))
        );
        let other = LowerName::from(Name::from_ascii("nope.lab.test.").unwrap());
        assert_eq!(t.answer(&other, a), Err(Some(ResponseCode::NXDomain)));
    }

    #[test]
    fn weighted_picks_follow_weights_closely() {
        let items = [("a", 3u32), ("b", 1), ("c", 0)];
        let picks: Vec<&str> = (0..400)
            .map(|k| pick_weighted(&items, k).unwrap())
            .collect();
        let a = picks.iter().filter(|p| **p == "a").count();
        assert!((295..=305).contains(&a), "{a}");
        assert!(!picks.contains(&"c"));
        assert_eq!(pick_weighted(&[("x", 0u32)], 0), None);
    }

    #[test]
    fn unknown_names_are_nxdomain() {
        let t = DnsTable::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let other = LowerName::from(Name::from_ascii("nope.lab.test.").unwrap());
        assert_eq!(t.answer(&other, a), Err(Some(ResponseCode::NXDomain)));
    }
}
