//! The domain's enums in the schema. The domain names each value
//! (`as_str`) and documents it (`DOC`, `doc()`: its doc comments); this
//! module makes those GraphQL enum types, so the domain derives nothing of
//! async-graphql. The descriptions are the doc comments as async-graphql's
//! derive would take them: lines trimmed and joined, the whole trimmed.

use std::borrow::Cow;

use async_graphql::indexmap::IndexMap;
use async_graphql::registry::{Deprecation, MetaEnumValue, MetaType, MetaTypeId, Registry};

use crate::auth::Permission;
use crate::domain::activity::{ActivityKind, AuditAction};
use crate::domain::attachment::DownloadVia;
use crate::domain::automation::AutomationActionType;
use crate::domain::bulk::CaseOutcome;
use crate::domain::facts::AutomationTrigger;
use crate::domain::incident::IncidentOrderField;
use crate::domain::incident::ingest::IngestOutcome;
use crate::domain::metrics::MetricsDimension;
use crate::domain::observable::{ObservableType, Tlp};
use crate::domain::queue::{CaseOrderField, OrderDirection};
use crate::domain::relation::RelationKind;
use crate::domain::search::SearchKind;
use crate::domain::sla::SlaState;
use crate::domain::status::StatusCategory;
use crate::domain::values::{CasePriority, IncidentSeverity, IncidentStatus, TaskStatus};
use crate::domain::verdict::{Classification, Determination};
use crate::domain::webhook::{WebhookDeliveryStatus, WebhookEventType};

/// A description from a doc comment's lines; none for no text.
fn description(lines: &[&str]) -> Option<String> {
    let joined = lines.iter().map(|line| line.trim()).collect::<Vec<_>>().join("\n");
    let text = joined.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Registers the enum type `name` with its values, each `(name, doc lines)`.
fn register<T: async_graphql::InputType>(
    registry: &mut Registry,
    name: &'static str,
    doc: &[&str],
    values: impl Iterator<Item = (&'static str, &'static [&'static str])>,
) -> String {
    let values: Vec<_> = values.collect();
    let enum_values = || -> IndexMap<String, MetaEnumValue> {
        values
            .iter()
            .map(|&(value, doc)| {
                let meta = MetaEnumValue {
                    name: value.to_owned(),
                    description: description(doc),
                    deprecation: Deprecation::NoDeprecated,
                    visible: None,
                    inaccessible: false,
                    tags: Vec::new(),
                    directive_invocations: Vec::new(),
                };
                (value.to_owned(), meta)
            })
            .collect()
    };
    registry.create_input_type::<T, _>(MetaTypeId::Enum, |_| MetaType::Enum {
        name: name.to_owned(),
        description: description(doc),
        enum_values: enum_values(),
        visible: None,
        inaccessible: false,
        tags: Vec::new(),
        rust_typename: Some(std::any::type_name::<T>()),
        directive_invocations: Vec::new(),
        requires_scopes: Vec::new(),
    })
}

/// Makes each named type a GraphQL enum of the same name: input, output,
/// and a value of the generic path.
macro_rules! schema_enums {
    ($($ty:ident),+ $(,)?) => {$(
        impl async_graphql::resolver_utils::EnumType for $ty {
            fn items() -> &'static [async_graphql::resolver_utils::EnumItem<$ty>] {
                static ITEMS: std::sync::OnceLock<Vec<async_graphql::resolver_utils::EnumItem<$ty>>> =
                    std::sync::OnceLock::new();
                ITEMS.get_or_init(|| {
                    $ty::ALL
                        .iter()
                        .map(|value| async_graphql::resolver_utils::EnumItem { name: value.as_str(), value: *value })
                        .collect()
                })
            }
        }

        impl async_graphql::InputType for $ty {
            type RawValueType = Self;

            fn type_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }

            fn create_type_info(registry: &mut Registry) -> String {
                register::<Self>(registry, stringify!($ty), $ty::DOC, $ty::ALL.iter().map(|v| (v.as_str(), v.doc())))
            }

            fn parse(value: Option<async_graphql::Value>) -> async_graphql::InputValueResult<Self> {
                async_graphql::resolver_utils::parse_enum(value.unwrap_or_default())
            }

            fn to_value(&self) -> async_graphql::Value {
                async_graphql::resolver_utils::enum_value(*self)
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }
        }

        impl async_graphql::OutputType for $ty {
            fn type_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }

            fn create_type_info(registry: &mut Registry) -> String {
                <Self as async_graphql::InputType>::create_type_info(registry)
            }

            async fn resolve(
                &self,
                _: &async_graphql::ContextSelectionSet<'_>,
                _: &async_graphql::Positioned<async_graphql::parser::types::Field>,
            ) -> async_graphql::ServerResult<async_graphql::Value> {
                Ok(async_graphql::resolver_utils::enum_value(*self))
            }
        }
    )+};
}

schema_enums!(
    ActivityKind,
    AuditAction,
    AutomationActionType,
    AutomationTrigger,
    CaseOrderField,
    CaseOutcome,
    CasePriority,
    Classification,
    Determination,
    DownloadVia,
    IncidentOrderField,
    IncidentSeverity,
    IncidentStatus,
    IngestOutcome,
    MetricsDimension,
    ObservableType,
    OrderDirection,
    Permission,
    RelationKind,
    SearchKind,
    SlaState,
    StatusCategory,
    TaskStatus,
    Tlp,
    WebhookDeliveryStatus,
    WebhookEventType,
);
