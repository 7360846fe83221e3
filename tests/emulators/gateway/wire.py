"""What every emulated service shares: the error an API answers with, a
reply on its way to the HTTP front, and value helpers."""

import uuid
from datetime import datetime, timezone

ACCOUNT = "123456789012"  # moto's default account, so ARNs agree with it


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
