//! DNS weights as a Route 53 traffic policy document and back (format
//! 2015-10-01: a `geo` start rule whose locations point at a region's
//! endpoint or at a `weighted` rule over endpoints). Pure. The advice's
//! document (`geolat advise`) is read by the same code, so a plan and a
//! live traffic policy are compared in one vocabulary.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::layout::{Location, Weights};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("traffic policy document: {0}")]
pub struct DocError(pub String);

/// The document that routes `weights`, with each region's endpoint
/// pointing at its target. Endpoint ids are region ids.
pub fn document(weights: &Weights, targets: &BTreeMap<String, String>) -> Result<Value, DocError> {
    let mut rules = serde_json::Map::new();
    let mut entries = Vec::new();
    let mut endpoints = serde_json::Map::new();
    for (key, regions) in weights {
        let location = Location::parse(key).map_err(|e| DocError(e.to_string()))?;
        let on: Vec<(&String, &u8)> = regions.iter().filter(|(_, w)| **w > 0).collect();
        for (r, _) in &on {
            let target = targets
                .get(*r)
                .ok_or_else(|| DocError(format!("region `{r}` has no target")))?;
            endpoints.insert((*r).clone(), json!({"Type": "value", "Value": target}));
        }
        let mut entry = match on[..] {
            [] => return Err(DocError(format!("location `{key}` sends no traffic"))),
            [(only, _)] => json!({"EndpointReference": only}),
            _ => {
                let id = format!("weighted-{}", key.replace(':', "-"));
                let items: Vec<Value> = on
                    .iter()
                    .map(|(r, w)| json!({"EndpointReference": r, "Weight": w}))
                    .collect();
                rules.insert(id.clone(), json!({"RuleType": "weighted", "Items": items}));
                json!({"RuleReference": id})
            }
        };
        let place = entry
            .as_object_mut()
            .ok_or_else(|| DocError("entry".into()))?;
        match location {
            Location::Default => place.insert("IsDefault".into(), json!(true)),
            Location::Continent(c) => place.insert("Continent".into(), json!(c)),
            Location::Country(c) => place.insert("Country".into(), json!(c)),
            Location::Subdivision { country, code } => {
                place.insert("Country".into(), json!(country));
                place.insert("Subdivision".into(), json!(code))
            }
        };
        entries.push(entry);
    }
    rules.insert(
        "geo".into(),
        json!({"RuleType": "geo", "Locations": entries}),
    );
    Ok(json!({
        "AWSPolicyFormatVersion": "2015-10-01",
        "RecordType": "CNAME",
        "StartRule": "geo",
        "Endpoints": endpoints,
        "Rules": rules,
    }))
}

/// The weights a document routes by, per location key and region. An
/// endpoint is a region when its id is one (geolat's documents, the
/// advice's) or when its value is a region's target (`targets`).
pub fn weights(doc: &Value, targets: &BTreeMap<String, String>) -> Result<Weights, DocError> {
    let bad = |what: String| DocError(what);
    let rules = doc.get("Rules").ok_or_else(|| bad("no Rules".into()))?;
    let start = doc
        .get("StartRule")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no StartRule".into()))?;
    let entries = rules
        .get(start)
        .and_then(|r| r.get("Locations"))
        .and_then(Value::as_array)
        .ok_or_else(|| bad("the start rule is not a geo rule with Locations".into()))?;
    let region = |id: &str| -> Result<String, DocError> {
        if targets.is_empty() || targets.contains_key(id) {
            return Ok(id.to_owned());
        }
        let value = doc
            .get("Endpoints")
            .and_then(|e| e.get(id))
            .and_then(|e| e.get("Value"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        targets
            .iter()
            .find(|(_, t)| t.trim_end_matches('.') == value.trim_end_matches('.'))
            .map(|(r, _)| r.clone())
            .ok_or_else(|| bad(format!("endpoint `{id}` ({value}) is no region's target")))
    };
    let mut out = Weights::new();
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
                "a location names no Country, Continent or IsDefault".into()
            ));
        };
        let split = if let Some(id) = e.get("EndpointReference").and_then(Value::as_str) {
            BTreeMap::from([(region(id)?, 255)])
        } else if let Some(id) = e.get("RuleReference").and_then(Value::as_str) {
            let items = rules
                .get(id)
                .filter(|r| r.get("RuleType").and_then(Value::as_str) == Some("weighted"))
                .and_then(|r| r.get("Items"))
                .and_then(Value::as_array)
                .ok_or_else(|| bad(format!("rule `{id}` is not a weighted rule with Items")))?;
            let mut split = BTreeMap::new();
            for i in items {
                let endpoint = i.get("EndpointReference").and_then(Value::as_str);
                let weight = i
                    .get("Weight")
                    .and_then(Value::as_u64)
                    .and_then(|w| u8::try_from(w).ok());
                match (endpoint, weight) {
                    (Some(ep), Some(w)) => {
                        split.insert(region(ep)?, w);
                    }
                    _ => {
                        return Err(bad(format!(
                            "rule `{id}` has an item without an endpoint or a weight 0..=255"
                        )));
                    }
                }
            }
            split
        } else {
            return Err(bad(
                "a location has no EndpointReference or RuleReference".into()
            ));
        };
        out.insert(key, split);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::policy_check::validate;

    fn targets() -> BTreeMap<String, String> {
        [
            ("eu-west-1", "euw1.lb.example.net"),
            ("us-east-1", "use1.lb.example.net"),
        ]
        .into_iter()
        .map(|(r, t)| (r.to_owned(), t.to_owned()))
        .collect()
    }

    #[test]
    fn weights_round_trip_through_a_valid_document() {
        let w: Weights = [
            (
                "default".to_string(),
                [("us-east-1".to_string(), 255u8)].into(),
            ),
            (
                "country:DE".to_string(),
                [
                    ("eu-west-1".to_string(), 200u8),
                    ("us-east-1".to_string(), 55u8),
                ]
                .into(),
            ),
            (
                "subdivision:US-VA".to_string(),
                [("us-east-1".to_string(), 255u8)].into(),
            ),
        ]
        .into();
        let doc = document(&w, &targets()).unwrap();
        validate(&doc).unwrap();
        assert_eq!(weights(&doc, &targets()).unwrap(), w);
    }

    #[test]
    fn endpoints_are_matched_to_regions_by_value() {
        let doc = json!({"StartRule": "geo", "Endpoints": {"a": {"Type": "value", "Value": "use1.lb.example.net"}},
            "Rules": {"geo": {"RuleType": "geo", "Locations": [{"EndpointReference": "a", "IsDefault": true}]}}});
        assert_eq!(
            weights(&doc, &targets()).unwrap()["default"]["us-east-1"],
            255
        );
        let unknown = json!({"StartRule": "geo", "Endpoints": {"b": {"Type": "value", "Value": "x.example"}},
            "Rules": {"geo": {"RuleType": "geo", "Locations": [{"EndpointReference": "b", "IsDefault": true}]}}});
        assert!(
            weights(&unknown, &targets())
                .unwrap_err()
                .0
                .contains("no region's target")
        );
    }
}
