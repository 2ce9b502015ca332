//! Provider settings and their validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::names::{ClientId, Issuer, RedirectUri, is_loopback};

/// The scopes asked for when none are configured.
pub const DEFAULT_SCOPES: &str = "openid profile email offline_access";

/// The redirect URI used when none is configured: a loopback address that nothing listens on; the
/// app intercepts the navigation to it (or listens on it with an ephemeral port).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// How to reach and use one OpenID Provider. Holds no secret: a client secret, if any, is given
/// separately and goes to the vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfig {
    /// Name shown to the user.
    pub display_name: String,
    /// Issuer URL, exactly as the provider announces it.
    pub issuer: Issuer,
    /// OAuth client id (a public client unless a client secret is stored).
    pub client_id: ClientId,
    /// Scopes to ask for.
    pub scopes: Vec<String>,
    /// Where the provider sends the browser back after sign-in.
    pub redirect_uri: RedirectUri,
    /// Where the provider sends the browser after its own sign-out, if registered.
    pub post_logout_redirect_uri: Option<RedirectUri>,
    /// Extra authorization request parameters (for example `prompt` or `acr_values`).
    #[serde(default)]
    pub extra_authorization_params: BTreeMap<String, String>,
    /// Whether a client secret is kept in the vault for this provider.
    #[serde(default)]
    pub has_client_secret: bool,
    /// Where the provider's sign-in page is shown.
    #[serde(default)]
    pub sign_in_with: SignInWith,
    /// Whether `prompt=consent` goes with a request for `offline_access`, as OIDC Core 11 requires
    /// (providers that follow it hand out an online refresh token, or none, without it). Off for
    /// providers that grant offline access anyway and would show a consent page at every sign-in.
    /// A new configuration follows the spec; a stored one that predates the setting keeps the
    /// request it made before (a tenant that forbids user consent could refuse the sign-in).
    #[serde(default)]
    pub consent_for_offline_access: bool,
    /// Certificate authorities trusted for this provider only, as PEM text (one or more
    /// `CERTIFICATE` blocks), beside the system's trust store: a company's private CA, as kubelogin's
    /// `--certificate-authority` and oidc-agent's per-account certificate path offer. Not a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
}

/// Where the provider's sign-in page is shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignInWith {
    /// The app's own sign-in window, which stops the redirect before it loads.
    #[default]
    EmbeddedWindow,
    /// The user's default browser, with the redirect received on a loopback port (RFC 8252), for
    /// providers that refuse embedded browsers or where a password manager or security key is needed.
    SystemBrowser,
}

impl ProviderConfig {
    /// A public-client configuration with the default scopes and redirect URI.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        let issuer = issuer.into();
        Self {
            display_name: Url::parse(&issuer).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_else(|| issuer.clone()),
            issuer: issuer.into(),
            client_id: ClientId::from(client_id.into()),
            scopes: DEFAULT_SCOPES.split(' ').map(str::to_owned).collect(),
            redirect_uri: RedirectUri::parse(DEFAULT_REDIRECT_URI).expect("the default redirect URI is a URL"),
            post_logout_redirect_uri: None,
            extra_authorization_params: BTreeMap::new(),
            has_client_secret: false,
            sign_in_with: SignInWith::EmbeddedWindow,
            consent_for_offline_access: true,
            ca_certificates: None,
        }
    }

    /// The authorization request's extra parameters: the configured ones, with `consent` added to
    /// `prompt` when `offline_access` is asked for and [`Self::consent_for_offline_access`] says the
    /// provider needs it (OIDC Core 11). A configured `prompt` keeps its values (`prompt` is a
    /// space-separated list, so `login` becomes `login consent`), except `none`, which no other
    /// value may join: the person asked for no page at all.
    pub fn authorization_params(&self) -> BTreeMap<String, String> {
        let mut params = self.extra_authorization_params.clone();
        if self.consent_for_offline_access && self.scopes.iter().any(|scope| scope == "offline_access") {
            let prompt = params.entry("prompt".to_owned()).or_default();
            let values: Vec<&str> = prompt.split_whitespace().collect();
            if !values.contains(&"consent") && !values.contains(&"none") {
                *prompt = values.into_iter().chain(["consent"]).collect::<Vec<_>>().join(" ");
            }
        }
        params
    }

    /// Whether a browser navigation goes to this provider's redirect URI, so the app must take it
    /// instead of loading it ([`RedirectUri::matches`]).
    pub fn is_redirect(&self, navigation: &Url) -> bool {
        self.redirect_uri.matches(navigation)
    }

    /// Whether a navigation goes to the post-logout redirect URI (the end of an end-session visit).
    pub fn is_post_logout_redirect(&self, navigation: &Url) -> bool {
        self.post_logout_redirect_uri.as_ref().is_some_and(|uri| uri.matches(navigation))
    }

    /// Checks the settings before anything is sent anywhere.
    pub fn validate(&self) -> Result<()> {
        let issuer = Url::parse(&self.issuer).map_err(|_| {
            Error::InvalidConfiguration(format!(
                "The issuer URL \"{}\" is not a URL: write it in full, like https://id.example.com.",
                self.issuer
            ))
        })?;
        require_secure(&issuer, "issuer URL")?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(Error::InvalidConfiguration(
                "The issuer URL must not have a query (?…) or fragment (#…): use the address the provider's documentation gives.".into(),
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(Error::InvalidConfiguration(
                "The client ID is empty: copy it from the client's registration at the provider.".into(),
            ));
        }
        if !self.scopes.iter().any(|scope| scope == "openid") {
            return Err(Error::InvalidConfiguration("The scopes must include \"openid\".".into()));
        }
        if let Some(bad) = self.scopes.iter().find(|s| s.is_empty() || s.contains(char::is_whitespace)) {
            return Err(Error::InvalidConfiguration(format!("\"{bad}\" is not a valid scope: separate scopes with spaces.")));
        }
        if self.sign_in_with == SignInWith::SystemBrowser {
            crate::loopback::loopback_redirect_uri(&self.redirect_uri)?;
        }
        if let Some(pem) = &self.ca_certificates {
            crate::tls::ca_certificates(pem)?;
        }
        Ok(())
    }
}

