//! Proof that a permission was checked.
//!
//! The domain's writes (and the tenant reads behind the API) take a
//! [`Granted`], which only [`Principal::grant`] can make, and only for a
//! principal that holds the permission. A resolver that forgot its
//! `@requiresPermission`, or a check that was talked around, still cannot
//! write: it has no way to build the argument.

use std::marker::PhantomData;
use std::ops::Deref;

use super::{Permission, Principal};
use crate::error::AppError;

mod sealed {
    pub trait Sealed {}
}

/// A permission named as a type, so a function's signature says what it needs.
pub trait Capability: sealed::Sealed {
    const PERMISSION: Permission;
}

/// `SECURITY_DATA_READ`: read the tenant's cases, tasks, incidents, activity.
pub struct ReadData;
/// `ALERTS_MANAGE`: change cases, tasks, incidents, links, comments.
pub struct ManageAlerts;
/// `CORE_SECURITY_SETTINGS_MANAGE`: change statuses and users.
pub struct ManageSettings;
/// `INCIDENTS_INGEST`: upsert incidents from a detection source.
pub struct IngestIncidents;

impl sealed::Sealed for ReadData {}
impl sealed::Sealed for ManageAlerts {}
impl sealed::Sealed for ManageSettings {}
impl sealed::Sealed for IngestIncidents {}

impl Capability for ReadData {
    const PERMISSION: Permission = Permission::SecurityDataRead;
}
impl Capability for ManageAlerts {
    const PERMISSION: Permission = Permission::AlertsManage;
}
impl Capability for ManageSettings {
    const PERMISSION: Permission = Permission::CoreSecuritySettingsManage;
}
impl Capability for IngestIncidents {
    const PERMISSION: Permission = Permission::IncidentsIngest;
}

/// A principal that was checked for the capability `C`. Reads as the principal.
pub struct Granted<'a, C: Capability> {
    principal: &'a Principal,
    capability: PhantomData<C>,
}

impl<C: Capability> Clone for Granted<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: Capability> Copy for Granted<'_, C> {}

impl<'a, C: Capability> Granted<'a, C> {
    pub fn principal(&self) -> &'a Principal {
        self.principal
    }

    pub fn tenant(&self) -> &'a str {
        &self.principal.tenant
    }
}

impl<C: Capability> Deref for Granted<'_, C> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        self.principal
    }
}

impl Principal {
    /// The proof that this principal holds `C`'s permission, or `FORBIDDEN`.
    pub fn grant<C: Capability>(&self) -> Result<Granted<'_, C>, AppError> {
        if self.has(C::PERMISSION) {
            Ok(Granted { principal: self, capability: PhantomData })
        } else {
            Err(AppError::Forbidden(C::PERMISSION.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn principal(permissions: &[Permission]) -> Principal {
        Principal {
            user_id: "u".into(),
            tenant: "t".into(),
            display_name: None,
            email: None,
            permissions: permissions.iter().copied().collect::<BTreeSet<_>>(),
            expires_at: 0,
        }
    }

    #[test]
    fn a_grant_needs_the_permission() {
        let reader = principal(&[Permission::SecurityDataRead]);
        assert!(reader.grant::<ReadData>().is_ok());
        assert!(matches!(reader.grant::<ManageAlerts>(), Err(AppError::Forbidden("ALERTS_MANAGE"))));
        assert!(matches!(reader.grant::<ManageSettings>(), Err(AppError::Forbidden("CORE_SECURITY_SETTINGS_MANAGE"))));
        let nobody = principal(&[]);
        assert!(nobody.grant::<ReadData>().is_err());
    }

    #[test]
    fn a_grant_reads_as_its_principal() {
        let admin = principal(Permission::ALL);
        let grant = admin.grant::<ManageSettings>().unwrap();
        assert_eq!(grant.tenant(), "t");
        assert_eq!(grant.user_id, "u");
    }
}
