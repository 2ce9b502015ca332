//! Provider answers classified by HTTP status and body together (5xx and 429 are outages whatever
//! the body says), and a provider's text made safe where it enters.

#[allow(unused_imports)]
use super::*;

/// The cases of this group, run in order by `main`.
pub(super) async fn cases(_suite: &mut Suite) {}
