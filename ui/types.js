// @ts-check
// The payloads the shell sends the page, as JSDoc types: one place, checked by `tsc` (tests/ui/
// tsconfig.json) wherever the page reads them, and pinned against the Rust structs they serialize
// from by core/tests/page_types.rs, which compares each typedef's `@property` names with the JSON
// keys of a fully filled snapshot. A field added on either side without the other fails that test.
// This module holds types only.

/**
 * What a person is shown about a session (core: `Shown`).
 * @typedef {"signed_out" | "signing_in" | "signed_in" | "expired"} Shown
 */

/**
 * Why a signed-in session ends at `endsAt` (core: `EndReason`).
 * @typedef {"lifetime" | "refreshTokenExpires" | "noRefreshToken" | "refreshFailing"} EndReason
 */

/**
 * The desktop's connectivity, as NetworkManager says it (core: `Network`): no NetworkManager is "online".
 * @typedef {"online" | "offline" | "portal"} Network
 */

/**
 * What happened to a session (core: `MarkKind`).
 * @typedef {"signed_in" | "refreshed" | "refresh_failed" | "checked" | "expired" | "signed_out" | "handed_out" | "silent_sign_in"} MarkKind
 */

/**
 * The user's identity claims (core: `UserProfile`). The page shows `who`, not these.
 * @typedef {Object} UserProfile
 * @property {string} subject
 * @property {string | null} name
 * @property {string | null} email
 * @property {string | null} preferredUsername
 */

/**
 * Who a session belongs to, by the core's one display rule (core: `Who`).
 * @typedef {Object} Who
 * @property {string} name
 * @property {string | null} email
 */

/**
 * A problem, as the core records it on a session (core: `ErrorInfo`). `kind` is one of the core's
 * `ErrorKind` names or, from a command, one of the shell's.
 * @typedef {Object} ErrorInfo
 * @property {string} kind
 * @property {string} message
 */

/**
 * A command's refusal: an ErrorInfo, with the issuer to offer when only a trailing slash differs.
 * @typedef {ErrorInfo & { suggestedIssuer?: string }} CommandError
 */

/**
 * One thing in a session's last 24 hours (core: `Mark`). `detail` is a failure's error kind, a check's
 * trigger, the program a token went to, or a silent sign-in's `started` or outcome; `count` is left out when it is 1.
 * @typedef {Object} Mark
 * @property {string} at
 * @property {MarkKind} what
 * @property {string} [detail]
 * @property {number} [count]
 */

/**
 * Everything the page knows about a session (core: `SessionSnapshot`). Instants are RFC 3339 strings.
 * @typedef {Object} SessionSnapshot
 * @property {string} id
 * @property {string} providerName
 * @property {string} issuer
 * @property {"embeddedWindow" | "systemBrowser"} signInWith
 * @property {UserProfile | null} user
 * @property {Who | null} who
 * @property {string} phase The machine's phase, for D-Bus and the logs: the page does not read it.
 * @property {Shown} shown
 * @property {boolean} refreshing
 * @property {boolean} endingSoon
 * @property {boolean} failing
 * @property {Network} network Offline or behind a captive portal, nothing counts as failing.
 * @property {boolean} needsAttention
 * @property {boolean} signedIn
 * @property {string | null} endsAt
 * @property {EndReason | null} endReason
 * @property {boolean} canExtend
 * @property {string | null} accessTokenExpiresAt
 * @property {string | null} refreshTokenExpiresAt
 * @property {string | null} sessionExpiresAt
 * @property {string | null} signedInAt
 * @property {string | null} lastRefreshAt
 * @property {string | null} nextRefreshAt
 * @property {boolean} hasRefreshToken
 * @property {boolean} refreshTokenOnline The provider's refresh token lasts only as long as the sign-in there.
 * @property {number} consecutiveFailures
 * @property {ErrorInfo | null} lastError
 * @property {Mark[]} history
 * @property {SilentSignIn} silent Whether the app signs this session in again by itself (`prompt=none`).
 * @property {boolean} signInAgainSoon It ends within a day and nothing will renew it: "sign in again now".
 */

/**
 * How a silent sign-in ended (core: `SilentOutcome`).
 * @typedef {"renewed" | "needsSignIn" | "refused" | "failed"} SilentOutcome
 */

/**
 * A silent sign-in's last outcome (core: `SilentAttempt`).
 * @typedef {Object} SilentAttempt
 * @property {string} at
 * @property {SilentOutcome} outcome
 * @property {string | null} message
 */

/**
 * A session's silent sign-in (core: `SilentSnapshot`): the session's setting, whether it can run (signed
 * in in the app's window, a silent browser, on), an attempt in flight, and the last outcome.
 * @typedef {Object} SilentSignIn
 * @property {boolean} enabled
 * @property {boolean} possible
 * @property {boolean} attempting
 * @property {SilentAttempt | null} last
 */

/**
 * A fact about the sessions (core: `SessionEvent`, the `session-changed` event).
 * @typedef {{ type: "changed", session: SessionSnapshot }
 *   | { type: "removed", id: string }
 *   | { type: "storageFailed", error: ErrorInfo }
 *   | { type: "storageSaved" }} SessionEvent
 */

/**
 * The settings panel's values (shell: `Settings`). `enablePeriodically` is off (false), every second
 * (true) or a period in milliseconds.
 * @typedef {Object} Settings
 * @property {boolean | number} enablePeriodically
 * @property {boolean} enableOnWindowFocus
 * @property {number} leadTimeSeconds
 * @property {number} validationMaxAgeSeconds
 * @property {boolean} notifications
 * @property {string[]} mutedSessions
 * @property {boolean} ephemeralSignIn
 * @property {boolean} askBeforeHandOut
 * @property {Record<string, string[]>} allowedPrograms
 * @property {Record<string, string>} gitHosts
 */

/**
 * A program waiting for the user's consent to a session's token (shell: `broker::Question`).
 * @typedef {Object} Question
 * @property {string} session
 * @property {string} program
 */

/**
 * Where tokens go now (core: `VaultInUse`): the keychain, the sealed vault, or memory only.
 * @typedef {"keychain" | "sealed" | "memory_only"} VaultInUse
 */

/**
 * Where the tokens live (shell: `vaults::VaultState`, the `vault-changed` event), pinned by
 * src-tauri/src/vaults/tests.rs.
 * @typedef {Object} VaultState
 * @property {VaultInUse} inUse
 * @property {boolean} keychain A Secret Service is on the session bus.
 * @property {boolean} sealedFile The sealed vault's file exists.
 * @property {boolean} unlocked Its passphrase was entered in this desktop session.
 * @property {boolean} passphraseNeeded The page asks for the passphrase.
 * @property {string[]} memoryOnly The sessions whose tokens only memory holds.
 * @property {string | null} notice What just happened, said once.
 */

/**
 * Everything for the first paint (shell: `commands::AppState`).
 * @typedef {Object} AppState
 * @property {SessionSnapshot[]} sessions
 * @property {Settings} settings
 * @property {string[]} warnings
 * @property {boolean} launchAtLogin
 * @property {Question[]} questions
 * @property {VaultState} vault
 */

/**
 * What signing out did (shell: `commands::SignedOut`).
 * @typedef {Object} SignedOut
 * @property {SessionSnapshot} session
 * @property {boolean} revoked
 * @property {string | null} notice
 * @property {boolean} endSessionOpened
 */

/**
 * How a sign-in ended (shell: `windows::SignInFinished`).
 * @typedef {Object} SignInFinished
 * @property {string} id
 * @property {ErrorInfo | null} error
 */

export {};
