use super::*;
use chrono::TimeDelta;
use session_core::{ErrorInfo, ErrorKind, Phase, Policy};

/// The core's one failure threshold (`policy.refresh.attention_after_failures`).
fn threshold() -> u32 {
    Policy::default().refresh.attention_after_failures
}

/// A fixture with the words the core derives from its phase and failures, as `SessionSnapshot::of`
/// does: the book reads only those.
fn words(mut session: SessionSnapshot) -> SessionSnapshot {
    session.shown = match session.phase {
        Phase::SigningIn => Shown::SigningIn,
        Phase::Expired => Shown::Expired,
        _ if session.signed_in => Shown::SignedIn,
        _ => Shown::SignedOut,
    };
    session.refreshing = session.phase == Phase::Refreshing;
    session.ending_soon = session.phase == Phase::Expiring;
    session.failing = session.signed_in && session.consecutive_failures >= threshold();
    session.needs_attention = session.failing || matches!(session.shown, Shown::SignedOut | Shown::Expired);
    session
}

/// A fixed instant: what the tests assert does not depend on when they run.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// A session without refresh token in `phase`, with what the core would say of its end.
fn session(phase: Phase) -> SessionSnapshot {
    let now = now();
    let signed_in = matches!(phase, Phase::Active | Phase::Refreshing | Phase::Expiring);
    words(SessionSnapshot {
        id: session_core::SessionName::new("work").unwrap(),
        provider_name: "Example ID".into(),
        issuer: "https://id.example.com".into(),
        sign_in_with: Default::default(),
        user: None,
        who: None,
        phase,
        shown: Shown::SignedOut,
        refreshing: false,
        ending_soon: false,
        failing: false,
        network: Default::default(),
        needs_attention: false,
        signed_in,
        ends_at: signed_in.then(|| now + TimeDelta::seconds(150)),
        end_reason: signed_in.then_some(EndReason::NoRefreshToken),
        can_extend: false,
        access_token_expires_at: Some(now + TimeDelta::seconds(150)),
        refresh_token_expires_at: None,
        session_expires_at: Some(now + TimeDelta::days(7)),
        signed_in_at: DateTime::from_timestamp(1_700_000_000, 0),
        last_refresh_at: None,
        next_refresh_at: None,
        has_refresh_token: false,
        refresh_token_online: false,
        consecutive_failures: 0,
        last_error: None,
        history: Vec::new(),
        silent: session_core::SilentSnapshot { enabled: true, possible: false, attempting: false, last: None },
        sign_in_again_soon: false,
    })
}

/// A signed-in session with a refresh token that the app renews by itself (`silent.possible`).
fn renewed_by_itself(phase: Phase) -> SessionSnapshot {
    let mut session = session(phase);
    session.has_refresh_token = true;
    session.end_reason = session.signed_in.then_some(EndReason::RefreshTokenExpires);
    session.silent.possible = true;
    session
}

#[test]
fn a_session_the_app_renews_by_itself_raises_nothing_as_it_nears_its_end_or_is_renewed() {
    let mut book = NoticeBook::default();
    assert!(book.observe(&renewed_by_itself(Phase::Active)).is_empty());
    assert!(book.observe(&renewed_by_itself(Phase::Expiring)).is_empty(), "its end is not news: it will be renewed");
    let mut attempting = renewed_by_itself(Phase::Refreshing);
    attempting.silent.attempting = true;
    assert!(book.observe(&attempting).is_empty());
    // Renewed: a new sign-in time, settled again.
    let mut renewed = renewed_by_itself(Phase::Active);
    renewed.signed_in_at = renewed.signed_in_at.map(|at| at + TimeDelta::hours(1));
    renewed.silent.last = Some(session_core::SilentAttempt { at: now(), outcome: session_core::SilentOutcome::Renewed, message: None });
    assert!(book.observe(&renewed).is_empty());
    assert!(book.observe(&renewed_by_itself(Phase::Expiring)).is_empty());
}

