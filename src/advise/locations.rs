//! What Route 53 can tell apart. Geolocation routing matches a resolver's
//! country (ISO 3166-1 alpha-2), a continent, or a US state (subdivision);
//! a world file gives each geo a continent and, when it lies in one
//! country, that country. Geos that share a country (US-Virginia and
//! US-Oregon both are `US`) cannot be routed differently, so they become one
//! location and get one answer: their demand-weighted merged split. The
//! latency that merge costs is part of the expressibility gap the plan
//! reports. (World files carry no subdivision, so US states are not used.)

use serde::Serialize;

use super::model::{Problem, Shares};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Country,
    Continent,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    pub kind: Kind,
    pub code: String,
    /// Geo indices, in world order.
    pub geos: Vec<usize>,
}

impl Location {
    pub fn demand(&self, p: &Problem) -> f64 {
        self.geos.iter().map(|&g| p.geos[g].demand).sum()
    }

    /// Whether Route 53 answers these geos as one.
    pub fn merged(&self) -> bool {
        self.geos.len() > 1
    }

    /// A rule id fragment: `country-US`, `continent-EU`.
    pub fn key(&self) -> String {
        let kind = match self.kind {
            Kind::Country => "country",
            Kind::Continent => "continent",
        };
        format!("{kind}-{}", self.code)
    }
}

/// The Route 53 locations of a problem, in order of their first geo.
pub fn group(p: &Problem) -> Vec<Location> {
    let mut out: Vec<Location> = Vec::new();
    for (g, geo) in p.geos.iter().enumerate() {
        let (kind, code) = match &geo.country {
            Some(c) => (Kind::Country, c.clone()),
            None => (Kind::Continent, geo.continent.clone()),
        };
        match out.iter_mut().find(|l| l.kind == kind && l.code == code) {
            Some(l) => l.geos.push(g),
            None => out.push(Location {
                kind,
                code,
                geos: vec![g],
            }),
        }
    }
    out
}

/// The one split a location can have: its geos' shares weighted by demand
/// (a plain mean when none has demand). Region loads are unchanged by the
/// merge; only which geo's requests land where is.
pub fn merged_split(p: &Problem, loc: &Location, shares: &Shares) -> Vec<f64> {
    let demand = loc.demand(p);
    let mut split = vec![0.0; p.region_count()];
    for &g in &loc.geos {
        let w = if demand > 0.0 {
            p.geos[g].demand / demand
        } else {
            1.0 / loc.geos.len() as f64
        };
        for (r, f) in shares[g].iter().enumerate() {
            split[r] += w * f;
        }
    }
    split
}

/// Geo-level shares from one split per location.
pub fn expand(p: &Problem, locs: &[Location], splits: &[Vec<f64>]) -> Shares {
    let mut shares = vec![vec![0.0; p.region_count()]; p.geo_count()];
    for (loc, split) in locs.iter().zip(splits) {
        for &g in &loc.geos {
            shares[g].clone_from(split);
        }
    }
    shares
}

/// Whether every geo of `loc` that has demand may use region `r` at all.
pub fn admits(p: &Problem, loc: &Location, r: usize) -> bool {
    loc.geos
        .iter()
        .all(|&g| p.geos[g].demand <= 0.0 || p.upper[g][r] > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::model::{Options, tests::world};

    #[test]
    fn geos_sharing_a_country_merge_demand_weighted() {
        let mut w = world(
            &[
                (30.0, &[10.0, 20.0]),
                (10.0, &[20.0, 10.0]),
                (5.0, &[1.0, 1.0]),
            ],
            &[100.0, 100.0],
        );
        w.geos[0].country = Some("US".into());
        w.geos[1].country = Some("US".into());
        let p = Problem::build(&w, &Options::default()).unwrap();
        let locs = group(&p);
        assert_eq!(locs.len(), 2);
        assert_eq!(
            (locs[0].key(), locs[0].geos.clone()),
            ("country-US".into(), vec![0, 1])
        );
        assert_eq!(locs[1].key(), "continent-EU");
        let shares = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 0.0]];
        assert_eq!(merged_split(&p, &locs[0], &shares), vec![0.75, 0.25]);
    }
}
