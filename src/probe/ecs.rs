//! The authoritative DNS audit: which region does DNS hand to users of each
//! client subnet? One probe can check the answers for every geo.

use std::collections::BTreeMap;
use std::net::IpAddr;

use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::dns::{query_with_subnet, rcode_class, rcode_name};
use super::record::{ErrorClass, micros};
use crate::config::{EcsAudit, ServedBy};
use crate::window::AuditEntry;
use crate::window::codec::{self, CodecError};

/// (name server, subnet) pairs audited at once: every pair's queries run
/// one after another, so a silent name server costs one pair's timeouts,
/// not the sum over every pair (18 s for 6 pairs of 3 samples at 1 s).
const PAIRS_AT_ONCE: usize = 16;

/// Runs `samples` queries per (name server, subnet) and groups the answers.
/// Pairs run concurrently; a stop ends every pair at once (queries in
/// flight are dropped) with what was answered so far.
pub async fn audit(
    cfg: &EcsAudit,
    served_by: &ServedBy,
    timeout: std::time::Duration,
    stop: &CancellationToken,
) -> Result<Vec<AuditEntry>, CodecError> {
    let mut jobs = Vec::new();
    for ns in &cfg.nameservers {
        for subnet in &cfg.subnets {
            let (ns, subnet) = (*ns, *subnet);
            jobs.push(async move {
                tokio::select! {
                    entries = pair(cfg, served_by, ns, subnet, timeout, stop) => entries,
                    _ = stop.cancelled() => Ok(Vec::new()),
                }
            });
        }
    }
    // `buffered` keeps the pairs in config order in the window.
    let done: Vec<Result<Vec<AuditEntry>, CodecError>> = futures::stream::iter(jobs)
        .buffered(PAIRS_AT_ONCE)
        .collect()
        .await;
    let mut entries = Vec::new();
    for d in done {
        entries.extend(d?);
    }
    Ok(entries)
}

/// One (name server, subnet) pair's queries, grouped by answer.
async fn pair(
    cfg: &EcsAudit,
    served_by: &ServedBy,
    ns: std::net::SocketAddr,
    subnet: ipnet::IpNet,
    timeout: std::time::Duration,
    stop: &CancellationToken,
) -> Result<Vec<AuditEntry>, CodecError> {
    let mut entries = Vec::new();
    // Answers can differ between samples (weighted records), so group by
    // the answer set.
    let mut by_answer: BTreeMap<(String, Vec<IpAddr>), (u64, hdrhistogram::Histogram<u64>)> =
        BTreeMap::new();
    let mut errors: BTreeMap<ErrorClass, u64> = BTreeMap::new();
    for _ in 0..cfg.samples {
        if stop.is_cancelled() {
            break;
        }
        match query_with_subnet(ns, cfg.protocol, &cfg.name, subnet, timeout).await {
            Err(f) => *errors.entry(f.class).or_default() += 1,
            Ok(ans) => {
                if let Some(class) = rcode_class(ans.rcode) {
                    *errors.entry(class).or_default() += 1;
                }
                let mut addrs = ans.addresses.clone();
                addrs.sort();
                let e = by_answer
                    .entry((rcode_name(ans.rcode), addrs))
                    .or_insert_with(|| (0, codec::new_histogram()));
                e.0 += 1;
                codec::record(&mut e.1, micros(ans.elapsed));
            }
        }
    }
    if by_answer.is_empty() {
        entries.push(AuditEntry {
            name: cfg.name.clone(),
            nameserver: ns.to_string(),
            subnet: subnet.to_string(),
            rcode: "none".into(),
            answers: Vec::new(),
            region: None,
            count: 0,
            histogram: None,
            errors: errors.clone(),
        });
    }
    for ((rcode, addrs), (count, h)) in by_answer {
        let region = addrs
            .iter()
            .find_map(|a| served_by.addresses.get(a).cloned());
        entries.push(AuditEntry {
            name: cfg.name.clone(),
            nameserver: ns.to_string(),
            subnet: subnet.to_string(),
            rcode,
            answers: addrs.iter().map(ToString::to_string).collect(),
            region,
            count,
            histogram: Some(codec::encode(&h)?),
            // Errors belong to the (server, subnet) pair: report them once.
            errors: std::mem::take(&mut errors),
        });
    }
    Ok(entries)
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
        let served_by = ServedBy::default();
        let audit = audit(&cfg, &served_by, std::time::Duration::from_secs(600), &stop);
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
        let (entries, ()) = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            tokio::join!(audit, listen)
        })
        .await
        .expect("every subnet asked at once");
        assert!(entries.unwrap().is_empty(), "stopped before any answer");
    }
}
