"""Faults and the call log, shared by every service, and the control API
tests drive them with (JSON over HTTP under /_emulator/; the routes are
documented in aws_gateway.py's docstring)."""

import json
import threading

from .wire import ApiError, Reply


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
            # "after": serve, then fail (the change took effect, the answer
            # is lost); "drop": no answer at all, the connection closed.
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
                    err.after, err.drop = fault["after"], fault["drop"]
                    return err
        return None

    def record(self, service, op, status, resource, size, region=None):
        with self.lock:
            self.calls.append(
                {"service": service, "op": op, "status": status, "resource": resource, "bytes": size,
                 "region": region}
            )


def control_api(gateway, method, path, body):
    """One request to the control API; `gateway` holds every service's state."""
    def ok(payload=None, status=200):
        return Reply(status, json.dumps(payload if payload is not None else {"ok": True}).encode(),
                     [("Content-Type", "application/json")])

    try:
        req = json.loads(body) if body else {}
        route = (method, path.rstrip("/"))
        if route == ("POST", "/_emulator/faults"):
            return ok(gateway.control.add_fault(req))
        if route == ("GET", "/_emulator/faults"):
            with gateway.control.lock:
                return ok(list(gateway.control.faults))
        if route == ("POST", "/_emulator/ga/health"):
            endpoint = req.get("endpoint_id")
            if not isinstance(endpoint, str):
                raise ApiError("BadRequest", "endpoint_id is required")
            groups = gateway.ga.set_health(endpoint, req.get("state"), req.get("reason"))
            return ok({"ok": True, "endpoint_groups": groups})
        if route == ("POST", "/_emulator/route53/health"):
            check, status = req.get("health_check_id"), req.get("status")
            if not isinstance(check, str) or not isinstance(status, str):
                raise ApiError("BadRequest", "health_check_id and status are required")
            with gateway.route53.lock:
                gateway.route53.health[check] = status
            return ok()
        if route == ("POST", "/_emulator/route53/pending"):
            polls = req.get("polls")
            if not isinstance(polls, int) or polls < 0:
                raise ApiError("BadRequest", "polls must be a whole number of GetChange polls")
            with gateway.route53.lock:
                gateway.route53.records.pending_polls = polls
            return ok()
        if route == ("POST", "/_emulator/cloudwatch/metrics"):
            with gateway.cloudwatch.lock:
                gateway.cloudwatch.PutMetricData(req, allow_aws=True)
            return ok()
        if route == ("GET", "/_emulator/calls"):
            with gateway.control.lock:
                return ok(list(gateway.control.calls))
        if route == ("DELETE", "/_emulator/calls"):
            with gateway.control.lock:
                gateway.control.calls.clear()
            return ok()
        if route == ("POST", "/_emulator/reset"):
            gateway.reset()
            return ok()
        return ok({"error": "NotFound", "message": f"no control route {method} {path}"}, 404)
    except ValueError as e:
        return ok({"error": "BadRequest", "message": str(e)}, 400)
    except ApiError as e:
        return ok({"error": e.code, "message": e.message}, 400)
