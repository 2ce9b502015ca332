//! The loopback redirect of a system-browser sign-in (RFC 8252 section 7.3): a one-shot HTTP listener on
//! 127.0.0.1 that receives the provider's redirect from whatever browser the user has, answers it with a
//! page saying the window can be closed, and hands the redirect URL to the caller.
//!
//! hyper parses the requests: the listener is reachable by every local program, so it must cope with
//! anything a hostile one sends (garbage, half requests, connections held open), and the answer to
//! each is decided by the caller, so that only the request carrying the pending sign-in's `state` ends it.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, header, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use url::Url;

use crate::error::{Error, Result};
use crate::names::RedirectUri;

/// A request that reached the listener, waiting for the caller's answer.
pub(crate) struct Arrival {
    /// The full URL the browser asked for (`http://127.0.0.1:<port>/<path>?<query>`).
    pub url: Url,
    answer: oneshot::Sender<Page>,
}

impl Arrival {
    /// Sends the browser its page.
    pub fn answer(self, page: Page) {
        let _ = self.answer.send(page);
    }
}

/// What the browser is shown.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    status: StatusCode,
    title: String,
    message: String,
}

impl Page {
    /// Signed in: the tab has done its job.
    pub fn signed_in(provider: &str) -> Self {
        Self {
            status: StatusCode::OK,
            title: "Signed in".into(),
            message: format!("You are signed in to {provider} in Session Keeper. You can close this window."),
        }
    }

    /// The sign-in failed; the app shows the same error.
    pub fn failed(error: &Error) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title: "Sign-in failed".into(),
            message: format!("{error} You can close this window and start again from Session Keeper."),
        }
    }

    /// A request that is not the redirect Session Keeper waits for (wrong path, wrong `state`).
    pub fn not_this(status: StatusCode, why: &str) -> Self {
        Self { status, title: "Not this sign-in".into(), message: format!("{why} You can close this window.") }
    }

    fn render(&self) -> Response<Full<Bytes>> {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · Session Keeper</title>\
             <meta name=\"viewport\" content=\"width=device-width\"></head>\
             <body style=\"font:16px system-ui,sans-serif;max-width:34em;margin:4em auto;padding:0 1em\">\
             <h1 style=\"font-size:1.4em\">{title}</h1><p id=\"message\">{message}</p></body></html>",
            title = escape(&self.title),
            message = escape(&self.message),
        );
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
        headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        // The page is ours alone: no script, no frames, no referrer carrying the code onwards.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
        );
        headers.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
        response
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A listener bound for one sign-in. Dropping it closes the port; connections still open get their
/// answer (or "no longer waiting") and end.
pub(crate) struct LoopbackListener {
    redirect_uri: RedirectUri,
    arrivals: mpsc::Receiver<Arrival>,
    /// The accept loop; aborted (the port closes) when the listener is dropped.
    _accept: JoinSet<()>,
}

impl LoopbackListener {
    /// Binds the configured loopback redirect URI: on its port if it names one, else on an ephemeral
    /// port chosen by the system. The URI must be `http://` on a loopback IP literal.
    pub async fn bind(configured: &RedirectUri) -> Result<Self> {
        let redirect_uri = loopback_redirect_uri(configured)?;
        let ip: IpAddr = match redirect_uri.host() {
            Some(url::Host::Ipv6(ip)) => ip.into(),
            Some(url::Host::Ipv4(ip)) => ip.into(),
            _ => Ipv4Addr::LOCALHOST.into(),
        };
        let listener = TcpListener::bind(SocketAddr::new(ip, redirect_uri.port().unwrap_or(0))).await.map_err(|err| {
            Error::InvalidConfiguration(format!(
                "Could not listen on {ip} for the sign-in redirect ({}). If the redirect URI names a port, another program uses it: register the redirect URI without a port.",
                if err.kind() == std::io::ErrorKind::AddrInUse { "the port is in use" } else { "the system refused" }
            ))
        })?;
        let port = listener.local_addr().map_err(|err| Error::InvalidConfiguration(err.to_string()))?.port();
        let redirect_uri = configured.with_port(port)?;
        let (sender, arrivals) = mpsc::channel(8);
        let mut connections = JoinSet::new();
        connections.spawn(accept(listener, redirect_uri.clone(), sender));
        Ok(Self { redirect_uri, arrivals, _accept: connections })
    }

