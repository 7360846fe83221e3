//! The Route 53 records geolat manages for a service name, and the change
//! batch that takes them from one routing to another. Pure: records in,
//! records and changes out, so every rule is tested without an API.
//!
//! Route 53 cannot weight within a geolocation record, so a fractional
//! plan takes two levels, the same shape a traffic policy's geolocation
//! rule over weighted rules produces, but as plain records an operator can
//! read in the console:
//!
//! ```text
//! api.example.com     CNAME  geolocation DE   set "geolat:country:DE"  -> country-de.geolat.api.example.com
//! api.example.com     CNAME  geolocation *    set "geolat:default"     -> default.geolat.api.example.com
//! country-de.geolat.api.example.com  CNAME  weighted 200  set "geolat:eu-central-1" -> <eu-central-1 target>
//! country-de.geolat.api.example.com  CNAME  weighted  55  set "geolat:eu-west-1"    -> <eu-west-1 target>
//! ```
//!
//! A weight of 0 is expressed by leaving the region's record out: in
//! Route 53 a set whose weights are all 0 is answered evenly, the opposite
//! of "no traffic". Records whose set identifier does not start with
//! `geolat:` are never touched.

use std::collections::BTreeMap;
use std::fmt;

use crate::routing::RoutingError;

/// Set identifiers of the records geolat owns start with this.
pub const OWNED: &str = "geolat:";

/// A Route 53 geolocation: what a geolocation record matches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// `*`: users no other record matches. Route 53 answers nothing for
    /// them without it, so a layout always has one.
    Default,
    Continent(String),
    Country(String),
    /// A country's subdivision (`US-VA`: country US, subdivision VA).
    Subdivision {
        country: String,
        code: String,
    },
}

impl Location {
    /// Parses `default`, `continent:EU`, `country:DE` or `subdivision:US-VA`:
    /// the keys of [`crate::routing::RoutingState::dns`] for AWS. Country
    /// and continent codes overlap (NA is Namibia and North America), hence
    /// the prefix.
    pub fn parse(key: &str) -> Result<Location, RoutingError> {
        let bad = || RoutingError::BadLocation(key.to_owned());
        let code_ok = |c: &str, len: std::ops::RangeInclusive<usize>| {
            len.contains(&c.len()) && c.chars().all(|ch| ch.is_ascii_alphanumeric())
        };
        match key.split_once(':') {
            None if key == "default" => Ok(Location::Default),
            Some(("continent", c)) if code_ok(c, 2..=2) => {
                Ok(Location::Continent(c.to_ascii_uppercase()))
            }
            Some(("country", c)) if code_ok(c, 2..=2) => {
                Ok(Location::Country(c.to_ascii_uppercase()))
            }
            Some(("subdivision", s)) => match s.split_once('-') {
                Some((country, code)) if code_ok(country, 2..=2) && code_ok(code, 1..=3) => {
                    Ok(Location::Subdivision {
                        country: country.to_ascii_uppercase(),
                        code: code.to_ascii_uppercase(),
                    })
                }
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }

    /// The DNS label of this location's weighted set.
    fn label(&self) -> String {
        match self {
            Location::Default => "default".into(),
            Location::Continent(c) => format!("continent-{}", c.to_ascii_lowercase()),
            Location::Country(c) => format!("country-{}", c.to_ascii_lowercase()),
            Location::Subdivision { country, code } => format!(
                "subdivision-{}-{}",
                country.to_ascii_lowercase(),
                code.to_ascii_lowercase()
            ),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Default => f.write_str("default"),
            Location::Continent(c) => write!(f, "continent:{c}"),
            Location::Country(c) => write!(f, "country:{c}"),
            Location::Subdivision { country, code } => write!(f, "subdivision:{country}-{code}"),
        }
    }
}

/// How a record is chosen among the records of its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    Geo(Location),
    /// 1..=255: a zero weight is a missing record.
    Weighted(u8),
}

/// One CNAME record set in Route 53's terms: name and set identifier name
/// it, the rest is what it says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    /// Fully qualified, with the trailing dot (as Route 53 lists names).
    pub name: String,
    pub set_id: String,
    pub rule: Rule,
    pub ttl: i64,
    pub value: String,
}

/// A change in a Route 53 change batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Upsert(Record),
    /// Route 53 deletes a record only when given it exactly as it is.
    Delete(Record),
}

/// The service name, the target each region's records point at, and the
/// TTL of geolat's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    name: String,
    ttl: i64,
    targets: BTreeMap<String, String>,
}

