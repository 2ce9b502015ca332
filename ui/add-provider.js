// @ts-check
// The Add provider dialog: a preset (or any OpenID provider), its few fields, and one command that
// runs discovery and saves nothing unless the provider answers correctly.

import { PRESETS, preset, issuerFor } from "./presets.js";
import { invoke, readable } from "./tauri.js";
import { $, announce, state } from "./store.js";
import { render } from "./card.js";
import { field, openDialog } from "./dialog.js";

/** @typedef {import("./presets.js").Preset} Preset */
/** @typedef {import("./types.js").SessionSnapshot} SessionSnapshot */

/** @returns {HTMLInputElement[]} */
const presetInputs = () => [...document.querySelectorAll("input[data-preset-field]")].filter((i) => i instanceof HTMLInputElement);

/**
 * The preset's own fields (a tenant, a realm, a domain), built afresh when the preset changes.
 * @param {HTMLFormElement} form
 * @param {Preset} chosen
 */
function showPreset(form, chosen) {
  $("#preset-fields").replaceChildren(
    ...chosen.fields.map((wanted) => {
      const label = document.createElement("label");
      label.append(`${wanted.label} `);
      const input = document.createElement("input");
      input.dataset.presetField = wanted.name;
      input.autocomplete = "off";
      input.required = !wanted.optional;
      if (wanted.placeholder) input.placeholder = wanted.placeholder;
      if (wanted.value !== undefined) input.value = wanted.value;
      label.append(input);
      return label;
    }),
  );
  field(form, "scopes").value = chosen.scopes;
  field(form, "signInWith").value = chosen.signInWith;
  field(form, "consentForOfflineAccess").checked = chosen.consentForOfflineAccess;
  $("#secret-field").hidden = !chosen.clientSecret;
  $("#add-guide").hidden = !chosen.guide;
  $("#open-guide").textContent = chosen.guide ? `how to register a desktop client at ${chosen.label}` : "";
  // A name the user typed stays; one the previous preset filled in follows the new one.
  for (const [name, value] of [["name", chosen.id === "generic" ? "" : chosen.id], ["displayName", chosen.id === "generic" ? "" : chosen.label]]) {
    const input = field(form, name);
    if (!input.value || input.dataset.filled === "true") {
      input.value = value;
      input.dataset.filled = "true";
    }
  }
  fillIssuer(form);
}

/** @returns {Record<string, string>} */
function presetValues() {
  return Object.fromEntries(presetInputs().map((input) => [input.dataset.presetField, input.value]));
}

/** @param {HTMLFormElement} form */
function fillIssuer(form) {
  const chosen = preset(field(form, "preset").value);
  if (!chosen.issuer) return;
  field(form, "issuer").value = issuerFor(chosen.id, presetValues()) ?? "";
}

/** The provider's own CA certificates (PEM text of the chosen file), sent as `caCertificates`. */
let caCertificates = "";

/** The largest CA file the page reads (the core refuses more than 256 KiB with its own words). */
const MAX_CA_FILE = 1024 * 1024;

/**
 * Shows the chosen CA file's name (or nothing) and keeps its text.
 * @param {string} name
 * @param {string} text
 */
function chooseCa(name, text) {
  caCertificates = text;
  $("#ca-name").textContent = name ? `Certificate authority: ${name}` : "";
  $("#ca-chosen").hidden = !name;
  if (!name) /** @type {HTMLInputElement} */ ($("#ca-file")).value = "";
}

/**
 * Reads the file chosen in the CA field; a file too big to be a CA bundle is refused here.
 * @param {HTMLElement} problem
 */
function readCaFile(problem) {
  /** @type {HTMLInputElement} */
  const input = $("#ca-file");
  const file = input.files?.[0];
  if (!file) return chooseCa("", "");
  if (file.size > MAX_CA_FILE) {
    chooseCa("", "");
    problem.textContent = `${file.name} is too big to be a certificate authority's file: choose the CA certificate in PEM form.`;
    return;
  }
  const reader = new FileReader();
  reader.onload = () => chooseCa(file.name, String(reader.result ?? ""));
  reader.onerror = () => {
    chooseCa("", "");
    problem.textContent = `${file.name} could not be read: choose it again.`;
  };
  reader.readAsText(file);
}

