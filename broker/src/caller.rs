//! Who asks for a token: the caller's user and process as the kernel tells them, and the program
//! behind the process, named so that consent goes to what asked (`git`, `kubectl`, a script), not
//! to a command-line client or shell that only passed the request on.

use std::path::{Path, PathBuf};
use std::time::Duration;

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
fn named(pid: u32, exe: &Path) -> String {
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
    let path = Path::new(script);
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
fn is_ours(exe: &Path, own: &Path) -> bool {
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
pub fn short_name(program: &str) -> String {
    PathBuf::from(program).file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| program.to_owned())
}

#[cfg(test)]
mod tests;
