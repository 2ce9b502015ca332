use std::collections::BTreeSet;

use chrono::{TimeDelta, Utc};
use serde_json::json;
use session_core::{Phase, Policy, ProviderConfig, SessionName, SessionRecord, SessionSnapshot, SessionState, TokenTimes};

use super::*;

/// A signed-in session whose last sign-in and refresh were at `signed_in` and `refreshed`, with the
/// vault's refusal on its card when `refused`.
fn session(name: &str, signed_in: DateTime<Utc>, refreshed: Option<DateTime<Utc>>, refused: bool) -> SessionSnapshot {
    let tokens = json!({ "accessTokenExpiresAt": signed_in + TimeDelta::hours(1), "refreshTokenExpiresAt": null, "hasRefreshToken": true });
    let state = SessionState {
        phase: Phase::Active,
        tokens: Some(serde_json::from_value::<TokenTimes>(tokens).unwrap()),
        signed_in_at: Some(signed_in),
        last_refresh_at: refreshed,
        last_error: refused.then(|| session_core::Error::KeychainLocked.info()),
        ..SessionState::default()
    };
    let record = SessionRecord {
        id: SessionName::new(name).unwrap(),
        provider: ProviderConfig::new("https://id.example.test", "session-keeper"),
        state,
    };
    SessionSnapshot::of(&record, &Policy::default())
}

#[test]
fn only_tokens_that_came_in_this_run_and_the_vault_refused_are_memory_only() {
    let started = Utc::now();
    let (before, after) = (started - TimeDelta::hours(2), started + TimeDelta::minutes(1));
    let sessions = [
        // Signed in since the start, the vault refused: only memory holds the tokens.
        session("new", after, None, true),
        // Restored, refreshed since the start, the keychain then refused the rotated tokens.
        session("rotated", before, Some(after), true),
        // Restored from a locked sealed vault: its refresh found no key; the tokens wait in the file.
        session("waiting", before, Some(before), true),
        // Signed in since the start and saved.
        session("saved", after, None, false),
    ];
    assert!(sessions.iter().all(|s| s.signed_in), "every test session is signed in");
    assert_eq!(memory_only(&sessions, started), ["new", "rotated"]);
    let mut signed_out = session("gone", after, None, true);
    signed_out.signed_in = false;
    assert!(memory_only(&[signed_out], started).is_empty(), "a session without tokens has nothing to lose");
}

#[test]
fn the_passphrase_is_asked_for_a_locked_file_or_when_there_is_no_keychain() {
    // (keychain, sealed file, unlocked) -> asked
    let cases = [
        ((true, false, false), false),
        ((true, true, false), true),
        ((false, false, false), true),
        ((false, true, false), true),
        ((false, true, true), false),
        ((true, true, true), false),
    ];
    for ((keychain, file, unlocked), asked) in cases {
        assert_eq!(passphrase_needed(keychain, file, unlocked), asked, "keychain {keychain}, file {file}, unlocked {unlocked}");
    }
}

#[test]
fn the_vault_in_use_is_the_sealed_one_only_while_it_is_at_hand() {
    use VaultInUse::{Keychain, MemoryOnly, Sealed};
    // (keychain there, sealed file there and unlocked, the core's last call) -> said; after a move to
    // the keychain the file is gone, whatever the last call used.
    let cases = [
        ((true, false, Keychain), Keychain),
        ((true, true, Sealed), Sealed),
        ((true, false, Sealed), Keychain),
        ((true, true, Keychain), Keychain),
        ((false, true, Keychain), Sealed),
        ((false, true, MemoryOnly), Sealed),
        ((false, false, Keychain), MemoryOnly),
        ((false, false, Sealed), MemoryOnly),
    ];
    for ((keychain, sealed, last), said) in cases {
        assert_eq!(in_use(keychain, sealed, last), said, "keychain {keychain}, sealed {sealed}, last {last:?}");
    }
}

#[test]
fn a_quit_asks_first_only_when_tokens_only_memory_holds_have_nowhere_to_go() {
    let state = |unlocked: bool, memory_only: &[&str]| VaultState {
        in_use: VaultInUse::MemoryOnly,
        keychain: false,
        sealed_file: unlocked,
        unlocked,
        passphrase_needed: !unlocked,
        memory_only: memory_only.iter().map(|s| (*s).to_owned()).collect(),
        notice: None,
    };
    assert!(asks_before_quit(&state(false, &["work"]), false), "locked, tokens in memory only: ask");
    assert!(!asks_before_quit(&state(false, &["work"]), true), "the person said quit anyway");
    assert!(!asks_before_quit(&state(true, &["work"]), false), "the sealed vault takes them at the quit");
    assert!(!asks_before_quit(&state(false, &[]), false), "nothing to lose");
}

#[test]
fn the_move_is_said_in_words() {
    assert!(moved_notice(1).contains("(1 item)"), "{}", moved_notice(1));
    let three = moved_notice(3);
    assert!(three.contains("(3 items)") && three.contains("sealed vault's file was removed"), "{three}");
}

/// ui/types.js's `VaultState` names exactly the keys the shell sends, and `VaultInUse` exactly the
/// names the core's enum serializes to.
#[test]
fn the_page_types_name_every_field_of_the_vault_state() {
    const TYPES: &str = include_str!("../../../ui/types.js");
    let head = "@typedef {Object} VaultState\n";
    let block = &TYPES[TYPES.find(head).expect("ui/types.js has a VaultState typedef")..];
    let block = &block[..block.find("*/").unwrap()];
    let page: BTreeSet<String> = block
        .lines()
        .filter_map(|line| line.split_once("@property").map(|(_, rest)| rest.trim()))
        .filter_map(|rest| rest.split_once("} ").map(|(_, after)| after.split_whitespace().next().unwrap().to_owned()))
        .collect();
    let state = VaultState {
        in_use: VaultInUse::Sealed,
        keychain: false,
        sealed_file: true,
        unlocked: true,
        passphrase_needed: false,
        memory_only: vec!["work".into()],
        notice: Some("moved".into()),
    };
    let sent: BTreeSet<String> = serde_json::to_value(&state).unwrap().as_object().unwrap().keys().cloned().collect();
    assert_eq!(page, sent, "ui/types.js VaultState and the shell's VaultState differ");

    let union_end = TYPES.find("} VaultInUse\n").expect("ui/types.js has a VaultInUse union");
    let union_start = TYPES[..union_end].rfind("@typedef {").unwrap() + "@typedef {".len();
    let page: BTreeSet<String> = TYPES[union_start..union_end].split('|').map(|n| n.trim().trim_matches('"').to_owned()).collect();
    let sent: BTreeSet<String> = [VaultInUse::Keychain, VaultInUse::Sealed, VaultInUse::MemoryOnly]
        .map(|kind| match kind {
            VaultInUse::Keychain | VaultInUse::Sealed | VaultInUse::MemoryOnly => {
                serde_json::to_value(kind).unwrap().as_str().unwrap().to_owned()
            }
        })
        .into();
    assert_eq!(page, sent, "ui/types.js VaultInUse and the core's VaultInUse differ");
}
