#!/bin/sh
# Make the Python venv the integration tests use (tests/requirements.txt:
# the hdrh cross-check and the AWS emulator gateway).
#
#   tests/setup-python.sh [VENV [REQUIREMENTS]]
#
# VENV defaults to .venv at the repo root, REQUIREMENTS to
# tests/requirements.txt (deploy/test/tools.sh makes .venv-deploy from
# deploy/test/requirements.txt the same way).
#
# Idempotent and cheap when nothing changed: pip runs only when the venv is
# new or requirements.txt differs from the hash stamped inside the venv.
# Test binaries run in parallel may call this at once, so the whole check and
# install happen under flock on VENV.lock.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
venv=${1:-$root/.venv}
req=${2:-$here/requirements.txt}
stamp=$venv/.requirements.sha256

fail() {
    echo "tests/setup-python.sh: $*" >&2
    exit 1
}

command -v python3 >/dev/null 2>&1 ||
    fail "python3 not found (Debian: apt-get install python3 python3-venv)"
command -v flock >/dev/null 2>&1 ||
    fail "flock not found (Debian: apt-get install util-linux)"

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9

want=$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$req")

# A venv whose python no longer runs (python3 upgraded, half-made venv) is
# rebuilt rather than trusted.
if "$venv/bin/python" -c '' >/dev/null 2>&1; then
    [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ] && exit 0
else
    python3 -m venv --clear "$venv" >/dev/null 2>&1 ||
        fail "python3 -m venv $venv failed (Debian: apt-get install python3-venv)"
fi

log=$venv/pip.log
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >"$log" 2>&1 ||
    fail "pip install -r $req failed; see $log"

# Stamp last, atomically, so an interrupted install is retried next time.
echo "$want" >"$stamp.tmp" && mv "$stamp.tmp" "$stamp"
