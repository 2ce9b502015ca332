//! The token socket's server: answers `session-keeper-token`, `git-credential-session-keeper` (the
//! lean clients in `cli/`) and any program that speaks the protocol (`session_keeper_cli::protocol`).
//!
//! The socket lives in a folder only the user can enter (`$XDG_RUNTIME_DIR/session-keeper/`, mode 0700),
//! and the app also checks each caller's uid (`SO_PEERCRED`), so no other account gets a token even if
//! the folder's permissions are changed. The clients never touch the keychain or the provider
//! themselves: the app refreshes first if needed, so a rotating refresh token has exactly one user.
//! The app asks the user before a program gets a session's token for the first time (`session-broker`):
//! the program is the client's caller (`git`, `kubectl`), found from the socket's peer pid.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;
use session_core::{ErrorInfo, ErrorKind, TokenRequest};
use session_keeper_cli::protocol::{Answer, Granted, Refusal, Request};
use tauri::{AppHandle, Manager};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::Shell;
use crate::broker::{self, Caller};

pub use session_keeper_cli::protocol::socket_path;

/// The longest request line accepted; a session name is far shorter.
const MAX_REQUEST: u64 = 4096;
/// How long a caller may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the app may take to answer (a refresh against a slow provider included), after the
/// user's consent.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// A core error, as the protocol carries it.
fn refused(info: ErrorInfo) -> Answer {
    Answer::Error(Refusal { kind: info.kind.as_str().to_owned(), message: info.message })
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
            None => {
                return refused(ErrorInfo::new(
                    ErrorKind::UnknownSession,
                    format!("No session is set up for git at {host}: add the host to a session's Git hosts in Session Keeper."),
                ));
            }
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
    let shell = app.state::<Shell>();
    let handed = shell.broker.hand_out(&session, wanted, caller);
    match tokio::time::timeout(ANSWER_TIMEOUT + broker::CONSENT_TIMEOUT, handed).await {
        Ok(Ok(token)) => Answer::Ok(Granted {
            session: token.session,
            access_token: token.token.expose_secret().to_owned(),
            expires_at: token.expires_at,
        }),
        Ok(Err(err)) => {
            tracing::info!(session, peer_pid = ?caller.pid, kind = ?err.kind(), "token request refused");
            refused(err.info())
        }
        Err(_) => refused(ErrorInfo::new(ErrorKind::ProviderUnavailable, "The provider did not answer within a minute. Try again later.")),
    }
}

fn refusal(message: &str) -> Answer {
    refused(ErrorInfo::new(ErrorKind::InvalidConfiguration, message))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn core_errors_cross_the_socket_with_their_readme_kind() {
        let Answer::Error(refusal) = refused(session_core::Error::NotSignedIn("work".into()).info()) else { panic!() };
        assert_eq!(refusal.kind, "not_signed_in");
        assert_eq!(refusal.message, "Session \"work\" is not signed in: sign in first.");
    }
}
