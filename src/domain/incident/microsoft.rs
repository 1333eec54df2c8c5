//! Microsoft Graph security v1.0 `incident` objects (with `alerts`
//! expanded, as `GET /security/incidents?$expand=alerts` returns them) as
//! incidents to ingest. Names follow the v1.0 resources `incident`,
//! `alert`, `alertEvidence` and its derived types. Enum values are read
//! ignoring case (the docs show both `truePositive` and `TruePositive`).

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::ingest::{MAX_PER_CALL, SourceAlert, SourceEvidence, SourceIncident};
use crate::domain::observable::ObservableType;
use crate::domain::values::{IncidentSeverity, IncidentStatus};
use crate::domain::verdict::{Classification, Determination};

/// The source name incidents from this endpoint are ingested under.
pub const SOURCE: &str = "microsoft-graph";

/// A body's incidents: a single incident object, an OData page (`value`), or
/// an array of incidents. Each item is parsed on its own; the body as a whole
/// is refused only when it is none of these.
pub fn parse_body(body: &[u8]) -> Result<Vec<Result<SourceIncident, String>>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON (as Microsoft Graph sends it): {e}"))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("value") {
            Some(Value::Array(items)) => items,
            Some(_) => return Err("`value` must be an array of incidents".into()),
            None if object.contains_key("id") => vec![Value::Object(object)],
            None => return Err("the body must be an incident, or a page of incidents in `value`".into()),
        },
        _ => return Err("the body must be an incident, or a page of incidents in `value`".into()),
    };
    if items.len() > MAX_PER_CALL {
        return Err(format!("at most {MAX_PER_CALL} incidents per request; this one has {}", items.len()));
    }
    Ok(items.into_iter().map(incident).collect())
}

fn incident(value: Value) -> Result<SourceIncident, String> {
    let Value::Object(object) = value else { return Err("an incident must be a JSON object".into()) };
    let mut warnings = Vec::new();
    let external_id = id(&object, "id")?.ok_or("`id` is required")?;
    let title = string(&object, "displayName")?.ok_or("`displayName` is required")?;
    let last_updated_at = time(&object, "lastUpdateDateTime")?.ok_or("`lastUpdateDateTime` is required")?;
    let severity = severity(&object, &mut warnings)?;
    let redirected_to = id(&object, "redirectIncidentId")?;
    let status = match lower(&object, "status")?.as_deref() {
        None | Some("active") => IncidentStatus::Active,
        Some("inprogress") => IncidentStatus::InProgress,
        Some("resolved") => IncidentStatus::Resolved,
        // Merged into another incident: done with here; `redirectedTo` says where.
        Some("redirected") => IncidentStatus::Resolved,
        Some(other) => {
            warnings.push(format!("status {other:?} is read as ACTIVE"));
            IncidentStatus::Active
        }
    };
    let classification = match lower(&object, "classification")?.as_deref() {
        None | Some("unknown") | Some("unknownfuturevalue") => None,
        Some("truepositive") => Some(Classification::TruePositive),
        Some("falsepositive") => Some(Classification::FalsePositive),
        Some("informationalexpectedactivity") => Some(Classification::BenignPositive),
        Some(other) => {
            warnings.push(format!("classification {other:?} is not known; left empty"));
            None
        }
    };
    let determination = match lower(&object, "determination")?.as_deref() {
        None | Some("unknown") | Some("unknownfuturevalue") => None,
        Some(name) => {
            let known = determination(name);
            if known.is_none() {
                warnings.push(format!("determination {name:?} is not known; left empty"));
            }
            known
        }
    };
    let mut tags = Vec::new();
    for field in ["customTags", "systemTags", "tags"] {
        tags.extend(strings(&object, field)?);
    }
    let alerts = match object.get("alerts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(alerts)) => {
            alerts.iter().enumerate().map(|(n, a)| alert(n, a, &mut warnings)).collect::<Result<_, _>>()?
        }
        Some(_) => return Err("`alerts` must be an array".into()),
    };
    Ok(SourceIncident {
        external_id,
        title,
        severity,
        status,
        classification,
        determination,
        assigned_to: string(&object, "assignedTo")?,
        tags,
        web_url: string(&object, "incidentWebUrl")?,
        redirected_to,
        last_updated_at,
        alerts,
        warnings,
    })
}

