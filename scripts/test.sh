#!/usr/bin/env bash
# Sets up and runs every test: unit, scheduler (paused clock), and integration tests against the real
# OpenID Provider and a real gnome-keyring on a private D-Bus bus; then the refresh benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
scripts/desktop-session.sh -- cargo test --workspace --locked
scripts/desktop-session.sh -- cargo run --quiet --locked -p session-core --example refresh_bench
