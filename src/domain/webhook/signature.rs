//! Signing per the Standard Webhooks specification: the secret is
//! `whsec_` + base64 of random bytes; a message is signed as
//! `v1,` + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{AppResult, OrInternal};

const SECRET_PREFIX: &str = "whsec_";
/// Bytes of a generated secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A fresh signing secret.
pub fn new_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// A message id (`webhook-id`): the same on every attempt of a message.
pub fn new_message_id() -> String {
    let bytes: [u8; 16] = rand::random();
    format!("msg_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The `webhook-signature` header value for a message.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> AppResult<String> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD.decode(encoded).or_internal("a stored webhook secret")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).or_internal("hmac key")?;
    mac.update(format!("{message_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries.
    #[test]
    fn signs_the_specifications_example() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature.ok().as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    }

    #[test]
    fn secrets_are_fresh_and_decodable() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&a[6..]).map(|k| k.len()).ok(), Some(SECRET_BYTES));
    }
}
