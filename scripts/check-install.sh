#!/usr/bin/env bash
# Checks the bundles from scripts/bundle.sh as a user would meet them: installs the .deb with dpkg -i
# (as root, or through sudo), starts the installed /usr/bin/session-keeper on a private desktop and
# waits for its window, and lists the .rpm's contents. Leaves a screenshot of the installed app in
# artifacts/screenshots/. The package stays installed; `dpkg -r session-keeper` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(ls target/release/bundle/deb/*.deb | head -n1)
rpm=$(ls target/release/bundle/rpm/*.rpm | head -n1)
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"

echo "== $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --field "$deb" Package Version Architecture Depends Section Description
contents=$(dpkg-deb --contents "$deb")
for expected in " usr/bin/session-keeper" " usr/bin/session-keeper-token" " usr/bin/git-credential-session-keeper" \
  " usr/share/applications/Session Keeper.desktop" \
  " usr/share/icons/hicolor/32x32/apps/session-keeper.png" " usr/share/icons/hicolor/512x512/apps/session-keeper.png"; do
  grep -qF -- "$expected" <<<"$contents" || { echo "the .deb lacks $expected" >&2; echo "$contents" >&2; exit 1; }
done
$sudo dpkg -i "$deb"
grep -E '^(Name|Exec|Icon|Categories|Comment)=' "/usr/share/applications/Session Keeper.desktop"
# The installed clients run, and without the app say so with their documented exit status 3.
/usr/bin/session-keeper-token --help >/dev/null
status=0; XDG_RUNTIME_DIR=$(mktemp -d) /usr/bin/session-keeper-token work 2>/dev/null || status=$?
[ "$status" = 3 ] || { echo "session-keeper-token without the app exited $status, not 3" >&2; exit 1; }
printf 'protocol=https\nhost=git.example.com\n\n' | XDG_RUNTIME_DIR=$(mktemp -d) /usr/bin/git-credential-session-keeper get 2>/dev/null
echo "The installed clients answer (session-keeper-token, git-credential-session-keeper)."

# The installed binary, on its own display, bus and keychain, with an empty home: the window must open.
mkdir -p artifacts/screenshots
screenshot="$PWD/artifacts/screenshots/15-installed-app.png"
scripts/desktop-session.sh --display -- bash -c '
  set -euo pipefail
  home=$(mktemp -d); mkdir -m 700 "$home/run"
  HOME=$home XDG_DATA_HOME=$home/data XDG_CONFIG_HOME=$home/config XDG_RUNTIME_DIR=$home/run /usr/bin/session-keeper &
  app=$!
  # The app quits gracefully on SIGTERM (it saves on the way out): wait for it before removing its home.
  trap "kill $app 2>/dev/null || true; wait $app 2>/dev/null || true; rm -rf $home" EXIT
  for _ in $(seq 300); do
    # Visible, and painted: the dashboard has hundreds of colours, a blank window two.
    if xdotool search --onlyvisible --name "^Session Keeper$" >/dev/null 2>&1; then
      import -window root "$1"
      colours=$(convert "$1" -format %k info:)
      if [ "$colours" -gt 50 ]; then
        echo "The installed app opened its window and painted the dashboard (pid $app, $colours colours)."
        exit 0
      fi
    fi
    kill -0 "$app" 2>/dev/null || { echo "the installed app exited" >&2; exit 1; }
    sleep 0.1
  done
  echo "the installed app showed no painted window within 30 s" >&2
  exit 1
' check-install "$screenshot"

echo "== $rpm ($(du -h "$rpm" | cut -f1))"
rpm -qip "$rpm" 2>/dev/null | grep -E '^(Name|Version|Release|Architecture|License|Summary)'
echo "requires: $(rpm -qp --requires "$rpm" 2>/dev/null | tr '\n' ' ')"
listing=$(rpm -qlp "$rpm" 2>/dev/null)
echo "$listing"
for expected in /usr/bin/session-keeper /usr/bin/session-keeper-token /usr/bin/git-credential-session-keeper "/usr/share/applications/Session Keeper.desktop"; do
  grep -qxF "$expected" <<<"$listing" || { echo "the .rpm lacks $expected" >&2; exit 1; }
done
