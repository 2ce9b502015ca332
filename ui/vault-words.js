// @ts-check
// The words about where the tokens live, read off the shell's VaultState (src-tauri/src/vaults.rs):
// the header's line, each card's line, the passphrase dialog's and the quit question's. The shell
// decides which sessions' tokens only memory holds; these functions only choose words. Pure, tested
// with `node --test tests/ui`.

/** @typedef {import("./types.js").VaultState} VaultState */
/** @typedef {import("./types.js").SessionSnapshot} SessionSnapshot */

/** The shortest passphrase the sealed vault is made with. */
export const MIN_PASSPHRASE = 8;

/**
 * The header's line: where tokens go now.
 * @param {VaultState} vault
 * @returns {string}
 */
export function vaultLine(vault) {
  if (vault.inUse === "keychain") return "Tokens are kept in the keychain.";
  if (vault.inUse === "sealed") {
    return vault.keychain
      ? "Tokens are kept in the sealed vault while the keychain refuses them."
      : "Tokens are kept in the sealed vault: this desktop has no keychain.";
  }
  return "No keychain on this desktop: tokens are in memory only until you enter the sealed vault's passphrase.";
}

/**
 * The card's line: where this session's tokens are. Empty for a session that holds none.
 * @param {SessionSnapshot} session
 * @param {VaultState | null} vault
 * @returns {string}
 */
export function vaultNote(session, vault) {
  if (!session.signedIn || !vault) return "";
  if (vault.memoryOnly.includes(session.id)) return "Tokens: in memory only. Quitting now would sign this session out.";
  if (vault.inUse === "keychain") return "Tokens: in the keychain.";
  if (vault.inUse === "sealed") return "Tokens: in the sealed vault on this computer.";
  return vault.sealedFile
    ? "Tokens: in the sealed vault, locked. Enter its passphrase to use them."
    : "Tokens: in memory only. Quitting now would sign this session out.";
}

/**
 * What the passphrase dialog does: make the sealed vault, unlock it, or change its passphrase.
 * @param {VaultState} vault
 * @param {boolean} change
 * @returns {"create" | "unlock" | "change"}
 */
export function passphraseMode(vault, change) {
  if (change && vault.sealedFile) return "change";
  return vault.sealedFile ? "unlock" : "create";
}

const NOT_STORED = "Session Keeper does not store the passphrase: it asks for it once each time you log in. If it is forgotten, the sessions need a new sign-in.";

/**
 * The dialog's title, its explanation, its button and its cancel button's words.
 * @param {"create" | "unlock" | "change"} mode
 * @param {VaultState} vault
 * @param {boolean} thenQuit the person chose to quit once the tokens are safe
 */
export function passphraseWords(mode, vault, thenQuit) {
  if (mode === "change") {
    return {
      title: "Change the sealed vault's passphrase",
      why: `The sealed vault keeps your sessions' tokens in a file on this computer, encrypted with its passphrase. The tokens stay as they are; only the passphrase changes. ${NOT_STORED}`,
      submit: "Change passphrase",
      cancel: "Cancel",
    };
  }
  const reason = vault.keychain
    ? "The keychain does not take the tokens now (it may be locked)."
    : "This desktop has no keychain (Secret Service).";
  const why =
    mode === "unlock"
      ? vault.keychain
        ? `A keychain is available now. Enter the sealed vault's passphrase once more so that the tokens in it can move to the keychain. ${NOT_STORED}`
        : `${reason} Session Keeper keeps your sessions' tokens in a sealed vault: a file on this computer, encrypted with your passphrase. Enter it to use them; until then new tokens stay in memory only. ${NOT_STORED}`
      : `${reason} Session Keeper can keep your sessions' tokens in a sealed vault: a file on this computer, encrypted with a passphrase you choose. Without it the tokens are in memory only, and quitting signs you out. ${NOT_STORED}`;
  return {
    title: mode === "unlock" ? "Enter the sealed vault's passphrase" : "Choose a passphrase for the sealed vault",
    why,
    submit: `${mode === "unlock" ? "Unlock" : "Create"}${thenQuit ? " and quit" : ""}`,
    cancel: thenQuit ? "Stay" : "Not now",
  };
}

/**
 * What is wrong with a new passphrase and its confirmation, or "" when nothing is.
 * @param {string} passphrase
 * @param {string} confirm
 * @returns {string}
 */
export function newPassphraseProblem(passphrase, confirm) {
  if (passphrase.length < MIN_PASSPHRASE) return `Choose a passphrase of at least ${MIN_PASSPHRASE} characters.`;
  if (passphrase !== confirm) return "The two passphrases differ: type the same one twice.";
  return "";
}

/**
 * The quit question: whose tokens quitting would lose, and why they are only in memory.
 * @param {string[]} sessions
 * @param {VaultState | null} vault
 */
export function quitWords(sessions, vault) {
  const whose = sessions.length === 1 ? `${sessions[0]}'s tokens are` : `The tokens of ${sessions.join(", ")} are`;
  const why = vault?.keychain
    ? "the keychain refused them (it may be locked)"
    : "this desktop has no keychain and the sealed vault is locked";
  const them = sessions.length === 1 ? "this session is signed out on this computer and needs" : "these sessions are signed out on this computer and need";
  return {
    text: `${whose} in memory only: ${why}. If Session Keeper quits now, ${them} a new sign-in.`,
    unlock: vault?.sealedFile ? "Enter the passphrase, then quit" : "Choose a passphrase, then quit",
  };
}
