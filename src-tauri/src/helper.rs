//! The token helper: `session-keeper token <session>` prints a fresh access token for another program
//! (a script, `kubectl` as an exec credential plugin), taken from the running app over a Unix socket.
//!
//! The socket lives in a folder only the user can enter (`$XDG_RUNTIME_DIR/session-keeper/`, mode 0700),
//! and the app also checks each caller's uid (`SO_PEERCRED`), so no other account gets a token even if
//! the folder's permissions are changed. The helper never touches the keychain or the provider itself:
//! the app refreshes first if needed, so a rotating refresh token has exactly one user.
//!
//! One request per connection, one JSON line each way:
//! `{"session":"work"}` -> `{"ok":{"session":"work","accessToken":"…","expiresAt":"…"}}` or
//! `{"error":{"kind":"notSignedIn","message":"…"}}`.

use std::io::{BufRead, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use session_core::{ErrorInfo, ErrorKind, SessionManager};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// The longest request line accepted; a session name is far shorter.
const MAX_REQUEST: u64 = 4096;
/// How long a caller may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the app may take to answer (a refresh against a slow provider included).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the socket is: `$XDG_RUNTIME_DIR/session-keeper/token.sock`, or a per-user folder under the
/// temporary folder when there is no runtime folder.
pub fn socket_path() -> PathBuf {
    let folder = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(runtime) if !runtime.is_empty() => PathBuf::from(runtime).join("session-keeper"),
        _ => std::env::temp_dir().join(format!("session-keeper-{}", rustix::process::geteuid().as_raw())),
    };
    folder.join("token.sock")
}

#[derive(Deserialize)]
struct Request {
    session: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Granted {
    session: String,
    access_token: String,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Answer {
    Ok(Granted),
    Error(ErrorInfo),
}

/// Opens the socket and answers token requests until the app ends.
pub async fn serve(manager: SessionManager, path: PathBuf) -> std::io::Result<()> {
    let listener = bind(&path)?;
    tracing::info!(socket = %path.display(), "token helper listening");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "token helper accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let manager = manager.clone();
        tokio::spawn(async move {
            if let Err(err) = answer(stream, &manager).await {
                tracing::warn!(error = %err, "token helper request failed");
            }
        });
    }
}

fn bind(path: &Path) -> std::io::Result<UnixListener> {
    let folder = path.parent().expect("the socket has a folder");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(folder)?;
    let meta = std::fs::metadata(folder)?;
    let own = rustix::process::geteuid().as_raw();
    if meta.uid() != own || meta.permissions().mode() & 0o077 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} must belong to you and be closed to others (mode 0700); remove it and start Session Keeper again",
                folder.display()
            ),
        ));
    }
    // Single instance: a socket left here belongs to an app that is gone.
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn answer(mut stream: UnixStream, manager: &SessionManager) -> std::io::Result<()> {
    let peer = stream.peer_cred()?;
    let own = rustix::process::geteuid().as_raw();
    if peer.uid() != own {
        tracing::warn!(peer_uid = peer.uid(), peer_pid = ?peer.pid(), "token request from another user refused");
        return Ok(());
    }
    let mut line = String::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, tokio::io::BufReader::new(&mut stream).take(MAX_REQUEST).read_line(&mut line)).await;
    let answer = match read {
        Err(_) => refusal("The request took too long to arrive."),
        Ok(Err(err)) => return Err(err),
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim()) {
            Err(_) => refusal("The request could not be read: send one line of JSON like {\"session\":\"work\"}."),
            Ok(request) => token_for(manager, &request.session, peer.pid()).await,
        },
    };
    let mut out = serde_json::to_vec(&answer).expect("answers serialize");
    out.push(b'\n');
    stream.write_all(&out).await?;
    stream.shutdown().await
}


async fn token_for(manager: &SessionManager, session: &str, pid: Option<i32>) -> Answer {
    match tokio::time::timeout(ANSWER_TIMEOUT, manager.access_token(session)).await {
        Ok(Ok(token)) => {
            tracing::info!(session, peer_pid = ?pid, expires_at = ?token.expires_at, "access token handed to a local program");
            Answer::Ok(Granted {
                session: token.session,
                access_token: token.token.expose_secret().to_owned(),
                expires_at: token.expires_at,
            })
        }
        Ok(Err(err)) => {
            tracing::info!(session, peer_pid = ?pid, kind = ?err.kind(), "token request refused");
            Answer::Error(err.info())
        }
        Err(_) => Answer::Error(ErrorInfo {
            kind: ErrorKind::ProviderUnavailable,
            message: "The provider did not answer within a minute. Try again later.".into(),
        }),
    }
}

fn refusal(message: &str) -> Answer {
    Answer::Error(ErrorInfo { kind: ErrorKind::InvalidConfiguration, message: message.into() })
}

/// How the token is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The bare token and a newline.
    Raw,
    /// `{"session","accessToken","tokenType","expiresAt"}`.
    Json,
    /// A Kubernetes `client.authentication.k8s.io/v1` `ExecCredential`.
    ExecCredential,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "raw" => Ok(Format::Raw),
            "json" => Ok(Format::Json),
            "exec-credential" | "execcredential" | "ExecCredential" => Ok(Format::ExecCredential),
            other => Err(format!("unknown format \"{other}\": use raw, json or exec-credential")),
        }
    }
}

