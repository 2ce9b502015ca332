// Pure formatting for the dashboard, tested with `node --test tests/ui` against the same table of
// cases as the tray's text (tests/ui/countdown-cases.json): both round down to the unit they show.

// "in 1 min 56 s", "in 3 h 12 min", "in 2 d 3 h", "now".
export function formatRemaining(ms) {
  if (ms <= 0) return "now";
  const total = Math.floor(ms / 1000);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (days > 0) return `in ${days} d ${hours} h`;
  if (hours > 0) return `in ${hours} h ${minutes} min`;
  if (minutes > 0) return `in ${minutes} min ${String(seconds).padStart(2, "0")} s`;
  return `in ${seconds} s`;
}

// How long until formatRemaining(ms) reads differently: a second while seconds show, a minute while
// hours and minutes show, an hour while days show; null once it reads "now" for good.
export function msUntilChange(ms) {
  if (ms <= 0) return null;
  if (ms < 1000) return ms; // "in 0 s" turns to "now" at 0
  const unit = ms >= 86400000 ? 3600000 : ms >= 3600000 ? 60000 : 1000;
  // The text rounds down to the unit, so it changes when ms drops below the multiple it shows.
  return (ms % unit) + 1;
}

// "Alice Example <alice@example.test>", or the login name or subject when there is no name.
export function describeUser(user) {
  if (!user) return "";
  return [user.name ?? user.preferredUsername ?? user.subject, user.email && `<${user.email}>`].filter(Boolean).join(" ");
}

// A string usable in an element id.
export function cssId(text) {
  return text.replace(/[^a-zA-Z0-9_-]/g, (c) => `_${c.charCodeAt(0)}`);
}
