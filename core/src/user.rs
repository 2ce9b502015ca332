//! Who is signed in.

use serde::{Deserialize, Serialize};

/// The user's identity claims, from the ID token and the userinfo endpoint. Not secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl UserProfile {
    /// The ID token's profile completed by the userinfo endpoint's (same user; userinfo wins where
    /// both say something, being the fresher source).
    pub(crate) fn merged_with(self, from_userinfo: UserProfile) -> UserProfile {
        UserProfile {
            name: from_userinfo.name.or(self.name),
            email: from_userinfo.email.or(self.email),
            preferred_username: from_userinfo.preferred_username.or(self.preferred_username),
            subject: self.subject,
        }
    }
}
