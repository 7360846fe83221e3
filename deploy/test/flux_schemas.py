"""Strict, offline checks of deploy/flux's Flux objects and of the values
each overlay's HelmRelease gives the chart (deploy/test/check-flux.sh runs
this with .venv-deploy's Python).

Flux's schemas come from cloudcoil-models-fluxcd (pydantic models generated
from Flux's CRDs). Those models are configured with pydantic's default
extra="ignore" (cloudcoil.pydantic.BaseModel sets only populate_by_name,
validate_default and validate_assignment), so validating with them alone
would drop a misspelt field without a word. Two strict checks instead:

  1. each model's JSON schema (model_json_schema, by alias) with
     `additionalProperties: false` set on every object schema that lists
     properties and says nothing about others, validated with jsonschema
     (every error, with its path);
  2. the model itself (model_validate), and every key of the input found
     again in its dump: a key the model dropped is an unknown field.

Subcommands:

  validate [--core-out FILE] YAML...
      Flux objects strictly as above. Documents of Kubernetes' own API
      groups are written to FILE for `kubernetes-validate --strict`; any
      other kind (a CRD this cannot check) is an error.

  values --chart DIR --out DIR OVERLAY=YAML...
      Per overlay's rendered YAML: its HelmRelease's effective values as
      helm-controller computes them (valuesFrom in order, then values),
      checked against the chart's values.schema.json over the chart's
      defaults; references (chartRef, valuesFrom, namespaces) resolved
      within the overlay; the chart version the source pins equal to
      the chart's; and fleet rules (each region overlay is that region,
      one analyzer in the fleet). Prints `OVERLAY RELEASE NAMESPACE
      VALUES_FILE` per overlay for `helm template`.

  selftest RENDERED_YAML [--chart DIR]
      Negative cases: a HelmRelease with an unknown field (top level, in
      spec, nested), without a required field, with a value out of its
      enum, and chart values with an unknown key must all be rejected;
      the unmodified objects must pass.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import sys
from functools import lru_cache
from typing import Any, Iterable

import jsonschema
import yaml

FLUX_GROUPS = {
    "helm.toolkit.fluxcd.io": "helm",
    "source.toolkit.fluxcd.io": "source",
    "kustomize.toolkit.fluxcd.io": "kustomize",
    "image.toolkit.fluxcd.io": "image",
    "notification.toolkit.fluxcd.io": "notification",
}

# Kubernetes' own groups: checked by kubernetes-validate --strict.
CORE_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
}


class Failure(Exception):
    pass


def load_docs(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for d in docs:
        if not isinstance(d, dict):
            raise Failure(f"{path}: a document is not a mapping: {d!r}")
    return docs


def group_version(doc: dict) -> tuple[str, str]:
    api = str(doc.get("apiVersion", ""))
    if "/" in api:
        g, v = api.split("/", 1)
        return g, v
    return "", api


def describe(doc: dict) -> str:
    meta = doc.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "?")
    return f"{doc.get('kind')}/{ns + '/' if ns else ''}{name} ({doc.get('apiVersion')})"


# --- strict Flux schemas -------------------------------------------------


def model_for(doc: dict):
    group, version = group_version(doc)
    package = FLUX_GROUPS.get(group)
    if package is None:
        return None
    module_name = f"cloudcoil.models.fluxcd.{package}.{version}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise Failure(
            f"{describe(doc)}: no schema for {group}/{version} in "
            f"cloudcoil-models-fluxcd (is the version one Flux serves?)"
        ) from None
    cls = getattr(module, str(doc.get("kind")), None)
    if cls is None or not hasattr(cls, "model_json_schema"):
        raise Failure(f"{describe(doc)}: {group}/{version} has no kind {doc.get('kind')}")
    return cls


def forbid_unknown(node: Any) -> int:
    """Sets additionalProperties false on every object schema listing
    properties without a rule for others; returns how many it closed."""
    closed = 0
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
            node["additionalProperties"] = False
            closed += 1
        for v in node.values():
            closed += forbid_unknown(v)
    elif isinstance(node, list):
        for v in node:
            closed += forbid_unknown(v)
    return closed


@lru_cache(maxsize=None)
def strict_validator(cls) -> jsonschema.protocols.Validator:
    schema = cls.model_json_schema(by_alias=True, mode="validation")
    if forbid_unknown(schema) == 0:
        raise Failure(f"{cls.__name__}: the schema has no object to close")
    vcls = jsonschema.validators.validator_for(schema)
    vcls.check_schema(schema)
    return vcls(schema)


def dropped_keys(given: Any, kept: Any, path: str = "") -> list[str]:
    """Keys of `given` missing from `kept` (the model's dump), recursively;
    free-form maps (annotations, values) come back whole."""
    out: list[str] = []
    if isinstance(given, dict) and isinstance(kept, dict):
        for k, v in given.items():
            if k not in kept:
                out.append(f"{path}/{k}")
            else:
                out.extend(dropped_keys(v, kept[k], f"{path}/{k}"))
    elif isinstance(given, list) and isinstance(kept, list):
        for i, (g, k) in enumerate(zip(given, kept)):
            out.extend(dropped_keys(g, k, f"{path}/{i}"))
    return out


def leaf_errors(errors) -> list:
    """The errors that say what is wrong: an optional field's anyOf
    (the field's schema, or null) is replaced by why the field's schema
    refused it; the "not null" alternative is dropped."""
    out = []
    for e in errors:
        if e.context:
            sub = [c for c in e.context if not (c.validator == "type" and c.validator_value == "null")]
            out.extend(leaf_errors(sub) if sub else [e])
        else:
            out.append(e)
    return sorted(out, key=lambda e: [str(p) for p in e.absolute_path])


def flux_errors(doc: dict) -> list[str]:
    cls = model_for(doc)
    if cls is None:
        return [f"{describe(doc)}: not a Flux object"]
    errors = []
    for e in leaf_errors(strict_validator(cls).iter_errors(doc)):
        where = "/" + "/".join(str(p) for p in e.absolute_path)
        errors.append(f"{describe(doc)}: {where}: {e.message}")
    try:
        model = cls.model_validate(doc)
    except Exception as e:  # pydantic.ValidationError, with every problem
        errors.append(f"{describe(doc)}: {e}")
    else:
        dumped = model.model_dump(by_alias=True, exclude_unset=True, mode="json")
        for key in dropped_keys(doc, dumped):
            errors.append(f"{describe(doc)}: {key}: unknown field (the model drops it)")
    return errors


def cmd_validate(args) -> int:
    core: list[dict] = []
    failures: list[str] = []
    counts: dict[str, int] = {}
    for path in args.files:
        for doc in load_docs(path):
            group, _ = group_version(doc)
            if group in FLUX_GROUPS:
                problems = flux_errors(doc)
                failures.extend(f"{path}: {p}" for p in problems)
                if not problems:
                    counts[doc["kind"]] = counts.get(doc["kind"], 0) + 1
            elif group in CORE_GROUPS:
                core.append(doc)
            else:
                failures.append(
                    f"{path}: {describe(doc)}: no schema to check it against "
                    f"(neither Flux nor Kubernetes' own API)"
                )
    if args.core_out:
        with open(args.core_out, "w", encoding="utf-8") as f:
            yaml.safe_dump_all(core, f, sort_keys=False)
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no Flux objects"
    print(f"flux schemas (strict): {summary}; {len(core)} core objects for kubernetes-validate")
    return 1 if failures else 0


# --- effective values ------------------------------------------------------


def merge_maps(a: dict, b: dict) -> dict:
    """helm-controller's merge of valuesFrom and values: b over a, maps
    merged key by key, anything else replaced (nulls kept for Helm)."""
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_maps(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def coalesce(defaults: dict, user: dict) -> dict:
    """Helm's user values over chart defaults: maps merged, lists replaced,
    a null removing the default."""
    out = copy.deepcopy(user)
    for k, dv in defaults.items():
        if k in user:
            uv = user[k]
            if uv is None:
                del out[k]
            elif isinstance(uv, dict) and isinstance(dv, dict):
                out[k] = coalesce(dv, uv)
        else:
            out[k] = copy.deepcopy(dv)
    return out


def effective_values(hr: dict, by_key: dict) -> dict:
    spec = hr.get("spec") or {}
    ns = hr["metadata"].get("namespace")
    values: dict = {}
    for ref in spec.get("valuesFrom") or []:
        if ref.get("targetPath"):
            raise Failure(f"{describe(hr)}: valuesFrom targetPath is not checked here; merge whole files")
        obj = by_key.get((ref["kind"], ns, ref["name"]))
        if obj is None:
            if ref.get("optional"):
                continue
            raise Failure(f"{describe(hr)}: valuesFrom {ref['kind']} {ns}/{ref['name']} is not in the overlay")
        key = ref.get("valuesKey", "values.yaml")
        data = obj.get("data") or {}
        if ref["kind"] == "Secret":
            raise Failure(f"{describe(hr)}: values from a Secret cannot be checked offline")
        if key not in data:
            raise Failure(f"{describe(hr)}: {ref['kind']} {ref['name']} has no key {key}")
        parsed = yaml.safe_load(data[key]) or {}
        if not isinstance(parsed, dict):
            raise Failure(f"{describe(hr)}: {ref['name']}[{key}] is not a map")
        values = merge_maps(values, parsed)
    return merge_maps(values, spec.get("values") or {})


def chart_schema_errors(chart: str, values: dict) -> list[str]:
    schema_path = os.path.join(chart, "values.schema.json")
    if not os.path.exists(schema_path):
        return []
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    with open(os.path.join(chart, "values.yaml"), encoding="utf-8") as f:
        defaults = yaml.safe_load(f) or {}
    final = coalesce(defaults, values)
    vcls = jsonschema.validators.validator_for(schema)
    return [
        "/" + "/".join(str(p) for p in e.absolute_path) + f": {e.message}"
        for e in sorted(vcls(schema).iter_errors(final), key=lambda e: list(e.absolute_path))
    ]


def chart_version(chart: str) -> str:
    with open(os.path.join(chart, "Chart.yaml"), encoding="utf-8") as f:
        return str(yaml.safe_load(f)["version"])


def check_overlay(name: str, path: str, chart: str) -> tuple[dict, dict, dict, list[str]]:
    """The overlay's HelmRelease, its values as Flux passes them, the same
    over the chart's defaults, and what is wrong."""
    docs = load_docs(path)
    by_key = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}
    namespaces = {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}
    problems: list[str] = []
    for d in docs:
        ns = d["metadata"].get("namespace")
        if d["kind"] != "Namespace" and ns not in namespaces:
            problems.append(f"{describe(d)}: its namespace {ns!r} is not created by the overlay")
    releases = [d for d in docs if d["kind"] == "HelmRelease"]
    if len(releases) != 1:
        raise Failure(f"{name}: {len(releases)} HelmReleases (one per overlay)")
    hr = releases[0]
    spec = hr["spec"]
    ns = hr["metadata"]["namespace"]
    ref = spec.get("chartRef")
    if not ref or ref.get("kind") != "OCIRepository":
        raise Failure(f"{describe(hr)}: expected a chartRef to an OCIRepository")
    source = by_key.get(("OCIRepository", ref.get("namespace", ns), ref["name"]))
    if source is None:
        raise Failure(f"{describe(hr)}: chartRef OCIRepository {ref['name']} is not in the overlay")
    tag = (source["spec"].get("ref") or {}).get("tag")
    version = chart_version(chart)
    if tag != version:
        problems.append(
            f"{describe(source)}: pins chart {tag!r} but {chart}/Chart.yaml is {version!r}: "
            f"the values are checked against the chart in this repository, so push that "
            f"version and pin it (ref.tag)"
        )
    values = effective_values(hr, by_key)
    for e in chart_schema_errors(chart, values):
        problems.append(f"{describe(hr)}: values.schema.json: {e}")
    with open(os.path.join(chart, "values.yaml"), encoding="utf-8") as f:
        final = coalesce(yaml.safe_load(f) or {}, values)
    return hr, values, final, problems


def cmd_values(args) -> int:
    chart = args.chart
    if not os.path.exists(os.path.join(chart, "Chart.yaml")):
        print(f"FAIL the chart is missing: no {chart}/Chart.yaml", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    failures: list[str] = []
    analyzers: list[str] = []
    appliers: list[str] = []
    lines: list[str] = []
    for item in args.overlays:
        name, _, path = item.partition("=")
        try:
            hr, merged, final, problems = check_overlay(name, path, chart)
        except Failure as e:
            failures.append(f"{name}: {e}")
            continue
        failures.extend(f"{name}: {p}" for p in problems)
        c = final.get("configuration") or {}
        if name.startswith("edge-"):
            edge = name[len("edge-"):]
            if c.get("location") != "edge" or c.get("edge") != edge:
                failures.append(
                    f"{name}: configuration.location/edge are {c.get('location')!r}/{c.get('edge')!r}, "
                    f"expected 'edge'/{edge!r}"
                )
        elif c.get("location") != "region" or c.get("region") != name:
            failures.append(
                f"{name}: configuration.location/region are {c.get('location')!r}/{c.get('region')!r}, "
                f"expected 'region'/{name!r}: the overlay reads another region's values"
            )
        analyzer = final.get("analyzer") or {}
        if analyzer.get("enabled"):
            analyzers.append(name)
            if (analyzer.get("apply") or {}).get("enabled"):
                appliers.append(name)
        values_path = os.path.join(args.out, f"{name}.values.yaml")
        spec = hr["spec"]
        with open(values_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(merged, f, sort_keys=False)
        release = spec.get("releaseName") or hr["metadata"]["name"]
        lines.append(f"{name} {release} {hr['metadata']['namespace']} {values_path}")
    if len(analyzers) != 1:
        failures.append(
            f"the analyzer runs in {analyzers or 'no overlay'}: the chart runs it in exactly one "
            f"cluster (values/us-east-1.yaml)"
        )
    if len(appliers) > 1:
        failures.append(f"analyzer.apply is enabled in {appliers}: one applier at most")
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    for line in lines:
        print(line)
    return 1 if failures else 0


# --- negative cases --------------------------------------------------------


def cmd_selftest(args) -> int:
    docs = load_docs(args.rendered)
    hr = next((d for d in docs if d.get("kind") == "HelmRelease"), None)
    if hr is None:
        print(f"FAIL {args.rendered}: no HelmRelease to mutate", file=sys.stderr)
        return 1
    failures: list[str] = []
    if flux_errors(hr):
        failures.append(f"the unmodified HelmRelease is rejected: {flux_errors(hr)}")

    def mutated(fn) -> dict:
        d = copy.deepcopy(hr)
        fn(d)
        return d

    cases = {
        "an unknown top-level field": (lambda d: d.__setitem__("spec2", {}), "spec2"),
        "an unknown field in spec": (lambda d: d["spec"].__setitem__("releaseNmae", "x"), "releaseNmae"),
        "an unknown field in spec.upgrade.remediation": (
            lambda d: d["spec"].setdefault("upgrade", {}).setdefault("remediation", {}).__setitem__("retry", 3),
            "retry",
        ),
        "an unknown field in spec.chartRef": (lambda d: d["spec"]["chartRef"].__setitem__("version", "1"), "version"),
        "the Helm Operator's spec.chart.git": (
            lambda d: d["spec"].__setitem__("chart", {"git": "ssh://git@github.com/my-org/helm-charts", "ref": "app_1.0.0", "path": "charts/app"}),
            "git",
        ),
        "no spec.interval (required)": (lambda d: d["spec"].pop("interval"), "interval"),
        "driftDetection.mode outside its enum": (
            lambda d: d["spec"].__setitem__("driftDetection", {"mode": "on"}),
            "mode",
        ),
        "a releaseName over 53 characters": (lambda d: d["spec"].__setitem__("releaseName", "r" * 54), "releaseName"),
    }
    for what, (fn, needle) in cases.items():
        errors = flux_errors(mutated(fn))
        if not errors:
            failures.append(f"a HelmRelease with {what} passed the Flux schema check")
        elif not any(needle in e for e in errors):
            failures.append(f"a HelmRelease with {what} failed, but not naming {needle!r}: {errors}")
        else:
            print(f"rejected as it should be: a HelmRelease with {what}")

    if args.chart and os.path.exists(os.path.join(args.chart, "values.schema.json")):
        if not chart_schema_errors(args.chart, {}):
            bad = chart_schema_errors(args.chart, {"serviceAcount": {"roleArn": "x"}})
            if not bad:
                failures.append("chart values with an unknown key (serviceAcount) passed values.schema.json")
            else:
                print("rejected as it should be: chart values with an unknown key")
        else:
            failures.append(f"the chart's own defaults fail values.schema.json: {chart_schema_errors(args.chart, {})}")
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: Iterable[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate")
    v.add_argument("--core-out")
    v.add_argument("files", nargs="+")
    vals = sub.add_parser("values")
    vals.add_argument("--chart", required=True)
    vals.add_argument("--out", required=True)
    vals.add_argument("overlays", nargs="+", metavar="OVERLAY=YAML")
    s = sub.add_parser("selftest")
    s.add_argument("rendered")
    s.add_argument("--chart")
    args = p.parse_args(list(argv))
    try:
        return {"validate": cmd_validate, "values": cmd_values, "selftest": cmd_selftest}[args.cmd](args)
    except Failure as e:
        print(f"FAIL {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
