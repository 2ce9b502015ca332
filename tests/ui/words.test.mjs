// The words the timeline says for an error's kind and a check's trigger.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ERROR_WORDS, TRIGGER_WORDS, SILENT_WORDS, OTHER_ERROR, OTHER_TRIGGER, errorWords, triggerWords, detailWords } from "../../ui/words.js";

// The core's kinds are pinned against ErrorKind::ALL by core/tests/page_types.rs (every kind has
// words there); the shell's own kinds are these (src-tauri/src/error.rs).
const SHELL_KINDS = ["window_failed", "invalid_settings", "settings_not_saved", "sign_in_cancelled", "sign_in_replaced", "autostart_failed"];

test("every error kind of the shell has words, and the page's own", () => {
  for (const kind of [...SHELL_KINDS, "unexpected"]) assert.notEqual(errorWords(kind), OTHER_ERROR, kind);
});

test("words are words: no underscores, no raw names", () => {
  for (const [kind, words] of [...Object.entries(ERROR_WORDS), ...Object.entries(TRIGGER_WORDS)]) {
    assert.doesNotMatch(words, /_/, kind);
    assert.notEqual(words, kind);
  }
});

test("all six trigger names read as words, old and new alike", () => {
  assert.equal(triggerWords("interval"), triggerWords("timer"));
  assert.equal(triggerWords("resume"), triggerWords("wake"));
  for (const trigger of ["interval", "resume", "focus", "manual", "network", "timer", "wake"]) assert.notEqual(triggerWords(trigger), OTHER_TRIGGER, trigger);
  assert.equal(new Set(["interval", "resume", "focus", "manual"].map(triggerWords)).size, 4, "the four triggers read differently");
});

test("an unknown kind or trigger gets a generic word, never the raw string", () => {
  assert.equal(errorWords("quantum_flux"), OTHER_ERROR);
  assert.equal(errorWords("toString"), OTHER_ERROR, "not a property of every object");
  assert.equal(triggerWords("telepathy"), OTHER_TRIGGER);
  assert.equal(triggerWords("constructor"), OTHER_TRIGGER);
});

test("a mark's detail reads as words, the program as its path", () => {
  assert.equal(detailWords({ at: "", what: "refresh_failed", detail: "session_revoked" }), ERROR_WORDS.session_revoked);
  assert.equal(detailWords({ at: "", what: "checked", detail: "wake" }), TRIGGER_WORDS.resume);
  assert.equal(detailWords({ at: "", what: "handed_out", detail: "/usr/bin/git" }), "/usr/bin/git");
  assert.equal(detailWords({ at: "", what: "signed_in" }), "");
});

test("a silent sign-in's outcome reads as words, an unknown one generically", () => {
  for (const outcome of ["started", "renewed", "needsSignIn", "refused", "failed"]) {
    const words = detailWords({ at: "", what: "silent_sign_in", detail: outcome });
    assert.equal(words, SILENT_WORDS[outcome], outcome);
    assert.doesNotMatch(words, /[A-Z_]/, outcome);
  }
  assert.equal(detailWords({ at: "", what: "silent_sign_in", detail: "constructor" }), OTHER_ERROR);
  assert.equal(errorWords("sign_in_needed"), "provider asks for a sign-in");
});
