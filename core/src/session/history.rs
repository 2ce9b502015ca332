//! A session's last 24 hours, for the timeline on its card: sign-ins, refreshes, failures and their
//! kind, the interval, focus, resume and manual checks that asked the provider, expiry, sign-outs and tokens handed
//! to other programs. Secret-free (instants, a kind and a few words), bounded in time and in count,
//! and kept with the session's state in the session file, so it survives a restart.
//!
//! Marks are derived in one place, `machine/marks.rs`, from what [`super::transition`] decided:
//! nothing else writes the history. This file holds only the data and its bounds.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// How far back the history reaches.
pub const HISTORY_SPAN: TimeDelta = TimeDelta::hours(24);
/// At most this many marks (a periodic check every second would otherwise fill the file).
pub const HISTORY_MAX: usize = 200;
/// A mark that repeats the last one (same kind, same detail) within this long of that mark's first
/// instant is counted into it: `kubectl` and `git` ask for a token on every command, and a burst of
/// them would otherwise push the day's sign-ins and refreshes out of [`HISTORY_MAX`] (and rewrite a
/// longer session file each time). The timeline draws a day across a few hundred pixels, so a minute
/// is less than one.
pub const REPEAT_WITHIN: TimeDelta = TimeDelta::minutes(1);

/// One thing that happened to a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "StoredMark")]
pub struct Mark {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub what: MarkKind,
    /// A failure's error kind (`provider_unavailable`), a check's trigger ([`super::Trigger::as_str`]:
    /// `interval`, `focus`, `resume`, `manual`) or the program a token was handed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How many times it happened from `at` on, within a minute of it (`REPEAT_WITHIN`; 1 when it did once).
    #[serde(default = "once", skip_serializing_if = "is_once")]
    pub count: u32,
}

/// A mark as a session file holds it. Files written before the checks were named by their trigger
/// say `timer` and `wake`; they read as `interval` and `resume`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredMark {
    at: DateTime<Utc>,
    what: MarkKind,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default = "once")]
    count: u32,
}

impl From<StoredMark> for Mark {
    fn from(stored: StoredMark) -> Self {
        let detail = match (stored.what, stored.detail.as_deref()) {
            (MarkKind::Checked, Some("timer")) => Some(super::Trigger::Interval.as_str().to_owned()),
            (MarkKind::Checked, Some("wake")) => Some(super::Trigger::Resume.as_str().to_owned()),
            _ => stored.detail,
        };
        Mark { at: stored.at, what: stored.what, detail, count: stored.count }
    }
}

fn once() -> u32 {
    1
}

fn is_once(count: &u32) -> bool {
    *count == 1
}

/// The kinds of [`Mark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    /// Signed in (or again).
    SignedIn,
    /// New tokens from the token endpoint.
    Refreshed,
    /// A refresh failed; the detail is the error's kind.
    RefreshFailed,
    /// A trigger asked the provider (a refresh or a userinfo check); the detail is the trigger.
    Checked,
    /// The session ended without a sign-out.
    Expired,
    /// Signed out.
    SignedOut,
    /// An access token was handed to another program.
    HandedOut,
    /// A silent sign-in (`prompt=none`); the detail is `started` or its outcome (`renewed`,
    /// `needsSignIn`, `refused`, `failed`).
    SilentSignIn,
}

impl MarkKind {
    /// The serialized name (`signed_in`, `refreshed`, `refresh_failed`, `checked`, `expired`,
    /// `signed_out`, `handed_out`, `silent_sign_in`).
    pub fn as_str(self) -> &'static str {
        match self {
            MarkKind::SignedIn => "signed_in",
            MarkKind::Refreshed => "refreshed",
            MarkKind::RefreshFailed => "refresh_failed",
            MarkKind::Checked => "checked",
            MarkKind::Expired => "expired",
            MarkKind::SignedOut => "signed_out",
            MarkKind::HandedOut => "handed_out",
            MarkKind::SilentSignIn => "silent_sign_in",
        }
    }
}

/// The marks of one session, oldest first, within [`HISTORY_SPAN`] and [`HISTORY_MAX`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct History(Vec<Mark>);

impl History {
    /// Adds a mark, or counts it into the last one it repeats (`REPEAT_WITHIN`: within a minute), dropping what
    /// fell out of the span or over the count.
    pub fn record(&mut self, mark: Mark) {
        let since = mark.at - HISTORY_SPAN;
        self.0.retain(|old| old.at >= since);
        if let Some(last) = self.0.last_mut()
            && (last.what, &last.detail) == (mark.what, &mark.detail)
            && mark.at >= last.at
            && mark.at - last.at < REPEAT_WITHIN
        {
            last.count = last.count.saturating_add(mark.count);
            return;
        }
        self.0.push(mark);
        let over = self.0.len().saturating_sub(HISTORY_MAX);
        self.0.drain(..over);
    }

    /// The marks, oldest first.
    pub fn marks(&self) -> &[Mark] {
        &self.0
    }
}

