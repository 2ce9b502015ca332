// @ts-check
// What the page holds: the sessions, settings and questions the shell last sent, and the page's own
// notes on them (a command's error, a sign-out notice). Plus the few DOM helpers every module uses.

/** @typedef {import("./types.js").SessionSnapshot} SessionSnapshot */
/** @typedef {import("./types.js").Settings} Settings */
/** @typedef {import("./types.js").Question} Question */
/** @typedef {import("./types.js").ErrorInfo} ErrorInfo */
/** @typedef {import("./types.js").VaultState} VaultState */

/**
 * errors: what failed (red); notes: outcomes worth knowing that are not failures (a sign-out the
 * provider could not revoke), shown as information.
 * @type {{ ready: boolean, sessions: Map<string, SessionSnapshot>, settings: Settings | null,
 *   errors: Map<string, ErrorInfo>, notes: Map<string, string>, launchAtLogin: boolean,
 *   questions: Question[], storageProblem: string | undefined, vault: VaultState | null }}
 */
export const state = {
  ready: false,
  sessions: new Map(),
  settings: null,
  errors: new Map(),
  notes: new Map(),
  launchAtLogin: false,
  questions: [],
  storageProblem: undefined,
  vault: null,
};

/**
 * The element `selector` finds in `root`. Every selector the page uses names markup of its own
 * (index.html), so one that finds nothing is a bug, reported where it happens.
 * @template {Element} [T=HTMLElement]
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {T}
 */
export function $(selector, root = document) {
  const found = root.querySelector(selector);
  if (!found) throw new Error(`The page has no ${selector}`);
  return /** @type {T} */ (found);
}

// Writes only what differs: an unchanged text or attribute costs no layout and no repaint.
/** @param {Element} element @param {string} text */
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/** @param {HTMLElement} element @param {string} text */
export function setTitle(element, text) {
  if (element.title !== text) element.title = text;
}

/** Says `text` to screen readers. @param {string} text */
export function announce(text) {
  const region = $("#announcer");
  region.textContent = "";
  // A fresh text node in a cleared region is announced even when the words repeat.
  requestAnimationFrame(() => (region.textContent = text));
}

/** Shows `text` in the banner above the cards. @param {string} text */
export function showBanner(text) {
  $("#banner-text").textContent = text;
  $("#banner").hidden = false;
}
