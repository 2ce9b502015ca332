#!/usr/bin/env bash
# Sets up and runs Session Keeper against the bundled demo provider. For now this is the headless
# demo of session-core: it signs the demo user in and prints the session's countdown as it refreshes
# (Ctrl-C signs out and stops). Without a desktop Secret Service it uses a private one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] && secret-tool search --all service none >/dev/null 2>&1; then
  exec cargo run --quiet --locked -p session-core --example demo
fi
exec scripts/desktop-session.sh -- cargo run --quiet --locked -p session-core --example demo
