#!/usr/bin/env bash
# Measures Fluxdesk side by side with its comparisons on this machine, in one run, and writes
# BENCHMARKS.md (numbers in target/bench-results.json). Installs what it needs (ImageMagick; for
# --app also Xvfb), builds fluxdesk-bench in release and runs every section.
#
#   bash scripts/bench.sh              # full run: ~2 min of measuring after the release build (~4-6 min
#                                      #   on 2 cores), plus up to 3 min waiting for a quiet machine; the
#                                      #   first run also seeds the 100,000-image library (~2.5 min, then
#                                      #   cached in target/bench-data)
#   bash scripts/bench.sh --quick      # fewer samples, same method (~1 min of measuring, 30 s max wait)
#   bash scripts/bench.sh --app        # also figure 6, the desktop app (target/release/fluxdesk-app, built
#                                      #   with scripts/release.sh when missing, ~8 min): start, idle memory,
#                                      #   and 6b, the 100,000-image gallery in the window (e2e/bench/run.sh:
#                                      #   tauri-driver, WebKitWebDriver, gnome-keyring, `npm --prefix e2e ci`)
#   bash scripts/bench.sh --app-only   # only figure 6, merged into the last results
#   bash scripts/bench.sh --only polling,gallery   # chosen sections
#   bash scripts/bench.sh --wait-quiet 600         # wait longer (seconds, in all) for other processes
#                                                  #   to stop using the CPU before measuring
#
# Exit status: 0 when every requested figure was measured, 1 otherwise (BENCHMARKS.md still lists
# what was measured and why the rest failed).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

QUICK=0 APP=0 APP_ONLY=0 ONLY="" WAIT="" INVOCATION="bash scripts/bench.sh${*:+ $*}"
# Internal: the app measurement, re-entered under xvfb-run (dash drops exported bash functions).
if [ "${1:-}" = --app-inner ]; then INNER=1; shift; else INNER=0; fi
while [ "$INNER" = 0 ] && [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --app) APP=1 ;;
    --app-only) APP=1 APP_ONLY=1 ;;
    --only) ONLY="$2"; shift ;;
    --only=*) ONLY="${1#--only=}" ;;
    --wait-quiet) WAIT="$2"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '\n== %s\n' "$*" >&2; }
RESULTS=target/bench-results.json
APP_JSON=target/bench-app.json
status=0

# --- figure 6 helpers (the desktop app) -------------------------------------------------------
json_skip() { printf '{"measured": false, "note": "%s"}\n' "$1" > "$APP_JSON"; }

# Descendants of a PID (including it).
tree_pids() { echo "$1"; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree_pids "$c"; done; }

# Stops the app we started ($1) and the processes it started ($2: their PIDs), waiting up to 5 s.
stop_tree() {
  kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true
  for p in $2; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for p in $2; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return
    sleep 0.1
  done
}

# Runs inside xvfb-run: starts the app RUNS times in fresh data folders, detects first paint by
# polling root-window screenshots, measures idle memory after the last start. Prints JSON.
measure_app_inner() {
  local app="$1" runs="$2" import_bin="$3"
  local idle_s=5 starts=() blank size tmp pid start now painted t_poll polls=0 poll_ms_total=0
  blank=$("$import_bin" -silent -window root -depth 8 rgb:- 2>/dev/null | gzip -1 | wc -c)
  for run in $(seq 1 "$runs"); do
    tmp=$(mktemp -d)
    start=$(date +%s%N)
    FLUXDESK_HOME="$tmp/home" FLUXDESK_GALLERY="$tmp/gallery" FLUXDESK_CACHE="$tmp/cache" \
      "$app" >"$tmp/app.log" 2>&1 &
    pid=$!
    painted=""
    while :; do
      now=$(date +%s%N)
      [ $(( (now - start) / 1000000000 )) -ge 60 ] && break
      kill -0 "$pid" 2>/dev/null || break
      t_poll=$(date +%s%N)
      size=$("$import_bin" -silent -window root -depth 8 rgb:- 2>/dev/null | gzip -1 | wc -c)
      now=$(date +%s%N)
      polls=$((polls + 1)); poll_ms_total=$((poll_ms_total + (now - t_poll) / 1000000))
      # The UI has painted when the screen stops being (nearly) uniform: its compressed size
      # jumps well above that of the blank screen.
      if [ "$size" -gt $((blank * 3 + 20000)) ]; then painted=$(( (now - start) / 1000000 )); break; fi
      sleep 0.1
    done
    if [ -z "$painted" ]; then
      stop_tree "$pid" "$(tree_pids "$pid")"
      printf '{"measured": false, "note": "the app did not paint within 60 s (run %s); see %s"}\n' "$run" "$tmp/app.log"
      return
    fi
    starts+=("$painted")
    if [ "$run" -lt "$runs" ]; then
      stop_tree "$pid" "$(tree_pids "$pid")"
      rm -rf "$tmp"
    fi
  done
  sleep "$idle_s"
  local rss pss_kib=0 nproc=0 pids v
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
  pids=$(tree_pids "$pid")
  for p in $pids; do
    v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    pss_kib=$((pss_kib + ${v:-0})); nproc=$((nproc + 1))
  done
  stop_tree "$pid" "$pids"
  rm -rf "$tmp"
  local sorted median all
  sorted=$(printf '%s\n' "${starts[@]}" | sort -n)
  median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
  all=$(IFS=,; echo "${starts[*]}")
  printf '{"measured": true, "binary": "%s", "cold_start_ms": %s, "cold_start_runs_ms": [%s], ' "$app" "$median" "$all"
  printf '"first_paint_method": "median of %s starts, each in a fresh empty data folder (demo mode); the end of the first root-window screenshot (ImageMagick import, one every ~%s ms incl. a 100 ms pause) that is no longer nearly uniform, so an upper bound", ' \
    "$runs" "$(( poll_ms_total / (polls > 0 ? polls : 1) + 100 ))"
  printf '"idle_after_s": %s, "idle_rss_mib": %s, "idle_total_pss_mib": %s, "processes": %s}\n' \
    "$idle_s" "$(awk "BEGIN{printf \"%.1f\", $rss/1024}")" "$(awk "BEGIN{printf \"%.1f\", $pss_kib/1024}")" "$nproc"
}

