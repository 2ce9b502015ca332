// @ts-check
// The dashboard: renders the sessions the shell pushes and counts down from the instants it was given.
// It computes no session state (the core says what to show, who is signed in, when the session ends
// and why); every button is one command, every change arrives as an event. The modules beside this
// one: store (what the page holds), view (words for a snapshot), card and programs (the cards),
// card-actions (their buttons), countdown, timeline and words, dialog, add-provider and
// settings-dialog, events (the shell's), types (the payloads, checked by tsc and pinned by a test).

import { invoke, readable } from "./tauri.js";
import { $, showBanner, state } from "./store.js";
import { render } from "./card.js";
import { wireCards } from "./card-actions.js";
import { closeOnEscape } from "./dialog.js";
import { wireAddDialog } from "./add-provider.js";
import { wireSettingsDialog } from "./settings-dialog.js";
import { listenToShell } from "./events.js";
import { tick } from "./countdown.js";
import { askAtStart, renderVault, wireVault } from "./vault.js";

/** @typedef {import("./types.js").AppState} AppState */

async function start() {
  wireCards();
  wireAddDialog();
  wireSettingsDialog();
  wireVault();
  closeOnEscape();
  $("#banner-close").addEventListener("click", () => ($("#banner").hidden = true));
  // Listen before asking for the state; events that race the answer are covered by it.
  await listenToShell();
  try {
    /** @type {AppState} */
    const initial = await invoke("get_app_state");
    state.settings = initial.settings;
    state.launchAtLogin = initial.launchAtLogin;
    state.questions = initial.questions ?? [];
    state.sessions = new Map(initial.sessions.map((s) => [s.id, s]));
    state.vault = initial.vault;
    state.ready = true;
    render();
    renderVault();
    if (initial.warnings.length) showBanner(initial.warnings.join(" "));
    // Without a keychain, the sealed vault's passphrase is asked before anything else.
    askAtStart();
  } catch (error) {
    showBanner(`The sessions could not be loaded: ${readable(error).message}`);
  }
  $("#main").removeAttribute("aria-busy");
  document.addEventListener("visibilitychange", tick);
  // The first paint shows the true state; only now does the window appear.
  await invoke("window_ready");
  document.documentElement.dataset.ready = "true";
}

start().catch((error) => {
  showBanner(`Session Keeper could not start its page: ${readable(error).message}`);
  invoke("window_ready").catch(() => {});
});