/// Plain `http://` is refused except on loopback, where nothing crosses the network.
pub(crate) fn require_secure(url: &Url, what: &str) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(Error::InvalidConfiguration(format!(
            "The {what} {url} uses plain http: use https (http is accepted only for 127.0.0.1, [::1] and localhost)."
        ))),
        other => Err(Error::InvalidConfiguration(format!("The {what} {url} uses \"{other}\": use https."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        for ok in ["https://id.example.com", "http://127.0.0.1:8080", "http://[::1]:9000", "http://localhost:3000"] {
            ProviderConfig::new(ok, "c").validate().unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let err = ProviderConfig::new("http://id.example.com", "c").validate().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidConfiguration);
        assert!(err.to_string().contains("use https"), "{err}");
        assert!(ProviderConfig::new("http://127.0.0.1.example.com", "c").validate().is_err());
        assert!(ProviderConfig::new("ftp://id.example.com", "c").validate().is_err());
        assert!(ProviderConfig::new("not a url", "c").validate().is_err());
    }

    #[test]
    fn defaults_and_required_fields() {
        let config = ProviderConfig::new("https://id.example.com", "c");
        assert_eq!(config.scopes.join(" "), DEFAULT_SCOPES);
        assert_eq!(config.display_name, "id.example.com");
        let mut no_openid = config.clone();
        no_openid.scopes = vec!["profile".into()];
        assert!(no_openid.validate().is_err());
        let mut no_client = config;
        no_client.client_id = " ".into();
        assert!(no_client.validate().is_err());
    }

    #[test]
    fn consent_goes_with_offline_access_where_the_provider_needs_it() {
        let config = ProviderConfig::new("https://id.example.com", "c");
        assert!(config.consent_for_offline_access, "a new provider follows OIDC Core 11");
        assert_eq!(config.authorization_params().get("prompt").map(String::as_str), Some("consent"));
        let mut off = config.clone();
        off.consent_for_offline_access = false;
        assert_eq!(off.authorization_params(), BTreeMap::new(), "the setting off: no prompt");
        let mut online = config.clone();
        online.scopes = vec!["openid".into(), "profile".into()];
        assert_eq!(online.authorization_params(), BTreeMap::new(), "no offline_access asked: no prompt");
        let with_prompt = |prompt: &str| {
            let mut own = config.clone();
            own.extra_authorization_params.insert("prompt".into(), prompt.into());
            own.extra_authorization_params.insert("acr_values".into(), "mfa".into());
            let params = own.authorization_params();
            assert_eq!(params.get("acr_values").map(String::as_str), Some("mfa"), "other parameters stay");
            params.get("prompt").cloned().unwrap()
        };
        assert_eq!(with_prompt("login"), "login consent");
        assert_eq!(with_prompt("select_account login"), "select_account login consent");
        assert_eq!(with_prompt("consent"), "consent", "a preset's own consent (Google's) is not doubled");
        assert_eq!(with_prompt("none"), "none", "none takes no other value");
        assert_eq!(with_prompt(""), "consent");
    }

    #[test]
    fn a_stored_provider_from_before_the_setting_keeps_its_request() {
        let mut stored = serde_json::to_value(ProviderConfig::new("https://id.example.com", "c")).unwrap();
        stored.as_object_mut().unwrap().remove("consentForOfflineAccess");
        let config: ProviderConfig = serde_json::from_value(stored).unwrap();
        assert!(!config.consent_for_offline_access);
        assert_eq!(config.authorization_params(), BTreeMap::new());
    }

    #[test]
    fn redirect_matching_ignores_query_and_loopback_port_only() {
        let mut config = ProviderConfig::new("https://id.example.com", "c");
        config.post_logout_redirect_uri = Some(RedirectUri::parse("http://127.0.0.1/signed-out").unwrap());
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(config.is_redirect(&url("http://127.0.0.1/callback?code=x&state=y")));
        assert!(config.is_redirect(&url("http://127.0.0.1:49152/callback?error=access_denied")));
        assert!(!config.is_redirect(&url("http://127.0.0.1/callback/other")));
        assert!(!config.is_redirect(&url("https://127.0.0.1/callback")));
        assert!(!config.is_redirect(&url("http://127.0.0.2/callback")));
        assert!(!config.is_redirect(&url("https://id.example.com/callback")));
        assert!(config.is_post_logout_redirect(&url("http://127.0.0.1/signed-out?state=1")));
        assert!(!config.is_post_logout_redirect(&url("http://127.0.0.1/callback")));
        config.redirect_uri = RedirectUri::parse("https://app.example.com:8443/cb").unwrap();
        assert!(config.is_redirect(&url("https://app.example.com:8443/cb?code=1")));
        assert!(!config.is_redirect(&url("https://app.example.com/cb?code=1")));
        config.post_logout_redirect_uri = None;
        assert!(!config.is_post_logout_redirect(&url("http://127.0.0.1/signed-out")));
    }
}
