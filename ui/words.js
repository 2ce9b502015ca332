// @ts-check
// The words people read for what the history records in code: an error's kind and a check's trigger.
// One table each; a kind or trigger this page does not know yet reads as a generic word, never as
// the raw name (`provider_unavailable` means nothing to most people). Pure, tested with
// `node --test tests/ui`.

/**
 * Every error kind, in a few words: the core's (core/src/error.rs `ErrorKind`), the shell's
 * (src-tauri/src/error.rs) and the page's own `unexpected`.
 * @type {Readonly<Record<string, string>>}
 */
export const ERROR_WORDS = Object.freeze({
  invalid_configuration: "provider settings invalid",
  provider_unavailable: "provider unreachable",
  provider_misbehaved: "unusable answer from the provider",
  certificate_rejected: "certificate not trusted",
  proxy_refused: "proxy refused",
  issuer_mismatch: "issuer differs",
  sign_in_rejected: "sign-in refused",
  invalid_redirect: "redirect not accepted",
  no_sign_in_pending: "no sign-in in progress",
  invalid_id_token: "ID token refused",
  session_revoked: "provider ended the session",
  not_signed_in: "not signed in",
  unknown_session: "no such session",
  session_exists: "name taken",
  keychain_locked: "keychain locked",
  keychain_unavailable: "keychain unavailable",
  keychain_failed: "keychain failed",
  vault_locked: "sealed vault locked",
  wrong_passphrase: "wrong passphrase",
  storage_failed: "session file not saved",
  shutdown: "Session Keeper stopping",
  sign_in_timed_out: "sign-in timed out",
  sign_in_cancelled: "sign-in cancelled",
  browser_unavailable: "browser did not open",
  not_offered: "not offered by the provider",
  consent_denied: "program not allowed",
  consent_timed_out: "nobody answered",
  sign_in_needed: "provider asks for a sign-in",
  other_user: "answer for another user",
  window_failed: "window did not open",
  invalid_settings: "settings out of range",
  settings_not_saved: "settings not saved",
  sign_in_replaced: "replaced by a newer sign-in",
  autostart_failed: "start at login not changed",
  unexpected: "unexpected error",
});

/** What an error kind nobody has words for yet reads as. */
export const OTHER_ERROR = "another problem";

/**
 * What asked the provider: the core's triggers (`interval`, `resume`, `focus`, `manual`, `network`) and the
 * names older saved histories use for the first two (`timer`, `wake`).
 * @type {Readonly<Record<string, string>>}
 */
export const TRIGGER_WORDS = Object.freeze({
  interval: "on schedule",
  timer: "on schedule",
  resume: "after waking",
  wake: "after waking",
  focus: "window focused",
  manual: "on request",
  network: "network back",
});

/**
 * How a silent sign-in (issue 26) ended, as the history's `silent_sign_in` marks say it in their
 * detail (the core's outcome words).
 * @type {Readonly<Record<string, string>>}
 */
export const SILENT_WORDS = Object.freeze({
  started: "started",
  renewed: "renewed",
  needsSignIn: "provider asked for a sign-in",
  refused: "answer refused",
  failed: "failed",
});

/** What a trigger nobody has words for yet reads as. */
export const OTHER_TRIGGER = "other reason";

/** @param {string} kind @returns {string} */
export function errorWords(kind) {
  return Object.hasOwn(ERROR_WORDS, kind) ? ERROR_WORDS[kind] : OTHER_ERROR;
}

/** @param {string} trigger @returns {string} */
export function triggerWords(trigger) {
  return Object.hasOwn(TRIGGER_WORDS, trigger) ? TRIGGER_WORDS[trigger] : OTHER_TRIGGER;
}

/**
 * A mark's detail as people read it: a failure's kind and a check's trigger in words, the program a
 * token went to as its path (that is what the person recognises), nothing for the rest.
 * @param {import("./types.js").Mark} mark
 * @returns {string}
 */
export function detailWords(mark) {
  if (!mark.detail) return "";
  if (mark.what === "refresh_failed") return errorWords(mark.detail);
  if (mark.what === "checked") return triggerWords(mark.detail);
  if (mark.what === "handed_out") return mark.detail;
  if (mark.what === "silent_sign_in") return Object.hasOwn(SILENT_WORDS, mark.detail) ? SILENT_WORDS[mark.detail] : OTHER_ERROR;
  return "";
}
