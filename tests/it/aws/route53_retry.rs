//! Issue 9, point 7: `ChangeResourceRecordSets` is not idempotent, so a
//! batch whose answer was lost is never blindly sent again. The gateway's
//! "after" faults apply a batch and then drop the connection or answer
//! 5xx; "drop" alone loses the batch before Route 53 sees it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use geolat::aws::layout::{Layout, Record};
use geolat::aws::route53::{BatchOutcome, Route53, SyncWait};

use super::{Gateway, hosted_zone};

struct Setup {
    gw: Gateway,
    route53: Route53,
    records: Vec<Record>,
}

async fn setup() -> Setup {
    setup_waiting(SyncWait {
        every: Duration::from_millis(100),
        timeout: Duration::from_secs(20),
    })
    .await
}

async fn setup_waiting(wait: SyncWait) -> Setup {
    let gw = Gateway::start();
    let sdk = gw.sdk().await;
    let zone = hosted_zone(&sdk, "example.com").await;
    let targets = [
        ("eu-west-1", "euw1.lb.example.net"),
        ("us-east-1", "use1.lb.example.net"),
    ]
    .into_iter()
    .map(|(r, t)| (r.to_owned(), t.to_owned()))
    .collect();
    let layout = Layout::new("api.example.com", 60, targets);
    let weights = BTreeMap::from([(
        "default".to_owned(),
        BTreeMap::from([("eu-west-1".to_owned(), 3), ("us-east-1".to_owned(), 1)]),
    )]);
    let records = layout.records(&weights).unwrap();
    let route53 = Route53::new(geolat::aws::route53_client(&sdk), &zone, layout, wait);
    Setup {
        gw,
        route53,
        records,
    }
}

impl Setup {
    fn fault(&self, spec: serde_json::Value) {
        let mut spec = spec;
        spec["match"] = "ChangeResourceRecordSets".into();
        self.gw.control("POST", "/_emulator/faults", &spec);
    }

    fn changes_sent(&self) -> usize {
        self.gw
            .calls()
            .iter()
            .filter(|(op, _, _)| op == "ChangeResourceRecordSets")
            .count()
    }

    async fn owned(&self) -> Vec<Record> {
        let zone = self.route53.all_records().await.unwrap();
        self.route53.owned(&zone).unwrap()
    }

    async fn apply(&self) -> Result<BatchOutcome, geolat::routing::RoutingError> {
        let changes = Layout::diff(&[], &self.records);
        self.route53.apply_batch(&changes, "test").await
    }
}

#[tokio::test]
async fn a_batch_applied_behind_a_dropped_connection_is_sent_once() {
    let s = setup().await;
    s.fault(json!({"error": "InternalFailure", "after": true, "drop": true}));
    let outcome = s.apply().await.unwrap();
    assert!(
        matches!(outcome, BatchOutcome::FoundApplied { .. }),
        "{outcome:?}"
    );
    assert_eq!(s.changes_sent(), 1, "{:?}", s.gw.calls());
    assert_eq!(s.owned().await, s.records);
}

#[tokio::test]
async fn a_batch_applied_behind_a_5xx_is_sent_once() {
    let s = setup().await;
    s.fault(json!({"error": "InternalFailure", "status": 500, "after": true}));
    let outcome = s.apply().await.unwrap();
    assert!(
        matches!(outcome, BatchOutcome::FoundApplied { .. }),
        "{outcome:?}"
    );
    assert_eq!(s.changes_sent(), 1, "{:?}", s.gw.calls());
    assert_eq!(s.owned().await, s.records);
}

#[tokio::test]
async fn a_batch_lost_before_route53_saw_it_is_sent_once_more() {
    let s = setup().await;
    s.fault(json!({"error": "InternalFailure", "drop": true}));
    let outcome = s.apply().await.unwrap();
    assert!(
        matches!(outcome, BatchOutcome::Resent { .. }),
        "{outcome:?}"
    );
    assert_eq!(s.changes_sent(), 2, "{:?}", s.gw.calls());
    assert_eq!(s.owned().await, s.records);
}

#[tokio::test]
async fn a_throttled_batch_is_sent_again_and_a_refused_one_is_not() {
    let s = setup().await;
    s.fault(json!({"error": "ThrottlingException", "status": 400}));
    let outcome = s.apply().await.unwrap();
    assert_eq!(outcome, BatchOutcome::Applied);
    assert_eq!(s.changes_sent(), 2, "{:?}", s.gw.calls());
    assert_eq!(s.owned().await, s.records);

    let s = setup().await;
    s.fault(json!({"error": "InvalidChangeBatch", "status": 400, "message": "no"}));
    let err = s.apply().await.unwrap_err().to_string();
    assert!(err.contains("InvalidChangeBatch: no"), "{err}");
    assert_eq!(s.changes_sent(), 1, "{:?}", s.gw.calls());
    assert!(s.owned().await.is_empty());
}

/// Issue 10 (the INSYNC wait against the emulator): a change Route 53 keeps
/// PENDING for three polls is polled until it is INSYNC, then reported
/// applied; one it keeps PENDING past the wait fails saying it was
/// accepted, and was sent once.
#[tokio::test]
async fn a_pending_change_is_polled_until_insync_and_never_resent() {
    let s = setup().await;
    s.gw.control("POST", "/_emulator/route53/pending", &json!({"polls": 3}));
    let outcome = s.apply().await.unwrap();
    assert_eq!(outcome, BatchOutcome::Applied);
    let polls = |s: &Setup| {
        s.gw.calls()
            .iter()
            .filter(|(op, status, _)| op == "GetChange" && *status == 200)
            .count()
    };
    // PENDING, PENDING, PENDING, INSYNC.
    assert_eq!(polls(&s), 4, "{:?}", s.gw.calls());
    assert_eq!(s.owned().await, s.records);

    let s = setup_waiting(SyncWait {
        every: Duration::from_millis(50),
        timeout: Duration::from_millis(300),
    })
    .await;
    s.gw.control(
        "POST",
        "/_emulator/route53/pending",
        &json!({"polls": 1000}),
    );
    let err = s.apply().await.unwrap_err().to_string();
    assert!(err.contains("still PENDING after 300ms"), "{err}");
    assert!(err.contains("Route 53 will finish it"), "{err}");
    assert_eq!(s.changes_sent(), 1, "{:?}", s.gw.calls());
    assert!(polls(&s) >= 2, "{:?}", s.gw.calls());
}
