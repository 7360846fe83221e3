#!/usr/bin/env bash
# CPU cost of fresh-connection HTTPS probes: geolat vs curl vs Prometheus
# blackbox_exporter, side by side against the same local lab endpoint.
#
#   benches/probe_cost.sh [N]        (N probes per tool, default 1000)
#   ACC_N=M benches/probe_cost.sh    (M accuracy samples per endpoint, default 200)
#
# Every probe is a new TCP connection + TLS handshake + one GET, run one after
# another (no concurrency), to https://127.0.1.1:PORT/ of `geolat lab serve`
# (region us-east-1, no injected delay). All traffic stays on 127.0.0.0/8.
#
# Then an accuracy pass against ground truth, in the same lab: region
# us-west-2 (127.0.1.2) is started with an injected delay of 20 ms, which the
# lab adds both to its TLS server flight and to every HTTP response (TCP
# connect is not delayed). Each tool takes M samples of 127.0.1.1 and M of
# 127.0.1.2; the difference of the medians is the delay the tool saw in its
# `tls` and `ttfb` phases, and its error is that minus the injected 20000 us.
# geolat and blackbox_exporter are measured both back to back (every sample
# of one endpoint, then the other) and interleaved (alternating endpoints),
# since on a virtual machine the two orders load the CPU differently.
# Prints two tables on stdout; writes only to a temp dir it removes on exit.
set -euo pipefail

N="${1:-1000}"
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [N>=1]" >&2; exit 2; }
ACC_N="${ACC_N:-200}"
[[ "$ACC_N" =~ ^[1-9][0-9]*$ ]] || { echo "usage: ACC_N=M $0 [N] (M>=1)" >&2; exit 2; }
# Ground truth for the accuracy pass: the lab delays this region by this much.
DELAY_REGION=us-west-2
DELAY_US=20000
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# GEOLAT=/path/to/geolat skips the build and benchmarks that binary.
GEOLAT_GIVEN="${GEOLAT:-}"
GEOLAT="${GEOLAT:-$ROOT/target/release/geolat}"
STEP_TIMEOUT=600 # seconds; bounds every measured step so the bench cannot hang
CLK_TCK="$(getconf CLK_TCK)"

log() { echo "probe_cost: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# --- cleanup: set up before anything is started -----------------------------
TMP="$(mktemp -d /tmp/geolat-probe-cost.XXXXXX)"
LAB_PID="" BB_PID="" STEP_PID=""
cleanup() {
  local pid
  # A step is `/usr/bin/time timeout CMD`, `timeout CMD` or cargo: TERM its
  # children (`timeout` forwards the signal to CMD), then wait for the whole
  # step (geolat saves what it measured first) before removing its files.
  if [[ -n $STEP_PID ]]; then
    pkill -TERM -P "$STEP_PID" 2>/dev/null || kill -TERM "$STEP_PID" 2>/dev/null || true
    wait "$STEP_PID" 2>/dev/null || true
  fi
  for pid in $BB_PID $LAB_PID; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Runs a measured step in the background and waits for it: bash defers traps
# while a foreground child runs, but `wait` returns at once on INT/TERM, so
# cleanup can stop the step.
step() {
  "$@" &
  STEP_PID=$!
  local rc=0
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  return "$rc"
}

# --- tools ------------------------------------------------------------------
need_pkgs=()
command -v curl >/dev/null || need_pkgs+=(curl)
command -v jq >/dev/null || need_pkgs+=(jq)
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
command -v prometheus-blackbox-exporter >/dev/null || need_pkgs+=(prometheus-blackbox-exporter)
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]} with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi
# The Debian package may start its own daemon on install (init script). It
# would sit idle on :9115 and not disturb us, but stop it so the machine is
# left as the bench found it apart from the package.
pidfile=/run/prometheus/prometheus-blackbox-exporter.pid
if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  log "stopping the packaged blackbox daemon (pid $(cat "$pidfile"))"
  invoke-rc.d prometheus-blackbox-exporter stop >&2 || kill "$(cat "$pidfile")"
fi

