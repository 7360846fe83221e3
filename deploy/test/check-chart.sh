#!/bin/sh
# The deployment checks, offline (tools from deploy/test/tools.sh):
#
#   deploy/test/check-chart.sh
#
#   1. hadolint deploy/Dockerfile; deploy/test/dockerfile.py (build context
#      and target stand-ins against Cargo.toml);
#   2. yamllint (deploy/.yamllint) over the chart's YAML and the configs;
#   3. values.schema.json: every values file valid, bad ones refused
#      (deploy/test/values_schema.py);
#   4. per scenario (default values, values/*.yaml, ci/*-values.yaml):
#      helm lint --strict, and helm template with and without the
#      monitoring.coreos.com/v1 API (the ServiceMonitor renders only with);
#   5. negative cases: bad values helm template must refuse, with the
#      message that names the key;
#   6. kubernetes-validate --strict (Kubernetes $K8S_VERSION) on every
#      rendered core object; CRDs (ServiceMonitor) are checked for shape by
#      security.py instead, each named as skipped;
#   7. deploy/test/security.py on every scenario's rendered output;
#   8. checkov, once, over all rendered scenarios and deploy/Dockerfile
#      (skips, each with its reason, in .checkov.yaml and the Dockerfile).
#
# Output goes to $GEOLAT_CHECK_OUT (default target/deploy-check): render/
# holds the manifests, configs/<scenario>/ the files the ConfigMaps carry.
# Any failure stops the script with the file or scenario named; a missing
# tool is a failure, never a skip.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
chart=$root/deploy/charts/geolat
out=${GEOLAT_CHECK_OUT:-$root/target/deploy-check}
K8S_VERSION=1.33.0
release=geolat
namespace=geolat

fail() {
    echo "check-chart.sh: FAIL: $*" >&2
    exit 1
}

step() {
    echo
    echo "== $*"
}

bin=$("$here/tools.sh") || fail "deploy/test/tools.sh could not install the tools"
PATH=$bin:$PATH
export PATH
for tool in helm hadolint kubernetes-validate checkov yamllint python; do
    [ -x "$bin/$tool" ] || fail "$tool is not in $bin (deploy/test/tools.sh)"
done
# checkov: no update check, no Prisma Cloud downloads (no network at check time).
CKV_SKIP_PACKAGE_UPDATE_CHECK=true
BC_SKIP_MAPPING=TRUE
export CKV_SKIP_PACKAGE_UPDATE_CHECK BC_SKIP_MAPPING

rm -rf "$out"
mkdir -p "$out/render" "$out/validate" "$out/checkov/k8s" "$out/checkov/docker" "$out/configs"
cd "$root"

step "hadolint deploy/Dockerfile"
hadolint deploy/Dockerfile || fail "hadolint deploy/Dockerfile"
python deploy/test/dockerfile.py "$root" || fail "deploy/Dockerfile or .dockerignore (deploy/test/dockerfile.py)"

step "yamllint (deploy/.yamllint)"
yamllint -c deploy/.yamllint -s deploy/charts .checkov.yaml deploy/.yamllint ||
    fail "yamllint: deploy/charts, .checkov.yaml or deploy/.yamllint"
echo "ok"

step "values against values.schema.json"
python deploy/test/values_schema.py "$chart" || fail "values.schema.json (deploy/test/values_schema.py)"

# One scenario: its name, then the values file (none for the defaults).
render() {
    name=$1
    shift
    log=$out/render/$name.log
    helm lint --strict "$@" "$chart" >"$log" 2>&1 || {
        cat "$log" >&2
        fail "helm lint --strict, scenario $name ${1:+($2)}"
    }
    # In lint mode helm logs a template's `fail` instead of stopping.
    if grep -E 'funcMap fail|\[(WARNING|ERROR)\]' "$log" >&2; then
        fail "helm lint --strict, scenario $name ${1:+($2)}: warnings or a failed check"
    fi
    helm template "$release" "$chart" -n "$namespace" "$@" >"$out/render/$name.no-monitoring.yaml" ||
        fail "helm template, scenario $name ${1:+($2)}"
    helm template "$release" "$chart" -n "$namespace" "$@" --api-versions monitoring.coreos.com/v1 \
        >"$out/render/$name.yaml" ||
        fail "helm template --api-versions monitoring.coreos.com/v1, scenario $name ${1:+($2)}"
    echo "ok: $name ${1:+($2)}"
}

step "helm lint --strict and helm template, every scenario"
render default
for f in "$chart"/values/*.yaml; do
    render "values-$(basename "$f" .yaml)" -f "$f"
done
for f in "$chart"/ci/*-values.yaml; do
    render "ci-$(basename "$f" -values.yaml)" -f "$f"
done

# A bad value helm template must refuse: name, the message expected, args.
must_fail() {
    name=$1
    expected=$2
    shift 2
    log=$out/negative.log
    if helm template "$release" "$chart" -n "$namespace" "$@" >"$log" 2>&1; then
        fail "negative case '$name' ($*) rendered; it must fail with: $expected"
    fi
    if ! grep -qF -- "$expected" "$log"; then
        cat "$log" >&2
        fail "negative case '$name' ($*) failed without the message: $expected"
    fi
    echo "ok: $name: $(grep -F -- "$expected" "$log" | head -n 1 | sed 's/^ *//')"
}

