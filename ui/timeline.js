// @ts-check
// The card's picture of the last 24 hours, drawn as SVG from the history the core keeps (no chart
// library): sign-ins, refreshes, failures and why, scheduled, focus, wake and requested checks,
// silent sign-ins and their outcome, expiry, sign-outs and hand-outs along a day-long axis, each with its time as a tooltip, and the
// whole told in one sentence for screen readers. Both say words (ui/words.js), never a raw kind.

import { detailWords, errorWords } from "./words.js";

/** @typedef {import("./types.js").Mark} Mark */

const SPAN = 24 * 3600 * 1000;
const WIDTH = 300;
const AXIS = 22;
const SVG = "http://www.w3.org/2000/svg";

// What each mark looks like: a tall line for what changed the session, a short one for a check.
/** @type {Record<string, { label: string, className: string, height: number }>} */
const LOOK = {
  signed_in: { label: "Signed in", className: "ok", height: 16 },
  refreshed: { label: "Refreshed", className: "ok", height: 10 },
  refresh_failed: { label: "Refresh failed", className: "bad", height: 16 },
  checked: { label: "Checked", className: "check", height: 6 },
  expired: { label: "Expired", className: "bad", height: 20 },
  signed_out: { label: "Signed out", className: "neutral", height: 16 },
  handed_out: { label: "Token handed out", className: "check", height: 8 },
  silent_sign_in: { label: "Signed in again by itself", className: "ok", height: 16 },
};

/**
 * A mark's look: a silent sign-in that did not renew the session is drawn as a failure.
 * @param {Mark} mark
 */
export function lookOf(mark) {
  const look = LOOK[mark.what] ?? LOOK.checked;
  if (mark.what !== "silent_sign_in" || mark.detail === "renewed") return look;
  if (mark.detail === "started") return { label: "Silent sign-in", className: "check", height: 8 };
  return { label: "Silent sign-in", className: "bad", height: 16 };
}

const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

/**
 * @param {string} name
 * @param {Record<string, string | number>} attributes
 * @param {string} [text]
 * @returns {SVGElement}
 */
function element(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * "Last 24 hours: 1 sign-in, 12 refreshes, 2 failed refreshes (provider unreachable), 5 checks."
 * @param {Mark[]} history
 * @returns {string}
 */
export function describeHistory(history) {
  // A mark stands for `count` repeats within a minute (the core counts them into one).
  /** @param {string} what */
  const count = (what) => history.filter((mark) => mark.what === what);
  /** @param {Mark[]} marks */
  const total = (marks) => marks.reduce((sum, mark) => sum + (mark.count ?? 1), 0);
  /** @type {string[]} */
  const parts = [];
  /** @param {number} n @param {string} one @param {string} many */
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  /** @param {string} what @param {string} one @param {string} many */
  const add = (what, one, many) => {
    const n = total(count(what));
    if (n) parts.push(plural(n, one, many));
  };
  add("signed_in", "sign-in", "sign-ins");
  add("refreshed", "refresh", "refreshes");
  // Silent sign-ins by outcome; the start of each is not counted again.
  const silent = count("silent_sign_in").filter((mark) => mark.detail !== "started");
  if (silent.length) {
    const outcomes = [...new Set(silent.map((mark) => detailWords(mark)))];
    parts.push(`${plural(total(silent), "silent sign-in", "silent sign-ins")} (${outcomes.join(", ")})`);
  }
  const failed = count("refresh_failed");
  if (failed.length) {
    // Two kinds with the same words (or two unknown ones) are said once.
    const kinds = [...new Set(failed.flatMap((mark) => (mark.detail ? [errorWords(mark.detail)] : [])))];
    parts.push(`${plural(total(failed), "failed refresh", "failed refreshes")}${kinds.length ? ` (${kinds.join(", ")})` : ""}`);
  }
  add("checked", "check", "checks");
  add("expired", "expiry", "expiries");
  add("signed_out", "sign-out", "sign-outs");
  add("handed_out", "token handed out", "tokens handed out");
  return `Last 24 hours: ${parts.length ? parts.join(", ") : "nothing happened"}.`;
}

/**
 * x of an instant on the axis that ends at `now`.
 * @param {string} at
 * @param {number} now
 */
export function position(at, now) {
  return Math.max(0, Math.min(WIDTH, ((Date.parse(at) - (now - SPAN)) / SPAN) * WIDTH));
}

/**
 * Draws `history` into the card's `svg`, unless it drew the same within the minute.
 * @param {SVGSVGElement} svg
 * @param {Mark[]} history
 * @param {number} now
 */
export function drawTimeline(svg, history, now) {
  const key = JSON.stringify(history) + Math.floor(now / 60000);
  if (svg.dataset.key === key) return; // unchanged within the minute: no repaint
  svg.dataset.key = key;
  svg.setAttribute("aria-label", describeHistory(history));
  const parts = [element("line", { class: "axis", x1: 0, y1: AXIS, x2: WIDTH, y2: AXIS })];
  /** @type {[number, string][]} */
  const ticks = [[24, "start"], [12, "middle"], [0, "end"]];
  for (const [hours, anchor] of ticks) {
    const x = WIDTH - (hours / 24) * WIDTH;
    parts.push(element("line", { class: "tick", x1: x, y1: AXIS, x2: x, y2: AXIS + 3 }));
    parts.push(element("text", { x, y: 33, "text-anchor": anchor }, hours ? `−${hours} h` : "now"));
  }
  for (const mark of history) {
    const look = lookOf(mark);
    const x = position(mark.at, now);
    const line = element("line", { class: `mark ${look.className}`, x1: x, y1: AXIS, x2: x, y2: AXIS - look.height });
    const words = detailWords(mark);
    const detail = words ? ` (${words})` : "";
    const times = (mark.count ?? 1) > 1 ? ` ×${mark.count}` : "";
    line.append(element("title", {}, `${look.label}${detail}${times} at ${clock.format(new Date(mark.at))}`));
    line.dataset.what = mark.what;
    parts.push(line);
  }
  svg.replaceChildren(...parts);
}
