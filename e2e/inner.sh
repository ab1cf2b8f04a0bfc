#!/usr/bin/env bash
# Fluxdesk desktop e2e: the INNER script, run by run.sh under xvfb-run + dbus-run-session.
#
# Starts a private gnome-keyring (Secret Service, unlocked with a throwaway password) and
# tauri-driver, waits for both (bounded), runs tests.mjs, then stops both by PID and exits with the
# tests' exit code. Never call it directly: run.sh sets up the sandboxed environment it relies on.
set -uo pipefail

app="$1"
art="${E2E_ARTIFACTS:?run via e2e/run.sh}"
# shellcheck source=e2e/sandbox.sh
. "$E2E_DIR/sandbox.sh"
trap sandbox_stop EXIT
trap 'exit 143' TERM INT

# 1. Secret Service: gnome-keyring in the foreground (so its PID is ours to stop), unlocked with a
#    password on stdin. A fresh HOME means it creates a new "login" keyring with that password.
sandbox_keyring e2e-keyring-password "$art/gnome-keyring.log" || exit 3
# 2. tauri-driver (WebDriver server; it launches the app once per session via WebKitWebDriver).
sandbox_driver "${E2E_PORT:-4444}" "$art/tauri-driver.log" || exit 3
port="$SANDBOX_PORT"

# 3. The tests (bounded on their own too, so the cleanup above always runs).
#    --foreground keeps node in run.sh's process group, so the global timeout reaches it as well.
E2E_WEBDRIVER_URL="http://127.0.0.1:$port/" timeout --foreground -k 5 420 node "$E2E_DIR/tests.mjs" \
  2>&1 | tee "$art/tests.log"
rc=${PIPESTATUS[0]}
[ $rc -eq 124 ] && echo "e2e: tests.mjs timed out" >&2
# CI reads the summary line: make sure there is one even if node died early.
if ! grep -q '^E2E: [0-9]* passed, [0-9]* failed$' "$art/tests.log"; then
  echo "E2E: 0 passed, 1 failed" | tee -a "$art/tests.log"
  [ $rc -eq 0 ] && rc=1
fi
exit $rc
