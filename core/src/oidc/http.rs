//! The HTTP client every provider call goes through, and the one place where what a provider says is
//! bounded before `openidconnect` reads it:
//!
//! - every response body is capped at [`MAX_BODY`] and refused past it without reading the rest;
//! - a token response's `expires_in` is brought into [`MIN_ACCESS_LIFETIME`]..=[`MAX_ACCESS_LIFETIME`]:
//!   zero, negative, a number written as a string, a fraction or an absurd value is clamped, one that
//!   is not a number at all is taken from the access token's own `exp` when it is a JWT (else dropped),
//!   and the change is reported as a warning on the card ([`ADJUSTED_FIELD`]);
//! - a token response with a wrong `Content-Type` but a JSON body is read as JSON;
//! - an answer with a 5xx or 429 status is an outage ([`Outage`]) whatever its body says: a provider
//!   whose database failed may well write `{"error":"invalid_grant"}` on its 500 page;
//! - a plain-HTTP request that its proxy answers 407 is the proxy's refusal, not the provider's
//!   answer ([`super::proxy::ProxyDemand`]); the route is resolved before each request, off the async
//!   workers ([`super::proxy::prepare`]).
//!
//! A refresh answer usually carries a rotated refresh token that the provider has already made the
//! only valid one; refusing the whole answer for a harmless defect would lose it and sign the user out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::http;
use openidconnect::{AsyncHttpClient, HttpClientError, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use crate::clock::{Clock, ClockOffset};

/// The largest body read from a provider (discovery, signing keys, token, userinfo): 1 MiB, far more
/// than any of them needs.
pub const MAX_BODY: usize = 1024 * 1024;
/// The shortest access-token lifetime believed: a token that is already dead on arrival is nonsense.
/// (Refreshes stay `minRefreshInterval` apart whatever the lifetime, so short ones cause no storm.)
pub const MIN_ACCESS_LIFETIME: Duration = Duration::from_secs(1);
/// The longest access-token lifetime believed (a day): beyond, the provider is not taken at its word.
pub const MAX_ACCESS_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The request bound assumed when the client's builder did not say (`reqwest`'s own is none).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// The field through which the HTTP layer tells the token parser what it changed.
pub const ADJUSTED_FIELD: &str = "x_session_keeper_adjusted";

/// A `reqwest` client with the caps and repairs above, for `openidconnect`. It also learns the
/// provider's clock offset from each answer's `Date` ([`ClockOffset`]); one per provider
/// ([`ProviderHttp::for_provider`]), the connection pool shared.
#[derive(Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    offset: Arc<ClockOffset>,
    /// The longest wait for one request, as the client was built with (a provider's own client is
    /// built with the same).
    timeout: Duration,
}

impl std::fmt::Debug for ProviderHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderHttp").field("offset", &self.offset.get()).finish_non_exhaustive()
    }
}

impl ProviderHttp {
    /// Wraps `client`; local time comes from `clock`.
    pub fn new(client: reqwest::Client, clock: Arc<dyn Clock>) -> Self {
        Self { client, clock, offset: Arc::default(), timeout: DEFAULT_TIMEOUT }
    }

    /// Says the longest wait for one request `client` was built with.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest wait for one request, as the client was built with.
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }

    /// The same client with a clock offset of its own, for one provider.
    pub fn for_provider(&self) -> Self {
        self.with_client(self.client.clone())
    }

    /// Another client (a provider's own trust) with the same clock and timeout, and a clock offset of
    /// its own.
    pub fn with_client(&self, client: reqwest::Client) -> Self {
        Self { client, clock: self.clock.clone(), offset: Arc::default(), timeout: self.timeout }
    }

    /// The time now on the provider's clock, as far as its answers tell.
    pub fn provider_now(&self) -> DateTime<Utc> {
        self.clock.now() + self.offset.get()
    }

    /// The provider's clock minus ours.
    pub fn clock_offset(&self) -> chrono::TimeDelta {
        self.offset.get()
    }

    /// The plain client, for calls whose body is not read (revocation).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

type Failure = HttpClientError<reqwest::Error>;

impl<'c> AsyncHttpClient<'c> for ProviderHttp {
    type Error = Failure;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Failure>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request: reqwest::Request = request.try_into().map_err(Box::new)?;
            // Token answers come from POSTs; discovery, keys and userinfo are not parsed twice.
            let token_call = request.method() == reqwest::Method::POST;
            let url = request.url().clone();
            super::proxy::prepare(&url).await;
            let mut response = self.client.execute(request).await.map_err(Box::new)?;
            if response.status() == http::StatusCode::PROXY_AUTHENTICATION_REQUIRED
                && let super::proxy::Route::Proxy(proxy) = super::proxy::route_of(&url)
            {
                // A plain-HTTP request's proxy answers for itself (an HTTPS one's refuses the tunnel,
                // which reqwest reports as the request's error).
                let credentials_sent = !proxy.username().is_empty() || proxy.password().is_some();
                let demand = super::proxy::ProxyDemand { proxy: super::proxy::shown(&proxy), credentials_sent };
                return Err(HttpClientError::Io(std::io::Error::other(demand)));
            }
            if let Some(date) = response.headers().get(http::header::DATE).and_then(|date| date.to_str().ok()) {
                self.offset.observe(date, self.clock.now());
            }
            let mut builder = http::Response::builder().status(response.status()).version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let status = response.status().as_u16();
            if status >= 500 || status == 429 {
                let retry_after = retry_after(&response, self.provider_now());
                // The body only lends the provider's error code to the log (one too large is not read).
                // Not its description: a server's own failure describes its inside (Canaille's is the
                // raw SQL error, with the tokens it failed to insert), which has no place in a log.
                let said = read_capped(&mut response).await.ok().and_then(|body| super::errors::oauth_error_code_in(&body));
                return Err(Outage { status, retry_after, said }.into());
            }
            // A token endpoint's redirect is not followed (a token request is never replayed
            // elsewhere), and whatever its body says it is no OAuth error: only a 4xx is one.
            if token_call && response.status().is_redirection() {
                return Err(HttpClientError::Other(format!("it answered HTTP {status}, a redirect, which is not followed")));
            }
            let body = read_capped(&mut response).await?;
            let mut response = builder.body(body).map_err(HttpClientError::Http)?;
            if token_call {
                repair_token_response(&mut response, self.provider_now());
            }
            Ok(response)
        })
    }
}

