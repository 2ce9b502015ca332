//! The headless demo: starts the bundled demo provider (tests/idp) on 127.0.0.1, signs the demo user
//! in through its development login pages, keeps the tokens in the keychain and prints the session's
//! countdown every second while the scheduler refreshes it ahead of expiry.
//!
//! `DEMO_SECONDS` ends it after that many seconds (default: run until Ctrl-C).

use session_keeper_testkit as support;

use std::sync::Arc;
use std::time::Duration;

use session_core::{KeyringVault, Policy, SessionEvent, SessionManager};
use support::{Idp, Ttls};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let idp = Idp::start(Ttls { access: 30, refresh: 3600 });
    println!("demo provider: {}", idp.issuer);
    let mut policy = Policy::default();
    policy.refresh.lead_time = Duration::from_secs(10);
    let manager = SessionManager::builder().vault(Arc::new(KeyringVault::new("session-keeper-demo"))).policy(policy).build().await?;
    manager.add_session("demo", idp.config(), None).await?;
    let url = manager.begin_sign_in("demo").await?;
    let redirect = idp.login(&url, "alice").await;
    let session = manager.complete_sign_in("demo", &redirect).await?;
    if let Some(user) = session.user {
        println!("signed in as {} <{}>", user.name.unwrap_or_default(), user.email.unwrap_or_default());
    }

    let mut events = manager.subscribe();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let SessionEvent::Changed { session } = event {
                println!("  event: {} is {:?}", session.id, session.phase);
            }
        }
    });
    let limit: Option<u64> = std::env::var("DEMO_SECONDS").ok().and_then(|s| s.parse().ok());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for second in 0.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        if limit.is_some_and(|limit| second >= limit) {
            break;
        }
        let session = manager.snapshot("demo").await?;
        let now = chrono::Utc::now();
        let left = |at: Option<chrono::DateTime<chrono::Utc>>| at.map_or("-".into(), |at| format!("{:>4}s", (at - now).num_seconds()));
        println!(
            "{:?}  access token expires in {}  next refresh in {}  session ends in {}",
            session.phase,
            left(session.access_token_expires_at),
            left(session.next_refresh_at),
            left(session.session_expires_at),
        );
    }
    manager.sign_out("demo").await?;
    println!("signed out; tokens revoked at the provider and removed from the keychain");
    manager.shutdown().await;
    Ok(())
}
