//! The app against an empty window of the same Tauri release (`tests/bench/empty-window`, built in the
//! same run with the same features and profile): start to the first painted true state, CPU while
//! nobody touches it (per cent of one core) and anonymous memory of each and every process it started
//! (WebKit's web and network processes), with N sessions signed in and their countdowns on screen.
//!
//! Run inside a private desktop session, on release builds (`scripts/bench.sh` does all of it):
//!   cargo build --release --locked -p session-keeper && cargo build --release --locked -p empty-window
//!   scripts/desktop-session.sh --display -- \
//!     cargo run --release --locked -p session-keeper-e2e --example idle -- --sessions 20 --seconds 60
//!
//! It starts the test provider (2-minute access tokens, as the demo has), signs the sessions in
//! through the provider's pages into a private home (the same keychain service and session file the
//! app uses), then:
//! - starts each program `--starts` times, alternating, and times it from the spawn until its window
//!   is on screen (`xdotool search --onlyvisible`). The app shows its window only once the page has
//!   painted the sessions' true state (`window_ready`), the empty window as soon as it is created, so
//!   the baseline is the easier of the two; the page cache is warm after the first start.
//! - starts each once more, lets it settle for `--settle` seconds, then reads the CPU ticks and
//!   `RssAnon` of its process tree from /proc at the start and end of `--seconds`.
//!
//! `--ttl SECONDS` sets the access tokens' lifetime (default 120, the demo's: each session refreshes
//! about once a minute and its next-refresh countdown is always in its last minute, so the page
//! repaints every second). With an hour (the test provider's default, and what Google, Okta and
//! Entra ID issue) no refresh falls in the window and the countdowns change once a minute.
//! `--app PATH` and `--baseline PATH` measure other builds.

use session_keeper_testkit::bench::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use session_keeper_testkit::{Idp, Ttls};

struct Options {
    sessions: usize,
    seconds: u64,
    settle: u64,
    starts: usize,
    ttl: u64,
    app: PathBuf,
    baseline: PathBuf,
}

fn options() -> Options {
    let mut options = Options {
        sessions: 1,
        seconds: 60,
        settle: 15,
        starts: 5,
        ttl: 120,
        app: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/session-keeper")),
        baseline: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/empty-window")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--sessions" => options.sessions = value().parse().expect("--sessions N"),
            "--seconds" => options.seconds = value().parse().expect("--seconds S"),
            "--settle" => options.settle = value().parse().expect("--settle S"),
            "--starts" => options.starts = value().parse().expect("--starts N"),
            "--ttl" => options.ttl = value().parse().expect("--ttl SECONDS"),
            "--app" => options.app = PathBuf::from(value()),
            "--baseline" => options.baseline = PathBuf::from(value()),
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

/// One of the two programs measured.
struct Program<'a> {
    label: &'static str,
    path: &'a Path,
    /// Its window's title, to see it on screen.
    title: &'static str,
}

impl Program<'_> {
    fn spawn(&self, home: &Path) -> Child {
        common::in_home(self.path, home).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("the program starts")
    }

    fn on_screen(&self) -> bool {
        let pattern = format!("^{}$", self.title);
        Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", &pattern])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// Spawn to window on screen, in milliseconds.
fn start_time(program: &Program, home: &Path) -> f64 {
    let started = Instant::now();
    let mut child = program.spawn(home);
    while !program.on_screen() {
        assert!(child.try_wait().unwrap().is_none(), "{} exited before its window showed", program.label);
        assert!(started.elapsed() < Duration::from_secs(60), "{}'s window did not show within 60 s", program.label);
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = started.elapsed().as_secs_f64() * 1e3;
    stop(child);
    // The next start must not meet this one's window.
    while program.on_screen() {
        std::thread::sleep(Duration::from_millis(20));
    }
    took
}

/// CPU (per cent of one core) and anonymous memory (KiB) of the program's process tree while idle.
async fn idle(program: &Program<'_>, home: &Path, options: &Options) -> (f64, u64) {
    let mut child = program.spawn(home);
    let root = child.id();
    // A warm-up before the measurement, not a condition: start-up work is not idle cost.
    tokio::time::sleep(Duration::from_secs(options.settle)).await;
    assert!(child.try_wait().unwrap().is_none(), "{} exited during the warm-up", program.label);

    let clock_ticks = 100.0; // USER_HZ on Linux
    let before: Vec<(u32, u64)> = tree(root).into_iter().map(|pid| (pid, ticks(pid))).collect();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut total_cpu = 0.0;
    let mut total_anon = 0;
    println!("{}: measured over {elapsed:.1} s after a {} s warm-up", program.label, options.settle);
    for pid in tree(root) {
        let start = before.iter().find(|(p, _)| *p == pid).map(|(_, t)| *t).unwrap_or(0);
        let cpu = ticks(pid).saturating_sub(start) as f64 / clock_ticks / elapsed * 100.0;
        let anon = status_kib(pid, "RssAnon:");
        total_cpu += cpu;
        total_anon += anon;
        println!("  {:<20} pid {:>7}: {:>6.2} % of a core, {:>7.1} MiB anonymous", name(pid), pid, cpu, anon as f64 / 1024.0);
    }
    println!("  total: {total_cpu:.2} % of a core, {:.1} MiB anonymous", total_anon as f64 / 1024.0);
    stop(child);
    (total_cpu, total_anon)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let options = options();
    assert!(std::env::var_os("DISPLAY").is_some(), "run inside scripts/desktop-session.sh --display");
    assert!(options.app.exists(), "{} is missing: cargo build --release -p session-keeper", options.app.display());
    assert!(options.baseline.exists(), "{} is missing: cargo build --release -p empty-window", options.baseline.display());
    let idp = Idp::start(Ttls { access: options.ttl, refresh: 86400 });
    let home = common::private_home("idle");
    let sessions: Vec<(String, &str)> =
        (1..=options.sessions).map(|n| (format!("session-{n:02}"), if n % 2 == 0 { "bob" } else { "alice" })).collect();
    common::seed(&home, &idp, &sessions).await;
    let app = Program { label: "app", path: &options.app, title: "Session Keeper" };
    let empty = Program { label: "empty window", path: &options.baseline, title: "Empty window" };
    println!("the app with {} signed-in sessions against an empty window of the same Tauri release, release builds", options.sessions);

    let (mut app_starts, mut empty_starts) = (Vec::new(), Vec::new());
    for _ in 0..options.starts {
        app_starts.push(start_time(&app, &home));
        empty_starts.push(start_time(&empty, &home));
    }
    let (app_start, empty_start) = (median(app_starts), median(empty_starts));
    println!(
        "start to window on screen, median of {}: app {app_start:.0} ms (its sessions' true state painted), empty window {empty_start:.0} ms, ratio {:.2}",
        options.starts,
        app_start / empty_start
    );

    let (app_cpu, app_anon) = idle(&app, &home, &options).await;
    let (empty_cpu, empty_anon) = idle(&empty, &home, &options).await;
    println!(
        "idle CPU: app {app_cpu:.2} %, empty window {empty_cpu:.2} %: {:+.2} percentage points (target at most +0.5)",
        app_cpu - empty_cpu
    );
    println!(
        "anonymous memory: app {:.1} MiB, empty window {:.1} MiB: ratio {:.2} (target at most 1.20)",
        app_anon as f64 / 1024.0,
        empty_anon as f64 / 1024.0,
        app_anon as f64 / empty_anon.max(1) as f64
    );
    let _ = std::fs::remove_dir_all(&home);
}
