//! Stops and crashes in the middle of back-to-back refreshes, against the real provider (refresh
//! tokens rotate, and a spent one revokes the grant) and the real keychain (gnome-keyring).
//!
//! Each round runs the refresh loop in a child process (this test binary run again, see
//! [`refresh_loop_child`]) on the same session file and keychain items, stops it at a random moment,
//! and starts a manager on what it left. SIGTERM (a quit, a log-out, a shutdown) must lose nothing.
//! `kill -9` can lose a session only when it lands between the provider's answer and the keychain's
//! acknowledgement of the write; every restart must still find a consistent state: the session file
//! loads, no temporary file is left, and the session either refreshes or is Expired with
//! "sign in again". `SESSION_KEEPER_STOPS` sets the rounds of each kind (20 unless set; the figures
//! in RELIABILITY.md are from 200 in a release build).

use session_keeper_testkit as support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use session_core::{ErrorKind, JsonFileStore, KeyringVault, Phase, SessionManager};
use support::{Idp, Ttls};

/// Set in the child's environment: `<session file>|<keychain service>`.
const CHILD: &str = "SESSION_KEEPER_REFRESH_LOOP";

async fn manager_on(store: &Path, service: &str) -> session_core::Result<SessionManager> {
    SessionManager::builder()
        .vault(Arc::new(KeyringVault::new(service)))
        .store(Arc::new(JsonFileStore::new(store)))
        .request_timeout(Duration::from_secs(5))
        .build()
        .await
}

/// The child: refreshes session "s" back to back until a signal ends it. On SIGTERM it shuts the
/// manager down as the app does, then exits 0. Does nothing when run as an ordinary test.
#[tokio::test]
async fn refresh_loop_child() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let (store, service) = spec.split_once('|').expect("<session file>|<keychain service>");
    let manager = manager_on(Path::new(store), service).await.expect("the child could not start");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    println!("refresh loop ready");
    loop {
        tokio::select! {
            _ = term.recv() => {
                manager.shutdown().await;
                std::process::exit(0);
            }
            refreshed = manager.refresh("s", true) => {
                refreshed.expect("a refresh in the loop failed");
            }
        }
    }
}

/// What the rounds of one kind of stop found.
#[derive(Default, Debug)]
struct Tally {
    stops: usize,
    kept: usize,
    lost: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_loses_nothing_and_kill_9_leaves_a_consistent_state() {
    let rounds: usize = std::env::var("SESSION_KEEPER_STOPS").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    assert!(std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(), "run through scripts/test.sh (a private bus with gnome-keyring)");
    let idp = Idp::start(Ttls::default());
    let service = format!("session-keeper-test-stops-{}", std::process::id());
    let folder = std::env::temp_dir().join(format!("session-core-stops-{}", std::process::id()));
    let store = folder.join("sessions.json");
    let manager = manager_on(&store, &service).await.unwrap();
    manager.add_session("s", idp.config(), None).await.unwrap();
    sign_in_again(&manager, &idp).await;
    manager.shutdown().await;

    let mut tallies = Vec::new();
    for signal in ["TERM", "KILL"] {
        let mut tally = Tally::default();
        for round in 0..rounds {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "refresh_loop_child", "--nocapture", "--test-threads=1"])
                .env(CHILD, format!("{}|{service}", store.display()))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            assert!(lines.any(|line| line.is_ok_and(|l| l.ends_with("refresh loop ready"))), "round {round}: the child did not start");
            std::thread::spawn(move || lines.for_each(drop));
            tokio::time::sleep(Duration::from_millis(rand::rng().random_range(20..400))).await;
            let sent = Command::new("kill").args([format!("-{signal}"), child.id().to_string()]).status().unwrap();
            assert!(sent.success());
            let status = wait_bounded(&mut child, Duration::from_secs(30));
            if signal == "TERM" {
                assert!(status.success(), "round {round}: SIGTERM ended the child with {status}");
            }
            tally.stops += 1;

            let restarted =
                manager_on(&store, &service).await.unwrap_or_else(|e| panic!("round {round}: the state left does not load: {e}"));
            assert_eq!(leftovers(&folder), Vec::<PathBuf>::new(), "round {round}: temporary files left");
            match restarted.refresh("s", true).await {
                Ok(session) => {
                    assert_eq!(session.phase, Phase::Active);
                    tally.kept += 1;
                }
                Err(err) if err.kind() == ErrorKind::SessionRevoked => {
                    assert_ne!(signal, "TERM", "round {round}: a SIGTERM lost the session: {err}");
                    let session = restarted.snapshot("s").await.unwrap();
                    assert_eq!(session.phase, Phase::Expired, "round {round}");
                    assert!(err.to_string().contains("sign in again"), "{err}");
                    tally.lost += 1;
                    sign_in_again(&restarted, &idp).await;
                }
                Err(err) => panic!("round {round} after SIG{signal}: {err}"),
            }
            restarted.shutdown().await;
            eprintln!("SIG{signal} round {round}: {status}, {tally:?}");
        }
        println!("SIG{signal}: {tally:?}");
        tallies.push((signal, tally));
    }
    println!("stops during back-to-back refreshes: {tallies:?}");
    let _ = std::fs::remove_dir_all(&folder);
}

async fn sign_in_again(manager: &SessionManager, idp: &Idp) {
    let url = manager.begin_sign_in("s").await.unwrap();
    let redirect = idp.login(&url, "alice").await;
    assert_eq!(manager.complete_sign_in("s", &redirect).await.unwrap().phase, Phase::Active);
}

fn wait_bounded(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the child did not end within {within:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Temporary files of saves by other processes (this one's may be a save in progress).
fn leftovers(folder: &Path) -> Vec<PathBuf> {
    let own = format!(".{}.tmp", std::process::id());
    std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tmp") && !p.to_string_lossy().ends_with(&own))
        .collect()
}
