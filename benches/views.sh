#!/usr/bin/env bash
# The views at scale, on the day-sized analysis bench store (benches/
# analyze.rs: 200 geos x 1,440 one-minute windows, 6 regions, direct +
# Route 53 + accelerator; generated and cached under target/bench-analyze):
#
#   1. `geolat report` over the whole day, beside `geolat analyze` over the
#      same day (the read every report starts with): wall, CPU, peak RSS;
#   2. `geolat dash` in a real terminal (tmux): time to the first frame and
#      to the first frame with the day's data;
#   3. its CPU over IDLE_SECONDS with no key pressed, with --refresh 1h
#      (drawing alone), beside top and htop in the same terminal size; and
#      over 4 x IDLE_SECONDS with the default --refresh 15s (a refresh waits
#      at least 4x as long as the last read took, so reads of a day are
#      spaced further apart).
#
#   benches/views.sh
#   env: BENCH_DIR (target/bench-analyze), GEOLAT (target/release/geolat),
#        IDLE_SECONDS (60)
#
# Needs tmux and htop (Debian packages; installed when missing, as root).
# Everything runs on this machine; writes only to a temp dir it removes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$ROOT/target/bench-analyze}"
STORE_DIR="$BENCH_DIR/store-g200-m1440-s6"
GEOLAT="${GEOLAT:-$ROOT/target/release/geolat}"
IDLE="${IDLE_SECONDS:-60}"
DAY="2026-11-01T00:00:00Z"
CLK_TCK="$(getconf CLK_TCK)"
TMP="$(mktemp -d /tmp/geolat-views.XXXXXX)"
SOCK="geolat-views-$$"
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

log() { echo "views: $*" >&2; }

missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v htop >/dev/null || missing+=(htop)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ! -d $STORE_DIR ]]; then
  log "generating the day-sized store (benches/analyze.rs)"
  (cd "$ROOT" && BENCH_STAGES_ONLY=1 BENCH_DIR="$BENCH_DIR" cargo bench --bench analyze >&2)
fi
if [[ $GEOLAT == "$ROOT/target/release/geolat" ]]; then
  (cd "$ROOT" && cargo build --release --locked --bin geolat >&2)
fi

# The bench store's geos (geo-000 ..) and regions, as a topology: demand
# spread over the geos, capacity for all of it and some.
python3 - "$TMP/topology.json" <<'EOF'
import json, sys
regions = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-2"]
coords = {"us-east-1": (38.9, -77.0), "us-west-2": (45.5, -122.7), "eu-west-1": (53.3, -6.3),
          "eu-central-1": (50.1, 8.7), "ap-northeast-1": (35.7, 139.7), "ap-southeast-2": (-33.9, 151.2)}
continents = ["NA", "EU", "AS", "SA", "OC", "AF"]
geos = [{"id": f"geo-{g:03}", "name": f"geo {g}", "continent": continents[g % 6],
         "lat": -50 + (g * 37) % 110, "lon": -170 + (g * 71) % 340, "demand_rps": 10 + g % 17}
        for g in range(200)]
total = sum(g["demand_rps"] for g in geos)
t = {"format": "geolat-topology/1", "name": "bench-day",
     "regions": [{"id": r, "lat": coords[r][0], "lon": coords[r][1],
                  "capacity_rps": round(total / 3), "backup": regions[(i + 1) % 6]}
                 for i, r in enumerate(regions)],
     "geos": geos}
json.dump(t, open(sys.argv[1], "w"))
EOF

URL="file://$STORE_DIR"
echo "views: the day-sized store ($URL), $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-44s %4s %8s %7s %13s\n' command run wall_s cpu_s peak_rss_MiB
timed() {
  local label="$1" run="$2"
  shift 2
  /usr/bin/time -f '%e %U %S %M' -o "$TMP/time" "$@" >"$TMP/out" 2>"$TMP/err" || {
    log "$label failed:"; cat "$TMP/err" >&2; exit 1
  }
  read -r wall user sys rss <"$TMP/time"
  printf '%-44s %4s %8.2f %7.2f %13.0f\n' "$label" "$run" "$wall" \
    "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc)"
}
for run in 1 2; do
  timed "analyze --since DAY (the read, peer)" "$run" \
    "$GEOLAT" analyze --store "$URL" --since "$DAY" --json
  rm -rf "$TMP/report"
  timed "report --since DAY --topology T" "$run" \
    "$GEOLAT" report --store "$URL" --since "$DAY" --topology "$TMP/topology.json" \
      --accept-wide --out "$TMP/report"
done
echo

# --- the dashboard in a terminal ---------------------------------------------
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now_ms() { date +%s%3N; }
pane_pid() { tmux -L "$SOCK" display-message -p -t "$1" '#{pane_pid}'; }
wait_for() { # session needle timeout_s -> ms waited
  local start; start=$(now_ms)
  until tmux -L "$SOCK" capture-pane -p -t "$1" | grep -q -- "$2"; do
    (($(now_ms) - start < $3 * 1000)) || { log "no '$2' in $1 after $3 s"; tmux -L "$SOCK" capture-pane -p -t "$1" >&2; exit 1; }
    sleep 0.02
  done
  echo $(($(now_ms) - start))
}

printf '%-44s %14s %14s\n' "dash over the day" first_frame_ms data_frame_ms
for run in 1 2; do
  start=$(now_ms)
  tmux -L "$SOCK" new-session -d -s "first$run" -x 120 -y 40 \
    "exec $GEOLAT dash --store $URL --since $DAY --topology $TMP/topology.json --accept-wide"
  wait_for "first$run" "geolat dash" 30 >/dev/null
  first=$(($(now_ms) - start))
  wait_for "first$run" "windows" 300 >/dev/null
  data=$(($(now_ms) - start))
  printf '%-44s %14s %14s\n' "run $run" "$first" "$data"
  tmux -L "$SOCK" kill-session -t "first$run"
done
echo

printf '%-44s %12s %10s\n' "idle, 120x40, no keys" cpu_s cpu_pct
idle() { # label command
  local s="idle$RANDOM"
  tmux -L "$SOCK" new-session -d -s "$s" -x 120 -y 40 "exec $2"
  sleep 1
  [[ -z ${3:-} ]] || wait_for "$s" "$3" 300 >/dev/null
  local pid before after
  pid=$(pane_pid "$s")
  before=$(cpu_ticks "$pid")
  local secs=$((IDLE * ${4:-1}))
  sleep "$secs"
  after=$(cpu_ticks "$pid")
  local cpu; cpu=$(echo "scale=2; ($after - $before) / $CLK_TCK" | bc)
  printf '%-44s %12s %10s\n' "$1 [${secs} s]" "$cpu" "$(echo "scale=2; 100 * $cpu / $secs" | bc)"
  tmux -L "$SOCK" kill-session -t "$s"
}
idle "geolat dash --refresh 1h (drawing only)" \
  "$GEOLAT dash --store $URL --since $DAY --topology $TMP/topology.json --accept-wide --refresh 1h" windows
idle "geolat dash (--refresh 15s: re-reads the day)" \
  "$GEOLAT dash --store $URL --since $DAY --topology $TMP/topology.json --accept-wide" windows 4
idle "top -d 3 (peer)" "top -d 3"
idle "htop (peer, default 1.5 s)" "htop"
