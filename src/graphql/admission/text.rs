//! Every text a request gives has a length bound, stated here once for the
//! whole schema (by the name of the argument or input field that takes it),
//! checked before anything executes, the same on both databases: no text
//! reaches a resolver or the database longer than its bound. The domain's
//! rules may be tighter (a title is at most 256 characters); this is the
//! bound nothing is ever past. Texts inside variables are named by the
//! argument or input field they fill.

use std::collections::HashSet;

use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned, Value as ConstValue, Variables};
use async_graphql_value::Value;

use super::Refusal;
use crate::error::AppError;

/// The longest text any argument or input field takes, in characters,
/// unless [`BOUNDS`] names it: the longest text the product keeps (a
/// comment, a description).
pub const MAX_TEXT_CHARS: usize = crate::domain::values::MAX_TEXT_CHARS;

/// Texts bounded more tightly, by name: what is matched as typed (searches
/// and their words) is bounded as the search parser bounds it.
pub const BOUNDS: &[(&str, usize)] = &[
    ("search", crate::domain::search::query::MAX_CHARS),
    ("query", crate::domain::search::query::MAX_CHARS),
    ("textContains", crate::domain::search::query::MAX_CHARS),
];

/// The bound of the text an argument or input field of this name takes.
pub fn bound(name: &str) -> usize {
    BOUNDS.iter().find(|(n, _)| *n == name).map_or(MAX_TEXT_CHARS, |(_, max)| *max)
}

/// Refuses the first text of the operation (literal or variable) past its bound.
pub fn check(
    document: &ExecutableDocument,
    operation: &Positioned<OperationDefinition>,
    variables: &Variables,
) -> Result<(), Refusal> {
    let mut walk = Walk { document, variables, fragments: HashSet::new() };
    walk.selections(&operation.node.selection_set.node)
}

struct Walk<'d> {
    document: &'d ExecutableDocument,
    variables: &'d Variables,
    /// Fragments walked already (a cycle, refused later by validation, ends here).
    fragments: HashSet<&'d str>,
}

impl<'d> Walk<'d> {
    fn selections(&mut self, set: &'d SelectionSet) -> Result<(), Refusal> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    self.arguments(&field.node.arguments)?;
                    for directive in &field.node.directives {
                        self.arguments(&directive.node.arguments)?;
                    }
                    self.selections(&field.node.selection_set.node)?;
                }
                Selection::InlineFragment(fragment) => self.selections(&fragment.node.selection_set.node)?,
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if self.fragments.insert(name)
                        && let Some(fragment) = self.document.fragments.get(&Name::new(name))
                    {
                        self.selections(&fragment.node.selection_set.node)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn arguments(&self, arguments: &[(Positioned<Name>, Positioned<Value>)]) -> Result<(), Refusal> {
        for (name, value) in arguments {
            self.value(name.node.as_str(), &value.node)?;
        }
        Ok(())
    }

    fn value(&self, name: &str, value: &Value) -> Result<(), Refusal> {
        match value {
            Value::String(text) => within(name, text),
            Value::Variable(variable) => match self.variables.get(variable) {
                Some(given) => constant(name, given),
                None => Ok(()),
            },
            Value::List(items) => items.iter().try_for_each(|item| self.value(name, item)),
            Value::Object(fields) => fields.iter().try_for_each(|(key, item)| self.value(key.as_str(), item)),
            _ => Ok(()),
        }
    }
}

fn constant(name: &str, value: &ConstValue) -> Result<(), Refusal> {
    match value {
        ConstValue::String(text) => within(name, text),
        ConstValue::List(items) => items.iter().try_for_each(|item| constant(name, item)),
        ConstValue::Object(fields) => fields.iter().try_for_each(|(key, item)| constant(key.as_str(), item)),
        _ => Ok(()),
    }
}

fn within(name: &str, text: &str) -> Result<(), Refusal> {
    let max = bound(name);
    // Bytes first: a text no longer in bytes than the bound is within it in characters.
    if text.len() <= max || text.chars().count() <= max {
        return Ok(());
    }
    Err(Refusal::new(AppError::bad_input(name, format!("must be at most {max} characters"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(query: &str, variables: serde_json::Value) -> Result<(), String> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let operation = document.operations.iter().next().unwrap().1;
        let variables = Variables::from_json(variables);
        check(&document, operation, &variables).map_err(|r| r.error.to_string())
    }

    #[test]
    fn texts_are_bounded_by_the_name_that_takes_them() {
        let long = "x".repeat(70_000);
        let search = format!("{{ users(search: \"{}\") {{ id }} }}", "a".repeat(513));
        assert_eq!(checked(&search, serde_json::json!({})), Err("search: must be at most 512 characters".into()));
        let nested = "query($f: ObservableFilter) { observables(filter: $f) { totalCount } }";
        let refused = checked(nested, serde_json::json!({ "f": { "search": long } }));
        assert_eq!(refused, Err("search: must be at most 512 characters".into()));
        let body = "mutation($b: String!) { addComment(input: { caseId: \"1\", body: $b }) { id } }";
        assert!(checked(body, serde_json::json!({ "b": "é".repeat(16_384) })).is_ok());
        let refused = checked(body, serde_json::json!({ "b": "é".repeat(16_385) }));
        assert_eq!(refused, Err("body: must be at most 16384 characters".into()));
        let list = format!("{{ cases(filter: {{ assigneeIds: [\"a\", \"{long}\"] }}) {{ totalCount }} }}");
        assert!(checked(&list, serde_json::json!({})).unwrap_err().starts_with("assigneeIds:"));
    }

    #[test]
    fn fragments_are_walked_once() {
        let query = format!(
            "query {{ ...A }} fragment A on Query {{ ...B users(search: \"{}\") {{ id }} }} fragment B on Query {{ ...A }}",
            "a".repeat(600)
        );
        assert!(checked(&query, serde_json::json!({})).unwrap_err().starts_with("search:"));
    }
}
