"""Global Accelerator (awsJson1_1, absent from moto): accelerators,
listeners, endpoint groups, endpoints and tags, with the documented limits
and errors."""

import copy
import itertools
import json
import re
import threading
import time
import uuid

from .wire import ACCOUNT, ApiError, Reply, is_int, request_id

GA_PREFIX = "GlobalAccelerator_V20180706."


def ga_reply(status, payload):
    return Reply(
        status,
        json.dumps(payload).encode(),
        [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id())],
    )


def ga_error(err):
    # The Rust SDK reads the code from x-amzn-ErrorType first, then __type.
    reply = ga_reply(err.status, {"__type": err.code, "message": err.message})
    reply.headers.append(("x-amzn-ErrorType", err.code))
    return reply


def invalid(message):
    return ApiError("InvalidArgumentException", message)


def arg(req, key, kind=str, required=True):
    value = req.get(key)
    if value is None:
        if required:
            raise invalid(f"{key} is required")
        return None
    if kind is int:
        ok = is_int(value)
    elif kind is float:  # JSON has one number type: 50 is a fine float
        ok = is_int(value) or isinstance(value, float)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise invalid(f"{key} has the wrong type")
    return value


def in_range(req, key, low, high, kind=int):
    value = arg(req, key, kind, required=False)
    if value is not None and not low <= value <= high:
        raise invalid(f"{key} must be between {low} and {high}, got {value}")
    return value


