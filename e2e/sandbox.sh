# Fluxdesk desktop sandbox: the setup shared by the E2E suite (e2e/run.sh + e2e/inner.sh) and the
# app benchmark (e2e/bench/run.sh). Sourced, never run.
#
# Why one file: both drive the real binary through tauri-driver in a sandbox that can never touch
# the developer's own data or network, and the two copies of that setup had started to drift.
#
# Outer side (before xvfb-run + dbus-run-session):
#   sandbox_missing_tools TOOL…  prints the first missing tool and returns 1; returns 0 when all
#                                are there (sourcing adds cargo's bin to PATH, for tauri-driver).
#   sandbox_env ROOT             a throwaway HOME/TMPDIR/XDG_* under ROOT, every FLUXDESK_*/PIAPI_*
#                                of the caller dropped, FLUXDESK_HOME=$HOME/fluxdesk-home holding a
#                                settings file whose base URL is a closed loopback port (demo mode
#                                without a key; a live call fails fast instead of reaching PiAPI),
#                                and no display or session bus of the caller's.
#   sandbox_xvfb CMD…            CMD under a private X server (1280×800) and session bus.
# Inner side (under sandbox_xvfb):
#   sandbox_keyring PASSWORD LOG  an unlocked gnome-keyring (Secret Service) in the foreground;
#                                 waits (bounded) until the bus name is owned. Sets SANDBOX_GKD.
#   sandbox_driver PORT LOG       tauri-driver on the first free port pair from PORT; waits
#                                 (bounded) for /status. Sets SANDBOX_PORT and SANDBOX_TD.
#   sandbox_stop                  stops both by PID (TERM, then KILL after 3 s). Idempotent.
# scripts/test.sh uses sandbox_keyring for the Rust tests' Secret Service too.
# Every wait is bounded; a failure returns non-zero with a message on stderr, never hangs.

SANDBOX_GKD="" SANDBOX_TD="" SANDBOX_PORT=""
# tauri-driver is installed with `cargo install` (looked up before HOME is replaced).
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"

sandbox_missing_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$tool"; return 1; }
  done
  return 0
}

sandbox_env() {
  local root="$1" v
  for v in $(compgen -e | grep -E '^(FLUXDESK|PIAPI)_'); do unset "$v"; done
  export HOME="$root/home" TMPDIR="$root/tmp"
  export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share" XDG_CACHE_HOME="$HOME/.cache"
  export XDG_RUNTIME_DIR="$root/run"
  export FLUXDESK_HOME="$HOME/fluxdesk-home"
  unset DBUS_SESSION_BUS_ADDRESS DISPLAY WAYLAND_DISPLAY
  mkdir -p "$HOME" "$TMPDIR" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$FLUXDESK_HOME"
  mkdir -m 700 -p "$XDG_RUNTIME_DIR"
  # The settings *file*, not PIAPI_BASE_URL, so nothing shows as "overridden" in the app.
  printf '{"version":1,"settings":{"baseUrl":"http://127.0.0.1:9"}}\n' >"$FLUXDESK_HOME/settings.json"
}

sandbox_xvfb() {
  xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" dbus-run-session -- "$@"
}

# Runs CMD… every 0.2 s, at most TRIES times, while process PID lives; 0 as soon as CMD succeeds.
sandbox_poll() {
  local tries="$1" pid="$2" _
  shift 2
  for _ in $(seq "$tries"); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

sandbox_secrets_up() {
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'
}

sandbox_driver_up() {
  curl -fsS -m 1 "http://127.0.0.1:$1/status" >/dev/null 2>&1
}

sandbox_keyring() {
  local password="$1" log="$2"
  printf '%s' "$password" | gnome-keyring-daemon --foreground --unlock --components=secrets >"$log" 2>&1 &
  SANDBOX_GKD=$!
  sandbox_poll 50 "$SANDBOX_GKD" sandbox_secrets_up && return 0
  echo "sandbox: gnome-keyring did not come up (see $log)" >&2
  return 1
}

sandbox_driver() {
  local port="$1" log="$2" _
  port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  for _ in $(seq 20); do
    port_free "$port" && port_free $((port + 1)) && break
    port=$((port + 2))
  done
  SANDBOX_PORT="$port"
  tauri-driver --port "$port" --native-port $((port + 1)) >"$log" 2>&1 &
  SANDBOX_TD=$!
  sandbox_poll 75 "$SANDBOX_TD" sandbox_driver_up "$port" && return 0
  echo "sandbox: tauri-driver did not answer on :$port (see $log)" >&2
  return 1
}

sandbox_stop() {
  local pid _
  for pid in $SANDBOX_TD $SANDBOX_GKD; do kill "$pid" 2>/dev/null || true; done
  for pid in $SANDBOX_TD $SANDBOX_GKD; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  SANDBOX_TD="" SANDBOX_GKD=""
}
