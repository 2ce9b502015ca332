// The dashboard's pure formatting, run with `node --test tests/ui` (scripts/test.sh does).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { formatRemaining, msUntilChange, describeWho, cssId } from "../../ui/format.js";

const cases = JSON.parse(readFileSync(new URL("./countdown-cases.json", import.meta.url)));

test("countdowns round down like the tray's text", () => {
  for (const { ms, page } of cases) assert.equal(formatRemaining(ms), page, `${ms} ms`);
});

test("from a second on, the page says what the tray says, after \"in\"", () => {
  for (const { ms, tray, page } of cases) if (ms >= 1000) assert.equal(page, `in ${tray}`, `${ms} ms`);
});

// The core chooses the name (`UserProfile::who`: name, login name, e-mail, subject; its own test in
// core/src/user.rs); the page writes it with the address in angle brackets when there is one.
test("a user reads as name and address, or whatever the provider gave", () => {
  assert.equal(describeWho({ name: "Alice Example", email: "alice@example.test" }), "Alice Example <alice@example.test>");
  assert.equal(describeWho({ name: "alice", email: null }), "alice");
  assert.equal(describeWho({ name: "s1", email: null }), "s1");
  assert.equal(describeWho(null), "");
});

test("any session name makes a valid, distinct element id", () => {
  assert.equal(cssId("Work 2"), "Work_322");
  assert.notEqual(cssId("a b"), cssId("a_b"));
  assert.match(cssId("ä/ö@x"), /^[a-zA-Z0-9_-]+$/);
});

test("the countdown is repainted exactly when its text changes, and not in between", () => {
  for (const ms of [999, 1000, 1001, 45000, 59999, 60000, 60001, 90500, 779000, 3599999, 3600000, 3600001, 11520000, 86400000, 183659000]) {
    const wait = msUntilChange(ms);
    assert.ok(wait > 0, `${ms} ms`);
    // One millisecond before the change the text is still the same; at the change it differs.
    assert.equal(formatRemaining(ms - wait + 1), formatRemaining(ms), `${ms} ms, ${wait} ms later`);
    assert.notEqual(formatRemaining(ms - wait), formatRemaining(ms), `${ms} ms, ${wait} ms later`);
  }
  // Minutes and hours change once a minute, days once an hour; only the last minute ticks each second.
  assert.equal(msUntilChange(779000 + 500), 59501);
  assert.equal(msUntilChange(60000 + 500), 501);
  assert.equal(msUntilChange(59500), 501);
  assert.equal(msUntilChange(11520000 + 30000), 30001);
  assert.equal(msUntilChange(183659000 + 1800000), 1800001 + 183659000 % 3600000);
  assert.equal(msUntilChange(0), null);
});
