//! The plan as a Route 53 traffic policy document (format version
//! 2015-10-01, see the Route 53 API reference "Traffic Policy Document
//! Format"): a `geo` start rule with one entry per location (`Country` or
//! `Continent`) and a default entry (`IsDefault`), each pointing at a region's
//! endpoint when the location goes to one region, or at a `weighted` rule
//! whose items carry the location's weights when it is split. Unknown
//! resolvers (the default) are spread over the regions in proportion to the
//! usable capacity the plan leaves free, so traffic from outside the world
//! lands where there is room.

use serde_json::{Value, json};

use super::evaluate::loads;
use super::locations::{Kind, Location};
use super::model::{Problem, Shares};
use super::weighted::{Weights, largest_remainder};

pub const FORMAT_VERSION: &str = "2015-10-01";

/// How endpoints appear in the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoints {
    /// DNS type of every record the policy creates.
    pub record_type: String,
    /// Endpoint value per region; `{region}` is replaced by the region id.
    pub template: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            record_type: "CNAME".into(),
            template: "{region}.endpoints.example.com".into(),
        }
    }
}

/// Weights for the default location: free usable capacity after the plan,
/// or plain usable capacity when the plan leaves none free; nothing on
/// draining regions.
pub fn default_weights(p: &Problem, plan: &Shares) -> Vec<u8> {
    let load = loads(p, plan);
    let room: Vec<f64> = p
        .regions
        .iter()
        .enumerate()
        .map(|(r, region)| {
            if region.draining {
                0.0
            } else {
                (region.usable - load[r]).max(0.0)
            }
        })
        .collect();
    let basis: Vec<f64> = if room.iter().sum::<f64>() > 0.0 {
        room
    } else {
        p.regions
            .iter()
            .map(|r| if r.draining { 0.0 } else { r.usable })
            .collect()
    };
    let sum: f64 = basis.iter().sum();
    if sum <= 0.0 {
        return vec![1; p.region_count()];
    }
    let split: Vec<f64> = basis.iter().map(|b| b / sum).collect();
    largest_remainder(&split, 255)
        .into_iter()
        .map(|w| w.min(255) as u8)
        .collect()
}

/// The traffic policy document for these per-location weights.
pub fn document(
    p: &Problem,
    locs: &[Location],
    weights: &Weights,
    default: &[u8],
    endpoints: &Endpoints,
) -> Value {
    let mut rules = serde_json::Map::new();
    let mut entries = Vec::with_capacity(locs.len() + 1);
    let mut used = vec![false; p.region_count()];
    let mut target = |w: &[u8], rule_id: String, rules: &mut serde_json::Map<String, Value>| {
        let on: Vec<usize> = (0..w.len()).filter(|&r| w[r] > 0).collect();
        for &r in &on {
            used[r] = true;
        }
        if let [only] = on[..] {
            return ("EndpointReference", p.regions[only].id.clone());
        }
        let items: Vec<Value> = on
            .iter()
            .map(|&r| json!({"EndpointReference": p.regions[r].id, "Weight": w[r]}))
            .collect();
        rules.insert(
            rule_id.clone(),
            json!({"RuleType": "weighted", "Items": items}),
        );
        ("RuleReference", rule_id)
    };
    for (loc, w) in locs.iter().zip(weights) {
        let (field, id) = target(w, format!("weighted-{}", loc.key()), &mut rules);
        let place = match loc.kind {
            Kind::Country => "Country",
            Kind::Continent => "Continent",
        };
        entries.push(json!({field: id, place: loc.code}));
    }
    let (field, id) = target(default, "weighted-default".into(), &mut rules);
    entries.push(json!({field: id, "IsDefault": true}));
    rules.insert(
        "geo".into(),
        json!({"RuleType": "geo", "Locations": entries}),
    );
    let endpoint_defs: serde_json::Map<String, Value> = p
        .regions
        .iter()
        .zip(&used)
        .filter(|(_, u)| **u)
        .map(|(r, _)| {
            let value = endpoints.template.replace("{region}", &r.id);
            (r.id.clone(), json!({"Type": "value", "Value": value}))
        })
        .collect();
    json!({
        "AWSPolicyFormatVersion": FORMAT_VERSION,
        "RecordType": endpoints.record_type,
        "StartRule": "geo",
        "Endpoints": endpoint_defs,
        "Rules": rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::locations::group;
    use crate::advise::model::{Options, tests::world};
    use crate::advise::policy_check::validate;

    #[test]
    fn split_locations_get_weighted_rules_and_the_document_validates() {
        let mut w = world(&[(10.0, &[1.0, 2.0]), (10.0, &[2.0, 1.0])], &[100.0, 100.0]);
        w.geos[0].country = Some("DE".into());
        let p = Problem::build(&w, &Options::default()).unwrap();
        let locs = group(&p);
        let doc = document(
            &p,
            &locs,
            &vec![vec![1, 0], vec![1, 3]],
            &[1, 1],
            &Endpoints::default(),
        );
        validate(&doc).unwrap();
        let geo = &doc["Rules"]["geo"]["Locations"];
        assert_eq!(geo[0], json!({"EndpointReference": "r0", "Country": "DE"}));
        assert_eq!(
            geo[1],
            json!({"RuleReference": "weighted-continent-EU", "Continent": "EU"})
        );
        assert_eq!(geo[2]["IsDefault"], json!(true));
        assert_eq!(
            doc["Rules"]["weighted-continent-EU"]["Items"][1],
            json!({"EndpointReference": "r1", "Weight": 3})
        );
        assert_eq!(doc["Endpoints"]["r1"]["Value"], "r1.endpoints.example.com");
    }

    #[test]
    fn default_spreads_over_free_capacity() {
        let w = world(&[(50.0, &[1.0, 2.0])], &[100.0, 100.0]);
        let p = Problem::build(&w, &Options::default()).unwrap();
        // r0 has 40 rps free, r1 90: 255 split 40:90.
        assert_eq!(default_weights(&p, &vec![vec![1.0, 0.0]]), vec![78, 177]);
    }
}
