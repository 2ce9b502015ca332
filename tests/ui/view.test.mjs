// What a card shows, read off the snapshot's own answers (ui/view.js), and the page's shape.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { actions, badgeText, badgeTone, cardTone, changeAnnouncement, deadlines, endWords, networkNote, refreshTokenNote, silentNote, silentToggle, userLine } from "../../ui/view.js";

const alice = { name: "Alice Example", email: "alice@example.test" };

// A snapshot as the core sends it, signed in unless the case says otherwise.
const snapshot = (fields = {}) => ({
  id: "work",
  providerName: "Example ID",
  issuer: "https://id.example.test",
  signInWith: "embeddedWindow",
  user: { subject: "s1", name: "Alice Example", email: "alice@example.test", preferredUsername: "alice" },
  who: alice,
  phase: "active",
  shown: "signed_in",
  refreshing: false,
  endingSoon: false,
  failing: false,
  network: "online",
  needsAttention: false,
  signedIn: true,
  endsAt: "2026-12-10T12:00:00Z",
  endReason: "lifetime",
  canExtend: true,
  accessTokenExpiresAt: "2026-12-03T13:00:00Z",
  refreshTokenExpiresAt: null,
  sessionExpiresAt: "2026-12-10T12:00:00Z",
  signedInAt: "2026-12-03T12:00:00Z",
  lastRefreshAt: null,
  nextRefreshAt: "2026-12-03T12:59:00Z",
  hasRefreshToken: true,
  refreshTokenOnline: false,
  consecutiveFailures: 0,
  lastError: null,
  history: [],
  silent: { enabled: true, possible: false, attempting: false, last: null },
  signInAgainSoon: false,
  ...fields,
});

test("the badge says what is shown, and while signed in whether it refreshes or ends soon", () => {
  assert.equal(badgeText(snapshot({ shown: "signed_out", signedIn: false })), "Signed out");
  assert.equal(badgeText(snapshot({ shown: "signing_in" })), "Signing in…");
  assert.equal(badgeText(snapshot()), "Active");
  assert.equal(badgeText(snapshot({ refreshing: true })), "Refreshing…");
  assert.equal(badgeText(snapshot({ endingSoon: true })), "Expiring");
  assert.equal(badgeText(snapshot({ shown: "expired", signedIn: false })), "Expired");
});

test("the card says when the provider gave an online refresh token only, and nothing otherwise", () => {
  assert.equal(
    refreshTokenNote(snapshot({ refreshTokenOnline: true })),
    "This provider's refresh token lasts only as long as your sign-in there: when that ends, sign in again.",
  );
  assert.equal(refreshTokenNote(snapshot()), "");
});

test("the badge's colour follows the badge; the card's edge warns while refreshing keeps failing", () => {
  assert.equal(badgeTone(snapshot()), "active");
  assert.equal(badgeTone(snapshot({ refreshing: true })), "active");
  assert.equal(badgeTone(snapshot({ endingSoon: true })), "warning");
  assert.equal(badgeTone(snapshot({ shown: "expired" })), "danger");
  assert.equal(badgeTone(snapshot({ shown: "signed_out" })), "neutral");
  assert.equal(badgeTone(snapshot({ shown: "signing_in" })), "neutral");
  assert.equal(cardTone(snapshot({ failing: true, needsAttention: true })), "warning");
  assert.equal(badgeText(snapshot({ failing: true })), "Active", "the badge still says it is signed in");
  assert.equal(cardTone(snapshot()), "active");
});

test("who is shown by the core's display rule, with the address in angle brackets", () => {
  assert.equal(userLine(snapshot()), "Alice Example <alice@example.test>");
  assert.equal(userLine(snapshot({ who: { name: "alice@example.test", email: null } })), "alice@example.test");
  assert.equal(userLine(snapshot({ who: null })), "Signed in");
  assert.equal(userLine(snapshot({ shown: "signed_out" })), "Last signed in: Alice Example <alice@example.test>");
  assert.equal(userLine(snapshot({ shown: "expired", who: null })), "Nobody signed in");
  assert.match(userLine(snapshot({ shown: "signing_in", signInWith: "systemBrowser" })), /^Continue in your web browser/);
  assert.equal(userLine(snapshot({ shown: "signing_in" })), "Last signed in: Alice Example <alice@example.test>");
});

