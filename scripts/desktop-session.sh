#!/usr/bin/env bash
# Runs a command inside a private desktop session: its own D-Bus session bus with an unlocked
# gnome-keyring (a real Secret Service) and, with --display, Xvfb and dunst (a real notification
# server). Nothing of the user's own keychain or desktop is touched.
#   scripts/desktop-session.sh [--open-bus] [--display] -- command args...
# --open-bus lets other users' programs onto the private bus (scripts/test-bus.conf), so that a test
# can check that the app itself refuses them; a normal session bus keeps them out already.
# With --display, dunst's context menu (`dunstctl context`) picks the action named in the file
# $DUNST_CHOICE_FILE (two lines: part of the notification's summary, then the action's key), so a
# test answers a notification with several actions the way a user picks one.
set -euo pipefail

if [ "${1:-}" != "--inside" ]; then
  bus=()
  if [ "${1:-}" = "--open-bus" ]; then
    bus=(--config-file="$(cd "$(dirname "$0")" && pwd)/test-bus.conf"); shift
  fi
  # The private bus's dbus-daemons complain that they cannot raise their fd limit and narrate the
  # accessibility bus starting: nothing anyone can act on, so those lines are dropped; all else passes.
  exec dbus-run-session "${bus[@]}" -- "$0" --inside "$@" 2> >(grep --line-buffered -v -E '^dbus-daemon\[[0-9]+\]: |^SpiRegistry daemon is running' >&2)
fi
shift
display=0
if [ "${1:-}" = "--display" ]; then display=1; shift; fi
[ "${1:-}" = "--" ] && shift

scratch=$(mktemp -d)
cleanup() {
  [ -n "${keyring_pid:-}" ] && kill "$keyring_pid" 2>/dev/null || true
  [ -n "${dunst_pid:-}" ] && kill "$dunst_pid" 2>/dev/null || true
  [ -n "${xvfb_pid:-}" ] && kill "$xvfb_pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

# A fresh keyring folder, so an old keyring with another password never starts locked.
export XDG_DATA_HOME="$scratch/data" XDG_RUNTIME_DIR="$scratch/run"
mkdir -p "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
printf 'session-keeper-test' | gnome-keyring-daemon --foreground --unlock --components=secrets >"$scratch/keyring.log" 2>&1 &
keyring_pid=$!
# Wait until the Secret Service answers on the bus (bounded).
for _ in $(seq 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
       org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
    break
  fi
  sleep 0.05
done

if [ "$display" = 1 ]; then
  for n in $(seq 90 140); do [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || break; done
  Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >"$scratch/xvfb.log" 2>&1 &
  xvfb_pid=$!
  export DISPLAY=":$n"
  for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.05; done
  export DUNST_CHOICE_FILE="$scratch/dunst-choice"
  cat >"$scratch/dunst-choose" <<'CHOOSE'
#!/bin/sh
# dunst's dmenu: the menu's lines read "#<label> (<summary>) [<id>,<key>]"; print the one asked for.
summary=$(sed -n 1p "$DUNST_CHOICE_FILE" 2>/dev/null)
key=$(sed -n 2p "$DUNST_CHOICE_FILE" 2>/dev/null)
[ -n "$key" ] || exit 0
line=$(grep -F -- "($summary" | grep -F -- ",$key]" | head -n 1)
[ -n "$line" ] && printf '%s\n' "$line" >"$DUNST_CHOICE_FILE.picked"
printf '%s\n' "$line"
CHOOSE
  chmod +x "$scratch/dunst-choose"
  printf '[global]\n    dmenu = %s\n' "$scratch/dunst-choose" >"$scratch/dunstrc"
  dunst -config "$scratch/dunstrc" >"$scratch/dunst.log" 2>&1 &
  dunst_pid=$!
fi

"$@"
