#!/bin/sh
# The Flux checks, offline (tools from deploy/test/tools.sh):
#
#   deploy/test/check-flux.sh
#
#   1. the chart is there (deploy/charts/geolat): its absence is a failure;
#   2. yamllint -s over deploy/flux (deploy/.yamllint, else an inline
#      default-based config);
#   3. every overlay has a chart values file and a clusters/<name> entry,
#      and every chart values file an overlay;
#   4. kubectl kustomize of base, image-automation and every overlay, with
#      --load-restrictor LoadRestrictionsNone as Flux's kustomize-controller
#      builds (the overlays read the chart's values files);
#   5. every Flux object (rendered, and clusters/*/geolat.yaml) STRICTLY
#      against Flux's schemas from cloudcoil-models-fluxcd, unknown fields
#      refused (deploy/test/flux_schemas.py validate); every core object
#      (Namespace, ConfigMap) with kubernetes-validate --strict;
#   6. per overlay, the HelmRelease's effective values (valuesFrom, then
#      values) against the chart's values.schema.json over its defaults,
#      references resolved, the pinned chart version equal to the chart's,
#      and fleet rules (flux_schemas.py values); then helm template with
#      those values, and its core objects with kubernetes-validate --strict;
#   7. negative cases: HelmReleases with unknown fields, a missing required
#      field, an enum violation, and chart values with an unknown key must
#      be refused (flux_schemas.py selftest).
#
# Output goes to $GEOLAT_FLUX_CHECK_OUT (default target/deploy-flux-check).
# Any failure stops the script with what failed named; a missing tool is a
# failure, never a skip.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
flux=$root/deploy/flux
chart=$root/deploy/charts/geolat
out=${GEOLAT_FLUX_CHECK_OUT:-$root/target/deploy-flux-check}
# The Kubernetes version core objects are checked against (as check-chart.sh).
K8S_VERSION=1.33.0

fail() {
    echo "check-flux.sh: FAIL: $*" >&2
    exit 1
}

step() {
    echo
    echo "== $*"
}

bin=$("$here/tools.sh") || fail "deploy/test/tools.sh could not install the tools"
PATH=$bin:$PATH
export PATH
for tool in helm kubectl kubernetes-validate yamllint; do
    [ -x "$bin/$tool" ] || fail "$tool is not in $bin (deploy/test/tools.sh)"
done
# The venv's own interpreter: through a symlink elsewhere Python would not
# find the venv's packages.
py=$root/.venv-deploy/bin/python
[ -x "$py" ] || fail "$py is missing (deploy/test/tools.sh makes .venv-deploy)"
# No .pyc files next to the scripts.
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
"$py" -c 'import cloudcoil.models.fluxcd.helm.v2, jsonschema, yaml' ||
    fail "the Flux models (cloudcoil-models-fluxcd) are not in .venv-deploy (deploy/test/tools.sh)"

rm -rf "$out"
mkdir -p "$out/kustomize" "$out/values" "$out/helm"
cd "$root"

step "1. the chart"
for f in Chart.yaml values.yaml templates; do
    [ -e "$chart/$f" ] ||
        fail "the chart is missing: no deploy/charts/geolat/$f; the overlays' values cannot be checked without it"
done
[ -f "$chart/values.schema.json" ] ||
    echo "note: deploy/charts/geolat/values.schema.json is missing: values checked by helm template only"
echo "deploy/charts/geolat $(sed -n 's/^version: *//p' "$chart/Chart.yaml")"

step "2. yamllint"
if [ -f deploy/.yamllint ]; then
    yamllint -s -c deploy/.yamllint deploy/flux || fail "yamllint (deploy/.yamllint) on deploy/flux"
elif [ -f .yamllint ]; then
    yamllint -s -c .yamllint deploy/flux || fail "yamllint (.yamllint) on deploy/flux"