test("the actions follow what is shown", () => {
  assert.deepEqual(actions(snapshot()), { signIn: false, signInLabel: "Sign in", cancelSignIn: false, refresh: true, refreshBusy: false, signOut: true });
  assert.equal(actions(snapshot({ refreshing: true })).refreshBusy, true);
  assert.deepEqual(actions(snapshot({ shown: "signed_out" })), { signIn: true, signInLabel: "Sign in", cancelSignIn: false, refresh: false, refreshBusy: false, signOut: false });
  assert.deepEqual(actions(snapshot({ shown: "expired" })), { signIn: true, signInLabel: "Sign in again", cancelSignIn: false, refresh: false, refreshBusy: false, signOut: false });
  // Signing in again while signed in: the tokens are still held, but only the cancel button shows.
  assert.deepEqual(actions(snapshot({ shown: "signing_in", signedIn: true })), { signIn: false, signInLabel: "Sign in", cancelSignIn: true, refresh: false, refreshBusy: false, signOut: false });
});

test("'Session ends' is the core's end, the one the tray and the notice show", () => {
  // No refresh token: the session ends with the access token in 2 minutes, though its lifetime
  // would run a week (the card said "in 6 d 23 h" while the tray said "2 min left").
  const short = snapshot({
    hasRefreshToken: false,
    canExtend: false,
    accessTokenExpiresAt: "2026-12-03T12:02:00Z",
    sessionExpiresAt: "2026-12-10T12:00:00Z",
    endsAt: "2026-12-03T12:02:00Z",
    endReason: "noRefreshToken",
    nextRefreshAt: null,
  });
  assert.equal(deadlines(short).session, "2026-12-03T12:02:00Z");
  assert.match(endWords(short), /no refresh token/);
  assert.deepEqual(deadlines(snapshot({ shown: "expired" })), { access: null, session: null, next: null });
  assert.equal(endWords(snapshot({ endReason: null })), "");
});

test("a screen reader hears each change of the badge, but not refreshes", () => {
  assert.equal(changeAnnouncement(undefined, snapshot()), "work: Active.");
  assert.equal(changeAnnouncement(snapshot(), snapshot()), null);
  assert.equal(changeAnnouncement(snapshot(), snapshot({ refreshing: true })), null);
  assert.equal(changeAnnouncement(snapshot({ refreshing: true }), snapshot()), null);
  assert.equal(changeAnnouncement(snapshot(), snapshot({ endingSoon: true })), "work: Expiring.");
  assert.equal(changeAnnouncement(snapshot({ endingSoon: true }), snapshot({ shown: "expired" })), "work: Expired.");
});

const ui = new URL("../../ui/", import.meta.url);
const files = readdirSync(ui).filter((name) => !name.startsWith("."));

test("the page lists no phases: no module but the payload types names one", () => {
  for (const name of files.filter((n) => n.endsWith(".js") && n !== "types.js")) {
    const source = readFileSync(new URL(name, ui), "utf8");
    assert.doesNotMatch(source, /\.phase\b|data-phase|\bPHASES\b/, `${name} reads the machine's phase`);
  }
  assert.doesNotMatch(readFileSync(new URL("style.css", ui), "utf8"), /data-phase/);
});

test("every file of the page stays readable at once, and every module is type-checked", () => {
  for (const name of files) {
    const source = readFileSync(new URL(name, ui), "utf8");
    const lines = source.split("\n").length - (source.endsWith("\n") ? 1 : 0);
    assert.ok(lines <= 300, `ui/${name} has ${lines} lines (at most 300)`);
    if (name.endsWith(".js")) assert.ok(source.startsWith("// @ts-check\n"), `ui/${name} starts with // @ts-check`);
  }
});

test("every tone the view gives has its colour in the style sheet", () => {
  const css = readFileSync(new URL("style.css", ui), "utf8");
  const states = [snapshot(), snapshot({ endingSoon: true }), snapshot({ failing: true }), snapshot({ shown: "expired" }), snapshot({ shown: "signed_out" })];
  for (const tone of new Set(states.flatMap((s) => [badgeTone(s), cardTone(s)]))) {
    if (tone === "neutral") continue; // the default look, no rule of its own
    assert.match(css, new RegExp(`\\.card\\[data-tone="${tone}"\\]`), `.card ${tone}`);
    assert.match(css, new RegExp(`\\.badge\\[data-tone="${tone}"\\]`), `.badge ${tone}`);
  }
});

