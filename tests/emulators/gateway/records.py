"""Route 53 record sets, kept by the gateway: the source of truth for every
hosted zone's records.

moto stores record sets but gets Route 53's semantics wrong where a test
would then pass against moto and fail against AWS: a DELETE of a record with
a SetIdentifier deletes every record carrying that identifier whatever its
name, Weight and geoproximity Bias go unchecked, GeoProximityLocation is
dropped, and listing ignores StartRecordIdentifier. Patching moto's result
after the fact hid bugs (a batch upserting `geolat:us-east-1` under one name
and deleting it under another lost the upsert), so the gateway keeps each
zone's record sets itself, keyed by (name, type, set identifier), and
applies a change batch as Route 53 does:

* the batch is atomic: applied to a copy, kept only if every change holds;
* changes apply in order, so DELETE then CREATE of one record set in a batch
  replaces it;
* CREATE fails when the record set exists; DELETE fails unless it exists
  with exactly the values given (TTL, records, weight, location, ...);
  UPSERT creates or replaces;
* afterwards the rules between the record sets of one name hold: no CNAME
  at the apex or beside another type, no record set without SetIdentifier
  beside others of its type, one routing policy per name and type, no
  location twice; the apex SOA and NS stay.

Shape errors (a missing TTL, a Weight over 255) are InvalidInput, answered
for the first; batch errors are InvalidChangeBatch, all of them in one
message, as Route 53 lists them.

moto still owns the zones (create, get, list, delete) and makes their SOA
and NS record sets, which the gateway copies when it first sees a zone;
after that, moto's record sets are never read or changed.
"""

import copy
import ipaddress
import re
import time
import uuid
import xml.etree.ElementTree as ET

from .moto_passthrough import moto_headers
from .r53_wire import check_range, q, r53_reply
from .wire import ApiError, Reply, iso, request_id

RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR",
                "SOA", "SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT")
ROUTING = ("Weight", "Region", "GeoLocation", "Failover", "MultiValueAnswer",
           "GeoProximityLocation", "CidrRoutingConfig")
LIST_MAX = 300  # ListResourceRecordSets answers at most this many a page
TTL_MAX = 2147483647


def dns_name(text):
    """A DNS name as Route 53 keeps it: lower case, with the trailing dot."""
    return (text or "").strip().lower().rstrip(".") + "."


def local(tag):
    return tag.rsplit("}", 1)[-1]


def record_key(rrset):
    """(name, type, set identifier): what names a record set in a zone."""
    return (dns_name(rrset.findtext(q("Name"))), rrset.findtext(q("Type")) or "",
            rrset.findtext(q("SetIdentifier")) or None)


def shown(key):
    name, kind, ident = key
    ident = f", set-identifier='{ident}'" if ident else ""
    return f"[name='{name}', type='{kind}'{ident}]"


def order(key):
    """Route 53 lists by name with the labels reversed, then type, then identifier."""
    name, kind, ident = key
    return (".".join(reversed(name.rstrip(".").split("."))) + ".", kind, ident or "")


def canonical(el, kind):
    """A record set's values, comparable: what a DELETE must match exactly.

    Element order, the case of names and a CNAME value's trailing dot do
    not count (DNS names are case-insensitive); everything else does.
    """
    tag, text = local(el.tag), (el.text or "").strip()
    if tag == "Name" or (tag == "Value" and kind == "CNAME"):
        text = dns_name(text)
    elif text in ("True", "False"):
        text = text.lower()
    return (tag, text, tuple(sorted(canonical(c, kind) for c in el)))


def routing_of(rrset):
    found = [t for t in ROUTING if rrset.find(q(t)) is not None]
    return found[0] if found else None


def invalid_request(what, action, key):
    name, kind, ident = key
    return ApiError("InvalidInput", f"Invalid request: {what} in Change with [Action={action}, "
                                    f"Name={name}, Type={kind}, SetIdentifier={ident or 'null'}]")


