"""The HTTP front: classify each request by service and operation, inject
a fault or serve it (the gateway's own emulators, else moto), record it in
the call log; and the server's life (its one line on stdout, exit when stdin
closes or on SIGTERM)."""

import argparse
import json
import logging
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import cbor2

from .accelerator import GA_PREFIX, GlobalAccelerator, ga_error, ga_reply, ga_resource
from .cloudwatch import (CW_JSON_PREFIX, CW_PATH, CloudWatch, cbor_reply, cw_body, cw_error,
                         cw_json_error, cw_json_reply)
from .control import Control, control_api
from .moto_passthrough import (Moto, query_error, s3_error, s3_op, signing_region,
                               signing_service)
from .r53_wire import r53_error, route53_route
from .route53 import Route53
from .wire import ApiError, Reply


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
            return control_api(self, method, path, body)

        service, op, serve, render, resource = self.classify(method, path, query, headers, body, target)
        fault = self.control.take_fault(service, op, resource)
        try:
            if fault and not fault.after:
                raise fault
            reply = serve()
            if fault:  # "after": the request took effect, yet fails
                raise fault
        except ApiError as err:
            reply = render(err)
        self.control.record(service, op, reply.status, resource, len(body), signing_region(headers))
        reply.drop = bool(fault and fault.drop)  # Handler.serve closes, answers nothing
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
            serve = self.route53.handler(op, params, query, headers, body, forward) or forward
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



class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs expect
    # Headers and body go out as two writes: with Nagle's algorithm the body
    # waits for the client's delayed ACK, 40 ms a request.
    disable_nagle_algorithm = True
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
        if getattr(reply, "drop", False):  # a "drop" fault: no answer, connection closed
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


def main(description):
    """Parse the command line, serve until stdin closes or SIGTERM."""
    parser = argparse.ArgumentParser(description=description)
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
