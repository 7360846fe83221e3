"""One local endpoint for the AWS APIs geolat's tests drive.

    python aws_gateway.py [--port 0] [--verbose] [--ignore-stdin]

The AWS SDKs are pointed at this gateway with AWS_ENDPOINT_URL. It starts
moto's server in-process on a free loopback port and forwards to it whatever
moto does right (S3 with conditional writes, Route 53 zones, records and
health checks, ...). The gateway itself serves what moto lacks or gets wrong:

* Global Accelerator (awsJson1_1, absent from moto): accelerators, listeners,
  endpoint groups, endpoints, tags; with the documented limits and errors.
* Route 53 traffic policies and instances (REST-XML; moto answers 404), with
  the policy document checked against the "Traffic Policy Document Format".
* Route 53 record checks moto skips (Weight 0..255, geoproximity Bias
  -99..99), and geoproximity records, which moto stores without their
  GeoProximityLocation: the gateway keeps those itself; and a DELETE of a
  record with a SetIdentifier, which moto applies to every record carrying
  that identifier whatever its name: the gateway puts the others back.
* CloudWatch metrics and dashboards over Smithy RPC v2 CBOR (what
  aws-sdk-cloudwatch >= 1.100 speaks; moto answers 404) and over awsJson1_0
  (what botocore sends; moto's GetMetricData crashes), from one store;
  PutMetricData within its documented limits (1000 data, 150 values per
  metric in one request, 150 values a
  datum, 30 dimensions, 1 MB of body).

It prints exactly one line, "listening http://127.0.0.1:PORT", once ready, and
exits when stdin closes (so a killed test harness never leaves it behind) or
on SIGTERM.

Control API for tests (JSON over HTTP):

    POST /_emulator/faults {"match": OP, "error": CODE, "status": N, "count": N,
                            "service"?: NAME, "resource"?: ARN_OR_ID, "message"?: TEXT}
        the next `count` OP requests fail with CODE in their protocol's error
        shape (Route 53 says Throttling for ThrottlingException, S3 SlowDown)
        "after": true   the request is served first (it takes effect), then fails
        "drop": true    the connection is closed instead of answering
    GET  /_emulator/faults                    faults with their counts left
    POST /_emulator/ga/health {"endpoint_id": ID, "state": "UNHEALTHY", "reason"?: TEXT}
    POST /_emulator/route53/health {"health_check_id": ID, "status": "Failure: ..."}
        what GetHealthCheckStatus reports for that check (moto: always Success)
    POST /_emulator/cloudwatch/metrics {PutMetricData input; timestamps in
                                        epoch seconds; AWS/ namespaces and
                                        old timestamps allowed}
    GET  /_emulator/calls     [{"service", "op", "status", "resource", "bytes", "region"}] in order
                              (bytes: the request body as sent, compressed or not;
                              region: the SigV4 signing region, or null)
    DELETE /_emulator/calls   clear the call log
    POST /_emulator/reset     forget everything, moto's state included
"""

import argparse
import copy
import gzip
import http.client
import ipaddress
import itertools
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

import cbor2
from moto.server import ThreadedMotoServer

ACCOUNT = "123456789012"  # moto's default account, so ARNs agree with it
R53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"
GA_PREFIX = "GlobalAccelerator_V20180706."
CW_JSON_PREFIX = "GraniteServiceVersion20100801."
CW_PATH = re.compile(r"^/service/GraniteServiceVersion20100801/operation/(\w+)$")
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade", "expect", "content-length",
}


class ApiError(Exception):
    """An error an AWS API answers with; each protocol renders it its own way."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class Reply:
    def __init__(self, status, body=b"", headers=None):
        self.status, self.body = status, body
        self.headers = list(headers or [])


def request_id():
    return str(uuid.uuid4())


def epoch(value):
    """Seconds since the epoch from a CBOR timestamp (a datetime) or a number."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ApiError("InvalidParameterValue", f"{value!r} is not a timestamp")


def iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


# ---------------------------------------------------------------------------
# Control: faults and the call log, shared by every service.


class Control:
    def __init__(self):
        self.lock = threading.Lock()
        self.faults = []
        self.calls = []

    def reset(self):
        with self.lock:
            self.faults.clear()
            self.calls.clear()

    def add_fault(self, spec):
        if not isinstance(spec.get("match"), str) or not isinstance(spec.get("error"), str):
            raise ApiError("BadRequest", "a fault needs string fields match and error")
        error = spec["error"]
        default = 503 if "Unavailable" in error else 500 if "Internal" in error else 400
        fault = {
            "match": spec["match"],
            "service": spec.get("service"),
            "resource": spec.get("resource"),
            "error": error,
            "status": int(spec.get("status", default)),
            "count": int(spec.get("count", 1)),
            "message": spec.get("message", f"injected {error}"),
            # awsio: "after" (serve, then fail) and "drop" (no answer at all).
            "after": bool(spec.get("after", False)),
            "drop": bool(spec.get("drop", False)),
        }
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, service, op, resource):
        """The fault the next `op` request should fail with, using it up."""
        with self.lock:
            for fault in self.faults:
                if (fault["match"] == op and fault["service"] in (None, service)
                        and fault["resource"] in (None, resource)
                        and fault["count"] > 0):
                    fault["count"] -= 1
                    err = ApiError(fault["error"], fault["message"], fault["status"])
                    err.after, err.drop = fault["after"], fault["drop"]  # awsio
                    return err
        return None

    def record(self, service, op, status, resource, size, region=None):  # awsio: region
        with self.lock:
            self.calls.append(
                {"service": service, "op": op, "status": status, "resource": resource, "bytes": size,
                 "region": region}
            )


# ---------------------------------------------------------------------------
# Global Accelerator (awsJson1_1).


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


# ---------------------------------------------------------------------------
# Route 53: wire helpers, the traffic policy document check, the service.


def r53_xml(root, children):
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{R53_NS}">'
        f"{xml_children(children)}</{root}>"
    ).encode()


def xml_children(children):
    """XML for [(tag, value)]: a value is text, a nested list, or None (left out)."""
    out = []
    for tag, value in children:
        if value is None:
            continue
        if isinstance(value, list):
            out.append(f"<{tag}>{xml_children(value)}</{tag}>")
        else:
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            out.append(f"<{tag}>{escape(text)}</{tag}>")
    return "".join(out)


