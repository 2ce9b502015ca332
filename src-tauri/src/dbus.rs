//! The D-Bus service: every session on the session bus, the way GNOME Online Accounts publishes
//! accounts, so any desktop program can ask for a fresh token without a helper process.
//!
//! - Bus name: the app's identifier, `dev.sessionkeeper.desktop`.
//! - `/dev/sessionkeeper/desktop`: `org.freedesktop.DBus.ObjectManager` of the sessions.
//! - `/dev/sessionkeeper/desktop/sessions/<name, escaped>`: `dev.sessionkeeper.desktop.Session` with
//!   its properties (one `PropertiesChanged` per change) and `GetAccessToken`, `EnsureCredentials`
//!   and `SignIn`. The interface as published is checked in (`docs/dev.sessionkeeper.desktop.Session.xml`)
//!   and an end-to-end test compares it with what the running app says.
//!
//! Callers are identified by the bus daemon (`GetConnectionCredentials`): another user is refused,
//! and a program of the user gets a token only with the user's consent (`session-broker`), as on the
//! token helper's socket. No token is ever a property or a signal.
//!
//! zbus runs its own executor; each method hands its work to the app's tokio runtime.

use std::collections::HashMap;

use session_core::{ErrorKind, SessionEvent, SessionSnapshot, TokenRequest};
use tauri::{AppHandle, Manager};
use tokio::sync::broadcast::error::RecvError;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::Value;

use crate::Shell;
use crate::broker::{self, Caller};

/// The well-known name (the app's identifier).
pub const BUS_NAME: &str = "dev.sessionkeeper.desktop";
/// Where the ObjectManager is.
pub const ROOT: &str = "/dev/sessionkeeper/desktop";
/// The sessions' interface.
pub const INTERFACE: &str = "dev.sessionkeeper.desktop.Session";

/// The object path of a session: its name with every byte outside `[A-Za-z0-9]` written as `_xx`
/// (lowercase hex), as systemd escapes unit names; an empty name is `_`.
pub fn object_path(session: &str) -> String {
    let mut path = format!("{ROOT}/sessions/");
    if session.is_empty() {
        path.push('_');
    }
    for byte in session.bytes() {
        if byte.is_ascii_alphanumeric() {
            path.push(byte as char);
        } else {
            path.push_str(&format!("_{byte:02x}"));
        }
    }
    path
}

/// Typed errors, named `dev.sessionkeeper.desktop.Error.*`, each with a message that says what to do.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "dev.sessionkeeper.desktop.Error")]
pub enum SessionError {
    /// A bus failure.
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The session is signed out, expired or revoked: sign in again (`SignIn()` opens it).
    SignInRequired(String),
    /// The user denied the program, or the caller is another user.
    Denied(String),
    /// Nobody answered the consent question in time.
    NoAnswer(String),
    /// The provider or the keychain is unreachable for now; trying later may work.
    Unavailable(String),
    /// The provider does not offer what was asked for.
    NotOffered(String),
    /// The session was removed.
    UnknownSession(String),
    /// Anything else, with its message.
    Failed(String),
}

impl SessionError {
    /// The one table from a core error kind to its D-Bus error (the README lists it beside the
    /// messages): what a D-Bus caller can do about it decides the name, the message says the rest.
    fn of(kind: ErrorKind, message: String) -> SessionError {
        match kind {
            ErrorKind::NotSignedIn | ErrorKind::SessionRevoked | ErrorKind::InvalidIdToken | ErrorKind::SignInNeeded => {
                SessionError::SignInRequired(message)
            }
            ErrorKind::ConsentDenied => SessionError::Denied(message),
            ErrorKind::ConsentTimedOut => SessionError::NoAnswer(message),
            ErrorKind::ProviderUnavailable
            | ErrorKind::KeychainLocked
            | ErrorKind::KeychainUnavailable
            | ErrorKind::VaultLocked
            | ErrorKind::Shutdown => SessionError::Unavailable(message),
            ErrorKind::NotOffered => SessionError::NotOffered(message),
            ErrorKind::UnknownSession => SessionError::UnknownSession(message),
            _ => SessionError::Failed(message),
        }
    }
}

