#!/usr/bin/env bash
# probe --serve over a long run against the lab, with the shipped probe
# configuration (probes/lab-london.yaml): CPU, peak RSS and the number of
# series exposed, at the default --every 60s and at --every 5s.
#
#   cargo build --release --locked --bin geolat && benches/serve.sh [SECONDS]
#
# SECONDS defaults to 600. Loopback only: the lab's regions and DNS.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
bin=target/release/geolat
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" lab serve --port 0 --dns-port 0 --ca-out "$work/ca.pem" --for "$((secs + 60))s" >"$work/lab.json" 2>/dev/null &
until [ -s "$work/lab.json" ]; do sleep 0.2; done
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/lab.json")
dns=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dns"])' "$work/lab.json")
sed -e "s/:8443\//:$port\//" -e "s/127.0.0.1:5353/$dns/" -e "s#ca_file: lab-ca.pem#ca_file: $work/ca.pem#" \
    probes/lab-london.yaml >"$work/probe.yaml"
"$bin" probe --config "$work/probe.yaml" --serve 127.0.0.1:29464 --store "file://$work/s60" 2>/dev/null &
p60=$!
"$bin" probe --config "$work/probe.yaml" --serve 127.0.0.1:29465 --every 5s --store "file://$work/s5" 2>/dev/null &
p5=$!
sleep "$secs"
hz=$(getconf CLK_TCK)
printf '%-8s %8s %10s %14s %8s %8s\n' every cpu_s cpu_%core peak_rss_MiB series windows
for run in "60s $p60 29464" "5s $p5 29465"; do
    read -r every pid mport <<<"$run"
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    metrics=$(curl -s "127.0.0.1:$mport/metrics")
    series=$(grep -vc '^#' <<<"$metrics")
    windows=$(awk '/windows_total.*result="stored"/ {print $2}' <<<"$metrics")
    awk -v e="$every" -v t="$ticks" -v hz="$hz" -v s="$secs" -v h="$hwm" -v n="$series" -v w="$windows" \
        'BEGIN {printf "%-8s %8.1f %10.2f %14.1f %8d %8d\n", e, t/hz, t/hz/s*100, h/1024, n, w}'
    kill -TERM "$pid"
done
