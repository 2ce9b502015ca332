// @ts-check
// What a card shows, read off the snapshot's own answers: `shown` (signed out, signing in, signed in,
// expired), `refreshing`, `endingSoon`, `failing`, `network`, `who` and `endsAt`. The page works out no session
// state and lists no phases: these functions only choose words and which controls show. Pure, tested
// with `node --test tests/ui`.

import { describeWho } from "./format.js";

/** @typedef {import("./types.js").SessionSnapshot} SessionSnapshot */

/** The badge's words for each thing a person can be shown. */
const SHOWN_WORDS = Object.freeze({
  signed_out: "Signed out",
  signing_in: "Signing in…",
  signed_in: "Active",
  expired: "Expired",
});

/**
 * The badge: what is shown, and for a signed-in session whether a token request is in flight or
 * the session ends soon.
 * @param {SessionSnapshot} session
 * @returns {string}
 */
export function badgeText(session) {
  if (session.shown === "signed_in") {
    if (session.refreshing) return "Refreshing…";
    if (session.network === "offline") return "Offline";
    if (session.network === "portal") return "Network sign-in";
    if (session.endingSoon) return "Expiring";
  }
  return SHOWN_WORDS[session.shown] ?? SHOWN_WORDS.signed_out;
}

/**
 * The badge's colour: "active" (green), "warning", "danger" or "neutral" (style.css `data-tone`).
 * @param {SessionSnapshot} session
 * @returns {"active" | "warning" | "danger" | "neutral"}
 */
export function badgeTone(session) {
  if (session.shown === "expired") return "danger";
  if (session.shown !== "signed_in") return "neutral";
  if (session.network !== "online") return "neutral";
  return session.endingSoon ? "warning" : "active";
}

/**
 * The card's edge: the badge's colour, and a warning while refreshing keeps failing (the core's
 * `failing`, the same threshold the notice and D-Bus's AttentionNeeded use), so a session that
 * needs attention stands out before it ends.
 * @param {SessionSnapshot} session
 */
export function cardTone(session) {
  const tone = badgeTone(session);
  return tone === "active" && session.failing ? "warning" : tone;
}

/**
 * The line under the title: who is signed in, who was, or where the sign-in goes on.
 * @param {SessionSnapshot} session
 * @returns {string}
 */
export function userLine(session) {
  const who = describeWho(session.who);
  if (session.shown === "signed_in") return who || "Signed in";
  if (session.shown === "signing_in" && session.signInWith === "systemBrowser") {
    return "Continue in your web browser: the provider's page opened there.";
  }
  return who ? `Last signed in: ${who}` : "Nobody signed in";
}

/**
 * The card's word on an online refresh token (the core's `refreshTokenOnline`): why the session may
 * end before its countdown says. Empty when there is nothing to say.
 * @param {SessionSnapshot} session
 * @returns {string}
 */
export function refreshTokenNote(session) {
  return session.refreshTokenOnline
    ? "This provider's refresh token lasts only as long as your sign-in there: when that ends, sign in again."
    : "";
}

/** The last silent sign-in's outcome (the core's `silent.last.outcome`), in words. */
const SILENT_OUTCOME_WORDS = Object.freeze({
  renewed: "signed in again by itself",
  needsSignIn: "the provider asked for a sign-in",
  refused: "the provider's answer was refused",
  failed: "signing in again by itself failed",
});

/**
 * The card's line on signing in again by itself (issue 26), read off the core's `silent` and
 * `signInAgainSoon`: whether the app renews the session while the provider's sign-in lasts, or why
 * the person should sign in again now, and the last attempt's outcome at its time of day
 * (`timeOf` formats an instant). Empty when there is nothing to say.
 * @param {SessionSnapshot} session
 * @param {(iso: string) => string} timeOf
 * @returns {string}
 */