def check_shape(rrset, action, where):
    """What Route 53 refuses as InvalidInput before looking at the zone."""
    key = record_key(rrset)
    if key[0] == "." or key[1] not in RECORD_TYPES:
        raise invalid_request("a Name and a Type (one of " + " ".join(RECORD_TYPES) + ") are needed",
                              action, key)
    check_range(rrset.findtext(q("Weight")), 0, 255, f"{where}.weight")
    location = rrset.find(q("GeoProximityLocation"))
    if location is not None:
        check_range(location.findtext(q("Bias")), -99, 99, f"{where}.geoProximityLocation.bias")
        if not key[2]:
            raise ApiError("InvalidInput", "A geoproximity record needs a SetIdentifier")
    policies = [t for t in ROUTING if rrset.find(q(t)) is not None]
    if len(policies) > 1:
        raise invalid_request(f"Expected at most one routing policy, found {', '.join(policies)}",
                              action, key)
    if policies and not key[2]:
        raise invalid_request("Missing field 'SetIdentifier'", action, key)
    if key[2] and not policies:
        raise invalid_request(f"Expected exactly one of [{', '.join(ROUTING)}], but found none",
                              action, key)
    ttl = rrset.findtext(q("TTL"))
    values = rrset.findall(f"{q('ResourceRecords')}/{q('ResourceRecord')}")
    if rrset.find(q("AliasTarget")) is not None:
        if ttl is not None or values:
            raise invalid_request("An alias record has no TTL or ResourceRecords", action, key)
        return
    if ttl is None:
        raise invalid_request("Missing field 'TTL'", action, key)
    check_range(ttl, 0, TTL_MAX, f"{where}.TTL")
    if not values:
        raise invalid_request("Missing field 'ResourceRecords'", action, key)


def value_problems(rrset, key):
    """Record values Route 53 refuses in a batch (InvalidChangeBatch)."""
    name, kind, _ = key
    values = [v.findtext(q("Value")) or ""
              for v in rrset.findall(f"{q('ResourceRecords')}/{q('ResourceRecord')}")]
    problems = []
    for value in values:
        if kind in ("A", "AAAA"):
            family = ipaddress.IPv4Address if kind == "A" else ipaddress.IPv6Address
            try:
                ok = isinstance(ipaddress.ip_address(value), family)
            except ValueError:
                ok = False
            if not ok:
                problems.append(f"{kind}RRDATAIllegalIPv{4 if kind == 'A' else 6}Address (Value is "
                                f"not a valid IPv{4 if kind == 'A' else 6} address) encountered with '{value}'")
    if kind == "CNAME" and len(values) > 1:
        problems.append(f"RRSet of type CNAME with DNS name {name} has more than one value")
    return problems


def name_problems(sets, name, zone):
    """Rules between the record sets of one name, once a batch is applied."""
    here = {k: v for k, v in sets.items() if k[0] == name}
    kinds = sorted({k[1] for k in here})
    problems = []
    if "CNAME" in kinds and name == zone:
        problems.append(f"RRSet of type CNAME with DNS name {name} is not permitted at apex in zone {zone}")
    elif "CNAME" in kinds and len(kinds) > 1:
        other = next(k for k in kinds if k != "CNAME")
        problems.append(f"RRSet of type CNAME with DNS name {name} is not permitted because a "
                        f"conflicting RRSet of type {other} with the same DNS name already exists "
                        f"in zone {zone}")
    for kind in kinds:
        group = {k: v for k, v in here.items() if k[1] == kind}
        if len(group) > 1 and any(k[2] is None for k in group):
            problems.append(f"RRSet with DNS name {name}, type {kind} cannot be created: a record "
                            "set without SetIdentifier cannot share its name and type")
            continue
        policies = sorted({routing_of(v) or "simple" for v in group.values()})
        if len(policies) > 1:
            problems.append(f"RRSet with DNS name {name}, type {kind} cannot mix routing policies "
                            f"({', '.join(policies)}) under one name and type")
        seen = {}
        for k, v in sorted(group.items(), key=lambda kv: order(kv[0])):
            where = v.find(q("GeoLocation"))
            if where is None:
                continue
            at = canonical(where, kind)
            if at in seen:
                problems.append(f"RRSet with DNS name {name}, type {kind}: set identifiers "
                                f"'{seen[at]}' and '{k[2]}' have the same GeoLocation")
            seen[at] = k[2]
    return problems


