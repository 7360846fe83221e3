//! The change workflow (`geolat::apply::execute`) against the lab's
//! routing control, the same road the AWS commands take: issue 9's
//! regressions that do not need Route 53 to show.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, Utc};
use geolat::apply::audit::{self, Action, Outcome};
use geolat::apply::execute::{self, Options, Report};
use geolat::apply::guard::Limits;
use geolat::apply::plan::{self, ChangePlan, Context, Source};
use geolat::apply::{drain, lease};
use geolat::lab::world::{WorldLab, geo_nearest_routing};
use geolat::routing::{RoutingControl, RoutingState};
use geolat::store::Store;
use geolat::world::World;

fn world() -> World {
    let v = serde_json::json!({
        "format": "geolat-world/1",
        "regions": [
            {"id": "west", "lat": 50, "lon": 0, "capacity_rps": 100, "backup": "east"},
            {"id": "east", "lat": 50, "lon": 30, "capacity_rps": 100, "backup": "west"},
            {"id": "south", "lat": 40, "lon": 15, "capacity_rps": 100, "backup": "west"}
        ],
        "geos": [
            {"id": "near-west", "continent": "EU", "country": "FR", "lat": 49, "lon": 1, "demand_rps": 10,
             "latency_ms": {"west": {"p50": 10}, "east": {"p50": 40}, "south": {"p50": 30}}},
            {"id": "near-east", "continent": "EU", "country": "UA", "lat": 49, "lon": 29, "demand_rps": 10,
             "latency_ms": {"west": {"p50": 40}, "east": {"p50": 10}, "south": {"p50": 30}}},
            {"id": "near-south", "continent": "EU", "country": "IT", "lat": 41, "lon": 14, "demand_rps": 10,
             "latency_ms": {"west": {"p50": 30}, "east": {"p50": 30}, "south": {"p50": 10}}}
        ]
    });
    World::from_json(&serde_json::to_vec(&v).unwrap(), "three").unwrap()
}

struct Setup {
    lab: WorldLab,
    store: Store,
    _dir: tempfile::TempDir,
    opts: Options,
}

async fn setup() -> Setup {
    let w = world();
    let initial = geo_nearest_routing(&w);
    let lab = WorldLab::start(w, &HashMap::new(), None, &initial)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("file://{}", dir.path().display())).unwrap();
    let opts = Options {
        apply: true,
        limits: Limits {
            max_share: 1.0,
            allow_unmeasured: true,
            ..Limits::default()
        },
        lease_ttl: Duration::minutes(15),
        who: "tester@lab".into(),
        fallback: dir.path().join("pending"),
    };
    Setup {
        lab,
        store,
        _dir: dir,
        opts,
    }
}

fn ctx(source: Source) -> Context {
    Context {
        created_by: "tester@lab".into(),
        source,
        evidence: None,
        demand: BTreeMap::new(),
        left_out: vec![],
        now: Utc::now(),
    }
}

impl Setup {
    async fn run(&self, p: ChangePlan, action: Action, opts: &Options) -> Report {
        let mut sink = std::io::sink();
        execute::execute(
            &self.lab.routing,
            &self.store,
            p,
            action,
            opts,
            execute::Operator {
                confirm: &mut |_| true,
                out: &mut sink,
            },
            Utc::now(),
        )
        .await
        .unwrap()
    }

    async fn plan_to(&self, after: &RoutingState) -> ChangePlan {
        execute::propose(
            &self.lab.routing,
            after,
            ctx(Source::Advice("a.json".into())),
        )
        .await
        .unwrap()
    }

    async fn state(&self) -> RoutingState {
        self.lab.routing.read().await.unwrap()
    }
}

fn with_dial(s: &RoutingState, region: &str, dial: f64) -> RoutingState {
    let mut s = s.clone();
    s.accelerator.insert(region.into(), dial);
    s
}

/// Issue 9, point 1: a plan whose `after` was edited by hand (digest
/// untouched, or recomputed) applies nothing.
#[tokio::test]
async fn lab_regression_edited_plan_applies_nothing() {
    let s = setup().await;
    let before = s.state().await;
    let mut p = s.plan_to(&with_dial(&before, "west", 80.0)).await;
    p.after.accelerator.insert("west".into(), 1.0);
    let r = s.run(p.clone(), Action::Apply, &s.opts).await;
    let Outcome::Refused(why) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(why.contains("plan_digest"), "{why}");
    p.plan_digest = plan::content_digest(&p);
    let r = s.run(p, Action::Apply, &s.opts).await;
    let Outcome::Refused(why) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(why.contains("not what its `after` takes"), "{why}");
    assert_eq!(s.state().await, before, "nothing applied");
}

/// Issue 9, point 3: the dry run refuses what the apply would refuse
/// (an unknown region), without taking the lease.
#[tokio::test]
async fn lab_regression_dry_run_checks_what_apply_checks() {
    let s = setup().await;
    let before = s.state().await;
    let good = s.plan_to(&with_dial(&before, "west", 80.0)).await;
    // A plan made elsewhere naming a region this control plane lacks.
    let mut after = good.after.clone();
    after.accelerator.insert("atlantis".into(), 50.0);
    let live = s.lab.routing.live().await.unwrap();
    let p = plan::make(
        &live,
        &after,
        good.changes(),
        ctx(Source::Advice("a".into())),
    );
    let dry = Options {
        apply: false,
        ..s.opts.clone()
    };
    let r = s.run(p, Action::Apply, &dry).await;
    let Outcome::Refused(why) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(why.contains("atlantis"), "{why}");
    assert!(
        s.store.keys("locks/").await.unwrap().is_empty(),
        "no lease was taken"
    );
}

