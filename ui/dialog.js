// @ts-check
// Dialogs open in place (not in the top layer, which WebKit's WebDriver cannot click into) over a
// backdrop that blocks the page; Escape closes them and focus returns to the button that opened them.

import { $ } from "./store.js";

/** @param {HTMLDialogElement} dialog */
export function openDialog(dialog) {
  const opener = document.activeElement;
  document.body.classList.add("dialog-open");
  $("#main").inert = true;
  dialog.show();
  const close = () => {
    document.body.classList.remove("dialog-open");
    $("#main").inert = false;
    dialog.removeEventListener("close", close);
    if (opener instanceof HTMLElement) opener.focus();
  };
  dialog.addEventListener("close", close);
}

export function closeOnEscape() {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const dialog of document.querySelectorAll("dialog[open]")) /** @type {HTMLDialogElement} */ (dialog).close();
  });
}

/**
 * A form's control by name: every name the page asks for is in its own markup (index.html).
 * @template {Element} [T=HTMLInputElement]
 * @param {HTMLFormElement} form
 * @param {string} name
 * @returns {T}
 */
export function field(form, name) {
  const control = form.elements.namedItem(name);
  if (!(control instanceof Element)) throw new Error(`The form has no single field ${name}`);
  return /** @type {T} */ (control);
}
