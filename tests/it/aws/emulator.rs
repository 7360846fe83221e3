//! The emulator gateway must not hide bugs: its Route 53 record sets
//! behave as Route 53's do, change by change, so a test passing here says
//! something about AWS. Route 53's rules held to: a change batch applies
//! atomically, all or nothing; a record set is named by (name, type, set
//! identifier); DELETE must give a record set exactly as it is, CREATE
//! must not find it, UPSERT creates or replaces it.
//!
//! moto deletes every record set carrying a deleted record's set
//! identifier whatever its name, and the gateway once put back only those
//! the batch did not touch: a batch upserting `geolat:us-east-1` under one
//! name and deleting it under another, geolat's most common batch, lost
//! the upsert. All three tests below failed on that gateway.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_route53::Client;
use aws_sdk_route53::error::ProvideErrorMetadata as _;
use aws_sdk_route53::types::builders::ResourceRecordSetBuilder;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, GeoLocation, ResourceRecord, ResourceRecordSet, RrType,
};
use geolat::aws::layout::{Layout, Record, Rule, Weights};
use geolat::aws::route53::{Route53, SyncWait};

use super::{Gateway, hosted_zone};

/// A record set as a listing shows it, in one comparable line: what
/// Route 53 would answer with, field by field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Listed {
    name: String,
    kind: String,
    set_id: Option<String>,
    routing: String,
    ttl: Option<i64>,
    values: Vec<String>,
}

fn fqdn(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}

fn listed(r: &ResourceRecordSet) -> Listed {
    let routing = match (r.weight(), r.geo_location()) {
        (Some(w), None) => format!("weighted {w}"),
        (None, Some(g)) => {
            let at = match (g.continent_code(), g.country_code(), g.subdivision_code()) {
                (Some(c), None, None) => format!("continent:{c}"),
                (None, Some("*"), None) => "default".to_owned(),
                (None, Some(c), None) => format!("country:{c}"),
                (None, Some(c), Some(s)) => format!("subdivision:{c}-{s}"),
                other => panic!("unexpected geolocation {other:?}"),
            };
            format!("geo {at}")
        }
        (None, None) => "simple".to_owned(),
        other => panic!("both weighted and geolocation: {other:?}"),
    };
    let mut values: Vec<String> = r
        .resource_records()
        .iter()
        .map(|v| v.value().to_owned())
        .collect();
    values.sort();
    Listed {
        name: fqdn(r.name()),
        kind: r.r#type().as_str().to_owned(),
        set_id: r.set_identifier().map(str::to_owned),
        routing,
        ttl: r.ttl(),
        values,
    }
}

/// A geolat record as the listing must show it.
fn expected(r: &Record) -> Listed {
    Listed {
        name: r.name.clone(),
        kind: "CNAME".to_owned(),
        set_id: Some(r.set_id.clone()),
        routing: match &r.rule {
            Rule::Weighted(w) => format!("weighted {w}"),
            Rule::Geo(l) => format!("geo {l}"),
        },
        ttl: Some(r.ttl),
        values: vec![r.value.clone()],
    }
}

/// The zone's record sets, every page of `page` of them, leaving out the
/// SOA and NS sets Route 53 makes with the zone.
async fn listing_by(r53: &Client, zone: &str, page: i32) -> Vec<Listed> {
    let mut out = Vec::new();
    let mut next: Option<(String, RrType, Option<String>)> = None;
    loop {
        let mut req = r53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .max_items(page);
        if let Some((name, kind, id)) = next.take() {
            req = req
                .start_record_name(name)
                .start_record_type(kind)
                .set_start_record_identifier(id);
        }
        let page = req.send().await.unwrap();
        out.extend(
            page.resource_record_sets()
                .iter()
                .filter(|r| !matches!(r.r#type(), RrType::Soa | RrType::Ns))
                .map(listed),
        );
        if !page.is_truncated() {
            break;
        }
        next = Some((
            page.next_record_name().unwrap().to_owned(),
            page.next_record_type().unwrap().clone(),
            page.next_record_identifier().map(str::to_owned),
        ));
    }
    let mut sorted = out.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        out.len(),
        "a record listed twice in pages of {page}: {out:#?}"
    );
    sorted
}

/// The zone's record sets in pages of 7, so paging by name, type and
/// identifier is exercised too.
async fn listing(r53: &Client, zone: &str) -> Vec<Listed> {
    listing_by(r53, zone, 7).await
}

fn cname_builder(
    name: &str,
    set_id: Option<&str>,
    ttl: i64,
    value: &str,
) -> ResourceRecordSetBuilder {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Cname)
        .set_set_identifier(set_id.map(str::to_owned))
        .ttl(ttl)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap())
}

fn cname(name: &str, set_id: Option<&str>, ttl: i64, value: &str) -> ResourceRecordSet {
    cname_builder(name, set_id, ttl, value).build().unwrap()
}

/// A weighted CNAME, built the way geolat builds its own.
fn weighted(name: &str, set_id: &str, weight: i64, value: &str) -> ResourceRecordSet {
    cname_builder(name, Some(set_id), 60, value)
        .weight(weight)
        .build()
        .unwrap()
}

