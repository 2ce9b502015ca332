#!/usr/bin/env bash
# The benchmark suite, release builds, every figure against a baseline measured in the same run:
#   bash scripts/bench.sh            the full run whose figures BENCHMARKS.md holds (about 25 minutes)
#   bash scripts/bench.sh --short    the short run CI makes (prints ratios, asserts no absolute time)
# The refresh benchmark needs the test provider (tests/idp, installed by scripts/setup.sh) and a
# private gnome-keyring, which scripts/desktop-session.sh starts.
set -euo pipefail
cd "$(dirname "$0")/.."
short=0
[ "${1:-}" = "--short" ] && short=1
cargo build --quiet --release --locked -p session-keeper-e2e --example refresh --example timers --example scale --example provider_scale --example idle --example hand_out --example silent
# The app against an empty window of the same Tauri release, both built here (separate invocations,
# so that each gets the features it is shipped with). The short run in CI measures the app binary
# the bundle step has just built.
if [ "$short" = 0 ] || [ ! -x target/release/session-keeper ]; then
  cargo build --quiet --release --locked -p session-keeper
fi
cargo build --quiet --release --locked -p empty-window
# The token helper, measured against oidc-agent's `oidc-token` (Debian's oidc-agent-cli, setup.sh).
cargo build --quiet --release --locked -p session-keeper-cli
bin=target/release/examples
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r)"
if [ "$short" = 1 ]; then
  scripts/desktop-session.sh -- "$bin/refresh" --rounds 30 --triggers 1000
  "$bin/timers" --sessions 200
  "$bin/scale" --sessions 2000 --seconds 20 --ttl 10
  "$bin/provider_scale" --sessions 300 --seconds 30 --ttl 20
  scripts/desktop-session.sh --display -- "$bin/idle" --sessions 5 --seconds 10 --settle 5 --starts 2 --ttl 3600
  scripts/desktop-session.sh --display -- "$bin/hand_out" --calls 200
  "$bin/silent" --rounds 30
else
  mkdir -p docs/bench
  scripts/desktop-session.sh -- "$bin/refresh" --rounds 300 --triggers 10000
  "$bin/timers" --sessions 1000
  "$bin/scale" --sessions 10000 --seconds 120 --ttl 60 --plot docs/bench
  "$bin/scale" --sessions 100000 --seconds 60 --ttl 600
  "$bin/provider_scale" --sessions 10000 --seconds 600 --ttl 120
  # Idle with 1-hour tokens (no refresh in the window; countdowns change once a minute), then with
  # the demo's 2-minute tokens (20 refreshes a minute, and a countdown always in its last minute).
  scripts/desktop-session.sh --display -- "$bin/idle" --sessions 20 --seconds 60 --settle 15 --starts 5 --ttl 3600
  scripts/desktop-session.sh --display -- "$bin/idle" --sessions 20 --seconds 60 --settle 15 --starts 1
  scripts/desktop-session.sh --display -- "$bin/hand_out" --calls 1000
  "$bin/silent" --rounds 200
  ls -l target/release/session-keeper target/release/empty-window | awk '{printf "release binary: %s %.1f MB\n", $NF, $5 / 1e6}'
fi
