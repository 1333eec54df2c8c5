//! Who is calling: token verification, the principal, permissions and roles.

pub mod api_key;
mod grant;
pub mod keys;
mod permission;
mod token;

use std::collections::BTreeSet;

pub use grant::{Capability, Granted, IngestIncidents, ManageAlerts, ManageSettings, ReadData};
pub use permission::{Permission, ROLES, role_permissions};
pub use token::{Claims, TokenRequest, TokenVerifier, issue_token};

use crate::error::AppError;

/// Subjects of the service's own actors: automation rules act as
/// `automation:<rule id>`, the SLA monitor as `system:sla`, API keys as
/// `apikey:<key id>`. Tokens may not claim them.
pub const AUTOMATION_SUBJECT_PREFIX: &str = "automation:";
pub const SYSTEM_SUBJECT_PREFIX: &str = "system:";
pub const API_KEY_SUBJECT_PREFIX: &str = "apikey:";
pub const RESERVED_SUBJECT_PREFIXES: [&str; 3] =
    [SYSTEM_SUBJECT_PREFIX, AUTOMATION_SUBJECT_PREFIX, API_KEY_SUBJECT_PREFIX];

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub tenant: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub permissions: BTreeSet<Permission>,
    /// `exp`, seconds since the epoch.
    pub expires_at: u64,
}

impl Principal {
    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// The name people read: the display name, else the id.
    pub fn name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.user_id)
    }
}

/// The credential an `Authorization` value carries.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    None,
    Jwt(&'a str),
    ApiKey(&'a str),
}

/// What a request or WebSocket connection proved about its caller.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No credentials were sent.
    Anonymous,
    /// Credentials were sent but refused; the reason goes back to the client.
    Invalid(String),
    Authenticated(Principal),
}

impl Auth {
    /// The principal, or the `UNAUTHENTICATED` error saying why there is none.
    pub fn principal(&self) -> Result<&Principal, AppError> {
        match self {
            Auth::Authenticated(p) => Ok(p),
            Auth::Invalid(reason) => Err(AppError::Unauthenticated(reason.clone())),
            Auth::Anonymous => Err(AppError::Unauthenticated(
                "a bearer token is required (Authorization: Bearer <JWT or API key>)".into(),
            )),
        }
    }

    /// Checks a permission, authenticating first.
    pub fn require(&self, permission: Permission) -> Result<&Principal, AppError> {
        let principal = self.principal()?;
        if principal.has(permission) { Ok(principal) } else { Err(AppError::Forbidden(permission.as_str())) }
    }

    /// The proof that the caller holds `C`'s permission, authenticating first.
    pub fn grant<C: Capability>(&self) -> Result<Granted<'_, C>, AppError> {
        self.principal()?.grant()
    }

    /// What an `Authorization` value presents: nothing, a JWT or an API key
    /// (`Bearer <JWT>` or `Bearer cbk_...`), or why it is refused.
    pub fn credential(value: Option<&str>) -> Result<Credential<'_>, String> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(Credential::None);
        };
        match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                let token = token.trim();
                Ok(if api_key::is_api_key(token) { Credential::ApiKey(token) } else { Credential::Jwt(token) })
            }
            _ => Err("the Authorization value must be `Bearer <JWT or API key>`".into()),
        }
    }

    /// Verifies a JWT.
    pub fn from_jwt(verifier: &TokenVerifier, token: &str) -> Auth {
        match verifier.verify(token) {
            Ok(principal) => Auth::Authenticated(principal),
            Err(e) => Auth::Invalid(e.to_string()),
        }
    }
}