def r53_reply(status, root, children, headers=()):
    return Reply(
        status,
        r53_xml(root, children),
        [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id()), *headers],
    )


def r53_error(err):
    kind = "Receiver" if err.status >= 500 else "Sender"
    code = "Throttling" if err.code == "ThrottlingException" else err.code
    return r53_reply(
        err.status,
        "ErrorResponse",
        [("Error", [("Type", kind), ("Code", code), ("Message", err.message)]),
         ("RequestId", request_id())],
    )


def q(tag):
    return f"{{{R53_NS}}}{tag}"


def xml_fields(body):
    """The text of each child of a flat REST-XML request body, by local name."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise ApiError("InvalidInput", f"Malformed XML: {e}")
    return {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in root}


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


def record_key(rrset):
    name = (rrset.findtext(q("Name")) or "").lower().rstrip(".") + "."
    return (name, rrset.findtext(q("Type")), rrset.findtext(q("SetIdentifier")))


def route53_order(rrset):
    """Route 53 lists records by name with the labels reversed, then by type."""
    name, kind, ident = record_key(rrset)
    return (list(reversed(name.rstrip(".").split("."))), kind or "", ident or "")


class Route53:
    """Traffic policies, their instances, and geoproximity records."""

    def __init__(self, moto):
        self.moto = moto
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.policies = {}    # id -> {Name, Type, Latest, versions: {n: {Document, Comment}}}
            self.instances = {}   # id -> TrafficPolicyInstance fields
            self.geo_records = {}  # zone id -> {record_key: ResourceRecordSet element}
            self.health = {}       # health check id -> status report set by a test

    def health_status(self, check):
        """GetHealthCheckStatus for a check a test set (moto always says Success)."""
        status = self.health.get(check)
        if status is None:
            return None
        observation = [("Region", "us-east-1"), ("IPAddress", "127.0.13.37"),
                       ("StatusReport", [("Status", status), ("CheckedTime", iso(time.time()))])]
        return r53_reply(200, "GetHealthCheckStatusResponse", [
            ("HealthCheckObservations", [("HealthCheckObservation", observation)] * 3)])

    # -- moto lookups

    def zone_name(self, zone_id, headers):
        """The zone's name from moto, or NoSuchHostedZone."""
        reply = self.moto.forward(
            "GET", f"/2013-04-01/hostedzone/{zone_id}", moto_headers(headers, "route53"), b""
        )
        if reply.status != 200:
            raise ApiError("NoSuchHostedZone", f"No hosted zone found with ID: {zone_id}", 404)
        name = ET.fromstring(reply.body).findtext(f"{q('HostedZone')}/{q('Name')}") or ""
        return name.lower().rstrip(".") + "."

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

    # -- records

    def change_records(self, zone_id, body, headers):
        """ChangeResourceRecordSets: check what moto skips, keep geoproximity records."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise ApiError("InvalidInput", f"Malformed XML: {e}")
        changes_el = root.find(f"{q('ChangeBatch')}/{q('Changes')}")
        changes = list(changes_el) if changes_el is not None else []
        geo = []
        for n, change in enumerate(changes, 1):
            rrset = change.find(q("ResourceRecordSet"))
            if rrset is None:
                continue
            where = f"changeBatch.changes.{n}.member.resourceRecordSet"
            check_range(rrset.findtext(q("Weight")), 0, 255, f"{where}.weight")
            location = rrset.find(q("GeoProximityLocation"))
            if location is not None:
                check_range(location.findtext(q("Bias")), -99, 99, f"{where}.geoProximityLocation.bias")
                if not rrset.findtext(q("SetIdentifier")):
                    raise ApiError("InvalidInput", "A geoproximity record needs a SetIdentifier")
                geo.append((change.findtext(q("Action")), rrset, change))
        spared = self.spared_by_deletes(zone_id, changes, headers)
        if not geo and not spared:
            return None  # nothing for the gateway: moto takes the request as it is

        self.zone_name(zone_id, headers)
        store = dict(self.geo_records.get(zone_id, {}))
        for action, rrset, _ in geo:
            key = record_key(rrset)
            shown = f"[name='{key[0]}', type='{key[1]}', set-identifier='{key[2]}']"
            if action == "CREATE" and key in store:
                raise ApiError("InvalidChangeBatch",
                               f"Tried to create resource record set {shown} but it already exists")
            if action == "DELETE" and key not in store:
                raise ApiError("InvalidChangeBatch",
                               f"Tried to delete resource record set {shown} but it was not found")
            if action not in ("CREATE", "UPSERT", "DELETE"):
                raise ApiError("InvalidInput", f"Invalid Action {action}")
            if action == "DELETE":
                del store[key]
            else:
                kept = copy.deepcopy(rrset)
                kept.find(q("Name")).text = key[0]
                store[key] = kept

        # Moto applies the rest of the batch; the geoproximity part counts only
        # if moto accepted it, as a batch is all or nothing.
        for _, _, change in geo:
            changes_el.remove(change)
        if len(changes_el):
            reply = self.moto.forward(
                "POST", f"/2013-04-01/hostedzone/{zone_id}/rrset", moto_headers(headers, "route53"),
                ET.tostring(root, encoding="unicode").encode(),
            )
            if reply.status != 200:
                return reply
            self.restore_spared(zone_id, spared, headers)
        else:
            reply = r53_reply(200, "ChangeResourceRecordSetsResponse", [("ChangeInfo", [
                ("Id", f"/change/C{uuid.uuid4().hex[:12].upper()}"), ("Status", "INSYNC"),
                ("SubmittedAt", iso(time.time())),
            ])])
        self.geo_records[zone_id] = store
        return reply

    def spared_by_deletes(self, zone_id, changes, headers):
        """Records moto would wrongly delete along with a DELETE in `changes`.

        moto deletes every record set carrying the deleted record's
        SetIdentifier, whatever its name; Route 53 deletes the one record
        set with that name, type and identifier. The others are listed here
        before moto runs the batch and put back after (`restore_spared`).
        """
        deleted = set()
        for change in changes:
            rrset = change.find(q("ResourceRecordSet"))
            if (change.findtext(q("Action")) == "DELETE" and rrset is not None
                    and rrset.findtext(q("SetIdentifier"))
                    and rrset.find(q("GeoProximityLocation")) is None):
                deleted.add(record_key(rrset))
        if not deleted:
            return []
        reply = self.moto.forward(
            "GET", f"/2013-04-01/hostedzone/{zone_id}/rrset?maxitems=100000",
            moto_headers(headers, "route53"), b"")
        if reply.status != 200:
            return []
        listed = ET.fromstring(reply.body).find(q("ResourceRecordSets"))
        idents = {key[2] for key in deleted}
        touched = {record_key(c.find(q("ResourceRecordSet"))) for c in changes
                   if c.find(q("ResourceRecordSet")) is not None}
        return [copy.deepcopy(r) for r in (listed if listed is not None else [])
                if record_key(r)[2] in idents and record_key(r) not in touched]

    def restore_spared(self, zone_id, spared, headers):
        if not spared:
            return
        batch = ET.Element(q("ChangeResourceRecordSetsRequest"))
        changes = ET.SubElement(ET.SubElement(batch, q("ChangeBatch")), q("Changes"))
        for rrset in spared:
            change = ET.SubElement(changes, q("Change"))
            ET.SubElement(change, q("Action")).text = "UPSERT"
            change.append(rrset)
        reply = self.moto.forward(
            "POST", f"/2013-04-01/hostedzone/{zone_id}/rrset", moto_headers(headers, "route53"),
            ET.tostring(batch, encoding="unicode").encode())
        if reply.status != 200:
            raise ApiError("InternalFailure", "the emulator could not restore records moto deleted", 500)

    def merge_records(self, zone_id, reply):
        """Add the gateway's geoproximity records to moto's ListResourceRecordSets."""
        if reply.status != 200:
            return reply
        root = ET.fromstring(reply.body)
        sets = root.find(q("ResourceRecordSets"))
        # moto renders the SOA value as a Python dict repr: {'Value': '...'}.
        for value in sets.iter(q("Value")):
            fixed = re.fullmatch(r"\{'Value': '(.*)'\}", value.text or "")
            if fixed:
                value.text = fixed.group(1)
        kept = self.geo_records.get(zone_id, {})
        records = list(sets) + [copy.deepcopy(r) for r in kept.values()]
        for r in list(sets):
            sets.remove(r)
        sets.extend(sorted(records, key=route53_order))
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")).encode()
        headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
        return Reply(200, body, headers)

    def zone_in_use(self, zone_id):
        return bool(self.geo_records.get(zone_id)) or any(
            i["HostedZoneId"] == zone_id for i in self.instances.values())


ET.register_namespace("", R53_NS)


def check_range(text, low, high, where):
    if text is None:
        return
    try:
        value = int(text)
    except ValueError:
        raise ApiError("InvalidInput", f"Value '{text}' at '{where}' is not an integer")
    if not low <= value <= high:
        bound = f"greater than or equal to {low}" if value < low else f"less than or equal to {high}"
        raise ApiError(
            "InvalidInput",
            f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy "
            f"constraint: Member must have value {bound}",
        )


def paginate(items, after_marker, query):
    """(page, rest, max items) for Route 53's marker + maxitems pagination."""
    try:
        size = int(query.get("maxitems") or 100)
    except ValueError:
        raise ApiError("InvalidInput", "maxitems must be an integer")
    items = [i for i in items if after_marker(i)]
    return items[:size], items[size:], size


