// @ts-check
// Pure formatting for the dashboard, tested with `node --test tests/ui` against the same table of
// cases as the tray's text (tests/ui/countdown-cases.json): both round down to the unit they show.

// "in 45 s", "in 12 min", "in 3 h 12 min", "in 2 d 3 h", "now": the tray's words (src-tauri's
// `tray::remaining`) after "in". Seconds show only in a countdown's last minute, when they matter;
// above it the text changes once a minute, so a window of idle sessions repaints once a minute and
// not once a second (each repaint costs WebKitGTK about 10 ms of CPU in its software path).
/** @param {number} ms @returns {string} */
export function formatRemaining(ms) {
  if (ms <= 0) return "now";
  const total = Math.floor(ms / 1000);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  if (days > 0) return `in ${days} d ${hours} h`;
  if (hours > 0) return `in ${hours} h ${minutes} min`;
  if (minutes > 0) return `in ${minutes} min`;
  return `in ${total} s`;
}

// How long until formatRemaining(ms) reads differently: a second in the last minute, a minute while
// minutes (and hours) show, an hour while days show; null once it reads "now" for good.
/** @param {number} ms @returns {number | null} */
export function msUntilChange(ms) {
  if (ms <= 0) return null;
  if (ms < 1000) return ms; // "in 0 s" turns to "now" at 0
  const unit = ms >= 86400000 ? 3600000 : ms >= 60000 ? 60000 : 1000;
  // The text rounds down to the unit, so it changes when ms drops below the multiple it shows.
  return (ms % unit) + 1;
}

// "Alice Example <alice@example.test>": the name the core chose by its one display rule
// (`UserProfile::who`: name, login name, e-mail or subject), and the e-mail address when it is not
// already the name. The page chooses nothing; it only writes the angle brackets.
/** @param {import("./types.js").Who | null | undefined} who @returns {string} */
export function describeWho(who) {
  if (!who) return "";
  return who.email ? `${who.name} <${who.email}>` : who.name;
}

// A string usable in an element id.
/** @param {string} text @returns {string} */
export function cssId(text) {
  return text.replace(/[^a-zA-Z0-9_-]/g, (c) => `_${c.charCodeAt(0)}`);
}
