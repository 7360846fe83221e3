"""moto's server, run in-process, and what the gateway forwards to it as it
is (S3 with conditional writes, Route 53 zones and health checks, IAM, ...):
guessing service and operation names for the call log, and rendering
injected faults in those services' error shapes."""

import http.client
import re
from xml.sax.saxutils import escape

from moto.server import ThreadedMotoServer

from .wire import Reply, request_id

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade", "expect", "content-length",
}


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


def signing_region(headers):
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
