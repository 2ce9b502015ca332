//! The secrets a session holds. They live in [`secrecy::SecretString`] so that `Debug` prints
//! `[REDACTED]`; only the vault (to store them) and the OIDC client (to send them to the provider)
//! ever expose them.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The tokens of one signed-in session.
#[derive(Debug, Clone)]
pub struct SessionSecrets {
    /// The access token, sent to APIs as a bearer token.
    pub access_token: SecretString,
    /// The refresh token, if the provider issued one (it needs the `offline_access` scope).
    pub refresh_token: Option<SecretString>,
    /// The last ID token, kept for the end-session `id_token_hint`.
    pub id_token: Option<SecretString>,
}

/// The keychain item's JSON layout. Private: this is the only place where tokens are serialized.
#[derive(Serialize, Deserialize)]
struct StoredSecrets<'a> {
    version: u32,
    access_token: std::borrow::Cow<'a, str>,
    refresh_token: Option<std::borrow::Cow<'a, str>>,
    id_token: Option<std::borrow::Cow<'a, str>>,
}

impl SessionSecrets {
    /// True when both hold the same refresh token (or neither holds one).
    pub fn same_refresh_token(&self, other: &SessionSecrets) -> bool {
        match (&self.refresh_token, &other.refresh_token) {
            (Some(a), Some(b)) => a.expose_secret() == b.expose_secret(),
            (None, None) => true,
            _ => false,
        }
    }

    /// Serializes for the keychain.
    pub(crate) fn to_keychain_value(&self) -> SecretString {
        let stored = StoredSecrets {
            version: 1,
            access_token: self.access_token.expose_secret().into(),
            refresh_token: self.refresh_token.as_ref().map(|t| t.expose_secret().into()),
            id_token: self.id_token.as_ref().map(|t| t.expose_secret().into()),
        };
        SecretString::from(serde_json::to_string(&stored).expect("plain strings always serialize"))
    }

    /// Parses what [`Self::to_keychain_value`] wrote. A corrupt item is an error, never a panic.
    pub(crate) fn from_keychain_value(session: &str, value: &SecretString) -> Result<Self> {
        let stored: StoredSecrets<'_> = serde_json::from_str(value.expose_secret()).map_err(|_| {
            Error::keychain_failed(
                format!(
                    "the keychain item of session \"{session}\" is not readable (it was changed outside \
                     Session Keeper); it was left untouched, sign in again to replace it"
                ),
                None,
            )
        })?;
        Ok(Self {
            access_token: SecretString::from(stored.access_token.into_owned()),
            refresh_token: stored.refresh_token.map(|t| SecretString::from(t.into_owned())),
            id_token: stored.id_token.map(|t| SecretString::from(t.into_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(refresh: Option<&str>) -> SessionSecrets {
        SessionSecrets {
            access_token: SecretString::from("at-123"),
            refresh_token: refresh.map(SecretString::from),
            id_token: Some(SecretString::from("id-456")),
        }
    }

    #[test]
    fn debug_never_shows_a_token() {
        let text = format!("{:?}", secrets(Some("rt-789")));
        for token in ["at-123", "rt-789", "id-456"] {
            assert!(!text.contains(token), "{text}");
        }
    }

    #[test]
    fn keychain_value_round_trips() {
        let value = secrets(Some("rt-789")).to_keychain_value();
        let back = SessionSecrets::from_keychain_value("s", &value).unwrap();
        assert_eq!(back.access_token.expose_secret(), "at-123");
        assert!(back.same_refresh_token(&secrets(Some("rt-789"))));
        assert!(!back.same_refresh_token(&secrets(Some("other"))));
    }

    #[test]
    fn corrupt_keychain_value_is_a_clear_error() {
        let err = SessionSecrets::from_keychain_value("work", &SecretString::from("{not json")).unwrap_err();
        assert!(err.to_string().contains("sign in again"), "{err}");
    }
}
