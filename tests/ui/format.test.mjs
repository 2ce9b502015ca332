// The dashboard's pure formatting, run with `node --test tests/ui` (scripts/test.sh does).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { formatRemaining, describeUser, cssId } from "../../ui/format.js";

const cases = JSON.parse(readFileSync(new URL("./countdown-cases.json", import.meta.url)));

test("countdowns round down like the tray's text", () => {
  for (const { ms, page } of cases) assert.equal(formatRemaining(ms), page, `${ms} ms`);
});

test("a user reads as name and address, or whatever the provider gave", () => {
  assert.equal(describeUser({ subject: "s1", name: "Alice Example", email: "alice@example.test" }), "Alice Example <alice@example.test>");
  assert.equal(describeUser({ subject: "s1", preferredUsername: "alice" }), "alice");
  assert.equal(describeUser({ subject: "s1" }), "s1");
  assert.equal(describeUser(null), "");
});

test("any session name makes a valid, distinct element id", () => {
  assert.equal(cssId("Work 2"), "Work_322");
  assert.notEqual(cssId("a b"), cssId("a_b"));
  assert.match(cssId("ä/ö@x"), /^[a-zA-Z0-9_-]+$/);
});
