//! What the app costs while nobody touches it: CPU (per cent of one core) and anonymous memory of the
//! app and every process it started (WebKit's web and network processes), with N sessions signed in
//! and their countdowns on screen.
//!
//! Run inside a private desktop session, on a release build:
//!   cargo build --release --locked -p session-keeper
//!   scripts/desktop-session.sh --display -- \
//!     cargo run --release --locked -p session-keeper-e2e --example idle -- --sessions 20 --seconds 60
//!
//! It starts the test provider (2-minute access tokens, as the demo has), signs the sessions in
//! through the provider's pages into a private home (the same keychain service and session file the
//! app uses), starts the app, lets it settle for `--settle` seconds, then reads the CPU ticks and
//! `RssAnon` of the process tree from /proc at the start and end of `--seconds`.
//! `--app PATH` measures another build (default: target/release/session-keeper).

#[path = "common.rs"]
mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use session_keeper_testkit::{Idp, Ttls};

struct Options {
    sessions: usize,
    seconds: u64,
    settle: u64,
    app: PathBuf,
}

fn options() -> Options {
    let mut options = Options {
        sessions: 1,
        seconds: 60,
        settle: 15,
        app: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/session-keeper")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--sessions" => options.sessions = value().parse().expect("--sessions N"),
            "--seconds" => options.seconds = value().parse().expect("--seconds S"),
            "--settle" => options.settle = value().parse().expect("--settle S"),
            "--app" => options.app = PathBuf::from(value()),
            other => panic!("unknown option {other}"),
        }
    }
    options
}

/// Every process whose parent chain leads to `root`, `root` included.
fn tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        parents.push((pid, ppid));
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    found
}

/// utime + stime in clock ticks, per process.
fn ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_owned()
}

#[tokio::main]
async fn main() {
    let options = options();
    assert!(std::env::var_os("DISPLAY").is_some(), "run inside scripts/desktop-session.sh --display");
    assert!(options.app.exists(), "{} is missing: cargo build --release -p session-keeper", options.app.display());
    let idp = Idp::start(Ttls { access: 120, refresh: 86400 });
    let home = common::private_home("idle");
    let sessions: Vec<(String, &str)> =
        (1..=options.sessions).map(|n| (format!("session-{n:02}"), if n % 2 == 0 { "bob" } else { "alice" })).collect();
    common::seed(&home, &idp, &sessions).await;

    let mut app = common::in_home(&options.app, &home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the app starts");
    let root = app.id();
    // A warm-up before the measurement, not a condition: start-up work is not idle cost.
    tokio::time::sleep(Duration::from_secs(options.settle)).await;
    assert!(app.try_wait().unwrap().is_none(), "the app exited during the warm-up");

    let clock_ticks = 100.0; // USER_HZ on Linux
    let before: Vec<(u32, u64)> = tree(root).into_iter().map(|pid| (pid, ticks(pid))).collect();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let after = tree(root);
    let mut total_cpu = 0.0;
    let mut total_anon = 0;
    println!("sessions: {}, measured over {elapsed:.1} s after a {} s warm-up", options.sessions, options.settle);
    for pid in &after {
        let start = before.iter().find(|(p, _)| p == pid).map(|(_, t)| *t).unwrap_or(0);
        let cpu = (ticks(*pid) - start) as f64 / clock_ticks / elapsed * 100.0;
        let anon = status_kib(*pid, "RssAnon:");
        total_cpu += cpu;
        total_anon += anon;
        println!("  {:<20} pid {:>7}: {:>6.2} % of a core, {:>7.1} MiB anonymous", name(*pid), pid, cpu, anon as f64 / 1024.0);
    }
    println!("total: {total_cpu:.2} % of a core, {:.1} MiB anonymous", total_anon as f64 / 1024.0);

    let _ = Command::new("kill").arg("-TERM").arg(root.to_string()).status();
    let _ = app.wait();
    let _ = std::fs::remove_dir_all(&home);
}
