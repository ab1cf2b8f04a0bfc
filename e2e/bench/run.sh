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
# Env: BENCH_TIMEOUT (s, default 900), E2E_PORT (default 4454), BENCH_QUICK=1 (fewer samples).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
e2e="$(dirname "$here")"

if [ "${1:-}" = --inner ]; then
  # ---- INNER: under xvfb-run + dbus-run-session -------------------------------------------------
  app="$2" out="$3" art="$4"
  gkd="" td=""
  stop() {
    local pid
    for pid in $td $gkd; do kill "$pid" 2>/dev/null || true; done
    for pid in $td $gkd; do
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    done
  }
  trap stop EXIT
  trap 'exit 143' TERM INT
  printf 'bench-keyring-password' | gnome-keyring-daemon --foreground --unlock --components=secrets \
    >"$art/bench-gnome-keyring.log" 2>&1 &
  gkd=$!
  for _ in $(seq 50); do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true' && break
    sleep 0.2
  done
  port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  port="${E2E_PORT:-4454}"
  for _ in $(seq 20); do
    port_free "$port" && port_free $((port + 1)) && break
    port=$((port + 2))
  done
  tauri-driver --port "$port" --native-port $((port + 1)) >"$art/bench-tauri-driver.log" 2>&1 &
  td=$!
  ok=""
  for _ in $(seq 75); do
    curl -fsS -m 1 "http://127.0.0.1:$port/status" >/dev/null 2>&1 && { ok=1; break; }
    kill -0 "$td" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$ok" ] || { echo "bench: tauri-driver did not answer on :$port" >&2; exit 3; }
  E2E_APP="$app" E2E_WEBDRIVER_URL="http://127.0.0.1:$port/" BENCH_OUT="$out" \
    timeout --foreground -k 5 "$(( ${BENCH_TIMEOUT:-900} - 30 ))" node "$here/gallery.mjs" 2>&1 | tee "$art/bench-gallery.log"
  exit "${PIPESTATUS[0]}"
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
for tool in xvfb-run dbus-run-session dbus-send gnome-keyring-daemon WebKitWebDriver node curl; do
  command -v "$tool" >/dev/null || fail "missing tool: $tool (see e2e/README.md)"
done
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
command -v tauri-driver >/dev/null || fail "missing tauri-driver: cargo install tauri-driver --locked --version '^2'"
[ -d "$e2e/node_modules/selenium-webdriver" ] || fail "run 'npm --prefix e2e ci' first"

root="$(mktemp -d -t fluxdesk-bench.XXXXXX)"
trap 'rm -rf -- "$root"' EXIT
for v in $(compgen -e | grep -E '^(FLUXDESK|PIAPI)_'); do unset "$v"; done
export HOME="$root/home" TMPDIR="$root/tmp"
export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share" XDG_CACHE_HOME="$HOME/.cache"
export XDG_RUNTIME_DIR="$root/run"
export FLUXDESK_HOME="$HOME/fluxdesk-home" FLUXDESK_GALLERY="$lib/gallery" FLUXDESK_CACHE="$lib/cache"
export FLUXDESK_KEYRING_SERVICE="ai.fluxdesk.bench.$$.$RANDOM"
unset DBUS_SESSION_BUS_ADDRESS DISPLAY WAYLAND_DISPLAY
mkdir -p "$HOME" "$TMPDIR" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$FLUXDESK_HOME"
mkdir -m 700 -p "$XDG_RUNTIME_DIR"
art="$e2e/artifacts"
mkdir -p "$art"
cp -- "$lib/home/fluxdesk.db" "$FLUXDESK_HOME/fluxdesk.db" || fail "copying the library database"
# Loopback only: without a key the app runs in demo mode; a live call could only reach a closed port.
printf '{"version":1,"settings":{"baseUrl":"http://127.0.0.1:9"}}\n' >"$FLUXDESK_HOME/settings.json"
rm -f "$out"

timeout -k 10 "${BENCH_TIMEOUT:-900}" xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
  dbus-run-session -- bash "$here/run.sh" --inner "$app" "$out" "$art"
rc=$?
[ -s "$out" ] || fail "the measurement did not finish (exit $rc); see e2e/artifacts/bench-gallery.log"
exit $rc
