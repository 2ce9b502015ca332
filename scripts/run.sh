#!/usr/bin/env bash
# Sets up and runs Session Keeper against the bundled demo provider (tests/idp, oidc-provider on
# 127.0.0.1:4380 with 2-minute access tokens, users alice and bob with any password). The app adds
# the demo provider when it has no session yet; choose "Sign in" on its card.
# Without a Secret Service on your session bus it uses a private one; without a display, it runs on
# a virtual one (Xvfb) and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --app
cargo build --locked -p session-keeper

port="${DEMO_PORT:-4380}"
IDP_PORT="$port" IDP_ACCESS_TOKEN_TTL=120 IDP_ID_TOKEN_TTL=120 IDP_REFRESH_TOKEN_TTL=86400 \
  node tests/idp/server.js >/dev/null &
provider=$!
trap 'kill $provider 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  kill -0 "$provider" 2>/dev/null || { echo "The demo provider did not start (is port $port in use? set DEMO_PORT)" >&2; exit 1; }
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
export SESSION_KEEPER_DEMO_ISSUER="http://127.0.0.1:$port"
echo "Demo provider: $SESSION_KEEPER_DEMO_ISSUER (sign in as alice or bob, any password)"

# Your keychain is used if it takes a write (a locked one may ask you to unlock it); a search alone
# also succeeds on a locked keyring, where every sign-in would then fail with "keychain locked".
keychain_usable() {
  [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || return 1
  printf probe | timeout 60 secret-tool store --label="Session Keeper probe" app session-keeper-probe 2>/dev/null || return 1
  secret-tool clear app session-keeper-probe 2>/dev/null || true
}

app=target/debug/session-keeper
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && keychain_usable; then
  "$app"
elif [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "Your keychain (Secret Service) is missing or locked: using a private gnome-keyring for this run." >&2
  scripts/desktop-session.sh -- "$app"
else
  echo "No display: running on a virtual display (Xvfb) with a private keyring and notification server." >&2
  scripts/desktop-session.sh --display -- "$app"
fi
