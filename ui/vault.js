// @ts-check
// Where the tokens live, in the window: the header's line, the passphrase dialog (make the sealed
// vault, unlock it, or change its passphrase) and the question before a quit that would sign sessions
// out. The passphrase goes from its field to the shell and nowhere else: the fields are emptied as
// soon as it is sent, and nothing here keeps it.

import { invoke, readable } from "./tauri.js";
import { $, announce, setText, showBanner, state } from "./store.js";
import { field, openDialog } from "./dialog.js";
import { render } from "./card.js";
import { newPassphraseProblem, passphraseMode, passphraseWords, quitWords, vaultLine } from "./vault-words.js";

/** @typedef {import("./types.js").VaultState} VaultState */

/** What the open passphrase dialog does, and whether a quit follows it. */
const open = { mode: /** @type {"create" | "unlock" | "change"} */ ("unlock"), thenQuit: false };
/** The passphrase is asked by itself once; after "Not now" the header's button asks again. */
let askedAtStart = false;

/** The header's line and button, and the Settings group, from the vault state. */
export function renderVault() {
  const vault = state.vault;
  if (!vault) return;
  setText($("#vault-line"), vaultLine(vault));
  const ask = $("#open-passphrase");
  ask.hidden = !vault.passphraseNeeded;
  setText(ask, vault.sealedFile ? "Enter passphrase" : "Choose a passphrase");
  setText($("#settings-vault"), vaultLine(vault));
  $("#change-passphrase").hidden = !vault.sealedFile;
}

/** The shell's word on the vault: rendered, its notice said once. @param {VaultState} vault */
export function applyVault(vault) {
  state.vault = vault;
  if (vault.notice) {
    showBanner(vault.notice);
    announce(vault.notice);
  }
  /** @type {HTMLDialogElement} */
  const dialog = $("#passphrase-dialog");
  // A keychain appeared while the question was open and nothing waits for the passphrase any more.
  if (dialog.open && open.mode === "create" && !vault.passphraseNeeded && !open.thenQuit) dialog.close();
  // A sealed file that was not ours or was damaged has been set aside (the refusal says so): what the
  // dialog asks now is a passphrase for a new one.
  if (dialog.open && open.mode === "unlock" && !vault.sealedFile) {
    const said = $("#passphrase-error").textContent ?? "";
    fillPassphrase(vault, "create", open.thenQuit);
    $("#passphrase-error").textContent = said;
    field($("#passphrase-form"), "passphrase").focus();
  }
  renderVault();
  render();
}

/** At start: the passphrase is asked once, when the tokens need it. */
export function askAtStart() {
  if (state.vault?.passphraseNeeded && !askedAtStart) {
    askedAtStart = true;
    openPassphrase(false, false);
  }
}

/**
 * Opens the passphrase dialog: to change the passphrase (`change`, Settings), else to unlock the
 * sealed vault or make it. `thenQuit`: the person chose to quit once the tokens are safe.
 * @param {boolean} change
 * @param {boolean} thenQuit
 */
function openPassphrase(change, thenQuit) {
  const vault = state.vault;
  if (!vault) return;
  const mode = passphraseMode(vault, change);
  fillPassphrase(vault, mode, thenQuit);
  openDialog($("#passphrase-dialog"));
  field($("#passphrase-form"), mode === "change" ? "current" : "passphrase").focus();
}

/**
 * The dialog's words and fields for `mode`, emptied.
 * @param {VaultState} vault
 * @param {"create" | "unlock" | "change"} mode
 * @param {boolean} thenQuit
 */