#[test]
fn a_session_nothing_renews_is_told_once_to_sign_in_again_now_with_the_action_and_not_again_at_its_end() {
    let mut book = NoticeBook::default();
    let mut soon = session(Phase::Active);
    soon.has_refresh_token = true;
    soon.sign_in_with = session_core::SignInWith::SystemBrowser;
    soon.ends_at = Some(now() + TimeDelta::days(1));
    soon.end_reason = Some(EndReason::RefreshTokenExpires);
    soon.sign_in_again_soon = true;
    let notices = book.observe(&soon);
    assert!(matches!(&notices[..], [Notice::SignInAgainSoon { .. }]), "{notices:?}");
    assert!(notices[0].offers_sign_in(), "the notification carries Sign in again");
    let (title, body) = notices[0].text(now());
    assert_eq!(title, "Session “work” ends in 1 d 0 h: sign in again now");
    assert_eq!(body, "Example ID: You signed in through your web browser, whose sign-in Session Keeper cannot reuse.");
    assert!(book.observe(&soon).is_empty(), "said once");
    // Its end comes: the person was asked already, once is enough.
    let mut expiring = soon.clone();
    expiring.phase = Phase::Expiring;
    let expiring = words(expiring);
    assert!(book.observe(&expiring).is_empty(), "no second prompt minutes before the end");
    let mut expired = session(Phase::Expired);
    expired.sign_in_with = session_core::SignInWith::SystemBrowser;
    assert!(book.observe(&expired).is_empty(), "no second prompt at the end");
    // Silent sign-in turned off, in the embedded window: the words say so.
    let mut off = soon.clone();
    off.sign_in_with = session_core::SignInWith::EmbeddedWindow;
    off.silent.enabled = false;
    off.signed_in_at = off.signed_in_at.map(|at| at + TimeDelta::hours(2));
    let notices = book.observe(&off);
    assert_eq!(notices.len(), 1, "a new sign-in, a new story");
    assert!(notices[0].text(now()).1.ends_with("Signing in again by itself is off for this session."));
}

#[test]
fn the_end_after_the_provider_asked_for_a_sign_in_raises_exactly_one_notice() {
    let mut book = NoticeBook::default();
    assert!(book.observe(&renewed_by_itself(Phase::Active)).is_empty());
    let mut attempting = renewed_by_itself(Phase::Refreshing);
    attempting.silent.attempting = true;
    assert!(book.observe(&attempting).is_empty());
    // login_required: the core blocks silent sign-in (not possible any more) and ends the session.
    let mut ended = session(Phase::Expired);
    ended.last_error = Some(ErrorInfo::new(ErrorKind::SignInNeeded, "Your sign-in at Example ID has ended: sign in again."));
    ended.silent.last = Some(session_core::SilentAttempt {
        at: now(),
        outcome: session_core::SilentOutcome::NeedsSignIn,
        message: Some("Your sign-in at Example ID has ended: sign in again.".into()),
    });
    let notices = book.observe(&ended);
    assert!(matches!(&notices[..], [Notice::Expired { reason, .. }] if reason.contains("sign in again")), "{notices:?}");
    assert!(notices[0].offers_sign_in());
    for _ in 0..3 {
        assert!(book.observe(&ended).is_empty(), "exactly one: never a loop");
    }
    // If instead the core keeps the session until its end and says "sign in again soon": one notice, then none at the end.
    let mut book = NoticeBook::default();
    let mut soon = session(Phase::Active);
    soon.sign_in_again_soon = true;
    soon.ends_at = Some(now() + TimeDelta::hours(3));
    let notices = book.observe(&soon);
    assert_eq!(notices.len(), 1);
    assert_eq!(
        notices[0].text(now()),
        ("Session “work” ends in 3 h 0 min: sign in again now".into(), "Example ID: The provider asks you to sign in again.".into())
    );
    assert!(book.observe(&ended).is_empty());
}