/// A mark of `what` at `at`, with an optional detail.
pub(super) fn mark(at: DateTime<Utc>, what: MarkKind, detail: Option<&str>) -> Mark {
    Mark { at, what, detail: detail.map(str::to_owned), count: 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    #[test]
    fn keeps_a_day_and_at_most_the_count() {
        let mut history = History::default();
        history.record(mark(at(0), MarkKind::SignedIn, None));
        history.record(mark(at(60), MarkKind::Refreshed, None));
        history.record(mark(at(24 * 60 + 30), MarkKind::Refreshed, None));
        assert_eq!(
            history.marks().iter().map(|m| m.at).collect::<Vec<_>>(),
            vec![at(60), at(24 * 60 + 30)],
            "the sign-in is over a day old"
        );
        for n in 0..(HISTORY_MAX as i64 + 50) {
            // Alternating kinds: repeats would be counted into one mark.
            let what = if n % 2 == 0 { MarkKind::Checked } else { MarkKind::Refreshed };
            history.record(mark(at(24 * 60 + 31) + TimeDelta::seconds(n), what, None));
        }
        assert_eq!(history.marks().len(), HISTORY_MAX);
        assert_eq!(history.marks().last().unwrap().at, at(24 * 60 + 31) + TimeDelta::seconds(HISTORY_MAX as i64 + 49));
    }

    #[test]
    fn repeats_within_a_minute_are_counted_into_one_mark() {
        let mut history = History::default();
        history.record(mark(at(0), MarkKind::Refreshed, None));
        let second = |n: i64| at(1) + TimeDelta::seconds(n);
        for n in 0..500 {
            history.record(mark(second(n % 60), MarkKind::HandedOut, Some("/usr/bin/kubectl")));
        }
        history.record(mark(second(30), MarkKind::HandedOut, Some("/usr/bin/git")));
        history.record(mark(second(31), MarkKind::HandedOut, Some("/usr/bin/kubectl")));
        history.record(mark(second(60), MarkKind::HandedOut, Some("/usr/bin/kubectl")));
        let story: Vec<_> = history.marks().iter().map(|m| (m.what, m.detail.as_deref(), m.at, m.count)).collect();
        assert_eq!(
            story,
            vec![
                (MarkKind::Refreshed, None, at(0), 1),
                (MarkKind::HandedOut, Some("/usr/bin/kubectl"), second(0), 500),
                (MarkKind::HandedOut, Some("/usr/bin/git"), second(30), 1),
                (MarkKind::HandedOut, Some("/usr/bin/kubectl"), second(31), 2),
            ],
            "500 hand-outs in a minute keep the refresh before them; another program's breaks the run"
        );
        history.record(mark(second(91), MarkKind::HandedOut, Some("/usr/bin/kubectl")));
        assert_eq!(history.marks().last().map(|m| (m.at, m.count)), Some((second(91), 1)), "a minute after a mark began, a new one begins");
    }

    #[test]
    fn reads_as_the_page_wants_it() {
        let mut history = History::default();
        history.record(mark(at(0), MarkKind::RefreshFailed, Some("provider_unavailable")));
        history.record(mark(at(1), MarkKind::SignedIn, None));
        let json = serde_json::to_value(&history).unwrap();
        assert_eq!(json[0]["what"], "refresh_failed");
        assert_eq!(json[0]["detail"], "provider_unavailable");
        assert!(json[1].get("detail").is_none());
        assert!(json[1].get("count").is_none(), "a count of one is left out");
        assert_eq!(serde_json::from_value::<History>(json).unwrap(), history);
    }

    #[test]
    fn an_old_history_that_says_timer_and_wake_reads_with_the_triggers_names() {
        let old = serde_json::json!([
            { "at": "2027-01-15T08:00:00Z", "what": "checked", "detail": "timer" },
            { "at": "2027-01-15T08:01:00Z", "what": "checked", "detail": "wake", "count": 3 },
            { "at": "2027-01-15T08:02:00Z", "what": "handed_out", "detail": "timer" },
        ]);
        let history: History = serde_json::from_value(old).unwrap();
        let details: Vec<_> = history.marks().iter().map(|m| (m.what, m.detail.as_deref(), m.count)).collect();
        assert_eq!(
            details,
            vec![(MarkKind::Checked, Some("interval"), 1), (MarkKind::Checked, Some("resume"), 3), (MarkKind::HandedOut, Some("timer"), 1),],
            "a program named timer stays named so"
        );
    }

    #[test]
    fn the_names_are_the_serialized_ones() {
        use crate::session::state::{EndReason, KeychainCopy, Phase, Trigger};
        for kind in [
            MarkKind::SignedIn,
            MarkKind::Refreshed,
            MarkKind::RefreshFailed,
            MarkKind::Checked,
            MarkKind::Expired,
            MarkKind::SignedOut,
            MarkKind::HandedOut,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for phase in [Phase::SignedOut, Phase::SigningIn, Phase::Active, Phase::Refreshing, Phase::Expiring, Phase::Expired] {
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.as_str());
        }
        for reason in [EndReason::Lifetime, EndReason::RefreshTokenExpires, EndReason::NoRefreshToken, EndReason::RefreshFailing] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        for trigger in [Trigger::Interval, Trigger::Focus, Trigger::Resume] {
            assert_eq!(serde_json::to_value(trigger).unwrap(), trigger.as_str());
        }
        assert_eq!(serde_json::to_value(Trigger::Manual { force: true }).unwrap()["manual"]["force"], true);
        assert_eq!(Trigger::Manual { force: false }.as_str(), "manual");
        let unsaved = KeychainCopy::Unsaved { retry_at: at(0) };
        assert_eq!([KeychainCopy::Saved.as_str(), unsaved.as_str(), KeychainCopy::Saving.as_str()], ["saved", "unsaved", "saving"]);
    }
}
