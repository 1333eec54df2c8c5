//! `@requiresPermission`: declared once per root field, shown in the SDL, and
//! enforced from that same declaration.
//!
//! The directive is applied with `#[graphql(directive = requires_permission::apply(..))]`,
//! which puts it in the schema registry (and so in the SDL). Admission
//! ([`super::admission::access`]) reads it back from a registry built from the
//! same root types before an operation executes, so a field cannot show one
//! permission and check another. Checking once per operation, before
//! execution, also rejects a subscription at subscribe time instead of on
//! every event.

use async_graphql::TypeDirective;

use crate::auth::Permission;

/// The SDL declaration: `directive @requiresPermission(permission: Permission!) on FIELD_DEFINITION`.
#[TypeDirective(name = "requiresPermission", location = "FieldDefinition")]
pub fn requires_permission(permission: Permission) {}
