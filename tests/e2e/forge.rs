//! A small git forge for the `git-credential` test: it serves one bare repository over git's "dumb"
//! HTTP protocol (plain files) and lets a request in only with HTTP Basic credentials whose password
//! the OpenID Provider's userinfo endpoint accepts as a bearer token, as forges that take OIDC access
//! tokens do (GitLab's `oauth2` user, Gitea's OAuth2 tokens). Purpose-built because no real forge is
//! installed here; it decides nothing but "does the provider accept this token".

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The forge, listening on 127.0.0.1 until dropped.
pub struct Forge {
    /// `127.0.0.1:<port>`, as git names the host.
    pub host: String,
    /// Requests let in with a token the provider accepted.
    pub accepted: Arc<AtomicUsize>,
    /// Requests turned away (no credentials, or a token the provider refused).
    pub refused: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Forge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Forge {
    /// Serves `repository` (a bare repository after `git update-server-info`) as `/repo.git`,
    /// checking tokens at `userinfo`.
    pub async fn start(repository: PathBuf, userinfo: String) -> Forge {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let (ok, no) = (accepted.clone(), refused.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (repository, userinfo, ok, no) = (repository.clone(), userinfo.clone(), ok.clone(), no.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let Ok(Some(request_line)) = lines.next_line().await else { return };
                    let mut authorization = None;
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("authorization")
                        {
                            authorization = Some(value.trim().to_owned());
                        }
                    }
                    let path = request_line.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_owned();
                    let response = match token_of(authorization.as_deref()) {
                        Some(token) if accepted_at(&userinfo, &token).await => {
                            ok.fetch_add(1, Ordering::SeqCst);
                            serve(&repository, &path)
                        }
                        _ => {
                            no.fetch_add(1, Ordering::SeqCst);
                            respond(401, &[("WWW-Authenticate", "Basic realm=\"forge\"")], b"sign in")
                        }
                    };
                    let _ = write.write_all(&response).await;
                    let _ = write.shutdown().await;
                });
            }
        });
        Forge { host, accepted, refused, task }
    }
}

/// The password of `Basic` credentials.
fn token_of(authorization: Option<&str>) -> Option<String> {
    use base64::Engine as _;
    let encoded = authorization?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let (_, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(password.to_owned())
}

async fn accepted_at(userinfo: &str, token: &str) -> bool {
    reqwest::Client::new().get(userinfo).bearer_auth(token).send().await.is_ok_and(|r| r.status().is_success())
}

/// A file of the repository under `/repo.git/`, never outside it.
fn serve(repository: &Path, path: &str) -> Vec<u8> {
    let Some(inner) = path.strip_prefix("/repo.git/") else { return respond(404, &[], b"no such repository") };
    if inner.split('/').any(|part| part == ".." || part.is_empty()) {
        return respond(404, &[], b"no such file");
    }
    match std::fs::read(repository.join(inner)) {
        Ok(body) => respond(200, &[("Content-Type", "application/octet-stream")], &body),
        Err(_) => respond(404, &[], b"no such file"),
    }
}

fn respond(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}