# cargo is a no-op when the binary is up to date (but waits for the shared
# target dir's lock if someone else is building).
if [[ -z $GEOLAT_GIVEN ]]; then
  log "cargo build --release"
  step bash -c 'cd "$1" && exec cargo build --release --quiet' _ "$ROOT" >&2 || die "cargo build failed"
fi
[[ -x $GEOLAT ]] || die "no geolat binary at $GEOLAT"

# --- lab --------------------------------------------------------------------
"$GEOLAT" lab serve --busy-wait --ca-out "$TMP/ca.pem" --for 30m --delay "$DELAY_REGION=${DELAY_US}us" \
  >"$TMP/ready.json" 2>"$TMP/lab.log" &
LAB_PID=$!
for _ in $(seq 100); do [[ -s $TMP/ready.json ]] && break; sleep 0.1; done
[[ -s $TMP/ready.json ]] || { cat "$TMP/lab.log" >&2; die "lab did not start"; }
PORT="$(jq -r .port "$TMP/ready.json")"
IP="$(jq -r '.regions["us-east-1"]' "$TMP/ready.json")"
CA="$TMP/ca.pem"
# The lab listens on 127.0.1.x only (127.0.0.1:PORT is refused); its cert has
# IP SANs for those addresses, so no DNS is involved for any tool.
URL="https://$IP:$PORT/"
# Only the accuracy pass probes the delayed region.
IP_D="$(jq -r --arg r "$DELAY_REGION" '.regions[$r] // empty' "$TMP/ready.json")"
[[ -n $IP_D ]] || die "lab has no region $DELAY_REGION: $(cat "$TMP/ready.json")"
URL_D="https://$IP_D:$PORT/"
log "lab pid $LAB_PID, target $URL (accuracy: also $URL_D, $DELAY_REGION +${DELAY_US}us)"

# utime+stime of a live process, in clock ticks.
proc_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
ticks_ms() { echo $(( $1 * 1000 / CLK_TCK )); }
# Median of numbers on stdin (one per line), scaled by $1 (e.g. 1e6 for s->us).
median() {
  sort -g | awk -v k="${1:-1}" '{a[NR]=$1} END {
    if (NR == 0) { print "-"; exit }
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
    printf "%d\n", m * k + 0.5 }'
}
# /usr/bin/time -f '%e %U %S' output -> "wall_s cpu_ms"
time_cpu() { tail -n1 "$1" | awk '{printf "%s %d\n", $1, ($2 + $3) * 1000 + 0.5}'; }

# Results, one row per tool: name ok wall cpu_ms lab_ms tcp tls ttfb proto
declare -A ROW

# Other work on this small host skews every figure: record the load average.
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- a) geolat ----------------------------------------------------------------
# Warm the page cache and the lab once; not measured.
"$GEOLAT" probe "$URL" -n 3 --warm 0 --ca "$CA" --json >/dev/null

# Fixed cost of one geolat process (startup, CA load, runtime): -n 1.
/usr/bin/time -f '%e %U %S' -o "$TMP/g1.time" \
  "$GEOLAT" probe "$URL" -n 1 --warm 0 --ca "$CA" --json >/dev/null
read -r _ g1_cpu < <(time_cpu "$TMP/g1.time")

log "geolat: $N probes"
lab0=$(proc_ticks "$LAB_PID")
step /usr/bin/time -f '%e %U %S' -o "$TMP/geolat.time" timeout "$STEP_TIMEOUT" \
  "$GEOLAT" probe "$URL" -n "$N" --warm 0 --ca "$CA" --json >"$TMP/geolat.json" || die "geolat run failed (124: timed out)"
lab1=$(proc_ticks "$LAB_PID")
read -r g_wall g_cpu < <(time_cpu "$TMP/geolat.time")
# geolat exits 0 even when every sample failed: success = samples with a
# ttfb and no error classes at all.
g_ok=$(jq '.phases.ttfb.count // 0' "$TMP/geolat.json")
g_err=$(jq -c '.errors' "$TMP/geolat.json")
[[ $g_ok -eq $N && $g_err == "{}" ]] || die "geolat: $g_ok/$N ok, errors $g_err"
ROW[geolat]="$g_ok $g_wall $g_cpu $(ticks_ms $((lab1 - lab0))) \
$(jq -r '[.phases.tcp.p50_us, .phases.tls.p50_us, .phases.ttfb.p50_us, .tls.alpn] | @tsv' "$TMP/geolat.json")"