    /// The redirect URI of this attempt, with its port.
    pub fn redirect_uri(&self) -> &RedirectUri {
        &self.redirect_uri
    }

    /// The next request, or `None` if the listener failed.
    pub async fn next(&mut self) -> Option<Arrival> {
        self.arrivals.recv().await
    }
}

/// The configured redirect URI, if it can be listened on: plain http on a loopback IP literal.
/// (`localhost` may resolve elsewhere, which is why RFC 8252 section 8.3 advises against it.)
pub(crate) fn loopback_redirect_uri(configured: &RedirectUri) -> Result<Url> {
    let uri = configured.url().clone();
    let loopback_ip = match uri.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    if uri.scheme() != "http" || !loopback_ip {
        return Err(Error::InvalidConfiguration(format!(
            "Signing in with the system browser needs a loopback redirect URI such as {}, registered at the provider; \"{configured}\" is not one.",
            crate::DEFAULT_REDIRECT_URI
        )));
    }
    Ok(uri)
}

async fn accept(listener: TcpListener, base: RedirectUri, arrivals: mpsc::Sender<Arrival>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let base = base.clone();
        let arrivals = arrivals.clone();
        // Detached, so that the last answer ("you can close this window") is still written after
        // the sign-in has ended and the listener is gone. Each connection ends by itself: one request,
        // no keep-alive, a bounded wait for the headers.
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let base = base.clone();
                let arrivals = arrivals.clone();
                async move { Ok::<_, Infallible>(respond(request, &base, &arrivals).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                // A client that opens a connection and says nothing cannot hold a task for long.
                .header_read_timeout(Duration::from_secs(10))
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = connection.await;
        });
    }
}

