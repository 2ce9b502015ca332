//! Which proxy a provider call takes: the desktop's answer, so that the core and the sign-in window
//! take the same route.
//!
//! Why GIO: the embedded sign-in window is WebKitGTK, which asks GIO's default proxy resolver
//! (`g_proxy_resolver_get_default()`: glib-networking's GNOME resolver reading the desktop's proxy
//! settings, manual, PAC or automatic, or libproxy). If the core read only its environment, the two
//! halves of one sign-in could take different routes: the login page through the company proxy, the
//! code exchange straight at a firewall. So the core asks the same resolver for every provider call
//! (discovery, keys, token, userinfo, revocation) and takes its answer as final, `direct://`
//! included, and falls back to the environment's variables (`https_proxy`, `http_proxy`, `all_proxy`,
//! `no_proxy`) only where GIO fails. Outside GNOME, GIO's libproxy resolver reads those variables
//! itself; in a GNOME session the desktop's settings decide (mode "none" is direct for both halves,
//! whatever the variables say, as glib-networking's GNOME resolver answers). Loopback targets never go
//! through a proxy.
//!
//! reqwest asks for a route synchronously, per connection ([`reqwest::Proxy::custom`]), while GIO's
//! lookup may block (a PAC file is fetched and run). So answers are cached per scheme, host and port
//! for [`CACHE_FOR`]; the HTTP layer resolves ahead of each request off the async workers
//! ([`prepare`]); and a lookup that still has to happen on a worker waits at most [`LOOKUP_BOUND`]
//! before using the environment's answer for now.
//!
//! Proxy credentials come from the proxy URL's user information (GIO puts the desktop's
//! `authentication-user`/`authentication-password` there; so can `https_proxy`). They are never
//! logged nor shown: every proxy named in a message or a log goes through [`shown`].

mod environment;
#[cfg(target_os = "linux")]
mod gio;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use url::Url;

use crate::error::{Cause, Error};
/// localhost, 127.0.0.0/8 and ::1, the hosts plain http is accepted for: never through a proxy.
use crate::names::is_loopback;
pub use environment::EnvironmentResolver;

/// How long an answer is reused for the same scheme, host and port.
pub const CACHE_FOR: Duration = Duration::from_secs(30);
/// The longest a lookup may hold the caller (a PAC file being fetched and run); past it the
/// environment's answer is used for now and the resolver's answer is kept when it comes.
pub const LOOKUP_BOUND: Duration = Duration::from_secs(2);
/// What a proxy that asks for credentials means for the user.
pub const ADVICE_PROXY_CREDENTIALS: &str =
    "Put the proxy's user name and password in the desktop's proxy settings, or ask your network administrator.";

/// Says which proxies to use for a URL: the GIO resolver on Linux; the tests give their own, and so
/// can another platform's (a [`Router`] takes any).
pub trait ProxyResolver: Send + Sync {
    /// The proxies for `url`, best first, as URLs (`http://host:port`, `direct://` for none); `None`
    /// when this resolver has no answer of its own (the environment's variables then decide).
    fn lookup(&self, url: &Url) -> Option<Vec<String>>;
}

/// The way to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Straight to it.
    Direct,
    /// Through this proxy (an `http` or `https` URL, possibly with credentials).
    Proxy(Url),
}

/// The resolver, the environment fallback and the cache of answers.
pub(crate) struct Router {
    resolver: Option<Arc<dyn ProxyResolver>>,
    environment: EnvironmentResolver,
    cache: Mutex<HashMap<String, (Instant, Route)>>,
}

static ROUTER: OnceLock<Arc<Router>> = OnceLock::new();

fn router() -> &'static Arc<Router> {
    ROUTER.get_or_init(|| {
        #[cfg(target_os = "linux")]
        let resolver: Option<Arc<dyn ProxyResolver>> = Some(Arc::new(gio::GioResolver));
        #[cfg(not(target_os = "linux"))]
        let resolver: Option<Arc<dyn ProxyResolver>> = None;
        Arc::new(Router::new(resolver, EnvironmentResolver::from_env()))
    })
}

