//! Sessions: the state machine and everything around it.
//!
//! - `state.rs`: the vocabulary (state, events, effects) and the questions asked of a state;
//! - `machine.rs`: [`transition`], where every decision is made (tests in `machine/tests.rs`);
//! - `actor.rs`: the task that owns the sessions, feeds events in and runs effects out;
//! - `deadlines.rs`: the actor's order of sessions by their next deadline;
//! - `effects.rs`: the I/O behind each effect (refresh, re-read, validate, save, discard);
//! - `persist.rs`: the session list on disk, written from the actor's record book;
//! - `handle.rs` and `builder.rs`: [`SessionManager`] and how it is started;
//! - `sign_in.rs`: the sign-in transaction; `snapshot.rs`: what the shell and the page are told;
//! - `handler.rs`: pluggable refresh triggers, which reach the actor through a [`TriggerSink`];
//! - `providers.rs`: discovered providers by session;
//! - `history.rs`: the last 24 hours of each session, derived from what `transition` decided;
//! - `narrowing.rs`: the actor's bookkeeping of narrower tokens for other programs (`--scope`).

mod actor;
mod builder;
mod commands;
mod deadlines;
mod effects;
mod handle;
mod handler;
mod history;
mod machine;
mod narrowing;
mod persist;
mod providers;
mod sign_in;
mod snapshot;
mod state;

pub use builder::SessionManagerBuilder;
pub use handle::SessionManager;
pub use handler::{DefaultRefreshHandler, HostEvent, RefreshContext, RefreshHandler, TriggerSink};
pub use history::{HISTORY_MAX, HISTORY_SPAN, History, Mark, MarkKind};
pub use machine::{REVOKED_MESSAGE, transition};
pub use snapshot::{AccessToken, SessionEvent, SessionSnapshot, Shown, SignOutOutcome, TokenRequest};
pub use state::{Effect, EndReason, Event, KeychainCopy, Phase, RefreshFailure, Refusal, SessionState, TokenTimes, Trigger};
