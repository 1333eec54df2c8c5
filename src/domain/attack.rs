//! MITRE ATT&CK techniques on cases. The catalogue is the Enterprise matrix,
//! shipped as data (`data/attack/enterprise-attack.json`, generated from
//! MITRE's STIX release by `scripts/attack-catalogue.py`; MITRE's terms of use
//! are in `data/attack/LICENSE.txt`). Nothing is fetched at run time.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;

use crate::auth::{Granted, ManageAlerts};
use crate::db::Conn;
use crate::db::schema::case_techniques;
use crate::domain::activity::{self, AuditAction, FieldChange, NewAudit};
use crate::domain::case::{self, Case, CaseId};
use crate::domain::now;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The most techniques one case carries.
pub const MAX_TECHNIQUES_PER_CASE: usize = 50;
/// The most tactics a technique belongs to (it bounds `AttackTechnique.tactics`).
pub const MAX_TACTICS: usize = 16;

/// A column of the matrix: the adversary's goal.
#[derive(Debug, Clone, Deserialize)]
pub struct Tactic {
    /// `TA0008`.
    pub id: String,
    /// `Lateral Movement`.
    pub name: String,
    /// `lateral-movement`: how techniques name it.
    pub shortname: String,
}

/// A technique or sub-technique of the catalogue.
#[derive(Debug, Clone, Deserialize)]
pub struct Technique {
    /// `T1021`, or `T1021.002` for a sub-technique.
    pub id: String,
    pub name: String,
    /// Tactic shortnames, in matrix order.
    pub tactics: Vec<String>,
    /// Deprecated or revoked by MITRE: kept so cases that carry it still
    /// read, refused for new use.
    pub retired: bool,
}

impl Technique {
    pub fn is_subtechnique(&self) -> bool {
        self.id.contains('.')
    }

    /// Its page on attack.mitre.org.
    pub fn url(&self) -> String {
        format!("https://attack.mitre.org/techniques/{}/", self.id.replace('.', "/"))
    }
}

/// The shipped catalogue.
#[derive(Debug, Deserialize)]
pub struct Catalogue {
    /// The ATT&CK release, such as `18.1`.
    pub version: String,
    pub tactics: Vec<Tactic>,
    pub techniques: Vec<Technique>,
    #[serde(skip)]
    by_id: HashMap<String, usize>,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // shipped data, checked by a unit test
    let mut catalogue: Catalogue = serde_json::from_str(include_str!("../../data/attack/enterprise-attack.json"))
        .expect("the shipped ATT&CK catalogue parses");
    catalogue.by_id = catalogue.techniques.iter().enumerate().map(|(i, t)| (t.id.clone(), i)).collect();
    catalogue
});

/// The catalogue, parsed once.
pub fn catalogue() -> &'static Catalogue {
    &CATALOGUE
}

impl Catalogue {
    pub fn technique(&self, id: &str) -> Option<&Technique> {
        self.by_id.get(id).map(|&i| &self.techniques[i])
    }

    /// A tactic by id (`TA0008`), shortname or name, ignoring case.
    pub fn tactic(&self, wanted: &str) -> Option<&Tactic> {
        let wanted = wanted.trim();
        self.tactics.iter().find(|t| {
            t.id.eq_ignore_ascii_case(wanted)
                || t.shortname.eq_ignore_ascii_case(wanted)
                || t.name.eq_ignore_ascii_case(wanted)
        })
    }

    /// The techniques a picker offers (retired ones left out), by id: those
    /// whose id starts with `search` or whose name holds each of its words,
    /// in `tactic` when given.
    pub fn find(&self, search: Option<&str>, tactic: Option<&Tactic>, limit: usize) -> Vec<&Technique> {
        let search = search.map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
        let words: Vec<&str> = search.as_deref().map(|s| s.split_whitespace().collect()).unwrap_or_default();
        self.techniques
            .iter()
            .filter(|t| !t.retired)
            .filter(|t| tactic.is_none_or(|tactic| t.tactics.contains(&tactic.shortname)))
            .filter(|t| match &search {
                None => true,
                Some(search) => {
                    let name = t.name.to_lowercase();
                    t.id.to_lowercase().starts_with(search.as_str()) || words.iter().all(|w| name.contains(w))
                }
            })
            .take(limit)
            .collect()
    }

    /// The ids a case filter's technique ids stand for: each, and the
    /// sub-techniques of each technique. Unknown ids are refused.
    pub fn expand(&self, field: &str, ids: &[String]) -> AppResult<Vec<String>> {
        let mut expanded = Vec::new();
        for id in ids {
            let id = id.trim().to_uppercase();
            if self.technique(&id).is_none() {
                return Err(AppError::bad_input(field, format!("{id} is not an ATT&CK Enterprise technique")));
            }
            let prefix = format!("{id}.");
            expanded.extend(self.techniques.iter().filter(|t| t.id.starts_with(&prefix)).map(|t| t.id.clone()));
            expanded.push(id);
        }
        expanded.sort();
        expanded.dedup();
        Ok(expanded)
    }

