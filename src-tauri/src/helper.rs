//! The token helper: `session-keeper token <session>` prints a fresh access token for another program
//! (a script, `kubectl` as an exec credential plugin), taken from the running app over a Unix socket.
//!
//! The socket lives in a folder only the user can enter (`$XDG_RUNTIME_DIR/session-keeper/`, mode 0700),
//! and the app also checks each caller's uid (`SO_PEERCRED`), so no other account gets a token even if
//! the folder's permissions are changed. The helper never touches the keychain or the provider itself:
//! the app refreshes first if needed, so a rotating refresh token has exactly one user.
//!
//! The app asks the user before a program gets a session's token for the first time (`broker.rs`):
//! the program is the helper's caller (`git`, `kubectl`), found from the socket's peer pid.
//!
//! One request per connection, one JSON line each way:
//! `{"session":"work","minValid":300,"idToken":false,"audience":null,"scope":null}` (or `"gitHost"`
//! instead of `"session"`: the session the settings map that host to) ->
//! `{"ok":{"session":"work","accessToken":"…","expiresAt":"…"}}` or
//! `{"error":{"kind":"not_signed_in","message":"…"}}`.

use std::io::{BufRead, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use session_core::{ErrorInfo, ErrorKind, TokenRequest};
use tauri::{AppHandle, Manager};

use crate::Shell;
use crate::broker::{self, Caller};
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

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Request {
    session: Option<String>,
    /// A host `git` asks credentials for: the session is the one the settings map it to.
    git_host: Option<String>,
    min_valid: u64,
    id_token: bool,
    audience: Option<String>,
    scope: Option<String>,
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
pub async fn serve(app: AppHandle, path: PathBuf) -> std::io::Result<()> {
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
        let app = app.clone();
        tokio::spawn(async move {
            if let Err(err) = answer(stream, &app).await {
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

async fn answer(mut stream: UnixStream, app: &AppHandle) -> std::io::Result<()> {
    let peer = stream.peer_cred()?;
    let caller = Caller { uid: peer.uid(), pid: peer.pid().and_then(|pid| u32::try_from(pid).ok()), patience: broker::CONSENT_TIMEOUT };
    if !caller.is_same_user() {
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
            Ok(request) => token_for(app, request, caller).await,
        },
    };
    let mut out = serde_json::to_vec(&answer).expect("answers serialize");
    out.push(b'\n');
    stream.write_all(&out).await?;
    stream.shutdown().await
}

async fn token_for(app: &AppHandle, request: Request, caller: Caller) -> Answer {
    let session = match (&request.session, &request.git_host) {
        (Some(session), _) => session.clone(),
        (None, Some(host)) => match app.state::<Shell>().settings().git_session(host) {
            Some(session) => session.to_owned(),
            None => return Answer::Error(ErrorInfo {
                kind: ErrorKind::UnknownSession,
                message: format!("No session is set up for git at {host}: add the host to a session's Git hosts in Session Keeper."),
            }),
        },
        (None, None) => return refusal("Name a session."),
    };
    let wanted = TokenRequest {
        min_valid: Duration::from_secs(request.min_valid),
        id_token: request.id_token,
        audience: request.audience.filter(|a| !a.is_empty()),
        scope: request.scope.filter(|s| !s.is_empty()),
        program: String::new(),
    };
    match tokio::time::timeout(ANSWER_TIMEOUT + broker::CONSENT_TIMEOUT, broker::hand_out(app, &session, wanted, caller)).await {
        Ok(Ok(token)) => Answer::Ok(Granted {
            session: token.session,
            access_token: token.token.expose_secret().to_owned(),
            expires_at: token.expires_at,
        }),
        Ok(Err(err)) => {
            tracing::info!(session, peer_pid = ?caller.pid, kind = ?err.kind(), "token request refused");
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

const USAGE: &str = "Usage: session-keeper token <session> [options]

Prints a fresh token of a signed-in session, taken from the running Session Keeper app. The first
time a program asks for a session's token, Session Keeper asks you (Allow once, Always allow, Deny).

Options:
  -t, --min-valid SECONDS   refresh first unless the token stays valid this long
      --id-token            the ID token instead of the access token
      --scope SCOPE         a token for a narrower scope (space-separated, among the session's own),
                            made by a refresh with that scope; the session keeps its own token
      --audience AUDIENCE   a token for another audience (RFC 8693 token exchange; the provider
                            must offer it), with --scope for its scope
  -o, --format FORMAT       raw (default), json or exec-credential (kubectl)

Exit status: 0 printed, 1 the app refused (not signed in, no such session, denied, provider down),
2 wrong usage, 3 Session Keeper is not running.";

/// What `session-keeper token …` was asked.
#[derive(Debug)]
struct Options {
    request: Request,
    format: Format,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut request = Request::default();
    let mut format = Format::Raw;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| inline.clone().or_else(|| args.next().cloned()).ok_or_else(|| format!("{what} needs a value"));
        match name {
            "-h" | "--help" => return Ok(None),
            "-o" | "--format" => format = value("--format")?.parse()?,
            "-t" | "--min-valid" => {
                let seconds = value("--min-valid")?;
                request.min_valid = seconds.parse().map_err(|_| format!("--min-valid takes whole seconds, not \"{seconds}\""))?;
            }
            "--id-token" => request.id_token = true,
            "--aud" | "--audience" => request.audience = Some(value("--audience")?),
            "--scope" => request.scope = Some(value("--scope")?),
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => {
                if request.session.replace(other.to_owned()).is_some() {
                    return Err("give one session".into());
                }
            }
        }
    }
    if request.session.is_none() {
        return Err("name a session".into());
    }
    if request.id_token && request.audience.is_some() {
        return Err("--id-token and --audience exclude each other".into());
    }
    Ok(Some(Options { request, format }))
}

/// Runs `session-keeper token …` (the arguments after `token`) and returns the exit status.
pub fn run_cli(args: &[String]) -> i32 {
    let options = match parse(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return 0;
        }
        Err(problem) => {
            eprintln!("session-keeper token: {problem}\n\n{USAGE}");
            return 2;
        }
    };
    match ask_app(&options.request, "session-keeper token") {
        Ok(granted) => {
            println!("{}", render(&granted, options.format));
            0
        }
        Err(status) => status,
    }
}

/// Sends `request` to the app; on failure says why on stderr (prefixed with `who`) and gives the exit
/// status: 1 refused, 3 not running.
fn ask_app(request: &Request, who: &str) -> Result<Granted, i32> {
    let path = socket_path();
    match send(&path, request) {
        Ok(Answer::Ok(granted)) => Ok(granted),
        Ok(Answer::Error(info)) => {
            eprintln!("{who}: {}", info.message);
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

fn send(path: &Path, request: &Request) -> std::io::Result<Answer> {
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT + broker::CONSENT_TIMEOUT + Duration::from_secs(5)))?;
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

const GIT_USAGE: &str = "Usage: session-keeper git-credential [--session NAME] get|store|erase

A git credential helper: git asks it for the credentials of an HTTPS host, and it answers with the
access token of the session the host is mapped to (Git hosts on the session's card), as the password
of the user \"oauth2\". Set it up with:
  git config --global credential.https://git.example.com.helper \"/path/to/session-keeper git-credential\"
store and erase do nothing: the token is Session Keeper's, refreshed by it, and never stored by git.";

/// Runs `session-keeper git-credential …` (git's credential helper protocol: attributes on stdin,
/// `get` answers `username` and `password`) and returns the exit status.
pub fn run_git_credential(args: &[String], input: impl std::io::BufRead, mut out: impl std::io::Write) -> i32 {
    let mut session = None;
    let mut operation = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{GIT_USAGE}");
                return 0;
            }
            "--session" => session = args.next().cloned(),
            other if other.starts_with("--session=") => session = Some(other["--session=".len()..].to_owned()),
            "get" | "store" | "erase" => operation = Some(arg.clone()),
            // git adds operations it may invent later; unknown ones are ignored, as git expects.
            other if !other.starts_with('-') => operation = Some(other.to_owned()),
            other => {
                eprintln!("session-keeper git-credential: unknown option {other}\n\n{GIT_USAGE}");
                return 2;
            }
        }
    }
    if operation.as_deref() != Some("get") {
        return 0;
    }
    // Attributes, one `key=value` per line, up to a blank line or the end.
    let mut attributes = std::collections::HashMap::new();
    for line in input.lines().map_while(Result::ok) {
        if line.is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once('=') {
            attributes.insert(key.to_owned(), value.to_owned());
        }
    }
    if attributes.get("protocol").map(String::as_str) != Some("https") && attributes.get("protocol").map(String::as_str) != Some("http") {
        return 0;
    }
    let Some(host) = attributes.get("host").cloned() else { return 0 };
    let request = Request {
        git_host: session.is_none().then(|| host.clone()),
        session,
        min_valid: GIT_MIN_VALID.as_secs(),
        ..Request::default()
    };
    match ask_app(&request, "session-keeper git-credential") {
        Ok(granted) => {
            let mut answer = format!("username=oauth2\npassword={}\n", granted.access_token);
            if let Some(expires) = granted.expires_at {
                answer.push_str(&format!("password_expiry_utc={}\n", expires.timestamp()));
            }
            let _ = out.write_all(answer.as_bytes());
            0
        }
        // git goes on to its other helpers or asks the user; the reason is on stderr.
        Err(_) => 0,
    }
}

/// A push or clone of a large repository takes a while: the token git gets lives this long at least.
const GIT_MIN_VALID: Duration = Duration::from_secs(120);

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

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_like_oidc_token() {
        let parsed = parse(&args("work -t 300 --format json")).unwrap().unwrap();
        assert_eq!(parsed.request.session.as_deref(), Some("work"));
        assert_eq!((parsed.request.min_valid, parsed.format), (300, Format::Json));
        let parsed = parse(&args("work --audience=https://api.example --scope read")).unwrap().unwrap();
        assert_eq!(parsed.request.audience.as_deref(), Some("https://api.example"));
        assert_eq!(parsed.request.scope.as_deref(), Some("read"));
        assert!(parse(&args("work --id-token")).unwrap().unwrap().request.id_token);
        assert!(parse(&args("--help")).unwrap().is_none());
        assert!(parse(&args("work -t soon")).unwrap_err().contains("whole seconds"));
        assert_eq!(parse(&args("work --scope openid")).unwrap().unwrap().request.scope.as_deref(), Some("openid"));
        assert!(parse(&args("work --id-token --aud x")).unwrap_err().contains("exclude"));
        assert!(parse(&args("work -t")).unwrap_err().contains("needs a value"));
    }

    #[test]
    fn git_credential_answers_only_get_for_web_hosts_and_stays_quiet_otherwise() {
        let mut out = Vec::new();
        assert_eq!(run_git_credential(&args("store"), "protocol=https\nhost=x\n".as_bytes(), &mut out), 0);
        assert_eq!(run_git_credential(&args("erase"), "protocol=https\nhost=x\n".as_bytes(), &mut out), 0);
        assert_eq!(run_git_credential(&args("get"), "protocol=ssh\nhost=x\n".as_bytes(), &mut out), 0);
        assert_eq!(run_git_credential(&args("--bogus get"), "".as_bytes(), &mut out), 2);
        assert!(out.is_empty(), "nothing said to git");
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
