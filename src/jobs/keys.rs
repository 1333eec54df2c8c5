//! Follows the identity provider's key rotation: the token verifier's
//! public keys are read again when their files change (looked at every
//! few seconds) or when the process gets SIGHUP (see `server::serve`).

use std::sync::Arc;
use std::time::Duration;

use super::Job;
use crate::auth::TokenVerifier;

/// How often the key files are looked at.
pub const LOOK_EVERY: Duration = Duration::from_secs(5);

/// Starts watching the verifier's key files.
pub fn start(verifier: Arc<TokenVerifier>) -> Job {
    Job(tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + LOOK_EVERY, LOOK_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if verifier.keys_changed() {
                reload(&verifier, "the key files changed");
            }
        }
    }))
}

/// Reads the keys again and logs how that went.
pub fn reload(verifier: &TokenVerifier, why: &str) {
    match verifier.reload() {
        Ok(keys) => tracing::info!(keys, why, "token keys reloaded"),
        Err(error) => tracing::error!(%error, why, "token keys could not be read again; the previous keys stay in use"),
    }
}