export function silentNote(session, timeOf) {
  const silent = session.silent;
  if (!silent) return "";
  /** @type {string[]} */
  const parts = [];
  if (session.shown === "signed_in") {
    if (session.signInAgainSoon) {
      parts.push(
        session.signInWith === "systemBrowser"
          ? "This session ends soon and Session Keeper cannot renew it (you signed in through your browser): sign in again now."
          : "This session ends soon and nothing renews it: sign in again now.",
      );
    } else if (silent.possible) {
      parts.push("Session Keeper signs you in again by itself while your sign-in at the provider lasts.");
    }
  }
  if (silent.attempting) parts.push("Signing in again by itself…");
  else if (silent.last) {
    const words = SILENT_OUTCOME_WORDS[silent.last.outcome] ?? "signing in again by itself ended";
    const message = silent.last.outcome === "renewed" || !silent.last.message ? "" : `: ${silent.last.message}`;
    parts.push(`Last at ${timeOf(silent.last.at)}: ${words}${message}`.replace(/[.]?$/, "."));
  }
  return parts.join(" ");
}

/**
 * The "Sign in again by itself" switch: shown for sessions that sign in in the app's own window
 * (a browser's sign-in cannot be reused), on as the session's setting says.
 * @param {SessionSnapshot} session
 */
export function silentToggle(session) {
  return { visible: session.signInWith !== "systemBrowser" && Boolean(session.silent), checked: session.silent?.enabled ?? true };
}

/** What the card says while the desktop is not online (the core's `network`). */
const NETWORK_WORDS = Object.freeze({
  online: "",
  offline: "Offline: Session Keeper waits for the network to return, and nothing counts as failing meanwhile.",
  portal: "This network holds every connection until you sign in to it (a captive portal): sign in to the network first, in a web browser. Refreshes wait until then.",
});

/**
 * The card's word on the desktop's connectivity: empty while online.
 * @param {SessionSnapshot} session
 * @returns {string}
 */
export function networkNote(session) {
  return NETWORK_WORDS[session.network] ?? "";
}

/**
 * Which of the card's actions show, and how the sign-in button reads.
 * @param {SessionSnapshot} session
 */
export function actions(session) {
  const signedIn = session.shown === "signed_in";
  return {
    signIn: session.shown === "signed_out" || session.shown === "expired",
    signInLabel: session.shown === "expired" ? "Sign in again" : "Sign in",
    cancelSignIn: session.shown === "signing_in",
    refresh: signedIn,
    refreshBusy: session.refreshing,
    signOut: signedIn,
  };
}

/**
 * The instants the card counts down to, each only while signed in. "Session ends" is the core's
 * `endsAt`: the same end the tray and the notice show, whatever makes it (the lifetime, the refresh
 * token's expiry, no refresh token, refreshing failing).
 * @param {SessionSnapshot} session
 */
export function deadlines(session) {
  const signedIn = session.shown === "signed_in";
  return {
    access: signedIn ? session.accessTokenExpiresAt : null,
    session: signedIn ? session.endsAt : null,
    next: signedIn ? session.nextRefreshAt : null,
  };
}

/** Why the session ends then, for the countdown's tooltip. */
const END_WORDS = Object.freeze({
  lifetime: "the session's lifetime ends",
  refreshTokenExpires: "the provider's refresh token expires",
  noRefreshToken: "the provider gave no refresh token, so it ends with the access token",
  refreshFailing: "refreshing fails, so it ends with the access token",
});

/** @param {SessionSnapshot} session @returns {string} */
export function endWords(session) {
  return session.endReason ? (END_WORDS[session.endReason] ?? "") : "";
}

/**
 * What a screen reader hears when a session changes: its badge's new words, except on the way into
 * and out of a refresh (that happens every few minutes and says nothing new). Null: nothing to say.
 * @param {SessionSnapshot | undefined} previous
 * @param {SessionSnapshot} session
 * @returns {string | null}
 */
export function changeAnnouncement(previous, session) {
  if (session.refreshing || previous?.refreshing) return null;
  const now = badgeText(session);
  if (previous && badgeText(previous) === now) return null;
  return `${session.id}: ${now}.`;
}
