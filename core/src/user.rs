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

/// Who a session belongs to, as every reader names them (card, tray, D-Bus, notices): one rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Who {
    /// The name to show: `name`, else `preferred_username`, else `email`, else `sub`.
    pub name: String,
    /// The e-mail address, when it is not already the name (the card adds it in angle brackets).
    pub email: Option<String>,
}

impl UserProfile {
    /// The one display rule for a user.
    pub fn who(&self) -> Who {
        let name = [&self.name, &self.preferred_username, &self.email]
            .into_iter()
            .flatten()
            .find(|text| !text.trim().is_empty())
            .cloned()
            // The subject is kept as sent (it is compared); shown, it is made safe like any claim.
            .unwrap_or_else(|| crate::text::provider_text(&self.subject));
        let email = self.email.clone().filter(|email| *email != name && !email.trim().is_empty());
        Who { name, email }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: Option<&str>, username: Option<&str>, email: Option<&str>) -> UserProfile {
        UserProfile {
            subject: "248289761001".into(),
            name: name.map(Into::into),
            email: email.map(Into::into),
            preferred_username: username.map(Into::into),
        }
    }

    #[test]
    fn one_rule_names_a_user() {
        let full = profile(Some("Alice Example"), Some("alice"), Some("alice@example.test"));
        assert_eq!(full.who(), Who { name: "Alice Example".into(), email: Some("alice@example.test".into()) });
        assert_eq!(profile(None, Some("alice"), None).who().name, "alice");
        let only_email = profile(None, None, Some("alice@example.test")).who();
        assert_eq!((only_email.name.as_str(), only_email.email), ("alice@example.test", None));
        assert_eq!(profile(Some(" "), None, None).who().name, "248289761001");
        let forged = UserProfile { subject: "a\r\nINFO signed in as admin\u{1b}[2J".into(), ..profile(None, None, None) };
        assert_eq!(forged.who().name, "a INFO signed in as admin[2J", "a subject shown is one safe line");
    }
}
