//! Who is signed in.

use serde::{Deserialize, Serialize};

/// The user's identity claims, from the ID token and the userinfo endpoint. Not secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    /// The provider's stable identifier for the user (`sub`).
    pub subject: String,
    /// Display name (`name`).
    pub name: Option<String>,
    /// E-mail address (`email`).
    pub email: Option<String>,
    /// Login name (`preferred_username`).
    pub preferred_username: Option<String>,
}
