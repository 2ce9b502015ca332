//! What [`super::transition`] asks the actor to do: I/O to start ([`Effect::Refresh`] and the
//! others the runner carries out) and answers to the callers waiting on a session ([`Effect::HandOut`],
//! [`Effect::Checked`], [`Effect::Refuse`] and the rest). The actor carries them out; it decides
//! nothing.

use super::state::SessionState;
use crate::error::ErrorInfo;

/// Who waits on a session for an answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Waiter {
    /// Callers of [`crate::SessionManager::refresh`] and [`crate::SessionManager::trigger`].
    Check,
    /// Programs waiting for a token of the session's own (access, ID, or one to exchange).
    Token,
    /// Programs waiting for a narrower token for this scope.
    Narrowed(String),
    /// Callers of [`crate::SessionManager::sign_out`].
    SignOut,
    /// A redirect waiting to complete the sign-in.
    Redirect,
    /// A caller of [`crate::SessionManager::remove_session`].
    Remove,
}

/// Why the machine refuses what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The session holds no tokens.
    NotSignedIn,
    /// The session's tokens cannot be used, for this reason.
    Failed(ErrorInfo),
    /// The session has no refresh token, so no narrower token can be made.
    NoRefreshToken,
    /// No sign-in is in progress for a redirect to complete.
    NoSignInPending,
    /// The redirect's `state` is not the one of the sign-in in progress, which goes on waiting.
    ForeignRedirect,
    /// The session holds tokens: it is signed out before it is removed.
    SignOutFirst,
}

/// What the actor must do after a transition.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Call the token endpoint with the refresh token (for the narrower scope in flight, if
    /// [`super::Narrowing::in_flight`] names one).
    Refresh,
    /// Read the tokens from the keychain again (after `invalid_grant` or a first refusal of another
    /// kind) and report [`super::Event::Reread`].
    Reread,
    /// Ask the userinfo endpoint whether the access token still stands.
    Validate,
    /// Write the tokens in memory to the keychain again.
    SaveTokens,
    /// Delete the session's tokens from the vault; `revoke` first revokes them at the provider.
    Discard {
        /// Revoke at the provider before deleting (the tokens may still be valid there).
        revoke: bool,
    },
    /// Sign out: drop the pending sign-in, revoke the tokens held before this transition, delete them
    /// from the keychain and end the provider's session (the first caller of `sign_out` does; later
    /// ones are told the session is signed out). `previous` is the state to go back to if the
    /// keychain cannot delete them ([`super::Event::SignOutFailed`]).
    SignOut {
        /// The state just before the sign-out.
        previous: Box<SessionState>,
    },
    /// Give the session's tokens to the programs that asked for them.
    HandOut,
    /// Give the token made for this scope to the programs that asked for it.
    HandOutNarrowed(String),
    /// Tell the callers waiting for a check that it has finished (they get the snapshot).
    Checked,
    /// Give the pending sign-in to the redirect that carries its `state`.
    CompleteSignIn,
    /// Forget the session (it holds no tokens).
    Forget,
    /// Sign in again without the person (`prompt=none`) in the silent browser, and report
    /// [`super::Event::SilentFinished`].
    SilentSignIn,
    /// Drop the silent sign-in in flight (a sign-out or an interactive sign-in came first): its window
    /// goes, and nothing it brings is kept.
    CancelSilent,
    /// Answer these waiting callers with this refusal.
    Refuse(Waiter, Refusal),
}

impl Effect {
    /// Effects that answer callers rather than start work.
    pub(crate) fn is_answer(&self) -> bool {
        matches!(
            self,
            Effect::SignOut { .. }
                | Effect::HandOut
                | Effect::HandOutNarrowed(_)
                | Effect::Checked
                | Effect::CompleteSignIn
                | Effect::Forget
                | Effect::CancelSilent
                | Effect::Refuse(..)
        )
    }
}
