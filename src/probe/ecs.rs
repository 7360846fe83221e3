//! The authoritative DNS audit: which region does DNS hand to users of each
//! client subnet? One probe can check the answers for every geo.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::StreamExt as _;
use ipnet::IpNet;
use tokio_util::sync::CancellationToken;

use super::dns::{query_with_subnet, rcode_class, rcode_name};
use super::record::ErrorClass;
use crate::config::EcsAudit;

/// What one name server answered for one client subnet over the audit's
/// samples: answers grouped by (rcode, address set), since weighted
/// records can answer differently between samples. The window keeps it as
/// its `dns_audit` entries.
#[derive(Debug, Clone, PartialEq)]
pub struct PairAnswers {
    pub nameserver: SocketAddr,
    pub subnet: IpNet,
    pub answers: Vec<AnswerGroup>,
    /// Failed queries and failing rcodes, by class.
    pub errors: BTreeMap<ErrorClass, u64>,
}

/// One distinct answer and how long each query that got it took.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerGroup {
    /// The rcode's mnemonic, as dig prints it (`NOERROR`).
    pub rcode: String,
    /// Sorted.
    pub addresses: Vec<IpAddr>,
    pub elapsed: Vec<Duration>,
}

/// (name server, subnet) pairs audited at once: every pair's queries run
/// one after another, so a silent name server costs one pair's timeouts,
/// not the sum over every pair (18 s for 6 pairs of 3 samples at 1 s).
const PAIRS_AT_ONCE: usize = 16;

/// Runs `samples` queries per (name server, subnet) and groups the answers.
/// Pairs run concurrently; a stop ends every pair at once (queries in
/// flight are dropped) with what was answered so far.
pub async fn audit(
    cfg: &EcsAudit,
    timeout: Duration,
    stop: &CancellationToken,
) -> Vec<PairAnswers> {
    let mut jobs = Vec::new();
    for ns in &cfg.nameservers {
        for subnet in &cfg.subnets {
            let (ns, subnet) = (*ns, *subnet);
            jobs.push(async move {
                tokio::select! {
                    answers = pair(cfg, ns, subnet, timeout, stop) => Some(answers),
                    _ = stop.cancelled() => None,
                }
            });
        }
    }
    // `buffered` keeps the pairs in config order in the window.
    let done: Vec<Option<PairAnswers>> = futures::stream::iter(jobs)
        .buffered(PAIRS_AT_ONCE)
        .collect()
        .await;
    done.into_iter().flatten().collect()
}

/// One (name server, subnet) pair's queries, grouped by answer.
async fn pair(
    cfg: &EcsAudit,
    nameserver: SocketAddr,
    subnet: IpNet,
    timeout: Duration,
    stop: &CancellationToken,
) -> PairAnswers {
    let mut by_answer: BTreeMap<(String, Vec<IpAddr>), Vec<Duration>> = BTreeMap::new();
    let mut errors: BTreeMap<ErrorClass, u64> = BTreeMap::new();
    for _ in 0..cfg.samples {
        if stop.is_cancelled() {
            break;
        }
        match query_with_subnet(nameserver, cfg.protocol, &cfg.name, subnet, timeout).await {
            Err(f) => *errors.entry(f.class).or_default() += 1,
            Ok(ans) => {
                if let Some(class) = rcode_class(ans.rcode) {
                    *errors.entry(class).or_default() += 1;
                }
                let mut addrs = ans.addresses.clone();
                addrs.sort();
                by_answer
                    .entry((rcode_name(ans.rcode), addrs))
                    .or_default()
                    .push(ans.elapsed);
            }
        }
    }
    PairAnswers {
        nameserver,
        subnet,
        answers: by_answer
            .into_iter()
            .map(|((rcode, addresses), elapsed)| AnswerGroup {
                rcode,
                addresses,
                elapsed,
            })
            .collect(),
        errors,
    }
}

#[cfg(test)]
mod regression {
    use super::*;
    use crate::config::DnsProtocol;

    /// Issue 10, item 3: the audit asked its pairs one after another, so a
    /// silent name server cost every pair's timeouts in turn (18 s). Now
    /// every pair's first query is out before any has timed out, and a stop
    /// ends the audit without waiting for them.
    #[tokio::test]
    async fn a_silent_name_server_is_asked_for_every_subnet_at_once() {
        let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let cfg = EcsAudit {
            name: "api.example.com".into(),
            nameservers: vec![silent.local_addr().unwrap()],
            protocol: DnsProtocol::Udp,
            subnets: ["81.2.69.0/24", "1.2.3.0/24", "5.6.7.0/24"]
                .iter()
                .map(|s| s.parse().unwrap())
                .collect(),
            samples: 3,
        };
        let stop = CancellationToken::new();
        let audit = audit(&cfg, Duration::from_secs(600), &stop);
        let listen = async {
            let mut buf = [0u8; 512];
            for _ in 0..cfg.subnets.len() {
                silent.recv_from(&mut buf).await.unwrap();
            }
            // Every subnet asked while the first query still waits out its
            // ten-minute timeout: they run at once. Stop now.
            stop.cancel();
        };
        // Bounded only so that a regression fails instead of hanging.
        let (entries, ()) = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(audit, listen)
        })
        .await
        .expect("every subnet asked at once");
        assert!(entries.is_empty(), "stopped before any answer");
    }
}
