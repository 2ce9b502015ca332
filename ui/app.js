// The dashboard: renders the sessions the shell pushes and counts down from the instants it was given.
// It computes no session state (the core says whether a session is signed in, when it ends and why);
// every button is one command, every change arrives as an event.

import { formatRemaining, describeUser, cssId } from "./format.js";

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const PHASES = {
  signed_out: "Signed out",
  signing_in: "Signing in…",
  active: "Active",
  refreshing: "Refreshing…",
  expiring: "Expiring",
  expired: "Expired",
};

const state = { ready: false, sessions: new Map(), settings: null, errors: new Map(), launchAtLogin: false };
const $ = (selector, root = document) => root.querySelector(selector);

// ---- rendering ----------------------------------------------------------------------------------

function render() {
  const list = $("#sessions");
  const ids = [...state.sessions.keys()].sort((a, b) => a.localeCompare(b));
  for (const card of [...list.children]) {
    if (!state.sessions.has(card.dataset.id)) card.remove();
  }
  ids.forEach((id, index) => {
    let card = [...list.children].find((c) => c.dataset.id === id);
    if (!card) {
      card = $("#card-template").content.firstElementChild.cloneNode(true);
      card.dataset.id = id;
      wireCard(card, id);
    }
    if (list.children[index] !== card) list.insertBefore(card, list.children[index] ?? null);
    fillCard(card, state.sessions.get(id));
  });
  $("#empty").hidden = ids.length > 0;
  tick();
}

function fillCard(card, session) {
  const titleId = `title-${cssId(session.id)}`;
  card.setAttribute("aria-labelledby", titleId);
  const title = $(".card-title", card);
  title.id = titleId;
  title.textContent = session.id;
  const inBrowser = session.signInWith === "systemBrowser";
  $(".provider", card).textContent = `${session.providerName} · ${session.issuer}${inBrowser ? " · sign-in in your browser" : ""}`;
  const badge = $(".badge", card);
  badge.textContent = PHASES[session.phase] ?? session.phase;
  badge.dataset.phase = session.phase;
  card.dataset.phase = session.phase;

  const who = describeUser(session.user);
  const signedIn = session.signedIn && session.phase !== "signing_in";
  $(".user", card).textContent = signedIn
    ? who || "Signed in"
    : session.phase === "signing_in" && inBrowser ? "Continue in your web browser: the provider's page opened there."
    : who ? `Last signed in: ${who}` : "Nobody signed in";

  setDeadline($('[data-field="access"]', card), signedIn ? session.accessTokenExpiresAt : null);
  setDeadline($('[data-field="session"]', card), signedIn ? session.sessionExpiresAt : null);
  setDeadline($('[data-field="next"]', card), signedIn ? session.nextRefreshAt : null);
  setPast($('[data-field="last"]', card), session.lastRefreshAt);

  const error = state.errors.get(session.id) ?? session.lastError;
  const errorLine = $(".card-error", card);
  errorLine.textContent = error ? error.message : "";
  if (error) errorLine.dataset.kind = error.kind;
  else delete errorLine.dataset.kind;

  const show = (action, visible) => {
    const control = $(`[data-action="${action}"]`, card);
    (control.closest("label") ?? control).hidden = !visible;
  };
  show("sign-in", !signedIn && session.phase !== "signing_in");
  $('[data-action="sign-in"]', card).textContent = session.phase === "expired" ? "Sign in again" : "Sign in";
  show("cancel-sign-in", session.phase === "signing_in");
  show("refresh", signedIn);
  show("sign-out", signedIn);
  $('[data-action="refresh"]', card).disabled = session.phase === "refreshing";
  const notify = $('[data-action="notify"]', card);
  notify.checked = !state.settings?.mutedSessions?.includes(session.id);
  notify.disabled = !state.settings?.notifications;
  for (const button of card.querySelectorAll("button[data-action]")) {
    button.setAttribute("aria-describedby", titleId);
  }
}

function setDeadline(element, iso) {
  if (iso) {
    element.dataset.deadline = iso;
    element.dateTime = iso;
    element.title = new Date(iso).toLocaleString();
  } else {
    delete element.dataset.deadline;
    element.removeAttribute("datetime");
    element.title = "";
    element.textContent = "—";
  }
}

function setPast(element, iso) {
  delete element.dataset.deadline;
  if (iso) {
    element.dateTime = iso;
    element.textContent = new Date(iso).toLocaleTimeString();
    element.title = new Date(iso).toLocaleString();
  } else {
    element.removeAttribute("datetime");
    element.textContent = "—";
  }
}

// Every second, recount from the wall clock: right after the machine sleeps, with no IPC.
function tick() {
  const now = Date.now();
  for (const element of document.querySelectorAll("time[data-deadline]")) {
    element.textContent = formatRemaining(Date.parse(element.dataset.deadline) - now);
  }
}

