#!/usr/bin/env bash
# Installs what Session Keeper needs on a Debian 12 machine (idempotent): the system packages for a
# private Secret Service, and the pinned test/demo OpenID Provider from tests/idp/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(dbus dbus-x11 gnome-keyring libsecret-tools)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=18)?0:1)'; then
  echo "Node.js >= 20.18 is needed for the demo provider (oidc-provider 9); found: $(node --version 2>/dev/null || echo none)" >&2
  exit 1
fi
if [ ! -d tests/idp/node_modules/oidc-provider ] || [ tests/idp/package-lock.json -nt tests/idp/node_modules ]; then
  (cd tests/idp && npm ci --no-audit --no-fund --loglevel=error)
fi
