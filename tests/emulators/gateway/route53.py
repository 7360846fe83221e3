"""Route 53 as the gateway serves it: record sets (records.py, because
moto's semantics hide bugs), traffic policies and their instances (REST-XML;
moto answers 404) with the policy document checked against the "Traffic
Policy Document Format" (policy_document.py), and GetHealthCheckStatus as a
test set it (moto always says Success). Zones and health checks themselves
are moto's.
"""

import json
import threading
import time
import uuid

from .policy_document import policy_problems
from .r53_wire import paginate, r53_reply, strip_zone, xml_fields
from .records import RecordSets
from .wire import ApiError, iso


class Route53:
    """Record sets (see records.py), traffic policies and their instances,
    and health check statuses a test set; one lock over all of it."""

    def __init__(self, moto):
        self.moto = moto
        self.lock = threading.RLock()
        self.records = RecordSets(moto)
        self.reset()

    def reset(self):
        with self.lock:
            self.policies = {}    # id -> {Name, Type, Latest, versions: {n: {Document, Comment}}}
            self.instances = {}   # id -> TrafficPolicyInstance fields
            self.health = {}       # health check id -> status report set by a test
            self.records.reset()

    def zone_name(self, zone_id, headers):
        return self.records.zone_name(zone_id, headers)

    def health_status(self, check):
        """GetHealthCheckStatus for a check a test set (moto always says Success)."""
        status = self.health.get(check)
        if status is None:
            return None
        observation = [("Region", "us-east-1"), ("IPAddress", "127.0.13.37"),
                       ("StatusReport", [("Status", status), ("CheckedTime", iso(time.time()))])]
        return r53_reply(200, "GetHealthCheckStatusResponse", [
            ("HealthCheckObservations", [("HealthCheckObservation", observation)] * 3)])

    # -- traffic policies

    def check_document(self, text):
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise ApiError("InvalidTrafficPolicyDocument", f"The document is not JSON: {e}")
        problems = policy_problems(doc)
        if problems:
            raise ApiError("InvalidTrafficPolicyDocument", "; ".join(problems))
        return doc

    def policy(self, policy_id, version=None):
        p = self.policies.get(policy_id)
        if p is None or (version is not None and version not in p["versions"]):
            what = policy_id if version is None else f"{policy_id} version {version}"
            raise ApiError("NoSuchTrafficPolicy", f"No traffic policy found: {what}", 404)
        return p

    def policy_view(self, policy_id, version):
        p = self.policies[policy_id]
        v = p["versions"][version]
        return [
            ("Id", policy_id), ("Version", version), ("Name", p["Name"]), ("Type", p["Type"]),
            ("Document", v["Document"]), ("Comment", v["Comment"]),
        ]

    def policy_created(self, root, policy_id, version):
        location = f"https://route53.amazonaws.com/2013-04-01/trafficpolicy/{policy_id}/{version}"
        return r53_reply(201, root, [("TrafficPolicy", self.policy_view(policy_id, version))],
                         [("Location", location)])

    def create_policy(self, body):
        f = xml_fields(body)
        name = f.get("Name", "")
        if not name or len(name) > 512:
            raise ApiError("InvalidInput", "Name must be 1 to 512 characters")
        doc = self.check_document(f.get("Document", ""))
        if any(p["Name"] == name for p in self.policies.values()):
            raise ApiError("TrafficPolicyAlreadyExists", f"A traffic policy named {name} exists", 409)
        policy_id = str(uuid.uuid4())
        self.policies[policy_id] = {
            "Name": name, "Type": doc["RecordType"], "Latest": 1,
            "versions": {1: {"Document": f["Document"], "Comment": f.get("Comment")}},
        }
        return self.policy_created("CreateTrafficPolicyResponse", policy_id, 1)

    def create_policy_version(self, body, policy_id):
        p = self.policy(policy_id)
        f = xml_fields(body)
        doc = self.check_document(f.get("Document", ""))
        if doc["RecordType"] != p["Type"]:
            raise ApiError("InvalidTrafficPolicyDocument",
                           f"RecordType must stay {p['Type']} across versions")
        if p["Latest"] >= 1000:
            raise ApiError("TooManyTrafficPolicyVersionsForCurrentPolicy", "1000 versions at most")
        p["Latest"] += 1
        p["versions"][p["Latest"]] = {"Document": f["Document"], "Comment": f.get("Comment")}
        return self.policy_created("CreateTrafficPolicyVersionResponse", policy_id, p["Latest"])

    def get_policy(self, policy_id, version):
        self.policy(policy_id, version)
        return r53_reply(200, "GetTrafficPolicyResponse",
                         [("TrafficPolicy", self.policy_view(policy_id, version))])

    def update_policy_comment(self, body, policy_id, version):
        self.policy(policy_id, version)["versions"][version]["Comment"] = xml_fields(body).get("Comment")
        return r53_reply(200, "UpdateTrafficPolicyCommentResponse",
                         [("TrafficPolicy", self.policy_view(policy_id, version))])

    def delete_policy(self, policy_id, version):
        p = self.policy(policy_id, version)
        if any(i["TrafficPolicyId"] == policy_id and i["TrafficPolicyVersion"] == version
               for i in self.instances.values()):
            raise ApiError("TrafficPolicyInUse", "A traffic policy instance uses this version")
        del p["versions"][version]
        if not p["versions"]:
            del self.policies[policy_id]
        return r53_reply(200, "DeleteTrafficPolicyResponse", [])

    def list_policies(self, query):
        ids = sorted(self.policies)
        marker = query.get("trafficpolicyid")
        page, more, size = paginate(ids, lambda i: i >= marker if marker else True, query)
        summaries = [
            ("TrafficPolicySummary", [
                ("Id", i), ("Name", self.policies[i]["Name"]), ("Type", self.policies[i]["Type"]),
                ("LatestVersion", self.policies[i]["Latest"]),
                ("TrafficPolicyCount", len(self.policies[i]["versions"])),
            ])
            for i in page
        ]
        return r53_reply(200, "ListTrafficPoliciesResponse", [
            ("TrafficPolicySummaries", summaries), ("IsTruncated", bool(more)),
            ("TrafficPolicyIdMarker", more[0] if more else (page[-1] if page else "")),
            ("MaxItems", size),
        ])

    def list_policy_versions(self, policy_id, query):
        p = self.policy(policy_id)
        marker = int(query.get("trafficpolicyversion") or 0)
        page, more, size = paginate(sorted(p["versions"]), lambda v: v >= marker, query)
        return r53_reply(200, "ListTrafficPolicyVersionsResponse", [
            ("TrafficPolicies", [("TrafficPolicy", self.policy_view(policy_id, v)) for v in page]),
            ("IsTruncated", bool(more)),
            ("TrafficPolicyVersionMarker", more[0] if more else (page[-1] if page else "")),
            ("MaxItems", size),
        ])

    # -- traffic policy instances

    def instance(self, instance_id):
        if instance_id not in self.instances:
            raise ApiError("NoSuchTrafficPolicyInstance",
                           f"No traffic policy instance found with ID: {instance_id}", 404)
        return self.instances[instance_id]

    @staticmethod
    def instance_view(i):
        return [("TrafficPolicyInstance", [(k, i[k]) for k in (
            "Id", "HostedZoneId", "Name", "TTL", "State", "Message",
            "TrafficPolicyId", "TrafficPolicyVersion", "TrafficPolicyType")])]

    @staticmethod
    def ttl_and_version(f):
        try:
            ttl, version = int(f.get("TTL", "")), int(f.get("TrafficPolicyVersion", ""))
        except ValueError:
            raise ApiError("InvalidInput", "TTL and TrafficPolicyVersion must be integers")
        if not 0 <= ttl <= 2147483647:
            raise ApiError("InvalidInput", "TTL must be between 0 and 2147483647")
        return ttl, version

    def create_instance(self, body, headers):
        f = xml_fields(body)
        zone_id = strip_zone(f.get("HostedZoneId", ""))
        ttl, version = self.ttl_and_version(f)
        zone = self.zone_name(zone_id, headers)
        name = f.get("Name", "").lower().rstrip(".") + "."
        if not (name == zone or name.endswith("." + zone)):
            raise ApiError("InvalidInput", f"{name} is not in the hosted zone {zone}")
        p = self.policy(f.get("TrafficPolicyId", ""), version)
        if any(i["Name"] == name and i["HostedZoneId"] == zone_id and i["TrafficPolicyType"] == p["Type"]
               for i in self.instances.values()):
            raise ApiError("TrafficPolicyInstanceAlreadyExists",
                           f"A traffic policy instance for {name} exists", 409)
        instance_id = str(uuid.uuid4())
        self.instances[instance_id] = {
            "Id": instance_id, "HostedZoneId": zone_id, "Name": name, "TTL": ttl,
            "State": "Applied", "Message": "", "TrafficPolicyId": f["TrafficPolicyId"],
            "TrafficPolicyVersion": version, "TrafficPolicyType": p["Type"],
        }
        location = f"https://route53.amazonaws.com/2013-04-01/trafficpolicyinstance/{instance_id}"
        return r53_reply(201, "CreateTrafficPolicyInstanceResponse",
                         self.instance_view(self.instances[instance_id]), [("Location", location)])

    def get_instance(self, instance_id):
        return r53_reply(200, "GetTrafficPolicyInstanceResponse",
                         self.instance_view(self.instance(instance_id)))

    def update_instance(self, body, instance_id):
        i = self.instance(instance_id)
        f = xml_fields(body)
        ttl, version = self.ttl_and_version(f)
        p = self.policy(f.get("TrafficPolicyId", ""), version)
        if p["Type"] != i["TrafficPolicyType"]:
            raise ApiError("ConflictingTypes",
                           f"The instance has type {i['TrafficPolicyType']}, the policy {p['Type']}")
        i.update(TTL=ttl, TrafficPolicyId=f["TrafficPolicyId"], TrafficPolicyVersion=version)
        return r53_reply(200, "UpdateTrafficPolicyInstanceResponse", self.instance_view(i))

    def delete_instance(self, instance_id):
        self.instance(instance_id)
        del self.instances[instance_id]
        return r53_reply(200, "DeleteTrafficPolicyInstanceResponse", [])

    def list_instances(self, root, query, keep, zone=None):
        """List instances; `zone` is set when listing one zone, which has no zone marker."""
        order = lambda i: (i["HostedZoneId"], i["Name"], i["TrafficPolicyType"])  # noqa: E731
        start = (zone or query.get("hostedzoneid", ""), query.get("trafficpolicyinstancename", ""),
                 query.get("trafficpolicyinstancetype", ""))
        items = sorted((i for i in self.instances.values() if keep(i)), key=order)
        page, more, size = paginate(items, lambda i: order(i) >= start, query)
        children = [
            ("TrafficPolicyInstances", [v for i in page for v in self.instance_view(i)]),
            ("IsTruncated", bool(more)),
        ]
        if more:
            if zone is None:
                children.append(("HostedZoneIdMarker", more[0]["HostedZoneId"]))
            children += [("TrafficPolicyInstanceNameMarker", more[0]["Name"]),
                         ("TrafficPolicyInstanceTypeMarker", more[0]["TrafficPolicyType"])]
        children.append(("MaxItems", size))
        return r53_reply(200, root, children)

    def zone_in_use(self, zone_id):
        return self.records.zone_in_use(zone_id) or any(
            i["HostedZoneId"] == zone_id for i in self.instances.values())

    # -- requests

    def handler(self, op, p, query, headers, body, forward):
        """A function serving `op` under the lock, or None when moto serves it as it is."""
        version = int(p["version"]) if "version" in p else None
        zone = strip_zone(p.get("zone", ""))
        handlers = {
            "CreateTrafficPolicy": lambda: self.create_policy(body),
            "CreateTrafficPolicyVersion": lambda: self.create_policy_version(body, p["id"]),
            "GetTrafficPolicy": lambda: self.get_policy(p["id"], version),
            "UpdateTrafficPolicyComment": lambda: self.update_policy_comment(body, p["id"], version),
            "DeleteTrafficPolicy": lambda: self.delete_policy(p["id"], version),
            "ListTrafficPolicies": lambda: self.list_policies(query),
            "ListTrafficPolicyVersions": lambda: self.list_policy_versions(p["id"], query),
            "CreateTrafficPolicyInstance": lambda: self.create_instance(body, headers),
            "GetTrafficPolicyInstance": lambda: self.get_instance(p["id"]),
            "UpdateTrafficPolicyInstance": lambda: self.update_instance(body, p["id"]),
            "DeleteTrafficPolicyInstance": lambda: self.delete_instance(p["id"]),
            "ListTrafficPolicyInstances": lambda: self.list_instances(
                "ListTrafficPolicyInstancesResponse", query, lambda i: True),
            "ListTrafficPolicyInstancesByHostedZone": lambda: self.instances_in_zone(query, headers),
            "ListTrafficPolicyInstancesByPolicy": lambda: self.list_instances(
                "ListTrafficPolicyInstancesByPolicyResponse", query,
                lambda i: i["TrafficPolicyId"] == query.get("id")
                and str(i["TrafficPolicyVersion"]) == query.get("version")),
            "GetTrafficPolicyInstanceCount": lambda: r53_reply(
                200, "GetTrafficPolicyInstanceCountResponse",
                [("TrafficPolicyInstanceCount", len(self.instances))]),
            "ChangeResourceRecordSets": lambda: self.records.change(zone, body, headers),
            "ListResourceRecordSets": lambda: self.records.list(zone, query, headers),
            "GetChange": lambda: self.records.get_change(p["change"]),
            "GetHostedZone": lambda: self.records.count_in(zone, forward()),
            "GetHealthCheckStatus": lambda: self.health_status(p["check"]) or forward(),
            "DeleteHostedZone": lambda: self.delete_zone(zone, forward),
        }
        fn = handlers.get(op)
        if fn is None:
            return None

        def locked():
            with self.lock:
                return fn()
        return locked

    def instances_in_zone(self, query, headers):
        zone = strip_zone(query.get("id", ""))
        self.zone_name(zone, headers)
        return self.list_instances(
            "ListTrafficPolicyInstancesByHostedZoneResponse", query,
            lambda i: i["HostedZoneId"] == zone, zone=zone)

    def delete_zone(self, zone, forward):
        if self.zone_in_use(zone):
            raise ApiError("HostedZoneNotEmpty",
                           "The hosted zone contains resource record sets other than NS and SOA.")
        reply = forward()
        if reply.status == 200:
            self.records.forget(zone)
        return reply