def strip_zone(zone_id):
    return zone_id.rsplit("/", 1)[-1]


# Route 53 REST paths -> operation names; the gateway serves those with a handler.
R53_ROUTES = [
    (method, re.compile(f"^/2013-04-01/{pattern}/?$"), op)
    for method, pattern, op in [
        ("POST", "hostedzone", "CreateHostedZone"),
        ("GET", "hostedzone", "ListHostedZones"),
        ("GET", "hostedzonesbyname", "ListHostedZonesByName"),
        ("GET", "hostedzonecount", "GetHostedZoneCount"),
        ("GET", "hostedzone/(?P<zone>[^/]+)", "GetHostedZone"),
        ("POST", "hostedzone/(?P<zone>[^/]+)", "UpdateHostedZoneComment"),
        ("DELETE", "hostedzone/(?P<zone>[^/]+)", "DeleteHostedZone"),
        ("POST", "hostedzone/(?P<zone>[^/]+)/rrset", "ChangeResourceRecordSets"),
        ("GET", "hostedzone/(?P<zone>[^/]+)/rrset", "ListResourceRecordSets"),
        ("GET", "change/[^/]+", "GetChange"),
        ("POST", "healthcheck", "CreateHealthCheck"),
        ("GET", "healthcheck", "ListHealthChecks"),
        ("GET", "healthcheck/[^/]+", "GetHealthCheck"),
        ("POST", "healthcheck/[^/]+", "UpdateHealthCheck"),
        ("DELETE", "healthcheck/[^/]+", "DeleteHealthCheck"),
        ("GET", "healthcheck/(?P<check>[^/]+)/status", "GetHealthCheckStatus"),
        ("POST", "tags/[^/]+/[^/]+", "ChangeTagsForResource"),
        ("GET", "tags/[^/]+/[^/]+", "ListTagsForResource"),
        ("POST", "trafficpolicy", "CreateTrafficPolicy"),
        ("POST", "trafficpolicy/(?P<id>[^/]+)", "CreateTrafficPolicyVersion"),
        ("GET", "trafficpolicy/(?P<id>[^/]+)/(?P<version>\\d+)", "GetTrafficPolicy"),
        ("POST", "trafficpolicy/(?P<id>[^/]+)/(?P<version>\\d+)", "UpdateTrafficPolicyComment"),
        ("DELETE", "trafficpolicy/(?P<id>[^/]+)/(?P<version>\\d+)", "DeleteTrafficPolicy"),
        ("GET", "trafficpolicies", "ListTrafficPolicies"),
        ("GET", "trafficpolicies/(?P<id>[^/]+)/versions", "ListTrafficPolicyVersions"),
        ("POST", "trafficpolicyinstance", "CreateTrafficPolicyInstance"),
        ("GET", "trafficpolicyinstance/(?P<id>[^/]+)", "GetTrafficPolicyInstance"),
        ("POST", "trafficpolicyinstance/(?P<id>[^/]+)", "UpdateTrafficPolicyInstance"),
        ("DELETE", "trafficpolicyinstance/(?P<id>[^/]+)", "DeleteTrafficPolicyInstance"),
        ("GET", "trafficpolicyinstances", "ListTrafficPolicyInstances"),
        ("GET", "trafficpolicyinstances/hostedzone", "ListTrafficPolicyInstancesByHostedZone"),
        ("GET", "trafficpolicyinstances/trafficpolicy", "ListTrafficPolicyInstancesByPolicy"),
        ("GET", "trafficpolicyinstancecount", "GetTrafficPolicyInstanceCount"),
    ]
]


