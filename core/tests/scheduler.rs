//! The scheduler's timing, on tokio's paused clock: `elapse` moves virtual time, it does not wait.
//! The provider is a scripted [`TokenAuthority`] (real sockets do not work under a paused clock); the
//! same behaviour against the real provider is in `provider.rs`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use session_core::{
    BoxFuture, Clock, EnablePeriodically, ErrorInfo, ErrorKind, Event, MemoryStore, MemoryVault, MetadataStore, Phase, Policy,
    ProviderConfig, RefreshAnswer, RefreshFailure, SecretVault, SessionManager, SessionRecord, SessionSecrets, SessionState, TestClock,
    TokenAuthority, TokenTimes, UserCheck, UserProfile, Vault, transition,
};

struct ScriptedAuthority {
    clock: TestClock,
    access_ttl: TimeDelta,
    latency: Duration,
    failures: Mutex<VecDeque<RefreshFailure>>,
    accepted_refresh_token: Mutex<Option<String>>,
    refresh_calls: AtomicUsize,
    userinfo_calls: AtomicUsize,
    userinfo_rejects: Mutex<bool>,
    /// Whom the userinfo endpoint answers for.
    userinfo_user: Mutex<UserProfile>,
}

impl ScriptedAuthority {
    fn new(clock: TestClock, access_ttl: TimeDelta) -> Arc<Self> {
        Arc::new(Self {
            clock,
            access_ttl,
            latency: Duration::from_millis(200),
            failures: Mutex::new(VecDeque::new()),
            accepted_refresh_token: Mutex::new(None),
            refresh_calls: AtomicUsize::new(0),
            userinfo_calls: AtomicUsize::new(0),
            userinfo_rejects: Mutex::new(false),
            userinfo_user: Mutex::new(alice()),
        })
    }

    /// The next refresh fails like this.
    fn then_fail(&self, failure: RefreshFailure) {
        self.failures.lock().unwrap().push_back(failure);
    }

    fn refreshes(&self) -> usize {
        self.refresh_calls.load(Ordering::SeqCst)
    }

    fn userinfo_checks(&self) -> usize {
        self.userinfo_calls.load(Ordering::SeqCst)
    }
}

impl TokenAuthority for ScriptedAuthority {
    fn refresh<'a>(&'a self, current: &'a SessionSecrets) -> BoxFuture<'a, Result<RefreshAnswer, RefreshFailure>> {
        Box::pin(async move {
            let call = self.refresh_calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(self.latency).await;
            let presented = current.refresh_token.as_ref().map(|t| t.expose_secret().to_owned());
            let accepted = self.accepted_refresh_token.lock().unwrap().clone();
            if accepted.is_some() && presented != accepted {
                return Err(revoked());
            }
            if let Some(failure) = self.failures.lock().unwrap().pop_front() {
                return Err(failure);
            }
            let now = self.clock.now();
            Ok(RefreshAnswer::new(
                SessionSecrets {
                    access_token: SecretString::from(format!("at-{call}")),
                    refresh_token: Some(SecretString::from(format!("rt-{call}"))),
                    id_token: None,
                },
                TokenTimes {
                    access_token_expires_at: Some(now + self.access_ttl),
                    refresh_token_expires_at: None,
                    has_refresh_token: true,
                    refresh_token_online: false,
                },
                None,
            ))
        })
    }

    fn user_info<'a>(&'a self, _access_token: &'a SecretString) -> BoxFuture<'a, UserCheck> {
        Box::pin(async move {
            self.userinfo_calls.fetch_add(1, Ordering::SeqCst);
            if *self.userinfo_rejects.lock().unwrap() {
                UserCheck::Rejected
            } else {
                UserCheck::Valid(self.userinfo_user.lock().unwrap().clone())
            }
        })
    }
}

fn alice() -> UserProfile {
    UserProfile { subject: "alice".into(), name: Some("Alice".into()), email: None, preferred_username: None }
}

fn transient() -> RefreshFailure {
    RefreshFailure::Transient(ErrorInfo::new(ErrorKind::ProviderUnavailable, "503"))
}