# --- b) curl, one process per probe -------------------------------------------
# The loop runs in one bash under /usr/bin/time: its user+sys includes every
# curl child (and the loop's own forks, a few ms per 1000).
CURL_FMT='%{http_code} %{time_connect} %{time_appconnect} %{time_starttransfer} %{http_version}\n'
curl -s -o /dev/null --cacert "$CA" "$URL" # warm-up, not measured
log "curl: $N probes"
export CA URL CURL_FMT N
lab0=$(proc_ticks "$LAB_PID")
step /usr/bin/time -f '%e %U %S' -o "$TMP/curl.time" timeout "$STEP_TIMEOUT" bash -c '
  for ((i = 0; i < N; i++)); do
    curl -s -o /dev/null --cacert "$CA" -w "$CURL_FMT" "$URL" || echo "ERR $?"
  done' >"$TMP/curl.out" || die "curl loop failed (124: timed out)"
lab1=$(proc_ticks "$LAB_PID")
read -r c_wall c_cpu < <(time_cpu "$TMP/curl.time")
c_ok=$(awk '$1 == 200' "$TMP/curl.out" | wc -l)
[[ $c_ok -eq $N ]] || die "curl: $c_ok/$N got 200; first failures: $(grep -v '^200 ' "$TMP/curl.out" | head -3 | tr '\n' ';')"
# curl's timers are cumulative from the start: connect = TCP (no DNS for an
# IP), tls = appconnect - connect, ttfb = starttransfer - appconnect.
ROW[curl]="$c_ok $c_wall $c_cpu $(ticks_ms $((lab1 - lab0))) \
$(awk '{print $2}' "$TMP/curl.out" | median 1e6) \
$(awk '{print $3 - $2}' "$TMP/curl.out" | median 1e6) \
$(awk '{print $4 - $3}' "$TMP/curl.out" | median 1e6) \
h$(awk '{print $5}' "$TMP/curl.out" | sort | uniq -c | sort -rn | awk 'NR==1{print $2}')"

# --- c) Prometheus blackbox_exporter ------------------------------------------
# ip4 explicitly: the default preference is ip6 (moot for an IP literal, but
# keeps the resolve step trivial); no fallback, same timeout as geolat's.
cat >"$TMP/blackbox.yml" <<EOF
modules:
  lab_https:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      valid_status_codes: [200]
      tls_config:
        ca_file: $CA
EOF
# Listen on a random 127.0.0.1 port below the ephemeral range (the probes
# above leave thousands of client ports there); retry if the bind fails.
eph_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
BB=""
for _ in 1 2 3 4 5; do
  port=$((10000 + RANDOM % (eph_low - 10000)))
  prometheus-blackbox-exporter --config.file="$TMP/blackbox.yml" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn 2>"$TMP/blackbox.log" &
  BB_PID=$!
  for _ in $(seq 100); do
    kill -0 "$BB_PID" 2>/dev/null || break # exited: port taken, try another
    if curl -sf -o /dev/null "http://127.0.0.1:$port/-/healthy"; then BB="http://127.0.0.1:$port"; break; fi
    sleep 0.1
  done
  [[ -z $BB ]] || break
  kill "$BB_PID" 2>/dev/null || true
  wait "$BB_PID" 2>/dev/null || true
  BB_PID=""
done
[[ -n $BB ]] || { cat "$TMP/blackbox.log" >&2; die "blackbox_exporter did not start"; }
bb_probe() { curl -sS -G "$BB/probe" --data-urlencode module=lab_https --data-urlencode "target=$URL"; }
bb_probe | grep -q '^probe_success 1' || { bb_probe >&2; die "blackbox: first probe failed"; }
for _ in 1 2; do bb_probe >/dev/null; done # warm-up, not measured

