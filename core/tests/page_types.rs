//! The page's payload types (ui/types.js, JSDoc typedefs that `tsc` checks the page against) pinned
//! against the Rust structs they are serialized from: a snapshot with every field filled is
//! serialized, and the JSON keys of it and of what it holds (`Who`, `UserProfile`, `ErrorInfo`,
//! `Mark`) must be exactly the `@property` names of the matching typedefs, in both directions. The
//! string unions (`Shown`, `EndReason`, `MarkKind`, `Network`) must list exactly the names serde writes, and
//! the timeline's table of words (ui/words.js) must have words for every error kind.
//!
//! Only the crate's public API is used: the session machine's inside may change freely.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use session_core::{
    EndReason, Error, ErrorKind, History, MarkKind, Phase, Policy, ProviderConfig, SessionName, SessionRecord, SessionSnapshot,
    SessionState, Shown, Silent, SilentOutcome, TokenTimes, UserProfile,
};

const TYPES: &str = include_str!("../../ui/types.js");
const WORDS: &str = include_str!("../../ui/words.js");

fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(minutes)
}

/// A session signed in with every optional field filled: user, tokens with both expiries, a last
/// error and a history whose mark has a detail and a count.
fn full_state() -> SessionState {
    let user = json!({ "subject": "248289761001", "name": "Alice Example", "email": "alice@example.test", "preferredUsername": "alice" });
    let tokens =
        json!({ "accessTokenExpiresAt": at(60), "refreshTokenExpiresAt": at(600), "hasRefreshToken": true, "refreshTokenOnline": true });
    let history = json!([{ "at": at(20), "what": "refresh_failed", "detail": "provider_unavailable", "count": 2 }]);
    SessionState {
        phase: Phase::Active,
        user: Some(serde_json::from_value::<UserProfile>(user).unwrap()),
        tokens: Some(serde_json::from_value::<TokenTimes>(tokens).unwrap()),
        signed_in_at: Some(at(0)),
        session_expires_at: Some(at(7 * 24 * 60)),
        session_extended_at: Some(at(30)),
        last_refresh_at: Some(at(30)),
        last_validated_at: Some(at(30)),
        last_error: Some(Error::unavailable("https://id.example.test/token", "HTTP 503", None).info()),
        history: serde_json::from_value::<History>(history).unwrap(),
        silent: serde_json::from_value::<Silent>(
            json!({ "enabled": true, "last": { "at": at(25), "outcome": "refused", "message": "m" } }),
        )
        .unwrap(),
        ..SessionState::default()
    }
}

fn snapshot(state: SessionState) -> Value {
    let record = SessionRecord {
        id: SessionName::new("work").unwrap(),
        provider: ProviderConfig::new("https://id.example.test", "session-keeper"),
        state,
    };
    serde_json::to_value(SessionSnapshot::of(&record, &Policy::default())).unwrap()
}

/// The `@property` names of `@typedef {Object} <name>` in ui/types.js (`[name]` is an optional one).
fn properties(typedef: &str) -> BTreeSet<String> {
    let head = format!("@typedef {{Object}} {typedef}\n");
    let start = TYPES.find(&head).unwrap_or_else(|| panic!("ui/types.js has no `@typedef {{Object}} {typedef}`"));
    let block = &TYPES[start..];
    let block = &block[..block.find("*/").expect("the typedef's comment ends")];
    block
        .lines()
        .filter_map(|line| line.split_once("@property").map(|(_, rest)| rest.trim()))
        .map(|rest| {
            // Skip the `{type}`, whose braces may nest (`{{ a: string }}`), then take the name.
            let mut depth = 0;
            let after = rest
                .char_indices()
                .find_map(|(i, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    (depth == 0).then_some(i + 1)
                })
                .unwrap_or_else(|| panic!("an @property of {typedef} has no type: {rest}"));
            let name = rest[after..].split_whitespace().next().unwrap_or_else(|| panic!("an @property of {typedef} has no name: {rest}"));
            name.trim_start_matches('[').trim_end_matches(']').split('=').next().unwrap().to_owned()
        })
        .collect()
}

