#!/usr/bin/env bash
# Installs everything Fluxdesk needs on a fresh Debian/Ubuntu machine, idempotently:
# system packages (WebKitGTK 4.1 and friends, plus the test tools), tauri-driver, the UI's npm
# packages, and a built UI (ui/dist, which the desktop binary embeds).
#   bash scripts/setup.sh            # everything
#   SETUP_SKIP_TEST_TOOLS=1 bash scripts/setup.sh   # only what running the app needs
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

log() { printf '\n== %s\n' "$*" >&2; }

runtime_pkgs=(libwebkit2gtk-4.1-dev build-essential pkg-config curl file)
test_pkgs=(webkit2gtk-driver xvfb xauth gnome-keyring libsecret-tools dbus dbus-user-session imagemagick xdotool xclip)
pkgs=("${runtime_pkgs[@]}")
[ "${SETUP_SKIP_TEST_TOOLS:-0}" = 1 ] || pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "Rust is required: install it from https://rustup.rs" >&2; exit 1; }
command -v npm >/dev/null || { echo "Node.js 20+ and npm are required" >&2; exit 1; }

if [ "${SETUP_SKIP_TEST_TOOLS:-0}" != 1 ] && ! command -v tauri-driver >/dev/null; then
  log "installing tauri-driver"
  cargo install tauri-driver --locked --version '^2' --quiet
fi
# The dependency audit in scripts/test.sh (deny.toml is written for 0.20). Compiles ~4-5 min once.
if [ "${SETUP_SKIP_TEST_TOOLS:-0}" != 1 ] && ! command -v cargo-deny >/dev/null; then
  log "installing cargo-deny"
  cargo install cargo-deny --locked --version '^0.20' --quiet
fi

log "installing UI packages"
(cd ui && npm ci --no-audit --no-fund --loglevel=error)
if [ -f e2e/package.json ] && [ "${SETUP_SKIP_TEST_TOOLS:-0}" != 1 ]; then
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

log "building the UI"
(cd ui && npm run build --silent)
log "setup done"
