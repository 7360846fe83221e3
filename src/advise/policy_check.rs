//! A validator for Route 53 traffic policy documents, pure so that the
//! advisor can check what it writes and the AWS emulator can check what it
//! is sent. It holds a document to the constraints the Route 53 API
//! reference ("Traffic Policy Document Format") states:
//!
//! * `AWSPolicyFormatVersion` is `2015-10-01` or `2023-05-09`; `RecordType`
//!   is a DNS type Route 53 supports; exactly one of `StartRule` /
//!   `StartEndpoint`, naming a rule / endpoint that exists;
//! * endpoints have a known `Type` and a `Value` (an IPv4 address for `A`
//!   records of type `value`, IPv6 for `AAAA`, a domain name for `CNAME`);
//! * rules have a known `RuleType` and that type's fields; every item,
//!   location or region refers to exactly one endpoint or rule, and the
//!   reference resolves; weights are integers 0..=255;
//! * a geo rule's locations each name exactly one of `Continent` (AF AN AS
//!   EU NA OC SA), `Country` (ISO 3166-1 alpha-2) or `IsDefault: true`, with
//!   `Subdivision` only beside `Country`; no location twice; exactly one
//!   default;
//! * rules do not reference each other in a cycle.
//!
//! Booleans and weights are accepted as JSON values or as the strings the
//! reference's syntax shows (`"true"`, `"10"`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

const VERSIONS: [&str; 2] = ["2015-10-01", "2023-05-09"];
const RECORD_TYPES: [&str; 10] = [
    "A", "AAAA", "CAA", "CNAME", "MX", "NAPTR", "PTR", "SPF", "SRV", "TXT",
];
const ENDPOINT_TYPES: [&str; 7] = [
    "value",
    "cloudfront",
    "elastic-load-balancer",
    "application-load-balancer",
    "network-load-balancer",
    "s3-website",
    "elastic-beanstalk",
];
const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];
const HEALTH: [&str; 2] = ["EvaluateTargetHealth", "HealthCheck"];

/// One broken rule of the format, with the JSON path that breaks it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct PolicyProblem {
    pub path: String,
    pub problem: String,
}

struct Checker<'a> {
    endpoints: BTreeSet<&'a str>,
    rules: BTreeSet<&'a str>,
    /// Rule -> rules it references, for the cycle check.
    edges: BTreeMap<&'a str, Vec<&'a str>>,
    problems: Vec<PolicyProblem>,
}

impl<'a> Checker<'a> {
    fn bad(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.problems.push(PolicyProblem {
            path: path.into(),
            problem: problem.into(),
        });
    }