/// One change batch, as sent; Route 53's error code if it was refused.
async fn change(
    r53: &Client,
    zone: &str,
    changes: Vec<(ChangeAction, ResourceRecordSet)>,
) -> Result<(), String> {
    let mut batch = ChangeBatch::builder();
    for (action, set) in changes {
        batch = batch.changes(
            Change::builder()
                .action(action)
                .resource_record_set(set)
                .build()
                .unwrap(),
        );
    }
    r53.change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch.build().unwrap())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.code().unwrap_or("no error code").to_owned())
}

fn sorted(mut records: Vec<Listed>) -> Vec<Listed> {
    records.sort();
    records
}

#[tokio::test]
async fn upsert_under_one_name_and_delete_under_another_of_one_set_identifier() {
    let gw = Gateway::start();
    let sdk = gw.sdk().await;
    let zone = hosted_zone(&sdk, "example.com").await;
    let r53 = geolat::aws::route53_client(&sdk);
    let a = "country-de.geolat.api.example.com.";
    let b = "default.geolat.api.example.com.";
    let c = "continent-eu.geolat.api.example.com.";
    let us = "us-east-1.lb.example.net.";
    let eu = "eu-west-1.lb.example.net.";
    let before = [
        weighted(a, "geolat:us-east-1", 100, us),
        weighted(a, "geolat:eu-west-1", 50, eu),
        weighted(b, "geolat:us-east-1", 200, us),
        weighted(b, "geolat:eu-west-1", 10, eu),
        weighted(c, "geolat:us-east-1", 30, us),
        cname("www.example.com.", None, 300, "elsewhere.example.net."),
    ];
    let creates = before
        .iter()
        .map(|r| (ChangeAction::Create, r.clone()))
        .collect();
    change(&r53, &zone, creates).await.unwrap();
    assert_eq!(
        listing(&r53, &zone).await,
        sorted(before.iter().map(listed).collect())
    );

    // The batch geolat sends when us-east-1 takes all of DE and leaves
    // the default set.
    let upserted = weighted(
        a,
        "geolat:us-east-1",
        255,
        "us-east-1.other-lb.example.net.",
    );
    change(
        &r53,
        &zone,
        vec![
            (ChangeAction::Upsert, upserted.clone()),
            (ChangeAction::Delete, before[2].clone()),
        ],
    )
    .await
    .unwrap();

    let after = listing(&r53, &zone).await;
    let mut want = vec![listed(&upserted)];
    want.extend([1, 3, 4, 5].map(|i| listed(&before[i])));
    assert_eq!(
        after,
        sorted(want),
        "A upserted, B's us-east-1 gone, the rest intact"
    );
}

