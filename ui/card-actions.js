// @ts-check
// The cards' buttons: each is one command of the shell. What changes arrives as an event as well;
// a command's answer is shown at once, and its refusal on the card it came from. Listened to once,
// on the list, so a card made later needs no wiring of its own.

import { invoke, readable } from "./tauri.js";
import { $, announce, state } from "./store.js";
import { applySettings, render } from "./card.js";
import { programName } from "./programs.js";

/** @typedef {import("./types.js").SessionSnapshot} SessionSnapshot */
/** @typedef {import("./types.js").SignedOut} SignedOut */
/** @typedef {import("./types.js").Settings} Settings */

/**
 * Runs `command` for session `id` with `button` disabled meanwhile; its refusal goes on the card.
 * Resolves to the answer, or undefined when it was refused.
 * @template T
 * @param {string} id
 * @param {HTMLButtonElement | null} button
 * @param {string} command
 * @param {Record<string, unknown>} args
 * @returns {Promise<T | undefined>}
 */
async function run(id, button, command, args) {
  state.errors.delete(id);
  state.notes.delete(id);
  if (button) button.disabled = true;
  try {
    return await invoke(command, args);
  } catch (error) {
    state.errors.set(id, readable(error));
    return undefined;
  } finally {
    if (button) button.disabled = false;
    if (state.sessions.has(id)) render(id);
  }
}

/** @param {EventTarget | null} target */
const cardId = (target) => (target instanceof Element ? target.closest("li.card")?.getAttribute("data-id") : null) ?? null;

/**
 * @param {string} id
 * @param {HTMLButtonElement} button
 */
async function act(id, button) {
  switch (button.dataset.action) {
    case "sign-in":
      await run(id, button, "plugin:session-keeper|sign_in", { name: id });
      break;
    case "cancel-sign-in":
      await run(id, button, "plugin:session-keeper|cancel_sign_in", { name: id });
      break;
    case "refresh": {
      /** @type {SessionSnapshot | undefined} */
      const session = await run(id, button, "plugin:session-keeper|refresh", { name: id });
      if (session) {
        state.sessions.set(id, session);
        render();
        announce(`${id} refreshed.`);
      }
      break;
    }
    case "sign-out": {
      /** @type {SignedOut | undefined} */
      const outcome = await run(id, button, "plugin:session-keeper|sign_out", { name: id });
      if (outcome) {
        state.sessions.set(id, outcome.session);
        if (outcome.notice) state.notes.set(id, outcome.notice);
        render();
        announce(outcome.notice ?? `${id}: signed out.`);
      }
      break;
    }
    case "consent": {
      const program = /** @type {HTMLElement} */ (button.closest(".consent")).dataset.program;
      await run(id, button, "answer_consent", { id, program, answer: button.dataset.answer });
      break;
    }
    case "forget-program": {
      const program = /** @type {HTMLElement} */ (button.closest("li")).dataset.program ?? "";
      /** @type {Settings | undefined} */
      const settings = await run(id, button, "forget_program", { id, program });
      if (settings) {
        applySettings(settings);
        announce(`${programName(program)} will be asked again.`);
      }
      break;
    }
    case "remove":
      // Resolves to null on success, undefined on failure (the card then shows why).
      if ((await run(id, button, "remove_session", { id })) !== undefined) {
        state.sessions.delete(id);
        render();
        announce(`${id} removed.`);
      }
      break;
  }
}

export function wireCards() {
  const list = $("#sessions");
  list.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-action]") : null;
    const id = cardId(button);
    if (id === null || !(button instanceof HTMLButtonElement)) return;
    await act(id, button);
  });
  list.addEventListener("submit", async (event) => {
    const form = event.target;
    const id = cardId(form);
    if (id === null || !(form instanceof HTMLFormElement) || !form.classList.contains("git-form")) return;
    event.preventDefault();
    const input = /** @type {HTMLInputElement} */ (form.elements.namedItem("gitHosts"));
    const hosts = input.value.split(",").map((h) => h.trim()).filter(Boolean);
    const pressed = /** @type {SubmitEvent} */ (event).submitter;
    const submitter = pressed instanceof HTMLButtonElement ? pressed : null;
    /** @type {Settings | undefined} */
    const settings = await run(id, submitter, "set_git_hosts", { id, hosts });
    if (settings) {
      applySettings(settings);
      announce(hosts.length ? `git gets ${id}'s token at ${hosts.join(", ")}.` : `git gets no token from ${id}.`);
    }
  });
  list.addEventListener("change", async (event) => {
    const toggle = event.target;
    const id = cardId(toggle);
    if (id === null || !(toggle instanceof HTMLInputElement) || toggle.dataset.action !== "notify") return;
    /** @type {Settings | undefined} */
    const settings = await run(id, null, "set_session_notifications", { id, enabled: toggle.checked });
    if (settings) applySettings(settings);
  });
}
