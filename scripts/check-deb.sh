#!/usr/bin/env bash
# Checks the release .deb the way a user gets it: installs it with apt (which pulls its runtime
# dependencies), checks what it installed, starts the INSTALLED app in a private X server (Xvfb)
# and D-Bus session with a throwaway HOME (demo mode: no key, loopback simulator), waits for its
# window, screenshots it to docs/screenshots/installed.png, checks it keeps running, stops it and
# removes the package again.
#
#   bash scripts/check-deb.sh [PATH.deb] [--keep]
#     PATH.deb  default: the newest target/release/bundle/deb/*.deb (bash scripts/release.sh)
#     --keep    leave the package installed afterwards
#
# Needs root (or sudo) for apt-get. Never hangs: every wait has a timeout. Prints
# `deb-check: N passed, N failed` last and exits 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

deb="" keep=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) deb="$arg" ;;
  esac
done

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "  ok   $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL $*"; }
check() { # <description> <command…>: passes when the command succeeds
  local what="$1"; shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
summary() { echo "deb-check: $passed passed, $failed failed"; }
die() { bad "$*"; summary; exit 1; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

if [ -z "$deb" ]; then
  deb=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/bundle/deb/*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || die "no .deb found under target/release/bundle/deb (run: bash scripts/release.sh)"
fi
deb=$(realpath -e -- "$deb" 2>/dev/null) || die "no such file: $deb"
echo "deb-check: $deb ($(numfmt --to=iec-i --suffix=B --format='%.1f' "$(stat -c %s "$deb")"))"

# Tools for the window check (also in scripts/setup.sh's test tools).
tools_missing=()
for t in Xvfb:xvfb xdotool:xdotool import:imagemagick xwininfo:x11-utils dbus-daemon:dbus \
  gnome-keyring-daemon:gnome-keyring desktop-file-validate:desktop-file-utils; do
  command -v "${t%%:*}" >/dev/null || tools_missing+=("${t#*:}")
done
if [ ${#tools_missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${tools_missing[@]}" >/dev/null \
    || die "could not install ${tools_missing[*]}"
fi

pkg=$(dpkg-deb -f "$deb" Package)
version=$(dpkg-deb -f "$deb" Version)
echo "== package $pkg $version"
check "control: Package is fluxdesk" test "$pkg" = fluxdesk
check "control: Version matches the workspace version" \
  test "$version" = "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
check "control: Depends names WebKitGTK 4.1" grep -q libwebkit2gtk-4.1-0 <(dpkg-deb -f "$deb" Depends)
check "control: has a Description" test -n "$(dpkg-deb -f "$deb" Description)"

echo "== apt-get install"
if $SUDO apt-get install -y -qq "$deb" >/tmp/deb-check-apt.$$ 2>&1; then
  ok "apt-get install -y $deb"
else
  cat /tmp/deb-check-apt.$$ >&2; rm -f /tmp/deb-check-apt.$$
  die "apt-get install -y $deb"
fi
rm -f /tmp/deb-check-apt.$$
check "dpkg reports $pkg installed" test "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed"
files=$(dpkg -L "$pkg")
bin=$(grep -E '^/usr/bin/[^/]+$' <<<"$files" | head -1)
desktop=$(grep -E '^/usr/share/applications/.+\.desktop$' <<<"$files" | head -1)
icons=$(grep -cE '^/usr/share/icons/hicolor/[0-9x@]+/apps/.+\.png$' <<<"$files")
check "binary installed in /usr/bin (${bin:-none})" test -x "${bin:-/nonexistent}"
check "binary is stripped" bash -c "file -b '$bin' | grep -qv 'not stripped'"
check "binary's shared libraries all resolve" bash -c "! ldd '$bin' | grep -q 'not found'"
check ".desktop file installed (${desktop:-none})" test -f "${desktop:-/nonexistent}"
check ".desktop Exec runs the installed binary" grep -qE "^Exec=$(basename "${bin:-x}")( |$)" "${desktop:-/dev/null}"
check ".desktop names the app and its icon" bash -c "grep -q '^Name=Fluxdesk$' '$desktop' && grep -q '^Icon=' '$desktop'"
check ".desktop has Graphics in Categories" grep -qE '^Categories=.*Graphics' "${desktop:-/dev/null}"
check "hicolor icons installed ($icons)" test "$icons" -ge 3
if command -v desktop-file-validate >/dev/null; then
  check ".desktop passes desktop-file-validate" desktop-file-validate "$desktop"
fi

echo "== start the installed app under Xvfb"
root=$(mktemp -d -t fluxdesk-debcheck.XXXXXX)
xvfb_pid="" bus_pid="" gkd_pid="" app_pid=""
cleanup() {
  for p in $app_pid $gkd_pid $bus_pid $xvfb_pid; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in $app_pid $gkd_pid $bus_pid $xvfb_pid; do kill -9 "$p" 2>/dev/null; done
  rm -rf -- "$root"
}
trap cleanup EXIT

# Nothing from the caller's Fluxdesk/PiAPI setup or desktop session may leak in.
for v in $(compgen -e | grep -E '^(FLUXDESK|PIAPI)_'); do unset "$v"; done
unset DBUS_SESSION_BUS_ADDRESS WAYLAND_DISPLAY
export HOME="$root/home" XDG_RUNTIME_DIR="$root/run"
export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share" XDG_CACHE_HOME="$HOME/.cache"
export FLUXDESK_HOME="$HOME/fluxdesk-home" FLUXDESK_GALLERY="$HOME/gallery"
export FLUXDESK_KEYRING_SERVICE="ai.fluxdesk.debcheck.$$"
mkdir -p "$HOME" "$FLUXDESK_HOME" && mkdir -m 700 -p "$XDG_RUNTIME_DIR"

# A private X server on a free display number.
n=90
while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
export DISPLAY=":$n"
Xvfb "$DISPLAY" -screen 0 1280x800x24 -nolisten tcp >"$root/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 150); do xwininfo -root >/dev/null 2>&1 && break; sleep 0.1; done
xwininfo -root >/dev/null 2>&1 || { sed 's/^/  xvfb: /' "$root/xvfb.log" | tail -5; die "Xvfb did not start on $DISPLAY"; }

# A private session bus with an unlocked GNOME Keyring, like a desktop login.
bus=$(dbus-daemon --session --fork --nopidfile --print-address=1 --print-pid=1) || die "dbus-daemon did not start"
export DBUS_SESSION_BUS_ADDRESS=$(sed -n 1p <<<"$bus")
bus_pid=$(sed -n 2p <<<"$bus")
printf 'deb-check' | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
gkd_pid=$!
sleep 1

"$bin" >"$root/app.log" 2>&1 &
app_pid=$!
if wid=$(timeout 60 xdotool search --sync --onlyvisible --name '^Fluxdesk$' 2>/dev/null | head -1) && [ -n "$wid" ]; then
  ok "window 'Fluxdesk' mapped ($(xdotool getwindowgeometry "$wid" | sed -n 's/.*Geometry: //p'))"
else
  bad "window 'Fluxdesk' mapped within 60 s"
  sed 's/^/  app: /' "$root/app.log" | tail -20
fi

# The window maps before the web view has painted: screenshot until the picture has real content
# (a blank or half-drawn window has only a handful of colours).
shot=docs/screenshots/installed.png
mkdir -p "$(dirname "$shot")"
colours=0
for _ in $(seq 30); do
  sleep 1
  import -window root "$root/shot.png" 2>/dev/null || continue
  colours=$(convert "$root/shot.png" -format %k info: 2>/dev/null || echo 0)
  [ "$colours" -ge 500 ] && break
done
if [ -f "$root/shot.png" ]; then cp "$root/shot.png" "$shot"; fi
check "screenshot shows a drawn window ($colours colours) -> $shot" test "$colours" -ge 500

sleep 3
check "app still running after start-up (pid $app_pid)" kill -0 "$app_pid"
check "app created its database in FLUXDESK_HOME (throwaway)" test -f "$FLUXDESK_HOME/fluxdesk.db"
sed -i 's/\x1b\[[0-9;]*m//g' "$root/app.log" # drop colour codes
if grep -qE "panicked| ERROR " "$root/app.log"; then
  echo "  note: app log lines:"; grep -E "panicked| ERROR " "$root/app.log" | head -5 | sed 's/^/    /'
fi
check "no panic in the app's output" bash -c "! grep -q panicked '$root/app.log'"

kill "$app_pid" 2>/dev/null
for _ in $(seq 50); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.1; done
check "app stops on SIGTERM" bash -c "! kill -0 $app_pid"

if [ "$keep" = 0 ]; then
  echo "== apt-get remove"
  check "apt-get remove -y $pkg" $SUDO apt-get remove -y -qq "$pkg"
  check "binary gone after removal" test ! -e "$bin"
fi
summary
[ "$failed" = 0 ]
