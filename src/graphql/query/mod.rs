//! Query root, merged from one object per entity.

mod api_key;
mod attack;
mod automation;
mod case;
mod incident;
mod me;
mod observable;
mod rate_limit;
mod search;
mod sla;
mod status;
mod tag;
mod task;
mod template;
mod user;
mod webhook;
mod workflow;

use async_graphql::MergedObject;

pub(crate) use case::CaseFilterInput;

/// Read the tenant's data.
#[derive(MergedObject, Default)]
pub struct Query(
    me::MeQuery,
    case::CaseQuery,
    attack::AttackQuery,
    task::TaskQuery,
    incident::IncidentQuery,
    observable::ObservableQuery,
    status::StatusQuery,
    sla::SlaQuery,
    sla::MetricsQuery,
    tag::TagQuery,
    template::TemplateQuery,
    automation::AutomationQuery,
    webhook::WebhookQuery,
    api_key::ApiKeyQuery,
    user::UserQuery,
    workflow::WorkflowQuery,
    search::SearchRoot,
    rate_limit::RateLimitQuery,
);
