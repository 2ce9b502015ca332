use super::*;

#[test]
fn serializes_as_kind_and_message() {
    let json = serde_json::to_value(Error::NotSignedIn("work".into())).unwrap();
    assert_eq!(json["kind"], "not_signed_in");
    assert_eq!(json["message"], "Session \"work\" is not signed in: sign in first.");
}

#[test]
fn only_outages_and_keychain_trouble_are_transient() {
    let outage = Error::unavailable("x", "HTTP 503", None);
    assert!(outage.is_transient());
    assert!(!Error::revoked(Some("invalid_grant".into())).is_transient());
    assert!(Error::VaultLocked.is_transient(), "the tokens wait in memory until the passphrase is entered");
    assert!(!Error::WrongPassphrase.is_transient());
}

/// A locked sealed vault is the keychain's kind of trouble (the tokens wait in memory and the
/// machine retries), and says what to do; a wrong passphrase is not.
#[test]
fn a_locked_sealed_vault_keeps_tokens_in_memory_and_says_where_to_unlock_it() {
    assert!(ErrorKind::VaultLocked.is_keychain());
    assert!(!ErrorKind::WrongPassphrase.is_keychain());
    assert_eq!(
        Error::VaultLocked.to_string(),
        "Enter the passphrase of the sealed vault in Session Keeper's window: the tokens are in memory only until then."
    );
    assert!(Error::WrongPassphrase.to_string().contains("nothing was changed"));
}

/// The README's table of messages has a row for every kind (the shell's own kinds are listed there
/// too): a kind added to the one list in `kind.rs` is in `ErrorKind::ALL`, and the README must follow.
#[test]
fn every_kind_is_in_the_readme_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    for kind in ErrorKind::ALL {
        let name = kind.as_str();
        assert!(readme.contains(&format!("\n| `{name}` | ")), "README's message table has no row for `{name}`");
    }
}

/// `as_str` is the serialized name, for every kind, both ways: a name cannot drift from serde's.
#[test]
fn every_kind_names_itself_as_serde_does() {
    for &kind in ErrorKind::ALL {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str(), "the serialized name of {kind:?}");
        assert_eq!(serde_json::from_value::<ErrorKind>(kind.as_str().into()).unwrap(), kind, "{kind:?} read back");
        assert_eq!(kind.to_string(), kind.as_str());
    }
}

/// `ALL` holds each kind once; `Error::kind` and the README table rely on it being complete, which the
/// macro guarantees by building the enum and the list from the same tokens.
#[test]
fn all_lists_each_kind_once() {
    let distinct: std::collections::HashSet<_> = ErrorKind::ALL.iter().collect();
    assert_eq!(distinct.len(), ErrorKind::ALL.len());
    assert_eq!(ErrorKind::ALL.len(), 29, "a kind was added or removed: the README's table and the shell's follow");
    assert_eq!(ErrorKind::ALL[0].as_str(), "invalid_configuration");
    assert_eq!(ErrorKind::SessionRevoked.as_str(), "session_revoked");
}

/// No message a user reads carries a library's words: the causes are sources, for logs.
#[test]
fn library_words_stay_out_of_messages() {
    let io = std::io::Error::from(std::io::ErrorKind::StorageFull);
    let full = Error::StorageFailed {
        path: "p".into(),
        detail: "the disk is full".into(),
        advice: "Free some disk space and try again.",
        source: Some(Cause(io.to_string())),
    };
    assert_eq!(full.to_string(), "Session Keeper could not use p: the disk is full. Free some disk space and try again.");
    assert_eq!(full.chain(), io.to_string());
    let refused = Error::misbehaved(
        "https://id.example/token",
        "it refused to refresh the session for this client",
        ADVICE_CLIENT,
        Some("invalid_client: bad secret".into()),
    );
    assert!(!refused.to_string().contains("bad secret"), "{refused}");
    assert_eq!(refused.chain(), "invalid_client: bad secret");
}

/// The texts a user reads most often, pinned: one layer of message, the cause kept as a source,
/// and the same text after a trip through a session's recorded error.
#[test]
fn the_commonest_messages_read_exactly_so() {
    use std::error::Error as _;
    let revoked = Error::revoked(Some("invalid_grant: grant request is invalid".into()));
    assert_eq!(revoked.to_string(), "The provider no longer accepts this session: sign in again.");
    assert_eq!(revoked.source().unwrap().to_string(), "invalid_grant: grant request is invalid");
    let outage = Error::unavailable(
        "http://127.0.0.1:9/token",
        "connection refused",
        Some("tcp connect error: Connection refused (os error 111)".into()),
    );
    assert_eq!(
        outage.to_string(),
        "The provider at http://127.0.0.1:9/token could not be reached (connection refused). Check the network and try again."
    );
    assert_eq!(
        Error::KeychainLocked.to_string(),
        "The keychain is locked: unlock it (for example by signing in to the desktop, or in KeePassXC by opening its database) and try again."
    );
    for error in [revoked, outage, Error::KeychainLocked] {
        let again = Error::from(error.info());
        assert_eq!((again.kind(), again.to_string()), (error.kind(), error.to_string()), "wrapped twice");
    }
}

