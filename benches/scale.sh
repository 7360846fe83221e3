#!/usr/bin/env bash
# Scale of one configured probe window: TARGETS targets (default 10,000) in a
# single `geolat probe --config` process, run twice on the same targets with
# window.samples 1 and 4, to show throughput and that peak memory follows the
# number of series (targets), not the number of samples.
#
#   benches/scale.sh [TARGETS]
#   env: CONCURRENCY (default 64), WARM (warm_requests, default 1),
#        SAMPLES_LIST (default "1 4"), RUN_TIMEOUT (seconds per run, default 600)
#
# Targets are direct paths https://<region>.lab.geolat.test:PORT/t/<i> spread
# over the six regions of `geolat lab serve`, resolved by the lab's DNS (one
# query per sample) and verified against the lab CA. All traffic is on
# 127.0.0.0/8. Prints a table on stdout; writes only to a temp dir it removes.
set -euo pipefail

TARGETS="${1:-10000}"
[[ "$TARGETS" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [TARGETS>=1]" >&2; exit 2; }
CONCURRENCY="${CONCURRENCY:-64}"
WARM="${WARM:-1}"
SAMPLES_LIST="${SAMPLES_LIST:-1 4}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# GEOLAT=/path/to/geolat skips the build and benchmarks that binary.
GEOLAT_GIVEN="${GEOLAT:-}"
GEOLAT="${GEOLAT:-$ROOT/target/release/geolat}"
CLK_TCK="$(getconf CLK_TCK)"

log() { echo "scale: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# --- cleanup: set up before anything is started -----------------------------
TMP="$(mktemp -d /tmp/geolat-scale.XXXXXX)"
LAB_PID="" STEP_PID=""
cleanup() {
  local pid
  # A step is `/usr/bin/time timeout CMD`, `timeout CMD` or cargo: TERM its
  # children (`timeout` forwards the signal to CMD), then wait for the whole
  # step (geolat saves what it measured first) before removing its files.
  if [[ -n $STEP_PID ]]; then
    pkill -TERM -P "$STEP_PID" 2>/dev/null || kill -TERM "$STEP_PID" 2>/dev/null || true
    wait "$STEP_PID" 2>/dev/null || true
  fi
  for pid in $LAB_PID; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Runs a step in the background and waits for it: bash defers traps while a
# foreground child runs, but `wait` returns at once on INT/TERM, so cleanup
# can stop the step.
step() {
  "$@" &
  STEP_PID=$!
  local rc=0
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  return "$rc"
}

need_pkgs=()
command -v jq >/dev/null || need_pkgs+=(jq)
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]} with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

# cargo is a no-op when the binary is up to date (but waits for the shared
# target dir's lock if someone else is building).
if [[ -z $GEOLAT_GIVEN ]]; then
  log "cargo build --release"
  step bash -c 'cd "$1" && exec cargo build --release --quiet' _ "$ROOT" >&2 || die "cargo build failed"
fi
[[ -x $GEOLAT ]] || die "no geolat binary at $GEOLAT"

# --- lab --------------------------------------------------------------------
"$GEOLAT" lab serve --ca-out "$TMP/ca.pem" --for 60m >"$TMP/ready.json" 2>"$TMP/lab.log" &
LAB_PID=$!
for _ in $(seq 100); do [[ -s $TMP/ready.json ]] && break; sleep 0.1; done
[[ -s $TMP/ready.json ]] || { cat "$TMP/lab.log" >&2; die "lab did not start"; }
PORT="$(jq -r .port "$TMP/ready.json")"
DNS="$(jq -r .dns "$TMP/ready.json")"
mapfile -t REGIONS < <(jq -r '.regions | keys[]' "$TMP/ready.json")
log "lab pid $LAB_PID, port $PORT, dns $DNS, ${#REGIONS[@]} regions"

proc_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# One config per samples value; only window.samples differs (the config
# digest differs too, which is fine: each run is its own window).
write_config() { # samples file
  {
    cat <<EOF
probe:
  id: bench-scale
  location: edge
  geo: {country: GB, continent: EU, city: London}
window:
  samples: $1
  concurrency: $CONCURRENCY
  warm_requests: $WARM
dns:
  nameservers: ["$DNS"]
tls:
  ca_file: $TMP/ca.pem
served_by:
  header: x-region
targets:
EOF
    awk -v n="$TARGETS" -v port="$PORT" -v regions="${REGIONS[*]}" 'BEGIN {
      k = split(regions, r, " ")
      for (i = 0; i < n; i++) {
        reg = r[i % k + 1]
        printf "  - {id: t%05d, path: direct, region: %s, url: \"https://%s.lab.geolat.test:%d/t/%d\"}\n", i, reg, reg, port, i
      }
    }'
  } >"$2"
}

# Other work on this small host skews every figure: record the load average.
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
STORE="file://$TMP/store"
mkdir -p "$TMP/store"
declare -a ROWS=()
FAILED=0
for S in $SAMPLES_LIST; do
  cfg="$TMP/scale-s$S.yaml"
  write_config "$S" "$cfg"
  log "run: $TARGETS targets x $S samples (concurrency $CONCURRENCY, warm $WARM), timeout ${RUN_TIMEOUT}s"
  before=$("$GEOLAT" store list --store "$STORE" --since 1h --json | wc -l)
  lab0=$(proc_ticks "$LAB_PID")
  # On timeout geolat gets SIGTERM, stores what it measured (marked
  # interrupted) and the row says so: a slow run is reported, not shrunk.
  rc=0
  # timeout inside time: time must outlive geolat to report it (its peak RSS
  # is that of the largest descendant, geolat; timeout's CPU is negligible).
  step /usr/bin/time -v -o "$TMP/time-s$S.txt" timeout "$RUN_TIMEOUT" \
    "$GEOLAT" probe --config "$cfg" --store "$STORE" 2>"$TMP/geolat-s$S.log" || rc=$?
  lab1=$(proc_ticks "$LAB_PID")
  note=""
  if [[ $rc -eq 124 ]]; then
    note="TIMEOUT after ${RUN_TIMEOUT}s"
  elif [[ $rc -ne 0 ]]; then
    tail -5 "$TMP/geolat-s$S.log" >&2
    die "geolat exited $rc"
  fi
  # /usr/bin/time -v: wall "h:mm:ss" or "m:ss.ss", peak RSS in KiB, CPU in s.
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
           n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$TMP/time-s$S.txt")
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TMP/time-s$S.txt")
  cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$TMP/time-s$S.txt")
  # The window this run stored: the newest key in the list.
  "$GEOLAT" store list --store "$STORE" --since 1h --json >"$TMP/list.json"
  after=$(wc -l <"$TMP/list.json")
  [[ $after -eq $((before + 1)) ]] || die "expected $((before + 1)) windows in the store, found $after"
  w=$(jq -s 'sort_by(.start) | last' "$TMP/list.json")
  attempts=$(jq .samples <<<"$w")
  errors=$(jq .errors <<<"$w")
  series=$(jq .series <<<"$w")
  key=$(jq -r .key <<<"$w")
  bytes=$(stat -c %s "$TMP/store/$key")
  want=$((TARGETS * S))
  [[ ( $attempts -eq $want || -n $note ) && $errors -eq 0 ]] ||
    die "samples=$S: $attempts/$want attempts, $errors errors: $(jq -c '.errors' "$TMP/store/$key" | head -c 600)"
  ROWS+=("$S $attempts $errors $wall $cpu $rss_kb $(( (lab1 - lab0) * 100 / CLK_TCK )) $series $bytes $note")
  [[ -z $note ]] || FAILED=1
done

# --- table ----------------------------------------------------------------------
echo "scale: one geolat probe process, $TARGETS targets over ${#REGIONS[@]} lab regions, concurrency $CONCURRENCY, warm_requests $WARM"
echo "       $(nproc) cores shared with the lab; load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%7s %8s %6s %7s %10s %8s %11s %11s %10s %8s %10s  %s\n' \
  samples attempts errors wall_s attempts/s cpu_s cpu_us/att peak_rss_MiB lab_cpu_s series window_KiB note
for row in "${ROWS[@]}"; do
  read -r S att err wall cpu rss labcs series bytes note <<<"$row"
  printf '%7s %8s %6s %7s %10.0f %8s %11.0f %11.1f %10.2f %8s %10.1f  %s\n' \
    "$S" "$att" "$err" "$wall" "$(awk -v a="$att" -v w="$wall" 'BEGIN{print a / w}')" "$cpu" \
    "$(awk -v c="$cpu" -v a="$att" 'BEGIN{print c * 1e6 / a}')" "$(awk -v k="$rss_kb" 'BEGIN{print k / 1024}')" \
    "$(awk -v c="$labcs" 'BEGIN{print c / 100}')" "$series" "$(awk -v b="$bytes" 'BEGIN{print b / 1024}')" "$note"
done
echo "attempts = targets x samples (each: DNS query + fresh TCP + TLS + GET, + $WARM warm GET); attempts/s = attempts / wall."
echo "geolat store list --store file://TMP --since 1h:"
"$GEOLAT" store list --store "$STORE" --since 1h | sed "s|^|  |"
exit "$FAILED"