function announce(text) {
  const region = $("#announcer");
  region.textContent = "";
  // A fresh text node in a cleared region is announced even when the words repeat.
  requestAnimationFrame(() => (region.textContent = text));
}

function showBanner(text) {
  $("#banner-text").textContent = text;
  $("#banner").hidden = false;
}

// ---- commands -----------------------------------------------------------------------------------

function readable(error) {
  if (error && typeof error === "object" && "message" in error) return error;
  return { kind: "unexpected", message: `Something went wrong: ${String(error)}` };
}

async function run(id, button, command, args) {
  state.errors.delete(id);
  if (button) button.disabled = true;
  try {
    return await invoke(command, args);
  } catch (error) {
    state.errors.set(id, readable(error));
    return undefined;
  } finally {
    if (button) button.disabled = false;
    if (state.sessions.has(id)) render();
  }
}

function wireCard(card, id) {
  card.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    switch (button.dataset.action) {
      case "sign-in":
        await run(id, button, "sign_in", { id });
        break;
      case "cancel-sign-in":
        await run(id, button, "cancel_sign_in", { id });
        break;
      case "refresh": {
        const session = await run(id, button, "refresh_session", { id });
        if (session) {
          state.sessions.set(id, session);
          render();
          announce(`${id} refreshed.`);
        }
        break;
      }
      case "sign-out": {
        const outcome = await run(id, button, "sign_out", { id });
        if (outcome) {
          state.sessions.set(id, outcome.session);
          if (outcome.problems.length) {
            state.errors.set(id, { kind: "sign_out_incomplete", message: `Signed out on this computer. ${outcome.problems.join(" ")}` });
          }
          render();
        }
        break;
      }
      case "remove":
        // Resolves to null on success, undefined on failure (the card then shows why).
        if ((await run(id, button, "remove_session", { id })) !== undefined) {
          state.sessions.delete(id);
          render();
          announce(`${id} removed.`);
        }
        break;
    }
  });
  card.addEventListener("change", async (event) => {
    if (event.target.dataset.action !== "notify") return;
    const settings = await run(id, null, "set_session_notifications", { id, enabled: event.target.checked });
    if (settings) applySettings(settings);
  });
}

function applySessionEvent(event) {
  if (event.type === "changed") {
    const previous = state.sessions.get(event.session.id);
    state.sessions.set(event.session.id, event.session);
    // A healthy signed-in session makes an earlier command's error old news.
    if (event.session.signedIn && !event.session.lastError && event.session.consecutiveFailures === 0) {
      state.errors.delete(event.session.id);
    }
    const was = previous?.phase;
    const now = event.session.phase;
    if (was !== now && now !== "refreshing" && was !== "refreshing") {
      announce(`${event.session.id}: ${PHASES[now] ?? now}.`);
    }
  } else if (event.type === "removed") {
    state.sessions.delete(event.id);
  } else if (event.type === "storageFailed") {
    showBanner(event.error.message);
  }
  render();
}

// ---- dialogs ------------------------------------------------------------------------------------

// Dialogs open in place (not in the top layer, which WebKit's WebDriver cannot click into) over a
// backdrop that blocks the page; Escape closes them and focus returns to the button that opened them.
function openDialog(dialog) {
  const opener = document.activeElement;
  document.body.classList.add("dialog-open");
  $("#main").inert = true;
  dialog.show();
  const close = () => {
    document.body.classList.remove("dialog-open");
    $("#main").inert = false;
    dialog.removeEventListener("close", close);
    opener?.focus?.();
  };
  dialog.addEventListener("close", close);
}

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
});

function wireAddDialog() {
  const dialog = $("#add-dialog");
  const form = $("#add-form");
  $("#open-add").addEventListener("click", () => {
    $("#add-error").textContent = "";
    openDialog(dialog);
    form.elements.name.focus();
  });
  $("#add-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = Object.fromEntries(new FormData(form));
    const missing = ["name", "issuer", "clientId"].filter((key) => !fields[key]?.trim());
    if (missing.length) {
      $("#add-error").textContent = "Session name, issuer URL and client ID are required.";
      form.elements[missing[0]].focus();
      return;
    }
    const submit = $("#add-submit");
    submit.disabled = true;
    submit.textContent = "Checking the provider…";
    $("#add-error").textContent = "";
    try {
      const session = await invoke("add_provider", { provider: fields });
      state.sessions.set(session.id, session);
      render();
      dialog.close();
      form.reset();
      announce(`${session.id} added. Choose Sign in to sign in.`);
      $(`li.card[data-id="${CSS.escape(session.id)}"] [data-action="sign-in"]`)?.focus();
    } catch (error) {
      $("#add-error").textContent = readable(error).message;
    } finally {
      submit.disabled = false;
      submit.textContent = "Add";
    }
  });
}

