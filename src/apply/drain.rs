//! Draining a region for a release: the routing with the region's dial at
//! 0 and its DNS share handed to its backup region, refused when the
//! backup cannot carry what it would receive. Pure: the drain is planned
//! here and applied like any other plan, and [`restored`] hands the
//! region back the share its drain took, and nothing else.

use std::collections::BTreeMap;

use crate::routing::RoutingState;
use crate::world::topology::Topology;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DrainError {
    #[error("region `{0}` is not in the topology")]
    UnknownRegion(String),
    #[error("region `{0}` has no backup region in the topology; name one (regions[].backup)")]
    NoBackup(String),
    #[error(
        "backup region {backup} cannot take {region}'s load: it would carry {load:.0} rps of its {capacity:.0} rps capacity"
    )]
    Overload {
        region: String,
        backup: String,
        load: f64,
        capacity: f64,
    },
}

/// The region a drain of `region` hands its traffic to.
pub fn backup_of<'a>(topology: &'a Topology, region: &str) -> Result<&'a str, DrainError> {
    let r = topology
        .regions
        .iter()
        .find(|r| r.id == region)
        .ok_or_else(|| DrainError::UnknownRegion(region.to_owned()))?;
    r.backup
        .as_deref()
        .ok_or_else(|| DrainError::NoBackup(region.to_owned()))
}

/// `state` with `region` drained into `backup`: dial 0, and in every DNS
/// location its weight moved onto the backup's.
pub fn drained(state: &RoutingState, region: &str, backup: &str) -> RoutingState {
    let mut out = state.clone();
    for weights in out.dns.values_mut() {
        if let Some(w) = weights.remove(region).filter(|w| *w > 0) {
            let b = weights.entry(backup.to_owned()).or_insert(0);
            *b = b.saturating_add(w);
        }
    }
    if let Some(dial) = out.accelerator.get_mut(region) {
        *dial = 0.0;
    }
    out
}

/// Demand (rps) behind each DNS location of `state`: every topology geo
/// counts towards the most specific location matching it (its country,
/// else its continent, else `default`).
pub fn demand(state: &RoutingState, topology: &Topology) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for g in &topology.geos {
        let key = state
            .location_for(g.country.as_deref(), &g.continent)
            .unwrap_or("default");
        *out.entry(key.to_owned()).or_default() += g.demand_rps;
    }
    out
}

/// Load (rps) each region gets from DNS under `state`.
pub fn loads(state: &RoutingState, demand: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (location, weights) in &state.dns {
        let total: f64 = weights.values().map(|w| f64::from(*w)).sum();
        let d = demand.get(location).copied().unwrap_or(0.0);
        if total > 0.0 {
            for (r, w) in weights {
                *out.entry(r.clone()).or_default() += d * f64::from(*w) / total;
            }
        }
    }
    out
}

/// Plans the drain and checks that the backup can carry its new load.
pub fn plan_drain(
    state: &RoutingState,
    topology: &Topology,
    region: &str,
) -> Result<RoutingState, DrainError> {
    let backup = backup_of(topology, region)?;
    let after = drained(state, region, backup);
    let demand = demand(state, topology);
    let load = loads(&after, &demand).get(backup).copied().unwrap_or(0.0);
    let capacity = topology
        .regions
        .iter()
        .find(|r| r.id == backup)
        .map(|r| r.capacity_rps)
        .ok_or_else(|| DrainError::UnknownRegion(backup.to_owned()))?;
    if load > capacity {
        return Err(DrainError::Overload {
            region: region.to_owned(),
            backup: backup.to_owned(),
            load,
            capacity,
        });
    }
    Ok(after)
}

