"""Route 53's REST-XML wire: replies and errors, request fields, routes
from paths to operations, pagination and range checks."""

import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote
from xml.sax.saxutils import escape

from .wire import ApiError, Reply, request_id

R53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"
ET.register_namespace("", R53_NS)


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
        ("GET", "change/(?P<change>[^/]+)", "GetChange"),
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
