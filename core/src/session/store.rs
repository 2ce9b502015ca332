//! Non-secret metadata: provider settings, user claims, expiry instants. Never a token.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::state::SessionState;
use crate::error::{Cause, Error, Result};
use crate::names::SessionName;
use crate::provider::ProviderConfig;
use crate::user::UserProfile;

/// What is persisted of one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "StoredRecord")]
pub struct SessionRecord {
    /// The session's name.
    pub id: SessionName,
    /// Its provider.
    pub provider: ProviderConfig,
    /// Its state (who is signed in included).
    pub state: SessionState,
}

/// A record as files hold it: before the user moved into the state, it was a field of the record.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredRecord {
    id: SessionName,
    provider: ProviderConfig,
    #[serde(default)]
    user: Option<UserProfile>,
    state: SessionState,
}

impl From<StoredRecord> for SessionRecord {
    fn from(stored: StoredRecord) -> Self {
        let mut state = stored.state;
        if state.user.is_none() {
            state.user = stored.user;
        }
        SessionRecord { id: stored.id, provider: stored.provider, state }
    }
}

/// Where session records are kept between runs.
pub trait MetadataStore: Send + Sync + 'static {
    /// All records. A missing store is empty; a corrupt one is an error and is left untouched.
    fn load(&self) -> Result<Vec<SessionRecord>>;
    /// Replaces all records, atomically: after a crash either the old or the new list is there.
    fn save(&self, records: &[&SessionRecord]) -> Result<()>;
}

/// Records as one JSON file, written to a temporary file, flushed and renamed over the old one.
pub struct JsonFileStore {
    path: PathBuf,
}

#[derive(Deserialize)]
struct FileContents {
    sessions: Vec<SessionRecord>,
}

/// What a save writes: the same shape, borrowing the records.
#[derive(Serialize)]
struct SavedContents<'a> {
    version: u32,
    sessions: &'a [&'a SessionRecord],
}

impl JsonFileStore {
    /// A store at `path` (its folder is created on first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A failed file operation, said in a few words with what to do; the system's words go to logs.
    fn error(&self, err: std::io::Error) -> Error {
        use std::io::ErrorKind as K;
        let (detail, advice) = match err.kind() {
            K::StorageFull | K::QuotaExceeded => ("the disk is full", "Free some disk space and try again."),
            K::ReadOnlyFilesystem => ("the disk is read-only", "Make the data folder writable and try again."),
            K::PermissionDenied => ("permission denied", "Check the data folder's permissions and try again."),
            _ => ("the file system refused the operation", "Check the disk and the data folder, then try again."),
        };
        Error::StorageFailed { path: self.path.display().to_string(), detail: detail.into(), advice, source: Some(Cause(err.to_string())) }
    }
}

impl JsonFileStore {
    /// Removes the temporary files that saves of processes which no longer run left behind (a save
    /// writes `.sessions.json.<pid>.tmp`, then renames it; a crash between the two leaves it).
    fn remove_leftovers(&self) {
        let folder = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else { return };
        let prefix = format!(".{name}.");
        let Ok(entries) = std::fs::read_dir(folder) else { return };
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(&prefix)).and_then(|rest| rest.strip_suffix(".tmp")) else {
                continue;
            };
            let running =
                pid.parse::<u32>().is_ok_and(|pid| pid != std::process::id() && Path::new("/proc").join(pid.to_string()).exists());
            if !running {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => tracing::info!(file = %entry.path().display(), "removed a temporary file an interrupted save left"),
                    Err(err) => {
                        tracing::warn!(file = %entry.path().display(), error = %err, "a temporary file an interrupted save left could not be removed")
                    }
                }
            }
        }
    }
}

impl MetadataStore for JsonFileStore {
    /// Reads the records; first removes what interrupted saves left behind.
    fn load(&self) -> Result<Vec<SessionRecord>> {
        self.remove_leftovers();
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(self.error(err)),
        };
        let contents: FileContents = serde_json::from_slice(&bytes).map_err(|err| Error::StorageFailed {
            path: self.path.display().to_string(),
            detail: format!("the file is not valid (line {}, column {})", err.line(), err.column()),
            advice: "It was left as it is: repair it, or move it away to start afresh (the tokens stay in the keychain).",
            source: Some(Cause(err.to_string())),
        })?;
        Ok(contents.sessions)
    }

    fn save(&self, records: &[&SessionRecord]) -> Result<()> {
        let folder = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(folder).map_err(|err| self.error(err))?;
        let contents = SavedContents { version: 1, sessions: records };
        let json = serde_json::to_vec_pretty(&contents).map_err(|err| self.error(err.into()))?;
        let mut temporary = tempfile_in(folder, &self.path).map_err(|err| self.error(err))?;
        let written = temporary.1.write_all(&json).and_then(|()| temporary.1.sync_all());
        if let Err(err) = written {
            let _ = std::fs::remove_file(&temporary.0);
            return Err(self.error(err));
        }
        std::fs::rename(&temporary.0, &self.path).map_err(|err| {
            let _ = std::fs::remove_file(&temporary.0);
            self.error(err)
        })?;
        if let Ok(dir) = std::fs::File::open(folder) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

fn tempfile_in(folder: &Path, target: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("sessions.json");
    let path = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&path)?;
    Ok((path, file))
}