/// `live` with `region` given back what its drain took: in every location
/// where the drain (`drained_from` -> `drained_to`, its plan's before and
/// after) moved the region's share to other regions, the region gets its
/// share back and each region that gained gives back what it gained (as
/// far as it still has it); the region's dial goes back to what it was.
/// Everything else stays as `live` has it, so another region drained
/// since stays drained. Shares, not weights, are compared: a location left
/// with one region reads back at weight 255 whatever it was written with.
pub fn restored(
    live: &RoutingState,
    drained_from: &RoutingState,
    drained_to: &RoutingState,
    region: &str,
) -> RoutingState {
    let mut out = live.clone();
    for (location, weights) in out.dns.iter_mut() {
        // Untouched since the drain: exactly the weights it had.
        if drained_to.dns.get(location) == Some(weights)
            && let Some(had) = drained_from.dns.get(location)
            && had.get(region).is_some_and(|w| *w > 0)
        {
            *weights = had.clone();
            continue;
        }
        let (Some(from), Some(to)) = (
            drained_from.dns.get(location).and_then(shares),
            drained_to.dns.get(location).and_then(shares),
        ) else {
            continue;
        };
        let Some(&had) = from.get(region).filter(|f| **f > 0.0) else {
            continue;
        };
        let Some(mut now) = shares(weights) else {
            continue;
        };
        for (other, after) in to.iter().filter(|(r, _)| r.as_str() != region) {
            let gained = after - from.get(other).copied().unwrap_or(0.0);
            if gained > 0.0
                && let Some(f) = now.get_mut(other)
            {
                *f = (*f - gained).max(0.0);
            }
        }
        now.insert(region.to_owned(), had);
        *weights = to_weights(&now);
    }
    if let Some(dial) = drained_from.accelerator.get(region)
        && out.accelerator.contains_key(region)
    {
        out.accelerator.insert(region.to_owned(), *dial);
    }
    out.normalized()
}

/// Each region's share of a location's traffic; None when it sends none.
fn shares(weights: &BTreeMap<String, u8>) -> Option<BTreeMap<String, f64>> {
    let total: f64 = weights.values().map(|w| f64::from(*w)).sum();
    (total > 0.0).then(|| {
        weights
            .iter()
            .map(|(r, w)| (r.clone(), f64::from(*w) / total))
            .collect()
    })
}

