//! What the commands take and answer (camelCase in JSON, as the guest package's types say).

use serde::{Deserialize, Serialize, Serializer};
use session_core::{EnablePeriodically, SessionSnapshot};

/// `get_session`'s answer: every session (or the one named), as snapshots that carry no secret.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    /// Always true: the plugin answers once the core has loaded the sessions, so a page never shows
    /// a state that is not the true one.
    pub ready: bool,
    /// The sessions.
    pub sessions: Vec<SessionSnapshot>,
}

/// What signing out did, for the page's message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedOut {
    /// The session, now signed out.
    pub session: SessionSnapshot,
    /// Whether the provider confirmed the refresh token's revocation.
    pub revoked: bool,
    /// What the user should know about what could not be done at the provider, in our words (the
    /// tokens are gone from this machine regardless); shown as information, not as an error.
    pub notice: Option<String>,
    /// Whether the provider's end-session page was opened.
    pub end_session_opened: bool,
}

/// `get_access_token`'s answer: the access token and its expiry, nothing else. Only a window granted
/// `allow-get-access-token` receives it; its `Debug` hides the token.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenAnswer {
    /// The access token.
    #[serde(serialize_with = "expose")]
    pub access_token: secrecy::SecretString,
    /// When it expires, if the provider said.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for AccessTokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenAnswer").field("access_token", &"[REDACTED]").field("expires_at", &self.expires_at).finish()
    }
}

fn expose<S: Serializer>(token: &secrecy::SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    serializer.serialize_str(token.expose_secret())
}

/// The refresh settings by the names web session libraries use (nuxt-auth's `refresh` options).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshSettings {
    /// `false`: no periodic check; `true`: every second; a number: every this many milliseconds.
    pub enable_periodically: EnablePeriodically,
    /// Check the sessions whenever one of the app's windows gains focus.
    pub enable_on_window_focus: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_settings_read_as_the_web_libraries_write_them() {
        let every: RefreshSettings = serde_json::from_str(r#"{"enablePeriodically": 30000, "enableOnWindowFocus": false}"#).unwrap();
        assert_eq!(every.enable_periodically, EnablePeriodically::EveryMilliseconds(30000));
        let on: RefreshSettings = serde_json::from_str(r#"{"enablePeriodically": true, "enableOnWindowFocus": true}"#).unwrap();
        assert_eq!(on.enable_periodically, EnablePeriodically::Enabled(true));
        assert!(serde_json::from_str::<RefreshSettings>(r#"{"enablePeriodically": "often", "enableOnWindowFocus": true}"#).is_err());
    }

    #[test]
    fn the_token_goes_out_in_the_answer_and_never_in_its_debug() {
        let answer = AccessTokenAnswer { access_token: "at-secret".to_owned().into(), expires_at: None };
        assert!(!format!("{answer:?}").contains("at-secret"));
        assert_eq!(serde_json::to_value(&answer).unwrap()["accessToken"], "at-secret");
    }
}
