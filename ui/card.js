// @ts-check
// The session cards: one per session, in name order, filled from its snapshot (ui/view.js chooses the
// words) and from what the page knows besides (a command's error, a notice, the settings).

import { cssId } from "./format.js";
import { $, setText, state } from "./store.js";
import { actions, badgeText, badgeTone, cardTone, deadlines, endWords, networkNote, refreshTokenNote, silentNote, silentToggle, userLine } from "./view.js";
import { onScreen, setDeadline, setPast, tick, timeOfDay } from "./countdown.js";
import { invoke, readable } from "./tauri.js";
import { drawTimeline } from "./timeline.js";
import { fillPrograms } from "./programs.js";
import { vaultNote } from "./vault-words.js";

/** @typedef {import("./types.js").SessionSnapshot} SessionSnapshot */
/** @typedef {import("./types.js").Settings} Settings */

/** @param {HTMLElement} list @param {string} id @returns {HTMLElement | undefined} */
const cardOf = (list, id) => /** @type {HTMLElement[]} */ ([...list.children]).find((c) => c.dataset.id === id);

/**
 * Everything, or only the card of `changedId` when that card is on the page already.
 * @param {string} [changedId]
 */
export function render(changedId) {
  const list = $("#sessions");
  const changed = changedId && state.sessions.get(changedId);
  const existing = changed && cardOf(list, changed.id);
  if (changed && existing) {
    fillCard(existing, changed);
    tick();
    return;
  }
  const ids = [...state.sessions.keys()].sort((a, b) => a.localeCompare(b));
  for (const card of /** @type {HTMLElement[]} */ ([...list.children])) {
    if (!state.sessions.has(card.dataset.id ?? "")) {
      onScreen.unobserve(card);
      card.remove();
    }
  }
  /** @type {HTMLTemplateElement} */
  const template = $("#card-template");
  ids.forEach((id, index) => {
    let card = cardOf(list, id);
    if (!card) {
      card = /** @type {HTMLElement} */ (template.content.firstElementChild?.cloneNode(true));
      card.dataset.id = id;
      wireSilentToggle(card, id);
      onScreen.observe(card);
    }
    if (list.children[index] !== card) list.insertBefore(card, list.children[index] ?? null);
    const session = state.sessions.get(id);
    if (session) fillCard(card, session);
  });
  $("#empty").hidden = ids.length > 0;
  tick();
}

/** The settings changed: every card shows what they say of it. @param {Settings} settings */
export function applySettings(settings) {
  state.settings = settings;
  render();
}

/**
 * The card's "Sign in again by itself" switch: the plugin's `set_silent_sign_in`, whose answer is the
 * session's new snapshot; a refusal goes on the card and the switch shows the setting as it stands.
 * @param {HTMLElement} card
 * @param {string} id
 */
function wireSilentToggle(card, id) {
  /** @type {HTMLInputElement} */
  const toggle = $('[data-action="silent"]', card);
  toggle.addEventListener("change", async () => {
    state.errors.delete(id);
    toggle.disabled = true;
    try {
      /** @type {SessionSnapshot} */
      const session = await invoke("plugin:session-keeper|set_silent_sign_in", { name: id, enabled: toggle.checked });
      state.sessions.set(id, session);
    } catch (error) {
      state.errors.set(id, readable(error));
    } finally {
      toggle.disabled = false;
      if (state.sessions.has(id)) render(id);
    }
  });
}

/**
 * @param {HTMLElement} card
 * @param {SessionSnapshot} session
 */
function fillCard(card, session) {
  const titleId = `title-${cssId(session.id)}`;
  card.setAttribute("aria-labelledby", titleId);
  const title = $(".card-title", card);
  title.id = titleId;
  setText(title, session.id);
  const inBrowser = session.signInWith === "systemBrowser";
  setText($(".provider", card), `${session.providerName} · ${session.issuer}${inBrowser ? " · sign-in in your browser" : ""}`);
  const badge = $(".badge", card);
  setText(badge, badgeText(session));
  badge.dataset.tone = badgeTone(session);
  card.dataset.tone = cardTone(session);
  setText($(".user", card), userLine(session));
  const online = $(".card-online", card);
  setText(online, [networkNote(session), refreshTokenNote(session)].filter(Boolean).join(" "));
  online.hidden = !online.textContent;
  const silent = $(".card-silent", card);
  setText(silent, silentNote(session, (iso) => timeOfDay.format(new Date(iso))));
  silent.hidden = !silent.textContent;
  const vault = $(".card-vault", card);
  setText(vault, vaultNote(session, state.vault));
  vault.hidden = !vault.textContent;

  const due = deadlines(session);
  setDeadline($('[data-field="access"]', card), due.access);
  setDeadline($('[data-field="session"]', card), due.session, endWords(session));
  setDeadline($('[data-field="next"]', card), due.next);
  setPast($('[data-field="last"]', card), session.lastRefreshAt);

  const error = state.errors.get(session.id) ?? session.lastError;
  const errorLine = $(".card-error", card);
  setText(errorLine, error ? error.message : "");
  if (error) errorLine.dataset.kind = error.kind;
  else delete errorLine.dataset.kind;
  setText($(".card-note", card), state.notes.get(session.id) ?? "");
  drawTimeline($(".timeline", card), session.history ?? [], Date.now());
  fillPrograms(card, session);

  /** @param {string} action @param {boolean} visible */
  const show = (action, visible) => {
    const control = $(`[data-action="${action}"]`, card);
    (control.closest("label") ?? control).hidden = !visible;
  };
  const can = actions(session);
  show("sign-in", can.signIn);
  setText($('[data-action="sign-in"]', card), can.signInLabel);
  show("cancel-sign-in", can.cancelSignIn);
  show("refresh", can.refresh);
  show("sign-out", can.signOut);
  /** @type {HTMLButtonElement} */ ($('[data-action="refresh"]', card)).disabled = can.refreshBusy;
  /** @type {HTMLInputElement} */
  const notify = $('[data-action="notify"]', card);
  notify.checked = !state.settings?.mutedSessions?.includes(session.id);
  notify.disabled = !state.settings?.notifications;
  const silentSwitch = silentToggle(session);
  /** @type {HTMLInputElement} */
  const silentInput = $('[data-action="silent"]', card);
  show("silent", silentSwitch.visible);
  silentInput.checked = silentSwitch.checked;
  for (const button of card.querySelectorAll("button[data-action]")) {
    button.setAttribute("aria-describedby", titleId);
  }
}
