//! Newtypes for the protocol values that were plain strings, so that they cannot be mixed up: a
//! session's name (validated once, when made), a redirect URI (parsed once, with the one
//! [`RedirectUri::matches`] that the embedded window, the loopback listener and the code exchange all
//! use), the issuer and the client id (checked by [`crate::ProviderConfig::validate`]).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};

/// A session's name: 1 to 64 letters, digits, spaces or `- _ . @`. Made only through
/// [`SessionName::new`] (or from a stored record, checked the same way), so a name that exists is valid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionName(String);

impl SessionName {
    /// Checks `name` once; everything past this point may rely on it.
    pub fn new(name: &str) -> Result<Self> {
        let valid =
            !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ' '));
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::InvalidConfiguration(format!(
                "\"{name}\" is not a valid session name: use 1 to 64 letters, digits, spaces or - _ . @."
            )))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<SessionName> for String {
    fn from(name: SessionName) -> Self {
        name.0
    }
}

impl TryFrom<String> for SessionName {
    type Error = Error;

    fn try_from(name: String) -> Result<Self> {
        Self::new(&name)
    }
}

impl std::ops::Deref for SessionName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for SessionName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for SessionName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SessionName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for SessionName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a string newtype that reads as its text (`as_str`, `Deref`, `Display`) and serializes as
/// a plain string.
macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_owned())
            }
        }
    };
}

text_newtype!(
    /// The provider's issuer URL, exactly as the provider announces it (compared as a string).
    Issuer
);

text_newtype!(
    /// The OAuth client id registered at the provider.
    ClientId
);

/// A redirect URI registered at the provider: parsed once, kept as written (it is sent to the
/// provider, which compares it as a string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri {
    text: String,
    url: Url,
}

impl RedirectUri {
    /// Parses a redirect URI; a URI with a fragment is refused (RFC 6749 section 3.1.2).
    pub fn parse(text: &str) -> Result<Self> {
        let url = Url::parse(text).map_err(|_| {
            Error::InvalidConfiguration(format!(
                "The redirect URI \"{text}\" is not a URL: write it in full, like http://127.0.0.1/callback."
            ))
        })?;
        if url.fragment().is_some() {
            return Err(Error::InvalidConfiguration(format!("The redirect URI \"{text}\" must not have a fragment.")));
        }
        Ok(Self { text: text.to_owned(), url })
    }

    /// The URI as a URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URI as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// This URI with another port (a loopback listener's).
    pub(crate) fn with_port(&self, port: u16) -> Result<Self> {
        let mut url = self.url.clone();
        url.set_port(Some(port)).map_err(|()| Error::InvalidConfiguration("cannot set the redirect port".into()))?;
        Ok(Self { text: url.to_string(), url })
    }

    /// Whether a navigation or request goes to this redirect URI: same scheme, host (case-blind) and
    /// path, with query and fragment ignored. The port must match, except that a loopback URI
    /// registered without a port matches any port (RFC 8252 section 7.3), as providers match it.
    pub fn matches(&self, navigation: &Url) -> bool {
        let target = &self.url;
        let port_matches = if is_loopback(target) && target.port().is_none() {
            true
        } else {
            target.port_or_known_default() == navigation.port_or_known_default()
        };
        target.scheme() == navigation.scheme()
            && target.host_str().map(str::to_ascii_lowercase) == navigation.host_str().map(str::to_ascii_lowercase)
            && port_matches
            && target.path() == navigation.path()
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        Self::parse(&text)
    }
}

impl From<RedirectUri> for String {
    fn from(uri: RedirectUri) -> Self {
        uri.text
    }
}

impl std::fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether the URL's host is a loopback address or `localhost`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_checked_once() {
        for ok in ["work", "Work 2", "alice@example.com", "a-b_c.d"] {
            assert_eq!(SessionName::new(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "a/b", "x".repeat(65).as_str(), "tab\there"] {
            assert_eq!(SessionName::new(bad).unwrap_err().kind(), crate::ErrorKind::InvalidConfiguration, "{bad:?}");
        }
    }

    #[test]
    fn a_redirect_uri_is_parsed_once_and_kept_as_written() {
        let uri = RedirectUri::parse("http://127.0.0.1/callback").unwrap();
        assert_eq!(serde_json::to_value(&uri).unwrap(), "http://127.0.0.1/callback");
        assert!(RedirectUri::parse("not a url").is_err());
        assert!(RedirectUri::parse("http://127.0.0.1/cb#x").is_err());
        assert!(serde_json::from_value::<RedirectUri>(serde_json::json!("nope")).is_err());
        let with_port = uri.with_port(49152).unwrap();
        assert_eq!(with_port.as_str(), "http://127.0.0.1:49152/callback");
    }

    #[test]
    fn matching_ignores_query_and_takes_any_port_only_on_a_portless_loopback_uri() {
        let url = |s: &str| Url::parse(s).unwrap();
        let loopback = RedirectUri::parse("http://127.0.0.1/callback").unwrap();
        assert!(loopback.matches(&url("http://127.0.0.1/callback?code=x&state=y")));
        assert!(loopback.matches(&url("http://127.0.0.1:49152/callback?error=access_denied")));
        assert!(!loopback.matches(&url("http://127.0.0.1/callback/other")));
        assert!(!loopback.matches(&url("https://127.0.0.1/callback")));
        assert!(!loopback.matches(&url("http://127.0.0.2/callback")));
        let listener = loopback.with_port(49152).unwrap();
        assert!(listener.matches(&url("http://127.0.0.1:49152/callback?code=1")));
        assert!(!listener.matches(&url("http://127.0.0.1:49153/callback?code=1")), "another program's port");
        let remote = RedirectUri::parse("https://app.example.com:8443/cb").unwrap();
        assert!(remote.matches(&url("https://APP.example.com:8443/cb?code=1")));
        assert!(!remote.matches(&url("https://app.example.com/cb?code=1")), "a remote URI matches on its port only");
        let remote_default = RedirectUri::parse("https://app.example.com/cb").unwrap();
        assert!(!remote_default.matches(&url("https://app.example.com:8443/cb")));
    }

    // Property tests (proptest): any text is parsed or refused without a panic, and a navigation
    // matches a redirect URI only with the same scheme, host and path, whatever its query.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text_is_parsed_or_refused(text in ".{0,80}") {
                let _ = RedirectUri::parse(&text);
            }

            #[test]
            fn a_match_means_the_same_scheme_host_and_path(
                scheme in "(http|https|com\\.example\\.app)",
                host in "(127\\.0\\.0\\.1|localhost|\\[::1\\]|app\\.example\\.com|evil\\.example)",
                port in proptest::option::of(1u16..),
                path in "(/|/callback|/callback/|/cb/x|/CALLBACK)",
                query in "[a-z=&%0-9]{0,30}",
            ) {
                let registered = RedirectUri::parse("http://127.0.0.1/callback").unwrap();
                let authority = match port { Some(port) => format!("{host}:{port}"), None => host.clone() };
                let Ok(navigation) = Url::parse(&format!("{scheme}://{authority}{path}?{query}")) else { return Ok(()) };
                if registered.matches(&navigation) {
                    prop_assert_eq!(navigation.scheme(), "http");
                    prop_assert_eq!(navigation.host_str(), Some("127.0.0.1"));
                    prop_assert_eq!(navigation.path(), "/callback");
                }
            }
        }
    }
}