#[test]
fn expiring_then_expired_each_once() {
    let mut book = NoticeBook::default();
    assert!(book.observe(&session(Phase::Active)).is_empty());
    let notices = book.observe(&session(Phase::Expiring));
    assert_eq!(notices.len(), 1);
    let (title, body) = notices[0].text(now());
    assert_eq!(title, "Session “work” expires in 3 minutes");
    assert!(body.contains("no refresh token"), "{body}");
    assert!(book.observe(&session(Phase::Expiring)).is_empty(), "said once");

    let mut expired = session(Phase::Expired);
    expired.last_error = Some(ErrorInfo::new(ErrorKind::SessionRevoked, "The access token expired: sign in again."));
    let notices = book.observe(&expired);
    assert!(matches!(&notices[..], [Notice::Expired { reason, .. }] if reason.contains("sign in again")));
    assert!(book.observe(&expired).is_empty(), "said once");
    // A cancelled sign-in goes back to expired: nothing new to say.
    assert!(book.observe(&session(Phase::SigningIn)).is_empty());
    assert!(book.observe(&expired).is_empty());
    // Signed in again: the next expiry is news again.
    assert!(book.observe(&session(Phase::Active)).is_empty());
    assert_eq!(book.observe(&expired).len(), 1);
}

#[test]
fn refresh_failures_are_told_once_per_run() {
    let mut book = NoticeBook::default();
    let mut failing = session(Phase::Active);
    failing.has_refresh_token = true;
    failing.last_error = Some(ErrorInfo::new(ErrorKind::ProviderUnavailable, "The provider answered 503"));
    for failures in 1..threshold() {
        failing.consecutive_failures = failures;
        failing = words(failing);
        assert!(book.observe(&failing).is_empty());
    }
    failing.consecutive_failures = threshold();
    failing = words(failing);
    let notices = book.observe(&failing);
    assert!(matches!(&notices[..], [Notice::RefreshFailing { reason, .. }] if reason == "The provider answered 503."));
    failing.consecutive_failures += 5;
    failing.phase = Phase::Refreshing;
    failing = words(failing);
    assert!(book.observe(&failing).is_empty());
    // Recovery, then a new run of failures.
    assert!(book.observe(&session(Phase::Active)).is_empty());
    failing.phase = Phase::Active;
    failing = words(failing);
    assert_eq!(book.observe(&failing).len(), 1);
}

/// The core's own snapshot of a session that failed `failures` times in a row, with the desktop
/// `network` ("online", "offline", "portal") as NetworkManager says it.
fn failed(failures: u32, network: &str) -> SessionSnapshot {
    let state = session_core::SessionState {
        phase: Phase::Active,
        failures,
        network: serde_json::from_value(serde_json::json!(network)).unwrap(),
        signed_in_at: DateTime::from_timestamp(1_700_000_000, 0),
        last_error: Some(ErrorInfo::new(ErrorKind::ProviderUnavailable, "The provider could not be reached")),
        ..Default::default()
    };
    let record = session_core::SessionRecord {
        id: session_core::SessionName::new("work").unwrap(),
        provider: session_core::ProviderConfig::new("https://id.example.com", "session-keeper"),
        state,
    };
    SessionSnapshot::of(&record, &Policy::default())
}

#[test]
fn no_failing_notice_while_offline_or_behind_a_portal_and_one_if_it_still_fails_once_online() {
    let mut book = NoticeBook::default();
    for network in ["offline", "portal"] {
        assert!(book.observe(&failed(threshold() + 2, network)).is_empty(), "a failing notice while {network}");
    }
    let notices = book.observe(&failed(threshold() + 2, "online"));
    assert!(matches!(&notices[..], [Notice::RefreshFailing { .. }]), "{notices:?}");
    assert!(book.observe(&failed(threshold() + 3, "offline")).is_empty());
    assert!(book.observe(&failed(threshold() + 3, "online")).is_empty(), "said once per run, the network's absence in between");
}

