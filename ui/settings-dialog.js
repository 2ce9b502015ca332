// @ts-check
// The Settings dialog: the settings in force, edited and saved in one command; they apply at once.

import { invoke, readable } from "./tauri.js";
import { $, announce, state } from "./store.js";
import { applySettings } from "./card.js";
import { field, openDialog } from "./dialog.js";

/** @typedef {import("./types.js").Settings} Settings */

/** @param {HTMLFormElement} form */
function showPeriod(form) {
  $("#period-label").hidden = field(form, "periodic").value !== "custom";
}

/** @param {Settings} settings */
function fillSettingsForm(settings) {
  /** @type {HTMLFormElement} */
  const form = $("#settings-form");
  const periodic = settings.enablePeriodically;
  field(form, "periodic").value = periodic === true ? "second" : periodic === false || periodic === 0 ? "off" : "custom";
  if (typeof periodic === "number" && periodic > 0) field(form, "periodSeconds").value = String(Math.round(periodic / 1000));
  field(form, "enableOnWindowFocus").checked = settings.enableOnWindowFocus;
  field(form, "leadTimeSeconds").value = String(settings.leadTimeSeconds);
  field(form, "validationMaxAgeSeconds").value = String(settings.validationMaxAgeSeconds);
  field(form, "notifications").checked = settings.notifications;
  field(form, "ephemeralSignIn").checked = settings.ephemeralSignIn;
  field(form, "askBeforeHandOut").checked = settings.askBeforeHandOut;
  field(form, "launchAtLogin").checked = state.launchAtLogin;
  showPeriod(form);
}

export function wireSettingsDialog() {
  /** @type {HTMLDialogElement} */
  const dialog = $("#settings-dialog");
  /** @type {HTMLFormElement} */
  const form = $("#settings-form");
  $("#open-settings").addEventListener("click", () => {
    if (state.settings) fillSettingsForm(state.settings);
    $("#settings-error").textContent = "";
    openDialog(dialog);
    field(form, "periodic").focus();
  });
  $("#settings-cancel").addEventListener("click", () => dialog.close());
  field(form, "periodic").addEventListener("change", () => showPeriod(form));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    /** @param {string} name */
    const value = (name) => field(form, name).value;
    /** @param {string} name */
    const checked = (name) => field(form, name).checked;
    const periodic = value("periodic") === "off" ? false : value("periodic") === "second" ? true : Math.round(Number(value("periodSeconds")) * 1000);
    /** @type {Settings} */
    const settings = {
      .../** @type {Settings} */ (state.settings),
      enablePeriodically: periodic,
      enableOnWindowFocus: checked("enableOnWindowFocus"),
      leadTimeSeconds: Number(value("leadTimeSeconds")),
      validationMaxAgeSeconds: Number(value("validationMaxAgeSeconds")),
      notifications: checked("notifications"),
      ephemeralSignIn: checked("ephemeralSignIn"),
      askBeforeHandOut: checked("askBeforeHandOut"),
    };
    if (!Number.isInteger(settings.leadTimeSeconds) || !Number.isInteger(settings.validationMaxAgeSeconds) || (typeof periodic === "number" && !(periodic >= 1000))) {
      $("#settings-error").textContent = "Use whole numbers of seconds: a lead time of 0 to 3600, a re-check interval of 1 or more, a period of at least 1.";
      return;
    }
    try {
      applySettings(await invoke("save_settings", { settings }));
      if (checked("launchAtLogin") !== state.launchAtLogin) {
        state.launchAtLogin = await invoke("set_launch_at_login", { enabled: checked("launchAtLogin") });
      }
      dialog.close();
      announce("Settings saved.");
    } catch (error) {
      $("#settings-error").textContent = readable(error).message;
    }
  });
}