/// Shares as Route 53 weights: the largest at 255, the others in
/// proportion (a share too small for weight 1 gets 1, never 0: a region
/// given back its traffic must get some).
fn to_weights(shares: &BTreeMap<String, f64>) -> BTreeMap<String, u8> {
    let top = shares.values().copied().fold(0.0, f64::max);
    shares
        .iter()
        .filter(|(_, f)| **f > 1e-9 && top > 0.0)
        .map(|(r, f)| (r.clone(), ((f / top * 255.0).round() as u8).max(1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Region;
    use crate::world::topology::TopologyGeo;

    fn topology(backup_capacity: f64) -> Topology {
        let region = |id: &str, capacity: f64, backup: Option<&str>| Region {
            id: id.into(),
            name: String::new(),
            lat: 0.0,
            lon: 0.0,
            capacity_rps: capacity,
            backup: backup.map(str::to_owned),
        };
        let geo = |id: &str, country: &str, continent: &str, demand: f64| TopologyGeo {
            id: id.into(),
            name: String::new(),
            continent: continent.into(),
            country: Some(country.into()),
            lat: 0.0,
            lon: 0.0,
            demand_rps: demand,
        };
        Topology {
            format: "geolat-topology/1".into(),
            name: String::new(),
            description: String::new(),
            regions: vec![
                region("eu-west-1", 1000.0, Some("eu-central-1")),
                region("eu-central-1", backup_capacity, Some("eu-west-1")),
                region("us-east-1", 1000.0, None),
            ],
            geos: vec![
                geo("de", "DE", "EU", 300.0),
                geo("fr", "FR", "EU", 200.0),
                geo("us", "US", "NA", 400.0),
            ],
            slo: None,
        }
    }

    fn state() -> RoutingState {
        RoutingState {
            dns: [
                (
                    "country:DE".to_string(),
                    [("eu-central-1".to_string(), 1u8)].into(),
                ),
                (
                    "continent:EU".to_string(),
                    [
                        ("eu-west-1".to_string(), 3u8),
                        ("eu-central-1".to_string(), 1u8),
                    ]
                    .into(),
                ),
                (
                    "default".to_string(),
                    [("us-east-1".to_string(), 1u8)].into(),
                ),
            ]
            .into(),
            accelerator: [
                ("eu-west-1".to_string(), 100.0),
                ("us-east-1".to_string(), 100.0),
            ]
            .into(),
        }
    }

    #[test]
    fn a_drain_hands_weight_and_dial_to_the_backup() {
        let after = plan_drain(&state(), &topology(1000.0), "eu-west-1").unwrap();
        assert_eq!(
            after.dns["continent:EU"],
            [("eu-central-1".to_string(), 4u8)].into()
        );
        assert_eq!(after.accelerator["eu-west-1"], 0.0);
        assert_eq!(after.dns["default"], state().dns["default"]);
    }

    #[test]
    fn demand_goes_to_the_most_specific_location() {
        let d = demand(&state(), &topology(1000.0));
        assert_eq!(d["country:DE"], 300.0);
        assert_eq!(d["continent:EU"], 200.0);
        assert_eq!(d["default"], 400.0);
        let l = loads(&state(), &d);
        assert_eq!(l["eu-west-1"], 150.0);
        assert_eq!(l["eu-central-1"], 350.0);
    }

    #[test]
    fn a_backup_that_cannot_carry_the_load_refuses_the_drain() {
        // eu-central-1 would carry DE (300) and all of the rest of EU (200).
        let err = plan_drain(&state(), &topology(450.0), "eu-west-1").unwrap_err();
        assert!(
            matches!(err, DrainError::Overload { load, .. } if (load - 500.0).abs() < 1e-9),
            "{err}"
        );
        assert_eq!(
            plan_drain(&state(), &topology(1000.0), "us-east-1").unwrap_err(),
            DrainError::NoBackup("us-east-1".into())
        );
    }

    fn routing_of(dns: &[(&str, &[(&str, u8)])], dials: &[(&str, f64)]) -> RoutingState {
        RoutingState::of(dns, dials).normalized()
    }

    /// Regression (issue 9, point 12): with two regions drained, restoring
    /// one puts back only that one.
    #[test]
    fn regression_restore_undoes_only_that_regions_drain() {
        let start = routing_of(
            &[
                ("default", &[("use1", 100), ("sa", 50), ("usw2", 60)][..]),
                ("country:BR", &[("sa", 255)][..]),
            ],
            &[("use1", 100.0), ("sa", 100.0), ("usw2", 80.0)],
        );
        let sa_drained = drained(&start, "sa", "use1").normalized();
        let both = drained(&sa_drained, "usw2", "use1").normalized();
        let back = restored(&both, &start, &sa_drained, "sa");
        let only_usw2 = drained(&start, "usw2", "use1").normalized();
        let same = |a: &RoutingState, b: &RoutingState| {
            assert_eq!(a.accelerator, b.accelerator);
            let (fa, fb) = (a.dns_fractions(), b.dns_fractions());
            assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
            for (l, f) in &fa {
                assert_eq!(
                    f.keys().collect::<Vec<_>>(),
                    fb[l].keys().collect::<Vec<_>>(),
                    "{l}"
                );
                for (r, x) in f {
                    assert!((x - fb[l][r]).abs() < 0.005, "{l} {r}: {x} vs {}", fb[l][r]);
                }
            }
        };
        same(&back, &only_usw2);
        assert_eq!(back.accelerator["usw2"], 0.0, "usw2 stays drained");
        assert_eq!(back.accelerator["sa"], 100.0);
        // Restoring the other one then gives the start back.
        same(&restored(&back, &sa_drained, &both, "usw2"), &start);
    }
}