def route53_route(method, path):
    for m, pattern, op in R53_ROUTES:
        match = pattern.match(path)
        if m == method and match:
            return op, {k: unquote(v) for k, v in match.groupdict().items()}
    return f"{method} {path}", {}


# ---------------------------------------------------------------------------
# CloudWatch over Smithy RPC v2 CBOR.

CW_NAMESPACE = "com.amazonaws.cloudwatch#"
# Shape name -> (awsQueryError code, HTTP status). CloudWatch is
# @awsQueryCompatible: errors carry the query code in x-amzn-query-error, and
# SDKs match on it when present, on the shape name in __type otherwise.
CW_ERRORS = {
    "InvalidParameterValueException": ("InvalidParameterValue", 400),
    "InvalidParameterCombinationException": ("InvalidParameterCombination", 400),
    "MissingRequiredParameterException": ("MissingParameter", 400),
    "InternalServiceFault": ("InternalServiceError", 500),
    "DashboardInvalidInputError": ("InvalidParameterInput", 400),
    "DashboardNotFoundError": ("ResourceNotFound", 404),
    "InvalidNextToken": ("InvalidNextToken", 400),
    "ThrottlingException": ("Throttling", 400),
    # Not modelled; what the service answers a body over its limit with.
    "RequestEntityTooLarge": ("RequestEntityTooLarge", 413),
}
# PutMetricData takes at most 1 MB of body (checked once uncompressed, so
# the stricter reading of the limit).
CW_PUT_MAX_BYTES = 1024 * 1024
CW_BY_QUERY_CODE = {code: shape for shape, (code, _) in CW_ERRORS.items()}
UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}
STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


class Timestamp:
    """A timestamp in a CloudWatch reply; each wire encodes it its own way."""

    def __init__(self, seconds):
        self.seconds = float(seconds)


def timestamp(ts):
    return Timestamp(ts)


def encode_timestamps(obj, encode):
    if isinstance(obj, Timestamp):
        return encode(obj.seconds)
    if isinstance(obj, dict):
        return {k: encode_timestamps(v, encode) for k, v in obj.items()}
    if isinstance(obj, list):
        return [encode_timestamps(v, encode) for v in obj]
    return obj


def cbor_reply(status, payload, headers=()):
    # RPC v2 CBOR timestamps are tag 1 around a float: the Rust SDK reads an f64
    # there, and an integer would fail to decode.
    body = cbor2.dumps(encode_timestamps(payload, lambda s: cbor2.CBORTag(1, s)))
    return Reply(status, body, [
        ("smithy-protocol", "rpc-v2-cbor"), ("Content-Type", "application/cbor"),
        ("x-amzn-RequestId", request_id()), *headers,
    ])


