#!/usr/bin/env bash
# Fluxdesk desktop e2e: the OUTER script.
#
# Usage: bash e2e/run.sh APP_BINARY        (e.g. bash e2e/run.sh target/debug/fluxdesk-app)
#
# Why: drive the real binary (real IPC, real SQLite, real Secret Service) in a sandbox that can
# never touch the developer's own data: a throwaway HOME with FLUXDESK_HOME / FLUXDESK_GALLERY /
# FLUXDESK_CACHE under it, a private keyring service name, a private X server (xvfb-run) and a
# private session bus (dbus-run-session). inner.sh starts gnome-keyring + tauri-driver inside.
#
# Contract: never hangs (global `timeout`), prints `E2E: N passed, N failed` as the last result
# line (from tests.mjs), exits 0 only when every test passed. Artifacts (screenshots, logs) go to
# e2e/artifacts/ (gitignored); with E2E_UPDATE_DOCS=1 the main screens are also copied to
# docs/screenshots/ (the README shows them).
# Env knobs: E2E_KEEP=1 keeps the throwaway HOME; E2E_TIMEOUT (s, default 600) is the global limit;
# E2E_PORT (default 4444) is tauri-driver's port (the next free one is used if it is taken).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Setup problems still end with the summary line CI looks for.
die() { echo "e2e: $*" >&2; echo "E2E: 0 passed, 1 failed"; exit 2; }
[ $# -eq 1 ] || die "usage: bash e2e/run.sh APP_BINARY"
app="$(realpath -e -- "$1" 2>/dev/null)" || die "app binary not found: $1"
[ -x "$app" ] || die "not executable: $app"

# shellcheck source=e2e/sandbox.sh
. "$here/sandbox.sh"
missing="$(sandbox_missing_tools xvfb-run dbus-run-session dbus-send gnome-keyring-daemon secret-tool WebKitWebDriver node curl tauri-driver)" ||
  die "missing tool: $missing (see e2e/README.md; tauri-driver: cargo install tauri-driver --locked --version '^2')"
[ -d "$here/node_modules/selenium-webdriver" ] || die "run 'npm --prefix e2e ci' first"

root="$(mktemp -d -t fluxdesk-e2e.XXXXXX)"
cleanup() {
  if [ "${E2E_KEEP:-0}" = 1 ]; then echo "e2e: kept $root"; else rm -rf -- "$root"; fi
}
trap cleanup EXIT

# Everything the app, WebKit, gnome-keyring and temp files write lands under $root; nothing from
# the caller's Fluxdesk/PiAPI setup leaks in; live calls can only reach a closed loopback port.
sandbox_env "$root"
# A space and a non-ASCII letter on purpose: asset URLs, drag-out URIs and the trash must cope.
export FLUXDESK_GALLERY="$HOME/My Gallery ü"
export FLUXDESK_CACHE="$HOME/fluxdesk-cache"
export FLUXDESK_KEYRING_SERVICE="ai.fluxdesk.e2e.$$.$RANDOM"
export E2E_APP="$app" E2E_ROOT="$root" E2E_DIR="$here"
export E2E_ARTIFACTS="$here/artifacts"
mkdir -p "$E2E_ARTIFACTS"
rm -f "$E2E_ARTIFACTS"/*.png "$E2E_ARTIFACTS"/*.log "$E2E_ARTIFACTS"/*.txt

echo "e2e: app=$app"
echo "e2e: sandbox=$root keyring-service=$FLUXDESK_KEYRING_SERVICE"
start=$(date +%s)
timeout -k 10 "${E2E_TIMEOUT:-600}" bash -c '. "$1/sandbox.sh"; sandbox_xvfb bash "$1/inner.sh" "$2"' _ "$here" "$app"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "e2e: global timeout (${E2E_TIMEOUT:-600} s) hit" >&2
  echo "E2E: 0 passed, 1 failed"
elif [ $rc -ne 0 ] && ! grep -q '^E2E: ' "$E2E_ARTIFACTS/tests.log" 2>/dev/null; then
  echo "E2E: 0 passed, 1 failed"   # setup failed before the tests ran
fi
echo "e2e: finished in $(( $(date +%s) - start )) s, exit $rc"
exit $rc
