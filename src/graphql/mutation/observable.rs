use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};

use super::{case_id, clearable, unclearable};
use crate::auth::{ManageAlerts, Permission};
use crate::domain::case::Case;
use crate::domain::observable::{
    self, NewObservable, Observable, ObservableChanges, ObservableId, ObservableType, Tlp,
};
use crate::error::AppError;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::numeric_id;
use crate::graphql::{db, grant};

/// One observable to add.
#[derive(InputObject)]
pub struct ObservableInput {
    /// What kind of indicator it is; decides how `value` is checked and written.
    #[graphql(name = "type")]
    pub kind: ObservableType,
    /// The value, as seen.
    pub value: String,
    /// An indicator of compromise (default `false`).
    pub is_ioc: Option<bool>,
    /// Who it may be shared with (default `AMBER`).
    pub tlp: Option<Tlp>,
    /// Plain-text notes.
    pub description: Option<String>,
}

/// Observables to add to a case.
#[derive(InputObject)]
pub struct AddObservablesInput {
    /// The case number.
    pub case_id: ID,
    /// At most 100; one the case already has (same type and canonical value) is left as it is.
    pub observables: Vec<ObservableInput>,
}

/// What `addObservables` did.
#[derive(SimpleObject)]
pub struct AddObservablesPayload {
    /// The case, as changed.
    pub case: Case,
    /// The observable each input item names, in input order: new, or the one the case had.
    pub observables: Vec<Observable>,
}

/// A change to an observable. Absent fields are left alone; `null` clears the description.
#[derive(InputObject)]
pub struct UpdateObservableInput {
    /// The observable's id.
    pub id: ID,
    /// Whether it is an indicator of compromise; cannot be cleared.
    pub is_ioc: MaybeUndefined<bool>,
    /// Who it may be shared with; cannot be cleared.
    pub tlp: MaybeUndefined<Tlp>,
    /// New notes.
    pub description: MaybeUndefined<String>,
}

/// An observable to remove.
#[derive(InputObject)]
pub struct RemoveObservableInput {
    /// The observable's id.
    pub id: ID,
}

fn observable_id(id: &ID) -> Result<ObservableId, AppError> {
    numeric_id(id).map(ObservableId).ok_or_else(|| AppError::not_found("observable", id.as_str()))
}

#[derive(Default)]
pub struct ObservableMutation;

#[Object]
impl ObservableMutation {
    /// Adds observables to a case in one change: values are checked and
    /// written in their type's canonical form; adding one again changes nothing.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn add_observables(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and its new observables.")] input: AddObservablesInput,
    ) -> GqlResult<AddObservablesPayload> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let case = case_id(&input.case_id)?;
        let items: Vec<NewObservable> = input
            .observables
            .into_iter()
            .map(|o| NewObservable {
                kind: o.kind,
                value: o.value,
                is_ioc: o.is_ioc,
                tlp: o.tlp,
                description: o.description,
            })
            .collect();
        let (case, observables) =
            db(ctx)?.write(async |conn| observable::add(conn, &actor, case, &items).await).await?;
        Ok(AddObservablesPayload { case, observables })
    }

    /// Changes an observable's IOC flag, TLP or description.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn update_observable(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The observable and its changes.")] input: UpdateObservableInput,
    ) -> GqlResult<Observable> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let id = observable_id(&input.id)?;
        let changes = ObservableChanges {
            is_ioc: unclearable("isIoc", input.is_ioc)?,
            tlp: unclearable("tlp", input.tlp)?,
            description: clearable(input.description),
        };
        Ok(db(ctx)?.write(async |conn| observable::update(conn, &actor, id, changes).await).await?)
    }

    /// Removes an observable from its case; the case's log keeps what it was.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn remove_observable(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The observable.")] input: RemoveObservableInput,
    ) -> GqlResult<Case> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let id = observable_id(&input.id)?;
        Ok(db(ctx)?.write(async |conn| observable::remove(conn, &actor, id).await).await?)
    }
}