def cw_json_reply(status, payload, headers=()):
    # awsJson1_0 timestamps are epoch seconds as a JSON number.
    body = json.dumps(encode_timestamps(payload, lambda s: s)).encode()
    return Reply(status, body, [
        ("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id()), *headers,
    ])


def cw_error(err, reply=cbor_reply):
    shape = CW_BY_QUERY_CODE.get(err.code, err.code)
    query_code, _ = CW_ERRORS.get(shape, (err.code, err.status))
    kind = "Receiver" if err.status >= 500 else "Sender"
    return reply(err.status, {"__type": CW_NAMESPACE + shape, "message": err.message},
                 [("x-amzn-query-error", f"{query_code};{kind}")])


def cw_json_error(err):
    return cw_error(err, cw_json_reply)


def cw_invalid(message):
    return ApiError("InvalidParameterValue", message)


def cw_required(req, key, path=None):
    value = req.get(key)
    if value is None:
        raise ApiError("MissingParameter", f"The parameter {path or key} is required.")
    return value


def dimension_key(dims, path):
    if dims is None:
        return ()
    if not isinstance(dims, list) or len(dims) > 30:
        raise cw_invalid(f"{path} must be a list of at most 30 dimensions")
    for d in dims:
        if not (isinstance(d, dict) and d.get("Name") and d.get("Value")):
            raise cw_invalid(f"{path}: each dimension needs a non-empty Name and Value")
    return tuple(sorted((d["Name"], d["Value"]) for d in dims))


def percentile(values, p):
    """Nearest-rank percentile of [(value, count)]."""
    ordered = sorted(values)
    total = sum(c for _, c in ordered)
    rank, seen = max(1, math.ceil(p / 100 * total)), 0
    for v, c in ordered:
        seen += c
        if seen >= rank:
            return v
    return ordered[-1][0]


class CloudWatch:
    """Metric datapoints, bucketed on read, and dashboards."""

    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.metrics = {}     # (namespace, name, dims) -> {"dims": [...], "points": [...]}
            self.dashboards = {}  # name -> {"body": str, "modified": ts}

    def emulates(self, op):
        return op[:1].isupper() and callable(getattr(self, op, None))

    def call(self, op, req):
        if not self.emulates(op):
            raise ApiError("UnknownOperationException", f"{op} is not emulated")
        with self.lock:
            return getattr(self, op)(req)

    # -- metrics

    def PutMetricData(self, req, allow_aws=False):
        namespace = cw_required(req, "Namespace")
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255 or namespace[0] == ":":
            raise cw_invalid("The parameter Namespace must be 1 to 255 characters, not starting with ':'.")
        if namespace.startswith("AWS/") and not allow_aws:
            raise cw_invalid(f"The value {namespace} for parameter Namespace is invalid.")
        data = req.get("MetricData")
        if not data:
            raise ApiError("MissingParameter", "The parameter MetricData is required.")
        if len(data) > 1000:
            raise cw_invalid("The collection MetricData must not have a size greater than 1000.")
        now = time.time()
        parsed = []
        for n, datum in enumerate(data, 1):
            path = f"MetricData.member.{n}"
            name = cw_required(datum, "MetricName", f"{path}.MetricName")
            if not isinstance(name, str) or not 1 <= len(name) <= 255:
                raise cw_invalid(f"The parameter {path}.MetricName must be 1 to 255 characters.")
            dims = dimension_key(datum.get("Dimensions"), f"{path}.Dimensions")
            ts = epoch(datum["Timestamp"]) if datum.get("Timestamp") is not None else now
            if not allow_aws and not now - 14 * 86400 <= ts <= now + 2 * 3600:
                raise cw_invalid(f"The parameter {path}.Timestamp must be within the last two weeks "
                                 "and at most two hours in the future.")
            unit = datum.get("Unit") or "None"
            if unit not in UNITS:
                raise cw_invalid(f"The value {unit} for parameter {path}.Unit is invalid.")
            parsed.append((name, dims, datum.get("Dimensions") or [],
                           dict(self.point(datum, path), ts=ts, unit=unit)))
        # "up to 150 values per metric with one PutMetricData request":
        # data of one metric together, not just each datum.
        per_metric = {}
        for name, dims, _, point in parsed:
            if point["raw"] is not None:
                per_metric[(name, dims)] = per_metric.get((name, dims), 0) + len(point["raw"])
        for (name, _), n in per_metric.items():
            if n > 150:
                raise cw_invalid(f"The request holds {n} values for metric {name}; "
                                 "at most 150 values per metric are accepted in one request.")
        for name, dims, raw_dims, point in parsed:
            metric = self.metrics.setdefault((namespace, name, dims), {"dims": raw_dims, "points": []})
            metric["points"].append(point)
        return {}

    @staticmethod
    def point(datum, path):
        """One datum as count/sum/min/max, with its raw values for percentiles."""
        value, values, stats = datum.get("Value"), datum.get("Values"), datum.get("StatisticValues")
        if sum(x is not None for x in (value, values, stats)) != 1:
            raise ApiError("InvalidParameterCombination",
                           f"{path} needs exactly one of Value, Values and StatisticValues.")
        if stats is not None:
            try:
                s = {k: float(stats[k]) for k in ("SampleCount", "Sum", "Minimum", "Maximum")}
            except (KeyError, TypeError, ValueError):
                raise ApiError("MissingParameter",
                               f"{path}.StatisticValues needs SampleCount, Sum, Minimum and Maximum.")
            if s["SampleCount"] <= 0 or s["Minimum"] > s["Maximum"]:
                raise cw_invalid(f"The parameter {path}.StatisticValues is not consistent.")
            return {"count": s["SampleCount"], "sum": s["Sum"], "min": s["Minimum"],
                    "max": s["Maximum"], "raw": None}
        if value is not None:
            values, counts = [value], [1.0]
        else:
            counts = datum.get("Counts") or [1.0] * len(values)
            if not values or len(values) > 150 or len(counts) != len(values):
                raise cw_invalid(f"The parameters {path}.Values and {path}.Counts must be of the "
                                 "same size, with 1 to 150 items.")
        raw = []
        for v, c in zip(values, counts):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise cw_invalid(f"The value {v} for parameter {path}.Value is invalid.")
            raw.append((float(v), float(c)))
        return {"count": sum(c for _, c in raw), "sum": sum(v * c for v, c in raw),
                "min": min(v for v, _ in raw), "max": max(v for v, _ in raw), "raw": raw}

    def buckets(self, key, start, end, period, unit=None):
        """Datapoints of one metric in [start, end), grouped by period since the epoch."""
        out = {}
        for p in self.metrics.get(key, {"points": []})["points"]:
            if start <= p["ts"] < end and (unit is None or p["unit"] == unit):
                out.setdefault(p["ts"] // period * period, []).append(p)
        return out

    @staticmethod
    def statistic(points, stat):
        count = sum(p["count"] for p in points)
        if stat == "SampleCount":
            return count
        if stat == "Sum":
            return sum(p["sum"] for p in points)
        if stat == "Average":
            return sum(p["sum"] for p in points) / count if count else None
        if stat == "Minimum":
            return min(p["min"] for p in points)
        if stat == "Maximum":
            return max(p["max"] for p in points)
        raw = [r for p in points for r in (p["raw"] or [])]
        return percentile(raw, float(stat[1:])) if raw else None

    @staticmethod
    def check_stat(stat):
        if stat not in STATS and not re.fullmatch(r"p(100(\.0+)?|\d{1,2}(\.\d+)?)", stat or ""):
            raise cw_invalid(f"The value {stat} for parameter Stat is invalid.")

    @staticmethod
    def check_period(period, path="Period"):
        if not is_int(period) or period < 1 or (period < 60 and period not in (1, 5, 10, 20, 30)) or (
                period >= 60 and period % 60):
            raise cw_invalid(f"The parameter {path} must be 1, 5, 10, 20, 30 or a multiple of 60.")

    @staticmethod
    def window(req):
        start = epoch(cw_required(req, "StartTime"))
        end = epoch(cw_required(req, "EndTime"))
        if start >= end:
            raise cw_invalid("The parameter StartTime must be less than the parameter EndTime.")
        return start, end

    def GetMetricData(self, req):
        queries = cw_required(req, "MetricDataQueries")
        if len(queries) > 500:
            raise cw_invalid("The collection MetricDataQueries must not have more than 500 items.")
        start, end = self.window(req)
        ascending = req.get("ScanBy") == "TimestampAscending"
        results = []
        for n, query in enumerate(queries, 1):
            qid = cw_required(query, "Id", f"MetricDataQueries.member.{n}.Id")
            if not re.fullmatch(r"[a-z][a-zA-Z0-9_]*", qid):
                raise cw_invalid(
                    f"The value {qid} for parameter MetricDataQueries.member.{n}.Id is invalid.")
            stat = query.get("MetricStat")
            if stat is None:
                raise cw_invalid("Only MetricStat queries are emulated, not metric math Expressions.")
            metric = cw_required(stat, "Metric", f"MetricDataQueries.member.{n}.MetricStat.Metric")
            self.check_period(stat.get("Period"), f"MetricDataQueries.member.{n}.MetricStat.Period")
            self.check_stat(stat.get("Stat"))
            key = (metric.get("Namespace"), metric.get("MetricName"),
                   dimension_key(metric.get("Dimensions"), "Dimensions"))
            buckets = self.buckets(key, start, end, stat["Period"], stat.get("Unit"))
            rows = sorted(((ts, self.statistic(points, stat["Stat"])) for ts, points in buckets.items()),
                          reverse=not ascending)
            rows = [(ts, v) for ts, v in rows if v is not None]
            if query.get("ReturnData", True):
                results.append({
                    "Id": qid,
                    "Label": query.get("Label") or metric.get("MetricName"),
                    "Timestamps": [timestamp(ts) for ts, _ in rows],
                    "Values": [float(v) for _, v in rows],
                    "StatusCode": "Complete",
                    "Messages": [],
                })
        return {"MetricDataResults": results, "Messages": []}

    def GetMetricStatistics(self, req):
        namespace = cw_required(req, "Namespace")
        name = cw_required(req, "MetricName")
        start, end = self.window(req)
        period = cw_required(req, "Period")
        self.check_period(period)
        stats = req.get("Statistics") or []
        extended = req.get("ExtendedStatistics") or []
        if not stats and not extended:
            raise ApiError("MissingParameter", "One of Statistics and ExtendedStatistics is required.")
        for s in stats:
            if s not in STATS:
                raise cw_invalid(f"The value {s} for parameter Statistics is invalid.")
        for s in extended:
            self.check_stat(s)
        key = (namespace, name, dimension_key(req.get("Dimensions"), "Dimensions"))
        datapoints = []
        for ts, points in sorted(self.buckets(key, start, end, period, req.get("Unit")).items()):
            dp = {"Timestamp": timestamp(ts), "Unit": points[-1]["unit"]}
            values = {s: self.statistic(points, s) for s in stats}
            dp.update({s: float(v) for s, v in values.items() if v is not None})
            if extended:
                pct = {s: self.statistic(points, s) for s in extended}
                dp["ExtendedStatistics"] = {s: float(v) for s, v in pct.items() if v is not None}
            datapoints.append(dp)
        return {"Label": name, "Datapoints": datapoints}

    def ListMetrics(self, req):
        want_dims = req.get("Dimensions") or []
        recent = req.get("RecentlyActive") == "PT3H"
        metrics = []
        for (namespace, name, dims), metric in self.metrics.items():
            if req.get("Namespace") not in (None, namespace) or req.get("MetricName") not in (None, name):
                continue
            have = dict(dims)
            if any(d["Name"] not in have or d.get("Value") not in (None, have[d["Name"]])
                   for d in want_dims):
                continue
            if recent and not any(p["ts"] >= time.time() - 3 * 3600 for p in metric["points"]):
                continue
            metrics.append({"Namespace": namespace, "MetricName": name, "Dimensions": metric["dims"]})
        return {"Metrics": metrics}

    # -- dashboards

    def PutDashboard(self, req):
        name = cw_required(req, "DashboardName")
        body = cw_required(req, "DashboardBody")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", name):
            raise ApiError("InvalidParameterInput",
                           "The value for field DashboardName contains invalid characters. "
                           "It can only contain alphanumerics, dash (-) and underscore (_).")
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("widgets"), list):
            raise ApiError("InvalidParameterInput",
                           "The dashboard body is invalid: it must be a JSON object with a widgets array")
        self.dashboards[name] = {"body": body, "modified": time.time()}
        return {"DashboardValidationMessages": []}

    def dashboard(self, name):
        if name not in self.dashboards:
            raise ApiError("ResourceNotFound", f"Dashboard {name} does not exist", 404)
        return self.dashboards[name]

    @staticmethod
    def dashboard_arn(name):
        return f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{name}"

    def GetDashboard(self, req):
        name = cw_required(req, "DashboardName")
        return {"DashboardArn": self.dashboard_arn(name), "DashboardBody": self.dashboard(name)["body"],
                "DashboardName": name}

    def ListDashboards(self, req):
        prefix = req.get("DashboardNamePrefix") or ""
        return {"DashboardEntries": [
            {"DashboardName": name, "DashboardArn": self.dashboard_arn(name),
             "LastModified": timestamp(d["modified"]), "Size": len(d["body"].encode())}
            for name, d in sorted(self.dashboards.items()) if name.startswith(prefix)
        ]}

    def DeleteDashboards(self, req):
        names = cw_required(req, "DashboardNames")
        for name in names:
            self.dashboard(name)  # all exist, or none is deleted
        for name in names:
            del self.dashboards[name]
        return {}


# ---------------------------------------------------------------------------
# moto, and guessing service and operation names for what goes to it.


class Moto:
    def __init__(self):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        self.host, self.port = self.server.get_host_and_port()

    def forward(self, method, target, headers, body):
        """Send a request to moto; its status, headers and body come back unchanged."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    conn.putheader(name, value)
            if body or method not in ("GET", "HEAD", "DELETE"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            data = resp.read()
            kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            if method == "HEAD" and resp.getheader("Content-Length"):
                kept.append(("Content-Length", resp.getheader("Content-Length")))
            return Reply(resp.status, data, kept)
        finally:
            conn.close()

    def reset(self):
        self.forward("POST", "/moto-api/reset", [("Host", f"{self.host}:{self.port}")], b"")

    def stop(self):
        self.server.stop()


def signing_service(headers):
    """The service named in the SigV4 credential scope (…/region/SERVICE/aws4_request)."""
    auth = headers.get("Authorization", "")
    match = re.search(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request", auth)
    return match.group(1) if match else None


def signing_region(headers):  # awsio: for the call log
    """The region named in the SigV4 credential scope (…/REGION/service/aws4_request)."""
    auth = headers.get("Authorization", "")
    match = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/[^/]+/aws4_request", auth)
    return match.group(1) if match else None


def moto_headers(incoming, service):
    """Headers for a request of the gateway's own to moto, routed to `service`."""
    auth = incoming.get("Authorization") or (
        f"AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host, Signature=0")
    return [("Host", incoming.get("Host", "localhost")), ("Authorization", auth)]


def s3_op(method, path, query, headers):
    parts = path.lstrip("/").split("/", 1)
    has_key = len(parts) == 2 and parts[1] != ""
    if "uploads" in query:
        return "CreateMultipartUpload" if method == "POST" else "ListMultipartUploads"
    if "uploadId" in query:
        return {"PUT": "UploadPart", "POST": "CompleteMultipartUpload",
                "DELETE": "AbortMultipartUpload", "GET": "ListParts"}.get(method, method)
    if "delete" in query and method == "POST":
        return "DeleteObjects"
    if has_key:
        if method == "PUT" and "x-amz-copy-source" in headers:
            return "CopyObject"
        return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject",
                "DELETE": "DeleteObject"}.get(method, method)
    if method == "GET":
        return "ListObjectsV2" if query.get("list-type") == "2" else (
            "ListBuckets" if not parts[0] else "ListObjects")
    return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(method, method)