/// Sets `builder`'s proxy rule for provider calls: the route the desktop gives, per connection.
pub(crate) fn route(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    let router = router().clone();
    builder.proxy(reqwest::Proxy::custom(move |url| match router.route_for(url) {
        Route::Proxy(proxy) => Some(proxy),
        Route::Direct => None,
    }))
}

/// Resolves `url`'s route ahead of a request, off the async workers, so that the connection's
/// synchronous question is answered from the cache.
pub(crate) async fn prepare(url: &Url) {
    let router = router().clone();
    if is_loopback(url) || Router::key(url).is_none_or(|key| router.cached(&key).is_some()) {
        return;
    }
    let target = url.clone();
    // `route_for` bounds the wait in real time, on a blocking thread: a paused test clock cannot
    // cut it short, and no async worker waits.
    let _ = tokio::task::spawn_blocking(move || router.route_for(&target)).await;
}

/// The route `url` takes now (cached, or resolved within [`LOOKUP_BOUND`]).
pub(crate) fn route_of(url: &Url) -> Route {
    router().route_for(url)
}

impl Router {
    pub(crate) fn new(resolver: Option<Arc<dyn ProxyResolver>>, environment: EnvironmentResolver) -> Self {
        Router { resolver, environment, cache: Mutex::default() }
    }

    /// scheme://host:port, what an answer is cached under.
    fn key(url: &Url) -> Option<String> {
        Some(format!("{}://{}:{}", url.scheme(), url.host_str()?, url.port_or_known_default()?))
    }

    fn cached(&self, key: &str) -> Option<Route> {
        let cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.get(key).filter(|(until, _)| Instant::now() < *until).map(|(_, route)| route.clone())
    }

    fn remember(&self, key: String, route: Route, for_how_long: Duration) {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= 256 {
            let now = Instant::now();
            cache.retain(|_, (until, _)| now < *until);
        }
        cache.insert(key, (Instant::now() + for_how_long, route));
    }

    /// The route for `url`: from the cache, else looked up on a thread of its own for at most
    /// [`LOOKUP_BOUND`] (the environment's answer meanwhile).
    pub(crate) fn route_for(self: &Arc<Self>, url: &Url) -> Route {
        if is_loopback(url) {
            return Route::Direct;
        }
        let Some(key) = Self::key(url) else { return Route::Direct };
        if let Some(route) = self.cached(&key) {
            return route;
        }
        let (sender, receiver) = std::sync::mpsc::channel();
        let (router, target) = (self.clone(), url.clone());
        let spawned = std::thread::Builder::new().name("proxy-lookup".into()).spawn(move || {
            let _ = sender.send(router.resolve(&target));
        });
        match spawned.ok().and_then(|_| receiver.recv_timeout(LOOKUP_BOUND).ok()) {
            Some(route) => route,
            None => {
                tracing::warn!(target = %key, "the proxy lookup took longer than {LOOKUP_BOUND:?}: the environment's proxy is used meanwhile");
                let route = self.environment.route(url);
                self.remember(key, route.clone(), LOOKUP_BOUND);
                route
            }
        }
    }

    /// Asks the resolver (blocking), falls back to the environment, and caches the answer.
    pub(crate) fn resolve(&self, url: &Url) -> Route {
        if is_loopback(url) {
            return Route::Direct;
        }
        let Some(key) = Self::key(url) else { return Route::Direct };
        let began = Instant::now();
        let answer = self.resolver.as_ref().and_then(|resolver| resolver.lookup(url));
        let route = match &answer {
            Some(candidates) => choose(candidates),
            None => self.environment.route(url),
        };
        tracing::debug!(
            target = %key,
            from = if answer.is_some() { "desktop" } else { "environment" },
            route = %shown_route(&route),
            micros = began.elapsed().as_micros() as u64,
            "proxy resolved"
        );
        self.remember(key, route.clone(), CACHE_FOR);
        route
    }
}

