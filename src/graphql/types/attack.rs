use async_graphql::{ID, Object};

use crate::domain::attack::{Tactic, Technique, catalogue};

/// A technique of the catalogue (see the schema description on its `#[Object]` impl).
pub struct AttackTechnique(pub &'static Technique);

/// A technique (or sub-technique) of the MITRE ATT&CK Enterprise matrix, from
/// the catalogue casebook ships (`attackCatalogueVersion` says which release).
#[Object]
impl AttackTechnique {
    /// `T1021`, or `T1021.002` for a sub-technique.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Its name, such as `SMB/Windows Admin Shares`.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The tactics (goals) it serves, in matrix order.
    async fn tactics(&self) -> Vec<AttackTactic> {
        let catalogue = catalogue();
        self.0
            .tactics
            .iter()
            .filter_map(|shortname| catalogue.tactics.iter().find(|t| &t.shortname == shortname))
            .map(AttackTactic)
            .collect()
    }
    /// Whether it is a sub-technique of another.
    async fn is_subtechnique(&self) -> bool {
        self.0.is_subtechnique()
    }
    /// Whether MITRE deprecated or revoked it: cases keep it, new use is refused.
    async fn is_deprecated(&self) -> bool {
        self.0.retired
    }
    /// Its page on attack.mitre.org.
    async fn url(&self) -> String {
        self.0.url()
    }
}

/// A tactic of the catalogue (see the schema description on its `#[Object]` impl).
pub struct AttackTactic(pub &'static Tactic);

/// A tactic of the ATT&CK Enterprise matrix: the adversary's goal.
#[Object]
impl AttackTactic {
    /// `TA0008`.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// `Lateral Movement`.
    async fn name(&self) -> &str {
        &self.0.name
    }
}
