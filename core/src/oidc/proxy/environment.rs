//! The environment's proxy variables, as curl and most programs read them: `https_proxy` for https
//! URLs, `http_proxy` for http ones, `all_proxy` for both when the specific one is missing (lower
//! case first, then upper case; `HTTP_PROXY` upper case is ignored, as curl does, since a CGI
//! program's environment puts a request header there), and `no_proxy`: a comma-separated list of
//! host names (`example.com` and `.example.com` both match it and its subdomains), IP addresses,
//! CIDR ranges and `*` (every host).

use std::net::IpAddr;

use url::Url;

use super::{ProxyResolver, Route, choose};

/// The environment's proxy settings, read once.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentResolver {
    https: Option<String>,
    http: Option<String>,
    all: Option<String>,
    no_proxy: Vec<String>,
}

impl EnvironmentResolver {
    /// The settings of this process's environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The settings that `var` gives (a variable's value by name), for tests and callers with an
    /// environment of their own.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let read = |names: &[&str]| names.iter().find_map(|name| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()));
        EnvironmentResolver {
            https: read(&["https_proxy", "HTTPS_PROXY"]),
            http: read(&["http_proxy"]),
            all: read(&["all_proxy", "ALL_PROXY"]),
            no_proxy: read(&["no_proxy", "NO_PROXY"])
                .map(|list| list.split(',').map(|entry| entry.trim().to_ascii_lowercase()).filter(|entry| !entry.is_empty()).collect())
                .unwrap_or_default(),
        }
    }

    /// The route the environment gives `url`.
    pub fn route(&self, url: &Url) -> Route {
        match self.lookup(url) {
            Some(candidates) => choose(&candidates),
            None => Route::Direct,
        }
    }

    fn excluded(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else { return false };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.no_proxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some((network, bits)) = entry.split_once('/') {
                return match (ip, network.parse::<IpAddr>(), bits.parse::<u32>()) {
                    (Some(ip), Ok(network), Ok(bits)) => in_network(ip, network, bits),
                    _ => false,
                };
            }
            // An entry may carry a port (host:port) that must then match too; an IPv6 literal in
            // brackets may too.
            let (name, port) = match entry.rsplit_once(':') {
                Some((name, port)) if !name.contains(':') || name.ends_with(']') => (name, port.parse::<u16>().ok()),
                _ => (entry.as_str(), None),
            };
            if port.is_some_and(|port| Some(port) != url.port_or_known_default()) {
                return false;
            }
            let name = name.trim_start_matches('[').trim_end_matches(']');
            let name = name.strip_prefix("*.").or_else(|| name.strip_prefix('.')).unwrap_or(name);
            host == name || host.ends_with(&format!(".{name}"))
        })
    }
}

impl ProxyResolver for EnvironmentResolver {
    fn lookup(&self, url: &Url) -> Option<Vec<String>> {
        if self.excluded(url) {
            return Some(vec!["direct://".into()]);
        }
        let specific = match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        };
        let proxy = specific.or(self.all.as_ref())?;
        // `proxy:3128` without a scheme is an HTTP proxy, as curl takes it.
        Some(vec![if proxy.contains("://") { proxy.clone() } else { format!("http://{proxy}") }])
    }
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u32) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}
