#!/usr/bin/env bash
# Sets up a fresh machine and opens Fluxdesk. With no PiAPI key configured (PIAPI_API_KEY or the
# keychain), it opens in demo mode against the bundled simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_SKIP_TEST_TOOLS=1 bash scripts/setup.sh
echo "== building Fluxdesk (the first build takes a few minutes)" >&2
cargo build -p fluxdesk-app
exec ./target/debug/fluxdesk-app "$@"