#[test]
fn the_earliest_end_and_its_reason_are_named() {
    let now = now();
    let mut ending_lifetime = session(Phase::Expiring);
    ending_lifetime.has_refresh_token = true;
    ending_lifetime.session_expires_at = Some(now + TimeDelta::seconds(61));
    ending_lifetime.ends_at = ending_lifetime.session_expires_at;
    ending_lifetime.end_reason = Some(EndReason::Lifetime);
    let notices = NoticeBook::default().observe(&ending_lifetime);
    let Notice::Expiring { ends_at, reason, .. } = &notices[0] else { panic!("{notices:?}") };
    assert_eq!(*ends_at, ending_lifetime.session_expires_at.unwrap());
    assert!(reason.starts_with("The session reaches the end of its lifetime"), "{reason}");
    assert_eq!(notices[0].text(now).0, "Session “work” expires in 2 minutes");
    assert_eq!(minutes_until(now + TimeDelta::seconds(30), now), 1);
    assert_eq!(minutes_until(now - TimeDelta::seconds(30), now), 1);
}

#[test]
fn a_new_sign_in_without_refresh_token_is_told_again() {
    // Such a session is never `active`: it goes from signing in straight to expiring.
    let mut book = NoticeBook::default();
    let first = session(Phase::Expiring);
    assert_eq!(book.observe(&first).len(), 1);
    assert_eq!(book.observe(&session(Phase::Expired)).len(), 1);
    let mut again = session(Phase::Expiring);
    again.signed_in_at = first.signed_in_at.map(|at| at + TimeDelta::seconds(30));
    assert_eq!(book.observe(&again).len(), 1, "the new sign-in's expiry is news");
    let mut expired = session(Phase::Expired);
    expired.signed_in_at = again.signed_in_at;
    assert_eq!(book.observe(&expired).len(), 1);
}

#[test]
fn seeded_sessions_are_not_announced_again() {
    let mut book = NoticeBook::default();
    let expired = session(Phase::Expired);
    book.seed([&expired]);
    assert!(book.observe(&expired).is_empty());
    book.forget("work");
    assert_eq!(book.observe(&expired).len(), 1);
}

/// A notification server that stops answering (dunst SIGSTOPped, as a hung one would be): the
/// notice gives up within [`SEND_TIMEOUT`] with a reason, and the runtime goes on meanwhile (the
/// window and tray stay live). Needs the test run's notification server
/// (`scripts/desktop-session.sh --display`); skipped without one.
#[tokio::test(flavor = "current_thread")]
async fn a_frozen_notification_server_holds_up_nothing() {
    let Ok(bus) = zbus::Connection::session().await else { return };
    let Ok(dbus) = zbus::fdo::DBusProxy::new(&bus).await else { return };
    let name = zbus::names::BusName::try_from("org.freedesktop.Notifications").unwrap();
    let Ok(pid) = dbus.get_connection_unix_process_id(name).await else {
        eprintln!("no notification server: run under scripts/desktop-session.sh --display");
        return;
    };
    struct Frozen(u32);
    impl Drop for Frozen {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill").args(["-CONT", &self.0.to_string()]).status();
        }
    }
    assert!(std::process::Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());
    let frozen = Frozen(pid);
    let notice = Notice::Expired { id: "s".into(), provider: "Test".into(), reason: "The grant was revoked.".into() };
    let started = std::time::Instant::now();
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let ticking = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let result = send(notice, || {}).await;
    let took = started.elapsed();
    drop(frozen);
    ticking.abort();
    // The server now shows the notice it was sent while frozen; later tests must not meet it.
    // A call after the notice's reaches the server after it (the bus keeps order), then all go.
    let _ = bus
        .call_method(
            Some("org.freedesktop.Notifications"),
            "/org/freedesktop/Notifications",
            Some("org.freedesktop.Notifications"),
            "GetServerInformation",
            &(),
        )
        .await;
    let closed = std::process::Command::new("dunstctl").arg("close-all").status();
    assert!(closed.is_ok_and(|status| status.success()), "dunstctl close-all");
    let problem = result.expect_err("a frozen server cannot have shown it");
    assert!(problem.contains("did not answer within 5 s"), "{problem}");
    assert!(took < SEND_TIMEOUT + Duration::from_secs(1), "{took:?}");
    // This runtime has one thread: it kept running other work while the notice waited.
    assert!(ticks.load(std::sync::atomic::Ordering::Relaxed) >= 40, "the runtime stalled");
}
