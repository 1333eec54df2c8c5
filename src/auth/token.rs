//! JWT verification (HS256 secret, RS256/ES256 public key) and issuing (HS256).

use std::collections::BTreeSet;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};

use super::{Permission, Principal, role_permissions};
use crate::config::JwtArgs;
use crate::error::AppError;

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

/// Verifies bearer tokens with the configured keys.
pub struct TokenVerifier {
    keys: Vec<(DecodingKey, Validation)>,
    /// The tenant of tokens without `tid`; `None`: such tokens are refused.
    default_tenant: Option<String>,
}

impl TokenVerifier {
    /// Builds the verifier; `None` when neither a secret nor a public key is configured.
    pub fn from_config(jwt: &JwtArgs) -> Result<Option<Self>, AppError> {
        let mut keys = Vec::new();
        if let Some(secret) = &jwt.secret {
            let key = DecodingKey::from_secret(secret.expose().as_bytes());
            keys.push((key, validation(Algorithm::HS256, jwt)));
        }
        if let Some(path) = &jwt.public_key {
            let pem = std::fs::read(path)
                .map_err(|e| AppError::internal(format!("reading CASEBOOK_JWT_PUBLIC_KEY {}: {e}", path.display())))?;
            if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                keys.push((key, validation(Algorithm::RS256, jwt)));
            } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                keys.push((key, validation(Algorithm::ES256, jwt)));
            } else {
                return Err(AppError::internal(format!(
                    "CASEBOOK_JWT_PUBLIC_KEY {} is neither an RSA nor an EC public key in PEM",
                    path.display()
                )));
            }
        }
        let default_tenant = jwt.default_tenant.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
        Ok((!keys.is_empty()).then_some(TokenVerifier { keys, default_tenant }))
    }

    /// Verifies the token and builds its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, AppError> {
        let header = decode_header(token).map_err(|_| AppError::Unauthenticated("the token is malformed".into()))?;
        let (key, validation) =
            self.keys.iter().find(|(_, v)| v.algorithms.contains(&header.alg)).ok_or_else(|| {
                AppError::Unauthenticated(format!("tokens signed with {:?} are not accepted", header.alg))
            })?;
        let claims = decode::<Claims>(token, key, validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                let reason = match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
                    ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                    ErrorKind::InvalidAudience => "the token's audience is not accepted",
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (sub, exp)",
                    ErrorKind::InvalidSignature => "the token's signature is invalid",
                    _ => "the token is invalid",
                };
                AppError::Unauthenticated(reason.into())
            })?
            .claims;
        Principal::from_claims(claims, self.default_tenant.as_deref())
    }
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
        .map_err(|e| AppError::internal(format!("signing the token: {e}")))
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

    #[test]
    fn no_key_means_no_verifier() {
        assert!(TokenVerifier::from_config(&JwtArgs::default()).unwrap().is_none());
    }
}