/// The quoted names of `@typedef {"a" | "b"} <name>` in ui/types.js.
fn union(typedef: &str) -> BTreeSet<String> {
    let tail = format!("}} {typedef}\n");
    let end = TYPES.find(&tail).unwrap_or_else(|| panic!("ui/types.js has no union typedef {typedef}"));
    let start = TYPES[..end].rfind("@typedef {").expect("the union's @typedef") + "@typedef {".len();
    TYPES[start..end].split('|').map(|name| name.trim().trim_matches('"').to_owned()).collect()
}

fn keys(value: &Value, what: &str) -> BTreeSet<String> {
    value.as_object().unwrap_or_else(|| panic!("{what} is not a JSON object: {value}")).keys().cloned().collect()
}

/// The same names on both sides, or a message naming what the page's type lacks or has too many of.
fn assert_same(typedef: &str, rust: &str, page: BTreeSet<String>, serialized: BTreeSet<String>) {
    let missing: Vec<_> = serialized.difference(&page).collect();
    let extra: Vec<_> = page.difference(&serialized).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "ui/types.js `{typedef}` and Rust's `{rust}` differ: missing from the typedef {missing:?}, in the typedef but not serialized {extra:?}"
    );
}

/// Every value is there: an Option left `None` would hide the keys of what it holds.
fn assert_no_nulls(value: &Value, path: &str) {
    match value {
        Value::Null => panic!("{path} is null: fill it in full_state() so its type is checked too"),
        Value::Object(map) => map.iter().for_each(|(key, inner)| assert_no_nulls(inner, &format!("{path}.{key}"))),
        Value::Array(items) => {
            assert!(!items.is_empty(), "{path} is empty: fill it in full_state() so its items' type is checked too");
            items.iter().enumerate().for_each(|(i, inner)| assert_no_nulls(inner, &format!("{path}[{i}]")));
        }
        _ => {}
    }
}

#[test]
fn the_page_types_name_every_field_the_snapshot_sends_and_no_other() {
    let json = snapshot(full_state());
    assert_no_nulls(&json, "snapshot");
    assert_same("SessionSnapshot", "SessionSnapshot", properties("SessionSnapshot"), keys(&json, "the snapshot"));
    assert_eq!(json["refreshTokenOnline"], true, "a signed-in session with an online refresh token says so");
    assert_same("Who", "Who", properties("Who"), keys(&json["who"], "who"));
    assert_same("UserProfile", "UserProfile", properties("UserProfile"), keys(&json["user"], "user"));
    assert_same("ErrorInfo", "ErrorInfo", properties("ErrorInfo"), keys(&json["lastError"], "lastError"));
    assert_same("Mark", "Mark", properties("Mark"), keys(&json["history"][0], "a mark"));
    assert_same("SilentSignIn", "SilentSnapshot", properties("SilentSignIn"), keys(&json["silent"], "silent"));
    assert_same("SilentAttempt", "SilentAttempt", properties("SilentAttempt"), keys(&json["silent"]["last"], "silent.last"));
}