impl From<session_core::Error> for SessionError {
    fn from(err: session_core::Error) -> Self {
        SessionError::of(err.kind(), err.to_string())
    }
}

/// One session on the bus.
pub struct SessionObject {
    app: AppHandle,
    snapshot: SessionSnapshot,
}

fn seconds(at: Option<chrono::DateTime<chrono::Utc>>) -> i64 {
    at.map(|at| at.timestamp()).unwrap_or(0)
}

/// The properties as D-Bus values, by name: what `PropertiesChanged` compares.
fn properties(snapshot: &SessionSnapshot) -> Vec<(&'static str, Value<'static>)> {
    vec![
        ("Name", Value::from(snapshot.id.to_string())),
        ("Provider", Value::from(snapshot.provider_name.clone())),
        ("Issuer", Value::from(snapshot.issuer.clone())),
        ("User", Value::from(user_name(snapshot))),
        ("Phase", Value::from(snapshot.phase.as_str())),
        ("AccessTokenExpires", Value::from(seconds(snapshot.access_token_expires_at))),
        ("SessionEnds", Value::from(seconds(snapshot.ends_at))),
        ("AttentionNeeded", Value::from(snapshot.needs_attention)),
    ]
}

/// Who is signed in, by the core's one display rule (`who.name`), as the tray and the card name them.
fn user_name(snapshot: &SessionSnapshot) -> String {
    snapshot.who.as_ref().map(|who| who.name.clone()).unwrap_or_default()
}

impl SessionObject {
    /// Who called, from the bus daemon; refuses another user before anything else.
    async fn caller(&self, header: &Header<'_>, connection: &zbus::Connection) -> Result<Caller, SessionError> {
        let sender = header.sender().ok_or_else(|| SessionError::Denied("The caller has no bus name.".into()))?;
        let credentials = zbus::fdo::DBusProxy::new(connection)
            .await?
            .get_connection_credentials(sender.clone().into())
            .await
            .map_err(|err| SessionError::Failed(format!("The caller could not be identified: {err}")))?;
        let uid = credentials.unix_user_id().ok_or_else(|| SessionError::Denied("The caller's user could not be told.".into()))?;
        let caller = Caller { uid, pid: credentials.process_id(), patience: broker::DBUS_CONSENT_TIMEOUT };
        if !caller.is_same_user() {
            tracing::warn!(caller_uid = uid, caller_pid = ?caller.pid, "D-Bus token request from another user refused");
            return Err(SessionError::Denied(format!("Session Keeper hands tokens only to programs of its own user, not of user {uid}.")));
        }
        Ok(caller)
    }

    /// Runs `work` on the app's runtime (the core's timers live there) and waits for it.
    async fn on_runtime<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, session_core::Error>> + Send + 'static,
    ) -> Result<T, SessionError> {
        match tauri::async_runtime::spawn(work).await {
            Ok(result) => result.map_err(SessionError::from),
            Err(err) => Err(SessionError::Failed(format!("The request stopped: {err}"))),
        }
    }
}

#[zbus::interface(name = "dev.sessionkeeper.desktop.Session")]
impl SessionObject {
    /// The session's name.
    #[zbus(property)]
    fn name(&self) -> String {
        self.snapshot.id.to_string()
    }

    /// The provider's display name.
    #[zbus(property)]
    fn provider(&self) -> String {
        self.snapshot.provider_name.clone()
    }

    /// The provider's issuer URL.
    #[zbus(property)]
    fn issuer(&self) -> String {
        self.snapshot.issuer.clone()
    }

    /// Who is signed in (name, user name, e-mail or subject: the one display rule); empty when nobody is.
    #[zbus(property)]
    fn user(&self) -> String {
        user_name(&self.snapshot)
    }

    /// `signed_out`, `signing_in`, `active`, `refreshing`, `expiring` or `expired`.
    #[zbus(property)]
    fn phase(&self) -> String {
        self.snapshot.phase.as_str().to_owned()
    }

