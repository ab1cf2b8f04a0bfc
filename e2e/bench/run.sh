#!/usr/bin/env bash
# Fluxdesk app benchmark in the real window: the 100,000-image library in the release app, driven
# through tauri-driver (WebDriver) under Xvfb, measured from inside the page (see gallery.mjs).
#
# Usage: bash e2e/bench/run.sh APP_BINARY LIBRARY_DIR OUT_JSON
#   LIBRARY_DIR is a seeded bench library (target/bench-data/gallery-100000-64px-v1: home/fluxdesk.db,
#   gallery/, cache/thumbs/), as `fluxdesk-bench run --only gallery` leaves it.
#
# Why its own harness (not e2e/run.sh): the tests' sandbox starts from an empty gallery; this one
# points the app at the bench library. Same isolation otherwise: a throwaway HOME, a private X
# server, session bus, gnome-keyring and keyring service name, loopback-only settings. The database
# is COPIED into the throwaway home (the app may migrate or write it); the gallery folder and the
# thumbnail cache are used in place (the app only reads them when every thumbnail exists).
#
# Contract: never hangs (global `timeout`), writes OUT_JSON (`{"measured": false, "note": …}` on
# failure), exits 0 only when the measurement completed. Logs go to e2e/artifacts/bench-*.log.
# Env: BENCH_TIMEOUT (s, default 1500), E2E_PORT (default 4454), BENCH_QUICK=1 (fewer samples),
# BENCH_ROUNDS (search rounds), BENCH_ONLY=search (diagnosis: no scroll, no direct launches; exits 1).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
e2e="$(dirname "$here")"

if [ "${1:-}" = --inner ]; then
  # ---- INNER: under xvfb-run + dbus-run-session -------------------------------------------------
  app="$2" out="$3" art="$4"
  # shellcheck source=e2e/sandbox.sh
  . "$e2e/sandbox.sh"
  trap sandbox_stop EXIT
  trap 'exit 143' TERM INT
  sandbox_keyring bench-keyring-password "$art/bench-gnome-keyring.log" || exit 3
  sandbox_driver "${E2E_PORT:-4454}" "$art/bench-tauri-driver.log" || exit 3
  port="$SANDBOX_PORT"
  E2E_APP="$app" E2E_WEBDRIVER_URL="http://127.0.0.1:$port/" BENCH_OUT="$out" \
    timeout --foreground -k 5 "$(( ${BENCH_TIMEOUT:-1500} - 720 ))" node "$here/gallery.mjs" 2>&1 | tee "$art/bench-gallery.log"
  rc="${PIPESTATUS[0]}"
  [ "$rc" = 0 ] || exit "$rc"
  # Then launches without WebDriver (the starts above left the app opening in the gallery), merged
  # into OUT_JSON as "launch", and the memory pass below as "directMemory".
  timeout --foreground -k 5 90 python3 "$here/launch.py" "$app" "$([ "${BENCH_QUICK:-0}" = 1 ] && echo 3 || echo 5)" "$out.launch" 2>&1 |
    tee -a "$art/bench-gallery.log"
  # And memory as a designer uses the app: started directly, the same searches and scroll typed
  # as X input, nothing in the page (gallery.mjs's figure includes its own instrumentation's).
  timeout --foreground -k 5 600 python3 "$here/memory.py" "$app" "$out" "$out.memory" 2>&1 |
    tee -a "$art/bench-gallery.log"
  [ -f "$out.memory.png" ] && mv -f -- "$out.memory.png" "$art/bench-memory-end.png"
  python3 - "$out" "$out.launch" "$out.memory" <<'PY' || exit 4
import json, sys
out, launch, memory = sys.argv[1], sys.argv[2], sys.argv[3]
with open(out) as f:
    result = json.load(f)
for key, path, tool in (("launch", launch, "launch.py"), ("directMemory", memory, "memory.py")):
    try:
        with open(path) as f:
            result[key] = json.load(f)
    except (OSError, ValueError) as e:
        result[key] = {"measured": False, "note": "%s wrote no result: %s" % (tool, e)}
with open(out, "w") as f:
    json.dump(result, f)
PY
  rm -f -- "$out.launch" "$out.memory"
  exit 0
fi

# ---- OUTER -------------------------------------------------------------------------------------
fail() {
  echo "bench: $*" >&2
  [ -n "${out:-}" ] && printf '{"measured": false, "note": "%s"}\n' "$(printf '%s' "$*" | sed 's/["\\]/\\&/g')" >"$out"
  exit 2
}
[ $# -eq 3 ] || { echo "usage: bash e2e/bench/run.sh APP_BINARY LIBRARY_DIR OUT_JSON" >&2; exit 2; }
out="$(realpath -m -- "$3")"
app="$(realpath -e -- "$1" 2>/dev/null)" || fail "app binary not found: $1"
lib="$(realpath -e -- "$2" 2>/dev/null)" || fail "library not found: $2 (run: fluxdesk-bench run --only gallery)"
[ -f "$lib/home/fluxdesk.db" ] && [ -d "$lib/gallery" ] && [ -d "$lib/cache/thumbs" ] || fail "not a bench library: $lib"
# shellcheck source=e2e/sandbox.sh
. "$e2e/sandbox.sh"
missing="$(sandbox_missing_tools xvfb-run dbus-run-session dbus-send gnome-keyring-daemon WebKitWebDriver node curl tauri-driver)" ||
  fail "missing tool: $missing (see e2e/README.md)"
[ -d "$e2e/node_modules/selenium-webdriver" ] || fail "run 'npm --prefix e2e ci' first"

root="$(mktemp -d -t fluxdesk-bench.XXXXXX)"
trap 'rm -rf -- "$root"' EXIT
sandbox_env "$root"
export FLUXDESK_GALLERY="$lib/gallery" FLUXDESK_CACHE="$lib/cache"
export FLUXDESK_KEYRING_SERVICE="ai.fluxdesk.bench.$$.$RANDOM"
art="$e2e/artifacts"
mkdir -p "$art"
cp -- "$lib/home/fluxdesk.db" "$FLUXDESK_HOME/fluxdesk.db" || fail "copying the library database"
rm -f "$out"

timeout -k 10 "${BENCH_TIMEOUT:-1500}" bash -c '. "$1/sandbox.sh"; shift; sandbox_xvfb "$@"' _ "$e2e" \
  bash "$here/run.sh" --inner "$app" "$out" "$art"
rc=$?
[ -s "$out" ] || fail "the measurement did not finish (exit $rc); see e2e/artifacts/bench-gallery.log"
exit $rc
