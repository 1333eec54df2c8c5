//! JWT verification (HS256 secret, RS256/ES256 public key) and issuing (HS256).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};

use super::keys::{Fingerprint, PublicKey};
use super::{Permission, Principal, role_permissions};
use crate::config::JwtArgs;
use crate::error::{AppError, OrInternal};

/// The claims casebook reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    pub exp: u64,
    /// Not valid before (seconds since the epoch), honoured when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Verifies bearer tokens with the configured keys: the HS256 secret, and
/// the identity provider's public keys (see [`super::keys`]), which can be
/// read again while the service runs.
pub struct TokenVerifier {
    secret: Option<DecodingKey>,
    /// Where the public keys come from (a PEM file, a directory, a JWKS).
    source: Option<PathBuf>,
    public: RwLock<Arc<Loaded>>,
    issuer: Option<String>,
    audience: Option<String>,
    /// The tenant of tokens without `tid`; `None`: such tokens are refused.
    default_tenant: Option<String>,
}

/// The public keys in use and what their files looked like when read.
#[derive(Default)]
struct Loaded {
    keys: Vec<PublicKey>,
    fingerprint: Fingerprint,
}

impl TokenVerifier {
    /// Builds the verifier; `None` when neither a secret nor a public key is configured.
    pub fn from_config(jwt: &JwtArgs) -> Result<Option<Self>, AppError> {
        let secret = jwt.secret.as_ref().map(|s| DecodingKey::from_secret(s.expose().as_bytes()));
        let loaded = match &jwt.public_key {
            Some(path) => {
                let (keys, fingerprint) = super::keys::read(path).map_err(AppError::NotConfigured)?;
                Loaded { keys, fingerprint }
            }
            None => Loaded::default(),
        };
        if secret.is_none() && loaded.keys.is_empty() {
            return Ok(None);
        }
        let default_tenant = jwt.default_tenant.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
        Ok(Some(TokenVerifier {
            secret,
            source: jwt.public_key.clone(),
            public: RwLock::new(Arc::new(loaded)),
            issuer: jwt.issuer.clone(),
            audience: jwt.audience.clone(),
            default_tenant,
        }))
    }

    /// Whether the public keys' files changed since they were read.
    pub fn keys_changed(&self) -> bool {
        let Some(source) = &self.source else { return false };
        let loaded = self.loaded();
        super::keys::fingerprint(source, &loaded.fingerprint) != loaded.fingerprint
    }

    /// Reads the public keys again; on failure the keys in use stay.
    /// Returns how many keys are in use now.
    pub fn reload(&self) -> Result<usize, String> {
        let Some(source) = &self.source else { return Ok(0) };
        let (keys, fingerprint) = super::keys::read(source)?;
        let count = keys.len();
        *self.public.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Loaded { keys, fingerprint });
        Ok(count)
    }

    fn loaded(&self) -> Arc<Loaded> {
        self.public.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Verifies the token and builds its principal. A token naming a `kid`
    /// is checked against the keys of that id (or, when no key has it,
    /// against keys without one); otherwise against every key of its algorithm.
    pub fn verify(&self, token: &str) -> Result<Principal, AppError> {
        let header = decode_header(token).map_err(|_| AppError::Unauthenticated("the token is malformed".into()))?;
        let loaded = self.loaded();
        let candidates: Vec<&DecodingKey> = if header.alg == Algorithm::HS256 {
            self.secret.iter().collect()
        } else {
            let of_alg: Vec<&PublicKey> = loaded.keys.iter().filter(|k| k.algorithm == header.alg).collect();
            let named: Vec<&PublicKey> = match &header.kid {
                Some(kid) if of_alg.iter().any(|k| k.kid.as_ref() == Some(kid)) => {
                    of_alg.into_iter().filter(|k| k.kid.as_ref() == Some(kid)).collect()
                }
                Some(_) => of_alg.into_iter().filter(|k| k.kid.is_none()).collect(),
                None => of_alg,
            };
            named.into_iter().map(|k| &k.key).collect()
        };
        if candidates.is_empty() {
            return Err(AppError::Unauthenticated(match &header.kid {
                Some(kid) => format!("no {:?} key with kid {kid:?} is accepted", header.alg),
                None => format!("tokens signed with {:?} are not accepted", header.alg),
            }));
        }
        let validation = self.validation(header.alg);
        let mut refusal = None;
        for key in candidates {
            match decode::<Claims>(token, key, &validation) {
                Ok(data) => return Principal::from_claims(data.claims, self.default_tenant.as_deref()),
                // Another key of the same algorithm may have signed it.
                Err(e)
                    if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) && refusal.is_none() =>
                {
                    refusal = Some(e);
                }
                Err(e) => return Err(refused(&e)),
            }
        }
        Err(refused(&refusal.unwrap_or_else(|| jsonwebtoken::errors::ErrorKind::InvalidSignature.into())))
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let jwt = JwtArgs { issuer: self.issuer.clone(), audience: self.audience.clone(), ..Default::default() };
        validation(alg, &jwt)
    }
}