    /// When the access token expires, in seconds since 1970 (UTC); 0 when unknown or signed out.
    #[zbus(property)]
    fn access_token_expires(&self) -> i64 {
        seconds(self.snapshot.access_token_expires_at)
    }

    /// When the session ends unless extended, in seconds since 1970 (UTC); 0 when unknown.
    #[zbus(property)]
    fn session_ends(&self) -> i64 {
        seconds(self.snapshot.ends_at)
    }

    /// True when the user has to act (signed out, expired, or refreshing keeps failing), as GOA's
    /// `AttentionNeeded`: the snapshot's `needs_attention`.
    #[zbus(property)]
    fn attention_needed(&self) -> bool {
        self.snapshot.needs_attention
    }

    /// A valid access token, refreshed first unless it stays valid `min_valid_seconds` more, and
    /// how many seconds it lives (0 when the provider did not say). Asks the user the first time a
    /// program asks.
    #[zbus(out_args("token", "expires_in"))]
    async fn get_access_token(
        &self,
        min_valid_seconds: u32,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(String, i32), SessionError> {
        let caller = self.caller(&header, connection).await?;
        let (app, session) = (self.app.clone(), self.snapshot.id.to_string());
        let request = TokenRequest { min_valid: std::time::Duration::from_secs(min_valid_seconds.into()), ..TokenRequest::default() };
        let token = self.on_runtime(async move { app.state::<Shell>().broker.hand_out(&session, request, caller).await }).await?;
        let expires_in = token.expires_at.map(|at| (at - chrono::Utc::now()).num_seconds().clamp(0, i32::MAX.into()) as i32).unwrap_or(0);
        use secrecy::ExposeSecret;
        Ok((token.token.expose_secret().to_owned(), expires_in))
    }

    /// Makes sure the session's credentials are valid (refreshing if due) without handing out a
    /// token, and says for how many seconds; fails with `SignInRequired` when only signing in helps.
    #[zbus(out_args("expires_in"))]
    async fn ensure_credentials(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<i32, SessionError> {
        self.caller(&header, connection).await?;
        let (app, session) = (self.app.clone(), self.snapshot.id.to_string());
        let snapshot = self.on_runtime(async move { app.state::<Shell>().manager.refresh(&session, false).await }).await?;
        if !snapshot.signed_in {
            let reason = snapshot
                .last_error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| format!("Session \"{}\" is not signed in: sign in first.", snapshot.id));
            return Err(SessionError::SignInRequired(reason));
        }
        let left = snapshot.access_token_expires_at.map(|at| (at - chrono::Utc::now()).num_seconds()).unwrap_or(i64::from(i32::MAX));
        Ok(left.clamp(0, i32::MAX.into()) as i32)
    }

    /// Brings up Session Keeper's sign-in for this session.
    async fn sign_in(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), SessionError> {
        self.caller(&header, connection).await?;
        crate::sign_in_from_notification(self.app.clone(), self.snapshot.id.to_string());
        Ok(())
    }
}

/// Publishes the sessions and keeps them current until the app ends. Without a session bus the app
/// goes on without the service (the token helper still works) and says so in the log.
pub async fn serve(app: AppHandle) {
    if let Err(err) = publish(&app).await {
        tracing::warn!(error = %err, "D-Bus service not available; the token helper still is");
    }
}

async fn publish(app: &AppHandle) -> zbus::Result<()> {
    let shell = app.state::<Shell>();
    let mut events = shell.manager.subscribe();
    let connection = zbus::connection::Builder::session()?.name(BUS_NAME)?.serve_at(ROOT, zbus::fdo::ObjectManager)?.build().await?;
    let server = connection.object_server();
    // The sessions with an object on the bus.
    let mut published = std::collections::BTreeSet::new();
    for snapshot in shell.manager.snapshots().await.unwrap_or_default() {
        published.insert(snapshot.id.to_string());
        server.at(object_path(&snapshot.id), SessionObject { app: app.clone(), snapshot }).await?;
    }
    tracing::info!(name = BUS_NAME, "D-Bus service published");
    loop {
        // One session's object failing to update is logged; the service goes on for the others.
        let updated = match events.recv().await {
            Ok(SessionEvent::Changed { session }) => {
                published.insert(session.id.to_string());
                changed(app, server, session).await
            }
            Ok(SessionEvent::Removed { id }) => {
                published.remove(&id);
                server.remove::<SessionObject, _>(object_path(&id)).await.map(drop)
            }
            Ok(_) => Ok(()),
            Err(RecvError::Lagged(_)) => {
                // Missed events: publish the whole picture, removals included.
                let sessions = shell.manager.snapshots().await.unwrap_or_default();
                let now: std::collections::BTreeSet<String> = sessions.iter().map(|s| s.id.to_string()).collect();
                let mut result = Ok(());
                for gone in published.difference(&now) {
                    result = result.and(server.remove::<SessionObject, _>(object_path(gone)).await.map(drop));
                }
                for snapshot in sessions {
                    result = result.and(changed(app, server, snapshot).await);
                }
                published = now;
                result
            }
            Err(RecvError::Closed) => return Ok(()),
        };
        if let Err(err) = updated {
            tracing::warn!(error = %err, "a session's D-Bus object could not be updated");
        }
    }
}

/// Adds a new session's object, or updates one and emits one `PropertiesChanged` with what changed.
async fn changed(app: &AppHandle, server: &zbus::ObjectServer, snapshot: SessionSnapshot) -> zbus::Result<()> {
    let path = object_path(&snapshot.id);
    let Ok(object) = server.interface::<_, SessionObject>(path.as_str()).await else {
        server.at(path, SessionObject { app: app.clone(), snapshot }).await?;
        return Ok(());
    };
    let before = properties(&object.get().await.snapshot);
    let after = properties(&snapshot);
    object.get_mut().await.snapshot = snapshot;
    let changed: HashMap<&str, Value<'_>> =
        after.into_iter().zip(before).filter(|((_, new), (_, old))| new != old).map(|((name, value), _)| (name, value)).collect();
    if changed.is_empty() {
        return Ok(());
    }
    let emitter: &SignalEmitter<'_> = object.signal_emitter();
    zbus::fdo::Properties::properties_changed(emitter, INTERFACE.try_into()?, changed, std::borrow::Cow::Borrowed(&[])).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table, kind by kind (the README's D-Bus column): each kind has exactly one name, and
    /// only the kinds a caller can act on have their own.
    #[test]
    fn every_core_kind_has_one_dbus_error() {
        let name = |kind: ErrorKind| zbus::DBusError::name(&SessionError::of(kind, String::new())).to_string();
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        for kind in ErrorKind::ALL {
            let name = name(*kind);
            let short = name.strip_prefix("dev.sessionkeeper.desktop.Error.").unwrap_or_else(|| panic!("{name}"));
            let row = readme.lines().find(|l| l.starts_with(&format!("| `{}` | ", kind.as_str()))).expect("a README row");
            assert!(row.ends_with(&format!(" | `{short}` |")), "README's D-Bus column for `{}` is not `{short}`", kind.as_str());
        }
        assert_eq!(name(ErrorKind::SessionRevoked), "dev.sessionkeeper.desktop.Error.SignInRequired");
        assert_eq!(name(ErrorKind::ConsentTimedOut), "dev.sessionkeeper.desktop.Error.NoAnswer");
        assert_eq!(name(ErrorKind::StorageFailed), "dev.sessionkeeper.desktop.Error.Failed");
    }

    #[test]
    fn session_names_become_valid_object_paths_without_collisions() {
        assert_eq!(object_path("work"), "/dev/sessionkeeper/desktop/sessions/work");
        assert_eq!(object_path("my work@x.y"), "/dev/sessionkeeper/desktop/sessions/my_20work_40x_2ey");
        assert_eq!(object_path("a_b"), "/dev/sessionkeeper/desktop/sessions/a_5fb", "the escape itself is escaped");
        assert_ne!(object_path("a b"), object_path("a_20b"));
        for name in ["work", "my work@x.y", "a-b", "Ünïcode", ""] {
            assert!(zbus::zvariant::ObjectPath::try_from(object_path(name)).is_ok(), "{name}");
        }
    }
}
