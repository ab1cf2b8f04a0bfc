#!/usr/bin/env bash
# Fluxdesk desktop e2e: the INNER script, run by run.sh under xvfb-run + dbus-run-session.
#
# Starts a private gnome-keyring (Secret Service, unlocked with a throwaway password) and
# tauri-driver, waits for both (bounded), runs tests.mjs, then stops both by PID and exits with the
# tests' exit code. Never call it directly: run.sh sets up the sandboxed environment it relies on.
set -uo pipefail

app="$1"
art="${E2E_ARTIFACTS:?run via e2e/run.sh}"
gkd="" td=""

stop() {
  local pid
  for pid in $td $gkd; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $td $gkd; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}
trap stop EXIT
trap 'exit 143' TERM INT

# 1. Secret Service: gnome-keyring in the foreground (so its PID is ours to stop), unlocked with a
#    password on stdin. A fresh HOME means it creates a new "login" keyring with that password.
printf 'e2e-keyring-password' | gnome-keyring-daemon --foreground --unlock --components=secrets \
  >"$art/gnome-keyring.log" 2>&1 &
gkd=$!
ok=""
for _ in $(seq 50); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
    ok=1; break
  fi
  kill -0 "$gkd" 2>/dev/null || break
  sleep 0.2
done
[ -n "$ok" ] || { echo "e2e: gnome-keyring did not come up (see e2e/artifacts/gnome-keyring.log)" >&2; exit 3; }

# 2. tauri-driver (WebDriver server; it launches the app once per session via WebKitWebDriver).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port="${E2E_PORT:-4444}"
for _ in $(seq 20); do
  port_free "$port" && port_free $((port + 1)) && break
  port=$((port + 2))
done
tauri-driver --port "$port" --native-port $((port + 1)) >"$art/tauri-driver.log" 2>&1 &
td=$!
ok=""
for _ in $(seq 75); do
  if curl -fsS -m 1 "http://127.0.0.1:$port/status" >/dev/null 2>&1; then ok=1; break; fi
  kill -0 "$td" 2>/dev/null || break
  sleep 0.2
done
[ -n "$ok" ] || { echo "e2e: tauri-driver did not answer on :$port (see e2e/artifacts/tauri-driver.log)" >&2; exit 3; }

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
