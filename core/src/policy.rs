//! Refresh and lifetime settings, named after the web session libraries they come from
//! (`enablePeriodically`, `enableOnWindowFocus`, `maxAge`, `expiresIn`, `updateAge`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest lead time: refreshing more than an hour early gains nothing.
pub const MAX_LEAD_TIME: Duration = Duration::from_secs(3600);
/// The shortest `maxAge` of the validation cache: the provider is asked at most once a second.
pub const MIN_VALIDATION_AGE: Duration = Duration::from_secs(1);
/// The longest `maxAge` of the validation cache (a day).
pub const MAX_VALIDATION_AGE: Duration = Duration::from_secs(86_400);
/// The shortest period of the periodic check: more often would hammer the provider.
pub const MIN_PERIOD: Duration = Duration::from_secs(1);

/// `enablePeriodically`: `false` (off), `true` (every second) or a number of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnablePeriodically {
    /// `false`: no periodic check; `true`: a check every second.
    Enabled(bool),
    /// A check every this many milliseconds (0 means off).
    EveryMilliseconds(u64),
}

impl Default for EnablePeriodically {
    fn default() -> Self {
        EnablePeriodically::Enabled(false)
    }
}

impl EnablePeriodically {
    /// The period of the check, or `None` when periodic checks are off.
    pub fn interval(self) -> Option<Duration> {
        match self {
            EnablePeriodically::Enabled(false) | EnablePeriodically::EveryMilliseconds(0) => None,
            EnablePeriodically::Enabled(true) => Some(Duration::from_secs(1)),
            EnablePeriodically::EveryMilliseconds(ms) => Some(Duration::from_millis(ms)),
        }
    }
}

/// When and how sessions are refreshed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RefreshPolicy {
    /// Periodic session check (default off).
    pub enable_periodically: EnablePeriodically,
    /// Check the sessions whenever the app window gains focus (default on).
    pub enable_on_window_focus: bool,
    /// Refresh this long before the access token expires (default 60 s).
    #[serde(with = "millis")]
    pub lead_time: Duration,
    /// `maxAge` of the validation cache: a check that finds the access token fresh asks the provider's
    /// userinfo endpoint at most this often whether the session still stands (default 5 min); after
    /// an answer for another user, this long after that answer.
    #[serde(with = "millis")]
    pub validation_max_age: Duration,
    /// A session that cannot be extended counts as expiring this long before it ends (default 5 min).
    #[serde(with = "millis")]
    pub expiry_warning: Duration,
    /// The shortest time between two automatic refreshes of one session, whatever lifetime the provider
    /// gives its tokens (default 5 s). A manual refresh is not held back.
    #[serde(with = "millis")]
    pub min_refresh_interval: Duration,
    /// First delay after a transient refresh failure; it doubles per failure (default 1 s).
    #[serde(with = "millis")]
    pub retry_initial_delay: Duration,
    /// Longest delay between retries (default 5 min); also the wait after a refusal other than
    /// `invalid_grant`, before the try whose refusal ends the session.
    #[serde(with = "millis")]
    pub retry_max_delay: Duration,
    /// After this many refreshes in a row have failed, the session needs the person's attention: one
    /// notification, D-Bus `AttentionNeeded`, the card's warning (default 3). The one threshold every
    /// reader uses, through [`crate::SessionSnapshot::failing`].
    pub attention_after_failures: u32,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            enable_periodically: EnablePeriodically::default(),
            enable_on_window_focus: true,
            lead_time: Duration::from_secs(60),
            validation_max_age: Duration::from_secs(5 * 60),
            expiry_warning: Duration::from_secs(5 * 60),
            min_refresh_interval: Duration::from_secs(5),
            retry_initial_delay: Duration::from_secs(1),
            retry_max_delay: Duration::from_secs(5 * 60),
            attention_after_failures: 3,
        }
    }
}

