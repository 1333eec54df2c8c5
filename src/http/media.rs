//! GraphQL over HTTP's media types and status codes.
//!
//! `application/graphql-response+json` when the client accepts it (at least
//! as much as `application/json`); `application/json` otherwise, and when
//! `Accept` is missing or `*/*`. A request that failed before execution
//! (parsing, validation, variables, admission) has no `data` entry; with
//! `application/graphql-response+json` it gets a 4xx/5xx status, with
//! `application/json` a 200, as the spec says. A spent rate budget is 429
//! either way, with `Retry-After`.

use async_graphql::Value;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::graphql::errors::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Json,
    GraphqlResponseJson,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Media::Json => "application/json; charset=utf-8",
            Media::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// The media type to answer with; `None` when the client accepts neither.
pub fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let mut accepts = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).peekable();
    if accepts.peek().is_none() {
        return Some(Media::Json);
    }
    let (mut json, mut graphql) = (0.0f32, 0.0f32);
    for range in accepts.flat_map(|v| v.split(',')) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        match media.as_str() {
            "application/graphql-response+json" => graphql = graphql.max(quality),
            "application/json" | "*/*" | "application/*" => json = json.max(quality),
            _ => {}
        }
    }
    if graphql > 0.0 && graphql >= json {
        Some(Media::GraphqlResponseJson)
    } else if json > 0.0 {
        Some(Media::Json)
    } else {
        None
    }
}

fn code_of(error: &async_graphql::ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code")? {
        Value::String(code) => Some(code.as_str()),
        _ => None,
    }
}

/// The HTTP response for a GraphQL response.
pub fn respond(media: Media, mut response: async_graphql::Response) -> Response {
    // Execution errors carry a path; without data and without any path, the
    // request never executed.
    let not_executed = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let first_code = response.errors.first().and_then(code_of).unwrap_or_default();
    let status = if first_code == ErrorCode::RateLimited.as_str() {
        StatusCode::TOO_MANY_REQUESTS
    } else if media == Media::GraphqlResponseJson && not_executed {
        match first_code {
            "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
            "FORBIDDEN" => StatusCode::FORBIDDEN,
            "INTERNAL" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    } else {
        StatusCode::OK
    };
    let headers = std::mem::take(&mut response.http_headers);
    let body = if not_executed {
        serde_json::to_vec(&serde_json::json!({ "errors": response.errors }))
    } else {
        crate::graphql::response_json(&response)
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "encoding a response failed");
            br#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#.to_vec()
        }
    };
    let mut http = (status, body).into_response();
    http.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media.content_type()));
    http.headers_mut().extend(headers);
    http
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<Media> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        negotiate(&headers)
    }

    #[test]
    fn chooses_the_media_type_the_client_prefers() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(accept("application/json"), Some(Media::Json));
        assert_eq!(accept("*/*"), Some(Media::Json));
        assert_eq!(accept("application/graphql-response+json"), Some(Media::GraphqlResponseJson));
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(Media::GraphqlResponseJson)
        );
        assert_eq!(accept("application/graphql-response+json;q=0.5, application/json"), Some(Media::Json));
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/json;q=0"), None);
    }
}
