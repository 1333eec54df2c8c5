//! API key secrets: how they look, how they are made and how they are kept.
//!
//! A secret is `cbk_` and 43 characters of URL-safe base64 (256 random
//! bits): recognisable in a leak scan, and strong enough that its SHA-256 is
//! all the database needs to keep (a slow password hash guards guessable
//! secrets; these are not guessable).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What every API key secret starts with.
pub const PREFIX: &str = "cbk_";
/// How many characters of a secret its hint keeps (the prefix and four).
const HINT_CHARS: usize = PREFIX.len() + 4;
/// The length of a well-formed secret.
const SECRET_CHARS: usize = PREFIX.len() + 43;

/// A new secret, shown to its creator once.
pub struct NewSecret {
    pub secret: String,
    /// What the database keeps: [`hash`] of the secret.
    pub hash: String,
    /// The secret's first characters, for people to recognise a key by.
    pub hint: String,
}

pub fn generate() -> NewSecret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    NewSecret { hash: hash(&secret), hint: secret[..HINT_CHARS].to_owned(), secret }
}

/// The hex SHA-256 of a secret, which the key is found by.
pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a bearer credential is an API key (rather than a JWT, which never
/// starts this way: its header is base64 of `{`).
pub fn is_api_key(credential: &str) -> bool {
    credential.starts_with(PREFIX)
}

/// Whether a credential has the shape of a secret this service makes; one
/// that does not is refused without a database read.
pub fn well_formed(credential: &str) -> bool {
    credential.len() == SECRET_CHARS
        && credential[PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_secret_is_recognisable_well_formed_and_kept_as_its_hash() {
        let first = generate();
        let second = generate();
        assert!(is_api_key(&first.secret) && well_formed(&first.secret), "{}", first.secret);
        assert_ne!(first.secret, second.secret);
        assert_eq!(first.hash, hash(&first.secret));
        assert_eq!(first.hash.len(), 64);
        assert!(first.secret.starts_with(&first.hint));
        assert!(!well_formed("cbk_short"));
        assert!(!well_formed(&format!("{}!", &first.secret[..first.secret.len() - 1])));
        assert!(!is_api_key("eyJhbGciOiJSUzI1NiJ9.e30.sig"));
    }
}