/// `ErrorInfo::new` is the struct literal, and a recorded error given back to a caller reads as it was
/// recorded: the message unchanged, the kind kept.
#[test]
fn a_recorded_error_reads_as_it_was_recorded() {
    let info = ErrorInfo::new(ErrorKind::ProviderUnavailable, "The provider answered 503.");
    let read: ErrorInfo =
        serde_json::from_value(serde_json::json!({ "kind": "provider_unavailable", "message": "The provider answered 503." })).unwrap();
    assert_eq!(info, read);
    assert_eq!(info.to_string(), "The provider answered 503.");
    let error = Error::from(info.clone());
    assert_eq!((error.kind(), error.to_string()), (info.kind, info.message.clone()));
    assert_eq!(serde_json::to_value(&error).unwrap(), serde_json::to_value(&info).unwrap());
}

/// Every error keeps its typed cause across a session's record: `Error::from(error.info())` has the
/// same kind, message, `source()` text and chain, for each constructor that carries a cause, and again
/// after a second trip.
#[test]
fn errors_keep_their_cause_across_the_round_trip() {
    use std::error::Error as _;
    let io = std::io::Error::from(std::io::ErrorKind::StorageFull);
    let with_causes = [
        Error::revoked(Some("invalid_grant: grant request is invalid".into())),
        Error::unavailable("http://127.0.0.1:9/token", "connection refused", Some("tcp connect error (os error 111)".into())),
        Error::keychain_unavailable("it did not answer within 5 s", Some("D-Bus: NoReply".into())),
        Error::keychain_failed("the keychain refused the write", Some("PlatformFailure".into())),
        Error::misbehaved("https://id.example/token", "it refused this client", ADVICE_CLIENT, Some("invalid_client".into())),
        Error::invalid_id_token("its signature does not match the provider's keys", Some("InvalidSignature".into())),
        Error::StorageFailed {
            path: "p".into(),
            detail: "the disk is full".into(),
            advice: "Free some space.",
            source: Some(Cause(io.to_string())),
        },
        Error::BrowserUnavailable(Cause("xdg-open: not found".into())),
    ];
    for error in with_causes {
        let source = error.source().map(|s| s.to_string());
        assert!(source.is_some(), "{error:?} has a cause to keep");
        let once = Error::from(error.info());
        let twice = Error::from(once.info());
        for again in [&once, &twice] {
            assert_eq!(again.kind(), error.kind());
            assert_eq!(again.to_string(), error.to_string(), "wrapped twice");
            assert_eq!(again.source().map(|s| s.to_string()), source, "the cause of {error:?}");
            assert_eq!(again.chain(), error.chain());
        }
        assert_eq!(error.info().cause().map(|c| c.0.as_str()), source.as_deref());
    }
    let without = Error::from(Error::KeychainLocked.info());
    assert!(without.source().is_none(), "no cause is made up");
    assert!(Error::from(ErrorInfo::new(ErrorKind::Shutdown, "stopped")).source().is_none());
}

/// The cause is for logs only: it is never serialized (the page and the store see kind and message),
/// a recorded error read back has none, and it takes no part in equality, so a state read from the
/// store equals the one that was saved.
#[test]
fn the_cause_is_never_serialized_and_not_compared() {
    let info = Error::revoked(Some("invalid_grant: the secret words".into())).info();
    assert!(info.cause().is_some());
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json.as_object().unwrap().keys().collect::<Vec<_>>(), ["kind", "message"]);
    assert!(!json.to_string().contains("secret words"), "{json}");
    let serialized_error = serde_json::to_string(&Error::from(info.clone())).unwrap();
    assert!(!serialized_error.contains("secret words"), "{serialized_error}");
    let read: ErrorInfo = serde_json::from_value(json).unwrap();
    assert!(read.cause().is_none());
    assert_eq!(read, info);
    let hash = |info: &ErrorInfo| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        info.hash(&mut hasher);
        hasher.finish()
    };
    assert_eq!(hash(&read), hash(&info));
    assert_eq!(ErrorInfo::new(ErrorKind::SessionRevoked, info.message.clone()).with_cause("other words"), info);
}
