//! How long another program waits for a fresh token: `GetAccessToken` over D-Bus against the token
//! helper's Unix socket, from inside one process (the transport and the app's work) and as whole
//! commands (`gdbus call` against `session-keeper-token` and the app binary's `session-keeper token`,
//! process start included).
//!
//! Run inside a private desktop session, on a release build:
//!   cargo build --release --locked -p session-keeper -p session-keeper-cli
//!   scripts/desktop-session.sh --display -- \
//!     cargo run --release --locked -p session-keeper-e2e --example hand_out -- --calls 1000
//!
//! It starts the test provider, signs one session in through the provider's pages into a private
//! home, marks this program and gdbus as always allowed for it (so every call takes the consent
//! check's allowed path, as a program the user said yes to does), starts the app, and times each call
//! of a fresh token (no refresh: the token lives an hour). `--app PATH` measures another build.
//!
//! The peer is oidc-agent 4's `oidc-token` (Debian's oidc-agent-cli), the helper `session-keeper-token`
//! is modelled on: its agent runs in the same private home, holding an account that `oidc-gen` made
//! from a refresh token of the test provider (the refresh flow, no browser), so it too hands out a
//! cached token. The two commands run in turn, back to back and 100 ms apart.

use session_keeper_testkit::bench::common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use session_keeper_testkit::{Idp, Ttls};

const SESSION: &str = "bench";
/// The test provider's client that sends its secret in the form body, as oidc-agent does.
const PEER_CLIENT: &str = "secret-in-body";
const PEER_SECRET: &str = "secret-in-body-test-secret";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let median = percentile(&times, 0.5);
    println!(
        "  {what:<44} median {:>8.3} ms   p90 {:>8.3} ms   p99 {:>8.3} ms   ({} calls)",
        median.as_secs_f64() * 1e3,
        percentile(&times, 0.9).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.len()
    );
    median
}

/// One session signed in, and this program and gdbus always allowed for it.
async fn seed(home: &Path, idp: &Idp) {
    common::seed(home, idp, &[(SESSION.to_owned(), "alice")]).await;
    let me = std::env::current_exe().unwrap().display().to_string();
    let settings = serde_json::json!({ "settings": { "allowedPrograms": { SESSION: [me, "/usr/bin/gdbus"] } } });
    std::fs::write(common::app_data(home).join("settings.json"), settings.to_string()).unwrap();
}

/// The peer's own refresh token: the user signs in at the test provider as the `secret-in-body`
/// client (the secret in the form body, as oidc-agent sends it), through the provider's pages.
async fn peer_refresh_token(idp: &Idp) -> String {
    use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
    use openidconnect::{
        AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
        RedirectUrl, Scope,
    };
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(idp.issuer.clone()).unwrap(), &http).await.unwrap();
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new(PEER_CLIENT.into()), Some(ClientSecret::new(PEER_SECRET.into())))
            .set_auth_type(AuthType::RequestBody)
            .set_redirect_uri(RedirectUrl::new("http://127.0.0.1/callback".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("offline_access".into()))
        .add_prompt(CoreAuthPrompt::Consent)
        .set_pkce_challenge(challenge)
        .url();
    let redirect = idp.login(&url, "alice").await;
    let code = redirect.query_pairs().find(|(key, _)| key == "code").expect("a code in the redirect").1.into_owned();
    let answer =
        client.exchange_code(AuthorizationCode::new(code)).unwrap().set_pkce_verifier(verifier).request_async(&http).await.unwrap();
    answer.refresh_token().expect("a refresh token for the peer").secret().clone()
}