if [ "$INNER" = 1 ]; then
  measure_app_inner "$@"
  exit 0
fi

# --- tools ------------------------------------------------------------------------------------
pkgs=(imagemagick xargs)
[ "$APP" = 1 ] && pkgs+=(xvfb xauth)
missing=()
for p in "${pkgs[@]}"; do
  case "$p" in
    xargs) command -v xargs >/dev/null || missing+=(findutils) ;;
    *) dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p") ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "Rust is required: install it from https://rustup.rs" >&2; exit 1; }

# The real ImageMagick binaries (not a wrapper script that may sit earlier on PATH).
real_im() {
  for c in "/usr/bin/$1-im6.q16" "/usr/bin/$1" "$(command -v "$1" || true)"; do
    [ -n "$c" ] && [ -x "$c" ] && head -c 4 "$(readlink -f "$c")" | grep -q ELF && { echo "$c"; return; }
  done
  echo "$1"
}

# --- build ------------------------------------------------------------------------------------
log "building fluxdesk-bench (release: LTO, codegen-units=1; a few minutes the first time)"
cargo build -p fluxdesk-bench --release
BIN=target/release/fluxdesk-bench

# --- figures 1-5 ------------------------------------------------------------------------------
if [ "$APP_ONLY" = 0 ]; then
  args=(run --results "$RESULTS" --data-dir target/bench-data --command "$INVOCATION")
  if [ "$QUICK" = 1 ]; then args+=(--quick --wait-quiet "${WAIT:-30}"); else args+=(--wait-quiet "${WAIT:-180}"); fi
  [ -n "$ONLY" ] && args+=(--only "$ONLY")
  log "measuring ($([ "$QUICK" = 1 ] && echo quick || echo full) run)"
  "$BIN" "${args[@]}" || status=1
elif [ ! -f "$RESULTS" ]; then
  echo "--app-only needs an earlier run's $RESULTS" >&2; exit 1
fi

# --- figure 6: the desktop app ----------------------------------------------------------------
if [ "$APP" = 1 ]; then
  APP_BIN=target/release/fluxdesk-app
  if [ ! -x "$APP_BIN" ]; then
    log "building the release app and its .deb (scripts/release.sh; ~8 min the first time)"
    bash scripts/release.sh || true
  fi
  if [ ! -x "$APP_BIN" ]; then
    json_skip "the release build failed; see scripts/release.sh"
    status=1
  else
    log "measuring the desktop app under Xvfb (3 starts + 5 s idle)"
    out=$(xvfb-run -a -s "-screen 0 1280x800x24" bash "$0" --app-inner \
      "$PWD/$APP_BIN" 3 "$(real_im import)") || true
    [ -n "$out" ] || out='{"measured": false, "note": "the app measurement under Xvfb failed"}'
    # Bundle: the .deb when one was built (and note when it is older than the binary), else the binary.
    deb=$(ls -t target/release/bundle/deb/*.deb 2>/dev/null | head -1 || true)
    if [ -n "$deb" ]; then
      kind="Debian package (.deb)"; [ "$deb" -ot "$APP_BIN" ] && kind="Debian package (.deb, built before the current binary)"
      bpath="$deb"
    else
      kind="release binary (stripped; no installer bundle was built)"; bpath="$APP_BIN"
    fi
    bytes=$(stat -c %s "$bpath")
    # Figure 6b: the 100,000-image library in the real window (e2e/bench: tauri-driver + WebDriver).
    GAL_JSON=target/bench-app-gallery.json
    LIB=target/bench-data/gallery-100000-64px-v1
    if [ -f "$LIB/seed.json" ]; then
      log "measuring the 100,000-image gallery in the app window (e2e/bench/run.sh; a few minutes)"
      BENCH_QUICK=$QUICK bash e2e/bench/run.sh "$APP_BIN" "$LIB" "$GAL_JSON" >&2 || true
    else
      printf '{"measured": false, "note": "no seeded library: run bash scripts/bench.sh --only gallery first"}\n' > "$GAL_JSON"
    fi
    [ -s "$GAL_JSON" ] || printf '{"measured": false, "note": "e2e/bench/run.sh wrote nothing"}\n' > "$GAL_JSON"
    printf '%s' "$out" | sed 's/}[[:space:]]*$//' > "$APP_JSON"
    printf ', "bundle_kind": "%s", "bundle_path": "%s", "bundle_bytes": %s, "binary_bytes": %s, "gallery": %s}\n' \
      "$kind" "$bpath" "$bytes" "$(stat -c %s "$APP_BIN")" "$(cat "$GAL_JSON")" >> "$APP_JSON"
    grep -q '"measured":true' "$GAL_JSON" || status=1
    grep -q '"measured": true' "$APP_JSON" || status=1
  fi
else
  json_skip "not measured in this run; run scripts/bench.sh --app"
fi

# --- report -----------------------------------------------------------------------------------
"$BIN" render --results "$RESULTS" --app "$APP_JSON" --out BENCHMARKS.md || status=1
log "wrote BENCHMARKS.md (numbers: $RESULTS)"
exit $status
