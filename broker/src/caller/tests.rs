use std::time::Duration;

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