/// Why a token is refused, as the client reads it.
fn refused(error: &jsonwebtoken::errors::Error) -> AppError {
    use jsonwebtoken::errors::ErrorKind;
    let reason = match error.kind() {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
        ErrorKind::InvalidAudience => "the token's audience is not accepted",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (sub, exp)",
        ErrorKind::InvalidSignature => "the token's signature is invalid",
        _ => "the token is invalid",
    };
    AppError::Unauthenticated(reason.into())
}

fn validation(alg: Algorithm, jwt: &JwtArgs) -> Validation {
    let mut v = Validation::new(alg);
    v.set_required_spec_claims(&["exp", "sub"]);
    v.validate_nbf = true;
    v.leeway = 30;
    match &jwt.issuer {
        Some(iss) => {
            v.set_issuer(&[iss]);
            v.required_spec_claims.insert("iss".into());
        }
        None => v.iss = None,
    }
    match &jwt.audience {
        Some(aud) => {
            v.set_audience(&[aud]);
            v.required_spec_claims.insert("aud".into());
        }
        None => v.validate_aud = false,
    }
    v
}

/// What `casebook token` and the dev mode sign.
pub struct TokenRequest<'a> {
    pub sub: &'a str,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub tenant: &'a str,
    pub roles: &'a [String],
    pub ttl: Duration,
    pub issuer: Option<&'a str>,
    pub audience: Option<&'a str>,
}

