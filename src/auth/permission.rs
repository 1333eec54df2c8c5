//! Permissions and the roles that grant them.

use std::fmt;

crate::named::named_enum! {
    @define [#[derive(PartialOrd, Ord)]]
    /// A permission a role grants; root fields name the one they require with
    /// `@requiresPermission`.
    pub enum Permission {
        /// View the case queue, case details, tasks, comments, audit events, incidents; subscribe.
        SecurityDataRead => "SECURITY_DATA_READ",
        /// Create and manage cases and tasks, assign, change status, link incidents, comment.
        AlertsManage => "ALERTS_MANAGE",
        /// Create and change case statuses, manage users and API keys.
        CoreSecuritySettingsManage => "CORE_SECURITY_SETTINGS_MANAGE",
        /// Ingest incidents from a detection source (`ingestIncidents`, `POST /ingest/...`), and nothing else.
        IncidentsIngest => "INCIDENTS_INGEST",
    }
}

impl Permission {
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.iter().copied().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The permissions of a role name; unknown roles grant nothing.
pub fn role_permissions(role: &str) -> &'static [Permission] {
    use Permission::*;
    match role {
        "reader" => &[SecurityDataRead],
        "analyst" => &[SecurityDataRead, AlertsManage, IncidentsIngest],
        "admin" => &[SecurityDataRead, AlertsManage, CoreSecuritySettingsManage, IncidentsIngest],
        _ => &[],
    }
}

/// The role names the service knows.
pub const ROLES: [&str; 3] = ["reader", "analyst", "admin"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_the_contract_permissions() {
        assert_eq!(role_permissions("reader"), &[Permission::SecurityDataRead]);
        assert_eq!(role_permissions("analyst").len(), 3);
        assert_eq!(role_permissions("admin"), Permission::ALL);
        assert!(role_permissions("root").is_empty());
    }

    #[test]
    fn names_round_trip() {
        for &p in Permission::ALL {
            assert_eq!(Permission::from_name(p.as_str()), Some(p));
        }
    }
}
