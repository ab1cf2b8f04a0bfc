#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: formatting and lints, Rust unit and integration
# tests (real loopback HTTP, real SQLite, a real Secret Service), the UI suite, and the end-to-end
# suite in a real window under Xvfb. Prints a summary line per suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never NO_COLOR=1

bash scripts/setup.sh

step() { printf '\n== %s\n' "$*" >&2; }

step "format"
cargo fmt --all --check

step "lint (clippy, deny warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "UI typecheck"
(cd ui && npm run --silent check)

step "UI lint"
(cd ui && npm run --silent lint)

step "dependency audit (cargo-deny, deny.toml)"
cargo deny --locked --log-level error check --show-stats licenses bans sources
# The RustSec advisory database is fetched from github.com, which not every build machine reaches.
if timeout 120 cargo deny fetch db >/dev/null 2>&1; then
  cargo deny --locked --log-level error check --show-stats advisories
else
  echo "advisories: skipped (advisory database unreachable)"
fi

step "Rust tests (inside a D-Bus session with an unlocked GNOME Keyring)"
export FLUXDESK_KEYRING_SERVICE="ai.fluxdesk.test.$$"
# The keyring daemon gets a private data dir: a login keyring left by an earlier run (with another
# password) would stay locked, and we never touch the user's real keyrings.
KEYRING_DATA="$(mktemp -d)"
export KEYRING_DATA
dbus-run-session -- bash -c '
  . e2e/sandbox.sh
  XDG_DATA_HOME="$KEYRING_DATA" sandbox_keyring fluxdesk-ci /dev/null || true  # the keychain tests then say why
  cargo test --workspace --locked --no-fail-fast; rc=$?
  sandbox_stop; exit $rc'
rm -rf "$KEYRING_DATA"

step "generated TypeScript bindings are up to date"
if ! git diff --exit-code -- ui/src/lib/backend/bindings.ts; then
  echo "ui/src/lib/backend/bindings.ts is stale: run 'cargo test -p fluxdesk-app' and commit it" >&2
  exit 1
fi

step "UI tests"
(cd ui && npm test --silent)

step "end-to-end tests in a real window"
cargo build -p fluxdesk-app --locked
bash e2e/run.sh "$PWD/target/debug/fluxdesk-app"