/// oidc-agent, started in `home` with its socket there, holding an account `peer` made by `oidc-gen`
/// from `refresh_token` (the refresh flow: no browser, the password from the environment). Returns the
/// socket and the agent, which stops when dropped.
fn start_oidc_agent(home: &Path, issuer: &str, refresh_token: &str) -> (PathBuf, Agent) {
    let socket = home.join("run/oidc-agent/agent.sock");
    let out = common::in_home("oidc-agent", home)
        .args(["--json", "--quiet"])
        .arg(format!("--socket-path={}", socket.display()))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("oidc-agent starts (apt install oidc-agent-cli)");
    assert!(out.status.success(), "oidc-agent: {}", String::from_utf8_lossy(&out.stderr));
    let started: serde_json::Value = serde_json::from_slice(&out.stdout).expect("oidc-agent prints its socket and pid as JSON");
    let agent = Agent(started["dpid"].as_str().and_then(|pid| pid.parse().ok()).expect("oidc-agent's pid"));
    let out = common::in_home("oidc-gen", home)
        .env("OIDC_SOCK", &socket)
        .env("OIDC_REFRESH_TOKEN", refresh_token)
        .env("OIDC_ENCRYPTION_PW", "benchmark-only")
        .args([
            "--manual",
            "--flow=refresh",
            "--rt-env",
            "--pw-env",
            "--confirm-yes",
            "--prompt=none",
            "--no-url-call",
            "--scope=openid",
            "--redirect-uri=http://localhost:8080",
        ])
        .arg(format!("--iss={issuer}"))
        .arg(format!("--client-id={PEER_CLIENT}"))
        .arg(format!("--client-secret={PEER_SECRET}"))
        .arg("peer")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "oidc-gen: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (socket, agent)
}

/// The oidc-agent daemon's process id; dropping it stops the daemon, on a panic too.
struct Agent(u32);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.to_string()).status();
    }
}

