//! What the benchmarks share: a private home for the app, and sessions signed in there through the
//! test provider's pages (the keychain service and session file the app itself uses).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::Idp;
use session_core::{JsonFileStore, KeyringVault, SessionManager};

/// A fresh private home (XDG data, config, cache and a 0700 runtime folder) named after `what`.
pub fn private_home(what: &str) -> PathBuf {
    let home = std::env::temp_dir().join(format!("session-keeper-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    for folder in ["data", "config", "cache", "run"] {
        std::fs::create_dir_all(home.join(folder)).unwrap();
    }
    std::fs::set_permissions(home.join("run"), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    home
}

/// `program` with the environment that points the app at `home`.
pub fn in_home(program: impl AsRef<std::ffi::OsStr>, home: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_RUNTIME_DIR", home.join("run"));
    command
}

/// The app's data folder in `home`.
pub fn app_data(home: &Path) -> PathBuf {
    home.join("data/dev.sessionkeeper.desktop")
}

/// Signs each `(session, user)` in at `idp`, as the app would have.
pub async fn seed(home: &Path, idp: &Idp, sessions: &[(String, &str)]) {
    let data = app_data(home);
    std::fs::create_dir_all(&data).unwrap();
    let manager = SessionManager::builder()
        .vault(Arc::new(KeyringVault::new("session-keeper")))
        .store(Arc::new(JsonFileStore::new(data.join("sessions.json"))))
        .build()
        .await
        .unwrap();
    for (id, user) in sessions {
        manager.add_session(id, idp.config(), None).await.unwrap();
        let url = manager.begin_sign_in(id).await.unwrap();
        let redirect = idp.login(&url, user).await;
        manager.complete_sign_in(id, &redirect).await.unwrap();
    }
    manager.shutdown().await;
}
