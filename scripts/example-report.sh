#!/usr/bin/env bash
# Regenerates the README's examples from the lab: runs `geolat lab` into a
# temporary store, writes the report of its windows into
# docs/example-report/ (replaced whole), and captures the dashboard over
# the same store in a 120x36 terminal (tmux) into docs/dash-capture.txt:
# the matrix, then the selected geo's detail.
#
#   scripts/example-report.sh
#   env: GEOLAT (default: cargo build --release, target/release/geolat)
#
# Needs tmux (Debian package; installed when missing, as root). Lab traffic
# stays on loopback. The lab's figures depend on the machine (a busy one
# measures wide intervals, taken with --accept-wide and named thin).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ -z ${GEOLAT:-} ]]; then
  cargo build --release --locked --bin geolat >&2
  GEOLAT="$ROOT/target/release/geolat"
fi
command -v tmux >/dev/null || { apt-get update -qq && apt-get install -y -qq tmux >/dev/null; }
TMP="$(mktemp -d /tmp/geolat-example.XXXXXX)"
SOCK="geolat-example-$$"
trap 'tmux -L "$SOCK" kill-server 2>/dev/null || true; rm -rf "$TMP"' EXIT

STORE="file://$TMP/store"
TOPOLOGY=src/world/aws-edges.topology.json
echo "example: the lab's closed loop into $STORE" >&2
"$GEOLAT" lab --store "$STORE" >&2

echo "example: the report into docs/example-report/" >&2
"$GEOLAT" report --store "$STORE" --topology "$TOPOLOGY" --since 1h --accept-wide \
  --out docs/example-report >&2

echo "example: the dashboard into docs/dash-capture.txt" >&2
tmux -L "$SOCK" new-session -d -s dash -x 120 -y 36 \
  "exec $GEOLAT dash --store $STORE --topology $TOPOLOGY --since 1h --accept-wide --refresh 1h"
capture() {
  local start=$SECONDS
  until tmux -L "$SOCK" capture-pane -p -t dash | grep -q -- "$1"; do
    ((SECONDS - start < 60)) || { echo "example: no '$1' on the dashboard" >&2; exit 1; }
    sleep 0.2
  done
  # Trailing blanks trimmed: the capture reads as text in the README.
  tmux -L "$SOCK" capture-pane -p -t dash | sed -e 's/[[:space:]]*$//'
}
{
  capture "windows"
  echo
  tmux -L "$SOCK" send-keys -t dash Enter
  capture "samples"
} >docs/dash-capture.txt
tmux -L "$SOCK" send-keys -t dash q
ls -la docs/example-report docs/dash-capture.txt >&2
