// @ts-check
// The programs around a session's token, on its card: who asks now (the same question as the
// notification, answered here as well), who had it lately, who may always have it, and the git hosts
// that get it.

import { $, state } from "./store.js";
import { timeOfDay } from "./countdown.js";

/** @typedef {import("./types.js").SessionSnapshot} SessionSnapshot */

/** "/usr/bin/kubectl" → "kubectl". @param {string} path */
export const programName = (path) => path.split("/").pop() || path;
const HANDED_SHOWN = 5;
/** @type {[string, string][]} */
const ANSWERS = [["allowOnce", "Allow once"], ["always", "Always allow"], ["deny", "Deny"]];

/**
 * @param {HTMLElement} card
 * @param {SessionSnapshot} session
 */
export function fillPrograms(card, session) {
  fillQuestions(card, session);
  fillHanded(card, session);
  fillAllowed(card, session);
  const hosts = Object.entries(state.settings?.gitHosts ?? {}).filter(([, id]) => id === session.id).map(([host]) => host).join(", ");
  /** @type {HTMLInputElement} */
  const input = $(".git-form input", card);
  if (document.activeElement !== input && input.dataset.saved !== hosts) {
    input.value = hosts;
    input.dataset.saved = hosts;
  }
}

/** @param {HTMLElement} card @param {SessionSnapshot} session */
function fillQuestions(card, session) {
  const asking = state.questions.filter((q) => q.session === session.id);
  const consent = $(".card-consent", card);
  const shown = /** @type {HTMLElement[]} */ ([...consent.children]).map((c) => c.dataset.program).join("\n");
  if (shown === asking.map((q) => q.program).join("\n")) return;
  consent.replaceChildren(...asking.map((q) => {
    const box = document.createElement("div");
    box.className = "consent";
    box.dataset.program = q.program;
    const text = document.createElement("p");
    text.textContent = `${programName(q.program)} (${q.program}) asks for this session's token.`;
    const buttons = document.createElement("div");
    buttons.className = "consent-actions";
    for (const [answer, label] of ANSWERS) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.action = "consent";
      button.dataset.answer = answer;
      button.textContent = label;
      if (answer !== "allowOnce") button.className = "quiet";
      buttons.append(button);
    }
    box.append(text, buttons);
    return box;
  }));
}

/** @param {HTMLElement} card @param {SessionSnapshot} session */
function fillHanded(card, session) {
  const handed = (session.history ?? []).filter((m) => m.what === "handed_out").slice(-HANDED_SHOWN).reverse();
  $(".handed-none", card).hidden = handed.length > 0;
  const handedList = $(".handed-list", card);
  const handedKey = handed.map((m) => m.at + m.detail + (m.count ?? 1)).join();
  if (handedList.dataset.key === handedKey) return;
  handedList.dataset.key = handedKey;
  handedList.replaceChildren(...handed.map((m) => {
    const item = document.createElement("li");
    // Repeats within a minute are one mark with a count (kubectl and git ask on every command).
    const times = (m.count ?? 1) > 1 ? ` ×${m.count}` : "";
    item.textContent = `${timeOfDay.format(new Date(m.at))} · ${programName(m.detail ?? "")}${times}`;
    item.title = m.detail ?? "";
    return item;
  }));
}

/** @param {HTMLElement} card @param {SessionSnapshot} session */
function fillAllowed(card, session) {
  const allowed = state.settings?.allowedPrograms?.[session.id] ?? [];
  const ask = state.settings?.askBeforeHandOut !== false;
  $(".allowed-title", card).hidden = !ask || allowed.length === 0;
  const allowedList = $(".allowed-list", card);
  if (allowedList.dataset.key === allowed.join("\n") && allowedList.hidden !== ask) return;
  allowedList.dataset.key = allowed.join("\n");
  allowedList.hidden = !ask;
  allowedList.replaceChildren(...allowed.map((program) => {
    const item = document.createElement("li");
    item.dataset.program = program;
    const name = document.createElement("span");
    name.textContent = program;
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "quiet";
    revoke.dataset.action = "forget-program";
    revoke.textContent = "Ask again";
    revoke.setAttribute("aria-label", `Ask again before ${programName(program)} gets a token`);
    item.append(name, revoke);
    return item;
  }));
}