else
    yamllint -s -d '{extends: default, rules: {line-length: {max: 160}, document-start: disable,
        truthy: {check-keys: false}, comments: {min-spaces-from-content: 1},
        braces: {max-spaces-inside: 1}}}' deploy/flux || fail "yamllint on deploy/flux"
fi
echo "deploy/flux: clean"

step "3. overlays, chart values files and cluster entries"
overlays=""
for dir in "$flux"/overlays/*/; do
    name=$(basename "$dir")
    overlays="$overlays $name"
    [ -f "$chart/values/$name.yaml" ] ||
        fail "overlays/$name has no chart values file deploy/charts/geolat/values/$name.yaml"
    grep -q "values.yaml=../../../charts/geolat/values/$name.yaml" "$dir/kustomization.yaml" ||
        fail "overlays/$name/kustomization.yaml does not generate its ConfigMap from values/$name.yaml"
    entry=$flux/clusters/$name/geolat.yaml
    [ -f "$entry" ] || fail "overlays/$name has no cluster entry deploy/flux/clusters/$name/geolat.yaml"
    grep -q "path: ./deploy/flux/overlays/$name\$" "$entry" ||
        fail "clusters/$name/geolat.yaml does not apply ./deploy/flux/overlays/$name"
done
[ -n "$overlays" ] || fail "no overlays in deploy/flux/overlays"
for f in "$chart"/values/*.yaml; do
    name=$(basename "$f" .yaml)
    [ -d "$flux/overlays/$name" ] || fail "deploy/charts/geolat/values/$name.yaml has no overlay deploy/flux/overlays/$name"
done
echo "overlays:$overlays"

step "4. kubectl kustomize"
for dir in base image-automation $(for o in $overlays; do echo "overlays/$o"; done); do
    name=$(basename "$dir")
    kubectl kustomize --load-restrictor LoadRestrictionsNone "deploy/flux/$dir" >"$out/kustomize/$name.yaml" ||
        fail "kubectl kustomize deploy/flux/$dir"
    echo "deploy/flux/$dir: $(grep -c '^kind:' "$out/kustomize/$name.yaml") objects"
done

step "5. Flux objects (strict) and core objects (kubernetes-validate --strict, $K8S_VERSION)"
"$py" "$here/flux_schemas.py" validate --core-out "$out/core.yaml" \
    "$out"/kustomize/*.yaml "$flux"/clusters/*/geolat.yaml ||
    fail "the Flux objects do not match Flux's schemas (above)"
kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$out/core.yaml" ||
    fail "kubernetes-validate --strict on the overlays' core objects ($out/core.yaml)"
echo "core objects: valid"

step "6. effective values per overlay, and helm template"
set --
for o in $overlays; do
    set -- "$@" "$o=$out/kustomize/$o.yaml"
done
"$py" "$here/flux_schemas.py" values --chart "$chart" --out "$out/values" "$@" >"$out/values/releases.txt" ||
    fail "the overlays' values (above)"
while read -r overlay release namespace values; do
    helm template "$release" "$chart" --namespace "$namespace" -f "$values" >"$out/helm/$overlay.yaml" ||
        fail "helm template $release (overlays/$overlay, values $values)"
    "$py" "$here/flux_schemas.py" validate --core-out "$out/helm/$overlay.core.yaml" "$out/helm/$overlay.yaml" >/dev/null ||
        fail "overlays/$overlay renders an object with no schema to check ($out/helm/$overlay.yaml)"
    kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$out/helm/$overlay.core.yaml" ||
        fail "kubernetes-validate --strict on overlays/$overlay's rendered chart"
    echo "overlays/$overlay: release $namespace/$release, $(grep -c '^kind:' "$out/helm/$overlay.yaml") objects rendered and valid"
done <"$out/values/releases.txt"

step "7. negative cases"
"$py" "$here/flux_schemas.py" selftest "$out/kustomize/base.yaml" --chart "$chart" ||
    fail "a negative case was accepted (above)"

echo
echo "check-flux.sh: OK"