impl RefreshPolicy {
    /// The delay before retry number `failures` (1-based): exponential, capped, with "equal jitter"
    /// (half fixed, half scaled by `jitter` in 0..=1) so that many clients do not retry in lockstep.
    /// The jitter comes in as a number so that this stays a pure function.
    pub fn retry_delay(&self, failures: u32, jitter: f64) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let uncapped = self.retry_initial_delay.saturating_mul(1u32 << exponent);
        let capped = uncapped.min(self.retry_max_delay);
        capped / 2 + capped.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// How long a session lives: `expiresIn` with a sliding `updateAge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionLifetime {
    /// A session ends this long after it was last extended (default 7 days), or earlier when the
    /// provider says its refresh token expires earlier.
    #[serde(with = "millis")]
    pub expires_in: Duration,
    /// User activity (focus, a manual refresh, a token request) extends the session at most this often
    /// (default 1 day).
    #[serde(with = "millis")]
    pub update_age: Duration,
    /// A session that nothing will renew silently (signed in through the system browser, silent
    /// sign-in off, or the provider's own session ended) says this long before it ends that the person
    /// should sign in again (`signInAgainSoon`; default 1 day).
    #[serde(with = "millis")]
    pub sign_in_again_lead: Duration,
    /// The longest a silent sign-in may take before it is abandoned (default 15 s).
    #[serde(with = "millis")]
    pub silent_sign_in_timeout: Duration,
}

/// The longest `signInAgainLead`: a week.
pub const MAX_SIGN_IN_AGAIN_LEAD: Duration = Duration::from_secs(7 * 24 * 3600);
/// The bounds of `silentSignInTimeout`: a second to two minutes.
pub const SILENT_TIMEOUT_BOUNDS: std::ops::RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(120);

impl Default for SessionLifetime {
    fn default() -> Self {
        Self {
            expires_in: Duration::from_secs(7 * 24 * 3600),
            update_age: Duration::from_secs(24 * 3600),
            sign_in_again_lead: Duration::from_secs(24 * 3600),
            silent_sign_in_timeout: Duration::from_secs(15),
        }
    }
}

/// Everything the state machine needs to decide.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Policy {
    /// Refresh settings.
    pub refresh: RefreshPolicy,
    /// Lifetime settings.
    pub lifetime: SessionLifetime,
}