def s3_error(err):
    code = "SlowDown" if err.code == "ThrottlingException" else err.code
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(err.message)}</Message><RequestId>{request_id()}</RequestId></Error>")
    return Reply(err.status, body.encode(), [("Content-Type", "application/xml")])


def query_error(err):
    body = (f"<ErrorResponse><Error><Type>{'Receiver' if err.status >= 500 else 'Sender'}</Type>"
            f"<Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message></Error>"
            f"<RequestId>{request_id()}</RequestId></ErrorResponse>")
    return Reply(err.status, body.encode(), [("Content-Type", "text/xml")])


# ---------------------------------------------------------------------------
# The HTTP front: classify, inject faults, serve or forward, record.


class Gateway:
    def __init__(self, moto):
        self.moto = moto
        self.control = Control()
        self.ga = GlobalAccelerator()
        self.route53 = Route53(moto)
        self.cloudwatch = CloudWatch()

    def reset(self):
        for part in (self.control, self.ga, self.route53, self.cloudwatch, self.moto):
            part.reset()

    def handle(self, method, target, headers, body):
        url = urlsplit(target)
        path = url.path
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if path.startswith("/_emulator/"):
            return self.control_api(method, path, body)

        service, op, serve, render, resource = self.classify(method, path, query, headers, body, target)
        fault = self.control.take_fault(service, op, resource)
        try:
            if fault and not fault.after:
                raise fault
            reply = serve()
            if fault:  # awsio: "after": the request took effect, yet fails
                raise fault
        except ApiError as err:
            reply = render(err)
        self.control.record(service, op, reply.status, resource, len(body), signing_region(headers))
        reply.drop = bool(fault and fault.drop)  # awsio: Handler.serve closes, answers nothing
        return reply

    def classify(self, method, path, query, headers, body, target):
        """(service, op, serve, render error, resource) for one request."""
        forward = lambda: self.moto.forward(method, target, headers.items(), body)  # noqa: E731
        amz_target = headers.get("X-Amz-Target", "")

        if amz_target.startswith(GA_PREFIX):
            op = amz_target[len(GA_PREFIX):]

            def serve_ga():
                try:
                    req = json.loads(body or b"{}")
                except ValueError:
                    raise ApiError("SerializationException", "The body is not JSON")
                return ga_reply(200, self.ga.call(op, req))

            return "globalaccelerator", op, serve_ga, ga_error, ga_resource(body)

        cw = CW_PATH.match(path)
        if cw and method == "POST":
            op = cw.group(1)

            def serve_cw():
                raw = cw_body(op, headers, body)
                try:
                    req = cbor2.loads(raw) if raw else {}
                except Exception as e:  # cbor2 raises several error types
                    raise ApiError("SerializationException", f"The body is not CBOR: {e}")
                return cbor_reply(200, self.cloudwatch.call(op, req))

            return "cloudwatch", op, serve_cw, cw_error, None

        # The same service over awsJson1_0 (what botocore sends), from the same
        # store; what the gateway does not emulate (alarms, ...) goes to moto.
        cw_json = amz_target.startswith(CW_JSON_PREFIX) and amz_target[len(CW_JSON_PREFIX):]
        if cw_json and self.cloudwatch.emulates(cw_json):
            def serve_cw_json():
                try:
                    req = json.loads(cw_body(cw_json, headers, body) or b"{}")
                except ValueError:
                    raise ApiError("SerializationException", "The body is not JSON")
                return cw_json_reply(200, self.cloudwatch.call(cw_json, req))

            return "cloudwatch", cw_json, serve_cw_json, cw_json_error, None

        if path.startswith("/2013-04-01/"):
            op, params = route53_route(method, path)
            serve = self.route53_handler(op, params, query, headers, body, forward) or forward
            return "route53", op, serve, r53_error, params.get("zone") or params.get("id")

        service = signing_service(headers) or "s3"
        if amz_target:
            op = amz_target.rsplit(".", 1)[-1]
            render = ga_error  # awsJson errors share one shape
        elif service == "s3":
            op, render = s3_op(method, path, query, headers), s3_error
        else:
            form = parse_qs(body.decode(errors="replace")) if body else {}
            op = query.get("Action") or (form.get("Action") or [method])[0]
            render = query_error
        return service, op, forward, render, path if service == "s3" else None

    def route53_handler(self, op, p, query, headers, body, forward):
        """A function serving `op`, or None when moto serves it as it is."""
        r = self.route53

        def locked(fn):
            def run():
                with r.lock:
                    return fn()
            return run

        version = int(p["version"]) if "version" in p else None
        zone = strip_zone(p.get("zone", ""))
        handlers = {
            "CreateTrafficPolicy": lambda: r.create_policy(body),
            "CreateTrafficPolicyVersion": lambda: r.create_policy_version(body, p["id"]),
            "GetTrafficPolicy": lambda: r.get_policy(p["id"], version),
            "UpdateTrafficPolicyComment": lambda: r.update_policy_comment(body, p["id"], version),
            "DeleteTrafficPolicy": lambda: r.delete_policy(p["id"], version),
            "ListTrafficPolicies": lambda: r.list_policies(query),
            "ListTrafficPolicyVersions": lambda: r.list_policy_versions(p["id"], query),
            "CreateTrafficPolicyInstance": lambda: r.create_instance(body, headers),
            "GetTrafficPolicyInstance": lambda: r.get_instance(p["id"]),
            "UpdateTrafficPolicyInstance": lambda: r.update_instance(body, p["id"]),
            "DeleteTrafficPolicyInstance": lambda: r.delete_instance(p["id"]),
            "ListTrafficPolicyInstances": lambda: r.list_instances(
                "ListTrafficPolicyInstancesResponse", query, lambda i: True),
            "ListTrafficPolicyInstancesByHostedZone": lambda: self.instances_in_zone(query, headers),
            "ListTrafficPolicyInstancesByPolicy": lambda: r.list_instances(
                "ListTrafficPolicyInstancesByPolicyResponse", query,
                lambda i: i["TrafficPolicyId"] == query.get("id")
                and str(i["TrafficPolicyVersion"]) == query.get("version")),
            "GetTrafficPolicyInstanceCount": lambda: r53_reply(
                200, "GetTrafficPolicyInstanceCountResponse",
                [("TrafficPolicyInstanceCount", len(r.instances))]),
            "ChangeResourceRecordSets": lambda: r.change_records(zone, body, headers) or forward(),
            "GetHealthCheckStatus": lambda: r.health_status(p["check"]) or forward(),
            "ListResourceRecordSets": lambda: r.merge_records(zone, forward()),
            "DeleteHostedZone": lambda: self.delete_zone(zone, forward),
        }
        fn = handlers.get(op)
        return locked(fn) if fn else None

    def instances_in_zone(self, query, headers):
        zone = strip_zone(query.get("id", ""))
        self.route53.zone_name(zone, headers)
        return self.route53.list_instances(
            "ListTrafficPolicyInstancesByHostedZoneResponse", query,
            lambda i: i["HostedZoneId"] == zone, zone=zone)

    def delete_zone(self, zone, forward):
        if self.route53.zone_in_use(zone):
            raise ApiError("HostedZoneNotEmpty",
                           "The hosted zone contains resource record sets other than NS and SOA.")
        return forward()

    # -- control API for tests

    def control_api(self, method, path, body):
        def ok(payload=None, status=200):
            return Reply(status, json.dumps(payload if payload is not None else {"ok": True}).encode(),
                         [("Content-Type", "application/json")])

        try:
            req = json.loads(body) if body else {}
            route = (method, path.rstrip("/"))
            if route == ("POST", "/_emulator/faults"):
                return ok(self.control.add_fault(req))
            if route == ("GET", "/_emulator/faults"):
                with self.control.lock:
                    return ok(list(self.control.faults))
            if route == ("POST", "/_emulator/ga/health"):
                endpoint = req.get("endpoint_id")
                if not isinstance(endpoint, str):
                    raise ApiError("BadRequest", "endpoint_id is required")
                groups = self.ga.set_health(endpoint, req.get("state"), req.get("reason"))
                return ok({"ok": True, "endpoint_groups": groups})
            if route == ("POST", "/_emulator/route53/health"):
                check, status = req.get("health_check_id"), req.get("status")
                if not isinstance(check, str) or not isinstance(status, str):
                    raise ApiError("BadRequest", "health_check_id and status are required")
                with self.route53.lock:
                    self.route53.health[check] = status
                return ok()
            if route == ("POST", "/_emulator/cloudwatch/metrics"):
                with self.cloudwatch.lock:
                    self.cloudwatch.PutMetricData(req, allow_aws=True)
                return ok()
            if route == ("GET", "/_emulator/calls"):
                with self.control.lock:
                    return ok(list(self.control.calls))
            if route == ("DELETE", "/_emulator/calls"):
                with self.control.lock:
                    self.control.calls.clear()
                return ok()
            if route == ("POST", "/_emulator/reset"):
                self.reset()
                return ok()
            return ok({"error": "NotFound", "message": f"no control route {method} {path}"}, 404)
        except ValueError as e:
            return ok({"error": "BadRequest", "message": str(e)}, 400)
        except ApiError as e:
            return ok({"error": e.code, "message": e.message}, 400)


