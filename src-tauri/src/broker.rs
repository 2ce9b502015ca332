//! Handing tokens to the user's other programs, for the token helper's socket and the D-Bus service
//! alike: who asks (the caller's uid and executable, from the kernel), whether the user allows it
//! (consent per session and program, asked once with Allow once / Always allow / Deny), and the
//! hand-out itself, recorded in the session's history with the program's path (never the token).
//!
//! A question stands for as long as its caller can wait ([`CONSENT_TIMEOUT`] on the socket,
//! [`DBUS_CONSENT_TIMEOUT`] on D-Bus): a caller nobody answers gets a clear error, never a hang. Several requests of one program for one session share one question. The question
//! is a desktop notification with the three actions and, at the same time, a row on the session's
//! card, so it can be answered where the desktop's notifications have no actions.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use session_core::{AccessToken, Error as CoreError, TokenRequest};
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::watch;

use crate::Shell;

/// How long a consent question waits for an answer, for the token helper (its client waits longer).
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(45);
/// The same for a D-Bus caller: below the 25 s that libdbus and GDBus wait for a reply by default, so
/// such a caller hears our `NoAnswer` rather than its library's bare timeout.
pub const DBUS_CONSENT_TIMEOUT: Duration = Duration::from_secs(20);
/// The page event listing the questions that wait for an answer.
pub const CONSENT_CHANGED: &str = "consent-changed";

/// Who asks, as the kernel tells it (`SO_PEERCRED` on the socket, the bus daemon on D-Bus).
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The caller's user id.
    pub uid: u32,
    /// The caller's process id, when known.
    pub pid: Option<u32>,
    /// How long the caller can wait for the user's answer.
    pub patience: Duration,
}

impl Caller {
    /// Whether the caller runs as the same user as the app.
    pub fn is_same_user(&self) -> bool {
        self.uid == rustix::process::geteuid().as_raw()
    }
}

/// A user's answer to a consent question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Answer {
    /// This request only.
    AllowOnce,
    /// This and every later request of the program for the session.
    Always,
    /// Not this request.
    Deny,
}

impl Answer {
    /// The notification action key of this answer.
    pub fn action(self) -> &'static str {
        match self {
            Answer::AllowOnce => "allow-once",
            Answer::Always => "always",
            Answer::Deny => "deny",
        }
    }

    fn from_action(action: &str) -> Option<Answer> {
        [Answer::AllowOnce, Answer::Always, Answer::Deny].into_iter().find(|answer| answer.action() == action)
    }
}

/// A question waiting for the user, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Question {
    /// The session asked for.
    pub session: String,
    /// The executable that asks.
    pub program: String,
}

/// The questions that wait for an answer, one per session and program.
#[derive(Default)]
pub struct Consent {
    waiting: Mutex<HashMap<(String, String), watch::Sender<Option<Answer>>>>,
}

impl Consent {
    /// The questions now waiting, for the page.
    pub fn questions(&self) -> Vec<Question> {
        let waiting = self.waiting.lock().expect("consent poisoned");
        let mut questions: Vec<Question> =
            waiting.keys().map(|(session, program)| Question { session: session.clone(), program: program.clone() }).collect();
        questions.sort_by(|a, b| (&a.session, &a.program).cmp(&(&b.session, &b.program)));
        questions
    }

    /// Joins the question about `program` and `session`, or opens it: the answers to come, and whether
    /// the question is new (then its opener shows it and closes it).
    fn join(&self, session: &str, program: &str) -> (watch::Receiver<Option<Answer>>, bool) {
        let mut waiting = self.waiting.lock().expect("consent poisoned");
        match waiting.get(&(session.to_owned(), program.to_owned())) {
            Some(sender) => (sender.subscribe(), false),
            None => {
                let (sender, receiver) = watch::channel(None);
                waiting.insert((session.to_owned(), program.to_owned()), sender);
                (receiver, true)
            }
        }
    }