fn revoked() -> RefreshFailure {
    RefreshFailure::Revoked(ErrorInfo::new(ErrorKind::SessionRevoked, "invalid_grant"))
}

/// A refusal other than `invalid_grant` (LemonLDAP::NG's 400 `invalid_request`).
fn rejected() -> RefreshFailure {
    RefreshFailure::Rejected(ErrorInfo::new(ErrorKind::ProviderMisbehaved, "invalid_request"))
}

struct Harness {
    manager: SessionManager,
    authority: Arc<ScriptedAuthority>,
    vault: Arc<MemoryVault>,
    clock: TestClock,
    start: DateTime<Utc>,
}

/// A manager restored from storage with one active session "s" whose access token expires in
/// `access_seconds`, holding refresh token "rt-0".
async fn harness(access_seconds: i64, policy: Policy) -> Harness {
    let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let clock = TestClock::starting_at(start);
    let times = TokenTimes {
        access_token_expires_at: Some(start + TimeDelta::seconds(access_seconds)),
        refresh_token_expires_at: None,
        has_refresh_token: true,
        refresh_token_online: false,
    };
    let (state, _) =
        transition(&SessionState::signed_out(), &Event::SignedIn { times, user: alice(), warning: None, auth_time: None }, start, &policy);
    let store = Arc::new(MemoryStore::default());
    store
        .save(&[&SessionRecord {
            id: session_core::SessionName::new("s").unwrap(),
            provider: ProviderConfig::new("https://id.example.com", "client"),
            state,
        }])
        .unwrap();
    let vault = Arc::new(MemoryVault::new());
    write_tokens(&vault, "rt-0").await;
    let authority = ScriptedAuthority::new(clock.clone(), TimeDelta::seconds(600));
    let manager = SessionManager::builder()
        .vault(vault.clone())
        .store(store)
        .clock(Arc::new(clock.clone()))
        .policy(policy)
        .token_authority(authority.clone())
        .wake_interval(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    Harness { manager, authority, vault, clock, start }
}

async fn write_tokens(vault: &Arc<MemoryVault>, refresh_token: &str) {
    let secrets = SessionSecrets {
        access_token: SecretString::from("at-0"),
        refresh_token: Some(SecretString::from(refresh_token.to_owned())),
        id_token: None,
    };
    SecretVault::new(vault.clone(), Duration::from_secs(1)).save_tokens("s", &secrets).await.unwrap();
}

async fn stored_refresh_token(vault: &Arc<MemoryVault>) -> Option<String> {
    let stored = SecretVault::new(vault.clone() as Arc<dyn Vault>, Duration::from_secs(1)).load_tokens("s").await.unwrap();
    stored.and_then(|s| s.refresh_token.map(|t| t.expose_secret().to_owned()))
}

/// Moves tokio's paused clock (and with it the test clock) forward.
async fn elapse(duration: Duration) {
    tokio::time::sleep(duration).await;
}

#[tokio::test(start_paused = true)]
async fn refreshes_the_lead_time_before_the_access_token_expires() {
    let h = harness(600, Policy::default()).await;
    // The 60-s lead time, spread up to 30 s earlier so that sessions do not refresh in lockstep.
    let planned = h.manager.snapshot("s").await.unwrap().next_refresh_at.unwrap();
    assert!((h.start + TimeDelta::seconds(510)..=h.start + TimeDelta::seconds(540)).contains(&planned), "{planned}");
    elapse((planned - h.start - TimeDelta::seconds(1)).to_std().unwrap()).await;
    assert_eq!(h.authority.refreshes(), 0, "refreshed before its planned instant");
    elapse(Duration::from_secs(2)).await;
    assert_eq!(h.authority.refreshes(), 1);
    let session = h.manager.snapshot("s").await.unwrap();
    assert_eq!(session.phase, Phase::Active);
    let expected = planned + TimeDelta::milliseconds(200) + TimeDelta::seconds(600);
    let expiry = session.access_token_expires_at.unwrap();
    assert!((expiry - expected).num_milliseconds().abs() < 50, "{expiry} vs {expected}");
    assert_eq!(stored_refresh_token(&h.vault).await.as_deref(), Some("rt-1"), "rotated token written through");
}

#[tokio::test(start_paused = true)]
async fn a_hundred_concurrent_refreshes_make_one_token_request() {
    let h = harness(3600, Policy::default()).await;
    // One forced refresh goes first and is in flight before the others ask, whatever order the
    // runtime polls them in: every later caller, forced or not, must join it.
    let mut callers = tokio::task::JoinSet::new();
    let first = h.manager.clone();
    callers.spawn(async move { first.refresh("s", true).await });
    while h.manager.snapshot("s").await.unwrap().phase != Phase::Refreshing {
        tokio::task::yield_now().await;
    }
    for i in 0..99 {
        let manager = h.manager.clone();
        callers.spawn(async move { if i % 2 == 0 { manager.refresh("s", true).await } else { manager.refresh("s", false).await } });
    }
    h.manager.window_focused();
    let mut expiries = Vec::new();
    while let Some(result) = callers.join_next().await {
        expiries.push(result.unwrap().unwrap().access_token_expires_at);
    }
    assert_eq!(h.authority.refreshes(), 1, "coalescing failed");
    expiries.dedup();
    assert_eq!(expiries.len(), 1, "callers saw different results: {expiries:?}");
}

#[tokio::test(start_paused = true)]
async fn a_machine_that_slept_refreshes_on_wake_not_late() {
    let h = harness(3600, Policy::default()).await;
    elapse(Duration::from_secs(1)).await;
    // Suspend for two hours: the wall clock jumps, tokio's monotonic clock does not move.
    h.clock.jump(TimeDelta::hours(2));
    elapse(Duration::from_secs(11)).await;
    assert_eq!(h.authority.refreshes(), 1, "the refresh waited for tokio's clock instead of the wall clock");
    let session = h.manager.snapshot("s").await.unwrap();
    assert!(session.access_token_expires_at.unwrap() > h.clock.now());
}

#[tokio::test(start_paused = true)]
async fn resume_refreshes_at_once() {
    let h = harness(3600, Policy::default()).await;
    h.clock.jump(TimeDelta::hours(2));
    h.manager.resumed();
    elapse(Duration::from_millis(300)).await;
    assert_eq!(h.authority.refreshes(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_outage_keeps_the_session_and_it_recovers_with_backoff() {
    let h = harness(600, Policy::default()).await;
    for _ in 0..3 {
        h.authority.then_fail(transient());
    }
    let err = h.manager.refresh("s", true).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProviderUnavailable);
    let session = h.manager.snapshot("s").await.unwrap();
    assert_eq!((session.phase, session.consecutive_failures), (Phase::Active, 1));
    assert_eq!(stored_refresh_token(&h.vault).await.as_deref(), Some("rt-0"), "token lost in an outage");
    // Backoff 0.5-1 s, 1-2 s, 2-4 s: recovered within 8 s of virtual time, after exactly 4 attempts.
    elapse(Duration::from_secs(8)).await;
    assert_eq!(h.authority.refreshes(), 4);
    let session = h.manager.snapshot("s").await.unwrap();
    assert_eq!((session.phase, session.consecutive_failures, session.last_error), (Phase::Active, 0, None));
}

#[tokio::test(start_paused = true)]
async fn invalid_grant_first_looks_for_a_token_rotated_by_another_process() {
    let h = harness(3600, Policy::default()).await;
    // Another process refreshed meanwhile: the provider now accepts only its token.
    write_tokens(&h.vault, "rt-other").await;
    *h.authority.accepted_refresh_token.lock().unwrap() = Some("rt-other".into());
    let session = h.manager.refresh("s", true).await.unwrap();
    assert_eq!(session.phase, Phase::Active);
    assert_eq!(h.authority.refreshes(), 2, "one rejected try, one with the re-read token");
    assert_eq!(stored_refresh_token(&h.vault).await.as_deref(), Some("rt-2"));
}

#[tokio::test(start_paused = true)]
async fn invalid_grant_without_rotation_ends_the_session() {
    let h = harness(3600, Policy::default()).await;
    h.authority.then_fail(revoked());
    let err = h.manager.refresh("s", true).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionRevoked);
    assert_eq!(h.manager.snapshot("s").await.unwrap().phase, Phase::Expired);
    elapse(Duration::from_millis(100)).await;
    assert_eq!(stored_refresh_token(&h.vault).await, None, "dead tokens left in the vault");
}

#[tokio::test(start_paused = true)]
async fn periodic_checks_leave_a_fresh_token_alone_and_validate_once_per_max_age() {
    let mut policy = Policy::default();
    policy.refresh.enable_periodically = EnablePeriodically::EveryMilliseconds(1000);
    let h = harness(3600, policy).await;
    elapse(Duration::from_secs(290)).await;
    assert_eq!((h.authority.refreshes(), h.authority.userinfo_checks()), (0, 0));
    elapse(Duration::from_secs(20)).await;
    assert_eq!(h.authority.userinfo_checks(), 1, "no validation after max age");
    elapse(Duration::from_secs(200)).await;
    assert_eq!((h.authority.refreshes(), h.authority.userinfo_checks()), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn focus_checks_follow_the_setting_and_notice_a_revoked_session() {
    let mut policy = Policy::default();
    policy.refresh.validation_max_age = Duration::from_secs(1);
    let h = harness(3600, policy.clone()).await;
    elapse(Duration::from_secs(1)).await;
    h.manager.window_focused();
    elapse(Duration::from_millis(10)).await;
    assert_eq!(h.authority.userinfo_checks(), 1);

    policy.refresh.enable_on_window_focus = false;
    h.manager.set_policy(policy).unwrap();
    h.manager.window_focused();
    elapse(Duration::from_millis(10)).await;
    assert_eq!(h.authority.userinfo_checks(), 1, "focus checked with enable_on_window_focus off");

    elapse(Duration::from_secs(1)).await;
    *h.authority.userinfo_rejects.lock().unwrap() = true;
    h.authority.then_fail(revoked());
    let err = h.manager.refresh("s", false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionRevoked);
    assert_eq!(h.manager.snapshot("s").await.unwrap().phase, Phase::Expired);
}

#[tokio::test(start_paused = true)]
async fn a_keychain_outage_after_rotation_keeps_the_new_tokens_and_saves_them_later() {
    let h = harness(3600, Policy::default()).await;
    h.vault.fail_with(Some(|| session_core::Error::KeychainLocked));
    let session = h.manager.refresh("s", true).await.unwrap();
    assert_eq!(session.last_error.as_ref().map(|e| e.kind), Some(ErrorKind::KeychainLocked));
    h.vault.fail_with(None);
    elapse(Duration::from_secs(11)).await;
    assert_eq!(stored_refresh_token(&h.vault).await.as_deref(), Some("rt-1"), "rotated token never saved");
    assert_eq!(h.manager.snapshot("s").await.unwrap().last_error, None);
}

#[tokio::test(start_paused = true)]
async fn a_quit_before_the_next_tick_still_writes_the_tokens_only_memory_holds() {
    let h = harness(3600, Policy::default()).await;
    h.vault.fail_with(Some(|| session_core::Error::KeychainLocked));
    h.manager.refresh("s", true).await.unwrap();
    // The retry at the next look at the clock fails too; the one after is 10 s away.
    elapse(Duration::from_millis(10)).await;
    h.vault.fail_with(None);
    h.manager.shutdown().await;
    assert_eq!(stored_refresh_token(&h.vault).await.as_deref(), Some("rt-1"), "the quit dropped the rotated token");
}

#[tokio::test(start_paused = true)]
async fn a_quit_waits_for_the_refresh_in_flight_and_starts_no_other() {
    let h = harness(3600, Policy::default()).await;
    // The scripted provider answers 200 ms after the request.
    let refreshing = tokio::spawn({
        let manager = h.manager.clone();
        async move { manager.refresh("s", true).await }
    });
    elapse(Duration::from_millis(100)).await;
    assert_eq!(h.authority.refreshes(), 1);
    h.manager.shutdown().await;
    assert_eq!(refreshing.await.unwrap().unwrap().phase, Phase::Active, "the refresh in flight was cut off");
    assert_eq!(stored_refresh_token(&h.vault).await.as_deref(), Some("rt-1"));
    assert_eq!(h.authority.refreshes(), 1);
}

#[tokio::test(start_paused = true)]
async fn every_request_about_an_unknown_session_says_so() {
    let h = harness(3600, Policy::default()).await;
    let unknown = |err: session_core::Error| assert_eq!(err.kind(), ErrorKind::UnknownSession, "{err}");
    unknown(h.manager.provider_config("nope").await.unwrap_err());
    unknown(h.manager.refresh("nope", true).await.unwrap_err());
    unknown(h.manager.access_token("nope").await.unwrap_err());
    unknown(h.manager.sign_out("nope").await.unwrap_err());
    unknown(h.manager.cancel_sign_in("nope").await.unwrap_err());
    unknown(h.manager.remove_session("nope").await.unwrap_err());
    unknown(h.manager.snapshot("nope").await.unwrap_err());
    assert_eq!(h.manager.snapshot("s").await.unwrap().phase, Phase::Active, "the known session is untouched");
}

#[tokio::test(start_paused = true)]
async fn a_refusal_left_alone_ends_the_session_at_the_retry_after_the_longest_backoff() {
    let h = harness(3600, Policy::default()).await;
    h.authority.then_fail(rejected());
    h.authority.then_fail(rejected());
    let err = h.manager.refresh("s", true).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProviderMisbehaved);
    let session = h.manager.snapshot("s").await.unwrap();
    assert_eq!((session.phase, session.consecutive_failures), (Phase::Active, 1));
    assert_eq!(stored_refresh_token(&h.vault).await.as_deref(), Some("rt-0"), "the keychain was read, not emptied");
    // The provider answered 200 ms after the request; the retry is the longest backoff (5 min) later.
    elapse(Duration::from_secs(299)).await;
    assert_eq!((h.authority.refreshes(), h.manager.snapshot("s").await.unwrap().phase), (1, Phase::Active), "retried too soon");
    elapse(Duration::from_secs(2)).await;
    assert_eq!(h.authority.refreshes(), 2);
    let session = h.manager.snapshot("s").await.unwrap();
    assert_eq!(session.phase, Phase::Expired, "dead tokens kept on a signed-in card");
    assert_eq!(session.last_error.map(|e| e.kind), Some(ErrorKind::SessionRevoked));
    elapse(Duration::from_millis(100)).await;
    assert_eq!(stored_refresh_token(&h.vault).await, None, "dead tokens left in the vault");
    elapse(Duration::from_secs(3600)).await;
    assert_eq!(h.authority.refreshes(), 2, "an ended session is not refreshed");
}

#[tokio::test(start_paused = true)]
async fn an_answer_for_another_user_is_checked_again_at_the_usual_interval_not_every_second() {
    let mut policy = Policy::default();
    policy.refresh.enable_periodically = EnablePeriodically::EveryMilliseconds(1000);
    let h = harness(3600, policy).await;
    *h.authority.userinfo_user.lock().unwrap() =
        UserProfile { subject: "mallory".into(), name: Some("Mallory".into()), email: None, preferred_username: None };
    elapse(Duration::from_secs(310)).await;
    assert_eq!(h.authority.userinfo_checks(), 1);
    let session = h.manager.snapshot("s").await.unwrap();
    assert_eq!((session.phase, session.user.as_ref().map(|u| u.subject.as_str())), (Phase::Active, Some("alice")));
    assert_eq!(session.last_error.as_ref().map(|e| e.kind), Some(ErrorKind::ProviderMisbehaved), "the card says nothing");
    elapse(Duration::from_secs(280)).await;
    assert_eq!(h.authority.userinfo_checks(), 1, "a broken provider is asked every second");
    elapse(Duration::from_secs(20)).await;
    assert_eq!(h.authority.userinfo_checks(), 2, "not asked again after the usual interval");
    *h.authority.userinfo_user.lock().unwrap() = alice();
    elapse(Duration::from_secs(305)).await;
    assert_eq!(h.authority.userinfo_checks(), 3);
    assert_eq!(h.manager.snapshot("s").await.unwrap().last_error, None, "the right user's answer left the message");
    assert_eq!(h.authority.refreshes(), 0);
}
