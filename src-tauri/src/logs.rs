//! Structured logs: one JSON object per line, in a file per day under the app's log folder
//! (`~/.local/share/dev.sessionkeeper.desktop/logs/` on Linux), the last seven days kept.
//!
//! What is logged is session names, phases, error kinds and messages, endpoints and timings; never a
//! token. Tokens only ever exist as `SecretString`, whose `Debug` prints `[REDACTED]`, and no log call
//! formats a token; `tests/e2e` reads every log line after a full sign-in, refresh, token helper call and
//! sign-out to prove it.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Names the log filter, e.g. `SESSION_KEEPER_LOG=debug` or `info,session_core=trace`.
pub const LOG_FILTER_ENV: &str = "SESSION_KEEPER_LOG";
/// The default filter: the app's own crates (the session plugin too) at `info`, everything else at `warn`.
const DEFAULT_FILTER: &str = "warn,session_keeper=info,tauri_plugin_session_keeper=info,session_core=info";
/// Days of logs kept.
const KEPT_FILES: usize = 7;

/// Starts logging to `dir`. The guard flushes the last lines when dropped (at exit). A folder that
/// cannot be written leaves logging off and says why on stderr; the app works without logs.
pub fn init(dir: &Path) -> Option<WorkerGuard> {
    let filter: Targets = std::env::var(LOG_FILTER_ENV)
        .ok()
        .and_then(|spec| spec.parse().map_err(|err| eprintln!("{LOG_FILTER_ENV} ignored: {err}")).ok())
        .unwrap_or_else(|| DEFAULT_FILTER.parse().expect("the default filter parses"));
    if let Err(err) = std::fs::create_dir_all(dir) {
        eprintln!("Session Keeper cannot create its log folder {}: {err}. Going on without logs.", dir.display());
        return None;
    }
    let appender = match Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("session-keeper")
        .filename_suffix("log")
        .max_log_files(KEPT_FILES)
        .build(dir)
    {
        Ok(appender) => appender,
        Err(err) => {
            eprintln!("Session Keeper cannot write its logs to {}: {err}. Going on without logs.", dir.display());
            return None;
        }
    };
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let file = tracing_subscriber::fmt::layer().json().with_current_span(false).with_writer(writer).with_ansi(false);
    let stderr =
        tracing_subscriber::fmt::layer().compact().with_writer(std::io::stderr).with_filter("warn".parse::<Targets>().expect("parses"));
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(file.with_filter(filter)).with(stderr).try_init();
    Some(guard)
}
