//! Signed download links: a browser follows `Attachment.downloadUrl`
//! without a bearer token. A link names the tenant, the attachment, the
//! user it was made for and its expiry, and is signed (HMAC-SHA-256) with a
//! key every replica shares (derived from `CASEBOOK_SECRET_KEY`), so it
//! cannot be moved to another file, tenant or time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::AttachmentId;

/// The key links are signed with.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

impl LinkKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        LinkKey(bytes)
    }

    /// A key of this process only: its links work on this replica alone.
    pub fn random() -> Self {
        LinkKey(rand::random())
    }

    fn mac(&self, message: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
}

/// What a link grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub tenant: String,
    pub attachment: AttachmentId,
    /// Who the link was made for (recorded as the downloader).
    pub user: String,
    /// Unix seconds.
    pub expires: i64,
}

fn message(grant: &Grant) -> Vec<u8> {
    format!("casebook download\0{}\0{}\0{}\0{}", grant.tenant, grant.attachment, grant.user, grant.expires).into_bytes()
}

/// The link's token: the grant and its signature, URL-safe.
pub fn sign(key: &LinkKey, grant: &Grant) -> String {
    let fields = serde_json::json!([grant.tenant, grant.attachment.0, grant.user, grant.expires]);
    let body = URL_SAFE_NO_PAD.encode(fields.to_string());
    let signature = URL_SAFE_NO_PAD.encode(key.mac(&message(grant)));
    format!("{body}.{signature}")
}

/// Why a link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the download link is malformed")]
    Malformed,
    #[error("the download link's signature does not match")]
    Forged,
    #[error("the download link expired")]
    Expired,
}

/// Reads a token back, checking its signature and expiry (`now` in Unix seconds).
pub fn verify(key: &LinkKey, token: &str, now: i64) -> Result<Grant, Refused> {
    let (body, signature) = token.split_once('.').ok_or(Refused::Malformed)?;
    let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| Refused::Malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Refused::Malformed)?;
    let (tenant, attachment, user, expires): (String, i64, String, i64) =
        serde_json::from_slice(&body).map_err(|_| Refused::Malformed)?;
    let grant = Grant { tenant, attachment: AttachmentId(attachment), user, expires };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("HMAC takes a key of any length");
    mac.update(&message(&grant));
    mac.verify_slice(&signature).map_err(|_| Refused::Forged)?;
    if now >= grant.expires {
        return Err(Refused::Expired);
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_only_what_it_was_made_for() {
        let key = LinkKey::new([3; 32]);
        let grant = Grant { tenant: "acme".into(), attachment: AttachmentId(7), user: "alice".into(), expires: 1_000 };
        let token = sign(&key, &grant);
        assert_eq!(verify(&key, &token, 999), Ok(grant.clone()));
        assert_eq!(verify(&key, &token, 1_000), Err(Refused::Expired));
        assert_eq!(verify(&LinkKey::new([4; 32]), &token, 999), Err(Refused::Forged));
        let moved = Grant { attachment: AttachmentId(8), ..grant.clone() };
        let (_, signature) = token.split_once('.').expect("two parts");
        let (forged_body, _) =
            sign(&key, &moved).split_once('.').map(|(b, s)| (b.to_owned(), s.to_owned())).expect("x");
        assert_eq!(verify(&key, &format!("{forged_body}.{signature}"), 999), Err(Refused::Forged));
        assert_eq!(verify(&key, "nonsense", 999), Err(Refused::Malformed));
    }
}