    /// Takes the question off the list (answered or timed out).
    fn close(&self, session: &str, program: &str) {
        self.waiting.lock().expect("consent poisoned").remove(&(session.to_owned(), program.to_owned()));
    }

    /// Answers the question about `program` and `session`, if it still waits. Returns whether it did.
    pub fn answer(&self, session: &str, program: &str, answer: Answer) -> bool {
        let waiting = self.waiting.lock().expect("consent poisoned");
        match waiting.get(&(session.to_owned(), program.to_owned())) {
            Some(sender) => {
                sender.send_replace(Some(answer));
                true
            }
            None => false,
        }
    }
}

/// The executable behind `pid`: the program that asked. When that is this app's own binary or one of
/// its command-line clients beside it (which only forward), the program that ran it is named
/// instead, so consent is given to `git` or `kubectl`, not to the helper; a shell that only ran the
/// helper's command line (`sh -c "session-keeper git-credential get"`, as git runs helpers) is
/// passed over the same way. An interactive shell or a script is named: it is what asked.
pub fn program_of(pid: Option<u32>) -> String {
    let Some(mut pid) = pid else { return "an unknown program".into() };
    let own = std::env::current_exe().ok();
    let mut forwarded = false;
    for _ in 0..6 {
        let exe = match std::fs::read_link(format!("/proc/{pid}/exe")) {
            Ok(exe) => exe,
            Err(_) => return format!("process {pid}"),
        };
        let passes_on = own.as_deref().is_some_and(|own| is_ours(&exe, own)) || (forwarded && runs_a_command_line(pid));
        if !passes_on {
            return named(pid, &exe);
        }
        forwarded = true;
        match parent_of(pid) {
            Some(parent) if parent > 1 => pid = parent,
            _ => return exe.display().to_string(),
        }
    }
    format!("process {pid}")
}

/// Programs that run a script named on their command line: the script is what asks, so it is named
/// with them (`/usr/bin/python3 /home/me/bin/deploy.py`), and allowing one script does not allow
/// every script of that interpreter.
const INTERPRETERS: [&str; 11] = ["python", "perl", "ruby", "node", "nodejs", "bash", "sh", "dash", "zsh", "php", "lua"];

/// `exe`, with the script it runs when it is an interpreter started with a script file.
fn named(pid: u32, exe: &std::path::Path) -> String {
    let plain = exe.display().to_string();
    let name = exe.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let family = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    if !INTERPRETERS.contains(&family) {
        return plain;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return plain };
    let args: Vec<String> = cmdline.split(|b| *b == 0).skip(1).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    // The first argument that is not an option is the script, unless an option says the code or a
    // module comes inline (`-c`, `-e`, `-m`): then there is no script file to name.
    let mut script = None;
    for arg in &args {
        if matches!(arg.as_str(), "-c" | "-e" | "-m" | "--eval" | "-r") {
            return plain;
        }
        if !arg.starts_with('-') {
            script = Some(arg);
            break;
        }
    }
    let Some(script) = script else { return plain };
    let path = std::path::Path::new(script);
    let path = if path.is_absolute() {
        path.to_owned()
    } else {
        match std::fs::read_link(format!("/proc/{pid}/cwd")) {
            Ok(cwd) => cwd.join(path),
            Err(_) => return plain,
        }
    };
    // A script read from a descriptor (`bash /dev/fd/3`, process substitution) has no file to name,
    // and resolving such a path here would name a file of this app's own.
    if path.starts_with("/dev") || path.starts_with("/proc") {
        return plain;
    }
    match std::fs::canonicalize(&path) {
        Ok(script) if script.is_file() && !script.starts_with("/dev") && !script.starts_with("/proc") => {
            format!("{plain} {}", script.display())
        }
        _ => plain,
    }
}

/// The command-line clients installed beside the app, which only forward a request.
const CLIENTS: [&str; 2] = ["session-keeper-token", "git-credential-session-keeper"];

