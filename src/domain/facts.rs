//! What a domain write records of what happened, for the reactions that
//! follow it before its transaction commits (`domain::pipeline`, in the order
//! written there). Entity modules record these and return; none of them
//! calls search, automation or webhooks. The audit and comment entries
//! themselves are recorded by the activity log ([`activity::Logged`](super::activity::Logged)).

use crate::auth::Principal;
use crate::domain::values::{CaseId, IncidentId, text_enum};

text_enum! {
    /// What starts a rule.
    pub enum AutomationTrigger {
        /// A case was opened.
        CaseCreated => "CASE_CREATED",
        /// A case's fields changed (any of them, its status too).
        CaseUpdated => "CASE_UPDATED",
        /// A case moved to another status.
        StatusChanged => "STATUS_CHANGED",
        /// A task of the case changed status.
        TaskStatusChanged => "TASK_STATUS_CHANGED",
        /// An incident was linked to the case.
        IncidentLinked => "INCIDENT_LINKED",
        /// A comment was added to the case.
        CommentAdded => "COMMENT_ADDED",
        /// The case's SLA became at risk.
        SlaAtRisk => "SLA_AT_RISK",
        /// The case's SLA was breached.
        SlaBreached => "SLA_BREACHED",
        /// An incident was ingested, new or updated by its source (rules
        /// with this trigger test the incident and place it on a case).
        IncidentIngested => "INCIDENT_INGESTED",
    }
}

/// A case moved to a closed status (`closed`), or out of one: its linked
/// incidents that sync back take its verdict, or are reopened.
#[derive(Debug, Clone)]
pub struct CaseClosure {
    pub actor: Principal,
    pub case_id: CaseId,
    pub closed: bool,
}

/// An ingestion created or changed incidents: rules watching
/// INCIDENT_INGESTED may place them on cases.
#[derive(Debug, Clone)]
pub struct IncidentsIngested {
    pub actor: Principal,
    pub incident_ids: Vec<IncidentId>,
}

/// A change that may start automation rules: who made it, on which case,
/// and what it was. A change made by a rule starts none (rules do not
/// trigger rules: the pipeline's rounds stay bounded).
#[derive(Debug, Clone)]
pub struct Triggered {
    pub actor: Principal,
    pub case_id: CaseId,
    pub triggers: Vec<AutomationTrigger>,
}

/// Text that search must index again (or forget).
#[derive(Debug, Clone)]
pub enum Reindex {
    /// A case's title or description changed; `with_evidence` when its
    /// entry also carries its observables' values (a new case has none).
    Case { tenant: String, case_id: CaseId, title: String, description: Option<String>, with_evidence: bool },
    /// A task was written.
    Task { tenant: String, task_id: i64, case_id: CaseId, title: String, description: Option<String> },
    /// A task was removed.
    TaskRemoved { tenant: String, task_id: i64 },
    /// A comment was added.
    Comment { tenant: String, activity_id: i64, case_id: CaseId, body: String },
}
