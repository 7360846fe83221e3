"""The Traffic Policy Document Format, checked: every way a document breaks
it, as Route 53 refuses CreateTrafficPolicy with InvalidTrafficPolicyDocument."""

import ipaddress
import json
import re

from .wire import is_int


POLICY_VERSIONS = ("2015-10-01", "2023-05-09")
RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NAPTR", "PTR", "SPF", "SRV", "TXT")
ENDPOINT_TYPES = (
    "value", "cloudfront", "elastic-load-balancer", "application-load-balancer",
    "network-load-balancer", "s3-website", "elastic-beanstalk",
)
CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
HEALTH = ("EvaluateTargetHealth", "HealthCheck")


def policy_weight(v):
    # Route 53's syntax shows numbers as strings ("10"); both are accepted.
    if is_int(v):
        return v
    return int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else None


def policy_bool(v):
    return v if isinstance(v, bool) else {"true": True, "false": False}.get(v)


def is_domain(s):
    s = s[:-1] if s.endswith(".") else s
    return 0 < len(s) <= 253 and all(
        0 < len(label) <= 63 and re.fullmatch(r"[A-Za-z0-9_*-]+", label)
        for label in s.split(".")
    )


def policy_problems(doc):
    """Every way `doc` breaks the Traffic Policy Document Format.

    Mirrors src/advise/policy_check.rs, so the advisor and this emulator hold
    documents to the same rules, plus the Region of latency entries and the
    Bias range of geoproximity entries.
    """
    if not isinstance(doc, dict):
        return ["$: a traffic policy document is a JSON object"]
    problems = []

    def bad(path, problem):
        problems.append(f"{path}: {problem}")

    endpoints = doc.get("Endpoints") if isinstance(doc.get("Endpoints"), dict) else {}
    rules = doc.get("Rules") if isinstance(doc.get("Rules"), dict) else {}
    edges = {}  # rule -> rules it references, for the cycle check

    def only(obj, allowed, path):
        for key in obj:
            if key not in allowed:
                bad(f"{path}.{key}", "unknown field")

    def reference(obj, path, rule, rules_ok=True):
        ep, rr = obj.get("EndpointReference"), obj.get("RuleReference")
        if ep is not None and rr is None:
            if not (isinstance(ep, str) and ep in endpoints):
                bad(f"{path}.EndpointReference", f"{json.dumps(ep)} is not an endpoint")
        elif ep is None and rr is not None and rules_ok:
            if isinstance(rr, str) and rr in rules:
                edges.setdefault(rule, []).append(rr)
            else:
                bad(f"{path}.RuleReference", f"{json.dumps(rr)} is not a rule")
        elif ep is None and rr is not None:
            bad(path, "may refer only to an endpoint")
        else:
            bad(path, "needs exactly one of EndpointReference and RuleReference")

    only(doc, ("AWSPolicyFormatVersion", "RecordType", "StartRule", "StartEndpoint",
               "Endpoints", "Rules"), "$")
    if doc.get("AWSPolicyFormatVersion") not in POLICY_VERSIONS:
        bad("AWSPolicyFormatVersion", f"must be one of {' '.join(POLICY_VERSIONS)}")
    record_type = doc.get("RecordType")
    if record_type not in RECORD_TYPES:
        bad("RecordType", f"must be one of {' '.join(RECORD_TYPES)}")
    start_rule, start_ep = doc.get("StartRule"), doc.get("StartEndpoint")
    if start_rule is not None and start_ep is None:
        if start_rule not in rules:
            bad("StartRule", f"{json.dumps(start_rule)} is not a rule")
    elif start_ep is not None and start_rule is None:
        if start_ep not in endpoints:
            bad("StartEndpoint", f"{json.dumps(start_ep)} is not an endpoint")
    else:
        bad("$", "needs exactly one of StartRule and StartEndpoint")
    for field in ("Endpoints", "Rules"):
        if field in doc and not isinstance(doc[field], dict):
            bad(field, "must be an object")

    for ep_id, ep in endpoints.items():
        path = f"Endpoints.{ep_id}"
        if not isinstance(ep, dict):
            bad(path, "must be an object")
            continue
        only(ep, ("Type", "Region", "Value"), path)
        kind = ep.get("Type")
        if kind not in ENDPOINT_TYPES:
            bad(f"{path}.Type", f"must be one of {' '.join(ENDPOINT_TYPES)}")
        value = ep.get("Value")
        if not (isinstance(value, str) and value):
            bad(f"{path}.Value", "must be a non-empty string")
        elif kind == "value" and not value_fits(value, record_type):
            bad(f"{path}.Value", f"`{value}` does not fit RecordType {record_type}")

    for rule_id, rule in rules.items():
        path = f"Rules.{rule_id}"
        if not isinstance(rule, dict):
            bad(path, "must be an object")
            continue

        def entries(field):
            items = rule.get(field)
            if not (isinstance(items, list) and items):
                bad(f"{path}.{field}", "must be a non-empty array")
                return []
            objs = []
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    objs.append((f"{path}.{field}[{i}]", item))
                else:
                    bad(f"{path}.{field}[{i}]", "must be an object")
            return objs

        kind = rule.get("RuleType")
        if kind == "geo":
            only(rule, ("RuleType", "Locations"), path)
            geo_locations(entries("Locations"), path, rule_id, bad, only, reference)
        elif kind in ("weighted", "multivalue"):
            only(rule, ("RuleType", "Items"), path)
            for p, item in entries("Items"):
                if kind == "weighted":
                    only(item, ("EndpointReference", "RuleReference", "Weight", *HEALTH), p)
                    w = policy_weight(item.get("Weight"))
                    if w is None or not 0 <= w <= 255:
                        bad(f"{p}.Weight", "must be an integer 0..255")
                else:
                    only(item, ("EndpointReference", HEALTH[1]), p)
                reference(item, p, rule_id, kind == "weighted")
        elif kind == "failover":
            only(rule, ("RuleType", "Primary", "Secondary"), path)
            for side in ("Primary", "Secondary"):
                if isinstance(rule.get(side), dict):
                    reference(rule[side], f"{path}.{side}", rule_id)
                else:
                    bad(f"{path}.{side}", "must be an object")
        elif kind == "latency":
            only(rule, ("RuleType", "Regions"), path)
            for p, entry in entries("Regions"):
                if not (isinstance(entry.get("Region"), str) and entry["Region"]):
                    bad(f"{p}.Region", "must be a region name")
                reference(entry, p, rule_id)
        elif kind == "geoproximity":
            only(rule, ("RuleType", "GeoproximityLocations"), path)
            for p, entry in entries("GeoproximityLocations"):
                if "Bias" in entry:
                    b = policy_weight(entry["Bias"])
                    if b is None or not -99 <= b <= 99:
                        bad(f"{p}.Bias", "must be an integer -99..99")
                reference(entry, p, rule_id)
        else:
            bad(f"{path}.RuleType",
                "must be one of failover geo geoproximity latency multivalue weighted")

    # Depth-first search with colours: 1 on the stack, 2 finished.
    colour = {}

    def visit(node):
        colour[node] = 1
        for nxt in edges.get(node, []):
            if colour.get(nxt) == 1:
                bad("Rules", f"rule references form a cycle ({node} -> {nxt})")
            elif nxt not in colour:
                visit(nxt)
        colour[node] = 2

    for rule_id in sorted(rules):
        if rule_id not in colour:
            visit(rule_id)
    return problems