fn determination(name: &str) -> Option<Determination> {
    use Determination::*;
    Some(match name {
        "malware" => Malware,
        "phishing" => Phishing,
        "compromiseduser" | "compromisedaccount" => CompromisedAccount,
        "malicioususeractivity" => MaliciousUserActivity,
        "multistagedattack" => MultiStagedAttack,
        "unwantedsoftware" => UnwantedSoftware,
        "securitytesting" => SecurityTesting,
        "securitypersonnel" => SecurityPersonnel,
        "confirmeduseractivity" | "confirmedactivity" => ConfirmedUserActivity,
        "lineofbusinessapplication" => LineOfBusinessApplication,
        "clean" | "notmalicious" => NotMalicious,
        "insufficientdata" | "notenoughdatatovalidate" => NotEnoughDataToValidate,
        // An advanced persistent threat, and Microsoft's own `other`: no
        // narrower reason here.
        "apt" | "other" => Other,
        _ => return None,
    })
}

fn severity(object: &Map<String, Value>, warnings: &mut Vec<String>) -> Result<IncidentSeverity, String> {
    Ok(match lower(object, "severity")?.as_deref() {
        Some("informational") => IncidentSeverity::Informational,
        Some("low") => IncidentSeverity::Low,
        Some("medium") => IncidentSeverity::Medium,
        Some("high") => IncidentSeverity::High,
        other => {
            warnings.push(format!("severity {:?} is read as INFORMATIONAL", other.unwrap_or("absent")));
            IncidentSeverity::Informational
        }
    })
}

fn alert(n: usize, value: &Value, warnings: &mut Vec<String>) -> Result<SourceAlert, String> {
    let Value::Object(object) = value else { return Err(format!("alerts[{n}] must be a JSON object")) };
    let at = |e: String| format!("alerts[{n}]: {e}");
    let external_id = match id(object, "id").map_err(at)? {
        Some(id) => id,
        None => id(object, "providerAlertId").map_err(at)?.ok_or_else(|| at("`id` is required".into()))?,
    };
    let title = string(object, "title").map_err(at)?.ok_or_else(|| at("`title` is required".into()))?;
    let mut notes = Vec::new();
    let severity = severity(object, &mut notes).map_err(at)?;
    warnings.extend(notes.into_iter().map(|w| format!("alert {external_id}: {w}")));
    let evidence = match object.get("evidence") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(evidence).collect(),
        Some(_) => return Err(at("`evidence` must be an array".into())),
    };
    let mut raw = object.clone();
    for mapped in ["id", "title", "severity", "category", "detectionSource", "mitreTechniques", "evidence"] {
        raw.remove(mapped);
    }
    Ok(SourceAlert {
        title,
        severity,
        category: string(object, "category").map_err(at)?,
        detection_source: string(object, "detectionSource").map_err(at)?,
        first_activity_at: time(object, "firstActivityDateTime").map_err(at)?,
        last_activity_at: time(object, "lastActivityDateTime").map_err(at)?,
        techniques: strings(object, "mitreTechniques").map_err(at)?,
        evidence,
        raw: Value::Object(raw),
        external_id,
    })
}

