//! The token socket's protocol, shared by the app (which serves it) and the clients: one request per
//! connection, one JSON line each way.
//!
//! `{"session":"work","minValid":300,"idToken":false,"audience":null,"scope":null}` (or `"gitHost"`
//! instead of `"session"`: the session the settings map that host to) ->
//! `{"ok":{"session":"work","accessToken":"…","expiresAt":"…"}}` or
//! `{"error":{"kind":"not_signed_in","message":"…"}}`.
//!
//! The socket lives in a folder only the user can enter (`$XDG_RUNTIME_DIR/session-keeper/`, mode
//! 0700), and the app checks each caller's uid too.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The longest the app takes to answer: a question to the user (45 s) and a refresh against a slow
/// provider (60 s).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(105);

/// Where the socket is: `$XDG_RUNTIME_DIR/session-keeper/token.sock`, or a per-user folder under the
/// temporary folder when there is no runtime folder.
pub fn socket_path() -> PathBuf {
    let folder = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(runtime) if !runtime.is_empty() => PathBuf::from(runtime).join("session-keeper"),
        _ => std::env::temp_dir().join(format!("session-keeper-{}", rustix::process::geteuid().as_raw())),
    };
    folder.join("token.sock")
}

/// What a program asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Request {
    /// The session, by name.
    pub session: Option<String>,
    /// A host `git` asks credentials for: the session is the one the settings map it to.
    pub git_host: Option<String>,
    /// Refresh first unless the token stays valid this many seconds.
    pub min_valid: u64,
    /// The ID token instead of the access token.
    pub id_token: bool,
    /// A token for this audience (RFC 8693 token exchange).
    pub audience: Option<String>,
    /// A narrower scope.
    pub scope: Option<String>,
}

/// A token handed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Granted {
    /// The session it is of.
    pub session: String,
    /// The token (an access token, or the ID token when asked).
    pub access_token: String,
    /// When it expires, if known.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why the app refused: its error kind (snake_case, as the README's table lists them) and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The stable kind, like `not_signed_in`.
    pub kind: String,
    /// What happened and what to do.
    pub message: String,
}

/// The app's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Answer {
    /// The token.
    Ok(Granted),
    /// Why not.
    Error(Refusal),
}

/// Sends `request` to the app at `path` and reads its answer.
pub fn send(path: &Path, request: &Request) -> std::io::Result<Answer> {
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(ANSWER_WITHIN + Duration::from_secs(5)))?;
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "the app closed the connection without answering"));
    }
    serde_json::from_str(&line).map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}

/// Sends `request` to the running app; on failure says why on stderr (prefixed with `who`) and gives
/// the exit status: 1 refused, 3 not running.
pub fn ask_app(request: &Request, who: &str) -> Result<Granted, i32> {
    let path = socket_path();
    match send(&path, request) {
        Ok(Answer::Ok(granted)) => Ok(granted),
        Ok(Answer::Error(refusal)) => {
            eprintln!("{who}: {}", refusal.message);
            Err(1)
        }
        Err(err) if matches!(err.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            eprintln!("{who}: Session Keeper is not running (nothing listens at {}). Start it, then try again.", path.display());
            Err(3)
        }
        Err(err) => {
            eprintln!("{who}: could not ask Session Keeper at {} ({err}).", path.display());
            Err(3)
        }
    }
}
