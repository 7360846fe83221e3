//! The traffic policy validator against documents that break each rule.

use geolat::advise::policy_check::validate;
use serde_json::{Value, json};

fn good() -> Value {
    json!({
        "AWSPolicyFormatVersion": "2015-10-01",
        "RecordType": "A",
        "StartRule": "geo",
        "Endpoints": {
            "eu": {"Type": "value", "Value": "192.0.2.1"},
            "us": {"Type": "elastic-load-balancer", "Value": "lb-1.us-east-1.elb.amazonaws.com"}
        },
        "Rules": {
            "geo": {"RuleType": "geo", "Locations": [
                {"EndpointReference": "eu", "Continent": "EU"},
                {"RuleReference": "split", "Country": "US", "Subdivision": "VA"},
                {"RuleReference": "split", "IsDefault": true}
            ]},
            "split": {"RuleType": "weighted", "Items": [
                {"EndpointReference": "eu", "Weight": 10},
                {"EndpointReference": "us", "Weight": "245", "EvaluateTargetHealth": true}
            ]}
        }
    })
}

fn problems(doc: &Value) -> Vec<String> {
    match validate(doc) {
        Ok(()) => Vec::new(),
        Err(p) => p.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_documented_document_passes() {
    assert_eq!(problems(&good()), Vec::<String>::new());
}

#[test]
fn each_broken_rule_is_reported_with_its_path() {
    // (JSON pointer, value to put there, what the problem must say)
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/AWSPolicyFormatVersion",
            json!("2016-01-01"),
            "AWSPolicyFormatVersion: must be one of",
        ),
        ("/RecordType", json!("ALIAS"), "RecordType: must be one of"),
        (
            "/StartRule",
            json!("nope"),
            "StartRule: \"nope\" is not a rule",
        ),
        (
            "/Endpoints/eu/Value",
            json!("not-an-ip"),
            "Endpoints.eu.Value: `not-an-ip` is not an IPv4 address",
        ),
        (
            "/Endpoints/eu/Type",
            json!("lambda"),
            "Endpoints.eu.Type: must be one of",
        ),
        (
            "/Rules/split/Items/0/Weight",
            json!(256),
            "Rules.split.Items[0].Weight: must be an integer 0..255",
        ),
        (
            "/Rules/split/Items/0/Weight",
            json!(-1),
            "Weight: must be an integer 0..255",
        ),
        (
            "/Rules/split/Items/0/EndpointReference",
            json!("mars"),
            "\"mars\" is not an endpoint",
        ),
        (
            "/Rules/geo/Locations/0/Continent",
            json!("XX"),
            "Continent: `XX` must be one of",
        ),
        (
            "/Rules/geo/Locations/1/Country",
            json!("usa"),
            "`usa` is not an ISO 3166-1 alpha-2 code",
        ),
        (
            "/Rules/geo/Locations/2/IsDefault",
            json!(false),
            "needs exactly one IsDefault location, has 0",
        ),
        (
            "/Rules/geo/Locations/0/IsDefault",
            json!(true),
            "needs exactly one of Continent, Country and IsDefault",
        ),
        (
            "/Rules/geo/Locations/1/RuleReference",
            json!("geo"),
            "rule references form a cycle",
        ),
        (
            "/Rules/split/RuleType",
            json!("random"),
            "Rules.split.RuleType: must be one of",
        ),
        (
            "/Rules/split/Items",
            json!([]),
            "Rules.split.Items: must be a non-empty array",
        ),
        (
            "/Rules/geo/Locations/0/Contnent",
            json!("EU"),
            "Locations[0].Contnent: unknown field",
        ),
    ];
    for (pointer, value, needle) in cases {
        let mut doc = good();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = doc.pointer_mut(parent).unwrap();
        match target {
            Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
            other => other[key] = value,
        }
        let got = problems(&doc);
        assert!(got.iter().any(|p| p.contains(needle)), "{pointer}: {got:?}");
    }
}

#[test]
fn structural_problems_are_caught() {
    let mut doc = good();
    doc["StartEndpoint"] = json!("eu");
    assert!(
        problems(&doc)
            .iter()
            .any(|p| p.contains("exactly one of StartRule and StartEndpoint"))
    );
    let mut doc = good();
    doc["Rules"]["geo"]["Locations"][0]["RuleReference"] = json!("split");
    assert!(
        problems(&doc)
            .iter()
            .any(|p| p.contains("exactly one of EndpointReference and RuleReference"))
    );
    let mut doc = good();
    doc["Rules"]["geo"]["Locations"][1] = json!({"EndpointReference": "eu", "Continent": "EU"});
    assert!(problems(&doc).iter().any(|p| p.contains("appears twice")));
    let mut doc = good();
    doc["Rules"]["geo"]["Locations"][0] = json!({"EndpointReference": "eu", "Subdivision": "VA", "IsDefault": false, "Continent": "EU"});
    assert!(
        problems(&doc)
            .iter()
            .any(|p| p.contains("Subdivision: needs a Country"))
    );
    assert_eq!(validate(&json!([])).unwrap_err()[0].path, "$");
}
