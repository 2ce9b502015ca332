//! The cost of a sealed-vault write beside a keychain write, in the same run: the sealed vault in a
//! private folder (each write decrypts the items, encrypts them again to the vault's key and replaces
//! the file atomically with two fsyncs), the keychain the test desktop's gnome-keyring over D-Bus.
//! Each write stores one session's tokens (about 1.9 KB, as a signed-in session's are); the sealed
//! file holds 1, then 20 sessions. The two vaults take turns in rounds of 10 writes, so a slow moment
//! of the machine falls on both. Also printed: the unlock (age's scrypt at its default work factor,
//! once per desktop session) and a read. Release builds only, on the desktop-session bus:
//!
//! ```text
//! scripts/desktop-session.sh --open-bus -- cargo run --release --locked -p session-keeper-e2e --example vault_write [--writes N]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use session_core::{KeyringVault, SealedVault, Vault};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A session's tokens as the vault stores them: about 1.9 KB of text, different at each write.
fn tokens(n: usize) -> SecretString {
    let jwt = |tag: &str| format!("eyJhbGciOiJSUzI1NiJ9.{}.{}", format!("{tag}{n:08}").repeat(60), "s".repeat(342));
    SecretString::from(format!(
        r#"{{"access_token":"{}","refresh_token":"rt-{n:016}-{}","id_token":"{}"}}"#,
        jwt("a"),
        "r".repeat(40),
        jwt("i")
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let median = percentile(&times, 0.5);
    println!(
        "{name:<34} n={:<4} median {:>8.3} ms   p95 {:>8.3} ms   max {:>8.3} ms",
        times.len(),
        ms(median),
        ms(percentile(&times, 0.95)),
        ms(*times.last().unwrap())
    );
    median
}

fn timed(vault: &dyn Vault, name: &str, n: usize) -> Duration {
    let value = tokens(n);
    let start = Instant::now();
    vault.set(name, &value).expect("write");
    start.elapsed()
}

fn main() {
    if cfg!(debug_assertions) {
        panic!("benchmarks run release builds: cargo run --release -p session-keeper-e2e --example vault_write");
    }
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session bus: run it inside scripts/desktop-session.sh --open-bus"
    );
    let writes = arg("--writes", 200);
    let dir = std::env::temp_dir().join(format!("session-keeper-vault-write-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let keychain = Arc::new(KeyringVault::new(format!("session-keeper-bench-{}", std::process::id())));
    let sealed = SealedVault::new(&dir);

    let start = Instant::now();
    sealed.unlock(&SecretString::from("a passphrase of the bench")).expect("unlock");
    let made = start.elapsed();
    sealed.lock();
    let start = Instant::now();
    sealed.unlock(&SecretString::from("a passphrase of the bench")).expect("unlock");
    let unlocked = start.elapsed();

    // Warm-up: the keychain's connection and collection, the file's first write.
    keychain.set("session/s0/tokens", &tokens(0)).expect("keychain write");
    sealed.set("session/s0/tokens", &tokens(0)).expect("sealed write");

    println!("vault_write: {writes} writes of one session's tokens ({} bytes) to each vault", tokens(0).expose_secret().len());
    println!("sealed unlock (scrypt, age's default work factor): made {:.0} ms, opened {:.0} ms", ms(made), ms(unlocked));
    let mut ratios = Vec::new();
    for sessions in [1usize, 20] {
        for n in 1..sessions {
            sealed.set(&format!("session/s{n}/tokens"), &tokens(n)).unwrap();
        }
        let (mut on_keychain, mut on_sealed, mut reads_keychain, mut reads_sealed) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..writes.div_ceil(10) {
            for i in 0..10 {
                let n = round * 10 + i + 1;
                on_keychain.push(timed(keychain.as_ref(), "session/s0/tokens", n));
                let start = Instant::now();
                keychain.get("session/s0/tokens").unwrap();
                reads_keychain.push(start.elapsed());
            }
            for i in 0..10 {
                let n = round * 10 + i + 1;
                on_sealed.push(timed(sealed.as_ref(), "session/s0/tokens", n));
                let start = Instant::now();
                sealed.get("session/s0/tokens").unwrap();
                reads_sealed.push(start.elapsed());
            }
        }
        println!("-- the sealed file holding {sessions} session(s), {} bytes", std::fs::metadata(sealed.path()).unwrap().len());
        let k = summary("keychain write (gnome-keyring)", on_keychain);
        let s = summary("sealed write (age, atomic file)", on_sealed);
        let kr = summary("keychain read", reads_keychain);
        let sr = summary("sealed read", reads_sealed);
        println!("ratio sealed/keychain, median: write {:.2}, read {:.2}", ms(s) / ms(k), ms(sr) / ms(kr));
        ratios.push(ms(s) / ms(k));
    }
    keychain.delete("session/s0/tokens").unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    println!("sealed/keychain write ratios (1 session, 20 sessions): {ratios:.2?}");
}