/// The first usable answer: `direct://`, or an `http`/`https` proxy (reqwest speaks no SOCKS here;
/// such an answer is passed over, and if none is left the call goes direct, said in the log).
pub(crate) fn choose(candidates: &[String]) -> Route {
    for candidate in candidates {
        if candidate.trim() == "direct://" {
            return Route::Direct;
        }
        match Url::parse(candidate.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => return Route::Proxy(url),
            Ok(url) => tracing::warn!(proxy = %shown(&url), "a proxy of this kind is not supported; trying the next"),
            Err(_) => tracing::warn!("the proxy resolver gave an address that is not a URL; trying the next"),
        }
    }
    Route::Direct
}

/// A proxy as it may be shown or logged: scheme, host and port, never credentials.
pub fn shown(proxy: &Url) -> String {
    match (proxy.host_str(), proxy.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", proxy.scheme()),
        (Some(host), None) => format!("{}://{host}", proxy.scheme()),
        _ => proxy.scheme().to_owned(),
    }
}

fn shown_route(route: &Route) -> String {
    match route {
        Route::Direct => "direct".into(),
        Route::Proxy(proxy) => shown(proxy),
    }
}

/// A proxy's 407 answer to a plain-HTTP request ([`super::http`] makes it the request's error).
#[derive(Debug)]
pub(crate) struct ProxyDemand {
    /// The proxy, shown without credentials.
    pub(crate) proxy: String,
    /// Whether credentials were sent (and so refused).
    pub(crate) credentials_sent: bool,
}

impl std::fmt::Display for ProxyDemand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the proxy {} answered HTTP 407 (proxy authentication required)", self.proxy)
    }
}

impl std::error::Error for ProxyDemand {}

/// The error for a transport failure that the proxy caused, if `err` is one: it asks for
/// credentials (a CONNECT or a plain request answered 407: `proxy_refused`), or it cannot be reached
/// (`provider_unavailable`, retried). `None` leaves the failure to the other classifications.
pub(crate) fn refused(endpoint: &str, err: &(dyn std::error::Error + 'static)) -> Option<Error> {
    let url = Url::parse(endpoint).ok()?;
    let Route::Proxy(proxy) = route_of(&url) else { return None };
    classify(endpoint, &proxy, err)
}

/// [`refused`] for a call known to have gone through `proxy`.
pub(crate) fn classify(endpoint: &str, proxy: &Url, err: &(dyn std::error::Error + 'static)) -> Option<Error> {
    let credentials_sent = !proxy.username().is_empty() || proxy.password().is_some();
    let cause = || Some(Cause(super::errors::describe_http_error(err)));
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut unreachable = false;
    while let Some(inner) = source {
        let text = inner.to_string();
        // hyper-util's TunnelError is not exported: its words are all there is to match.
        // An io::Error's source is its inner error's source, not the inner error: look inside.
        let demand = inner.downcast_ref::<ProxyDemand>().or_else(|| {
            inner.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|inner| inner.downcast_ref::<ProxyDemand>())
        });
        if demand.is_some() || text == "tunnel error: proxy authorization required" {
            let reason = if demand.map_or(credentials_sent, |demand| demand.credentials_sent) {
                "it did not accept the user name and password it was given (HTTP 407)"
            } else {
                "it asks for a user name and password (HTTP 407)"
            };
            return Some(Error::ProxyRefused {
                endpoint: endpoint.to_owned(),
                proxy: shown(proxy),
                reason: reason.to_owned(),
                advice: ADVICE_PROXY_CREDENTIALS,
                source: cause(),
            });
        }
        if text == "tunnel error: unsuccessful" {
            let reason = format!("the proxy {} could not connect to it", shown(proxy));
            return Some(Error::ProviderUnavailable { endpoint: endpoint.to_owned(), reason, answered: false, source: cause() });
        }
        unreachable |= text == "tunnel error: failed to create underlying connection" || text.starts_with("dns error");
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            unreachable |= matches!(io.kind(), ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable);
        }
        source = inner.source();
    }
    unreachable.then(|| Error::ProviderUnavailable {
        endpoint: endpoint.to_owned(),
        reason: format!("the proxy {} could not be reached", shown(proxy)),
        answered: false,
        source: cause(),
    })
}