def value_fits(value, record_type):
    try:
        if record_type == "A":
            return isinstance(ipaddress.ip_address(value), ipaddress.IPv4Address)
        if record_type == "AAAA":
            return isinstance(ipaddress.ip_address(value), ipaddress.IPv6Address)
    except ValueError:
        return False
    return is_domain(value) if record_type == "CNAME" else True


def geo_locations(locations, path, rule_id, bad, only, reference):
    defaults, seen = 0, set()
    for p, loc in locations:
        only(loc, ("EndpointReference", "RuleReference", "IsDefault", "Continent", "Country",
                   "Subdivision", *HEALTH), p)
        reference(loc, p, rule_id)
        is_default = False
        if "IsDefault" in loc:
            is_default = policy_bool(loc["IsDefault"])
            if is_default is None:
                bad(f"{p}.IsDefault", "must be true or false")
                is_default = False
        continent, country = loc.get("Continent"), loc.get("Country")
        named = is_default + (continent is not None) + (country is not None)
        if named != 1:
            bad(p, "needs exactly one of Continent, Country and IsDefault: true")
        if continent is not None and continent not in CONTINENTS:
            bad(f"{p}.Continent", f"`{continent}` must be one of {' '.join(CONTINENTS)}")
        if country is not None and not (isinstance(country, str) and re.fullmatch(r"[A-Z]{2}", country)):
            bad(f"{p}.Country", f"`{country}` is not an ISO 3166-1 alpha-2 code")
        subdivision = loc.get("Subdivision")
        if subdivision is not None and country is None:
            bad(f"{p}.Subdivision", "needs a Country")
        defaults += is_default
        key = (continent, country, subdivision, is_default)
        if named == 1:
            if key in seen:
                bad(p, "this location appears twice in the rule")
            seen.add(key)
    if defaults != 1:
        bad(f"{path}.Locations", f"needs exactly one IsDefault location, has {defaults}")