async fn respond(request: Request<Incoming>, base: &RedirectUri, arrivals: &mpsc::Sender<Arrival>) -> Response<Full<Bytes>> {
    if request.method() != hyper::Method::GET {
        return Page::not_this(StatusCode::METHOD_NOT_ALLOWED, "Session Keeper only takes the provider's redirect here.").render();
    }
    let target = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let Ok(url) = base.url().join(target) else {
        return Page::not_this(StatusCode::BAD_REQUEST, "This address could not be read.").render();
    };
    if !base.matches(&url) {
        return Page::not_this(StatusCode::NOT_FOUND, "There is nothing here.").render();
    }
    let (answer, page) = oneshot::channel();
    if arrivals.send(Arrival { url, answer }).await.is_err() {
        return Page::not_this(StatusCode::GONE, "Session Keeper is no longer waiting for this sign-in.").render();
    }
    match page.await {
        Ok(page) => page.render(),
        Err(_) => Page::not_this(StatusCode::GONE, "Session Keeper is no longer waiting for this sign-in.").render(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_ip_literals_over_http_can_be_listened_on() {
        let uri = |s: &str| RedirectUri::parse(s).unwrap();
        for ok in ["http://127.0.0.1/callback", "http://127.0.0.1:8765/cb", "http://[::1]/callback"] {
            loopback_redirect_uri(&uri(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert!(RedirectUri::parse("x").is_err());
        for bad in ["http://localhost/callback", "https://127.0.0.1/callback", "http://10.0.0.1/cb", "com.example:/cb"] {
            let err = loopback_redirect_uri(&uri(bad)).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidConfiguration, "{bad}");
        }
        let err = loopback_redirect_uri(&uri("https://app.example.com/cb")).unwrap_err();
        assert!(err.to_string().contains("http://127.0.0.1/callback"), "{err}");
    }

    #[tokio::test]
    async fn pages_escape_what_they_show() {
        use http_body_util::BodyExt;
        let page = Page::failed(&Error::SignInRejected("<script>alert(1)</script>".into()));
        let body = page.render().into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains("<script>"), "{body}");
        assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{body}");
    }

    #[tokio::test]
    async fn the_port_is_ephemeral_and_closes_with_the_listener() {
        let listener = LoopbackListener::bind(&RedirectUri::parse("http://127.0.0.1/callback").unwrap()).await.unwrap();
        let uri = listener.redirect_uri().url().clone();
        let port = uri.port().expect("a port was chosen");
        assert_ne!(port, 0);
        assert_eq!(uri.path(), "/callback");
        assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok());
        drop(listener);
        // The accept task is aborted on drop and ends the next time the runtime polls it.
        let mut closed = false;
        for _ in 0..100 {
            tokio::task::yield_now().await;
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                closed = true;
                break;
            }
        }
        assert!(closed, "port {port} still open after the listener was dropped");
    }

    // Property tests (proptest): whatever a local program sends to the listener, it gets an answer or
    // a closed connection within the header timeout, never a panic, and only a GET of the redirect
    // path reaches the sign-in; the listener keeps working after each.
    mod properties {
        use super::*;
        use proptest::prelude::*;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        /// Sends `bytes` (then closes the sending half if `half_close`: a garbage request may otherwise
        /// wait for the header timeout; hyper drops a half-closed connection, answered or not) and
        /// returns what came back and what the sign-in saw.
        async fn exchange(bytes: Vec<u8>, half_close: bool) -> (Vec<u8>, Vec<Url>) {
            let mut listener = LoopbackListener::bind(&RedirectUri::parse("http://127.0.0.1/callback").unwrap()).await.unwrap();
            let port = listener.redirect_uri().url().port().unwrap();
            let client = async move {
                let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                // A reset while writing is one of the answers a garbage request may get.
                let _ = stream.write_all(&bytes).await;
                if half_close {
                    let _ = stream.shutdown().await;
                }
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer).await;
                answer
            };
            let mut seen = Vec::new();
            let answer = {
                tokio::pin!(client);
                loop {
                    tokio::select! {
                        answer = &mut client => break answer,
                        Some(arrival) = listener.next() => {
                            seen.push(arrival.url.clone());
                            arrival.answer(Page::signed_in("Test"));
                        }
                    }
                }
            };
            // The listener still takes the real redirect afterwards.
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            stream.write_all(b"GET /callback?code=c&state=s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
            let arrival = listener.next().await.expect("the listener still works");
            assert_eq!(arrival.url.query(), Some("code=c&state=s"));
            arrival.answer(Page::signed_in("Test"));
            (answer, seen)
        }

        fn run(bytes: Vec<u8>, half_close: bool) -> (Vec<u8>, Vec<Url>) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(15), exchange(bytes, half_close)).await.expect("the listener answered in time")
            })
        }

        fn request_line() -> impl Strategy<Value = Vec<u8>> {
            (
                prop::sample::select(vec!["GET", "POST", "HEAD", "get", "CONNECT", "OPTIONS", ""]),
                prop::sample::select(vec![
                    "/callback",
                    "/callback/",
                    "/callbackx",
                    "/",
                    "//callback",
                    "/Callback",
                    "*",
                    "http://evil/callback",
                    "/%63allback",
                    "",
                ]),
                "[ -~]{0,40}",
                prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/9", ""]),
                prop::collection::vec("[ -~]{0,30}", 0..4),
            )
                .prop_map(|(method, path, query, version, headers)| {
                    let mut text = format!("{method} {path}?{query} {version}\r\nHost: 127.0.0.1\r\n");
                    for header in headers {
                        text.push_str(&header);
                        text.push_str("\r\n");
                    }
                    text.push_str("\r\n");
                    text.into_bytes()
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
            #[test]
            fn any_bytes_get_an_answer_or_a_close(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                let (_, seen) = run(bytes, true);
                prop_assert!(seen.iter().all(|url| url.path() == "/callback"), "{seen:?}");
            }

            #[test]
            fn only_a_get_of_the_redirect_path_reaches_the_sign_in(request in request_line()) {
                let (answer, seen) = run(request.clone(), false);
                let text = String::from_utf8_lossy(&request);
                for url in &seen {
                    prop_assert_eq!(url.path(), "/callback");
                    prop_assert!(text.starts_with("GET "), "{}", text);
                }
                if !seen.is_empty() {
                    prop_assert!(answer.starts_with(b"HTTP/1.") && answer.get(8..13) == Some(b" 200 "), "{}", String::from_utf8_lossy(&answer));
                }
            }
        }
    }
}
