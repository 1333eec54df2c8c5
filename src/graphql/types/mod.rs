//! Output types: resolvers over the domain's values. Nested relations go
//! through the request's loaders.

mod activity;
pub(crate) mod api_key;
mod attachment;
mod attack;
mod automation;
mod case;
mod connection;
mod incident;
mod relation;
mod search;
mod sla;
mod status;
mod task;
mod template;
pub(crate) mod user;
mod viewer;
mod webhook;

pub use activity::{ActivityEvent, Comment};
pub use attachment::{AttachmentConnection, attachment_page};
pub use attack::{AttackTactic, AttackTechnique};
pub use automation::{AutomationEffect, AutomationTestResult};
pub use case::CaseConnection;
pub use case::{ObservableConnection, ObservableFilterInput, observable_after};
pub use connection::{PageInfo, split_page};
pub use incident::{IncidentConnection, IncidentIngestedEvent, NEWEST_FIRST as INCIDENTS_NEWEST_FIRST};
pub use search::{SearchConnection, SearchEdge};
pub use sla::CaseMetricsGroup;
pub use viewer::Viewer;
pub use webhook::{WebhookWithSecret, webhook_id};
