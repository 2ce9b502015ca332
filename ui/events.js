// @ts-check
// The shell's events, each applied to what the page holds and rendered. Listened to before the page
// asks for the state, so nothing that happens meanwhile is missed (the answer covers what raced it).

import { listen } from "./tauri.js";
import { $, announce, showBanner, state } from "./store.js";
import { applySettings, render } from "./card.js";
import { changeAnnouncement } from "./view.js";
import { programName } from "./programs.js";
import { applyVault, askBeforeQuit } from "./vault.js";

/** @typedef {import("./types.js").SessionEvent} SessionEvent */
/** @typedef {import("./types.js").SessionSnapshot} SessionSnapshot */
/** @typedef {import("./types.js").Settings} Settings */
/** @typedef {import("./types.js").Question} Question */
/** @typedef {import("./types.js").SignInFinished} SignInFinished */
/** @typedef {import("./types.js").VaultState} VaultState */

/** @param {SessionEvent} event */
export function applySessionEvent(event) {
  if (event.type === "changed") {
    const previous = state.sessions.get(event.session.id);
    state.sessions.set(event.session.id, event.session);
    // A healthy signed-in session makes an earlier command's error old news. The core clears its
    // last error on every success (a failed refresh always records one), so "no error" is healthy.
    if (event.session.signedIn && !event.session.lastError) {
      state.errors.delete(event.session.id);
    }
    const said = changeAnnouncement(previous, event.session);
    if (said) announce(said);
  } else if (event.type === "removed") {
    state.sessions.delete(event.id);
  } else if (event.type === "storageFailed") {
    state.storageProblem = event.error.message;
    showBanner(event.error.message);
  } else if (event.type === "storageSaved") {
    // The session list is saved again: the banner about it has said its piece.
    if (state.storageProblem && $("#banner-text").textContent === state.storageProblem) $("#banner").hidden = true;
    state.storageProblem = undefined;
    announce("The session list is saved again.");
  }
  render(event.type === "changed" ? event.session.id : undefined);
}

/** @param {Question[]} questions */
function applyQuestions(questions) {
  const before = new Set(state.questions.map((q) => `${q.session}\n${q.program}`));
  state.questions = questions;
  for (const q of questions) {
    if (!before.has(`${q.session}\n${q.program}`)) announce(`${programName(q.program)} asks for ${q.session}'s token.`);
  }
  render();
}

/** @param {SignInFinished} finished */
function applySignIn(finished) {
  if (finished.error) {
    state.errors.set(finished.id, finished.error);
    announce(`${finished.id}: ${finished.error.message}`);
  } else {
    state.errors.delete(finished.id);
    announce(`${finished.id}: signed in.`);
  }
  render();
}

export async function listenToShell() {
  await listen("session-keeper://changed", /** @param {{ payload: SessionEvent }} e */ ({ payload }) => state.ready && applySessionEvent(payload));
  await listen("session-keeper://replaced", /** @param {{ payload: SessionSnapshot[] }} e */ ({ payload }) => {
    state.sessions = new Map(payload.map((s) => [s.id, s]));
    render();
  });
  await listen("settings-changed", /** @param {{ payload: Settings }} e */ ({ payload }) => applySettings(payload));
  await listen("consent-changed", /** @param {{ payload: Question[] }} e */ ({ payload }) => applyQuestions(payload));
  await listen("session-keeper://sign-in-finished", /** @param {{ payload: SignInFinished }} e */ ({ payload }) => applySignIn(payload));
  await listen("vault-changed", /** @param {{ payload: VaultState }} e */ ({ payload }) => state.ready && applyVault(payload));
  await listen("quit-asked", /** @param {{ payload: string[] }} e */ ({ payload }) => askBeforeQuit(payload));
}