    /// Fields outside `allowed` are typos Route 53 would reject.
    fn only(&mut self, obj: &Map<String, Value>, allowed: &[&str], path: &str) {
        for k in obj.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.bad(format!("{path}.{k}"), "unknown field");
        }
    }

    /// Exactly one of `EndpointReference` / `RuleReference`, resolving.
    fn reference(
        &mut self,
        obj: &'a Map<String, Value>,
        path: &str,
        rule: &'a str,
        rules_ok: bool,
    ) {
        let ep = obj.get("EndpointReference");
        let rr = obj.get("RuleReference");
        match (ep, rr) {
            (Some(e), None) => match e.as_str() {
                Some(id) if self.endpoints.contains(id) => {}
                _ => self.bad(
                    format!("{path}.EndpointReference"),
                    format!("{e} is not an endpoint"),
                ),
            },
            (None, Some(r)) if rules_ok => match r.as_str() {
                Some(id) if self.rules.contains(id) => {
                    self.edges.entry(rule).or_default().push(id);
                }
                _ => self.bad(
                    format!("{path}.RuleReference"),
                    format!("{r} is not a rule"),
                ),
            },
            (None, Some(_)) => self.bad(path, "may refer only to an endpoint"),
            _ => self.bad(
                path,
                "needs exactly one of EndpointReference and RuleReference",
            ),
        }
    }

    fn endpoint(&mut self, id: &str, e: &Value, record_type: Option<&str>) {
        let path = format!("Endpoints.{id}");
        let Some(obj) = e.as_object() else {
            return self.bad(path, "must be an object");
        };
        self.only(obj, &["Type", "Region", "Value"], &path);
        let kind = obj.get("Type").and_then(Value::as_str);
        if !kind.is_some_and(|t| ENDPOINT_TYPES.contains(&t)) {
            self.bad(
                format!("{path}.Type"),
                format!("must be one of {}", ENDPOINT_TYPES.join(" ")),
            );
        }
        let Some(value) = obj
            .get("Value")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
        else {
            return self.bad(format!("{path}.Value"), "must be a non-empty string");
        };
        if kind != Some("value") {
            return;
        }
        let ok = match record_type {
            Some("A") => value.parse::<std::net::Ipv4Addr>().is_ok(),
            Some("AAAA") => value.parse::<std::net::Ipv6Addr>().is_ok(),
            Some("CNAME") => is_domain(value),
            _ => true,
        };
        if !ok {
            let want = match record_type {
                Some("A") => "an IPv4 address",
                Some("AAAA") => "an IPv6 address",
                _ => "a domain name",
            };
            self.bad(format!("{path}.Value"), format!("`{value}` is not {want}"));
        }
    }

    fn rule(&mut self, id: &'a str, rule: &'a Value) {
        let path = format!("Rules.{id}");
        let Some(obj) = rule.as_object() else {
            return self.bad(path, "must be an object");
        };
        let list = |name: &str| {
            obj.get(name)
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
        };
        match obj.get("RuleType").and_then(Value::as_str) {
            Some("geo") => {
                self.only(obj, &["RuleType", "Locations"], &path);
                match list("Locations") {
                    Some(locations) => self.geo(id, locations, &path),
                    None => self.bad(format!("{path}.Locations"), "must be a non-empty array"),
                }
            }
            Some(kind @ ("weighted" | "multivalue")) => {
                self.only(obj, &["RuleType", "Items"], &path);
                let Some(items) = list("Items") else {
                    return self.bad(format!("{path}.Items"), "must be a non-empty array");
                };
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}.Items[{i}]");
                    let Some(item) = item.as_object() else {
                        self.bad(p, "must be an object");
                        continue;
                    };
                    if kind == "weighted" {
                        self.only(
                            item,
                            &[
                                "EndpointReference",
                                "RuleReference",
                                "Weight",
                                HEALTH[0],
                                HEALTH[1],
                            ],
                            &p,
                        );
                        if item.get("Weight").and_then(weight).is_none_or(|w| w > 255) {
                            self.bad(format!("{p}.Weight"), "must be an integer 0..255");
                        }
                    } else {
                        self.only(item, &["EndpointReference", HEALTH[1]], &p);
                    }
                    self.reference(item, &p, id, kind == "weighted");
                }
            }
            Some("failover") => {
                self.only(obj, &["RuleType", "Primary", "Secondary"], &path);
                for side in ["Primary", "Secondary"] {
                    let p = format!("{path}.{side}");
                    match obj.get(side).and_then(Value::as_object) {
                        Some(o) => self.reference(o, &p, id, true),
                        None => self.bad(p, "must be an object"),
                    }
                }
            }
            Some(kind @ ("latency" | "geoproximity")) => {
                let field = if kind == "latency" {
                    "Regions"
                } else {
                    "GeoproximityLocations"
                };
                self.only(obj, &["RuleType", field], &path);
                let Some(entries) = list(field) else {
                    return self.bad(format!("{path}.{field}"), "must be a non-empty array");
                };
                for (i, e) in entries.iter().enumerate() {
                    let p = format!("{path}.{field}[{i}]");
                    match e.as_object() {
                        Some(o) => self.reference(o, &p, id, true),
                        None => self.bad(p, "must be an object"),
                    }
                }
            }
            _ => self.bad(
                format!("{path}.RuleType"),
                "must be one of failover geo geoproximity latency multivalue weighted",
            ),
        }
    }

    fn geo(&mut self, id: &'a str, locations: &'a [Value], path: &str) {
        let mut defaults = 0;
        let mut seen = BTreeSet::new();
        for (i, loc) in locations.iter().enumerate() {
            let p = format!("{path}.Locations[{i}]");
            let Some(o) = loc.as_object() else {
                self.bad(p, "must be an object");
                continue;
            };
            self.only(
                o,
                &[
                    "EndpointReference",
                    "RuleReference",
                    "IsDefault",
                    "Continent",
                    "Country",
                    "Subdivision",
                    HEALTH[0],
                    HEALTH[1],
                ],
                &p,
            );
            self.reference(o, &p, id, true);
            let is_default = match o.get("IsDefault").map(boolean) {
                None => false,
                Some(Some(b)) => b,
                Some(None) => {
                    self.bad(format!("{p}.IsDefault"), "must be true or false");
                    false
                }
            };
            let continent = o.get("Continent").map(|c| c.as_str().unwrap_or_default());
            let country = o.get("Country").map(|c| c.as_str().unwrap_or_default());
            let named = usize::from(is_default)
                + usize::from(continent.is_some())
                + usize::from(country.is_some());
            if named != 1 {
                self.bad(
                    &p,
                    "needs exactly one of Continent, Country and IsDefault: true",
                );
            }
            if let Some(c) = continent.filter(|c| !CONTINENTS.contains(c)) {
                self.bad(
                    format!("{p}.Continent"),
                    format!("`{c}` must be one of {}", CONTINENTS.join(" ")),
                );
            }
            if let Some(c) =
                country.filter(|c| !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())))
            {
                self.bad(
                    format!("{p}.Country"),
                    format!("`{c}` is not an ISO 3166-1 alpha-2 code"),
                );
            }
            let sub = o.get("Subdivision").map(|s| s.as_str().unwrap_or_default());
            if sub.is_some() && country.is_none() {
                self.bad(format!("{p}.Subdivision"), "needs a Country");
            }
            defaults += usize::from(is_default);
            let key = (continent, country, sub, is_default);
            if named == 1 && !seen.insert(key) {
                self.bad(&p, "this location appears twice in the rule");
            }
        }
        if defaults != 1 {
            self.bad(
                format!("{path}.Locations"),
                format!("needs exactly one IsDefault location, has {defaults}"),
            );
        }
    }

    fn cycles(&mut self) {
        // Depth-first search with colours: 1 on the stack, 2 finished.
        fn visit<'a>(
            n: &'a str,
            edges: &BTreeMap<&'a str, Vec<&'a str>>,
            colour: &mut BTreeMap<&'a str, u8>,
            found: &mut Vec<String>,
        ) {
            colour.insert(n, 1);
            for &m in edges.get(n).into_iter().flatten() {
                match colour.get(m) {
                    Some(1) => found.push(format!("{n} -> {m}")),
                    Some(_) => {}
                    None => visit(m, edges, colour, found),
                }
            }
            colour.insert(n, 2);
        }
        let mut colour = BTreeMap::new();
        let mut found = Vec::new();
        for &r in &self.rules {
            if !colour.contains_key(r) {
                visit(r, &self.edges, &mut colour, &mut found);
            }
        }
        for f in found {
            self.bad("Rules", format!("rule references form a cycle ({f})"));
        }
    }
}