/// Whether `exe` is this app's binary or one of its clients installed beside it.
fn is_ours(exe: &std::path::Path, own: &std::path::Path) -> bool {
    exe == own || (exe.parent() == own.parent() && exe.file_name().is_some_and(|name| CLIENTS.iter().any(|client| name == *client)))
}

/// Whether `pid` is a shell running one command line (`sh -c …`).
fn runs_a_command_line(pid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let mut args = cmdline.split(|byte| *byte == 0);
    let shell =
        args.next().map(|arg0| String::from_utf8_lossy(arg0).rsplit('/').next().unwrap_or_default().trim_start_matches('-').to_owned());
    matches!(shell.as_deref(), Some("sh" | "dash" | "bash" | "zsh")) && args.next() == Some(b"-c".as_slice())
}

/// The parent process id, from `/proc/<pid>/stat` (its fourth field, after the command name in
/// parentheses, which may itself hold spaces and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// The short name of a program for a notification's title: `/usr/bin/git` -> `git`.
fn short_name(program: &str) -> String {
    PathBuf::from(program).file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| program.to_owned())
}

/// Hands `session`'s token to `caller` as `request` asks, after the user's consent where needed.
/// Another user is refused before anything else happens.
pub async fn hand_out(app: &AppHandle, session: &str, mut request: TokenRequest, caller: Caller) -> Result<AccessToken, CoreError> {
    if !caller.is_same_user() {
        tracing::warn!(session, caller_uid = caller.uid, caller_pid = ?caller.pid, "token request from another user refused");
        return Err(CoreError::ConsentDenied { program: format!("a program of user {}", caller.uid), session: session.to_owned() });
    }
    let shell = app.state::<Shell>();
    let program = program_of(caller.pid);
    // An allowed program goes straight to the core, which refuses an unknown or signed-out session
    // itself; before a question, such a session is said at once instead.
    if !shell.settings().allows(session, &program) {
        if !shell.manager.snapshot(session).await?.signed_in {
            return Err(CoreError::NotSignedIn(session.to_owned()));
        }
        match ask(app, session, &program, caller.pid, caller.patience).await {
            Some(Answer::AllowOnce) => tracing::info!(session, %program, "allowed once"),
            Some(Answer::Always) => {
                tracing::info!(session, %program, "allowed for good");
                let saved = shell.update_settings(|settings| {
                    settings.allowed_programs.entry(session.to_owned()).or_default().insert(program.clone());
                });
                match saved {
                    Ok(settings) => drop(app.emit_to("main", "settings-changed", &settings)),
                    Err(err) => tracing::warn!(error = %err, "the allowed program was not saved; it is allowed until the app quits"),
                }
            }
            Some(Answer::Deny) => {
                tracing::info!(session, %program, "denied");
                return Err(CoreError::ConsentDenied { program, session: session.to_owned() });
            }
            None => return Err(CoreError::ConsentTimedOut { program, session: session.to_owned(), waited: caller.patience }),
        }
    }
    request.program = program;
    shell.manager.hand_out(session, &request).await
}

/// Asks the user whether `program` may have `session`'s token, or joins the question already asked.
/// `None` when nobody answered `within`.
async fn ask(app: &AppHandle, session: &str, program: &str, pid: Option<u32>, within: Duration) -> Option<Answer> {
    let consent = &app.state::<Shell>().consent;
    let (answers, new) = consent.join(session, program);
    if !new {
        return wait_for_answer(answers, within).await;
    }
    tracing::info!(session, program, ?pid, "asking whether a program may have a token");
    let _ = app.emit_to("main", CONSENT_CHANGED, consent.questions());
    let mut shown = notify(app.clone(), session, program, pid, within);
    // The caller that opened the question closes it when it is answered or times out, for everyone,
    // and takes the notification away (an answer given there has closed it already).
    let outcome = wait_for_answer(answers, within).await;
    consent.close(session, program);
    if let Ok(id) = shown.try_recv() {
        close_notification(id).await;
    }
    let _ = app.emit_to("main", CONSENT_CHANGED, consent.questions());
    if outcome.is_none() {
        tracing::info!(session, program, "nobody answered the consent question");
    }
    outcome
}

