#!/usr/bin/env bash
# Builds Fluxdesk's release bundle: an optimised binary ([profile.release]: LTO, one codegen
# unit, stripped, panic=abort) packaged by the Tauri CLI, with the UI embedded.
#
#   bash scripts/release.sh          # the .deb (what this Linux machine can build)
#   bash scripts/release.sh --all    # also tries every other configured target and says why
#                                    # one cannot be built here (AppImage downloads its tools
#                                    # from github.com; .msi and .dmg need Windows / macOS)
#
# Takes several minutes (the LTO build alone is ~8 min on 2 cores), so it is not part of
# scripts/test.sh or .ci/run. Check the result with scripts/check-deb.sh.
# Output: target/release/bundle/<kind>/…, and a summary line per bundle with its size.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never NO_COLOR=1

ALL=0
for arg in "$@"; do
  case "$arg" in
    --all) ALL=1 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "release: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

log() { printf '\n== %s\n' "$*" >&2; }
human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }

SETUP_SKIP_TEST_TOOLS=1 bash scripts/setup.sh

# The CLI is the npm one the UI pins (ui/package.json: @tauri-apps/cli), not a global install.
TAURI="$PWD/ui/node_modules/.bin/tauri"
[ -x "$TAURI" ] || { echo "release: $TAURI is missing (scripts/setup.sh runs npm ci in ui/)" >&2; exit 1; }
log "Tauri CLI $("$TAURI" --version)"

target_dir=${CARGO_TARGET_DIR:-$PWD/target} # the workspace's shared target/
bundle_root="$target_dir/release/bundle"
binary="$target_dir/release/fluxdesk-app"

# tauri build runs beforeBuildCommand (npm run build in ui/), then
# `cargo build --release --bins --features tauri/custom-protocol`, then bundles. It refuses to
# build when a @tauri-apps/plugin-* npm package and its crate differ in minor version: the fix
# is pinning the crate (e.g. tauri-plugin-store = "~2.4"), never --ignore-version-mismatches.
build_bundle() { # <kind> <log file>
  "$TAURI" build --ci --bundles "$1" 2>&1 | tee "$2"
  return "${PIPESTATUS[0]}"
}

logs=$(mktemp -d)
touch "$logs/.start" # bundles newer than this were made by this run
results=()
failed=0

log "release build + deb bundle (several minutes)"
start=$SECONDS
if build_bundle deb "$logs/deb.log"; then
  results+=("deb: ok ($((SECONDS - start)) s)")
else
  if grep -q "version mismatched Tauri packages" "$logs/deb.log"; then
    echo "release: the Tauri CLI found npm/crate plugin versions on different minors (above)." >&2
    echo "release: pin each crate in src-tauri/Cargo.toml to the npm package's minor (\"~2.N\")," >&2
    echo "release: then 'cargo update -p <crate>' so Cargo.lock follows." >&2
  fi
  results+=("deb: FAILED (see $logs/deb.log)")
  failed=1
fi

if [ "$ALL" = 1 ] && [ "$failed" = 0 ]; then
  # The binary is built now; each further bundle only packages it.
  log "appimage bundle"
  if build_bundle appimage "$logs/appimage.log"; then
    results+=("appimage: ok")
  elif grep -Eqi "github\.com|failed to lookup address|Name or service not known|error sending request|dns error" "$logs/appimage.log"; then
    url=$(grep -Eo 'https://github\.com/[^ ]+' "$logs/appimage.log" | head -1 || true)
    results+=("appimage: NOT BUILT: AppImage bundling downloads its tools (AppRun, linuxdeploy) from github.com, which this machine cannot reach${url:+ ($url)}. Build it on a machine with internet access.")
  else
    results+=("appimage: FAILED (see $logs/appimage.log)")
    failed=1
  fi
  # The Tauri CLI can only produce these on their own platforms (no cross-bundling).
  results+=("msi: not built: Windows bundles (WiX) are built on Windows (tauri build --bundles msi)")
  results+=("dmg: not built: macOS bundles are built on macOS (tauri build --bundles dmg)")
fi

log "release summary"
if [ -f "$binary" ]; then
  echo "binary: $binary ($(human "$(stat -c %s "$binary")"), $(file -b "$binary" | grep -o 'not stripped\|stripped'))"
fi
if [ -d "$bundle_root" ]; then
  while IFS= read -r f; do
    echo "bundle: $f ($(human "$(stat -c %s "$f")"))"
  done < <(find "$bundle_root" -maxdepth 2 -type f \( -name '*.deb' -o -name '*.AppImage' -o -name '*.rpm' \) -newer "$logs/.start" 2>/dev/null | sort)
fi
for r in "${results[@]}"; do echo "$r"; done
exit "$failed"
