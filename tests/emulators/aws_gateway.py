"""One local endpoint for the AWS APIs geolat's tests drive.

    python aws_gateway.py [--port 0] [--verbose] [--ignore-stdin]

The AWS SDKs are pointed at this gateway with AWS_ENDPOINT_URL. It starts
moto's server in-process on a free loopback port and forwards to it whatever
moto does right (S3 with conditional writes, Route 53 zones and health
checks, ...). The gateway itself serves what moto lacks or gets wrong:

* Global Accelerator (awsJson1_1, absent from moto): accelerators, listeners,
  endpoint groups, endpoints, tags; with the documented limits and errors.
* Route 53 traffic policies and instances (REST-XML; moto answers 404), with
  the policy document checked against the "Traffic Policy Document Format".
* Route 53 record sets: moto deletes every record carrying a deleted
  record's SetIdentifier whatever its name, skips the Weight 0..255 and
  geoproximity Bias -99..99 checks, drops GeoProximityLocation and ignores
  StartRecordIdentifier, so the gateway keeps every zone's record sets
  itself, keyed by (name, type, set identifier), and applies change batches
  as Route 53 does: atomically, DELETE only of a record as it is, CREATE only
  of a new one, UPSERT either (gateway/records.py). moto keeps the zones.
* CloudWatch metrics and dashboards over Smithy RPC v2 CBOR (what
  aws-sdk-cloudwatch >= 1.100 speaks; moto answers 404) and over awsJson1_0
  (what botocore sends; moto's GetMetricData crashes), from one store;
  PutMetricData within its documented limits (1000 data, 150 values per
  metric in one request, 150 values a
  datum, 30 dimensions, 1 MB of body).

It prints exactly one line, "listening http://127.0.0.1:PORT", once ready, and
exits when stdin closes (so a killed test harness never leaves it behind) or
on SIGTERM.

The code is in the package beside this script, one module per part:
gateway/front.py (HTTP, classification, faults, call log), control.py (the
control API below), accelerator.py, route53.py (traffic policies and
instances, health status), records.py (record sets), policy_document.py,
r53_wire.py, cloudwatch.py, moto_passthrough.py (moto, S3 and the rest).

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
    POST /_emulator/route53/pending {"polls": N}  new changes stay PENDING for
                              N GetChange polls, then INSYNC (default 0)
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

import os
import sys

# The package beside this script, whatever the working directory; no
# __pycache__ left in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gateway.front import main  # noqa: E402

if __name__ == "__main__":
    main(__doc__.split("\n\n")[0])