function fillSettingsForm(settings) {
  const form = $("#settings-form");
  const periodic = settings.enablePeriodically;
  form.elements.periodic.value = periodic === true ? "second" : periodic === false || periodic === 0 ? "off" : "custom";
  if (typeof periodic === "number" && periodic > 0) form.elements.periodSeconds.value = Math.round(periodic / 1000);
  form.elements.enableOnWindowFocus.checked = settings.enableOnWindowFocus;
  form.elements.leadTimeSeconds.value = settings.leadTimeSeconds;
  form.elements.validationMaxAgeSeconds.value = settings.validationMaxAgeSeconds;
  form.elements.notifications.checked = settings.notifications;
  form.elements.ephemeralSignIn.checked = settings.ephemeralSignIn;
  form.elements.launchAtLogin.checked = state.launchAtLogin;
  $("#period-label").hidden = form.elements.periodic.value !== "custom";
}

function wireSettingsDialog() {
  const dialog = $("#settings-dialog");
  const form = $("#settings-form");
  $("#open-settings").addEventListener("click", () => {
    fillSettingsForm(state.settings);
    $("#settings-error").textContent = "";
    openDialog(dialog);
    form.elements.periodic.focus();
  });
  $("#settings-cancel").addEventListener("click", () => dialog.close());
  form.elements.periodic.addEventListener("change", () => {
    $("#period-label").hidden = form.elements.periodic.value !== "custom";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const e = form.elements;
    const periodic = e.periodic.value === "off" ? false : e.periodic.value === "second" ? true : Math.round(Number(e.periodSeconds.value) * 1000);
    const settings = {
      ...state.settings,
      enablePeriodically: periodic,
      enableOnWindowFocus: e.enableOnWindowFocus.checked,
      leadTimeSeconds: Number(e.leadTimeSeconds.value),
      validationMaxAgeSeconds: Number(e.validationMaxAgeSeconds.value),
      notifications: e.notifications.checked,
      ephemeralSignIn: e.ephemeralSignIn.checked,
    };
    if (!Number.isInteger(settings.leadTimeSeconds) || !Number.isInteger(settings.validationMaxAgeSeconds) || (typeof periodic === "number" && !(periodic >= 1000))) {
      $("#settings-error").textContent = "Use whole numbers of seconds: a lead time of 0 to 3600, a re-check interval of 1 or more, a period of at least 1.";
      return;
    }
    try {
      applySettings(await invoke("save_settings", { settings }));
      if (e.launchAtLogin.checked !== state.launchAtLogin) {
        state.launchAtLogin = await invoke("set_launch_at_login", { enabled: e.launchAtLogin.checked });
      }
      dialog.close();
      announce("Settings saved.");
    } catch (error) {
      $("#settings-error").textContent = readable(error).message;
    }
  });
}

function applySettings(settings) {
  state.settings = settings;
  render();
}

// ---- start --------------------------------------------------------------------------------------

async function start() {
  wireAddDialog();
  wireSettingsDialog();
  $("#banner-close").addEventListener("click", () => ($("#banner").hidden = true));
  // Listen before asking for the state; events that race the answer are covered by it.
  await listen("session-changed", ({ payload }) => state.ready && applySessionEvent(payload));
  await listen("sessions-replaced", ({ payload }) => {
    state.sessions = new Map(payload.map((s) => [s.id, s]));
    render();
  });
  await listen("settings-changed", ({ payload }) => applySettings(payload));
  await listen("sign-in-finished", ({ payload }) => {
    if (payload.error) {
      state.errors.set(payload.id, payload.error);
      announce(`${payload.id}: ${payload.error.message}`);
    } else {
      state.errors.delete(payload.id);
      announce(`${payload.id}: signed in.`);
    }
    render();
  });
  try {
    const initial = await invoke("get_app_state");
    state.settings = initial.settings;
    state.launchAtLogin = initial.launchAtLogin;
    state.sessions = new Map(initial.sessions.map((s) => [s.id, s]));
    state.ready = true;
    render();
    if (initial.warnings.length) showBanner(initial.warnings.join(" "));
  } catch (error) {
    showBanner(`The sessions could not be loaded: ${readable(error).message}`);
  }
  $("#main").removeAttribute("aria-busy");
  setInterval(tick, 1000);
  // The first paint shows the true state; only now does the window appear.
  await invoke("window_ready");
  document.documentElement.dataset.ready = "true";
}

start().catch((error) => {
  showBanner(`Session Keeper could not start its page: ${readable(error).message}`);
  invoke("window_ready").catch(() => {});
});