def cw_body(op, headers, body):
    # SDKs gzip PutMetricData bodies past 10 KiB (@requestCompression).
    if "gzip" in headers.get("Content-Encoding", ""):
        try:
            body = gzip.decompress(body)
        except OSError as e:
            raise ApiError("SerializationException", f"Bad gzip body: {e}")
    if op == "PutMetricData" and len(body) > CW_PUT_MAX_BYTES:
        raise ApiError("RequestEntityTooLarge",
                       f"Request size {len(body)} exceeded {CW_PUT_MAX_BYTES} bytes", 413)
    return body


def ga_resource(body):
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        return None
    for key in ("EndpointGroupArn", "ListenerArn", "AcceleratorArn", "ResourceArn"):
        if isinstance(req.get(key), str):
            return req[key]
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs expect
    gateway = None
    verbose = False

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def serve(self):
        body = self.read_body()
        try:
            reply = self.gateway.handle(self.command, self.path, self.headers, body)
        except Exception as e:  # a gateway bug must not look like a hung socket
            logging.exception("gateway error")
            reply = Reply(500, f"aws_gateway: {type(e).__name__}: {e}".encode(),
                          [("Content-Type", "text/plain")])
        if getattr(reply, "drop", False):  # awsio: a "drop" fault: no answer, connection closed
            self.close_connection = True
            return
        self.send_response_only(reply.status)
        names = {k.lower() for k, _ in reply.headers}
        for name, value in reply.headers:
            self.send_header(name, value)
        if "content-length" not in names and reply.status not in (204, 304) and reply.status >= 200:
            self.send_header("Content-Length", str(len(reply.body)))
        if "date" not in names:
            self.send_header("Date", self.date_time_string())
        self.end_headers()
        if self.command != "HEAD" and reply.body:
            self.wfile.write(reply.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = serve

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("aws_gateway: " + fmt % args + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    parser.add_argument("--ignore-stdin", action="store_true",
                        help="keep running when stdin closes (for starting it by hand with &)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="aws_gateway: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.ERROR)

    moto = Moto()
    Handler.gateway, Handler.verbose = Gateway(moto), args.verbose
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if not args.ignore_stdin:
        def watch_stdin():
            # os.read, not sys.stdin: a daemon thread blocked inside the
            # buffered reader makes interpreter shutdown abort.
            while os.read(0, 65536):
                pass
            stop.set()
        threading.Thread(target=watch_stdin, daemon=True).start()

    print(f"listening http://127.0.0.1:{server.server_address[1]}", flush=True)
    while not stop.wait(1):
        pass
    server.shutdown()
    moto.stop()


if __name__ == "__main__":
    main()
