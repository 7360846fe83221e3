#!/usr/bin/env python3
"""The chart's values against values.schema.json, outside Helm.

    values_schema.py CHART

- The schema is a valid draft-07 schema, and every object it defines
  refuses unknown keys (additionalProperties: false), except the free-form
  maps named in FREE_FORM.
- values.yaml, and each values/*.yaml and ci/*-values.yaml merged over it
  as Helm merges them (maps key by key, a null removes the key), validate.
- Deliberately bad values (BAD below) do not validate, each failing on
  the key it breaks.

Helm validates the same schema on lint and template; this check holds the
schema itself to the contract, and runs without Helm's merge in between.
"""

import copy
import glob
import json
import os
import sys

import jsonschema
import yaml

# Objects the chart passes through as they are (the probe YAML, the AWS
# routing file, the topology, Kubernetes resource/label maps).
FREE_FORM = {
    "probe.config", "probe.config.probe", "analyzer.aws", "analyzer.topology", "affinity",
    "definitions.resources", "definitions.resources.requests", "definitions.resources.limits",
}

# (name, overlay, the schema path the error must be at)
BAD = [
    ("unknown top-level key", {"replicaCount": 2}, ""),
    ("unknown key in probe", {"probe": {"scheduel": "* * * * *"}}, "probe"),
    ("unknown key in serviceMonitor", {"serviceMonitor": {"intervall": "30s"}}, "serviceMonitor"),
    ("store over http", {"store": {"url": "http://geolat-store/prod"}}, "store.url"),
    ("region that is no AWS region", {"configuration": {"region": "frankfurt"}}, "configuration.region"),
    ("location neither region nor edge", {"configuration": {"location": "pop"}}, "configuration.location"),
    ("shutdown grace over 25s", {"probe": {"shutdownGrace": "30s"}}, "probe.shutdownGrace"),
    ("resources without limits", {"probe": {"resources": {"limits": None}}}, "probe.resources"),
    ("metrics phase unknown", {"exporter": {"metricsPhases": ["connect"]}}, "exporter.metricsPhases.0"),
    ("role ARN malformed", {"analyzer": {"apply": {"roleArn": "geolat-apply"}}}, "analyzer.apply.roleArn"),
    ("backoffLimit large", {"analyzer": {"backoffLimit": 10}}, "analyzer.backoffLimit"),
]


def merge(base, overlay):
    """Helm's coalescing of a values file over the chart's values."""
    out = copy.deepcopy(base)
    for k, v in overlay.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def closed_objects(node, path, failures):
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node and path not in FREE_FORM:
            if node.get("additionalProperties") is not False:
                failures.append(f"values.schema.json: `{path or '.'}` defines properties but allows unknown keys")
        for key, child in node.items():
            if key == "properties":
                for name, sub in child.items():
                    closed_objects(sub, f"{path}.{name}".lstrip("."), failures)
            elif key == "definitions":
                for name, sub in child.items():
                    closed_objects(sub, f"definitions.{name}", failures)
            elif isinstance(child, (dict, list)) and key not in ("properties", "definitions"):
                closed_objects(child, path, failures)
    elif isinstance(node, list):
        for child in node:
            closed_objects(child, path, failures)


def error_paths(validator, values):
    return [".".join(str(p) for p in e.absolute_path) for e in validator.iter_errors(values)]


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    chart = argv[1]
    failures = []
    with open(os.path.join(chart, "values.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    closed_objects(schema, "", failures)

    with open(os.path.join(chart, "values.yaml")) as f:
        defaults = yaml.safe_load(f)
    files = sorted(glob.glob(os.path.join(chart, "values", "*.yaml")))
    files += sorted(glob.glob(os.path.join(chart, "ci", "*-values.yaml")))
    checked = [("values.yaml", defaults)]
    for path in files:
        with open(path) as f:
            checked.append((os.path.relpath(path, chart), merge(defaults, yaml.safe_load(f) or {})))
    for name, values in checked:
        for e in validator.iter_errors(values):
            where = ".".join(str(p) for p in e.absolute_path) or "."
            failures.append(f"{name}: `{where}`: {e.message}")

    for name, overlay, path in BAD:
        paths = error_paths(validator, merge(defaults, overlay))
        if not paths:
            failures.append(f"bad values ({name}) validated: {overlay}")
        elif path not in paths:
            failures.append(f"bad values ({name}) failed at {paths}, expected at `{path or '.'}`")

    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    print(f"values_schema.py: {len(checked)} values files valid, {len(BAD)} bad ones refused"
          if not failures else f"values_schema.py: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
