//! Benchmark: one `session-core` refresh round trip (token request with rotation, refreshed ID token
//! check, keychain write-through, state update) against a bare reqwest POST to the same token
//! endpoint, measured in the same run against the same local provider. Prints medians and the ratio.

use session_keeper_testkit as support;

use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use session_core::{Policy, SecretVault, Vault};
use support::{Idp, Ttls, keychain, manager, signed_in};

const ROUNDS: usize = 200;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("bench");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &idp, "core", "alice").await;
    signed_in(&manager, &idp, "raw", "bob").await;
    let secrets = SecretVault::new(vault.clone() as std::sync::Arc<dyn Vault>, Duration::from_secs(5))
        .load_tokens("raw")
        .await
        .unwrap()
        .unwrap();
    let mut raw_token = secrets.refresh_token.unwrap().expose_secret().to_owned();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let token_endpoint = format!("{}/token", idp.base());

    let (mut core, mut raw) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        let started = Instant::now();
        manager.refresh("core", true).await.unwrap();
        core.push(started.elapsed());

        let started = Instant::now();
        let body: serde_json::Value = http
            .post(&token_endpoint)
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &raw_token), ("client_id", "session-keeper")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        raw.push(started.elapsed());
        raw_token = body["refresh_token"].as_str().expect("rotated refresh token").to_owned();
    }
    let (core, raw) = (median(core), median(raw));
    println!(
        "refresh round trip, median of {ROUNDS}: session-core {:.2} ms, raw token POST {:.2} ms, ratio {:.2}",
        core.as_secs_f64() * 1e3,
        raw.as_secs_f64() * 1e3,
        core.as_secs_f64() / raw.as_secs_f64()
    );
    manager.shutdown().await;
}
