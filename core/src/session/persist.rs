//! The session list on disk: the actor writes changed records into a [`RecordBook`] (cheap: only the
//! sessions that changed, under one short lock), and the persister task writes the whole book to the
//! [`MetadataStore`] whenever it has changed. A burst of changes becomes one write; a failed write (a
//! full disk, a read-only folder) is said once and retried every [`STORAGE_RETRY`] until it goes
//! through; the last records get one more try when the actor drops the book (the app quits).
//!
//! Writing the whole list is O(sessions), so the persister rests four times as long as its last write
//! took before it writes again: with a few sessions that is a millisecond, with 100,000 sessions it
//! keeps the writes to a fifth of one core however fast the sessions change. The tokens themselves
//! are in the keychain, so a record that reaches the disk a little later loses nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use super::snapshot::SessionEvent;
use super::store::{MetadataStore, SessionRecord};
use crate::error::{ErrorInfo, ErrorKind};
use crate::names::SessionName;

/// How soon a failed save of the session list is tried again.
pub(crate) const STORAGE_RETRY: Duration = Duration::from_secs(5);

/// The longest rest between two writes, however long the last one took.
const MAX_REST: Duration = Duration::from_secs(2);

type Records = Arc<Mutex<BTreeMap<SessionName, Arc<SessionRecord>>>>;

/// The actor's side: the latest record of every session, shared with the persister.
pub(crate) struct RecordBook {
    records: Records,
    version: watch::Sender<u64>,
}

/// The persister's side.
pub(crate) struct BookReader {
    records: Records,
    version: watch::Receiver<u64>,
}

impl RecordBook {
    pub(crate) fn new(initial: impl IntoIterator<Item = Arc<SessionRecord>>) -> (Self, BookReader) {
        let records: Records = Arc::new(Mutex::new(initial.into_iter().map(|r| (r.id.clone(), r)).collect()));
        let (version, seen) = watch::channel(0);
        (RecordBook { records: records.clone(), version }, BookReader { records, version: seen })
    }

    /// Puts changed records in the book and tells the persister.
    pub(crate) fn write(&self, changed: impl IntoIterator<Item = Arc<SessionRecord>>) {
        {
            let mut book = self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for record in changed {
                book.insert(record.id.clone(), record);
            }
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Takes a removed session out of the book and tells the persister.
    pub(crate) fn remove(&self, id: &str) {
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(id);
        self.version.send_modify(|v| *v += 1);
    }
}

impl BookReader {
    fn read(&mut self) -> Vec<Arc<SessionRecord>> {
        self.version.borrow_and_update();
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).values().cloned().collect()
    }
}

/// Saves the book whenever it changes (see the module's comment).
pub(crate) async fn persist(store: Arc<dyn MetadataStore>, mut book: BookReader, events: broadcast::Sender<SessionEvent>) {
    let mut failing: Option<ErrorInfo> = None;
    loop {
        let changed = match failing {
            None => book.version.changed().await.is_ok(),
            Some(_) => tokio::select! {
                changed = book.version.changed() => changed.is_ok(),
                () = tokio::time::sleep(STORAGE_RETRY) => true,
            },
        };
        if !changed && failing.is_none() {
            return;
        }
        let latest = book.read();
        let store = store.clone();
        let started = Instant::now();
        let saved = tokio::task::spawn_blocking(move || {
            let records: Vec<&SessionRecord> = latest.iter().map(Arc::as_ref).collect();
            store.save(&records)
        })
        .await;
        let took = started.elapsed();
        let error = match saved {
            Ok(Ok(())) => {
                if failing.take().is_some() {
                    tracing::info!("session metadata saved again");
                    let _ = events.send(SessionEvent::StorageSaved);
                }
                if !changed {
                    return;
                }
                tokio::time::sleep((took * 4).min(MAX_REST)).await;
                continue;
            }
            Ok(Err(err)) => err.info(),
            Err(join_error) => ErrorInfo::new(ErrorKind::StorageFailed, join_error.to_string()),
        };
        if failing.as_ref() != Some(&error) {
            tracing::warn!("session metadata not saved: {}", error.message);
            let _ = events.send(SessionEvent::StorageFailed { error: error.clone() });
        }
        failing = Some(error);
        if !changed {
            return;
        }
    }
}
