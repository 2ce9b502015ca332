//! Session Keeper's command-line clients, apart from the app so that they start in a millisecond or
//! two: `session-keeper-token` (for scripts and kubectl) and `git-credential-session-keeper` (git's
//! credential helper). Both ask the running app over its Unix socket ([`protocol`]); the app asks the
//! user, refreshes if needed and answers. They never read the keychain or talk to the provider.
//!
//! The app's own binary answers `session-keeper token …` and `session-keeper git-credential …` with
//! the same code, for those who call it that way.

pub mod git;
pub mod protocol;
pub mod token;
