//! Webhook signing secrets at rest: sealed with XChaCha20-Poly1305 under a
//! key from the configuration (`CASEBOOK_SECRET_KEY`), bound to their tenant.
//! A stored secret reads `v1:<key id>:<base64 of nonce and ciphertext>`; the
//! key id (the first 8 hex digits of the key's SHA-256) says which key
//! opens it, so keys rotate: secrets sealed under a previous key
//! (`CASEBOOK_SECRET_KEY_PREVIOUS`) are opened with it and sealed again
//! under the current one when the service starts.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{AeadCore, KeyInit, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult, OrInternal};

const VERSION: &str = "v1";
const NONCE_BYTES: usize = 24;

/// One sealing key and its id.
#[derive(Clone)]
pub struct SealingKey {
    id: String,
    cipher: XChaCha20Poly1305,
    /// A key for signing download links, derived from this one (so every
    /// replica with the same secret key signs and checks the same links).
    links: [u8; 32],
}

impl SealingKey {
    /// A key as configured: 32 bytes, in base64 (standard or URL-safe) or hex.
    pub fn parse(text: &str) -> Result<SealingKey, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap_or(0)).collect::<Vec<u8>>()
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                .map_err(|_| "a secret key is 32 bytes in base64 or hex (openssl rand -base64 32)".to_owned())?
        };
        if bytes.len() != 32 {
            return Err(format!("a secret key is 32 bytes; this one has {}", bytes.len()));
        }
        Ok(SealingKey::from_bytes(&bytes))
    }

    /// A fresh random key (for `--dev`'s key file), and its base64 text.
    pub fn generate() -> (SealingKey, String) {
        let bytes: [u8; 32] = rand::random();
        (SealingKey::from_bytes(&bytes), STANDARD.encode(bytes))
    }

    fn from_bytes(bytes: &[u8]) -> SealingKey {
        let digest = Sha256::digest(bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let mut mac = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(bytes).expect("HMAC takes a key of any length");
        hmac::Mac::update(&mut mac, b"casebook attachment download links");
        let links = hmac::Mac::finalize(mac).into_bytes().into();
        SealingKey { id, cipher: XChaCha20Poly1305::new(bytes.into()), links }
    }

    /// The key download links are signed with.
    pub fn link_key(&self) -> [u8; 32] {
        self.links
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingKey({})", self.id)
    }
}

/// The keys a deployment seals secrets with: the current one, and previous
/// ones that only open what they sealed.
#[derive(Debug, Clone)]
pub struct SealingKeys {
    pub current: SealingKey,
    pub previous: Vec<SealingKey>,
}

/// What binds a sealed secret to its place: a secret copied to another
/// tenant's row does not open.
fn associated(tenant: &str) -> Vec<u8> {
    format!("casebook webhook secret\0{tenant}").into_bytes()
}

impl SealingKeys {
    /// Seals a secret of `tenant` under the current key.
    pub fn seal(&self, tenant: &str, secret: &str) -> AppResult<String> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut chacha20poly1305::aead::OsRng);
        let sealed = self
            .current
            .cipher
            .encrypt(&nonce, Payload { msg: secret.as_bytes(), aad: &associated(tenant) })
            .map_err(|_| AppError::internal("sealing a webhook secret failed"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{VERSION}:{}:{}", self.current.id, STANDARD.encode(bytes)))
    }

    /// Opens a stored secret of `tenant` with whichever configured key sealed it.
    pub fn open(&self, tenant: &str, stored: &str) -> AppResult<String> {
        let (key_id, sealed) =
            split(stored).ok_or_else(|| AppError::internal("a stored webhook secret is not sealed"))?;
        let key = self.key(key_id).ok_or_else(|| {
            AppError::internal(format!(
                "a webhook secret is sealed under key {key_id}, which is neither CASEBOOK_SECRET_KEY nor one of \
                 CASEBOOK_SECRET_KEY_PREVIOUS"
            ))
        })?;
        let bytes = STANDARD.decode(sealed).or_internal("a sealed webhook secret is not base64")?;
        if bytes.len() <= NONCE_BYTES {
            return Err(AppError::internal("a sealed webhook secret is too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| AppError::internal("a sealed secret's nonce"))?;
        let opened = key
            .cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad: &associated(tenant) })
            .map_err(|_| AppError::internal("a sealed webhook secret does not open (wrong key or tenant)"))?;
        String::from_utf8(opened).or_internal("an opened webhook secret is not text")
    }

    fn key(&self, id: &str) -> Option<&SealingKey> {
        std::iter::once(&self.current).chain(&self.previous).find(|k| k.id == id)
    }

    /// Whether a stored secret is sealed under the current key already.
    pub fn is_current(&self, stored: &str) -> bool {
        split(stored).is_some_and(|(id, _)| id == self.current.id)
    }
}

/// `(key id, sealed)` of a stored secret; `None` for one not sealed (written
/// before secrets were sealed).
pub fn split(stored: &str) -> Option<(&str, &str)> {
    let rest = stored.strip_prefix(VERSION)?.strip_prefix(':')?;
    rest.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SealingKeys {
        SealingKeys { current: SealingKey::generate().0, previous: Vec::new() }
    }

    #[test]
    fn a_sealed_secret_opens_for_its_tenant_only() {
        let keys = keys();
        let sealed = keys.seal("acme", "whsec_abc").unwrap();
        assert!(!sealed.contains("whsec_abc"));
        assert!(sealed.starts_with(&format!("v1:{}:", keys.current.id())));
        assert_eq!(keys.open("acme", &sealed).unwrap(), "whsec_abc");
        assert!(keys.open("globex", &sealed).is_err(), "bound to its tenant");
        assert_ne!(keys.seal("acme", "whsec_abc").unwrap(), sealed, "a fresh nonce each time");
    }

    #[test]
    fn a_previous_key_opens_what_it_sealed() {
        let old = keys();
        let sealed = old.seal("acme", "whsec_old").unwrap();
        let rotated = SealingKeys { current: SealingKey::generate().0, previous: vec![old.current.clone()] };
        assert_eq!(rotated.open("acme", &sealed).unwrap(), "whsec_old");
        assert!(!rotated.is_current(&sealed));
        let without = SealingKeys { current: rotated.current.clone(), previous: Vec::new() };
        let refused = without.open("acme", &sealed).unwrap_err().to_string();
        assert!(refused.contains(old.current.id()), "{refused}");
    }

    #[test]
    fn keys_parse_from_base64_or_hex() {
        let (key, text) = SealingKey::generate();
        assert_eq!(SealingKey::parse(&text).unwrap().id(), key.id());
        let hex = "00".repeat(32);
        assert!(SealingKey::parse(&hex).is_ok());
        assert!(SealingKey::parse("short").is_err());
        assert!(SealingKey::parse(&STANDARD.encode([0u8; 16])).is_err());
    }
}
