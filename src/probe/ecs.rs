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