log "blackbox_exporter: $N probes (pid $BB_PID)"
lab0=$(proc_ticks "$LAB_PID")
b0=$(proc_ticks "$BB_PID")
start_ns=$(date +%s%N)
# curl here only asks for the probe; its CPU is not counted.
step timeout "$STEP_TIMEOUT" bash -c "
  for ((i = 0; i < $N; i++)); do
    curl -sS -G '$BB/probe' --data-urlencode module=lab_https --data-urlencode 'target=$URL'
  done" >"$TMP/blackbox.out" || die "blackbox loop failed (124: timed out)"
end_ns=$(date +%s%N)
b1=$(proc_ticks "$BB_PID")
lab1=$(proc_ticks "$LAB_PID")
b_wall=$(awk -v d=$((end_ns - start_ns)) 'BEGIN{printf "%.2f", d / 1e9}')
b_ok=$(grep -c '^probe_success 1' "$TMP/blackbox.out" || true)
[[ $b_ok -eq $N ]] || die "blackbox: $b_ok/$N probe_success 1"
bb_phase() { awk -F' ' -v p="phase=\"$1\"" 'index($0, "probe_http_duration_seconds{") == 1 && index($0, p) {print $2}' "$TMP/blackbox.out" | median 1e6; }
bb_ver=$(awk '$1 == "probe_http_version" {print $2}' "$TMP/blackbox.out" | sort | uniq -c | sort -rn | awk 'NR==1{print $2}')
ROW[blackbox_exporter]="$b_ok $b_wall $(ticks_ms $((b1 - b0))) $(ticks_ms $((lab1 - lab0))) \
$(bb_phase connect) $(bb_phase tls) $(bb_phase processing) h$bb_ver"

# Load average at the end of the CPU pass (the accuracy pass comes after).
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- accuracy pass: undelayed 127.0.1.1 vs delayed 127.0.1.2 ---------------------
# Runs after every CPU figure above is taken, so neither the extra probes nor
# the lab's delay handling touch them. Per tool: M samples of each endpoint,
# median per endpoint and phase, extra = median(delayed) - median(undelayed),
# error = extra - injected delay. All figures in us.
declare -A ACC
acc_row() { # tool tls_base tls_delayed ttfb_base ttfb_delayed
  local t=$(($3 - $2)) f=$(($5 - $4))
  ACC[$1]="$t $((t - DELAY_US)) $f $((f - DELAY_US)) $2 $3 $4 $5"
}

# geolat: one process per endpoint, back to back (p50 of M fresh connections).
log "accuracy: geolat, $ACC_N samples per endpoint"
for which in base delayed; do
  if [[ $which == base ]]; then u=$URL region=us-east-1; else u=$URL_D region=$DELAY_REGION; fi
  step timeout "$STEP_TIMEOUT" "$GEOLAT" probe "$u" -n "$ACC_N" --warm 0 --ca "$CA" --json \
    >"$TMP/acc_geolat_$which.json" || die "geolat accuracy run on $u failed (124: timed out)"
  # Every sample answered, by the region that endpoint stands for.
  jq -e --argjson n "$ACC_N" --arg r "$region" \
    '.phases.tls.count == $n and .phases.ttfb.count == $n and .errors == {} and .served_by == {($r): $n}' \
    "$TMP/acc_geolat_$which.json" >/dev/null ||
    die "geolat accuracy on $u: $(jq -c '{samples, tls: .phases.tls.count, ttfb: .phases.ttfb.count, errors, served_by}' "$TMP/acc_geolat_$which.json")"
done
acc_row "geolat b2b" $(jq -r '[.phases.tls.p50_us, .phases.ttfb.p50_us] | @tsv' "$TMP/acc_geolat_base.json" "$TMP/acc_geolat_delayed.json" |
  awk '{a[NR] = $1; b[NR] = $2} END {print a[1], a[2], b[1], b[2]}')

