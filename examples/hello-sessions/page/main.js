// @ts-check
// The whole page of the example: who is signed in, Sign in / Refresh / Sign out, and "Call API", the
// provider's userinfo endpoint called with the access token from getAccessToken. esbuild bundles it
// with the guest package and @tauri-apps/api into ui/main.js.

import { getCurrentWindow } from '@tauri-apps/api/window';
import { NOT_READY, getAccessToken, onSessionChange, refresh, signIn, signOut } from 'tauri-plugin-session-keeper-api';

const SESSION = 'demo';
/** @type {import('tauri-plugin-session-keeper-api').SessionState} */
let state = NOT_READY;
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const buttons = /** @type {const} */ (['sign-in', 'refresh', 'sign-out', 'call-api']);

function session() {
  return state.sessions.find((one) => one.id === SESSION);
}

function render() {
  const current = session();
  const signedIn = Boolean(current?.signedIn);
  $('who').dataset.shown = state.ready ? (current?.shown ?? 'none') : 'loading';
  $('who').textContent = !state.ready ? 'Loading…' : signedIn ? `Signed in as ${current?.who?.name}` : 'Signed out';
  $('refreshed').textContent = current?.lastRefreshAt ? `Last refreshed ${current.lastRefreshAt}` : '';
  $('refreshed').dataset.at = current?.lastRefreshAt ?? '';
  for (const id of buttons) /** @type {HTMLButtonElement} */ ($(id)).disabled = !state.ready || (id === 'sign-in' ? signedIn : !signedIn);
}

/** @param {string} text @param {string} [kind] */
function say(text, kind = '') {
  $('status').textContent = text;
  $('status').dataset.kind = kind;
}

/** Runs one button's action; a refusal is shown in the plugin's words, with its kind. */
async function act(/** @type {() => Promise<string>} */ action) {
  try {
    say(await action(), 'ok');
  } catch (/** @type {any} */ error) {
    say(error.message ?? String(error), error.kind ?? 'error');
  }
}

/** The "API": the provider's userinfo endpoint, called with the session's access token. */
async function callApi() {
  const { accessToken } = await getAccessToken(SESSION, { minValid: 30 });
  const issuer = session()?.issuer ?? '';
  const discovery = await (await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)).json();
  const answer = await fetch(discovery.userinfo_endpoint, { headers: { Authorization: `Bearer ${accessToken}` } });
  $('api').hidden = false;
  $('api').textContent = JSON.stringify(await answer.json(), null, 2);
  return `The API answered ${answer.status}`;
}

$('sign-in').addEventListener('click', () => act(async () => `Signed in as ${(await signIn(SESSION)).who?.name}`));
$('refresh').addEventListener('click', () => act(async () => `Refreshed; the access token lasts until ${(await refresh(SESSION)).accessTokenExpiresAt}`));
$('sign-out').addEventListener('click', () =>
  act(async () => ((await signOut(SESSION)).revoked ? 'Signed out; the provider revoked the tokens' : 'Signed out on this computer')),
);
$('call-api').addEventListener('click', () => act(callApi));

$('not-built').hidden = true;
// The second window ("limited") is granted session-keeper:default only: it sees the session, but its
// getAccessToken is refused (capabilities/limited.json).
document.body.dataset.window = getCurrentWindow().label;
if (document.body.dataset.window === 'limited') $('title').textContent = 'Hello Sessions, without the token permission';
render();
onSessionChange((next) => {
  state = next;
  render();
}).catch((/** @type {any} */ error) => say(error.message ?? String(error), error.kind ?? 'error'));