impl Policy {
    /// Refuses settings that would hammer the provider or never refresh in time, with a message that
    /// says which bound was crossed. [`crate::SessionManager::set_policy`] and the builder check it.
    pub fn validate(&self) -> Result<()> {
        let refresh = &self.refresh;
        let invalid = |message: String| Err(Error::InvalidConfiguration(message));
        if refresh.lead_time > MAX_LEAD_TIME {
            return invalid(format!("The lead time must be between 0 and {} seconds.", MAX_LEAD_TIME.as_secs()));
        }
        if !(MIN_VALIDATION_AGE..=MAX_VALIDATION_AGE).contains(&refresh.validation_max_age) {
            return invalid(format!(
                "The re-check interval must be between {} and {} seconds.",
                MIN_VALIDATION_AGE.as_secs(),
                MAX_VALIDATION_AGE.as_secs()
            ));
        }
        if let Some(period) = refresh.enable_periodically.interval()
            && period < MIN_PERIOD
        {
            return invalid(format!("The refresh interval must be at least {} ms (1 second).", MIN_PERIOD.as_millis()));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&refresh.min_refresh_interval) {
            return invalid("The shortest time between two refreshes must be between 1 and 3600 seconds.".into());
        }
        if refresh.retry_initial_delay.is_zero() || refresh.retry_initial_delay > refresh.retry_max_delay {
            return invalid("The first retry delay must be more than 0 and at most the longest retry delay.".into());
        }
        if !(1..=100).contains(&refresh.attention_after_failures) {
            // 0 would call every signed-in session failing.
            return invalid("The number of failed refreshes before a session needs attention must be between 1 and 100.".into());
        }
        if self.lifetime.expires_in < Duration::from_secs(60) || self.lifetime.update_age > self.lifetime.expires_in {
            return invalid("A session must last at least a minute, and be extended at most once per lifetime.".into());
        }
        if self.lifetime.sign_in_again_lead > MAX_SIGN_IN_AGAIN_LEAD {
            return invalid(format!(
                "The warning before a session ends must be at most {} days.",
                MAX_SIGN_IN_AGAIN_LEAD.as_secs() / 86_400
            ));
        }
        if !SILENT_TIMEOUT_BOUNDS.contains(&self.lifetime.silent_sign_in_timeout) {
            return invalid(format!(
                "The silent sign-in's time limit must be between {} and {} seconds.",
                SILENT_TIMEOUT_BOUNDS.start().as_secs(),
                SILENT_TIMEOUT_BOUNDS.end().as_secs()
            ));
        }
        Ok(())
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_periodically_reads_like_the_web_libraries() {
        let parse = |s: &str| serde_json::from_str::<EnablePeriodically>(s).unwrap().interval();
        assert_eq!(parse("false"), None);
        assert_eq!(parse("true"), Some(Duration::from_secs(1)));
        assert_eq!(parse("2500"), Some(Duration::from_millis(2500)));
        assert_eq!(parse("0"), None);
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let policy: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(policy.refresh.enable_periodically.interval(), None);
        assert!(policy.refresh.enable_on_window_focus);
        assert_eq!(policy.refresh.lead_time, Duration::from_secs(60));
        assert_eq!(policy.refresh.validation_max_age, Duration::from_secs(300));
        assert_eq!(policy.lifetime.expires_in, Duration::from_secs(604_800));
        assert_eq!(policy.lifetime.update_age, Duration::from_secs(86_400));
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(json["refresh"]["enablePeriodically"], false);
        assert_eq!(json["refresh"]["leadTime"], 60_000);
        assert_eq!(json["lifetime"]["signInAgainLead"], 86_400_000);
        assert_eq!(json["lifetime"]["silentSignInTimeout"], 15_000);
    }

    #[test]
    fn bounds_are_checked_in_one_place_with_a_message_that_names_them() {
        assert!(Policy::default().validate().is_ok());
        let mut policy = Policy::default();
        policy.refresh.lead_time = Duration::from_secs(3601);
        assert_eq!(policy.validate().unwrap_err().to_string(), "The lead time must be between 0 and 3600 seconds.");
        let mut policy = Policy::default();
        policy.refresh.enable_periodically = EnablePeriodically::EveryMilliseconds(999);
        assert_eq!(policy.validate().unwrap_err().to_string(), "The refresh interval must be at least 1000 ms (1 second).");
        policy.refresh.enable_periodically = EnablePeriodically::Enabled(true);
        assert!(policy.validate().is_ok(), "every second is the web libraries' `true`");
        let mut policy = Policy::default();
        policy.refresh.validation_max_age = Duration::from_secs(86_401);
        assert!(policy.validate().unwrap_err().to_string().contains("re-check interval"));
        let mut policy = Policy::default();
        policy.lifetime.update_age = policy.lifetime.expires_in + Duration::from_secs(1);
        assert!(policy.validate().is_err());
        let mut policy = Policy::default();
        policy.refresh.attention_after_failures = 0;
        assert!(policy.validate().unwrap_err().to_string().contains("needs attention"), "0 would call every session failing");
        let mut policy = Policy::default();
        policy.lifetime.sign_in_again_lead = Duration::from_secs(8 * 86_400);
        assert_eq!(policy.validate().unwrap_err().to_string(), "The warning before a session ends must be at most 7 days.");
        let mut policy = Policy::default();
        policy.lifetime.silent_sign_in_timeout = Duration::ZERO;
        assert_eq!(policy.validate().unwrap_err().to_string(), "The silent sign-in's time limit must be between 1 and 120 seconds.");
    }

    #[test]
    fn retry_delay_doubles_with_jitter_and_is_capped() {
        let policy = RefreshPolicy::default();
        assert_eq!(policy.retry_delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(policy.retry_delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(policy.retry_delay(4, 1.0), Duration::from_secs(8));
        assert_eq!(policy.retry_delay(50, 1.0), Duration::from_secs(300));
        assert_eq!(policy.retry_delay(50, 0.0), Duration::from_secs(150));
    }
}
