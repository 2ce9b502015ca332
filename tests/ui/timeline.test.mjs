// The card's timeline: where a mark lands on the day-long axis, and the sentence a screen reader hears.
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeHistory, lookOf, position } from "../../ui/timeline.js";

test("the axis runs from 24 hours ago to now", () => {
  const now = Date.parse("2026-12-03T12:00:00Z");
  assert.equal(position("2026-12-03T12:00:00Z", now), 300);
  assert.equal(position("2026-12-02T12:00:00Z", now), 0);
  assert.equal(position("2026-12-03T00:00:00Z", now), 150);
  // Older or newer than the axis stays on its ends.
  assert.equal(position("2026-11-30T00:00:00Z", now), 0);
  assert.equal(position("2026-12-04T00:00:00Z", now), 300);
});

test("the history is told in one sentence", () => {
  const history = [
    { at: "2026-12-03T08:00:00Z", what: "signed_in" },
    { at: "2026-12-03T09:00:00Z", what: "refreshed" },
    { at: "2026-12-03T10:00:00Z", what: "refreshed" },
    { at: "2026-12-03T10:30:00Z", what: "refresh_failed", detail: "provider_unavailable" },
    { at: "2026-12-03T10:31:00Z", what: "refresh_failed", detail: "provider_unavailable" },
    { at: "2026-12-03T11:00:00Z", what: "checked", detail: "focus" },
  ];
  assert.equal(describeHistory(history), "Last 24 hours: 1 sign-in, 2 refreshes, 2 failed refreshes (provider unreachable), 1 check.");
  assert.equal(describeHistory([]), "Last 24 hours: nothing happened.");
});

test("a mark that stands for repeats counts them all", () => {
  const history = [
    { at: "2026-12-03T10:00:00Z", what: "refreshed" },
    { at: "2026-12-03T10:01:00Z", what: "handed_out", detail: "/usr/bin/kubectl", count: 37 },
    { at: "2026-12-03T10:01:30Z", what: "handed_out", detail: "/usr/bin/git" },
    { at: "2026-12-03T10:02:00Z", what: "refresh_failed", detail: "provider_unavailable", count: 2 },
  ];
  assert.equal(describeHistory(history), "Last 24 hours: 1 refresh, 2 failed refreshes (provider unreachable), 38 tokens handed out.");
});

test("the sentence says why in words, never a raw kind, and each reason once", () => {
  const history = [
    { at: "2026-12-03T10:00:00Z", what: "refresh_failed", detail: "provider_unavailable" },
    { at: "2026-12-03T10:05:00Z", what: "refresh_failed", detail: "keychain_locked" },
    { at: "2026-12-03T10:10:00Z", what: "refresh_failed", detail: "something_new" },
    { at: "2026-12-03T10:15:00Z", what: "refresh_failed", detail: "another_new_one" },
    { at: "2026-12-03T10:20:00Z", what: "refresh_failed" },
  ];
  const sentence = describeHistory(history);
  assert.equal(sentence, "Last 24 hours: 5 failed refreshes (provider unreachable, keychain locked, another problem).");
  assert.doesNotMatch(sentence, /_/);
});

test("silent sign-ins are told by outcome, their starts not counted again, and drawn as failures unless they renewed", () => {
  const history = [
    { at: "2026-12-03T08:00:00Z", what: "silent_sign_in", detail: "started" },
    { at: "2026-12-03T08:00:01Z", what: "silent_sign_in", detail: "renewed" },
    { at: "2026-12-03T09:00:00Z", what: "silent_sign_in", detail: "started" },
    { at: "2026-12-03T09:00:01Z", what: "silent_sign_in", detail: "needsSignIn" },
    { at: "2026-12-03T09:00:02Z", what: "expired" },
  ];
  assert.equal(describeHistory(history), "Last 24 hours: 2 silent sign-ins (renewed, provider asked for a sign-in), 1 expiry.");
  assert.equal(lookOf(history[1]).className, "ok");
  assert.equal(lookOf(history[3]).className, "bad");
  assert.equal(lookOf({ at: "", what: "silent_sign_in", detail: "refused" }).className, "bad");
  assert.equal(lookOf(history[0]).className, "check");
});