/// Signs an HS256 token.
pub fn issue_token(secret: &str, request: &TokenRequest<'_>) -> Result<String, AppError> {
    let exp = jsonwebtoken::get_current_timestamp() + request.ttl.as_secs();
    let claims = Claims {
        sub: request.sub.to_owned(),
        name: request.name.map(str::to_owned),
        email: request.email.map(str::to_owned),
        tid: Some(request.tenant.to_owned()),
        roles: request.roles.to_vec(),
        exp,
        nbf: None,
        iss: request.issuer.map(str::to_owned),
        aud: request.audience.map(str::to_owned),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
        .or_internal("signing the token")
}

impl Principal {
    fn from_claims(claims: Claims, default_tenant: Option<&str>) -> Result<Self, AppError> {
        let user_id = claims.sub.trim();
        if user_id.is_empty() {
            return Err(AppError::Unauthenticated("the token's sub is empty".into()));
        }
        // The service's own actors (the SLA monitor, automation rules) go by
        // these; a token claiming one would pass for them in the audit log.
        if super::RESERVED_SUBJECT_PREFIXES.iter().any(|prefix| user_id.starts_with(prefix)) {
            return Err(AppError::Unauthenticated(format!(
                "the token's sub may not start with {}",
                super::RESERVED_SUBJECT_PREFIXES.join(" or ")
            )));
        }
        let texts = [Some(&claims.sub), claims.tid.as_ref(), claims.name.as_ref(), claims.email.as_ref()];
        if texts.into_iter().flatten().any(|t| t.contains('\0')) {
            return Err(AppError::Unauthenticated("the token's claims contain a NUL character".into()));
        }
        // Fail closed: a token names its tenant, unless the deployment names one for all.
        let tenant =
            claims.tid.as_deref().map(str::trim).filter(|t| !t.is_empty()).or(default_tenant).ok_or_else(|| {
                AppError::Unauthenticated("the token names no tenant (tid) and no default tenant is configured".into())
            })?;
        let permissions: BTreeSet<Permission> = BTreeSet::new();
        let mut permissions = permissions;
        for role in &claims.roles {
            permissions.extend(role_permissions(role).iter().copied());
        }
        Ok(Principal {
            user_id: user_id.to_owned(),
            tenant: tenant.to_owned(),
            display_name: claims.name.filter(|n| !n.trim().is_empty()),
            email: claims.email.filter(|e| !e.trim().is_empty()),
            permissions,
            expires_at: claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config(secret: &str) -> JwtArgs {
        JwtArgs { secret: Some(Secret::new(secret.into())), ..Default::default() }
    }

    fn request<'a>(roles: &'a [String]) -> TokenRequest<'a> {
        TokenRequest {
            sub: "alice",
            name: Some("Alice"),
            email: None,
            tenant: "acme",
            roles,
            ttl: Duration::from_secs(60),
            issuer: None,
            audience: None,
        }
    }

    #[test]
    fn issued_tokens_verify_into_a_principal() {
        let roles = vec!["analyst".to_owned()];
        let token = issue_token("s3cret", &request(&roles)).unwrap();
        let verifier = TokenVerifier::from_config(&config("s3cret")).unwrap().unwrap();
        let principal = verifier.verify(&token).unwrap();
        assert_eq!(principal.user_id, "alice");
        assert_eq!(principal.tenant, "acme");
        assert!(principal.has(Permission::AlertsManage));
        assert!(!principal.has(Permission::CoreSecuritySettingsManage));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let token = issue_token("other", &request(&[])).unwrap();
        let verifier = TokenVerifier::from_config(&config("s3cret")).unwrap().unwrap();
        let err = verifier.verify(&token).unwrap_err();
        assert!(matches!(err, AppError::Unauthenticated(_)));
    }

    #[test]
    fn issuer_is_checked_when_configured() {
        let token = issue_token("s3cret", &request(&[])).unwrap();
        let mut cfg = config("s3cret");
        cfg.issuer = Some("https://idp.example".into());
        let verifier = TokenVerifier::from_config(&cfg).unwrap().unwrap();
        assert!(verifier.verify(&token).is_err());
    }

    fn signed(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(b"s3cret")).unwrap()
    }

    #[test]
    fn a_token_without_a_tenant_is_refused_unless_the_deployment_names_one() {
        let exp = jsonwebtoken::get_current_timestamp() + 60;
        let token = signed(serde_json::json!({ "sub": "alice", "exp": exp, "roles": ["reader"] }));
        let verifier = TokenVerifier::from_config(&config("s3cret")).unwrap().unwrap();
        let refused = verifier.verify(&token).unwrap_err();
        assert!(refused.to_string().contains("names no tenant"), "{refused}");
        let mut cfg = config("s3cret");
        cfg.default_tenant = Some("acme".into());
        let verifier = TokenVerifier::from_config(&cfg).unwrap().unwrap();
        assert_eq!(verifier.verify(&token).unwrap().tenant, "acme");
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let now = jsonwebtoken::get_current_timestamp();
        let token =
            signed(serde_json::json!({ "sub": "a", "tid": "t", "exp": now + 400 * 86_400, "nbf": now + 365 * 86_400 }));
        let verifier = TokenVerifier::from_config(&config("s3cret")).unwrap().unwrap();
        let refused = verifier.verify(&token).unwrap_err();
        assert!(refused.to_string().contains("not valid yet"), "{refused}");
        let token = signed(serde_json::json!({ "sub": "a", "tid": "t", "exp": now + 60, "nbf": now - 10 }));
        assert!(verifier.verify(&token).is_ok());
    }

    /// A fresh ES256 key pair: (private PEM, public PEM).
    fn es256_pair() -> (String, String) {
        let pair = rcgen::KeyPair::generate().unwrap();
        (pair.serialize_pem(), pair.public_key_pem())
    }

    fn es256_token(private_pem: &str, kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        let exp = jsonwebtoken::get_current_timestamp() + 60;
        let claims = serde_json::json!({ "sub": "idp", "tid": "acme", "exp": exp });
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap()).unwrap()
    }

    fn key_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("casebook-keys-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_key_directory_is_read_again_and_kid_picks_the_key() {
        let dir = key_dir();
        let (a_private, a_public) = es256_pair();
        let (b_private, b_public) = es256_pair();
        std::fs::write(dir.join("a.pem"), a_public).unwrap();
        let jwt = JwtArgs { public_key: Some(dir.clone()), ..Default::default() };
        let verifier = TokenVerifier::from_config(&jwt).unwrap().unwrap();
        assert!(verifier.verify(&es256_token(&a_private, Some("a"))).is_ok());
        assert!(verifier.verify(&es256_token(&a_private, None)).is_ok(), "without kid: every key of the algorithm");
        let unknown = verifier.verify(&es256_token(&b_private, Some("b"))).unwrap_err();
        assert!(unknown.to_string().contains("kid \"b\""), "{unknown}");
        assert!(!verifier.keys_changed());

        std::fs::write(dir.join("b.pem"), b_public).unwrap();
        assert!(verifier.keys_changed());
        assert_eq!(verifier.reload(), Ok(2));
        assert!(verifier.verify(&es256_token(&b_private, Some("b"))).is_ok());
        // A token naming key b but signed with a is refused.
        assert!(verifier.verify(&es256_token(&a_private, Some("b"))).is_err());

        std::fs::remove_file(dir.join("a.pem")).unwrap();
        assert!(verifier.keys_changed());
        verifier.reload().unwrap();
        assert!(verifier.verify(&es256_token(&a_private, Some("a"))).is_err(), "a key removed is no longer accepted");
        // A broken file leaves the keys in use.
        std::fs::write(dir.join("c.pem"), "not a key").unwrap();
        assert!(verifier.reload().is_err());
        assert!(verifier.verify(&es256_token(&b_private, Some("b"))).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_jwks_document_gives_keys_by_kid() {
        let dir = key_dir();
        let (private, _) = es256_pair();
        let encoding = EncodingKey::from_ec_pem(private.as_bytes()).unwrap();
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some("2026-12".into());
        let set = serde_json::json!({ "keys": [jwk] });
        let file = dir.join("jwks.json");
        std::fs::write(&file, set.to_string()).unwrap();
        let jwt = JwtArgs { public_key: Some(file), ..Default::default() };
        let verifier = TokenVerifier::from_config(&jwt).unwrap().unwrap();
        assert!(verifier.verify(&es256_token(&private, Some("2026-12"))).is_ok());
        assert!(verifier.verify(&es256_token(&private, Some("2025-01"))).is_err(), "only keys without kid stand in");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn no_key_means_no_verifier() {
        assert!(TokenVerifier::from_config(&JwtArgs::default()).unwrap().is_none());
    }
}
