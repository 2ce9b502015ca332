//! The desktop's proxy answer through GIO, as WebKitGTK gets it: `g_proxy_resolver_get_default()`
//! (glib-networking's GNOME resolver or libproxy: manual, PAC and automatic settings).

use gio::prelude::*;
use url::Url;

use super::ProxyResolver;

/// The desktop's proxy settings' schema (gsettings-desktop-schemas).
const SCHEMA: &str = "org.gnome.system.proxy";

/// GIO's default proxy resolver, whose answer is final, `direct://` included: it is the answer the
/// sign-in window gets, so taking another would split one sign-in over two routes. (Outside GNOME
/// GIO's libproxy resolver reads `https_proxy` and `no_proxy` itself; in a GNOME session whose proxy
/// mode is "none" both halves go direct, whatever the variables say.) Only when GIO fails does the
/// environment decide.
pub(crate) struct GioResolver;

impl ProxyResolver for GioResolver {
    fn lookup(&self, url: &Url) -> Option<Vec<String>> {
        let resolver = gio::ProxyResolver::default();
        let answer = match resolver.lookup(url.as_str(), gio::Cancellable::NONE) {
            Ok(answer) => answer.iter().map(|uri| uri.to_string()).collect::<Vec<_>>(),
            Err(err) => {
                tracing::warn!(error = %err.message(), "the desktop's proxy resolver failed; the environment's proxy settings are used");
                return None;
            }
        };
        Some(answer.into_iter().map(|uri| with_desktop_credentials(&uri)).collect())
    }
}

/// The desktop's proxy settings, if its schema is installed.
fn settings(schema: &str) -> Option<gio::Settings> {
    let source = gio::SettingsSchemaSource::default()?;
    source.lookup(schema, true)?;
    Some(gio::Settings::new(schema))
}

/// `uri` with the desktop's HTTP proxy credentials in it when it is that proxy and has none (GIO's
/// GNOME resolver gives the host and port only).
fn with_desktop_credentials(uri: &str) -> String {
    let Ok(mut proxy) = Url::parse(uri) else { return uri.to_owned() };
    if !matches!(proxy.scheme(), "http" | "https") || !proxy.username().is_empty() {
        return uri.to_owned();
    }
    let Some(http) = settings(&format!("{SCHEMA}.http")) else { return uri.to_owned() };
    if !http.boolean("use-authentication") {
        return uri.to_owned();
    }
    let same_host = proxy.host_str() == Some(http.string("host").as_str());
    let same_port = proxy.port_or_known_default() == u16::try_from(http.int("port")).ok();
    let user = http.string("authentication-user");
    if !same_host || !same_port || user.is_empty() {
        return uri.to_owned();
    }
    let password = http.string("authentication-password");
    if proxy.set_username(&user).is_err() || proxy.set_password(Some(&password)).is_err() {
        return uri.to_owned();
    }
    proxy.to_string()
}