/// Records in memory, for tests.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<Vec<SessionRecord>>,
}

impl MetadataStore for MemoryStore {
    fn load(&self) -> Result<Vec<SessionRecord>> {
        Ok(self.records.lock().expect("memory store poisoned").clone())
    }

    fn save(&self, records: &[&SessionRecord]) -> Result<()> {
        *self.records.lock().expect("memory store poisoned") = records.iter().map(|&r| r.clone()).collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_from_before_keeps_its_user() {
        let old = serde_json::json!([{
            "id": "work",
            "provider": serde_json::to_value(ProviderConfig::new("https://id.example.com", "client")).unwrap(),
            "user": { "subject": "alice", "name": "Alice", "email": null, "preferredUsername": null },
            "state": serde_json::to_value(SessionState::signed_out()).unwrap(),
        }]);
        let records: Vec<SessionRecord> = serde_json::from_value(old).unwrap();
        assert_eq!(records[0].state.user.as_ref().map(|u| u.subject.as_str()), Some("alice"));
        let saved = serde_json::to_value(&records[0]).unwrap();
        assert!(saved.get("user").is_none() && saved["state"]["user"]["subject"] == "alice", "{saved}");
    }

    fn record(id: &str) -> SessionRecord {
        SessionRecord {
            id: SessionName::new(id).unwrap(),
            provider: ProviderConfig::new("https://id.example.com", "client"),
            state: SessionState::signed_out(),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("session-core-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sessions.json")
    }

    #[test]
    fn missing_file_is_empty_and_saves_round_trip() {
        let store = JsonFileStore::new(scratch("round-trip"));
        assert!(store.load().unwrap().is_empty());
        store.save(&[&record("a"), &record("b")]).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn a_corrupt_file_is_reported_and_left_as_it_was() {
        let path = scratch("corrupt");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{\"version\":1,\"sessions\":[{").unwrap();
        let err = JsonFileStore::new(&path).load().unwrap_err();
        assert!(err.to_string().contains("left as it is"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"version\":1,\"sessions\":[{");
    }

    #[test]
    fn a_failed_save_keeps_the_previous_file() {
        let path = scratch("failed-save");
        let store = JsonFileStore::new(&path);
        store.save(&[&record("kept")]).unwrap();
        // A directory where the temporary file should go makes the write fail like a full disk would.
        let blocker = path.parent().unwrap().join(format!(".sessions.json.{}.tmp", std::process::id()));
        std::fs::create_dir_all(&blocker).unwrap();
        let err = store.save(&[&record("new")]).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::StorageFailed);
        assert_eq!(store.load().unwrap()[0].id, "kept");
    }

    #[test]
    fn leftovers_of_interrupted_saves_are_removed_at_load_but_not_a_running_process_save() {
        let path = scratch("leftovers");
        let store = JsonFileStore::new(&path);
        store.save(&[&record("kept")]).unwrap();
        let folder = path.parent().unwrap();
        // pid_max is at most 2^22: this process cannot exist. Process 1 always does.
        let dead = folder.join(".sessions.json.4194305.tmp");
        let running = folder.join(".sessions.json.1.tmp");
        let unrelated = folder.join(".settings.json.4194305.tmp");
        for file in [&dead, &running, &unrelated] {
            std::fs::write(file, b"{\"version\":1,\"sess").unwrap();
        }
        assert_eq!(store.load().unwrap()[0].id, "kept");
        assert!(!dead.exists(), "a dead process's leftover stayed");
        assert!(running.exists(), "a running process's save in progress was removed");
        assert!(unrelated.exists(), "another file's was touched");
    }

    // Property tests (proptest): any bytes in the session file load or are refused without a panic,
    // and a refused file is left byte for byte as it was.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
            #[test]
            fn any_file_loads_or_is_refused_and_left_as_it_was(bytes in prop::collection::vec(any::<u8>(), 0..256), prefix in 0usize..3) {
                let path = scratch("any-file");
                // Start from a valid file's beginning now and then, so that deeper parsing is reached.
                let valid = b"{\"version\":1,\"sessions\":[";
                let mut contents = if prefix == 0 { Vec::new() } else { valid.to_vec() };
                contents.extend_from_slice(&bytes);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &contents).unwrap();
                if JsonFileStore::new(&path).load().is_err() {
                    prop_assert_eq!(std::fs::read(&path).unwrap(), contents);
                }
            }
        }
    }
}
