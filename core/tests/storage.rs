//! The session list on a disk that fills up, or turns read-only, under the app: a real file system of
//! 64 KiB (tmpfs, so the test needs root to mount it, as CI has; run as another user it says so and
//! does nothing).
//!
//! Asserted: the change the disk refused goes on in memory, the banner says what happened and what to
//! do, the save is retried by itself and the banner is taken back once it goes through, no temporary
//! file is left, and a restart finds every session.

use session_keeper_testkit as support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use session_core::{ErrorKind, JsonFileStore, MemoryVault, SessionEvent, SessionManager};
use support::{Idp, Ttls};

/// A 64 KiB tmpfs, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(folder: &Path) -> Option<SmallDisk> {
        std::fs::create_dir_all(folder).unwrap();
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"]).arg(folder).status().ok()?.success();
        mounted.then(|| SmallDisk(folder.to_owned()))
    }

    fn remount(&self, mode: &str) {
        let status = Command::new("mount").args(["-o", &format!("remount,{mode}")]).arg(&self.0).status().unwrap();
        assert!(status.success(), "remount {mode}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

async fn manager(file: &Path) -> SessionManager {
    SessionManager::builder().vault(Arc::new(MemoryVault::new())).store(Arc::new(JsonFileStore::new(file))).build().await.unwrap()
}

/// The next storage event, within the retry interval and a second.
async fn next_storage_event(events: &mut tokio::sync::broadcast::Receiver<SessionEvent>) -> SessionEvent {
    tokio::time::timeout(Duration::from_secs(7), async {
        loop {
            if let event @ (SessionEvent::StorageFailed { .. } | SessionEvent::StorageSaved) = events.recv().await.unwrap() {
                return event;
            }
        }
    })
    .await
    .expect("no storage event within the retry interval")
}

fn leftovers(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_or_read_only_disk_loses_no_session() {
    let folder = std::env::temp_dir().join(format!("session-core-small-disk-{}", std::process::id()));
    if !is_root() {
        eprintln!("not root: cannot mount the small disk; run as root (CI does)");
        return;
    }
    let disk = SmallDisk::mount(&folder).expect("mounting a tmpfs (as root)");
    let file = folder.join("sessions.json");
    let idp = Idp::start(Ttls::default());
    let manager = manager(&file).await;
    let mut events = manager.subscribe();
    manager.add_session("a", idp.config(), None).await.unwrap();

    // The disk fills up (another program's download, say).
    let mut chunk = 0usize;
    while std::fs::write(folder.join(format!("filler-{chunk}")), vec![0u8; 4096]).is_ok() {
        chunk += 1;
    }
    let _ = std::fs::remove_file(folder.join(format!("filler-{chunk}")));
    manager.add_session("b", idp.config(), None).await.expect("the session is added in memory");
    let SessionEvent::StorageFailed { error } = next_storage_event(&mut events).await else { panic!("saved on a full disk?") };
    assert_eq!(error.kind, ErrorKind::StorageFailed);
    assert!(error.message.contains("the disk is full") && error.message.contains("Free some disk space"), "{}", error.message);
    assert!(manager.snapshot("b").await.is_ok(), "the session lives on in memory");
    assert_eq!(leftovers(&folder), Vec::<String>::new(), "a failed save left its temporary file");

    // Space comes back: the retry saves, and says so, without any other change.
    for n in 0..chunk {
        std::fs::remove_file(folder.join(format!("filler-{n}"))).unwrap();
    }
    assert_eq!(next_storage_event(&mut events).await, SessionEvent::StorageSaved);
    assert!(std::fs::read_to_string(&file).unwrap().contains("\"b\""), "b is in the file");

    // The disk turns read-only (a file system error remounts it so).
    disk.remount("ro");
    manager.add_session("c", idp.config(), None).await.expect("the session is added in memory");
    let SessionEvent::StorageFailed { error } = next_storage_event(&mut events).await else { panic!("saved on a read-only disk?") };
    assert!(error.message.contains("read-only") && error.message.contains("Make the data folder writable"), "{}", error.message);
    disk.remount("rw");
    assert_eq!(next_storage_event(&mut events).await, SessionEvent::StorageSaved);
    manager.shutdown().await;

    let restarted = manager_ids(&file).await;
    assert_eq!(restarted, ["a", "b", "c"]);
    assert_eq!(leftovers(&folder), Vec::<String>::new());
    drop(disk);
}

async fn manager_ids(file: &Path) -> Vec<String> {
    let manager = manager(file).await;
    let mut ids: Vec<String> = manager.snapshots().await.unwrap().into_iter().map(|s| s.id.to_string()).collect();
    ids.sort();
    manager.shutdown().await;
    ids
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}
