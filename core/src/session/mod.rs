//! Sessions: the state machine and everything around it.
//!
//! - `state.rs`: what a session's state holds and the questions asked of it; `event.rs` and
//!   `effect.rs`: what can happen to a session and what the machine asks the actor to do;
//! - `machine.rs`: [`transition`], where every decision is made (tests in `machine/tests.rs`), with
//!   `machine/failures.rs` for what a failed refresh does (backoff, re-read, a second refusal ending the
//!   session), `machine/waits.rs` for the callers that wait on a session and `narrowing.rs` for the state of
//!   narrower tokens (`--scope`);
//! - `completion.rs`: what a finished task means, as events (a pure function);
//! - `actor.rs`: the task that owns the sessions, feeds events in and carries effects out, with
//!   `requests.rs` (what the handle asks, as events) and `entry.rs` (one session's record, tokens and
//!   waiting callers, and how an answer reaches them);
//! - `deadlines.rs`: the actor's order of sessions by their next deadline;
//! - `effects.rs`: the I/O behind each effect (refresh, re-read, validate, save, discard);
//! - `store.rs`: the session list's records and where they are kept (an atomically written JSON
//!   file, or memory); `persist.rs`: writing them from the actor's record book;
//! - `handle.rs` and `builder.rs`: [`SessionManager`] and how it is started; `hand_out.rs`: the pure
//!   rules of a hand-out (the scope rule, which token, the sign-out notice);
//! - `sign_in.rs`: the sign-in transaction; `silent.rs`: silent sign-in's seam to the desktop (`SilentBrowser`)
//!   and its calls, `silent_state.rs` its state, `silent_effect.rs` the attempt itself; `snapshot.rs`: what the shell and the page are told;
//! - `handler.rs`: pluggable refresh triggers, which reach the actor through a [`TriggerSink`];
//! - `providers.rs`: discovered providers by session;
//! - `history.rs`: the last 24 hours of each session, derived from what `transition` decided.

mod actor;
mod builder;
mod commands;
mod completion;
mod deadlines;
mod effect;
mod effects;
mod entry;
mod event;
mod hand_out;
mod handle;
mod handler;
mod history;
mod machine;
mod narrowing;
mod persist;
mod providers;
mod requests;
mod sign_in;
mod silent;
mod silent_effect;
mod silent_state;
mod snapshot;
mod state;
mod store;

pub use builder::SessionManagerBuilder;
pub use handle::SessionManager;
pub use handler::{DefaultRefreshHandler, HostEvent, RefreshContext, RefreshHandler, TriggerSink};
pub use history::{HISTORY_MAX, HISTORY_SPAN, History, Mark, MarkKind};
pub use machine::{REVOKED_MESSAGE, transition};
pub use narrowing::{Made, Narrowing};
pub use silent::{SilentBrowser, SilentRequest, cookie_store_key};
pub use snapshot::{AccessToken, SessionEvent, SessionSnapshot, Shown, SignOutOutcome, SilentSnapshot, TokenRequest};
pub use state::{
    Effect, EndReason, Event, KeychainCopy, Network, Phase, RefreshFailure, Refusal, SessionState, Silent, SilentAttempt, SilentOutcome,
    SilentResult, TokenKind, TokenTimes, Trigger, Waiter,
};
pub use store::{JsonFileStore, MemoryStore, MetadataStore, SessionRecord};