/// Every broken rule of the format in `doc`, or `Ok` when there is none.
pub fn validate(doc: &Value) -> Result<(), Vec<PolicyProblem>> {
    let none = Map::new();
    let Some(top) = doc.as_object() else {
        return Err(vec![PolicyProblem {
            path: "$".into(),
            problem: "a traffic policy document is a JSON object".into(),
        }]);
    };
    let endpoints = top
        .get("Endpoints")
        .and_then(Value::as_object)
        .unwrap_or(&none);
    let rules = top.get("Rules").and_then(Value::as_object).unwrap_or(&none);
    let mut c = Checker {
        endpoints: endpoints.keys().map(String::as_str).collect(),
        rules: rules.keys().map(String::as_str).collect(),
        edges: BTreeMap::new(),
        problems: Vec::new(),
    };
    c.only(
        top,
        &[
            "AWSPolicyFormatVersion",
            "RecordType",
            "StartRule",
            "StartEndpoint",
            "Endpoints",
            "Rules",
        ],
        "$",
    );
    if !top
        .get("AWSPolicyFormatVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| VERSIONS.contains(&v))
    {
        c.bad(
            "AWSPolicyFormatVersion",
            format!("must be one of {}", VERSIONS.join(" ")),
        );
    }
    let record_type = top.get("RecordType").and_then(Value::as_str);
    if !record_type.is_some_and(|t| RECORD_TYPES.contains(&t)) {
        c.bad(
            "RecordType",
            format!("must be one of {}", RECORD_TYPES.join(" ")),
        );
    }
    match (top.get("StartRule"), top.get("StartEndpoint")) {
        (Some(r), None) if r.as_str().is_some_and(|r| c.rules.contains(r)) => {}
        (None, Some(e)) if e.as_str().is_some_and(|e| c.endpoints.contains(e)) => {}
        (Some(r), None) => c.bad("StartRule", format!("{r} is not a rule")),
        (None, Some(e)) => c.bad("StartEndpoint", format!("{e} is not an endpoint")),
        _ => c.bad("$", "needs exactly one of StartRule and StartEndpoint"),
    }
    for (field, present) in [
        ("Endpoints", top.get("Endpoints")),
        ("Rules", top.get("Rules")),
    ] {
        if present.is_some_and(|v| !v.is_object()) {
            c.bad(field, "must be an object");
        }
    }
    for (id, e) in endpoints {
        c.endpoint(id, e, record_type);
    }
    for (id, r) in rules {
        c.rule(id, r);
    }
    c.cycles();
    if c.problems.is_empty() {
        Ok(())
    } else {
        Err(c.problems)
    }
}

fn weight(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn boolean(v: &Value) -> Option<bool> {
    v.as_bool().or_else(|| match v.as_str() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    })
}

fn is_domain(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
        })
}
