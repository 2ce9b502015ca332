//! The relying party's checks of token answers and ID tokens: `token_type`, `iat`, `auth_time`,
//! algorithms, and a refresh answer verified before it is written.

#[allow(unused_imports)]
use super::*;

/// The cases of this group, run in order by `main`.
pub(super) async fn cases(_suite: &mut Suite) {}