/// The body of `response`, refused past [`MAX_BODY`] without reading the rest.
async fn read_capped(response: &mut reqwest::Response) -> Result<Vec<u8>, Failure> {
    if response.content_length().is_some_and(|length| length > MAX_BODY as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Box::new)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A provider's answer that means "not now": any 5xx, and 429 (RFC 6585). It is told apart here,
/// where the status is known, because `openidconnect` reads a token endpoint's error body without
/// its status and would take a 500 carrying `{"error":"invalid_grant"}` for a dead grant. It travels
/// through `openidconnect` as the request's error, inside the one typed slot `HttpClientError` has
/// (an `io::Error`), and is read back with [`outage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outage {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The provider's `Retry-After` (on a 429 or 503), if it gave one.
    pub(crate) retry_after: Option<Duration>,
    /// Its OAuth error code, made safe and quoted ([`super::errors::oauth_error_code_in`]); never its
    /// description.
    pub(crate) said: Option<String>,
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(said) = &self.said {
            write!(f, "; the provider said {said}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Outage {}

impl From<Outage> for Failure {
    fn from(outage: Outage) -> Self {
        HttpClientError::Io(std::io::Error::other(outage))
    }
}

/// The outage this request error stands for, if it is one.
pub(crate) fn outage(err: &Failure) -> Option<&Outage> {
    match err {
        HttpClientError::Io(io) => io.get_ref()?.downcast_ref::<Outage>(),
        _ => None,
    }
}

/// `Retry-After` on a 429 or 503 answer, as seconds or an HTTP date (RFC 9110 section 10.2.3).
fn retry_after(response: &reqwest::Response, now: DateTime<Utc>) -> Option<Duration> {
    let status = response.status().as_u16();
    if status != 429 && status != 503 {
        return None;
    }
    let value = response.headers().get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The wait a provider asked for, if this request error carries one.
pub(crate) fn throttled(err: &Failure) -> Option<Duration> {
    outage(err)?.retry_after
}

fn too_large() -> Failure {
    HttpClientError::Other(format!("the answer is larger than {} KiB and was not read", MAX_BODY / 1024))
}

/// Bounds a token response's `expires_in` and reads a JSON body as JSON whatever its content type.
/// Anything else is left for `openidconnect` to judge.
pub(crate) fn repair_token_response(response: &mut HttpResponse, now: DateTime<Utc>) {
    if !response.status().is_success() {
        return;
    }
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(response.body()) else { return };
    if !fields.contains_key("access_token") {
        return;
    }
    let mut notes = Vec::new();
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(';').next().is_some_and(|kind| kind.trim().eq_ignore_ascii_case("application/json")));
    if !is_json {
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        notes.push("its token answer was not labelled as JSON".to_owned());
    }
    notes.extend(bound_expires_in(&mut fields, now));
    if notes.is_empty() {
        return;
    }
    fields.insert(ADJUSTED_FIELD.into(), Value::String(format!("The provider's answer was adjusted: {}.", notes.join("; "))));
    if let Ok(body) = serde_json::to_vec(&Value::Object(fields)) {
        *response.body_mut() = body;
    }
}

/// Brings `expires_in` into the believed range; returns what was changed, in words.
fn bound_expires_in(fields: &mut Map<String, Value>, now: DateTime<Utc>) -> Option<String> {
    let said = fields.get("expires_in")?.clone();
    let seconds = match &said {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    let (min, max) = (MIN_ACCESS_LIFETIME.as_secs(), MAX_ACCESS_LIFETIME.as_secs());
    let bounded = match seconds.filter(|s| s.is_finite()) {
        Some(s) if s >= min as f64 && s <= max as f64 && s.fract() == 0.0 && said.is_u64() => return None,
        Some(s) => (s.floor() as i64).clamp(min as i64, max as i64),
        None => match jwt_lifetime(fields.get("access_token"), now) {
            Some(s) => s.clamp(min as i64, max as i64),
            None => {
                fields.remove("expires_in");
                return Some(format!("its access-token lifetime ({said}) is not a number and was ignored"));
            }
        },
    };
    fields.insert("expires_in".into(), Value::from(bounded));
    Some(format!("its access-token lifetime ({said}) was taken as {bounded} s"))
}

/// The seconds left on an access token that is a JWT with an `exp` claim (read, not verified: it only
/// informs a lifetime, never a decision to trust).
fn jwt_lifetime(token: Option<&Value>, now: DateTime<Utc>) -> Option<i64> {
    use base64::Engine as _;
    let payload = token?.as_str()?.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let exp = serde_json::from_slice::<Value>(&bytes).ok()?.get("exp")?.as_i64()?;
    Some(exp - now.timestamp())
}

#[cfg(test)]
mod tests;
