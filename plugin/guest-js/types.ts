// The payloads the plugin's commands and events carry, as TypeScript types. They are the page's own
// shapes (ui/types.js, pinned against the Rust structs by core/tests/page_types.rs); types.pin.ts makes
// tsc fail when the two part (`npm run typecheck` in plugin/).

/** What a person is shown about a session. */
export type Shown = 'signed_out' | 'signing_in' | 'signed_in' | 'expired';

/** Why a signed-in session ends at `endsAt`. */
export type EndReason = 'lifetime' | 'refreshTokenExpires' | 'noRefreshToken' | 'refreshFailing';

/** The desktop's connectivity: offline or behind a captive portal, nothing counts as failing. */
export type Network = 'online' | 'offline' | 'portal';

/** The user's identity claims. Show `who` instead: it follows one display rule. */
export interface UserProfile {
  subject: string;
  name: string | null;
  email: string | null;
  preferredUsername: string | null;
}

/** Who a session belongs to, by the core's one display rule. */
export interface Who {
  name: string;
  email: string | null;
}

/** A problem as a session records it, or a command's refusal: a stable `kind` and words to show. */
export interface ErrorInfo {
  kind: string;
  message: string;
}

/** What happened to a session. */
export type MarkKind = 'signed_in' | 'refreshed' | 'refresh_failed' | 'checked' | 'expired' | 'signed_out' | 'handed_out' | 'silent_sign_in';

/** One thing in a session's last 24 hours. */
export interface Mark {
  at: string;
  what: MarkKind;
  detail?: string;
  count?: number;
}

/** Everything a page may know about a session. No token, ever. Instants are RFC 3339 strings. */
export interface SessionSnapshot {
  id: string;
  providerName: string;
  issuer: string;
  signInWith: 'embeddedWindow' | 'systemBrowser';
  user: UserProfile | null;
  who: Who | null;
  phase: string;
  shown: Shown;
  refreshing: boolean;
  endingSoon: boolean;
  failing: boolean;
  network: Network;
  needsAttention: boolean;
  signedIn: boolean;
  endsAt: string | null;
  endReason: EndReason | null;
  canExtend: boolean;
  accessTokenExpiresAt: string | null;
  refreshTokenExpiresAt: string | null;
  sessionExpiresAt: string | null;
  signedInAt: string | null;
  lastRefreshAt: string | null;
  nextRefreshAt: string | null;
  hasRefreshToken: boolean;
  refreshTokenOnline: boolean;
  consecutiveFailures: number;
  lastError: ErrorInfo | null;
  history: Mark[];
  /** Whether the app signs this session in again by itself (prompt=none in a hidden window). */
  silent: SilentSignIn;
  /** It ends within a day and nothing will renew it: "sign in again now". */
  signInAgainSoon: boolean;
}

/** How a silent sign-in ended. */
export type SilentOutcome = 'renewed' | 'needsSignIn' | 'refused' | 'failed';

/** A silent sign-in's last outcome. */
export interface SilentAttempt {
  at: string;
  outcome: SilentOutcome;
  message: string | null;
}

/** A session's silent sign-in: its setting, whether it can run, an attempt in flight, the last outcome. */
export interface SilentSignIn {
  enabled: boolean;
  possible: boolean;
  attempting: boolean;
  last: SilentAttempt | null;
}

/** A fact about the sessions, as the `session-keeper://changed` event carries it. */
export type SessionEvent =
  | { type: 'changed'; session: SessionSnapshot }
  | { type: 'removed'; id: string }
  | { type: 'storageFailed'; error: ErrorInfo }
  | { type: 'storageSaved' };

/** What `getSession` and `onSessionChange` give: `ready` is false only before the first answer. */
export interface SessionState {
  ready: boolean;
  sessions: SessionSnapshot[];
}

/** What signing out did: the session, whether the provider revoked its tokens, a notice in words. */
export interface SignedOut {
  session: SessionSnapshot;
  revoked: boolean;
  notice: string | null;
  endSessionOpened: boolean;
}

/** How a sign-in ended (the `session-keeper://sign-in-finished` event). */
export interface SignInFinished {
  id: string;
  error: ErrorInfo | null;
}

/** The access token `getAccessToken` hands out (only with the `allow-get-access-token` permission). */
export interface AccessToken {
  accessToken: string;
  expiresAt: string | null;
}

/** When sessions are refreshed: `enablePeriodically` false (off), true (every second) or a period in ms. */
export interface RefreshSettings {
  enablePeriodically: boolean | number;
  enableOnWindowFocus: boolean;
}
