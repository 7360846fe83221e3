//! The routing an advice asks for, in the control plane's terms: DNS
//! weights per Route 53 location (read from the advice's traffic policy
//! document, which already groups geos into locations and splits them by
//! weight) and a traffic dial per accelerator region. Pure.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::routing::RoutingState;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("advice: {0} (was it written by `geolat advise --json`?)")]
pub struct AdviceError(pub String);

/// A single-region location's weight: any non-zero weight says "all".
const ALL: u8 = 255;

/// The routing `advice` (a geolat-plan JSON document) proposes.
pub fn desired(advice: &Value) -> Result<RoutingState, AdviceError> {
    let bad = |what: &str| AdviceError(what.to_owned());
    let doc = advice
        .get("traffic_policy")
        .ok_or_else(|| bad("no `traffic_policy`"))?;
    let rules = doc
        .get("Rules")
        .ok_or_else(|| bad("traffic_policy has no Rules"))?;
    let start = doc
        .get("StartRule")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("traffic_policy has no StartRule"))?;
    let entries = rules
        .get(start)
        .and_then(|r| r.get("Locations"))
        .and_then(Value::as_array)
        .ok_or_else(|| bad("traffic_policy's start rule is not a geo rule with Locations"))?;
    let mut dns = BTreeMap::new();
    for e in entries {
        let key = if e.get("IsDefault").and_then(Value::as_bool) == Some(true) {
            "default".to_owned()
        } else if let Some(c) = e.get("Country").and_then(Value::as_str) {
            match e.get("Subdivision").and_then(Value::as_str) {
                Some(s) => format!("subdivision:{c}-{s}"),
                None => format!("country:{c}"),
            }
        } else if let Some(c) = e.get("Continent").and_then(Value::as_str) {
            format!("continent:{c}")
        } else {
            return Err(bad(
                "a geo location entry names no Country, Continent or IsDefault",
            ));
        };
        let weights = if let Some(region) = e.get("EndpointReference").and_then(Value::as_str) {
            BTreeMap::from([(region.to_owned(), ALL)])
        } else if let Some(rule) = e.get("RuleReference").and_then(Value::as_str) {
            weighted(rules.get(rule), rule)?
        } else {
            return Err(bad(
                "a geo location entry has no EndpointReference or RuleReference",
            ));
        };
        dns.insert(key, weights);
    }
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

fn weighted(rule: Option<&Value>, id: &str) -> Result<BTreeMap<String, u8>, AdviceError> {
    let items = rule
        .filter(|r| r.get("RuleType").and_then(Value::as_str) == Some("weighted"))
        .and_then(|r| r.get("Items"))
        .and_then(Value::as_array)
        .ok_or_else(|| AdviceError(format!("rule `{id}` is not a weighted rule with Items")))?;
    items
        .iter()
        .map(|i| {
            let region = i.get("EndpointReference").and_then(Value::as_str);
            let weight = i
                .get("Weight")
                .and_then(Value::as_u64)
                .and_then(|w| u8::try_from(w).ok());
            match (region, weight) {
                (Some(r), Some(w)) => Ok((r.to_owned(), w)),
                _ => Err(AdviceError(format!(
                    "rule `{id}` has an item without an endpoint or a weight 0..=255"
                ))),
            }
        })
        .collect()
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