function fillPassphrase(vault, mode, thenQuit) {
  Object.assign(open, { mode, thenQuit });
  const words = passphraseWords(mode, vault, thenQuit);
  setText($("#passphrase-title"), words.title);
  setText($("#passphrase-why"), words.why);
  setText($("#passphrase-submit"), words.submit);
  setText($("#passphrase-cancel"), words.cancel);
  /** @type {HTMLFormElement} */
  const form = $("#passphrase-form");
  form.reset();
  $("#passphrase-current-field").hidden = mode !== "change";
  $("#passphrase-confirm-field").hidden = mode === "unlock";
  setText($("#passphrase-label"), mode === "change" ? "New passphrase" : "Passphrase");
  field(form, "passphrase").autocomplete = mode === "unlock" ? "current-password" : "new-password";
  $("#passphrase-error").textContent = "";
}

/** @param {HTMLFormElement} form */
async function submitPassphrase(form) {
  const [current, passphrase, confirm] = ["current", "passphrase", "confirm"].map((name) => field(form, name).value);
  const problem = open.mode === "unlock" ? (passphrase ? "" : "Enter the passphrase.") : newPassphraseProblem(passphrase, confirm);
  if (open.mode === "change" && !current) {
    $("#passphrase-error").textContent = "Enter the current passphrase.";
    return;
  }
  if (problem) {
    $("#passphrase-error").textContent = problem;
    return;
  }
  /** @type {HTMLButtonElement} */
  const submit = $("#passphrase-submit");
  submit.disabled = true;
  $("#passphrase-error").textContent = "";
  const { mode, thenQuit } = open;
  try {
    /** @type {VaultState} */
    const vault =
      mode === "change" ? await invoke("change_passphrase", { old: current, new: passphrase }) : await invoke("unlock_vault", { passphrase });
    form.reset();
    /** @type {HTMLDialogElement} */ ($("#passphrase-dialog")).close();
    applyVault(vault);
    announce(mode === "change" ? "The passphrase was changed." : "The sealed vault is unlocked.");
    if (thenQuit) await invoke("quit", { force: false });
  } catch (error) {
    // Refused (a wrong passphrase, in the core's words): nothing changed; the person tries again.
    $("#passphrase-error").textContent = readable(error).message;
    const again = field(form, mode === "change" ? "current" : "passphrase");
    again.focus();
    again.select();
  } finally {
    submit.disabled = false;
  }
}

/**
 * A Quit from the tray would sign `sessions` out: the person chooses to make the tokens safe first,
 * to quit anyway, or to stay.
 * @param {string[]} sessions
 */
export function askBeforeQuit(sessions) {
  const words = quitWords(sessions, state.vault);
  setText($("#quit-text"), words.text);
  setText($("#quit-unlock"), words.unlock);
  $("#quit-error").textContent = "";
  for (const dialog of document.querySelectorAll("dialog[open]")) /** @type {HTMLDialogElement} */ (dialog).close();
  openDialog($("#quit-dialog"));
  $("#quit-stay").focus();
}

export function wireVault() {
  /** @type {HTMLFormElement} */
  const form = $("#passphrase-form");
  /** @type {HTMLDialogElement} */
  const quitDialog = $("#quit-dialog");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitPassphrase(form);
  });
  // However the dialog closes (a button, Escape), what was typed leaves the page with it.
  $("#passphrase-dialog").addEventListener("close", () => form.reset());
  $("#passphrase-cancel").addEventListener("click", () => /** @type {HTMLDialogElement} */ ($("#passphrase-dialog")).close());
  $("#open-passphrase").addEventListener("click", () => openPassphrase(false, false));
  $("#change-passphrase").addEventListener("click", () => {
    /** @type {HTMLDialogElement} */ ($("#settings-dialog")).close();
    openPassphrase(true, false);
  });
  $("#quit-stay").addEventListener("click", () => quitDialog.close());
  $("#quit-unlock").addEventListener("click", () => {
    quitDialog.close();
    openPassphrase(false, true);
  });
  $("#quit-anyway").addEventListener("click", async () => {
    try {
      await invoke("quit", { force: true });
    } catch (error) {
      $("#quit-error").textContent = readable(error).message;
    }
  });
}
