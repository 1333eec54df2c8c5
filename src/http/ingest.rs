//! `POST /ingest/microsoft-graph`: incidents as a Microsoft Graph connector
//! has them (`GET /security/incidents?$expand=alerts`: one incident or a
//! page of them), authenticated by an API key (or token) holding
//! `INCIDENTS_INGEST`, rate-limited like a GraphQL operation.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AppState, error_response, is_json, read_body_within, refusal};
use crate::auth::IngestIncidents;
use crate::domain::incident::ingest::{self, Batch, IngestOutcome};
use crate::domain::incident::microsoft;
use crate::graphql::errors::ErrorCode;

/// The most bytes one ingestion request carries (100 Microsoft incidents
/// with their alerts and evidence fit with room to spare).
pub const MAX_INGEST_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IngestParams {
    /// Whether closing a case writes its verdict back to these incidents (default true).
    sync_back: Option<bool>,
}

pub(super) async fn microsoft_graph(
    State(state): State<AppState>,
    Query(params): Query<IngestParams>,
    request: axum::extract::Request,
) -> Response {
    let authorization = request.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let auth = match state.authenticate(authorization).await {
        Ok(auth) => auth,
        Err(e) => return refusal(&e),
    };
    let principal = match auth.principal() {
        Ok(principal) => principal.clone(),
        Err(e) => return refusal(&e),
    };
    let actor = match principal.grant::<IngestIncidents>() {
        Ok(actor) => actor,
        Err(e) => return refusal(&e),
    };
    let mut rate_headers = HeaderMap::new();
    match state.executor().charge(&principal, 1) {
        Ok(status) => {
            if let Some(status) = status {
                crate::graphql::rate_headers(&mut rate_headers, &status);
            }
        }
        Err((error, status)) => {
            let mut response = refusal(&error);
            crate::graphql::rate_headers(response.headers_mut(), &status);
            return response;
        }
    }
    let (headers, body) = match read_body_within(&state, request, MAX_INGEST_BODY_BYTES).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    if !is_json(&headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadUserInput,
            "POST /ingest/microsoft-graph needs `Content-Type: application/json`",
        );
    }
    let items = match microsoft::parse_body(&body) {
        Ok(items) => items,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, &message),
    };
    let batch = Batch { source: microsoft::SOURCE.to_owned(), sync_back: params.sync_back.unwrap_or(true), items };
    let reports = match ingest::ingest(state.db(), &actor, batch).await {
        Ok(reports) => reports,
        Err(e) => return refusal(&e),
    };
    let count = |o: IngestOutcome| reports.iter().filter(|r| r.outcome == o).count();
    let body = json!({
        "source": microsoft::SOURCE,
        "created": count(IngestOutcome::Created),
        "updated": count(IngestOutcome::Updated),
        "unchanged": count(IngestOutcome::Unchanged),
        "refused": count(IngestOutcome::Refused),
        "results": reports.iter().map(|r| json!({
            "index": r.index,
            "externalId": r.external_id,
            "outcome": r.outcome,
            "incidentId": r.incident_id.map(|id| id.0.to_string()),
            "reason": r.reason,
            "warnings": r.warnings,
        })).collect::<Vec<_>>(),
    });
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    response.headers_mut().extend(rate_headers);
    response
}