/// The answer, or `None` once `within` has passed without one.
async fn wait_for_answer(mut answers: watch::Receiver<Option<Answer>>, within: Duration) -> Option<Answer> {
    match tokio::time::timeout(within, answers.wait_for(Option::is_some)).await {
        Ok(Ok(answer)) => *answer,
        _ => None,
    }
}

/// The consent notification: three actions, answered at the desktop's notification server; clicking
/// the notification itself brings up the window, where the card asks the same question.
/// Returns the notification's id once the server has it, so that the question's opener can close it
/// when the question ends another way (answered on the card, or timed out).
fn notify(app: AppHandle, session: &str, program: &str, pid: Option<u32>, within: Duration) -> tokio::sync::oneshot::Receiver<u32> {
    let (shown, id) = tokio::sync::oneshot::channel();
    let summary = format!("Allow {} to use “{session}”?", short_name(program));
    let process = pid.map(|pid| format!(" (process {pid})")).unwrap_or_default();
    let body = format!("{program}{process} asks for a token of session “{session}”.");
    let (session, program) = (session.to_owned(), program.to_owned());
    let spawned = std::thread::Builder::new().name("consent notification".into()).spawn(move || {
        let mut notification = notify_rust::Notification::new();
        notification
            .appname("Session Keeper")
            .summary(&summary)
            .body(&body)
            .icon("dialog-password")
            .urgency(notify_rust::Urgency::Critical)
            .timeout(notify_rust::Timeout::Milliseconds(within.as_millis() as u32))
            .action(crate::notices::SIGN_IN_ACTION, "Open Session Keeper");
        for (answer, label) in [(Answer::AllowOnce, "Allow once"), (Answer::Always, "Always allow"), (Answer::Deny, "Deny")] {
            notification.action(answer.action(), label);
        }
        match notification.show() {
            Ok(handle) => {
                let _ = shown.send(handle.id());
                handle.wait_for_action(|action| match Answer::from_action(action) {
                    Some(answer) => {
                        app.state::<Shell>().consent.answer(&session, &program, answer);
                    }
                    None if action == crate::notices::SIGN_IN_ACTION => crate::show_main_window(&app),
                    None => {}
                })
            }
            Err(err) => tracing::warn!(error = %err, "consent notification not shown; the card asks instead"),
        }
    });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "consent notification not shown; the card asks instead");
    }
    id
}