    /// The technique ids a case filter's `techniqueIds` and `tactics` stand
    /// for, one group per criterion given (a case must carry one id of each).
    pub fn filter_groups(&self, ids: Option<Vec<String>>, tactics: Option<Vec<String>>) -> AppResult<Vec<Vec<String>>> {
        let mut groups = Vec::new();
        if let Some(ids) = ids.filter(|ids| !ids.is_empty()) {
            refuse_past_limit("filter.techniqueIds", &ids)?;
            groups.push(self.expand("filter.techniqueIds", &ids)?);
        }
        if let Some(tactics) = tactics.filter(|tactics| !tactics.is_empty()) {
            refuse_past_limit("filter.tactics", &tactics)?;
            groups.push(self.in_tactics("filter.tactics", &tactics)?);
        }
        Ok(groups)
    }

    /// A tactic an argument names (see [`Catalogue::tactic`]); unknown ones are refused.
    pub fn require_tactic(&self, field: &str, wanted: &str) -> AppResult<&Tactic> {
        self.tactic(wanted)
            .ok_or_else(|| AppError::bad_input(field, format!("{wanted:?} is not an ATT&CK Enterprise tactic")))
    }

    /// The ids of every technique in these tactics (ids, shortnames or
    /// names); unknown tactics are refused.
    pub fn in_tactics(&self, field: &str, tactics: &[String]) -> AppResult<Vec<String>> {
        let mut shortnames = Vec::new();
        for wanted in tactics {
            let tactic = self.require_tactic(field, wanted)?;
            shortnames.push(&tactic.shortname);
        }
        Ok(self
            .techniques
            .iter()
            .filter(|t| t.tactics.iter().any(|s| shortnames.contains(&s)))
            .map(|t| t.id.clone())
            .collect())
    }
}

fn refuse_past_limit(field: &str, values: &[String]) -> AppResult<()> {
    if values.len() > MAX_TECHNIQUES_PER_CASE {
        return Err(AppError::bad_input(field, format!("at most {MAX_TECHNIQUES_PER_CASE} values")));
    }
    Ok(())
}

/// The technique ids of each of these cases, as (case id, technique id), by id.
pub async fn of_cases(conn: &mut Conn<'_>, tenant: &str, case_ids: &[CaseId]) -> AppResult<Vec<(i64, String)>> {
    let ids: Vec<i64> = case_ids.iter().map(|id| id.0).collect();
    let pairs = with_conn!(conn, c => {
        case_techniques::table
            .filter(case_techniques::tenant_id.eq(tenant))
            .filter(case_techniques::case_id.eq_any(&ids))
            .order(case_techniques::technique_id.asc())
            .select((case_techniques::case_id, case_techniques::technique_id))
            .load(c)
            .await
    })?;
    Ok(pairs)
}

/// A case-technique row (the API's and the demo's one write path).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = case_techniques)]
pub struct CaseTechniqueRow {
    pub tenant_id: String,
    pub case_id: i64,
    pub technique_id: String,
    pub added_by: String,
    pub added_at: NaiveDateTime,
}

/// Inserts case-technique rows in one statement.
pub async fn insert_rows(conn: &mut Conn<'_>, rows: &[CaseTechniqueRow]) -> AppResult<()> {
    crate::bulk_insert!(conn, case_techniques::table, rows)?;
    Ok(())
}

/// Links a case to techniques it does not carry yet (checked against the
/// catalogue by the caller), without an audit event (the caller audits).
pub async fn attach(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    ids: &[&String],
) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let now = now();
    let rows: Vec<CaseTechniqueRow> = ids
        .iter()
        .map(|id| CaseTechniqueRow {
            tenant_id: actor.tenant.clone(),
            case_id: case_id.0,
            technique_id: (*id).clone(),
            added_by: actor.user_id.clone(),
            added_at: now,
        })
        .collect();
    insert_rows(conn, &rows).await
}