# geolat as it runs in production: one process taking a window of both
# targets, one attempt at a time, alternating between them as blackbox_exporter
# is driven below. Medians come from `geolat analyze` over that window.
log "accuracy: geolat window, $ACC_N samples per endpoint (one process, interleaved)"
cat >"$TMP/pair.yaml" <<EOF
probe:
  id: probe-cost
  location: edge
  geo: {country: US, continent: NA}
  coordinates: {lat: 0, lon: 0}
window: {samples: $ACC_N, concurrency: 1, warm_requests: 0}
tls: {ca_file: $CA}
served_by: {header: x-region}
targets:
  - {id: base, path: direct, region: us-east-1, url: "$URL"}
  - {id: delayed, path: direct, region: $DELAY_REGION, url: "$URL_D"}
EOF
step timeout "$STEP_TIMEOUT" "$GEOLAT" probe --config "$TMP/pair.yaml" --store "file://$TMP/store" 2>"$TMP/window.log" ||
  { cat "$TMP/window.log" >&2; die "geolat window run failed (124: timed out)"; }
"$GEOLAT" analyze --store "file://$TMP/store" --since 1h --json >"$TMP/analysis.json" 2>>"$TMP/window.log" ||
  { cat "$TMP/window.log" >&2; die "geolat analyze failed"; }
# p50 of one region and phase; fails unless every sample was measured there.
window_p50() {
  jq -e -r --arg r "$1" --arg p "$2" --argjson n "$ACC_N" \
    '[.matrix.cells[] | select(.region == $r and .phase == $p and .samples == $n)] | if length == 1 then .[0].percentiles.p50.value_us else error("no cell with every sample") end' \
    "$TMP/analysis.json" || die "geolat window: $1 $2 does not hold $ACC_N samples"
}
# (Assignments, so a failed lookup stops the bench under set -e.)
w_tls_b=$(window_p50 us-east-1 tls)
w_tls_d=$(window_p50 "$DELAY_REGION" tls)
w_ttfb_b=$(window_p50 us-east-1 ttfb)
w_ttfb_d=$(window_p50 "$DELAY_REGION" ttfb)
acc_row "geolat window" "$w_tls_b" "$w_tls_d" "$w_ttfb_b" "$w_ttfb_d"

# geolat as curl is measured: one process per sample, alternating endpoints.
# Back to back (above), every undelayed sample follows another with the CPU
# and caches hot, while every delayed one resumes after 20 ms idle; here
# both follow a process start, as curl's do.
log "accuracy: geolat, $ACC_N samples per endpoint (one process per sample, interleaved)"
export GEOLAT URL_D ACC_N
step timeout "$STEP_TIMEOUT" bash -c '
  for ((i = 0; i < ACC_N; i++)); do
    for which in base delayed; do
      if [[ $which == base ]]; then u=$URL; else u=$URL_D; fi
      "$GEOLAT" probe "$u" -n 1 --warm 0 --ca "$CA" --json |
        jq -r "[.phases.tls.p50_us // \"ERR\", .phases.ttfb.p50_us // \"ERR\", (.served_by | keys | join(\",\"))] | @tsv" \
        >>"$0/acc_geolat1_$which.out"
    done
  done' "$TMP" || die "geolat per-process accuracy loop failed (124: timed out)"
for which in base delayed; do
  if [[ $which == base ]]; then region=us-east-1; else region=$DELAY_REGION; fi
  f="$TMP/acc_geolat1_$which.out"
  ok=$(awk -v r="$region" '$1 != "ERR" && $2 != "ERR" && $3 == r' "$f" | wc -l)
  [[ $ok -eq $ACC_N && $(wc -l <"$f") -eq $ACC_N ]] ||
    die "geolat per-process accuracy ($which): $ok/$ACC_N answered by $region; first others: $(awk -v r="$region" '$3 != r' "$f" | head -3 | tr '\n' ';')"
