#!/usr/bin/env bash
# Builds the release app and its .deb and .rpm with the Tauri bundler (the CLI from npm, pinned in
# package-lock.json). The AppImage target stays configured in tauri.conf.json for release machines:
# its bundler downloads linuxdeploy, so `bash scripts/bundle.sh appimage` needs the internet.
#
# The CLI expects tauri.conf.json beside the Rust crate; ours sits at the top of the repository, so
# src-tauri/ holds symlinks to it and to icons/ and ui/, which the config names relative to itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bundles="${1:-deb,rpm}"
# `npm install --no-save` rather than `npm ci`: the lock file can only list the CLI's Linux x64 build,
# because the registry this project installs from carries no other platforms' builds, and `npm ci`
# refuses a lock without them. The versions and checksums in package-lock.json still apply.
if [ ! -x node_modules/.bin/tauri ] || [ package-lock.json -nt node_modules ]; then
  npm install --no-save --no-audit --no-fund --loglevel=error
fi
# The command-line clients go into the packages beside the app (tauri.conf.json, bundle > linux >
# deb/rpm > files); the bundler builds only the app itself.
cargo build --release --locked -p session-keeper-cli
TAURI_APP_PATH=src-tauri TAURI_FRONTEND_PATH=. node_modules/.bin/tauri build --ci --bundles "$bundles"
ls -l target/release/bundle/deb/*.deb target/release/bundle/rpm/*.rpm 2>/dev/null || true
