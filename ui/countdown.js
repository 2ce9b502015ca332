// @ts-check
// The cards' times: countdowns to the instants the core sent, counted down here from the wall clock,
// and past instants as a time of day. Nothing here asks the shell anything.

import { formatRemaining, msUntilChange } from "./format.js";
import { setText, setTitle } from "./store.js";

// One formatter each, made once: WebKit builds a new ICU formatter for every toLocaleString() call,
// outside the script heap, and with 20 cards re-rendered on every event that grew the web process
// by about 1 MiB a second until a garbage collection happened to run.
export const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
export const timeOfDay = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

/**
 * Makes `element` count down to `iso`, or read "—" without one. `why` joins the tooltip's date.
 * @param {HTMLTimeElement} element
 * @param {string | null | undefined} iso
 * @param {string} [why]
 */
export function setDeadline(element, iso, why = "") {
  if (iso) {
    element.dataset.deadline = iso;
    element.dateTime = iso;
    const date = fullDate.format(new Date(iso));
    setTitle(element, why ? `${date}: ${why}` : date);
  } else {
    delete element.dataset.deadline;
    element.removeAttribute("datetime");
    setTitle(element, "");
    setText(element, "—");
  }
}

/**
 * Shows a past instant as a time of day, or "—".
 * @param {HTMLTimeElement} element
 * @param {string | null | undefined} iso
 */
export function setPast(element, iso) {
  delete element.dataset.deadline;
  if (iso) {
    element.dateTime = iso;
    setText(element, timeOfDay.format(new Date(iso)));
    setTitle(element, fullDate.format(new Date(iso)));
  } else {
    element.removeAttribute("datetime");
    setTitle(element, "");
    setText(element, "—");
  }
}

// The cards in view. Only their countdowns are counted down: a text changing in a card nobody sees
// would still cost the web process its work and an accessibility event each (the card's `datetime`
// and title keep the instant). A card coming into view is brought up to date at once.
const visibleCards = new Set();
export const onScreen = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (entry.isIntersecting) visibleCards.add(entry.target);
    else visibleCards.delete(entry.target);
  }
  tick();
});
/** @param {Element} element */
const counting = (element) => {
  const card = element.closest(".card");
  return !card || visibleCards.has(card);
};

// Recount from the wall clock (right after the machine sleeps, with no IPC), write only the texts
// that changed, and wake again when the next one changes, on the wall clock's whole second so that
// every countdown on screen changes in the same repaint: once a second only while one of them is in
// its last minute, otherwise once a minute. Nothing runs while the window is hidden.
/** @type {ReturnType<typeof setTimeout> | undefined} */
let nextTick;
export function tick() {
  clearTimeout(nextTick);
  nextTick = undefined;
  if (document.hidden) return;
  const now = Date.now();
  /** @type {number | null} */
  let wait = null;
  for (const element of document.querySelectorAll("time[data-deadline]")) {
    if (!(element instanceof HTMLTimeElement) || !counting(element)) continue;
    const remaining = Date.parse(element.dataset.deadline ?? "") - now;
    setText(element, formatRemaining(remaining));
    const change = msUntilChange(remaining);
    if (change !== null && (wait === null || change < wait)) wait = change;
  }
  if (wait === null) return;
  // Up to the next whole second after the change (texts change together, at most a second late),
  // and a few milliseconds more: an early wake-up would find the same text.
  const wake = Math.ceil((now + wait) / 1000) * 1000;
  nextTick = setTimeout(tick, wake - now + 5);
}