#[test]
fn the_page_types_list_exactly_the_names_serde_writes() {
    let name = |value: Value| value.as_str().unwrap().to_owned();
    // The matches stop compiling when a variant is added: the page's union must follow.
    let shown = [Shown::SignedOut, Shown::SigningIn, Shown::SignedIn, Shown::Expired].map(|s| match s {
        Shown::SignedOut | Shown::SigningIn | Shown::SignedIn | Shown::Expired => name(serde_json::to_value(s).unwrap()),
    });
    assert_same("Shown", "Shown", union("Shown"), shown.into());
    let reasons =
        [EndReason::Lifetime, EndReason::RefreshTokenExpires, EndReason::NoRefreshToken, EndReason::RefreshFailing].map(|r| match r {
            EndReason::Lifetime | EndReason::RefreshTokenExpires | EndReason::NoRefreshToken | EndReason::RefreshFailing => {
                name(serde_json::to_value(r).unwrap())
            }
        });
    assert_same("EndReason", "EndReason", union("EndReason"), reasons.into());
    let marks = [
        MarkKind::SignedIn,
        MarkKind::Refreshed,
        MarkKind::RefreshFailed,
        MarkKind::Checked,
        MarkKind::Expired,
        MarkKind::SignedOut,
        MarkKind::HandedOut,
        MarkKind::SilentSignIn,
    ]
    .map(|m| match m {
        MarkKind::SignedIn
        | MarkKind::Refreshed
        | MarkKind::RefreshFailed
        | MarkKind::Checked
        | MarkKind::Expired
        | MarkKind::SignedOut
        | MarkKind::HandedOut
        | MarkKind::SilentSignIn => name(serde_json::to_value(m).unwrap()),
    });
    assert_same("MarkKind", "MarkKind", union("MarkKind"), marks.into());
    let outcomes = [SilentOutcome::Renewed, SilentOutcome::NeedsSignIn, SilentOutcome::Refused, SilentOutcome::Failed].map(|o| match o {
        SilentOutcome::Renewed | SilentOutcome::NeedsSignIn | SilentOutcome::Refused | SilentOutcome::Failed => {
            name(serde_json::to_value(o).unwrap())
        }
    });
    assert_same("SilentOutcome", "SilentOutcome", union("SilentOutcome"), outcomes.into());
}

#[test]
fn the_snapshot_says_each_network_the_page_knows() {
    // Each name of the page's Network union is one the core reads and the snapshot says back; and the
    // states NetworkManager can be in (online, none or limited, portal) are all of them.
    let mut seen = BTreeSet::new();
    for name in union("Network") {
        let mut state = full_state();
        state.network = serde_json::from_value(json!(name)).unwrap_or_else(|_| panic!("the core has no network {name:?}"));
        let said = snapshot(state)["network"].as_str().unwrap().to_owned();
        assert_eq!(said, name);
        seen.insert(said);
    }
    assert_same("Network", "Network", seen, ["online", "offline", "portal"].map(String::from).into());
}

#[test]
fn the_snapshot_says_each_shown_state_the_page_knows() {
    // What the page's Shown union lists is what snapshots say, state by state.
    let mut seen = BTreeSet::new();
    for phase in [Phase::SignedOut, Phase::SigningIn, Phase::Active, Phase::Expired] {
        let mut state = full_state();
        state.phase = phase;
        seen.insert(snapshot(state)["shown"].as_str().unwrap().to_owned());
    }
    assert_same("Shown", "SessionSnapshot::shown", union("Shown"), seen);
}

#[test]
fn an_online_refresh_token_is_said_only_while_signed_in_and_old_session_files_load_without_it() {
    let mut state = full_state();
    state.phase = Phase::Expired;
    assert_eq!(snapshot(state)["refreshTokenOnline"], false, "an ended session holds no refresh token to speak of");
    let old = json!({ "accessTokenExpiresAt": at(60), "refreshTokenExpiresAt": null, "hasRefreshToken": true });
    let tokens = serde_json::from_value::<TokenTimes>(old).unwrap();
    assert!(!tokens.refresh_token_online, "a session file from before the field loads as offline");
    let state = SessionState { tokens: Some(tokens), ..full_state() };
    assert_eq!(snapshot(state)["refreshTokenOnline"], false);
}

#[test]
fn the_timeline_has_words_for_every_error_kind() {
    let start = WORDS.find("export const ERROR_WORDS = Object.freeze({").expect("ui/words.js has ERROR_WORDS");
    let table = &WORDS[start..];
    let table = &table[..table.find("});").expect("ERROR_WORDS ends")];
    let worded: BTreeSet<&str> = table.lines().skip(1).filter_map(|line| line.trim().split_once(':').map(|(kind, _)| kind)).collect();
    let missing: Vec<_> = ErrorKind::ALL.iter().map(|kind| kind.as_str()).filter(|kind| !worded.contains(kind)).collect();
    assert!(missing.is_empty(), "ui/words.js ERROR_WORDS has no words for {missing:?}: the timeline would say \"another problem\"");
}