done
acc_row "geolat per process" \
  "$(awk '{print $1}' "$TMP/acc_geolat1_base.out" | median 1)" \
  "$(awk '{print $1}' "$TMP/acc_geolat1_delayed.out" | median 1)" \
  "$(awk '{print $2}' "$TMP/acc_geolat1_base.out" | median 1)" \
  "$(awk '{print $2}' "$TMP/acc_geolat1_delayed.out" | median 1)"

# curl: one process per sample, alternating undelayed / delayed endpoint.
# tls = appconnect - connect, ttfb = starttransfer - appconnect; the region
# header confirms which endpoint answered.
ACC_FMT='%{http_code} %{time_connect} %{time_appconnect} %{time_starttransfer} %header{x-region}\n'
log "accuracy: curl, $ACC_N samples per endpoint (interleaved)"
export ACC_FMT
step timeout "$STEP_TIMEOUT" bash -c '
  for ((i = 0; i < ACC_N; i++)); do
    curl -s -o /dev/null --cacert "$CA" -w "$ACC_FMT" "$URL" >>"$0/acc_curl_base.out" || echo "ERR $?" >>"$0/acc_curl_base.out"
    curl -s -o /dev/null --cacert "$CA" -w "$ACC_FMT" "$URL_D" >>"$0/acc_curl_delayed.out" || echo "ERR $?" >>"$0/acc_curl_delayed.out"
  done' "$TMP" || die "curl accuracy loop failed (124: timed out)"
for which in base delayed; do
  if [[ $which == base ]]; then region=us-east-1; else region=$DELAY_REGION; fi
  f="$TMP/acc_curl_$which.out"
  ok=$(awk -v r="$region" '$1 == 200 && $5 == r' "$f" | wc -l)
  [[ $ok -eq $ACC_N && $(wc -l <"$f") -eq $ACC_N ]] ||
    die "curl accuracy ($which): $ok/$ACC_N got 200 from $region; first others: $(awk -v r="$region" '!($1 == 200 && $5 == r)' "$f" | head -3 | tr '\n' ';')"
done
acc_row curl \
  "$(awk '{print $3 - $2}' "$TMP/acc_curl_base.out" | median 1e6)" \
  "$(awk '{print $3 - $2}' "$TMP/acc_curl_delayed.out" | median 1e6)" \
  "$(awk '{print $4 - $3}' "$TMP/acc_curl_base.out" | median 1e6)" \
  "$(awk '{print $4 - $3}' "$TMP/acc_curl_delayed.out" | median 1e6)"

# blackbox_exporter: one /probe per sample; phases "tls" and "processing"
# (TLS done -> first response byte). Both ways geolat is run: alternating
# endpoints sample by sample, and all of one endpoint's samples back to back.
bb_accuracy() { # mode (interleaved | b2b)
  log "accuracy: blackbox_exporter, $ACC_N samples per endpoint ($1)"
  step timeout "$STEP_TIMEOUT" bash -c '
    probe() { curl -sS -G "$2/probe" --data-urlencode module=lab_https --data-urlencode "target=$3" >>"$0/acc_bb_$1_$4.out"; }
    if [[ $1 == b2b ]]; then
      for ((i = 0; i < ACC_N; i++)); do probe "$1" "$2" "$URL" base; done
      for ((i = 0; i < ACC_N; i++)); do probe "$1" "$2" "$URL_D" delayed; done
    else
      for ((i = 0; i < ACC_N; i++)); do probe "$1" "$2" "$URL" base; probe "$1" "$2" "$URL_D" delayed; done
    fi' "$TMP" "$1" "$BB" || die "blackbox accuracy loop ($1) failed (124: timed out)"
  local which p b_ok c
  for which in base delayed; do
    b_ok=$(grep -c '^probe_success 1' "$TMP/acc_bb_$1_$which.out" || true)
    [[ $b_ok -eq $ACC_N ]] || die "blackbox accuracy ($1, $which): $b_ok/$ACC_N probe_success 1"
    for p in tls processing; do
      c=$(grep -c "^probe_http_duration_seconds{phase=\"$p\"}" "$TMP/acc_bb_$1_$which.out" || true)
      [[ $c -eq $ACC_N ]] || die "blackbox accuracy ($1, $which): $c/$ACC_N samples with phase $p"
    done
  done
}
bb_acc() { awk -v p="phase=\"$2\"" 'index($0, "probe_http_duration_seconds{") == 1 && index($0, p) {print $2}' "$TMP/acc_bb_$1.out" | median 1e6; }
bb_accuracy interleaved
acc_row "blackbox interleaved" "$(bb_acc interleaved_base tls)" "$(bb_acc interleaved_delayed tls)" \
  "$(bb_acc interleaved_base processing)" "$(bb_acc interleaved_delayed processing)"
