//! What the session does with what the checks found: a refusal after a re-read ends the session,
//! a userinfo answer for another user confirms nothing.

#[allow(unused_imports)]
use super::*;

/// The cases of this group, run in order by `main`.
pub(super) async fn cases(_suite: &mut Suite) {}