fn socket_call(socket: &Path) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream.write_all(format!("{{\"session\":\"{SESSION}\"}}\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    assert!(line.contains("accessToken"), "{line}");
    line
}

#[tokio::main]
async fn main() {
    let mut calls = 1000usize;
    let mut app = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/session-keeper"));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--calls" => calls = args.next().and_then(|v| v.parse().ok()).expect("--calls N"),
            "--app" => app = PathBuf::from(args.next().expect("--app PATH")),
            other => panic!("unknown option {other}"),
        }
    }
    if cfg!(debug_assertions) {
        panic!("benchmarks run release builds: cargo build --release -p session-keeper-e2e --example hand_out");
    }
    assert!(std::env::var_os("DISPLAY").is_some(), "run inside scripts/desktop-session.sh --display");
    assert!(app.exists(), "{} is missing: cargo build --release -p session-keeper", app.display());
    let idp = Idp::start(Ttls::default());
    let home = common::private_home("hand-out");
    seed(&home, &idp).await;
    let mut running = common::in_home(&app, &home).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("the app starts");

    let socket = home.join("run/session-keeper/token.sock");
    let path = format!("/dev/sessionkeeper/desktop/sessions/{SESSION}");
    let connection = zbus::Connection::session().await.unwrap();
    let proxy =
        zbus::Proxy::new(&connection, "dev.sessionkeeper.desktop", path.as_str(), "dev.sessionkeeper.desktop.Session").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = socket.exists() && proxy.call::<_, _, (String, i32)>("GetAccessToken", &(0u32,)).await.is_ok();
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "the app did not offer tokens within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    println!("a fresh access token, {calls} calls each (release app, one session, consent given)");
    let warm = calls / 10;
    let mut dbus = Vec::with_capacity(calls);
    for n in 0..calls + warm {
        let start = Instant::now();
        let (token, _): (String, i32) = proxy.call("GetAccessToken", &(0u32,)).await.unwrap();
        if n >= warm {
            dbus.push(start.elapsed());
        }
        assert!(!token.is_empty());
    }
    let mut unix = Vec::with_capacity(calls);
    for n in 0..calls + warm {
        let socket = socket.clone();
        let start = Instant::now();
        tokio::task::spawn_blocking(move || socket_call(&socket)).await.unwrap();
        if n >= warm {
            unix.push(start.elapsed());
        }
    }
    let dbus_median = report("D-Bus GetAccessToken (zbus client)", dbus);
    let unix_median = report("Unix socket (the helper's protocol)", unix);
    println!("  ratio D-Bus / socket: {:.2}", dbus_median.as_secs_f64() / unix_median.as_secs_f64());

    let commands = (calls / 10).max(20);
    let run = |command: &mut Command| -> Duration {
        let start = Instant::now();
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        start.elapsed()
    };
    let time_command = |build: &dyn Fn() -> Command| -> Vec<Duration> { (0..commands + 3).map(|_| run(&mut build())).skip(3).collect() };
    // Ours against the peer in turn, pair by pair, so that a drift of the machine's speed moves both:
    // back to back (a script's loop), or `gap` apart (commands a person types, after which every
    // process involved has gone idle).
    let time_pair = |ours: &dyn Fn() -> Command, peer: &dyn Fn() -> Command, gap: Duration| -> (Vec<Duration>, Vec<Duration>) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for n in 0..commands + 3 {
            std::thread::sleep(gap);
            let ours = run(&mut ours());
            std::thread::sleep(gap);
            let peer = run(&mut peer());
            if n >= 3 {
                a.push(ours);
                b.push(peer);
            }
        }
        (a, b)
    };
    const GAP: Duration = Duration::from_millis(100);
    let gdbus = time_command(&|| {
        let mut command = common::in_home("gdbus", &home);
        command.args([
            "call",
            "--session",
            "--dest",
            "dev.sessionkeeper.desktop",
            "--object-path",
            &path,
            "--method",
            "dev.sessionkeeper.desktop.Session.GetAccessToken",
            "0",
        ]);
        command
    });
    let helper = time_command(&|| {
        let mut command = common::in_home(&app, &home);
        command.args(["token", SESSION]);
        command
    });
    let client = app.with_file_name("session-keeper-token");
    assert!(client.exists(), "{} is missing: cargo build --release -p session-keeper-cli", client.display());
    let lean_command = || {
        let mut command = common::in_home(&client, &home);
        command.arg(SESSION);
        command
    };
    let (agent_socket, agent) = start_oidc_agent(&home, &idp.issuer, &peer_refresh_token(&idp).await);
    let oidc_token = || {
        let mut command = common::in_home("oidc-token", &home);
        command.env("OIDC_SOCK", &agent_socket).arg("peer");
        command
    };
    let (lean, peer) = time_pair(&lean_command, &oidc_token, Duration::ZERO);
    let (lean_spaced, peer_spaced) = time_pair(&lean_command, &oidc_token, GAP);
    drop(agent);
    let gdbus_median = report("`gdbus call … GetAccessToken 0` (whole command)", gdbus);
    let helper_median = report("`session-keeper token bench` (the app binary)", helper);
    println!("  the lean client against oidc-agent 4's `oidc-token` (same provider, a cached token each), in turn:");
    let lean_median = report("`session-keeper-token bench` (the lean client)", lean);
    let peer_median = report("`oidc-token peer` (the peer)", peer);
    println!("  ratio lean client / oidc-token: {:.2} (target at most 1.00)", lean_median.as_secs_f64() / peer_median.as_secs_f64());
    let lean_spaced = report(&format!("`session-keeper-token bench`, {} ms apart", GAP.as_millis()), lean_spaced);
    let peer_spaced = report(&format!("`oidc-token peer`, {} ms apart", GAP.as_millis()), peer_spaced);
    println!(
        "  ratio lean client / oidc-token, {} ms apart: {:.2} (target at most 1.00)",
        GAP.as_millis(),
        lean_spaced.as_secs_f64() / peer_spaced.as_secs_f64()
    );
    println!("  ratio gdbus / lean client: {:.2}", gdbus_median.as_secs_f64() / lean_median.as_secs_f64());
    println!("  ratio app binary / lean client: {:.2}", helper_median.as_secs_f64() / lean_median.as_secs_f64());

    let _ = Command::new("kill").arg("-TERM").arg(running.id().to_string()).status();
    let _ = running.wait();
    let _ = std::fs::remove_dir_all(&home);
}