class RecordSets:
    """Each zone's record sets: {zone id: {"name": str, "sets": {key: element}}}.

    Not locked here: the Route 53 service calls it under its lock.
    """

    def __init__(self, moto):
        self.moto = moto
        self.reset()

    def reset(self):
        self.zones = {}
        self.pending_polls = 0  # GetChange polls a new change stays PENDING
        self.changes = {}       # change id -> polls left before INSYNC

    # -- zones, from moto

    def zone_name(self, zone_id, headers):
        """The zone's name from moto, or NoSuchHostedZone."""
        reply = self.moto.forward(
            "GET", f"/2013-04-01/hostedzone/{zone_id}", moto_headers(headers, "route53"), b"")
        if reply.status != 200:
            raise ApiError("NoSuchHostedZone", f"No hosted zone found with ID: {zone_id}", 404)
        return dns_name(ET.fromstring(reply.body).findtext(f"{q('HostedZone')}/{q('Name')}"))

    def zone(self, zone_id, headers):
        """The zone's store; made from moto's SOA and NS record sets when first
        seen. A zone's deletion goes through the gateway (`forget`), so a
        known zone is not looked up again."""
        zone = self.zones.get(zone_id)
        if zone is None:
            name = self.zone_name(zone_id, headers)
            zone = {"name": name, "sets": self.from_moto(zone_id, headers)}
            self.zones[zone_id] = zone
        return zone

    def from_moto(self, zone_id, headers):
        reply = self.moto.forward(
            "GET", f"/2013-04-01/hostedzone/{zone_id}/rrset", moto_headers(headers, "route53"), b"")
        if reply.status != 200:
            raise ApiError("InternalFailure", f"moto could not list zone {zone_id}'s records", 500)
        listed = ET.fromstring(reply.body).find(q("ResourceRecordSets"))
        sets = {}
        for rrset in listed if listed is not None else []:
            # moto renders the SOA value as a Python dict repr: {'Value': '...'}.
            for value in rrset.iter(q("Value")):
                fixed = re.fullmatch(r"\{'Value': '(.*)'\}", value.text or "")
                if fixed:
                    value.text = fixed.group(1)
            sets[record_key(rrset)] = self.kept(rrset)
        return sets

    @staticmethod
    def kept(rrset):
        kept = copy.deepcopy(rrset)
        kept.find(q("Name")).text = record_key(rrset)[0]
        return kept

    def zone_in_use(self, zone_id):
        """Whether the zone holds more than its apex SOA and NS (HostedZoneNotEmpty)."""
        zone = self.zones.get(zone_id)
        return zone is not None and any(
            not (kind in ("SOA", "NS") and name == zone["name"]) for name, kind, _ in zone["sets"])

    def forget(self, zone_id):
        self.zones.pop(zone_id, None)

    # -- ChangeResourceRecordSets

    def change(self, zone_id, body, headers):
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise ApiError("InvalidInput", f"Malformed XML: {e}")
        batch = root.find(q("ChangeBatch"))
        changes = list(batch.find(q("Changes"))) if batch is not None and batch.find(
            q("Changes")) is not None else []
        if not changes:
            raise ApiError("InvalidInput", "A change batch needs at least one change")
        if len(changes) > 1000:
            raise ApiError("InvalidChangeBatch", "A change batch holds at most 1000 changes")
        checked = []
        for n, change in enumerate(changes, 1):
            action, rrset = change.findtext(q("Action")), change.find(q("ResourceRecordSet"))
            if action not in ("CREATE", "DELETE", "UPSERT"):
                raise ApiError("InvalidInput", f"Invalid Action {action}: CREATE, DELETE or UPSERT")
            if rrset is None:
                raise ApiError("InvalidInput", f"Change {n} has no ResourceRecordSet")
            check_shape(rrset, action, f"changeBatch.changes.{n}.member.resourceRecordSet")
            checked.append((action, rrset))

        zone = self.zone(zone_id, headers)
        sets = dict(zone["sets"])  # the batch applies to a copy: all or nothing
        problems = []
        for action, rrset in checked:
            problems += self.apply(sets, zone["name"], action, rrset)
        for name in sorted({record_key(rrset)[0] for _, rrset in checked}):
            problems += name_problems(sets, name, zone["name"])
        if problems:
            raise ApiError("InvalidChangeBatch", "[" + ", ".join(problems) + "]")
        zone["sets"] = sets
        change_id = f"C{uuid.uuid4().hex[:12].upper()}"
        self.changes[change_id] = self.pending_polls
        info = [("Id", f"/change/{change_id}"), ("Status", self.status(change_id)),
                ("SubmittedAt", iso(time.time())), ("Comment", batch.findtext(q("Comment")))]
        return r53_reply(200, "ChangeResourceRecordSetsResponse", [("ChangeInfo", info)])

    def status(self, change_id):
        return "PENDING" if self.changes.get(change_id, 0) > 0 else "INSYNC"

    def get_change(self, change_id):
        """GetChange: PENDING for as many polls as the test asked, then INSYNC,
        as Route 53 answers while its name servers catch up."""
        if change_id not in self.changes:
            raise ApiError("NoSuchChange", f"A change with the specified change ID does not exist: {change_id}", 404)
        status = self.status(change_id)
        self.changes[change_id] = max(0, self.changes[change_id] - 1)
        info = [("Id", f"/change/{change_id}"), ("Status", status), ("SubmittedAt", iso(time.time()))]
        return r53_reply(200, "GetChangeResponse", [("ChangeInfo", info)])

    def apply(self, sets, zone, action, rrset):
        """One change to `sets`; the problems it has, if any (then `sets` is as it was)."""
        key = record_key(rrset)
        name, kind, _ = key
        if not (name == zone or name.endswith("." + zone)):
            return [f"RRSet with DNS name {name} is not permitted in zone {zone}"]
        if action == "DELETE":
            if key not in sets:
                return [f"Tried to delete resource record set {shown(key)} but it was not found"]
            if canonical(sets[key], kind) != canonical(rrset, kind):
                return [f"Tried to delete resource record set {shown(key)} but the values "
                        "provided do not match the current values"]
            if name == zone and kind == "SOA":
                return ["A HostedZone must contain exactly one SOA record."]
            if name == zone and kind == "NS":
                return ["A HostedZone must contain at least one NS record for the zone itself."]
            del sets[key]
            return []
        if action == "CREATE" and key in sets:
            return [f"Tried to create resource record set {shown(key)} but it already exists"]
        problems = value_problems(rrset, key)
        if not problems:
            sets[key] = self.kept(rrset)
        return problems

    # -- ListResourceRecordSets and GetHostedZone

    def list(self, zone_id, query, headers):
        zone = self.zone(zone_id, headers)
        start_name, start_type = query.get("name"), query.get("type")
        if start_type and not start_name:
            raise ApiError("InvalidInput", "The input is not valid: a start type needs a start name")
        try:
            size = int(query.get("maxitems") or LIST_MAX)
        except ValueError:
            raise ApiError("InvalidInput", "maxitems must be an integer")
        if size < 1:
            raise ApiError("InvalidInput", "maxitems must be at least 1")
        size = min(size, LIST_MAX)
        keys = sorted(zone["sets"], key=order)
        if start_name:
            start = order((dns_name(start_name), start_type or "", query.get("identifier")))
            keys = [k for k in keys if order(k) >= start]
        page, rest = keys[:size], keys[size:]

        root = ET.Element(q("ListResourceRecordSetsResponse"))
        listed = ET.SubElement(root, q("ResourceRecordSets"))
        listed.extend(copy.deepcopy(zone["sets"][k]) for k in page)
        ET.SubElement(root, q("IsTruncated")).text = "true" if rest else "false"
        if rest:
            name, kind, ident = rest[0]
            ET.SubElement(root, q("NextRecordName")).text = name
            ET.SubElement(root, q("NextRecordType")).text = kind
            if ident:
                ET.SubElement(root, q("NextRecordIdentifier")).text = ident
        ET.SubElement(root, q("MaxItems")).text = str(size)
        body = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
        return Reply(200, body.encode(), [("Content-Type", "text/xml"),
                                          ("x-amzn-RequestId", request_id())])

    def count_in(self, zone_id, reply):
        """moto's GetHostedZone, with the number of record sets the gateway holds."""
        zone = self.zones.get(zone_id)
        if reply.status != 200 or zone is None:
            return reply
        root = ET.fromstring(reply.body)
        count = root.find(f"{q('HostedZone')}/{q('ResourceRecordSetCount')}")
        if count is None:
            return reply
        count.text = str(len(zone["sets"]))
        body = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
        headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
        return Reply(200, body.encode(), headers)