/// Takes a consent notification off the screen (`CloseNotification`), bounded like every
/// notification call: a question answered on the card or timed out must not linger there.
async fn close_notification(id: u32) {
    let close = async {
        let connection = zbus::Connection::session().await?;
        connection
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "CloseNotification",
                &(id,),
            )
            .await
            .map(drop)
    };
    match tokio::time::timeout(crate::notices::SEND_TIMEOUT, close).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::debug!(error = %err, "consent notification not closed"),
        Err(_) => tracing::debug!("the notification server did not close the consent notification in time"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_the_caller_or_the_one_that_ran_this_app() {
        let own = std::process::id();
        // Asked from this very binary (as the helper is the app's binary), the one that ran it is named.
        let parent = parent_of(own).unwrap();
        let parent_exe = std::fs::read_link(format!("/proc/{parent}/exe")).unwrap();
        assert_eq!(program_of(Some(own)), parent_exe.display().to_string());
        // Another program is named itself.
        let mut sleeper = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        assert!(program_of(Some(sleeper.id())).ends_with("/sleep"), "{}", program_of(Some(sleeper.id())));
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        assert_eq!(program_of(None), "an unknown program");
        assert_eq!(program_of(Some(u32::MAX)), format!("process {}", u32::MAX));
        assert_eq!(short_name("/usr/bin/git"), "git");
        // A script run by an interpreter is named with it; inline code is the interpreter alone.
        let folder = std::env::temp_dir().join(format!("sk-broker-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let script = folder.join("deploy.sh");
        std::fs::write(&script, "sleep 30\n").unwrap();
        let shell = std::fs::canonicalize("/bin/sh").unwrap();
        let mut running = std::process::Command::new("/bin/sh").arg("deploy.sh").current_dir(&folder).spawn().unwrap();
        // A program that asks has long been running; this one has just been started: its command line
        // shows in /proc only once the new program is set up.
        let started = |pid: u32| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default().is_empty() {
                assert!(std::time::Instant::now() < deadline, "process {pid} never showed its command line");
                std::thread::yield_now();
            }
        };
        started(running.id());
        assert_eq!(program_of(Some(running.id())), format!("{} {}", shell.display(), script.display()));
        assert_eq!(short_name(&program_of(Some(running.id()))), "deploy.sh");
        running.kill().unwrap();
        running.wait().unwrap();
        // A script read from a descriptor names no file (resolved here it would name one of ours).
        let mut piped = std::process::Command::new("/bin/sh").arg("/dev/fd/0").stdin(std::process::Stdio::piped()).spawn().unwrap();
        started(piped.id());
        assert_eq!(program_of(Some(piped.id())), shell.display().to_string());
        piped.kill().unwrap();
        piped.wait().unwrap();
        let mut inline = std::process::Command::new("/bin/sh").args(["-c", "sleep 30; true"]).spawn().unwrap();
        started(inline.id());
        assert_eq!(program_of(Some(inline.id())), shell.display().to_string());
        inline.kill().unwrap();
        inline.wait().unwrap();
        std::fs::remove_dir_all(&folder).unwrap();
        let own = std::path::Path::new("/usr/bin/session-keeper");
        assert!(is_ours(own, own));
        assert!(is_ours(std::path::Path::new("/usr/bin/session-keeper-token"), own));
        assert!(is_ours(std::path::Path::new("/usr/bin/git-credential-session-keeper"), own));
        assert!(!is_ours(std::path::Path::new("/tmp/session-keeper-token"), own), "only beside the app");
        assert!(!is_ours(std::path::Path::new("/usr/bin/git"), own));
    }

    #[test]
    fn answers_round_trip_through_their_action_keys() {
        for answer in [Answer::AllowOnce, Answer::Always, Answer::Deny] {
            assert_eq!(Answer::from_action(answer.action()), Some(answer));
        }
        assert_eq!(Answer::from_action("default"), None);
    }

    #[tokio::test]
    async fn a_question_is_answered_once_for_every_caller_waiting_on_it() {
        let consent = Consent::default();
        let (first, new) = consent.join("work", "/usr/bin/git");
        assert!(new);
        let (second, new) = consent.join("work", "/usr/bin/git");
        assert!(!new, "a second request of the program joins the question");
        assert!(consent.join("work", "/usr/bin/curl").1, "another program gets its own");
        consent.close("work", "/usr/bin/curl");
        assert_eq!(consent.questions(), vec![Question { session: "work".into(), program: "/usr/bin/git".into() }]);
        assert!(!consent.answer("work", "/usr/bin/curl", Answer::AllowOnce), "no such question");
        assert!(consent.answer("work", "/usr/bin/git", Answer::Deny));
        assert_eq!(wait_for_answer(first, CONSENT_TIMEOUT).await, Some(Answer::Deny));
        assert_eq!(wait_for_answer(second, CONSENT_TIMEOUT).await, Some(Answer::Deny));
        consent.close("work", "/usr/bin/git");
        assert!(consent.questions().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn nobody_answering_ends_the_wait_at_the_bound() {
        let consent = Consent::default();
        let (answers, _) = consent.join("work", "/usr/bin/git");
        let started = tokio::time::Instant::now();
        assert_eq!(wait_for_answer(answers, CONSENT_TIMEOUT).await, None);
        assert_eq!(started.elapsed(), CONSENT_TIMEOUT);
    }
}
