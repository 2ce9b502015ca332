// tauri-plugin-session-keeper's page side: OpenID Connect sessions kept by the app (sign-in, refresh
// before expiry, the OS keychain, sign-out with revocation), in the shape of the web's session libraries
// (nuxt-auth, Better Auth): getSession, onSessionChange, signIn, refresh, signOut, getAccessToken and
// the refresh settings enablePeriodically / enableOnWindowFocus. Every call is one command of the
// plugin (`plugin:session-keeper|<command>`); the snapshots carry no token. Only getAccessToken hands
// one out, and only to a window whose capability grants `session-keeper:allow-get-access-token`.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type {
  AccessToken,
  RefreshSettings,
  SessionEvent,
  SessionSnapshot,
  SessionState,
  SignedOut,
  SignInFinished,
} from './types.js';

export type * from './types.js';
export type { UnlistenFn };

/** The event every change of a session arrives as (payload: {@link SessionEvent}). */
export const SESSION_CHANGED = 'session-keeper://changed';
/** The event with every session, sent instead of the changes a slow page missed (payload: {@link SessionSnapshot}[]). */
export const SESSIONS_REPLACED = 'session-keeper://replaced';
/** The event that says how a sign-in ended (payload: {@link SignInFinished}). */
export const SIGN_IN_FINISHED = 'session-keeper://sign-in-finished';

/** What to render before the first answer: not ready, so that no one is shown signed out by mistake. */
export const NOT_READY: SessionState = Object.freeze({ ready: false, sessions: [] }) as SessionState;

/**
 * A refusal from the plugin: `kind` is the core's stable error kind (`sign_in_cancelled`,
 * `sign_in_needed`, `unknown_session`, …), or `not_allowed` when the window's capability does not
 * grant the command; `message` says what to do.
 */
export class SessionKeeperError extends Error {
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.name = 'SessionKeeperError';
    this.kind = kind;
  }
}

function asError(refusal: unknown): SessionKeeperError {
  if (refusal instanceof SessionKeeperError) return refusal;
  if (refusal && typeof refusal === 'object' && 'kind' in refusal && 'message' in refusal) {
    return new SessionKeeperError(String(refusal.kind), String(refusal.message));
  }
  const message = refusal instanceof Error ? refusal.message : String(refusal);
  // Tauri's own refusal when no capability of the window grants the command.
  return new SessionKeeperError(/not allowed/i.test(message) ? 'not_allowed' : 'command_failed', message);
}

async function command<T>(name: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(`plugin:session-keeper|${name}`, args);
  } catch (refusal) {
    throw asError(refusal);
  }
}

/**
 * The sessions as the app holds them now. `name` narrows the list to one session; `force` asks the
 * provider first (a refresh if it is due, else a check), as `getSession({ force: true })` revalidates.
 */
export async function getSession(options: { name?: string; force?: boolean } = {}): Promise<SessionState> {
  return command<SessionState>('get_session', { name: options.name, force: options.force ?? false });
}

/**
 * Calls `callback` with every state of the sessions: first the true snapshots (`ready: true`, never an
 * empty signed-out list while the app is still loading: render {@link NOT_READY} until then), then
 * the whole list again after each change. Resolves with the function that stops it.
 */
