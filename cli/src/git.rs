//! `git-credential-session-keeper get|store|erase`: git's credential helper protocol, answered with a
//! session's access token.

use std::time::Duration;

use crate::protocol::{Request, ask_app};

const GIT_USAGE: &str = "Usage: git-credential-session-keeper [--session NAME] get|store|erase

A git credential helper: git asks it for the credentials of an HTTPS host, and it answers with the
access token of the session the host is mapped to (Git hosts on the session's card), as the password
of the user \"oauth2\". Set it up with:
  git config --global credential.https://git.example.com.helper session-keeper
(git then runs git-credential-session-keeper from the PATH). store and erase do nothing: the token is
Session Keeper's, refreshed by it, and never stored by git.";

/// Runs `git-credential-session-keeper …` (or the app's `session-keeper git-credential …`; git's credential helper protocol: attributes on stdin,
/// `get` answers `username` and `password`) and returns the exit status.
pub fn run(args: &[String], input: impl std::io::BufRead, mut out: impl std::io::Write) -> i32 {
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
                eprintln!("git-credential-session-keeper: unknown option {other}\n\n{GIT_USAGE}");
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
    let request =
        Request { git_host: session.is_none().then(|| host.clone()), session, min_valid: GIT_MIN_VALID.as_secs(), ..Request::default() };
    match ask_app(&request, "git-credential-session-keeper") {
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

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn only_get_for_web_hosts_is_answered_and_git_hears_nothing_otherwise() {
        let mut out = Vec::new();
        assert_eq!(run(&args("store"), "protocol=https\nhost=x\n".as_bytes(), &mut out), 0);
        assert_eq!(run(&args("erase"), "protocol=https\nhost=x\n".as_bytes(), &mut out), 0);
        assert_eq!(run(&args("get"), "protocol=ssh\nhost=x\n".as_bytes(), &mut out), 0);
        assert_eq!(run(&args("--bogus get"), "".as_bytes(), &mut out), 2);
        assert!(out.is_empty(), "nothing said to git");
    }
}