step "negative cases"
must_fail "apply without a role" \
    "analyzer.apply.enabled needs analyzer.apply.roleArn" \
    --set analyzer.apply.enabled=true
must_fail "apply without the analyzer" \
    "analyzer.apply.enabled needs analyzer.enabled" \
    --set analyzer.enabled=false --set analyzer.apply.enabled=true \
    --set analyzer.apply.roleArn=arn:aws:iam::123456789012:role/geolat-apply
must_fail "region not in topology.regions" \
    'configuration.region "eu-west-1" is not in topology.regions' \
    --set configuration.region=eu-west-1
must_fail "edge not in topology.edges" \
    'configuration.edge "" is not in topology.edges' \
    --set configuration.location=edge
must_fail "store over http (schema)" \
    "at '/store/url'" \
    --set store.url=http://geolat-store/prod
must_fail "store over http (template)" \
    'store.url "http://geolat-store/prod": give s3://BUCKET/PREFIX or file:///ABSOLUTE/PATH' \
    --set store.url=http://geolat-store/prod --skip-schema-validation
must_fail "unknown key" \
    "additional properties 'scheduel' not allowed" \
    --set probe.scheduel=x
must_fail "unknown top-level key" \
    "additional properties 'replicaCount' not allowed" \
    --set replicaCount=2
must_fail "probe YAML for another region" \
    'probe.config.probe.region "us-east-1" differs from configuration.region "eu-central-1"' \
    --set probe.config.probe.region=us-east-1
must_fail "IRSA role with Pod Identity" \
    "with serviceAccount.podIdentity the role is bound by" \
    --set serviceAccount.podIdentity=true --set serviceAccount.roleArn=arn:aws:iam::123456789012:role/geolat
must_fail "windows stored twice" \
    "would store every window twice" \
    --set exporter.enabled=true --set exporter.storeWindows=true
must_fail "PDB blocking every drain" \
    "no node could ever be drained" \
    --set exporter.enabled=true --set probe.enabled=false --set exporter.replicas=2 \
    --set exporter.podDisruptionBudget.minAvailable=2
must_fail "ServiceMonitor without the exporter" \
    "serviceMonitor.enabled needs exporter.enabled" \
    --set serviceMonitor.enabled=true
must_fail "topology of other regions" \
    "analyzer.topology's regions" \
    --set 'topology.regions={us-east-1,eu-central-1}'
must_fail "shutdown grace over Kubernetes' 30 s" \
    "at '/probe/shutdownGrace'" \
    --set probe.shutdownGrace=30s

step "kubernetes-validate --strict (Kubernetes $K8S_VERSION)"
# Core objects to validate/, CRDs named and left to security.py.
python - "$out/render" "$out/validate" <<'PY' || fail "splitting the rendered output"
import os, sys, yaml
render, validate = sys.argv[1:]
for f in sorted(os.listdir(render)):
    if not f.endswith(".yaml") or f.endswith(".no-monitoring.yaml"):
        continue
    docs = [d for d in yaml.safe_load_all(open(os.path.join(render, f))) if d]
    core = []
    for d in docs:
        group = d["apiVersion"].rpartition("/")[0]
        if "." in group and not group.endswith(".k8s.io"):
            print(f"skipped: {f}: {d['kind']}/{d['metadata']['name']} ({d['apiVersion']}): a CRD, "
                  "no schema in kubernetes-validate; security.py checks its shape")
        else:
            core.append(d)
    with open(os.path.join(validate, f), "w") as out:
        yaml.safe_dump_all(core, out, sort_keys=False)
PY
kv_log=$out/kubernetes-validate.log
kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$out"/validate/*.yaml >"$kv_log" 2>&1 || {
    cat "$kv_log" >&2
    fail "kubernetes-validate --strict: see the objects above (files in $out/validate, one per scenario)"
}
if grep -E 'WARN|ERROR|Couldn' "$kv_log" >&2; then
    fail "kubernetes-validate --strict: an object it could not check (files in $out/validate)"
fi
echo "ok: $(ls "$out"/validate/*.yaml | wc -l) scenarios"

step "deploy/test/security.py"
python deploy/test/security.py "$out/render" --configs-out "$out/configs" ||
    fail "deploy/test/security.py: the scenarios and objects named above"

step "checkov (kubernetes: every scenario; dockerfile: deploy/Dockerfile)"
for f in "$out"/render/*.yaml; do
    case $f in *.no-monitoring.yaml) continue ;; esac
    cp "$f" "$out/checkov/k8s/"
done
cp deploy/Dockerfile "$out/checkov/docker/Dockerfile"
checkov -d "$out/checkov" --framework kubernetes dockerfile --skip-download --quiet --compact \
    --config-file "$root/.checkov.yaml" || fail "checkov: the checks and files named above"
echo "ok"

echo
echo "check-chart.sh: all checks passed"