/// One evidence item: its `@odata.type` without the namespace, and the
/// indicators its type names. Types this mapping does not know name none
/// (ingestion reports them) and are kept as given.
fn evidence(value: &Value) -> SourceEvidence {
    let kind = value
        .get("@odata.type")
        .and_then(Value::as_str)
        .map(|t| t.trim_start_matches('#').trim_start_matches("microsoft.graph.security.").to_owned())
        .unwrap_or_else(|| "evidence".to_owned());
    let mut indicators = Vec::new();
    let mut add = |kind: ObservableType, value: Option<&str>| {
        if let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) {
            indicators.push((kind, value.to_owned()));
        }
    };
    let text = |v: &Value, field: &str| v.get(field).and_then(Value::as_str).map(str::to_owned);
    let file = |v: Option<&Value>, add: &mut dyn FnMut(ObservableType, Option<&str>)| {
        if let Some(details) = v.filter(|d| d.is_object()) {
            add(ObservableType::FileHashSha256, text(details, "sha256").as_deref());
            add(ObservableType::FileHashSha1, text(details, "sha1").as_deref());
            add(ObservableType::FileHashMd5, text(details, "md5").as_deref());
            add(ObservableType::FileName, text(details, "fileName").as_deref());
        }
    };
    let account = |v: Option<&Value>, add: &mut dyn FnMut(ObservableType, Option<&str>)| {
        if let Some(user) = v.filter(|u| u.is_object()) {
            let name = text(user, "accountName");
            match (text(user, "domainName"), &name) {
                (Some(domain), Some(name)) if !domain.trim().is_empty() => {
                    add(ObservableType::UserAccount, Some(&format!("{domain}\\{name}")))
                }
                _ => add(ObservableType::UserAccount, name.as_deref()),
            }
            add(ObservableType::UserAccount, text(user, "userPrincipalName").as_deref());
        }
    };
    let registry = |v: &Value| match (text(v, "registryHive"), text(v, "registryKey")) {
        (Some(hive), Some(key)) => Some(format!("{hive}\\{key}")),
        (None, key) => key,
        (hive, None) => hive,
    };
    match kind.as_str() {
        "ipEvidence" => add(ObservableType::IpAddress, text(value, "ipAddress").as_deref()),
        "urlEvidence" => add(ObservableType::Url, text(value, "url").as_deref()),
        "fileEvidence" => file(value.get("fileDetails"), &mut add),
        "processEvidence" => {
            add(ObservableType::Process, text(value, "processCommandLine").as_deref());
            file(value.get("imageFile"), &mut add);
            account(value.get("userAccount"), &mut add);
        }
        "userEvidence" => account(value.get("userAccount"), &mut add),
        "mailboxEvidence" => add(ObservableType::EmailAddress, text(value, "primaryAddress").as_deref()),
        "deviceEvidence" => {
            let name = text(value, "deviceDnsName").or_else(|| text(value, "hostName"));
            add(ObservableType::Hostname, name.as_deref());
            if let Some(Value::Array(addresses)) = value.get("ipInterfaces") {
                for address in addresses.iter().filter_map(Value::as_str).take(6) {
                    add(ObservableType::IpAddress, Some(address));
                }
            }
        }
        "registryKeyEvidence" | "registryValueEvidence" => add(ObservableType::RegistryKey, registry(value).as_deref()),
        _ => {}
    }
    SourceEvidence { kind, indicators, raw: value.clone() }
}

fn string(object: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("`{field}` must be a string, not {}", kind_of(other))),
    }
}

/// An id: a string, or a number as some exports write them.
fn id(object: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match object.get(field) {
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        _ => string(object, field),
    }
}

fn lower(object: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    Ok(string(object, field)?.map(|s| s.to_ascii_lowercase()))
}

fn strings(object: &Map<String, Value>, field: &str) -> Result<Vec<String>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("`{field}` must hold strings, not {}", kind_of(other))),
            })
            .collect(),
        Some(other) => Err(format!("`{field}` must be an array of strings, not {}", kind_of(other))),
    }
}

fn time(object: &Map<String, Value>, field: &str) -> Result<Option<NaiveDateTime>, String> {
    let Some(text) = string(object, field)? else { return Ok(None) };
    let at = chrono::DateTime::parse_from_rfc3339(&text)
        .map_err(|_| format!("`{field}` {text:?} is not an ISO 8601 date-time"))?
        .naive_utc();
    // Graph writes `0001-01-01T00:00:00Z` for a time it does not have.
    use chrono::Datelike;
    Ok((at.year() >= 1900).then_some(at))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
