//! The three ways to reach a service: route53 (through DNS, and the
//! authoritative ECS audit), accelerator (static addresses) and direct.

use std::net::IpAddr;
use std::time::Duration;

use geolat::config::{DnsProtocol, EcsAudit, PathKind, Target};
use geolat::lab::dns::{DnsTable, LabDns, NameRule};
use geolat::lab::endpoint::Delays;
use geolat::window::measure;
use tokio_util::sync::CancellationToken;

use crate::util;

const SERVICE: &str = "api.lab.geolat.test";

/// Two regions on one port (127.0.1.1 and 127.0.1.2), and DNS that sends
/// clients in 127.0.2.0/24 to the first and 10.20.0.0/16 (by ECS) or
/// 127.0.3.0/24 to the second.
async fn two_regions() -> (Vec<geolat::lab::endpoint::Endpoint>, LabDns, u16) {
    let a = util::endpoint("us-east-1", "127.0.1.1:0", Delays::default(), None).await;
    let port = a.addr().port();
    let b = util::endpoint(
        "eu-central-1",
        &format!("127.0.1.2:{port}"),
        Delays::default(),
        None,
    )
    .await;
    let ip_a: IpAddr = "127.0.1.1".parse().unwrap();
    let ip_b: IpAddr = "127.0.1.2".parse().unwrap();
    let mut table = DnsTable::default();
    table
        .insert(
            SERVICE,
            NameRule::Addresses {
                default: vec![ip_a],
                by_subnet: vec![
                    ("127.0.2.0/24".parse().unwrap(), vec![ip_a]),
                    ("127.0.3.0/24".parse().unwrap(), vec![ip_b]),
                    ("10.20.0.0/16".parse().unwrap(), vec![ip_b]),
                ],
            },
        )
        .unwrap();
    let dns = LabDns::start("127.0.0.1:0".parse().unwrap(), table)
        .await
        .unwrap();
    (vec![a, b], dns, port)
}

fn region_map(s: &mut geolat::config::ProbeSettings) {
    s.served_by
        .addresses
        .insert("127.0.1.1".parse().unwrap(), "us-east-1".into());
    s.served_by
        .addresses
        .insert("127.0.1.2".parse().unwrap(), "eu-central-1".into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route53_path_follows_dns_per_client_geo() {
    let (eps, dns, port) = two_regions().await;
    let url = format!("https://{SERVICE}:{port}/").parse().unwrap();
    let target = Target {
        id: "route53".into(),
        path: PathKind::Route53,
        region: None,
        url,
        addresses: Vec::new(),
    };
    for (source, expect) in [("127.0.2.9", "us-east-1"), ("127.0.3.9", "eu-central-1")] {
        let mut s = util::settings(Some(dns.addr()));
        s.source_address = Some(source.parse().unwrap());
        let a = util::prober(s).attempt(&target, 0).await;
        assert!(a.failure.is_none(), "{:?}", a.failure);
        assert!(a.dns.is_some());
        assert_eq!(a.served_by.as_deref(), Some(expect), "client {source}");
    }
    for e in eps {
        e.shutdown(Duration::ZERO).await;
    }
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_audit_tells_which_region_each_subnet_gets() {
    let (eps, dns, _) = two_regions().await;
    let mut s = util::settings(None);
    region_map(&mut s);
    for protocol in [DnsProtocol::Udp, DnsProtocol::Tcp] {
        let audit = EcsAudit {
            name: SERVICE.into(),
            nameservers: vec![dns.addr()],
            protocol,
            subnets: vec![
                "10.20.30.0/24".parse().unwrap(),
                "192.0.2.0/24".parse().unwrap(),
            ],
            samples: 3,
        };
        let entries = measure::audit(
            &audit,
            &s.served_by,
            Duration::from_secs(1),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(entries.len(), 2, "{entries:?}");
        let by_subnet = |net: &str| entries.iter().find(|e| e.subnet == net).unwrap();
        let inside = by_subnet("10.20.30.0/24");
        assert_eq!(inside.region.as_deref(), Some("eu-central-1"));
        assert_eq!(inside.answers, vec!["127.0.1.2"]);
        assert_eq!(inside.count, 3);
        assert_eq!(inside.rcode, "NOERROR");
        let elsewhere = by_subnet("192.0.2.0/24");
        assert_eq!(elsewhere.region.as_deref(), Some("us-east-1"));
        assert!(elsewhere.histogram.is_some());
    }
    for e in eps {
        e.shutdown(Duration::ZERO).await;
    }
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_audit_counts_failing_answers() {
    let mut table = DnsTable::default();
    table
        .insert(
            "broken.lab.geolat.test",
            NameRule::Fail(hickory_proto::op::ResponseCode::ServFail),
        )
        .unwrap();
    let dns = LabDns::start("127.0.0.1:0".parse().unwrap(), table)
        .await
        .unwrap();
    let audit = EcsAudit {
        name: "broken.lab.geolat.test".into(),
        nameservers: vec![dns.addr()],
        protocol: DnsProtocol::Udp,
        subnets: vec!["10.20.30.0/24".parse().unwrap()],
        samples: 2,
    };
    let entries = measure::audit(
        &audit,
        &Default::default(),
        Duration::from_secs(1),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    let total: u64 = entries.iter().map(|e| e.errors.values().sum::<u64>()).sum();
    assert_eq!(total, 2, "{entries:?}");
    dns.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accelerator_static_addresses_are_each_measured() {
    let (eps, dns, port) = two_regions().await;
    let target = Target {
        id: "accelerator".into(),
        path: PathKind::Accelerator,
        region: None,
        url: format!("https://{SERVICE}:{port}/").parse().unwrap(),
        addresses: vec!["127.0.1.1".parse().unwrap(), "127.0.1.2".parse().unwrap()],
    };
    let mut s = util::settings(None);
    s.served_by.header = None;
    region_map(&mut s);
    let prober = util::prober(s);
    let mut seen = Vec::new();
    for i in 0..4 {
        let a = prober.attempt(&target, i).await;
        assert!(a.failure.is_none(), "{:?}", a.failure);
        assert!(a.dns.is_none(), "static addresses need no DNS");
        seen.push(a.served_by.unwrap());
    }
    assert_eq!(
        seen,
        ["us-east-1", "eu-central-1", "us-east-1", "eu-central-1"]
    );
    assert_eq!(dns.queries(), 0);
    for e in eps {
        e.shutdown(Duration::ZERO).await;
    }
    dns.shutdown().await;
}