/// DNS weights per location key, then per region: the AWS form of
/// [`crate::routing::RoutingState::dns`].
pub type Weights = BTreeMap<String, BTreeMap<String, u8>>;

impl Layout {
    pub fn new(name: &str, ttl: i64, targets: BTreeMap<String, String>) -> Layout {
        Layout {
            name: fqdn(name),
            ttl,
            targets,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    pub fn targets(&self) -> &BTreeMap<String, String> {
        &self.targets
    }

    fn set_name(&self, location: &Location) -> String {
        format!("{}.geolat.{}", location.label(), self.name)
    }

    /// Whether geolat owns `r` in this layout.
    pub fn owns(&self, name: &str, set_id: Option<&str>) -> bool {
        let name = fqdn(name);
        set_id.is_some_and(|s| s.starts_with(OWNED))
            && (name == self.name || name.ends_with(&format!(".geolat.{}", self.name)))
    }

    /// The records that express `weights`, or why they cannot.
    pub fn records(&self, weights: &Weights) -> Result<Vec<Record>, RoutingError> {
        let mut out = Vec::new();
        let mut has_default = false;
        for (key, regions) in weights {
            let location = Location::parse(key)?;
            has_default |= location == Location::Default;
            if regions.values().all(|w| *w == 0) {
                return Err(RoutingError::NoTraffic(key.clone()));
            }
            let set = self.set_name(&location);
            for (region, weight) in regions.iter().filter(|(_, w)| **w > 0) {
                let target = self
                    .targets
                    .get(region)
                    .ok_or_else(|| RoutingError::UnknownRegion(region.clone()))?;
                out.push(Record {
                    name: set.clone(),
                    set_id: format!("{OWNED}{region}"),
                    rule: Rule::Weighted(*weight),
                    ttl: self.ttl,
                    value: fqdn(target),
                });
            }
            out.push(Record {
                name: self.name.clone(),
                set_id: format!("{OWNED}{location}"),
                rule: Rule::Geo(location),
                ttl: self.ttl,
                value: set,
            });
        }
        if !weights.is_empty() && !has_default {
            return Err(RoutingError::NoDefault);
        }
        out.sort();
        Ok(out)
    }

    /// Reads weights back from geolat's records (others are ignored). A
    /// geolocation record without its weighted set, or a weighted record
    /// whose target is no known region, is an error: the zone was edited
    /// by hand and a plan against it would be a guess.
    pub fn weights(&self, records: &[Record]) -> Result<Weights, RoutingError> {
        let region_of = |value: &str| {
            self.targets
                .iter()
                .find(|(_, t)| fqdn(t) == fqdn(value))
                .map(|(r, _)| r.clone())
        };
        let mut sets: BTreeMap<&str, BTreeMap<String, u8>> = BTreeMap::new();
        for r in records {
            if let Rule::Weighted(w) = r.rule {
                let region = region_of(&r.value).ok_or_else(|| RoutingError::Unexpected {
                    record: format!("{} {}", r.name, r.set_id),
                    problem: format!("points at `{}`, which is no region's target", r.value),
                })?;
                sets.entry(r.name.as_str()).or_default().insert(region, w);
            }
        }
        let mut out = Weights::new();
        for r in records {
            if let Rule::Geo(location) = &r.rule {
                let set =
                    sets.get(fqdn(&r.value).as_str())
                        .ok_or_else(|| RoutingError::Unexpected {
                            record: format!("{} {}", r.name, r.set_id),
                            problem: format!(
                                "points at `{}`, which has no weighted records",
                                r.value
                            ),
                        })?;
                out.insert(location.to_string(), set.clone());
            }
        }
        Ok(out)
    }

    /// The changes that turn geolat's `current` records into `desired`:
    /// one batch, applied atomically by Route 53. Unchanged records are
    /// left alone.
    pub fn diff(current: &[Record], desired: &[Record]) -> Vec<Change> {
        let id = |r: &Record| (r.name.clone(), r.set_id.clone());
        let now: BTreeMap<_, &Record> = current.iter().map(|r| (id(r), r)).collect();
        let want: BTreeMap<_, &Record> = desired.iter().map(|r| (id(r), r)).collect();
        let mut changes: Vec<Change> = want
            .iter()
            .filter(|(k, r)| now.get(*k) != Some(*r))
            .map(|(_, r)| Change::Upsert((*r).clone()))
            .collect();
        changes.extend(
            now.iter()
                .filter(|(k, _)| !want.contains_key(*k))
                .map(|(_, r)| Change::Delete((*r).clone())),
        );
        changes
    }
}

/// `name` with the trailing dot Route 53 lists names with, lower-case.
fn fqdn(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let targets = [
            ("eu-central-1", "eu-central-1.api.example.com"),
            ("eu-west-1", "eu-west-1.api.example.com"),
            ("us-east-1", "us-east-1.api.example.com"),
        ]
        .into_iter()
        .map(|(r, t)| (r.to_owned(), t.to_owned()))
        .collect();
        Layout::new("api.example.com", 60, targets)
    }

    fn weights(spec: &[(&str, &[(&str, u8)])]) -> Weights {
        spec.iter()
            .map(|(k, ws)| {
                let ws = ws.iter().map(|(r, w)| (r.to_string(), *w)).collect();
                (k.to_string(), ws)
            })
            .collect()
    }

    #[test]
    fn locations_parse_and_print_back() {
        for key in ["default", "continent:EU", "country:DE", "subdivision:US-VA"] {
            assert_eq!(Location::parse(key).unwrap().to_string(), key);
        }
        assert_eq!(
            Location::parse("country:de").unwrap(),
            Location::Country("DE".into())
        );
        for bad in ["DE", "country:DEU", "planet:earth", "subdivision:US", ""] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn weights_become_records_and_read_back() {
        let l = layout();
        let w = weights(&[
            ("country:DE", &[("eu-central-1", 200), ("eu-west-1", 55)]),
            ("default", &[("us-east-1", 1), ("eu-west-1", 0)]),
        ]);
        let records = l.records(&w).unwrap();
        // Two geolocation records, three weighted ones (the 0 is left out).
        assert_eq!(records.len(), 5);
        let de = records
            .iter()
            .find(|r| r.rule == Rule::Geo(Location::Country("DE".into())))
            .unwrap();
        assert_eq!(de.name, "api.example.com.");
        assert_eq!(de.value, "country-de.geolat.api.example.com.");
        let mut expected = w.clone();
        expected.get_mut("default").unwrap().remove("eu-west-1");
        assert_eq!(l.weights(&records).unwrap(), expected);
        assert!(records.iter().all(|r| l.owns(&r.name, Some(&r.set_id))));
        assert!(!l.owns("api.example.com", Some("blue")));
        assert!(!l.owns("other.example.com", Some("geolat:default")));
    }

    #[test]
    fn a_plan_that_cannot_be_expressed_is_refused() {
        let l = layout();
        let no_default = weights(&[("country:DE", &[("eu-west-1", 1)])]);
        assert!(matches!(
            l.records(&no_default),
            Err(RoutingError::NoDefault)
        ));
        let zero = weights(&[("default", &[("eu-west-1", 0)])]);
        assert!(matches!(l.records(&zero), Err(RoutingError::NoTraffic(k)) if k == "default"));
        let unknown = weights(&[("default", &[("mars-1", 3)])]);
        assert!(
            matches!(l.records(&unknown), Err(RoutingError::UnknownRegion(r)) if r == "mars-1")
        );
    }

    #[test]
    fn diff_upserts_what_changed_and_deletes_what_went() {
        let l = layout();
        let before = l
            .records(&weights(&[
                ("country:DE", &[("eu-central-1", 200), ("eu-west-1", 55)]),
                ("default", &[("us-east-1", 1)]),
            ]))
            .unwrap();
        let after = l
            .records(&weights(&[
                ("country:DE", &[("eu-central-1", 255)]),
                ("default", &[("us-east-1", 1)]),
            ]))
            .unwrap();
        let changes = Layout::diff(&before, &after);
        assert_eq!(changes.len(), 2, "{changes:#?}");
        assert!(changes.iter().any(|c| matches!(c,
            Change::Upsert(r) if r.set_id == "geolat:eu-central-1" && r.rule == Rule::Weighted(255))));
        assert!(changes.iter().any(|c| matches!(c,
            Change::Delete(r) if r.set_id == "geolat:eu-west-1" && r.rule == Rule::Weighted(55))));
        assert!(Layout::diff(&after, &after).is_empty());
    }

    #[test]
    fn hand_edited_records_are_reported_not_guessed() {
        let l = layout();
        let mut records = l
            .records(&weights(&[("default", &[("us-east-1", 1)])]))
            .unwrap();
        let weighted = records
            .iter_mut()
            .find(|r| matches!(r.rule, Rule::Weighted(_)))
            .unwrap();
        weighted.value = "somewhere.else.example.".into();
        let err = l.weights(&records).unwrap_err().to_string();
        assert!(err.contains("no region's target"), "{err}");
    }
}
