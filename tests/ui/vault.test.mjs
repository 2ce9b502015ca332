// Where the tokens live, in words (ui/vault-words.js): the header's line, each card's line, the
// passphrase dialog's modes and checks, and the quit question.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MIN_PASSPHRASE, newPassphraseProblem, passphraseMode, passphraseWords, quitWords, vaultLine, vaultNote } from "../../ui/vault-words.js";

// A vault state as the shell sends it: no keychain, the sealed vault unlocked, unless the case says otherwise.
const vault = (fields = {}) => ({
  inUse: "sealed",
  keychain: false,
  sealedFile: true,
  unlocked: true,
  passphraseNeeded: false,
  memoryOnly: [],
  notice: null,
  ...fields,
});
const session = (fields = {}) => ({ id: "work", signedIn: true, ...fields });

test("the header says which vault holds the tokens", () => {
  assert.equal(vaultLine(vault({ inUse: "keychain", keychain: true })), "Tokens are kept in the keychain.");
  assert.match(vaultLine(vault()), /sealed vault: this desktop has no keychain/);
  assert.match(vaultLine(vault({ keychain: true })), /sealed vault while the keychain refuses them/);
  assert.match(vaultLine(vault({ inUse: "memory_only", unlocked: false, passphraseNeeded: true })), /memory only until you enter the sealed vault's passphrase/);
});

test("each signed-in card says where its tokens are, and which only memory holds", () => {
  assert.equal(vaultNote(session(), vault({ inUse: "keychain", keychain: true })), "Tokens: in the keychain.");
  assert.equal(vaultNote(session(), vault()), "Tokens: in the sealed vault on this computer.");
  assert.match(vaultNote(session(), vault({ inUse: "memory_only", unlocked: false })), /sealed vault, locked\. Enter its passphrase/);
  assert.match(vaultNote(session(), vault({ inUse: "memory_only", unlocked: false, sealedFile: false })), /in memory only\. Quitting now would sign this session out/);
  // The keychain refused this session's rotated tokens: memory only, whatever the others use.
  assert.match(vaultNote(session(), vault({ inUse: "keychain", keychain: true, memoryOnly: ["work"] })), /in memory only/);
  assert.equal(vaultNote(session({ signedIn: false }), vault()), "", "a session without tokens has no line");
  assert.equal(vaultNote(session(), null), "", "nothing before the shell has said");
});

test("the passphrase dialog makes the vault, unlocks it, or changes the passphrase, and says it is not stored", () => {
  assert.equal(passphraseMode(vault({ sealedFile: false, unlocked: false }), false), "create");
  assert.equal(passphraseMode(vault({ unlocked: false }), false), "unlock");
  assert.equal(passphraseMode(vault(), true), "change");
  assert.equal(passphraseMode(vault({ sealedFile: false }), true), "create", "nothing to change without a file");
  for (const mode of ["create", "unlock", "change"]) {
    const words = passphraseWords(mode, vault({ unlocked: mode === "change" }), false);
    assert.match(words.why, /does not store the passphrase/, mode);
    assert.match(words.why, /tokens/, `${mode} says what it protects`);
  }
  const create = passphraseWords("create", vault({ sealedFile: false, unlocked: false }), false);
  assert.equal(create.submit, "Create");
  assert.equal(create.cancel, "Not now");
  assert.match(create.why, /no keychain/);
  const beforeQuit = passphraseWords("unlock", vault({ unlocked: false }), true);
  assert.equal(beforeQuit.submit, "Unlock and quit");
  assert.equal(beforeQuit.cancel, "Stay");
  assert.match(passphraseWords("unlock", vault({ unlocked: false, keychain: true }), false).why, /move to the keychain/);
});

test("a new passphrase is long enough and typed the same twice", () => {
  const long = "x".repeat(MIN_PASSPHRASE);
  assert.equal(newPassphraseProblem(long, long), "");
  assert.match(newPassphraseProblem("short", "short"), /at least 8 characters/);
  assert.match(newPassphraseProblem(long, `${long}y`), /differ/);
});

test("the quit question names whose tokens would be lost and why", () => {
  const one = quitWords(["work"], vault({ inUse: "memory_only", unlocked: false }));
  assert.match(one.text, /^work's tokens are in memory only: this desktop has no keychain and the sealed vault is locked\./);
  assert.match(one.text, /this session is signed out/);
  assert.equal(one.unlock, "Enter the passphrase, then quit");
  const two = quitWords(["work", "home"], vault({ inUse: "keychain", keychain: true, sealedFile: false, unlocked: false }));
  assert.match(two.text, /^The tokens of work, home are in memory only: the keychain refused them/);
  assert.equal(two.unlock, "Choose a passphrase, then quit");
});
