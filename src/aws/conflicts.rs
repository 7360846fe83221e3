//! Records geolat would have to sit beside and Route 53 would not let it.
//! Route 53 refuses a CNAME next to any other record of its name, and
//! records of one name and type under different routing policies; geolat
//! writes geolocation CNAMEs at the service name and weighted CNAMEs at
//! its per-location names (`<location>.geolat.<name>`). Taking over a
//! name that already holds, say, a simple A record would fail at the first
//! apply, after a plan that looked harmless; this finds those records
//! before planning and says how to move them out of the way. Pure: record
//! sets in, conflicts out.

use std::fmt;

use aws_sdk_route53::types::{ResourceRecordSet, RrType};
use serde::Serialize;

use super::inventory;
use super::layout::{Layout, OWNED};

/// A record geolat does not own at a name geolat writes, which Route 53
/// would not let stand beside geolat's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// As Route 53 lists it, with the trailing dot.
    pub name: String,
    pub r#type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    /// `simple`, `weighted 10`, ... ([`inventory::routing`]).
    pub routing: String,
    /// Why Route 53 would refuse geolat's records beside it.
    pub problem: String,
    /// The one step that clears it.
    pub migration: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.name, self.r#type, self.routing)?;
        if let Some(id) = &self.set_identifier {
            write!(f, " (set `{id}`)")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Whether geolat owns a record with this set identifier.
fn owned(r: &ResourceRecordSet) -> bool {
    r.set_identifier().is_some_and(|s| s.starts_with(OWNED))
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// Whether `name` is one of the per-location names `layout` writes:
/// exactly one label in front of `geolat.<service name>`.
fn location_name(name: &str, layout: &Layout) -> bool {
    let suffix = format!(".geolat.{}", layout.name().trim_end_matches('.'));
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.strip_suffix(&suffix)
        .is_some_and(|label| !label.is_empty() && !label.contains('.'))
}

fn conflict(r: &ResourceRecordSet, problem: String) -> Conflict {
    let name = r.name().trim_end_matches('.');
    Conflict {
        name: r.name().to_owned(),
        r#type: r.r#type().as_str().to_owned(),
        set_identifier: r.set_identifier().map(str::to_owned),
        routing: inventory::routing(r),
        problem,
        migration: format!(
            "move it under another name first, e.g. legacy.{name}, then delete it here"
        ),
    }
}

/// What is wrong with a CNAME record `r` at a name where geolat writes
/// `policy` records, if anything.
fn cname_problem(r: &ResourceRecordSet, policy: &str, matches: bool) -> Option<String> {
    if *r.r#type() != RrType::Cname {
        return Some(format!(
            "a {} record cannot share its name with geolat's CNAME records",
            r.r#type().as_str()
        ));
    }
    if r.set_identifier().is_none() {
        return Some(
            "a simple CNAME is the name's only record: geolat's CNAME records cannot be added beside it"
                .into(),
        );
    }
    (!matches).then(|| {
        format!(
            "Route 53 refuses CNAMEs of one name under different routing policies, and geolat's here are {policy}"
        )
    })
}

/// The records in `zone` that geolat does not own (set identifier not
/// starting with `geolat:`) and that would conflict with the records
/// `layout` writes: at the service name and at the per-location names,
/// any record that is not a CNAME, any simple CNAME (no set identifier),
/// and any CNAME routed otherwise than geolat's there (geolocation at the
/// service name, weighted at the location names).
pub fn name_conflicts(zone: &[ResourceRecordSet], layout: &Layout) -> Vec<Conflict> {
    zone.iter()
        .filter(|r| !owned(r))
        .filter_map(|r| {
            let problem = if same_name(r.name(), layout.name()) {
                cname_problem(r, "geolocation", r.geo_location().is_some()).or_else(|| {
                    let default = r.geo_location().and_then(|g| g.country_code()) == Some("*");
                    default.then(|| {
                        "geolat writes the name's default location (*) itself, and Route 53 allows one"
                            .to_owned()
                    })
                })
            } else if location_name(r.name(), layout) {
                cname_problem(r, "weighted", r.weight().is_some())
            } else {
                None
            }?;
            Some(conflict(r, problem))
        })
        .collect()
}

/// The same for a name a traffic policy instance routes: the instance
/// owns the name, so every record there that is not the instance's
/// (`instance_id`; None when there is no instance yet) conflicts.
pub fn policy_name_conflicts(
    zone: &[ResourceRecordSet],
    name: &str,
    instance_id: Option<&str>,
) -> Vec<Conflict> {
    zone.iter()
        .filter(|r| same_name(r.name(), name))
        .filter(|r| instance_id.is_none() || r.traffic_policy_instance_id() != instance_id)
        .map(|r| {
            conflict(
                r,
                "the traffic policy instance routing the name must be its only record".into(),
            )
        })
        .collect()
}

/// `conflicts` as one line, refusing a plan for `name`; None when there
/// are none.
pub fn refusal(name: &str, conflicts: &[Conflict]) -> Option<String> {
    if conflicts.is_empty() {
        return None;
    }
    let name = name.trim_end_matches('.');
    let each: Vec<String> = conflicts
        .iter()
        .map(|c| format!("{c}; migration: {}", c.migration))
        .collect();
    Some(format!(
        "route53.name {name} has {} record(s) geolat does not own where it writes its own: {}",
        conflicts.len(),
        each.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_route53::types::{GeoLocation, ResourceRecord};

    fn layout() -> Layout {
        let targets = [("eu-west-1", "euw1.lb.example.net")]
            .into_iter()
            .map(|(r, t)| (r.to_owned(), t.to_owned()))
            .collect();
        Layout::new("api.example.com", 60, targets)
    }

    fn rrset(
        name: &str,
        kind: RrType,
    ) -> aws_sdk_route53::types::builders::ResourceRecordSetBuilder {
        ResourceRecordSet::builder()
            .name(name)
            .r#type(kind)
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value("x.example.net")
                    .build()
                    .unwrap(),
            )
    }

    fn geo(country: &str) -> GeoLocation {
        GeoLocation::builder().country_code(country).build()
    }

    #[test]
    fn records_geolat_would_sit_beside_are_conflicts() {
        let zone = vec![
            // Conflicts: a simple A record, a simple CNAME, a weighted CNAME
            // and another default location at the service name, a TXT and
            // a geolocation CNAME at a location name.
            rrset("api.example.com.", RrType::A).build().unwrap(),
            rrset("API.example.com.", RrType::Cname).build().unwrap(),
            rrset("api.example.com.", RrType::Cname)
                .set_identifier("blue")
                .weight(10)
                .build()
                .unwrap(),
            rrset("api.example.com.", RrType::Cname)
                .set_identifier("everyone-else")
                .geo_location(geo("*"))
                .build()
                .unwrap(),
            rrset("country-de.geolat.api.example.com.", RrType::Txt)
                .build()
                .unwrap(),
            rrset("default.geolat.api.example.com.", RrType::Cname)
                .set_identifier("old")
                .geo_location(geo("*"))
                .build()
                .unwrap(),
            // Not conflicts: geolat's own, a geolocation CNAME at the
            // service name, a weighted CNAME at a location name, records at
            // other names.
            rrset("api.example.com.", RrType::Cname)
                .set_identifier("geolat:default")
                .geo_location(geo("*"))
                .build()
                .unwrap(),
            rrset("api.example.com.", RrType::Cname)
                .set_identifier("legacy-fr")
                .geo_location(geo("FR"))
                .build()
                .unwrap(),
            rrset("default.geolat.api.example.com.", RrType::Cname)
                .set_identifier("canary")
                .weight(1)
                .build()
                .unwrap(),
            rrset("www.example.com.", RrType::A).build().unwrap(),
            rrset("x.y.geolat.api.example.com.", RrType::A)
                .build()
                .unwrap(),
            rrset("example.com.", RrType::Soa).build().unwrap(),
        ];
        let found = name_conflicts(&zone, &layout());
        let seen: Vec<(&str, &str, Option<&str>)> = found
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.r#type.as_str(),
                    c.set_identifier.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("api.example.com.", "A", None),
                ("API.example.com.", "CNAME", None),
                ("api.example.com.", "CNAME", Some("blue")),
                ("api.example.com.", "CNAME", Some("everyone-else")),
                ("country-de.geolat.api.example.com.", "TXT", None),
                ("default.geolat.api.example.com.", "CNAME", Some("old")),
            ]
        );
        assert_eq!(found[0].routing, "simple");
        assert!(
            found[0].problem.contains("A record cannot share"),
            "{found:?}"
        );
        assert!(found[2].problem.contains("geolocation"), "{found:?}");
        assert!(found[3].problem.contains("default location"), "{found:?}");
        assert!(found[5].problem.contains("weighted"), "{found:?}");
        assert_eq!(
            found[0].migration,
            "move it under another name first, e.g. legacy.api.example.com, then delete it here"
        );
        let line = refusal("api.example.com", &found).unwrap();
        assert!(
            line.starts_with("route53.name api.example.com has 6 record(s) geolat does not own"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        assert_eq!(refusal("api.example.com", &[]), None);
    }

    #[test]
    fn a_traffic_policy_name_holds_only_its_instance() {
        let zone = vec![
            rrset("api.example.com.", RrType::Cname)
                .traffic_policy_instance_id("tpi-1")
                .build()
                .unwrap(),
            rrset("api.example.com.", RrType::Aaaa).build().unwrap(),
            rrset("other.example.com.", RrType::A).build().unwrap(),
        ];
        let found = policy_name_conflicts(&zone, "api.example.com", Some("tpi-1"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].r#type, "AAAA");
        // Before the instance exists, everything at the name is in the way.
        assert_eq!(
            policy_name_conflicts(&zone, "api.example.com", None).len(),
            2
        );
    }
}