export async function onSessionChange(callback: (state: SessionState) => void): Promise<UnlistenFn> {
  let sessions: SessionSnapshot[] | null = null;
  let missed = false;
  const changed = await listen<SessionEvent>(SESSION_CHANGED, ({ payload }) => {
    if (sessions === null) {
      missed = true; // the first answer is not in yet: it is asked again, as it may predate this change
      return;
    }
    if (payload.type === 'changed') {
      const at = sessions.findIndex((session) => session.id === payload.session.id);
      sessions = at < 0 ? [...sessions, payload.session] : sessions.map((session, i) => (i === at ? payload.session : session));
    } else if (payload.type === 'removed') {
      sessions = sessions.filter((session) => session.id !== payload.id);
    } else {
      return;
    }
    callback({ ready: true, sessions });
  });
  const replaced = await listen<SessionSnapshot[]>(SESSIONS_REPLACED, ({ payload }) => {
    if (sessions === null) {
      missed = true;
      return;
    }
    sessions = payload;
    callback({ ready: true, sessions });
  });
  const unlisten = () => {
    changed();
    replaced();
  };
  try {
    // A change that arrives while the list is asked for may be older or newer than the answer: ask
    // again until an answer arrives with no change beside it (bounded: under a storm of changes the
    // fifth answer is taken, and the changes after it still arrive).
    let first: SessionState;
    let rounds = 0;
    do {
      missed = false;
      first = await getSession();
      rounds += 1;
    } while (missed && rounds < 5);
    sessions = first.sessions;
    callback({ ready: true, sessions });
  } catch (refusal) {
    unlisten();
    throw refusal;
  }
  return unlisten;
}

/**
 * Signs in: the app's sign-in window (or the system browser, as the provider is set up) opens, and the
 * promise settles when the sign-in ends: resolved with the session, or rejected with the reason
 * (`sign_in_cancelled` when the person closed the window).
 */
export async function signIn(name: string): Promise<SessionSnapshot> {
  let settle: (finished: SignInFinished) => void = () => {};
  const finished = new Promise<SignInFinished>((resolve) => (settle = resolve));
  const unlisten = await listen<SignInFinished>(SIGN_IN_FINISHED, ({ payload }) => {
    if (payload.id === name) settle(payload);
  });
  try {
    await command<void>('sign_in', { name });
    const { error } = await finished;
    if (error) throw new SessionKeeperError(error.kind, error.message);
  } finally {
    unlisten();
  }
  const { sessions } = await getSession({ name });
  const session = sessions.find((one) => one.id === name);
  if (!session) throw new SessionKeeperError('unknown_session', `There is no session named ${name}.`);
  return session;
}

/** Closes the sign-in window of `name`, if one is open; its `signIn` rejects with `sign_in_cancelled`. */
export async function cancelSignIn(name: string): Promise<void> {
  return command<void>('cancel_sign_in', { name });
}

/** Refreshes the session now (joined with a refresh already in flight: one request to the provider). */
export async function refresh(name: string): Promise<SessionSnapshot> {
  return command<SessionSnapshot>('refresh', { name });
}

/** Signs out: tokens revoked at the provider, removed from the keychain, the provider's sign-out page visited where that helps. */
export async function signOut(name: string): Promise<SignedOut> {
  return command<SignedOut>('sign_out', { name });
}

/**
 * The session's access token, valid for at least `minValid` seconds more (refreshed first if needed).
 * Needs `session-keeper:allow-get-access-token` in the window's capability (not in `default`); without it
 * the call is refused with kind `not_allowed`. Keep the token in memory only.
 */
export async function getAccessToken(name: string, options: { minValid?: number } = {}): Promise<AccessToken> {
  return command<AccessToken>('get_access_token', { name, minValid: options.minValid });
}

/** When sessions are refreshed. */
export async function getRefreshSettings(): Promise<RefreshSettings> {
  return command<RefreshSettings>('get_refresh_settings');
}

/**
 * Changes when sessions are refreshed, by the web's names: `enablePeriodically` false (off), true (every
 * second) or a period in milliseconds; `enableOnWindowFocus` checks a session when a window gains focus.
 */
export async function setRefreshSettings(settings: Partial<RefreshSettings>): Promise<RefreshSettings> {
  return command<RefreshSettings>('set_refresh_settings', { ...settings });
}

/** Whether the session may be renewed silently (prompt=none in a hidden window) when its refresh token ends. */
export async function setSilentSignIn(name: string, enabled: boolean): Promise<SessionSnapshot> {
  return command<SessionSnapshot>('set_silent_sign_in', { name, enabled });
}
