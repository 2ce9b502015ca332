#!/usr/bin/env bash
# Sets up and runs every test: unit, scheduler (paused clock), integration tests against the real
# OpenID Provider and a real gnome-keyring, and end-to-end tests driving the real app window over
# WebDriver (tauri-driver + WebKitWebDriver) on a private desktop (Xvfb, D-Bus, gnome-keyring,
# dunst), the plugin's example app among them (tests/e2e/example.rs), after the plugin's crate and npm
# package are listed as they would be published; then the release bundles: .deb and .rpm built, the .deb installed
# with dpkg -i and started until its window shows, the .rpm's contents listed; then the benchmark
# suite's short run (scripts/bench.sh --short). Screenshots land in
# artifacts/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# House rules first, as they fail fastest: formatted (rustfmt.toml), clippy-clean with warnings as
# errors (what the team allows is in Cargo.toml's [workspace.lints], each with its reason).
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests start the app binary, its command-line clients and the plugin's example app
# (examples/hello-sessions, tests/e2e/example.rs), so they are built first.
cargo build --locked -p session-keeper -p session-keeper-cli -p hello-sessions
# The page's pure formatting (ES module), on the table of cases the tray's Rust test reads too.
node --test tests/ui
# The page's JSDoc types, checked by TypeScript (pinned in tests/ui): zero errors or the run fails.
npm --prefix tests/ui run typecheck
# The plugin as it would be published (nothing is): the crate's file list (--allow-dirty: only the list
# is checked, and a developer's uncommitted work must not stop the run), the guest package's types
# pinned to the page's by tsc, and its npm tarball (prepack builds dist-js).
cargo package --no-verify --list --allow-dirty -p tauri-plugin-session-keeper >/dev/null
npm --prefix plugin run --silent typecheck
(cd plugin && npm pack --dry-run --loglevel=warn)
scripts/desktop-session.sh --open-bus --display -- cargo test --workspace --locked
# On CI the debug build is done with; dropping it before the release build halves the peak disk use.
if [ -n "${CI:-}" ]; then rm -rf target/debug; fi
bash scripts/bundle.sh
bash scripts/check-install.sh
# The benchmark suite's short run, in release mode (ratios printed, no absolute time asserted).
bash scripts/bench.sh --short