test("offline or behind a captive portal the card says so, neutrally, instead of failing", () => {
  const offline = snapshot({ network: "offline" });
  assert.equal(badgeText(offline), "Offline");
  assert.equal(badgeTone(offline), "neutral");
  assert.equal(cardTone(offline), "neutral");
  assert.match(networkNote(offline), /^Offline: Session Keeper waits for the network/);
  const portal = snapshot({ network: "portal" });
  assert.equal(badgeText(portal), "Network sign-in");
  assert.match(networkNote(portal), /sign in to the network first/);
  assert.equal(networkNote(snapshot()), "", "online says nothing");
  assert.equal(badgeText(snapshot({ network: "offline", refreshing: true })), "Refreshing…", "a request in flight is said first");
  assert.equal(badgeText(snapshot({ network: "offline", shown: "expired" })), "Expired", "an ended session stays ended");
  assert.equal(changeAnnouncement(snapshot(), offline), "work: Offline.");
});

// The instant as the card writes it: a fixed stand-in, so the words do not depend on the locale.
const at = (iso) => `[${iso.slice(11, 16)}]`;

test("the card says the app renews a session by itself while the provider's sign-in lasts, and nothing where it cannot", () => {
  const renews = snapshot({ silent: { enabled: true, possible: true, attempting: false, last: null } });
  assert.equal(silentNote(renews, at), "Session Keeper signs you in again by itself while your sign-in at the provider lasts.");
  assert.equal(silentNote(snapshot(), at), "", "no silent browser or not possible: nothing to promise");
  assert.equal(silentNote({ ...renews, shown: "signed_out", signedIn: false }, at), "", "a signed-out session renews nothing");
});

test("a session nothing renews says to sign in again now, in the browser's case why", () => {
  assert.equal(silentNote(snapshot({ signInAgainSoon: true }), at), "This session ends soon and nothing renews it: sign in again now.");
  assert.equal(
    silentNote(snapshot({ signInAgainSoon: true, signInWith: "systemBrowser" }), at),
    "This session ends soon and Session Keeper cannot renew it (you signed in through your browser): sign in again now.",
  );
});

test("the last silent sign-in's outcome is said in words at its time, with the provider's reason when it did not renew", () => {
  const last = (outcome, message = null) => snapshot({ silent: { enabled: true, possible: true, attempting: false, last: { at: "2026-12-03T11:58:00Z", outcome, message } } });
  const promise = "Session Keeper signs you in again by itself while your sign-in at the provider lasts.";
  assert.equal(silentNote(last("renewed"), at), `${promise} Last at [11:58]: signed in again by itself.`);
  assert.equal(silentNote(last("refused", "The answer was for another user."), at), `${promise} Last at [11:58]: the provider's answer was refused: The answer was for another user.`);
  assert.equal(silentNote(last("failed", "The hidden window did not redirect within 15 s"), at), `${promise} Last at [11:58]: signing in again by itself failed: The hidden window did not redirect within 15 s.`);
  const needs = snapshot({ shown: "expired", signedIn: false, silent: { enabled: true, possible: false, attempting: false, last: { at: "2026-12-03T11:58:00Z", outcome: "needsSignIn", message: null } } });
  assert.equal(silentNote(needs, at), "Last at [11:58]: the provider asked for a sign-in.");
  const attempting = snapshot({ silent: { enabled: true, possible: true, attempting: true, last: null } });
  assert.equal(silentNote(attempting, at), `${promise} Signing in again by itself…`);
});

test("the switch shows for sessions signed in in the app's window, as the setting says", () => {
  assert.deepEqual(silentToggle(snapshot()), { visible: true, checked: true });
  assert.deepEqual(silentToggle(snapshot({ silent: { enabled: false, possible: false, attempting: false, last: null } })), { visible: true, checked: false });
  assert.equal(silentToggle(snapshot({ signInWith: "systemBrowser" })).visible, false, "a browser's sign-in cannot be reused");
});