/// Sets a case's techniques to exactly `ids` (ignoring case and repeats).
/// Unknown ids are refused, and so are retired ones unless the case already
/// carries them. A change is one audit event with the old and new lists.
pub async fn set(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    ids: &[String],
) -> AppResult<Case> {
    let tenant = actor.tenant.as_str();
    let mut wanted: Vec<String> = ids.iter().map(|id| id.trim().to_uppercase()).collect();
    wanted.sort();
    wanted.dedup();
    if wanted.len() > MAX_TECHNIQUES_PER_CASE {
        return Err(AppError::bad_input("techniqueIds", format!("a case carries at most {MAX_TECHNIQUES_PER_CASE}")));
    }
    let current = case::lock_existing(conn, tenant, case_id).await?;
    let old: Vec<String> = of_cases(conn, tenant, &[case_id]).await?.into_iter().map(|(_, id)| id).collect();
    let catalogue = catalogue();
    let unknown: Vec<&str> = wanted.iter().filter(|id| catalogue.technique(id).is_none()).map(String::as_str).collect();
    let retired: Vec<&str> = wanted
        .iter()
        .filter(|id| catalogue.technique(id).is_some_and(|t| t.retired) && !old.contains(id))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() || !retired.is_empty() {
        let mut problems = Vec::new();
        if !unknown.is_empty() {
            problems.push(format!("unknown: {}", unknown.join(", ")));
        }
        if !retired.is_empty() {
            problems.push(format!("deprecated or revoked: {}", retired.join(", ")));
        }
        return Err(AppError::bad_input(
            "techniqueIds",
            format!("not ATT&CK Enterprise {} techniques ({})", catalogue.version, problems.join("; ")),
        ));
    }
    if wanted == old {
        return Ok(current);
    }
    let gone: Vec<&String> = old.iter().filter(|id| !wanted.contains(id)).collect();
    if !gone.is_empty() {
        let target = case_techniques::table
            .filter(case_techniques::tenant_id.eq(tenant))
            .filter(case_techniques::case_id.eq(case_id.0))
            .filter(case_techniques::technique_id.eq_any(gone));
        with_conn!(conn, c => diesel::delete(target).execute(c).await)?;
    }
    let added: Vec<&String> = wanted.iter().filter(|id| !old.contains(id)).collect();
    attach(conn, actor, case_id, &added).await?;
    let list = |ids: &[String]| (!ids.is_empty()).then(|| ids.join(", "));
    let change = FieldChange::new("techniques", list(&old), list(&wanted));
    let (case, seq) = case::touch(conn, actor, case_id, 1).await?;
    activity::record_audits(
        conn,
        actor,
        case_id,
        seq,
        vec![NewAudit::new(AuditAction::TechniquesChanged, vec![change])],
    )
    .await?;
    Ok(case)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalogue_parses_and_knows_its_techniques() {
        let catalogue = catalogue();
        assert!(!catalogue.version.is_empty());
        assert_eq!(catalogue.tactics.len(), 14, "the Enterprise matrix has 14 tactics");
        assert!(
            catalogue.tactics.iter().all(|t| catalogue.techniques.iter().any(|x| x.tactics.contains(&t.shortname)))
        );
        let smb = catalogue.technique("T1021.002").unwrap();
        assert_eq!((smb.name.as_str(), smb.is_subtechnique()), ("SMB/Windows Admin Shares", true));
        assert_eq!(smb.url(), "https://attack.mitre.org/techniques/T1021/002/");
        assert_eq!(catalogue.tactic("ta0008").unwrap().name, "Lateral Movement");
        assert_eq!(catalogue.tactic("lateral movement").unwrap().id, "TA0008");
        assert!(catalogue.techniques.iter().all(|t| t.tactics.len() <= MAX_TACTICS));
    }

    #[test]
    fn pickers_find_by_id_prefix_or_name_words_without_retired_ones() {
        let catalogue = catalogue();
        let ids =
            |search: &str| catalogue.find(Some(search), None, 100).iter().map(|t| t.id.clone()).collect::<Vec<_>>();
        assert!(ids("t1021").starts_with(&["T1021".to_owned(), "T1021.001".to_owned()]));
        assert!(ids("admin shares").contains(&"T1021.002".to_owned()));
        assert!(catalogue.find(None, None, 10_000).iter().all(|t| !t.retired));
        let lateral = catalogue.tactic("TA0008");
        assert!(
            catalogue.find(None, lateral, 10_000).iter().all(|t| t.tactics.contains(&"lateral-movement".to_owned()))
        );
    }

    #[test]
    fn filters_expand_a_technique_to_its_subtechniques() {
        let catalogue = catalogue();
        let expanded = catalogue.expand("f", &["t1021".to_owned()]).unwrap();
        assert!(expanded.contains(&"T1021".to_owned()) && expanded.contains(&"T1021.002".to_owned()));
        assert!(!expanded.iter().any(|id| id.starts_with("T1022")));
        assert!(catalogue.expand("f", &["T9999".to_owned()]).is_err());
        assert!(catalogue.in_tactics("f", &["no such tactic".to_owned()]).is_err());
    }
}