fn render(granted: &Granted, format: Format) -> String {
    let expires = granted.expires_at.map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true));
    match format {
        Format::Raw => granted.access_token.clone(),
        Format::Json => json!({
            "session": granted.session,
            "accessToken": granted.access_token,
            "tokenType": "Bearer",
            "expiresAt": expires,
        })
        .to_string(),
        Format::ExecCredential => {
            let mut status = json!({ "token": granted.access_token });
            if let Some(expires) = expires {
                status["expirationTimestamp"] = json!(expires);
            }
            json!({ "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status }).to_string()
        }
    }
}

const USAGE: &str = "Usage: session-keeper token <session> [--format raw|json|exec-credential]

Prints a fresh access token of a signed-in session, taken from the running Session Keeper app.
Exit status: 0 printed, 1 the app refused (not signed in, no such session, provider down),
2 wrong usage, 3 Session Keeper is not running.";

/// Runs `session-keeper token …` (the arguments after `token`) and returns the exit status.
pub fn run_cli(args: &[String]) -> i32 {
    let mut session = None;
    let mut format = Format::Raw;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return 0;
            }
            "--format" | "-o" => args.next().map(String::as_str),
            other if other.starts_with("--format=") => Some(&other["--format=".len()..]),
            other if other.starts_with('-') => {
                eprintln!("session-keeper token: unknown option {other}\n\n{USAGE}");
                return 2;
            }
            other => {
                if session.replace(other.to_owned()).is_some() {
                    eprintln!("session-keeper token: give one session\n\n{USAGE}");
                    return 2;
                }
                continue;
            }
        };
        match value.map(str::parse::<Format>) {
            Some(Ok(parsed)) => format = parsed,
            Some(Err(problem)) => {
                eprintln!("session-keeper token: {problem}");
                return 2;
            }
            None => {
                eprintln!("session-keeper token: --format needs a value\n\n{USAGE}");
                return 2;
            }
        }
    }
    let Some(session) = session else {
        eprintln!("{USAGE}");
        return 2;
    };
    let path = socket_path();
    match request(&path, &session) {
        Ok(Answer::Ok(granted)) => {
            println!("{}", render(&granted, format));
            0
        }
        Ok(Answer::Error(info)) => {
            eprintln!("session-keeper token: {}", info.message);
            1
        }
        Err(err) if matches!(err.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            eprintln!("session-keeper token: Session Keeper is not running (nothing listens at {}). Start it, then try again.", path.display());
            3
        }
        Err(err) => {
            eprintln!("session-keeper token: could not ask Session Keeper at {} ({err}).", path.display());
            3
        }
    }
}

fn request(path: &Path, session: &str) -> std::io::Result<Answer> {
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT + Duration::from_secs(5)))?;
    stream.write_all(format!("{}\n", json!({ "session": session })).as_bytes())?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "the app closed the connection without answering"));
    }
    serde_json::from_str(&line).map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted() -> Granted {
        Granted {
            session: "work".into(),
            access_token: "tok".into(),
            expires_at: Some(DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
        }
    }

    #[test]
    fn formats() {
        assert_eq!(render(&granted(), Format::Raw), "tok");
        let json: serde_json::Value = serde_json::from_str(&render(&granted(), Format::Json)).unwrap();
        assert_eq!(json, json!({"session":"work","accessToken":"tok","tokenType":"Bearer","expiresAt":"2027-01-15T08:00:00Z"}));
        let exec: serde_json::Value = serde_json::from_str(&render(&granted(), Format::ExecCredential)).unwrap();
        assert_eq!(
            exec,
            json!({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
                   "status":{"token":"tok","expirationTimestamp":"2027-01-15T08:00:00Z"}})
        );
        assert!("yaml".parse::<Format>().is_err());
    }

    #[test]
    fn usage_errors_exit_2_and_a_missing_app_exits_3() {
        assert_eq!(run_cli(&[]), 2);
        assert_eq!(run_cli(&["a".into(), "b".into()]), 2);
        assert_eq!(run_cli(&["a".into(), "--format".into(), "yaml".into()]), 2);
        assert_eq!(run_cli(&["a".into(), "--bogus".into()]), 2);
        // SAFETY of the test: no other test in this binary reads XDG_RUNTIME_DIR.
        let empty = std::env::temp_dir().join(format!("sk-helper-test-{}", std::process::id()));
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &empty) };
        assert_eq!(run_cli(&["work".into()]), 3);
    }

    #[tokio::test]
    async fn a_folder_open_to_others_is_refused() {
        let folder = std::env::temp_dir().join(format!("sk-helper-open-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = bind(&folder.join("token.sock")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("0700"), "{err}");
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
        let _listener = bind(&folder.join("token.sock")).unwrap();
        let mode = std::fs::metadata(folder.join("token.sock")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&folder).unwrap();
    }
}
