"""CloudWatch metrics and dashboards over Smithy RPC v2 CBOR (what
aws-sdk-cloudwatch >= 1.100 speaks; moto answers 404) and over awsJson1_0
(what botocore sends; moto's GetMetricData crashes), from one store;
PutMetricData within its documented limits (1000 data, 150 values per metric
in one request, 150 values a datum, 30 dimensions, 1 MB of body)."""

import gzip
import json
import math
import re
import threading
import time

import cbor2

from .wire import ACCOUNT, ApiError, Reply, epoch, is_int, request_id

CW_JSON_PREFIX = "GraniteServiceVersion20100801."
CW_PATH = re.compile(r"^/service/GraniteServiceVersion20100801/operation/(\w+)$")
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