/// Issue 9, points 7 and 10: every outcome is an audit record, the lease
/// held by another is its own outcome, and what is applied is the plan.
#[tokio::test]
async fn lab_regression_every_outcome_is_audited() {
    let s = setup().await;
    let before = s.state().await;
    let p = s.plan_to(&with_dial(&before, "west", 80.0)).await;
    let dry = Options {
        apply: false,
        ..s.opts.clone()
    };
    assert_eq!(
        s.run(p.clone(), Action::Apply, &dry).await.outcome,
        Outcome::DryRun
    );
    let mut sink = std::io::sink();
    let no = execute::execute(
        &s.lab.routing,
        &s.store,
        p.clone(),
        Action::Apply,
        &s.opts,
        execute::Operator {
            confirm: &mut |_| false,
            out: &mut sink,
        },
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(no.outcome, Outcome::NotConfirmed);
    let other = lease::acquire(&s.store, "other@host", Duration::minutes(5), Utc::now())
        .await
        .unwrap();
    let busy = s.run(p.clone(), Action::Apply, &s.opts).await;
    assert!(
        matches!(&busy.outcome, Outcome::LeaseBusy(h) if h.contains("other@host")),
        "{:?}",
        busy.outcome
    );
    lease::release(&s.store, &other).await.unwrap();
    assert_eq!(
        s.run(p.clone(), Action::Apply, &s.opts).await.outcome,
        Outcome::Applied
    );
    assert_eq!(s.state().await.accelerator["west"], 80.0);
    // The same plan again: the state moved, so it is refused.
    let again = s.run(p, Action::Apply, &s.opts).await;
    assert!(
        matches!(again.outcome, Outcome::Refused(_)),
        "{:?}",
        again.outcome
    );
    let same = s.plan_to(&s.state().await).await;
    assert_eq!(
        s.run(same, Action::Apply, &s.opts).await.outcome,
        Outcome::NoChanges
    );
    let (records, _) = audit::list(&s.store).await.unwrap();
    let results: Vec<String> = records
        .iter()
        .map(|r| r.result.to_string().split(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        results,
        [
            "dry-run",
            "not-confirmed",
            "lease-busy",
            "applied",
            "refused",
            "no-changes"
        ]
    );
    assert!(records[0].dry_run && !records[3].dry_run);
    assert!(
        s.store.keys("locks/").await.unwrap().is_empty(),
        "lease released"
    );
}

/// Issue 9, points 11 and 12 on the lab: a dry run has nothing to roll
/// back; with two regions drained, restoring one puts back only it.
#[tokio::test]
async fn lab_regression_restore_undoes_only_that_drain() {
    let s = setup().await;
    let start = s.state().await;
    let drain_of = |live: &RoutingState, region: &str, backup: &str| {
        drain::drained(live, region, backup).normalized()
    };
    let p = s.plan_to(&drain_of(&start, "south", "west")).await;
    let dry = Options {
        apply: false,
        ..s.opts.clone()
    };
    let dry_record = s.run(p.clone(), Action::Drain, &dry).await.record;
    assert!(!dry_record.changed_routing(), "a dry run changed nothing");
    let south = s.run(p, Action::Drain, &s.opts).await.record;
    assert!(south.changed_routing());
    let mid = s.state().await;
    let p = s.plan_to(&drain_of(&mid, "east", "west")).await;
    let east = s.run(p, Action::Drain, &s.opts).await.record;
    assert_eq!(east.result, Outcome::Applied);
    let live = s.state().await;
    let back = drain::restored(&live, &south.plan.before, &south.plan.after, "south");
    let p = s.plan_to(&back).await;
    assert_eq!(
        s.run(p, Action::Restore, &s.opts).await.outcome,
        Outcome::Applied
    );
    let now = s.state().await;
    assert_eq!(now.accelerator["east"], 0.0, "east stays drained");
    assert_eq!(now.accelerator["south"], 100.0);
    assert_eq!(
        now.dns["near-south"],
        BTreeMap::from([("south".into(), 255)])
    );
    assert_eq!(now.dns["near-east"], BTreeMap::from([("west".into(), 255)]));
}

/// Issue 9, point 7: an audit record the store will not take is kept
/// locally and uploaded by the next run against that store.
#[tokio::test]
async fn lab_regression_unwritable_audit_is_kept_and_uploaded() {
    let s = setup().await;
    let before = s.state().await;
    let p = s.plan_to(&with_dial(&before, "west", 80.0)).await;
    // `audit` a file, not a directory: the store cannot write under it.
    let root = s._dir.path();
    std::fs::write(root.join("audit"), b"in the way").unwrap();
    let r = s.run(p, Action::Apply, &s.opts).await;
    assert_eq!(r.outcome, Outcome::Applied);
    assert!(
        r.audit
            .starts_with(&root.join("pending").display().to_string()),
        "{}",
        r.audit
    );
    assert_eq!(s.state().await.accelerator["west"], 80.0);
    std::fs::remove_file(root.join("audit")).unwrap();
    let next = s.plan_to(&with_dial(&s.state().await, "west", 70.0)).await;
    s.run(next, Action::Apply, &s.opts).await;
    let (records, _) = audit::list(&s.store).await.unwrap();
    assert_eq!(records.len(), 2, "the kept record was uploaded first");
    assert!(records.iter().any(|x| x.id == r.record.id));
    assert!(
        std::fs::read_dir(root.join("pending"))
            .unwrap()
            .next()
            .is_none()
    );
}
