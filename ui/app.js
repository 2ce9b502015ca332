// The dashboard: renders the sessions the shell pushes and counts down from the instants it was given.
// It computes no session state (the core says whether a session is signed in, when it ends and why);
// every button is one command, every change arrives as an event.

import { formatRemaining, msUntilChange, describeUser, cssId } from "./format.js";
import { PRESETS, preset, issuerFor } from "./presets.js";
import { drawTimeline } from "./timeline.js";

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

// errors: what failed (red); notes: outcomes worth knowing that are not failures (a sign-out the
// provider could not revoke), shown as information.
const state = { ready: false, sessions: new Map(), settings: null, errors: new Map(), notes: new Map(), launchAtLogin: false, questions: [] };
const $ = (selector, root = document) => root.querySelector(selector);
// One formatter each, made once: WebKit builds a new ICU formatter for every toLocaleString() call,
// outside the script heap, and with 20 cards re-rendered on every event that grew the web process
// by about 1 MiB a second until a garbage collection happened to run.
const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const timeOfDay = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
// Writes only what differs: an unchanged text or attribute costs no layout and no repaint.
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}
function setTitle(element, text) {
  if (element.title !== text) element.title = text;
}

// ---- rendering ----------------------------------------------------------------------------------

// Everything, or only the card of `changedId` when that card is on the page already.
function render(changedId) {
  const list = $("#sessions");
  const existing = changedId && state.sessions.has(changedId) && [...list.children].find((c) => c.dataset.id === changedId);
  if (existing) {
    fillCard(existing, state.sessions.get(changedId));
    tick();
    return;
  }
  const ids = [...state.sessions.keys()].sort((a, b) => a.localeCompare(b));
  for (const card of [...list.children]) {
    if (!state.sessions.has(card.dataset.id)) {
      onScreen.unobserve(card);
      card.remove();
    }
  }
  ids.forEach((id, index) => {
    let card = [...list.children].find((c) => c.dataset.id === id);
    if (!card) {
      card = $("#card-template").content.firstElementChild.cloneNode(true);
      card.dataset.id = id;
      wireCard(card, id);
      onScreen.observe(card);
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
  setText(title, session.id);
  const inBrowser = session.signInWith === "systemBrowser";
  setText($(".provider", card), `${session.providerName} · ${session.issuer}${inBrowser ? " · sign-in in your browser" : ""}`);
  const badge = $(".badge", card);
  setText(badge, PHASES[session.phase] ?? session.phase);
  badge.dataset.phase = session.phase;
  card.dataset.phase = session.phase;

  const who = describeUser(session.user);
  const signedIn = session.signedIn && session.phase !== "signing_in";
  setText($(".user", card), signedIn
    ? who || "Signed in"
    : session.phase === "signing_in" && inBrowser ? "Continue in your web browser: the provider's page opened there."
    : who ? `Last signed in: ${who}` : "Nobody signed in");

  setDeadline($('[data-field="access"]', card), signedIn ? session.accessTokenExpiresAt : null);
  setDeadline($('[data-field="session"]', card), signedIn ? session.sessionExpiresAt : null);
  setDeadline($('[data-field="next"]', card), signedIn ? session.nextRefreshAt : null);
  setPast($('[data-field="last"]', card), session.lastRefreshAt);

  const error = state.errors.get(session.id) ?? session.lastError;
  const errorLine = $(".card-error", card);
  setText(errorLine, error ? error.message : "");
  if (error) errorLine.dataset.kind = error.kind;
  else delete errorLine.dataset.kind;
  setText($(".card-note", card), state.notes.get(session.id) ?? "");
  drawTimeline($(".timeline", card), session.history ?? [], Date.now());
  fillPrograms(card, session);

  const show = (action, visible) => {
    const control = $(`[data-action="${action}"]`, card);
    (control.closest("label") ?? control).hidden = !visible;
  };
  show("sign-in", !signedIn && session.phase !== "signing_in");
  setText($('[data-action="sign-in"]', card), session.phase === "expired" ? "Sign in again" : "Sign in");
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

const programName = (path) => path.split("/").pop() || path;
const HANDED_SHOWN = 5;

// Who may have this session's token, who asks now, who had it lately, and the git hosts.
function fillPrograms(card, session) {
  const asking = state.questions.filter((q) => q.session === session.id);
  const consent = $(".card-consent", card);
  const shown = [...consent.children].map((c) => c.dataset.program).join("\n");
  if (shown !== asking.map((q) => q.program).join("\n")) {
    consent.replaceChildren(...asking.map((q) => {
      const box = document.createElement("div");
      box.className = "consent";
      box.dataset.program = q.program;
      const text = document.createElement("p");
      text.textContent = `${programName(q.program)} (${q.program}) asks for this session's token.`;
      const actions = document.createElement("div");
      actions.className = "consent-actions";
      for (const [answer, label] of [["allowOnce", "Allow once"], ["always", "Always allow"], ["deny", "Deny"]]) {
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.action = "consent";
        button.dataset.answer = answer;
        button.textContent = label;
        if (answer !== "allowOnce") button.className = "quiet";
        actions.append(button);
      }
      box.append(text, actions);
      return box;
    }));
  }

  const handed = (session.history ?? []).filter((m) => m.what === "handed_out").slice(-HANDED_SHOWN).reverse();
  $(".handed-none", card).hidden = handed.length > 0;
  const handedList = $(".handed-list", card);
  const handedKey = handed.map((m) => m.at + m.detail + (m.count ?? 1)).join();
  if (handedList.dataset.key !== handedKey) {
    handedList.dataset.key = handedKey;
    handedList.replaceChildren(...handed.map((m) => {
      const item = document.createElement("li");
      // Repeats within a minute are one mark with a count (kubectl and git ask on every command).
      const times = (m.count ?? 1) > 1 ? ` ×${m.count}` : "";
      item.textContent = `${timeOfDay.format(new Date(m.at))} · ${programName(m.detail ?? "")}${times}`;
      item.title = m.detail ?? "";
      return item;
    }));
  }

  const allowed = state.settings?.allowedPrograms?.[session.id] ?? [];
  const ask = state.settings?.askBeforeHandOut !== false;
  $(".allowed-title", card).hidden = !ask || allowed.length === 0;
  const allowedList = $(".allowed-list", card);
  if (allowedList.dataset.key !== allowed.join("\n") || allowedList.hidden === ask) {
    allowedList.dataset.key = allowed.join("\n");
    allowedList.hidden = !ask;
    allowedList.replaceChildren(...allowed.map((program) => {
      const item = document.createElement("li");
      item.dataset.program = program;
      const name = document.createElement("span");
      name.textContent = program;
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "quiet";
      revoke.dataset.action = "forget-program";
      revoke.textContent = "Ask again";
      revoke.setAttribute("aria-label", `Ask again before ${programName(program)} gets a token`);
      item.append(name, revoke);
      return item;
    }));
  }
  const hosts = Object.entries(state.settings?.gitHosts ?? {}).filter(([, id]) => id === session.id).map(([host]) => host).join(", ");
  const input = $(".git-form input", card);
  if (document.activeElement !== input && input.dataset.saved !== hosts) {
    input.value = hosts;
    input.dataset.saved = hosts;
  }
}

function setDeadline(element, iso) {
  if (iso) {
    element.dataset.deadline = iso;
    element.dateTime = iso;
    setTitle(element, fullDate.format(new Date(iso)));
  } else {
    delete element.dataset.deadline;
    element.removeAttribute("datetime");
    setTitle(element, "");
    setText(element, "—");
  }
}

function setPast(element, iso) {
  delete element.dataset.deadline;
  if (iso) {
    element.dateTime = iso;
    setText(element, timeOfDay.format(new Date(iso)));
    setTitle(element, fullDate.format(new Date(iso)));
  } else {
    element.removeAttribute("datetime");
    setTitle(element, "");
    setText(element, "—");
  }
}

// The cards in view. Only their countdowns are counted down: a text changing in a card nobody sees
// would still cost the web process its work and an accessibility event each (the card's `datetime`
// and title keep the instant). A card coming into view is brought up to date at once.
const visibleCards = new Set();
const onScreen = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (entry.isIntersecting) visibleCards.add(entry.target);
    else visibleCards.delete(entry.target);
  }
  tick();
});
const counting = (element) => {
  const card = element.closest(".card");
  return !card || visibleCards.has(card);
};

// Recount from the wall clock (right after the machine sleeps, with no IPC), write only the texts
// that changed, and wake again when the next one changes, on the wall clock's whole second so that
// every countdown on screen changes in the same repaint: once a second only while one of them is in
// its last minute, otherwise once a minute. Nothing runs while the window is hidden.
let nextTick = null;
function tick() {
  clearTimeout(nextTick);
  nextTick = null;
  if (document.hidden) return;
  const now = Date.now();
  let wait = null;
  for (const element of document.querySelectorAll("time[data-deadline]")) {
    if (!counting(element)) continue;
    const remaining = Date.parse(element.dataset.deadline) - now;
    const text = formatRemaining(remaining);
    setText(element, text);
    const change = msUntilChange(remaining);
    if (change !== null && (wait === null || change < wait)) wait = change;
  }
  if (wait === null) return;
  // Up to the next whole second after the change (texts change together, at most a second late),
  // and a few milliseconds more: an early wake-up would find the same text.
  const wake = Math.ceil((now + wait) / 1000) * 1000;
  nextTick = setTimeout(tick, wake - now + 5);
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
  state.notes.delete(id);
  if (button) button.disabled = true;
  try {
    return await invoke(command, args);
  } catch (error) {
    state.errors.set(id, readable(error));
    return undefined;
  } finally {
    if (button) button.disabled = false;
    if (state.sessions.has(id)) render(id);
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
          if (outcome.notice) state.notes.set(id, outcome.notice);
          render();
          announce(outcome.notice ?? `${id}: signed out.`);
        }
        break;
      }
      case "consent": {
        const program = button.closest(".consent").dataset.program;
        await run(id, button, "answer_consent", { id, program, answer: button.dataset.answer });
        break;
      }
      case "forget-program": {
        const program = button.closest("li").dataset.program;
        const settings = await run(id, button, "forget_program", { id, program });
        if (settings) {
          applySettings(settings);
          announce(`${programName(program)} will be asked again.`);
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
  $(".git-form", card).addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = event.target.elements.gitHosts;
    const hosts = input.value.split(",").map((h) => h.trim()).filter(Boolean);
    const settings = await run(id, event.submitter, "set_git_hosts", { id, hosts });
    if (settings) {
      applySettings(settings);
      announce(hosts.length ? `git gets ${id}'s token at ${hosts.join(", ")}.` : `git gets no token from ${id}.`);
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
    state.storageProblem = event.error.message;
    showBanner(event.error.message);
  } else if (event.type === "storageSaved") {
    // The session list is saved again: the banner about it has said its piece.
    if (state.storageProblem && $("#banner-text").textContent === state.storageProblem) $("#banner").hidden = true;
    state.storageProblem = undefined;
    announce("The session list is saved again.");
  }
  render(event.type === "changed" ? event.session.id : undefined);
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

// The preset's own fields (a tenant, a realm, a domain), built afresh when the preset changes.
function showPreset(form, chosen) {
  const box = $("#preset-fields");
  box.replaceChildren(
    ...chosen.fields.map((field) => {
      const label = document.createElement("label");
      label.append(`${field.label} `);
      const input = document.createElement("input");
      input.dataset.presetField = field.name;
      input.autocomplete = "off";
      input.required = !field.optional;
      if (field.placeholder) input.placeholder = field.placeholder;
      if (field.value !== undefined) input.value = field.value;
      label.append(input);
      return label;
    }),
  );
  form.elements.scopes.value = chosen.scopes;
  form.elements.signInWith.value = chosen.signInWith;
  $("#secret-field").hidden = !chosen.clientSecret;
  $("#add-guide").hidden = !chosen.guide;
  $("#open-guide").textContent = chosen.guide ? `how to register a desktop client at ${chosen.label}` : "";
  // A name the user typed stays; one the previous preset filled in follows the new one.
  for (const [field, value] of [["name", chosen.id === "generic" ? "" : chosen.id], ["displayName", chosen.id === "generic" ? "" : chosen.label]]) {
    const input = form.elements[field];
    if (!input.value || input.dataset.filled === "true") {
      input.value = value;
      input.dataset.filled = "true";
    }
  }
  fillIssuer(form);
}

function presetValues() {
  return Object.fromEntries([...document.querySelectorAll("[data-preset-field]")].map((input) => [input.dataset.presetField, input.value]));
}

function fillIssuer(form) {
  const chosen = preset(form.elements.preset.value);
  if (!chosen.issuer) return;
  form.elements.issuer.value = issuerFor(chosen.id, presetValues()) ?? "";
}

function wireAddDialog() {
  const dialog = $("#add-dialog");
  const form = $("#add-form");
  const presetSelect = form.elements.preset;
  for (const p of PRESETS) presetSelect.append(new Option(p.label, p.id));
  const fix = $("#add-fix");

  $("#open-add").addEventListener("click", () => {
    // Fresh every time: no values, fold or scroll position left from the last time.
    form.reset();
    for (const field of ["name", "displayName"]) delete form.elements[field].dataset.filled;
    presetSelect.value = "generic";
    showPreset(form, preset("generic"));
    $("#add-redirects").open = false;
    $("#add-error").textContent = "";
    fix.hidden = true;
    openDialog(dialog);
    dialog.scrollTop = 0;
    presetSelect.focus();
  });
  $("#add-cancel").addEventListener("click", () => dialog.close());
  presetSelect.addEventListener("change", () => showPreset(form, preset(presetSelect.value)));
  $("#preset-fields").addEventListener("input", () => fillIssuer(form));
  for (const field of ["name", "displayName"]) {
    form.elements[field].addEventListener("input", () => (form.elements[field].dataset.filled = "false"));
  }
  $("#open-guide").addEventListener("click", () => {
    const { guide } = preset(presetSelect.value);
    if (guide) invoke("plugin:opener|open_url", { url: guide }).catch((error) => ($("#add-error").textContent = readable(error).message));
  });
  fix.addEventListener("click", () => {
    form.elements.issuer.value = fix.dataset.issuer;
    fix.hidden = true;
    form.requestSubmit();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = Object.fromEntries(new FormData(form));
    delete fields.preset;
    const chosen = preset(presetSelect.value);
    fields.extraAuthorizationParams = chosen.extraAuthorizationParams ?? {};
    const missingPresetField = [...document.querySelectorAll("[data-preset-field]")].find((input) => input.required && !input.value.trim());
    if (missingPresetField) {
      $("#add-error").textContent = `Fill in "${missingPresetField.parentElement.firstChild.textContent.trim()}": the issuer URL is made from it.`;
      missingPresetField.focus();
      return;
    }
    const missing = ["issuer", "clientId", "name"].filter((key) => !fields[key]?.trim());
    if (missing.length) {
      $("#add-error").textContent = "Issuer URL, client ID and session name are required.";
      form.elements[missing[0]].focus();
      return;
    }
    const submit = $("#add-submit");
    submit.disabled = true;
    submit.textContent = "Checking the provider…";
    $("#add-error").textContent = "";
    fix.hidden = true;
    try {
      const session = await invoke("add_provider", { provider: fields });
      state.sessions.set(session.id, session);
      render();
      dialog.close();
      announce(`${session.id} added. Choose Sign in to sign in.`);
      $(`li.card[data-id="${CSS.escape(session.id)}"] [data-action="sign-in"]`)?.focus();
    } catch (error) {
      const problem = readable(error);
      $("#add-error").textContent = problem.message;
      if (problem.suggestedIssuer) {
        fix.dataset.issuer = problem.suggestedIssuer;
        fix.textContent = `Use ${problem.suggestedIssuer}`;
        fix.hidden = false;
      }
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
  form.elements.askBeforeHandOut.checked = settings.askBeforeHandOut;
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
      askBeforeHandOut: e.askBeforeHandOut.checked,
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
  await listen("consent-changed", ({ payload }) => {
    const before = new Set(state.questions.map((q) => `${q.session}\n${q.program}`));
    state.questions = payload;
    for (const q of payload) {
      if (!before.has(`${q.session}\n${q.program}`)) announce(`${programName(q.program)} asks for ${q.session}'s token.`);
    }
    render();
  });
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
    state.questions = initial.questions ?? [];
    state.sessions = new Map(initial.sessions.map((s) => [s.id, s]));
    state.ready = true;
    render();
    if (initial.warnings.length) showBanner(initial.warnings.join(" "));
  } catch (error) {
    showBanner(`The sessions could not be loaded: ${readable(error).message}`);
  }
  $("#main").removeAttribute("aria-busy");
  document.addEventListener("visibilitychange", tick);
  // The first paint shows the true state; only now does the window appear.
  await invoke("window_ready");
  document.documentElement.dataset.ready = "true";
}

start().catch((error) => {
  showBanner(`Session Keeper could not start its page: ${readable(error).message}`);
  invoke("window_ready").catch(() => {});
});