class GlobalAccelerator:
    """Accelerators -> listeners -> endpoint groups (one per region) -> endpoints."""

    REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$")

    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.accelerators, self.listeners, self.groups = {}, {}, {}
            self.tags, self.tokens = {}, {}
            self.health = {}  # endpoint id -> (state, reason), set by tests
            self.serial = itertools.count(1)

    def call(self, op, req):
        # Operations are the methods named like them (CreateAccelerator, ...).
        if not (op[:1].isupper() and callable(getattr(self, op, None))):
            raise ApiError("UnknownOperationException", f"{op} is not emulated")
        with self.lock:
            return getattr(self, op)(req)

    # -- lookups and views

    def accelerator(self, arn):
        if arn not in self.accelerators:
            raise ApiError("AcceleratorNotFoundException", f"Accelerator {arn} not found")
        return self.accelerators[arn]

    def listener(self, arn):
        if arn not in self.listeners:
            raise ApiError("ListenerNotFoundException", f"Listener {arn} not found")
        return self.listeners[arn]

    def group(self, arn):
        if arn not in self.groups:
            raise ApiError("EndpointGroupNotFoundException", f"Endpoint group {arn} not found")
        return self.groups[arn]

    def idempotent(self, op, req, create):
        """Create once per IdempotencyToken, as the service does for retries."""
        token = req.get("IdempotencyToken")
        key = (op, token)
        if token and key in self.tokens and self.tokens[key] in self.objects():
            return self.tokens[key]
        arn = create()
        if token:
            self.tokens[key] = arn
        return arn

    def objects(self):
        return {**self.accelerators, **self.listeners, **self.groups}

    def endpoint_view(self, ep):
        state, reason = self.health.get(ep["EndpointId"], ("HEALTHY", None))
        view = {**ep, "HealthState": state}
        if reason:
            view["HealthReason"] = reason
        return view

    def group_view(self, g):
        view = {k: v for k, v in g.items() if not k.startswith("_")}
        view["EndpointDescriptions"] = [self.endpoint_view(e) for e in g["_endpoints"]]
        return view

    @staticmethod
    def page(items, req, key):
        size = in_range(req, "MaxResults", 1, 100) or 100
        token = arg(req, "NextToken", required=False) or "0"
        if not token.isdigit():
            raise ApiError("InvalidNextTokenException", "NextToken is not valid")
        start = int(token)
        out = {key: items[start:start + size]}
        if start + size < len(items):
            out["NextToken"] = str(start + size)
        return out

    # -- accelerators

    def CreateAccelerator(self, req):
        name = arg(req, "Name")
        ip_type = arg(req, "IpAddressType", required=False) or "IPV4"
        if ip_type not in ("IPV4", "DUAL_STACK"):
            raise invalid("IpAddressType must be IPV4 or DUAL_STACK")

        def create():
            n = next(self.serial)
            arn = f"arn:aws:globalaccelerator::{ACCOUNT}:accelerator/{uuid.uuid4()}"
            ips = [f"75.2.{n >> 8 & 255}.{n & 255}", f"99.83.{n >> 8 & 255}.{n & 255}"]
            now = time.time()
            acc = {
                "AcceleratorArn": arn,
                "Name": name,
                "IpAddressType": ip_type,
                "Enabled": arg(req, "Enabled", bool, required=False) is not False,
                "IpSets": [{"IpFamily": "IPv4", "IpAddresses": ips, "IpAddressFamily": "IPv4"}],
                "DnsName": f"a{uuid.uuid4().hex[:16]}.awsglobalaccelerator.com",
                "Status": "DEPLOYED",
                "CreatedTime": now,
                "LastModifiedTime": now,
            }
            if ip_type == "DUAL_STACK":
                acc["DualStackDnsName"] = f"a{uuid.uuid4().hex[:16]}.dualstack.awsglobalaccelerator.com"
            self.accelerators[arn] = acc
            self.tags[arn] = list(req.get("Tags") or [])
            return arn

        return {"Accelerator": self.accelerators[self.idempotent("CreateAccelerator", req, create)]}

    def DescribeAccelerator(self, req):
        return {"Accelerator": self.accelerator(arg(req, "AcceleratorArn"))}

    def ListAccelerators(self, req):
        return self.page(list(self.accelerators.values()), req, "Accelerators")

    def UpdateAccelerator(self, req):
        acc = self.accelerator(arg(req, "AcceleratorArn"))
        for key, kind in (("Name", str), ("Enabled", bool), ("IpAddressType", str)):
            value = arg(req, key, kind, required=False)
            if value is not None:
                acc[key] = value
        acc["LastModifiedTime"] = time.time()
        return {"Accelerator": acc}

    def DeleteAccelerator(self, req):
        arn = arg(req, "AcceleratorArn")
        if self.accelerator(arn)["Enabled"]:
            raise ApiError("AcceleratorNotDisabledException", "Disable the accelerator before deleting it")
        if any(l["_accelerator"] == arn for l in self.listeners.values()):
            raise ApiError("AssociatedListenerFoundException", "The accelerator still has listeners")
        del self.accelerators[arn]
        return {}

    # -- listeners

    def port_ranges(self, req):
        ranges = arg(req, "PortRanges", list)
        if not 1 <= len(ranges) <= 10:
            raise invalid("PortRanges must have 1 to 10 items")
        for r in ranges:
            lo, hi = r.get("FromPort"), r.get("ToPort")
            if not (is_int(lo) and is_int(hi) and 1 <= lo <= hi <= 65535):
                raise ApiError("InvalidPortRangeException", f"Invalid port range {r}")
        return ranges

    def CreateListener(self, req):
        acc_arn = arg(req, "AcceleratorArn")
        self.accelerator(acc_arn)
        ranges = self.port_ranges(req)
        protocol = arg(req, "Protocol")
        if protocol not in ("TCP", "UDP"):
            raise invalid("Protocol must be TCP or UDP")
        affinity = arg(req, "ClientAffinity", required=False) or "NONE"
        if affinity not in ("NONE", "SOURCE_IP"):
            raise invalid("ClientAffinity must be NONE or SOURCE_IP")

        def create():
            arn = f"{acc_arn}/listener/{uuid.uuid4().hex[:8]}"
            self.listeners[arn] = {
                "ListenerArn": arn,
                "PortRanges": ranges,
                "Protocol": protocol,
                "ClientAffinity": affinity,
                "_accelerator": acc_arn,
            }
            return arn

        return {"Listener": self.public(self.listeners[self.idempotent("CreateListener", req, create)])}

    @staticmethod
    def public(obj):
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def DescribeListener(self, req):
        return {"Listener": self.public(self.listener(arg(req, "ListenerArn")))}

    def ListListeners(self, req):
        acc_arn = arg(req, "AcceleratorArn")
        self.accelerator(acc_arn)
        items = [self.public(l) for l in self.listeners.values() if l["_accelerator"] == acc_arn]
        return self.page(items, req, "Listeners")

    def DeleteListener(self, req):
        arn = arg(req, "ListenerArn")
        self.listener(arn)
        if any(g["_listener"] == arn for g in self.groups.values()):
            raise ApiError("AssociatedEndpointGroupFoundException", "The listener still has endpoint groups")
        del self.listeners[arn]
        return {}

    # -- endpoint groups and endpoints

    def endpoint_configurations(self, req, key="EndpointConfigurations", required=False):
        configs = arg(req, key, list, required=required)
        if configs is None:
            return None
        if len(configs) > 10:
            raise ApiError("LimitExceededException", "An endpoint group has at most 10 endpoints")
        endpoints, seen = [], set()
        for c in configs:
            ep_id = arg(c, "EndpointId")
            if not ep_id or ep_id in seen:
                raise invalid(f"EndpointId {ep_id!r} is empty or repeated")
            seen.add(ep_id)
            weight = in_range(c, "Weight", 0, 255)
            preserve = arg(c, "ClientIPPreservationEnabled", bool, required=False)
            if preserve is None:
                # The service's default: on for ALBs and EC2 instances only.
                preserve = ":loadbalancer/app/" in ep_id or ep_id.startswith("i-")
            endpoints.append({
                "EndpointId": ep_id,
                "Weight": 128 if weight is None else weight,
                "ClientIPPreservationEnabled": preserve,
            })
        return endpoints

    def health_check_settings(self, req, group):
        dial = in_range(req, "TrafficDialPercentage", 0, 100, float)
        if dial is not None:
            group["TrafficDialPercentage"] = float(dial)
        for key, low, high in (
            ("HealthCheckPort", 1, 65535),
            ("HealthCheckIntervalSeconds", 10, 30),
            ("ThresholdCount", 1, 10),
        ):
            value = in_range(req, key, low, high)
            if value is not None:
                group[key] = value
        protocol = arg(req, "HealthCheckProtocol", required=False)
        if protocol is not None:
            if protocol not in ("TCP", "HTTP", "HTTPS"):
                raise invalid("HealthCheckProtocol must be TCP, HTTP or HTTPS")
            group["HealthCheckProtocol"] = protocol
        path = arg(req, "HealthCheckPath", required=False)
        if path is not None:
            if not re.fullmatch(r"/[-a-zA-Z0-9@:%_\\+.~#?&/=]*", path) or len(path) > 255:
                raise invalid(f"HealthCheckPath {path!r} is not valid")
            group["HealthCheckPath"] = path
        if group["HealthCheckProtocol"] != "TCP":
            group.setdefault("HealthCheckPath", "/")
        overrides = arg(req, "PortOverrides", list, required=False)
        if overrides is not None:
            group["PortOverrides"] = overrides

    def CreateEndpointGroup(self, req):
        listener_arn = arg(req, "ListenerArn")
        listener = self.listener(listener_arn)
        region = arg(req, "EndpointGroupRegion")
        if not self.REGION.match(region):
            raise invalid(f"EndpointGroupRegion {region!r} is not a region")
        endpoints = self.endpoint_configurations(req) or []
        existing = [g for g in self.groups.values() if g["_listener"] == listener_arn]

        def create():
            if any(g["EndpointGroupRegion"] == region for g in existing):
                raise ApiError(
                    "EndpointGroupAlreadyExistsException",
                    f"The listener already has an endpoint group in {region}",
                )
            arn = f"{listener_arn}/endpoint-group/{uuid.uuid4().hex[:12]}"
            group = {
                "EndpointGroupArn": arn,
                "EndpointGroupRegion": region,
                "TrafficDialPercentage": 100.0,
                "HealthCheckPort": listener["PortRanges"][0]["FromPort"],
                "HealthCheckProtocol": "TCP",
                "HealthCheckIntervalSeconds": 30,
                "ThresholdCount": 3,
                "PortOverrides": [],
                "_listener": listener_arn,
                "_endpoints": endpoints,
            }
            self.health_check_settings(req, group)
            self.groups[arn] = group
            return arn

        arn = self.idempotent("CreateEndpointGroup", req, create)
        return {"EndpointGroup": self.group_view(self.groups[arn])}

    def DescribeEndpointGroup(self, req):
        return {"EndpointGroup": self.group_view(self.group(arg(req, "EndpointGroupArn")))}

    def ListEndpointGroups(self, req):
        listener_arn = arg(req, "ListenerArn")
        self.listener(listener_arn)
        items = [self.group_view(g) for g in self.groups.values() if g["_listener"] == listener_arn]
        return self.page(items, req, "EndpointGroups")

    def UpdateEndpointGroup(self, req):
        group = self.group(arg(req, "EndpointGroupArn"))
        # Validate everything on a copy so a bad request changes nothing.
        updated = copy.deepcopy(group)
        endpoints = self.endpoint_configurations(req)
        if endpoints is not None:
            updated["_endpoints"] = endpoints  # the list replaces the old one
        self.health_check_settings(req, updated)
        group.update(updated)
        return {"EndpointGroup": self.group_view(group)}

    def DeleteEndpointGroup(self, req):
        arn = arg(req, "EndpointGroupArn")
        self.group(arn)
        del self.groups[arn]
        return {}

    def AddEndpoints(self, req):
        group = self.group(arg(req, "EndpointGroupArn"))
        added = self.endpoint_configurations(req, required=True)
        ids = {e["EndpointId"] for e in added}
        merged = [e for e in group["_endpoints"] if e["EndpointId"] not in ids] + added
        if len(merged) > 10:
            raise ApiError("LimitExceededException", "An endpoint group has at most 10 endpoints")
        group["_endpoints"] = merged
        return {
            "EndpointDescriptions": [self.endpoint_view(e) for e in added],
            "EndpointGroupArn": group["EndpointGroupArn"],
        }

    def RemoveEndpoints(self, req):
        group = self.group(arg(req, "EndpointGroupArn"))
        ids = [arg(e, "EndpointId") for e in arg(req, "EndpointIdentifiers", list)]
        present = {e["EndpointId"] for e in group["_endpoints"]}
        for ep_id in ids:
            if ep_id not in present:
                raise ApiError("EndpointNotFoundException", f"Endpoint {ep_id} not found")
        group["_endpoints"] = [e for e in group["_endpoints"] if e["EndpointId"] not in ids]
        return {}

    # -- tags

    def tagged(self, arn):
        if arn not in self.objects():
            raise ApiError("AcceleratorNotFoundException", f"Resource {arn} not found")
        return self.tags.setdefault(arn, [])

    def TagResource(self, req):
        tags = self.tagged(arg(req, "ResourceArn"))
        for tag in arg(req, "Tags", list):
            tags[:] = [t for t in tags if t["Key"] != tag["Key"]] + [tag]
        return {}

    def UntagResource(self, req):
        tags = self.tagged(arg(req, "ResourceArn"))
        keys = set(arg(req, "TagKeys", list))
        tags[:] = [t for t in tags if t["Key"] not in keys]
        return {}

    def ListTagsForResource(self, req):
        return {"Tags": self.tagged(arg(req, "ResourceArn"))}

    def set_health(self, endpoint_id, state, reason=None):
        if state not in ("INITIAL", "HEALTHY", "UNHEALTHY"):
            raise ApiError("BadRequest", "state must be INITIAL, HEALTHY or UNHEALTHY")
        with self.lock:
            self.health[endpoint_id] = (state, reason)
            return sum(
                1 for g in self.groups.values()
                for e in g["_endpoints"] if e["EndpointId"] == endpoint_id
            )


def ga_resource(body):
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        return None
    for key in ("EndpointGroupArn", "ListenerArn", "AcceleratorArn", "ResourceArn"):
        if isinstance(req.get(key), str):
            return req[key]
    return None