export function wireAddDialog() {
  /** @type {HTMLDialogElement} */
  const dialog = $("#add-dialog");
  /** @type {HTMLFormElement} */
  const form = $("#add-form");
  /** @type {HTMLSelectElement} */
  const presetSelect = field(form, "preset");
  for (const p of PRESETS) presetSelect.append(new Option(p.label, p.id));
  /** @type {HTMLButtonElement} */
  const fix = $("#add-fix");
  const problem = $("#add-error");

  $("#open-add").addEventListener("click", () => {
    // Fresh every time: no values, fold or scroll position left from the last time.
    form.reset();
    for (const name of ["name", "displayName"]) delete field(form, name).dataset.filled;
    presetSelect.value = "generic";
    showPreset(form, preset("generic"));
    /** @type {HTMLDetailsElement} */ ($("#add-redirects")).open = false;
    problem.textContent = "";
    fix.hidden = true;
    chooseCa("", "");
    openDialog(dialog);
    dialog.scrollTop = 0;
    presetSelect.focus();
  });
  $("#add-cancel").addEventListener("click", () => dialog.close());
  $("#ca-file").addEventListener("change", () => {
    problem.textContent = "";
    readCaFile(problem);
  });
  $("#ca-clear").addEventListener("click", () => {
    chooseCa("", "");
    $("#ca-file").focus();
  });
  presetSelect.addEventListener("change", () => showPreset(form, preset(presetSelect.value)));
  $("#preset-fields").addEventListener("input", () => fillIssuer(form));
  for (const name of ["name", "displayName"]) {
    const input = field(form, name);
    input.addEventListener("input", () => (input.dataset.filled = "false"));
  }
  $("#open-guide").addEventListener("click", () => {
    const { guide } = preset(presetSelect.value);
    if (guide) invoke("plugin:opener|open_url", { url: guide }).catch((error) => (problem.textContent = readable(error).message));
  });
  fix.addEventListener("click", () => {
    field(form, "issuer").value = fix.dataset.issuer ?? "";
    fix.hidden = true;
    form.requestSubmit();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    /** @type {Record<string, unknown>} */
    const fields = Object.fromEntries([...new FormData(form)].map(([key, value]) => [key, String(value)]));
    delete fields.preset;
    const chosen = preset(presetSelect.value);
    fields.extraAuthorizationParams = chosen.extraAuthorizationParams ?? {};
    // An unchecked box is absent from the form's data: the command is told either way.
    fields.consentForOfflineAccess = field(form, "consentForOfflineAccess").checked;
    fields.caCertificates = caCertificates;
    const missingPresetField = presetInputs().find((input) => input.required && !input.value.trim());
    if (missingPresetField) {
      problem.textContent = `Fill in "${missingPresetField.parentElement?.firstChild?.textContent?.trim()}": the issuer URL is made from it.`;
      missingPresetField.focus();
      return;
    }
    const missing = ["issuer", "clientId", "name"].filter((key) => !String(fields[key] ?? "").trim());
    if (missing.length) {
      problem.textContent = "Issuer URL, client ID and session name are required.";
      field(form, missing[0]).focus();
      return;
    }
    /** @type {HTMLButtonElement} */
    const submit = $("#add-submit");
    submit.disabled = true;
    submit.textContent = "Checking the provider…";
    problem.textContent = "";
    fix.hidden = true;
    try {
      /** @type {SessionSnapshot} */
      const session = await invoke("add_provider", { provider: fields });
      state.sessions.set(session.id, session);
      render();
      dialog.close();
      announce(`${session.id} added. Choose Sign in to sign in.`);
      const signIn = document.querySelector(`li.card[data-id="${CSS.escape(session.id)}"] [data-action="sign-in"]`);
      if (signIn instanceof HTMLElement) signIn.focus();
    } catch (error) {
      const refusal = readable(error);
      problem.textContent = refusal.message;
      if (refusal.suggestedIssuer) {
        fix.dataset.issuer = refusal.suggestedIssuer;
        fix.textContent = `Use ${refusal.suggestedIssuer}`;
        fix.hidden = false;
      }
    } finally {
      submit.disabled = false;
      submit.textContent = "Add";
    }
  });
}
