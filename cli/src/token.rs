//! `session-keeper-token <session> [options]`: prints a fresh token of a signed-in session.

use chrono::SecondsFormat;
use serde_json::json;

use crate::protocol::{Granted, Request, ask_app};

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

pub fn render(granted: &Granted, format: Format) -> String {
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

const USAGE: &str = "Usage: session-keeper-token <session> [options]   (or: session-keeper token <session> [options])

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

/// Runs `session-keeper-token …` (or the app's `session-keeper token …`, the arguments after
/// `token`) and returns the exit status.
pub fn run(args: &[String]) -> i32 {
    let options = match parse(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return 0;
        }
        Err(problem) => {
            eprintln!("session-keeper-token: {problem}\n\n{USAGE}");
            return 2;
        }
    };
    match ask_app(&options.request, "session-keeper-token") {
        Ok(granted) => {
            println!("{}", render(&granted, options.format));
            0
        }
        Err(status) => status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

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
    fn usage_errors_exit_2_and_a_missing_app_exits_3() {
        assert_eq!(run(&[]), 2);
        assert_eq!(run(&["a".into(), "b".into()]), 2);
        assert_eq!(run(&["a".into(), "--format".into(), "yaml".into()]), 2);
        assert_eq!(run(&["a".into(), "--bogus".into()]), 2);
        // SAFETY of the test: no other test in this binary reads XDG_RUNTIME_DIR.
        let empty = std::env::temp_dir().join(format!("sk-helper-test-{}", std::process::id()));
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("XDG_RUNTIME_DIR", &empty)
        };
        assert_eq!(run(&["work".into()]), 3);
    }
}
