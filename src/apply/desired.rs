//! The routing an advice asks for, in the control plane's terms: DNS
//! weights per Route 53 location (read from the advice's traffic policy
//! document, which already groups geos into locations and splits them by
//! weight) and a traffic dial per accelerator region. Pure.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::aws::policy_doc;
use crate::routing::RoutingState;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0} (was it written by `geolat advise --json`?)")]
pub struct AdviceError(pub String);

/// The routing `advice` (a geolat-plan JSON document) proposes.
pub fn desired(advice: &Value) -> Result<RoutingState, AdviceError> {
    let doc = advice
        .get("traffic_policy")
        .ok_or_else(|| AdviceError("no `traffic_policy`".into()))?;
    // The advice's endpoints are named by region: no targets needed.
    let dns = policy_doc::weights(doc, &BTreeMap::new()).map_err(|e| AdviceError(e.to_string()))?;
    let mut accelerator = BTreeMap::new();
    if let Some(regions) = advice.get("accelerator").and_then(Value::as_object) {
        for (region, setting) in regions {
            let dial = setting
                .get("traffic_dial")
                .and_then(Value::as_f64)
                .ok_or_else(|| AdviceError(format!("accelerator.{region} has no traffic_dial")))?;
            accelerator.insert(region.clone(), dial);
        }
    }
    Ok(RoutingState { dns, accelerator })
}

/// Demand (rps) behind each DNS location of `state`, from the advice's
/// locations and geos: a country or continent location carries its geos'
/// demand, `default` the rest. Empty (locations then weigh equally in the
/// share guard) when a location of `state` has no demand in the advice.
pub fn demand(advice: &Value, state: &RoutingState) -> BTreeMap<String, f64> {
    let total: f64 = advice
        .get("geos")
        .and_then(Value::as_object)
        .map(|g| {
            g.values()
                .filter_map(|g| g.get("demand_rps").and_then(Value::as_f64))
                .sum()
        })
        .unwrap_or(0.0);
    let mut out = BTreeMap::new();
    for l in advice
        .get("locations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(kind), Some(code), Some(d)) = (
            l.get("kind").and_then(Value::as_str),
            l.get("code").and_then(Value::as_str),
            l.get("demand_rps").and_then(Value::as_f64),
        ) else {
            continue;
        };
        let key = format!("{kind}:{code}");
        if state.dns.contains_key(&key) {
            *out.entry(key).or_insert(0.0) += d;
        }
    }
    if state.dns.contains_key("default") {
        let assigned: f64 = out.values().sum();
        out.insert("default".into(), (total - assigned).max(0.0));
    }
    if state.dns.keys().any(|l| !out.contains_key(l)) || total <= 0.0 {
        return BTreeMap::new();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn locations_and_dials_come_from_the_advice() {
        let advice = json!({
            "traffic_policy": {
                "StartRule": "geo",
                "Rules": {
                    "geo": {"RuleType": "geo", "Locations": [
                        {"EndpointReference": "eu-central-1", "Country": "DE"},
                        {"RuleReference": "w-eu", "Continent": "EU"},
                        {"EndpointReference": "us-east-1", "Country": "US", "Subdivision": "VA"},
                        {"RuleReference": "w-default", "IsDefault": true}
                    ]},
                    "w-eu": {"RuleType": "weighted", "Items": [
                        {"EndpointReference": "eu-central-1", "Weight": 100},
                        {"EndpointReference": "eu-west-1", "Weight": 155}
                    ]},
                    "w-default": {"RuleType": "weighted", "Items": [
                        {"EndpointReference": "us-east-1", "Weight": 1}
                    ]}
                }
            },
            "accelerator": {"eu-west-1": {"traffic_dial": 40.0, "endpoint_weight": 128}}
        });
        let d = desired(&advice).unwrap();
        assert_eq!(
            d.dns["country:DE"],
            BTreeMap::from([("eu-central-1".into(), 255)])
        );
        assert_eq!(d.dns["continent:EU"]["eu-west-1"], 155);
        assert_eq!(d.dns["subdivision:US-VA"]["us-east-1"], 255);
        assert_eq!(d.dns["default"]["us-east-1"], 1);
        assert_eq!(d.accelerator["eu-west-1"], 40.0);
    }

    #[test]
    fn other_documents_are_refused_by_name() {
        assert!(
            desired(&json!({"world": "x"}))
                .unwrap_err()
                .0
                .contains("traffic_policy")
        );
        let dangling = json!({"traffic_policy": {"StartRule": "geo", "Rules": {"geo": {
            "RuleType": "geo", "Locations": [{"RuleReference": "nope", "IsDefault": true}]}}}});
        assert!(desired(&dangling).unwrap_err().0.contains("`nope`"));
    }
}