#[tokio::test]
async fn a_change_batch_applies_whole_or_not_at_all() {
    let gw = Gateway::start();
    let sdk = gw.sdk().await;
    let zone = hosted_zone(&sdk, "example.com").await;
    let r53 = geolat::aws::route53_client(&sdk);
    let a = "a.example.com.";
    let b = "b.example.com.";
    let one = weighted(a, "x", 100, "one.example.net.");
    let two = weighted(b, "x", 200, "two.example.net.");
    change(
        &r53,
        &zone,
        vec![
            (ChangeAction::Create, one.clone()),
            (ChangeAction::Create, two.clone()),
        ],
    )
    .await
    .unwrap();
    let start = listing(&r53, &zone).await;
    let moved = weighted(a, "x", 1, "moved.example.net.");

    let refused: [(&str, Vec<(ChangeAction, ResourceRecordSet)>); 4] = [
        (
            "a DELETE whose weight differs from the record's",
            vec![
                (ChangeAction::Upsert, moved.clone()),
                (
                    ChangeAction::Delete,
                    weighted(b, "x", 199, "two.example.net."),
                ),
            ],
        ),
        (
            "a DELETE of a record that is not there",
            vec![
                (ChangeAction::Upsert, moved.clone()),
                (
                    ChangeAction::Delete,
                    weighted("c.example.com.", "x", 200, "two.example.net."),
                ),
            ],
        ),
        (
            "a CREATE of a record that is there",
            vec![
                (ChangeAction::Upsert, moved.clone()),
                (ChangeAction::Create, two.clone()),
            ],
        ),
        (
            "a weight over 255",
            vec![
                (ChangeAction::Upsert, moved.clone()),
                (
                    ChangeAction::Upsert,
                    weighted(b, "x", 256, "two.example.net."),
                ),
            ],
        ),
    ];
    for (what, changes) in refused {
        let err = change(&r53, &zone, changes).await.unwrap_err();
        assert!(
            err == "InvalidChangeBatch" || err == "InvalidInput",
            "{what}: {err}"
        );
        assert_eq!(listing(&r53, &zone).await, start, "{what}: nothing changed");
    }

    // DELETE then CREATE of one record set in one batch replaces it.
    change(
        &r53,
        &zone,
        vec![
            (ChangeAction::Delete, one.clone()),
            (ChangeAction::Create, moved.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        listing(&r53, &zone).await,
        sorted(vec![listed(&moved), listed(&two)])
    );
}

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", 2014): a seeded sequence, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const REGIONS: [&str; 6] = [
    "us-east-1",
    "us-west-2",
    "eu-central-1",
    "eu-west-1",
    "ap-northeast-1",
    "sa-east-1",
];

const LOCATIONS: [&str; 6] = [
    "continent:EU",
    "continent:AS",
    "country:DE",
    "country:JP",
    "country:BR",
    "subdivision:US-CA",
];

/// `default` and a random subset of the other locations, each over 3 to
/// 6 regions with weights 0..=255 (a third of them 0, so records come and
/// go), at least one of them not 0.
fn random_routing(rng: &mut Rng) -> Weights {
    let mut keys = vec!["default"];
    keys.extend(LOCATIONS.iter().filter(|_| rng.below(2) == 0));
    keys.into_iter()
        .map(|key| {
            let mut regions = REGIONS;
            for i in 0..regions.len() {
                let j = i + rng.below(regions.len() - i);
                regions.swap(i, j);
            }
            let count = 3 + rng.below(4);
            let mut weights: BTreeMap<String, u8> = regions[..count]
                .iter()
                .map(|r| {
                    let w = if rng.below(3) == 0 {
                        0
                    } else {
                        rng.below(256) as u8
                    };
                    (r.to_string(), w)
                })
                .collect();
            if weights.values().all(|w| *w == 0) {
                let first = regions[0].to_string();
                weights.insert(first, 1 + rng.below(255) as u8);
            }
            (key.to_owned(), weights)
        })
        .collect()
}

/// Records of others in the zone, some of them where geolat's are: the
/// same names, the same set identifiers. No batch of geolat's may touch
/// them.
fn others(zone: &str) -> Vec<ResourceRecordSet> {
    let geo_fr = cname_builder(
        &format!("api.{zone}."),
        Some("manual:FR"),
        60,
        "fr.example.net.",
    )
    .geo_location(GeoLocation::builder().country_code("FR").build())
    .build()
    .unwrap();
    let txt = ResourceRecordSet::builder()
        .name(format!("_meta.{zone}."))
        .r#type(RrType::Txt)
        .ttl(3600)
        .resource_records(
            ResourceRecord::builder()
                .value("\"owner=ops\"")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    vec![
        cname(&format!("www.{zone}."), None, 300, "elsewhere.example.net."),
        weighted(
            &format!("other.{zone}."),
            "geolat:us-east-1",
            10,
            "us-east-1.lb.example.net.",
        ),
        weighted(
            &format!("country-jp.geolat.api.{zone}."),
            "blue",
            7,
            "blue.example.net.",
        ),
        geo_fr,
        txt,
    ]
}

/// Random routings applied one after another through geolat's own layout
/// and Route 53 client; after each batch the zone holds exactly the last
/// routing's records and the others' records, nothing more or less.
#[tokio::test]
async fn random_plan_sequences_leave_exactly_the_last_plans_records() {
    let gw = Gateway::start();
    let sdk: SdkConfig = gw.sdk().await;
    let r53 = geolat::aws::route53_client(&sdk);
    let targets: BTreeMap<String, String> = REGIONS
        .iter()
        .map(|r| (r.to_string(), format!("{r}.lb.example.net")))
        .collect();
    for seed in [1_u64, 2, 3, 4, 5] {
        let zone_name = format!("seed{seed}.example.com");
        let zone = hosted_zone(&sdk, &zone_name).await;
        let layout = Layout::new(&format!("api.{zone_name}"), 60, targets.clone());
        let route53 = Route53::new(
            r53.clone(),
            &zone,
            layout.clone(),
            SyncWait {
                every: Duration::from_millis(20),
                timeout: Duration::from_secs(10),
            },
        );
        let others = others(&zone_name);
        let creates = others
            .iter()
            .map(|r| (ChangeAction::Create, r.clone()))
            .collect();
        change(&r53, &zone, creates).await.unwrap();
        let fixed: Vec<Listed> = others.iter().map(listed).collect();
        assert_eq!(listing(&r53, &zone).await, sorted(fixed.clone()));

        let mut rng = Rng(seed);
        for step in 0..30 {
            let routing = random_routing(&mut rng);
            let desired = layout.records(&routing).unwrap();
            // As geolat applies: read the zone, diff its own records.
            let current = route53
                .owned(&route53.all_records().await.unwrap())
                .unwrap();
            let changes = Layout::diff(&current, &desired);
            route53
                .apply(&changes, "emulator property test")
                .await
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}\n{changes:#?}"));
            let mut model = fixed.clone();
            model.extend(desired.iter().map(expected));
            let model = sorted(model);
            // In one page, as geolat reads it, then in small pages.
            assert_eq!(
                listing_by(&r53, &zone, 300).await,
                model,
                "seed {seed} step {step}: the zone after\n{changes:#?}"
            );
            assert_eq!(
                listing(&r53, &zone).await,
                model,
                "seed {seed} step {step}: paged by 7"
            );
        }
    }
}
