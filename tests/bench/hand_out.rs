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

#[path = "common.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use session_keeper_testkit::{Idp, Ttls};

const SESSION: &str = "bench";

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
    assert!(std::env::var_os("DISPLAY").is_some(), "run inside scripts/desktop-session.sh --display");
    assert!(app.exists(), "{} is missing: cargo build --release -p session-keeper", app.display());
    let idp = Idp::start(Ttls::default());
    let home = common::private_home("hand-out");
    seed(&home, &idp).await;
    let mut running = common::in_home(&app, &home).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("the app starts");

    let socket = home.join("run/session-keeper/token.sock");
    let path = format!("/dev/sessionkeeper/desktop/sessions/{SESSION}");
    let connection = zbus::Connection::session().await.unwrap();
    let proxy = zbus::Proxy::new(&connection, "dev.sessionkeeper.desktop", path.as_str(), "dev.sessionkeeper.desktop.Session").await.unwrap();
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
    let time_command = |build: &dyn Fn() -> Command| -> Vec<Duration> {
        (0..commands + 3)
            .map(|_| {
                let mut command = build();
                let start = Instant::now();
                let out = command.output().unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                start.elapsed()
            })
            .skip(3)
            .collect()
    };
    let gdbus = time_command(&|| {
        let mut command = common::in_home("gdbus", &home);
        command.args(["call", "--session", "--dest", "dev.sessionkeeper.desktop", "--object-path", &path, "--method", "dev.sessionkeeper.desktop.Session.GetAccessToken", "0"]);
        command
    });
    let helper = time_command(&|| {
        let mut command = common::in_home(&app, &home);
        command.args(["token", SESSION]);
        command
    });
    let client = app.with_file_name("session-keeper-token");
    assert!(client.exists(), "{} is missing: cargo build --release -p session-keeper-cli", client.display());
    let lean = time_command(&|| {
        let mut command = common::in_home(&client, &home);
        command.arg(SESSION);
        command
    });
    let gdbus_median = report("`gdbus call … GetAccessToken 0` (whole command)", gdbus);
    let helper_median = report("`session-keeper token bench` (the app binary)", helper);
    let lean_median = report("`session-keeper-token bench` (the lean client)", lean);
    println!("  ratio gdbus / lean client: {:.2}", gdbus_median.as_secs_f64() / lean_median.as_secs_f64());
    println!("  ratio app binary / lean client: {:.2}", helper_median.as_secs_f64() / lean_median.as_secs_f64());

    let _ = Command::new("kill").arg("-TERM").arg(running.id().to_string()).status();
    let _ = running.wait();
    let _ = std::fs::remove_dir_all(&home);
}