bb_accuracy b2b
acc_row "blackbox b2b" "$(bb_acc b2b_base tls)" "$(bb_acc b2b_delayed tls)" \
  "$(bb_acc b2b_base processing)" "$(bb_acc b2b_delayed processing)"

# --- table ----------------------------------------------------------------------
echo "probe_cost: $N sequential fresh-connection HTTPS GETs per tool to $URL"
echo "            $(nproc) cores shared with the lab; load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
printf '%-18s %9s %7s %9s %11s %9s %9s | %8s %8s %9s %6s\n' \
  tool ok wall_s cpu_ms cpu_us/probe x_geolat lab_cpu_ms tcp_p50 tls_p50 ttfb_p50 proto
for tool in geolat curl blackbox_exporter; do
  read -r ok wall cpu lab tcp tls ttfb proto <<<"${ROW[$tool]}"
  printf '%-18s %9s %7s %9d %11d %9.2f %9d | %6sus %6sus %7sus %6s\n' \
    "$tool" "$ok/$N" "$wall" "$cpu" $((cpu * 1000 / N)) \
    "$(awk -v a="$cpu" -v b="$g_cpu" 'BEGIN{print (b > 0) ? a / b : 0}')" "$lab" "$tcp" "$tls" "$ttfb" "$proto"
done
echo "notes: cpu = user+sys of the prober only (geolat: the process; curl: all $N curl processes + loop;"
echo "       blackbox: exporter process delta incl. serving /probe). geolat -n 1 costs ${g1_cpu} ms (startup fixed cost)."
echo "       ttfb = request written -> first response byte (blackbox: phase \"processing\"). lab_cpu_ms = server side."

echo
echo "accuracy: $ACC_N fresh-connection samples per endpoint and tool, $URL (no delay) vs $URL_D ($DELAY_REGION, +${DELAY_US}us injected)"
printf '%-21s | %14s %14s | %15s %15s\n' tool "tls extra (us)" "tls error (us)" "ttfb extra (us)" "ttfb error (us)"
ACC_ROWS=("geolat b2b" "blackbox b2b" "geolat window" "blackbox interleaved" "geolat per process" curl)
for tool in "${ACC_ROWS[@]}"; do
  read -r tx te fx fe _ <<<"${ACC[$tool]}"
  printf '%-21s | %14d %14s | %15d %15s\n' "$tool" "$tx" "$(printf '%+d' "$te")" "$fx" "$(printf '%+d' "$fe")"
done
echo "notes: extra = median(delayed) - median(undelayed); error = extra - ${DELAY_US}. Medians (tls, ttfb) in us:"
for tool in "${ACC_ROWS[@]}"; do
  read -r _ _ _ _ tb td fb fd <<<"${ACC[$tool]}"
  printf '       %-21s tls %6d -> %6d, ttfb %6d -> %6d\n' "$tool" "$tb" "$td" "$fb" "$fd"
done
echo "       b2b: all $ACC_N samples of one endpoint, then all of the other (geolat: one \`probe -n\` per endpoint)."
echo "       window / interleaved: alternating endpoints sample by sample in one process (geolat: one configured"
echo "       window of both targets, concurrency 1, medians by \`geolat analyze\`). per process / curl: one process"
echo "       per sample, alternating. geolat: p50 of its HDR histogram (16 us buckets near 20 ms, reported as the"
echo "       bucket's top); curl: tls = appconnect - connect, ttfb = starttransfer - appconnect; blackbox: phases"
echo "       \"tls\" and \"processing\"."
