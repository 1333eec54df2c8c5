//! Files over HTTP: uploads as GraphQL multipart requests (streamed to the
//! store as they arrive, never held whole) and downloads at
//! `GET /attachments/{id}`, with a bearer token or a signed link.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, JsonMap, error_response, has_preflight_header, parse_post, refusal};
use crate::auth::{Auth, ReadData};
use crate::domain::attachment::{self, Attachment, AttachmentId, DownloadVia, Staged, link, name, objects, sniff, zip};
use crate::error::AppError;
use crate::graphql::errors::ErrorCode;
use crate::graphql::upload::{Uploads, placeholder};
use crate::store::{Store, WriteError};

use super::upload_slots::{Full, MAX_UPLOADS, MAX_UPLOADS_PER_CALLER};

/// Files one request may carry.
pub const MAX_FILES_PER_REQUEST: usize = 10;
/// The `operations` part, like an ordinary request body.
const MAX_OPERATIONS_BYTES: u64 = super::MAX_BODY_BYTES as u64;
const MAX_MAP_BYTES: u64 = 64 * 1024;

/// Whether a POST is a multipart request (the spec's uploads).
pub(super) fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// POST /graphql as `multipart/form-data`: `operations`, `map`, then the
/// files, each streamed to the store as it arrives. A browser form can post
/// multipart across sites, so a preflight-forcing header is required (CSRF),
/// as Apollo Server and the spec's implementations do.
pub(super) async fn graphql_multipart(state: &AppState, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    if !has_preflight_header(&headers) {
        // As for the other content types a form can send: 415.
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadUserInput,
            "a multipart request needs an `Apollo-Require-Preflight` (or `X-Apollo-Operation-Name`) header: \
             browsers send it only after a CORS preflight, so another site cannot post files in a user's name",
        );
    }
    let Some(media) = super::media::negotiate(&headers) else {
        return super::not_acceptable();
    };
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let auth = match state.authenticate(authorization).await {
        Ok(auth) => auth,
        Err(e) => return refusal(&e),
    };
    let principal = match auth.principal() {
        Ok(principal) => principal.clone(),
        // As for any GraphQL request: the client's library reads it the same way.
        Err(e) => return super::refused_caller(state, media, e),
    };
    let tenant = principal.tenant.clone();
    // Refused before a byte is read: a caller out of budget, or with its
    // share of uploads in flight already.
    if let Err((error, status)) = state.executor().charge(&principal, 1) {
        let mut response = refusal(&error);
        crate::graphql::rate_headers(response.headers_mut(), &status);
        return response;
    }
    let _slot = match state.inner.uploads.take(&tenant, &principal.user_id) {
        Ok(slot) => slot,
        Err(full) => {
            let message = match full {
                Full::Process => format!("the server receives {MAX_UPLOADS} uploads at once: retry shortly"),
                Full::Caller => format!("{MAX_UPLOADS_PER_CALLER} uploads of yours are in flight: retry when one ends"),
            };
            let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited, &message);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
    };
    let attachments = state.attachments();
    let store = match attachments.store() {
        Ok(store) => store.clone(),
        Err(e) => return refusal(&e),
    };
    let limits = &attachments.settings.limits;
    let most = limits.max_file_bytes * MAX_FILES_PER_REQUEST as u64 + MAX_OPERATIONS_BYTES + MAX_MAP_BYTES + 65_536;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > most) {
        let message = attachment::too_large(limits.max_file_bytes).to_string();
        return error_response(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BadUserInput, &message);
    }
    let boundary = match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(multer::parse_boundary) {
        Some(Ok(boundary)) => boundary,
        _ => return error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, "multipart: no boundary"),
    };
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(most)
            .for_field("operations", MAX_OPERATIONS_BYTES)
            .for_field("map", MAX_MAP_BYTES),
    );
    let multipart = multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let slot = parts.extensions.get::<super::connections::SlotHandle>().cloned();
    if let Some(slot) = &slot {
        slot.0.reading_body();
    }
    let mut receiving = Receiving { state, store: &store, tenant: &tenant, staged: HashMap::new(), writing: None };
    let received = match tokio::time::timeout(attachments.settings.upload_timeout, receiving.receive(multipart)).await {
        Ok(received) => received,
        Err(_) => Err(Refused::Input(
            StatusCode::REQUEST_TIMEOUT,
            format!("the upload did not finish within {} s", attachments.settings.upload_timeout.as_secs()),
        )),
    };
    if let Some(slot) = &slot {
        slot.0.serving();
    }
    let staged = std::mem::take(&mut receiving.staged);
    let (sent, media) = match received {
        Ok(sent) => (sent, media),
        Err(refused) => {
            let writing = receiving.writing.take();
            release(state, staged.values().map(|s| s.key.as_str()).chain(writing.as_deref())).await;
            return refused.response();
        }
    };
    let keys: Vec<String> = staged.values().map(|s| s.key.clone()).collect();
    let response = run(state, sent, auth, &tenant, media, Uploads::new(staged)).await;
    // What no resolver took (or a write that rolled back) is queued for deletion.
    release(state, keys.iter().map(String::as_str)).await;
    response
}

async fn run(
    state: &AppState,
    sent: super::Sent,
    auth: Auth,
    tenant: &str,
    media: super::media::Media,
    uploads: Uploads,
) -> Response {
    let request = match super::build(state, sent, tenant) {
        Ok(request) => request.data(uploads),
        Err(refused) => return *refused,
    };
    super::execute(state, request, auth, media).await
}

/// Queues staged uploads no attachment took for deletion, and wakes the
/// sweeper when it did (an upload that became an attachment costs no sweep).
async fn release<'a>(state: &AppState, keys: impl Iterator<Item = &'a str>) {
    let keys: Vec<&str> = keys.collect();
    if keys.is_empty() {
        return;
    }
    let result = async {
        let mut tx = state.db().begin().await?;
        let result = async {
            let mut queued = 0;
            for key in &keys {
                queued += objects::release(&mut tx.conn(), key).await?;
            }
            Ok(queued)
        }
        .await;
        tx.finish(result).await
    }
    .await;
    match result {
        Ok(0) => {}
        Ok(_) => state.attachments().nudge(),
        Err(error) => tracing::warn!(%error, "queueing unused uploads for deletion failed (swept once abandoned)"),
    }
}

/// Why a multipart request is refused.
enum Refused {
    Input(StatusCode, String),
    Error(AppError),
}

impl Refused {
    fn response(self) -> Response {
        match self {
            Refused::Input(status, message) => error_response(status, ErrorCode::BadUserInput, &message),
            Refused::Error(error) => refusal(&error),
        }
    }
}

fn bad(message: impl Into<String>) -> Refused {
    Refused::Input(StatusCode::BAD_REQUEST, message.into())
}

struct Receiving<'a> {
    state: &'a AppState,
    store: &'a Store,
    tenant: &'a str,
    /// By the `map`'s key.
    staged: HashMap<String, Staged>,
    /// The key being written, should the upload's time run out meanwhile.
    writing: Option<String>,
}

impl Receiving<'_> {
    async fn receive(&mut self, mut multipart: multer::Multipart<'static>) -> Result<super::Sent, Refused> {
        let body_timeout = self.state.settings().connections.body_timeout;
        let next = async |multipart: &mut multer::Multipart<'static>| match tokio::time::timeout(
            body_timeout,
            multipart.next_field(),
        )
        .await
        {
            Ok(Ok(field)) => Ok(field),
            Ok(Err(e)) => Err(multipart_error(e)),
            Err(_) => Err(stalled(body_timeout)),
        };
        let operations = match next(&mut multipart).await? {
            Some(field) if field.name() == Some("operations") => text(field, body_timeout).await?,
            _ => {
                return Err(bad("multipart: the first part must be `operations` (the GraphQL multipart request spec)"));
            }
        };
        let map = match next(&mut multipart).await? {
            Some(field) if field.name() == Some("map") => text(field, body_timeout).await?,
            _ => return Err(bad("multipart: the second part must be `map` (the GraphQL multipart request spec)")),
        };
        if operations.trim_start().starts_with('[') {
            return Err(bad("batched requests are not supported: send one operation per request"));
        }
        let mut sent = parse_post(operations.as_bytes()).map_err(bad)?;
        let map: HashMap<String, Vec<String>> =
            serde_json::from_str(&map).map_err(|e| bad(format!("multipart: `map` is not a map of paths: {e}")))?;
        if map.len() > MAX_FILES_PER_REQUEST {
            return Err(bad(format!("a request carries at most {MAX_FILES_PER_REQUEST} files")));
        }
        let mut variables = sent.variables.take().unwrap_or_default();
        for (key, paths) in &map {
            for path in paths {
                place(&mut variables, path, &placeholder(key))?;
            }
        }
        sent.variables = Some(variables);
        while let Some(field) = next(&mut multipart).await? {
            let key = field.name().unwrap_or_default().to_owned();
            if !map.contains_key(&key) {
                return Err(bad(format!("multipart: the part `{key}` is not named by `map`")));
            }
            if self.staged.contains_key(&key) {
                return Err(bad(format!("multipart: the part `{key}` is sent twice")));
            }
            let file_name = name::safe_file_name(field.file_name().unwrap_or_default());
            let staged = self.stage(field, file_name, body_timeout).await?;
            self.staged.insert(key, staged);
        }
        if let Some(missing) = map.keys().find(|k| !self.staged.contains_key(*k)) {
            return Err(bad(format!("multipart: `map` names the file `{missing}`, which the request does not carry")));
        }
        Ok(sent)
    }

    /// Streams one file to the store under a fresh key, recorded first.
    async fn stage(
        &mut self,
        mut field: multer::Field<'static>,
        file_name: String,
        body_timeout: Duration,
    ) -> Result<Staged, Refused> {
        let attachments = self.state.attachments();
        let limits = &attachments.settings.limits;
        let key = Store::new_key();
        let recorded = async {
            let mut tx = self.state.db().begin().await?;
            let result = async {
                let used = attachment::bytes_used(&mut tx.conn(), self.tenant).await?;
                if used >= limits.tenant_quota_bytes {
                    return Err(AppError::bad_input(
                        "file",
                        format!(
                            "the tenant's attachments hold {used} of {} bytes: the quota is used up",
                            limits.tenant_quota_bytes
                        ),
                    ));
                }
                objects::stage(&mut tx.conn(), self.tenant, &key).await
            }
            .await;
            tx.finish(result).await
        }
        .await;
        recorded.map_err(Refused::Error)?;
        self.writing = Some(key.clone());
        let written = async {
            let mut writer = self.store.writer(&key).await?;
            loop {
                let chunk = match tokio::time::timeout(body_timeout, field.chunk()).await {
                    Ok(Ok(Some(chunk))) => chunk,
                    Ok(Ok(None)) => break,
                    Ok(Err(e)) => {
                        writer.abort().await;
                        return Err(WriteError::Source(e.to_string()));
                    }
                    Err(_) => {
                        writer.abort().await;
                        return Err(WriteError::Source(format!("no data for {} s", body_timeout.as_secs())));
                    }
                };
                if let Err(e) = writer.push(chunk, limits.max_file_bytes).await {
                    writer.abort().await;
                    return Err(e);
                }
            }
            writer.finish().await
        }
        .await;
        self.writing = None;
        match written {
            Ok(digests) => Ok(Staged { key, file_name, digests }),
            Err(error) => {
                release(self.state, std::iter::once(key.as_str())).await;
                Err(match error {
                    WriteError::TooLarge(max) => Refused::Input(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("file: a file may hold at most {max} bytes"),
                    ),
                    WriteError::Source(why) => bad(format!("the upload did not complete: {why}")),
                    WriteError::Store(e) => Refused::Error(AppError::StoreUnavailable(Box::new(e))),
                })
            }
        }
    }
}

async fn text(field: multer::Field<'static>, body_timeout: Duration) -> Result<String, Refused> {
    match tokio::time::timeout(body_timeout, field.text()).await {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(multipart_error(e)),
        Err(_) => Err(stalled(body_timeout)),
    }
}

fn stalled(limit: Duration) -> Refused {
    Refused::Input(StatusCode::REQUEST_TIMEOUT, format!("the request body stalled: no data for {} s", limit.as_secs()))
}

fn multipart_error(error: multer::Error) -> Refused {
    match error {
        multer::Error::FieldSizeExceeded { field_name, limit } => Refused::Input(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("multipart: the part `{}` is over {limit} bytes", field_name.unwrap_or_default()),
        ),
        multer::Error::StreamSizeExceeded { limit } => {
            Refused::Input(StatusCode::PAYLOAD_TOO_LARGE, format!("multipart: the request is over {limit} bytes"))
        }
        other => bad(format!("the upload did not complete: {other}")),
    }
}

/// Puts `value` at `path` (`variables.input.file`, `variables.files.1`) of
/// the operation's variables, where the spec's client left `null`.
fn place(variables: &mut JsonMap, path: &str, value: &str) -> Result<(), Refused> {
    let mut steps = path.split('.');
    if steps.next() != Some("variables") {
        return Err(bad(format!("multipart: `map` path `{path}` must start with `variables.`")));
    }
    let steps: Vec<&str> = steps.collect();
    let Some((last, within)) = steps.split_last() else {
        return Err(bad(format!("multipart: `map` path `{path}` names no variable")));
    };
    let missing = || bad(format!("multipart: `map` path `{path}` is not in the operation's variables"));
    let mut here: &mut serde_json::Value = match within.first() {
        None => {
            variables.insert((*last).to_owned(), serde_json::Value::String(value.to_owned()));
            return Ok(());
        }
        Some(first) => variables.get_mut(*first).ok_or_else(missing)?,
    };
    for step in within.iter().skip(1).chain(std::iter::once(last)) {
        let slot = match here {
            serde_json::Value::Object(map) => map.get_mut(*step),
            serde_json::Value::Array(items) => step.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        };
        here = slot.ok_or_else(missing)?;
    }
    *here = serde_json::Value::String(value.to_owned());
    Ok(())
}

/// GET /attachments/{id}: the file, to a caller with a token (or API key)
/// holding `SECURITY_DATA_READ`, or to anyone with a signed link
/// (`?link=`, from `Attachment.downloadUrl`). Always as a download; a file
/// marked as malware only inside a zip with the password `infected`.
pub(super) async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    // A HEAD (a download manager's look before its ranges) fetches nothing: not recorded.
    let record = method != axum::http::Method::HEAD;
    match serve_download(&state, &id, query.as_deref(), &headers, record).await {
        Ok(response) => response,
        Err(error) => refusal(&error),
    }
}

async fn serve_download(
    state: &AppState,
    id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    record: bool,
) -> Result<Response, AppError> {
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(AttachmentId)
        .ok_or_else(|| AppError::not_found("attachment", id))?;
    let attachments = state.attachments();
    let link = serde_urlencoded::from_str::<HashMap<String, String>>(query.unwrap_or_default())
        .ok()
        .and_then(|params| params.get("link").cloned());
    let (tenant, user, via) = match link {
        Some(token) => {
            let now = chrono::Utc::now().timestamp();
            let grant = link::verify(&attachments.link_key, &token, now)
                .map_err(|why| AppError::Unauthenticated(why.to_string()))?;
            if grant.attachment != id {
                return Err(AppError::Unauthenticated("the download link is for another attachment".into()));
            }
            (grant.tenant, grant.user, DownloadVia::Link)
        }
        None => {
            let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            let auth = state.authenticate(authorization).await?;
            let principal = auth.principal()?.clone();
            let reader = principal.grant::<ReadData>()?;
            if let Err((error, _)) = state.executor().charge(&principal, 1) {
                return Err(error);
            }
            (reader.tenant().to_owned(), principal.user_id.clone(), DownloadVia::Api)
        }
    };
    let store = attachments.store()?;
    let found = {
        let mut conn = state.db().get().await?;
        attachment::find(&mut conn.conn(), &tenant, id).await?
    };
    let attachment = found.ok_or_else(|| AppError::not_found("attachment", id))?;
    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let size = attachment.blob.size.max(0) as u64;
    let range = match (attachment.is_malware, asked) {
        (false, Some(asked)) => match parse_range(asked, size) {
            RangeAsked::One(range) => Some(range),
            RangeAsked::Whole => None,
            RangeAsked::Unsatisfiable => {
                let mut response = error_response(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    ErrorCode::BadUserInput,
                    &format!("Range: the file holds {size} bytes"),
                );
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return Ok(response);
            }
        },
        _ => None,
    };
    let recorded = range.as_ref().map(|r| format!("bytes={}-{}", r.start, r.end - 1));
    if record {
        let mut tx = state.db().begin().await?;
        let result =
            attachment::record_download(&mut tx.conn(), &tenant, &attachment, &user, via, recorded.as_deref()).await;
        tx.finish(result).await?;
    }
    respond_with_file(store, &attachment, range).await
}

async fn respond_with_file(
    store: &Store,
    attachment: &Attachment,
    range: Option<std::ops::Range<u64>>,
) -> Result<Response, AppError> {
    let size = attachment.blob.size.max(0) as u64;
    let read = store
        .read(&attachment.blob.storage_key, range.clone())
        .await
        .map_err(|e| AppError::StoreUnavailable(Box::new(e)))?;
    let mut response = if attachment.is_malware {
        let name = format!("{}.zip", attachment.file_name);
        let seed: [u8; 11] = seed_of(&attachment.blob.sha256);
        let entry = zip::Entry {
            name: &attachment.file_name,
            crc32: attachment.blob.crc32 as u32,
            size,
            modified: attachment.added_at,
            seed,
        };
        let length = zip::zipped_len(&entry);
        let zipped = zip::wrap(&entry, read.bytes)?;
        let mut response = Response::new(Body::from_stream(zipped));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
        set(headers, header::CONTENT_DISPOSITION, &name::content_disposition(&name));
        set(headers, header::ETAG, &format!("\"zip-{}\"", attachment.blob.sha256));
        response
    } else {
        let content_type = attachment.blob.content_type.as_str();
        let served = if sniff::is_active(content_type) { "application/octet-stream" } else { content_type };
        let length = read.range.end - read.range.start;
        let mut response = Response::new(Body::from_stream(read.bytes));
        if range.is_some() {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let content_range = format!("bytes {}-{}/{size}", read.range.start, read.range.end.saturating_sub(1));
            set(response.headers_mut(), header::CONTENT_RANGE, &content_range);
        }
        let headers = response.headers_mut();
        set(headers, header::CONTENT_TYPE, served);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        set(headers, header::CONTENT_DISPOSITION, &name::content_disposition(&attachment.file_name));
        set(headers, header::ETAG, &format!("\"{}\"", attachment.blob.sha256));
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(response.into_response())
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// The zip's encryption header bytes, from the content's hash (the same
/// file zips to the same bytes).
fn seed_of(sha256: &str) -> [u8; 11] {
    let mut seed = [0u8; 11];
    for (i, pair) in sha256.as_bytes().chunks(2).take(11).enumerate() {
        seed[i] = std::str::from_utf8(pair).ok().and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(0);
    }
    seed
}

enum RangeAsked {
    One(std::ops::Range<u64>),
    /// No range we serve (several ranges, another unit, a malformed one): the whole file.
    Whole,
    Unsatisfiable,
}

/// One `bytes=` range (RFC 9110): `a-b`, `a-`, `-n`.
fn parse_range(asked: &str, size: u64) -> RangeAsked {
    let Some(spec) = asked.trim().strip_prefix("bytes=") else { return RangeAsked::Whole };
    if spec.contains(',') {
        return RangeAsked::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else { return RangeAsked::Whole };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => start..(end + 1).min(size),
        (Ok(_), Ok(_)) => return RangeAsked::Whole,
        (Ok(start), Err(_)) if end.is_empty() => start..size,
        (Err(_), Ok(suffix)) if start.is_empty() => {
            if suffix == 0 {
                return RangeAsked::Unsatisfiable;
            }
            size.saturating_sub(suffix)..size
        }
        _ => return RangeAsked::Whole,
    };
    if range.start >= size { RangeAsked::Unsatisfiable } else { RangeAsked::One(range) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_has_them() {
        let one = |asked, size| match parse_range(asked, size) {
            RangeAsked::One(r) => Some(Some(r)),
            RangeAsked::Whole => Some(None),
            RangeAsked::Unsatisfiable => None,
        };
        assert_eq!(one("bytes=0-9", 100), Some(Some(0..10)));
        assert_eq!(one("bytes=90-200", 100), Some(Some(90..100)));
        assert_eq!(one("bytes=95-", 100), Some(Some(95..100)));
        assert_eq!(one("bytes=-5", 100), Some(Some(95..100)));
        assert_eq!(one("bytes=-500", 100), Some(Some(0..100)));
        assert_eq!(one("bytes=100-", 100), None);
        assert_eq!(one("bytes=-0", 100), None);
        assert_eq!(one("bytes=0-1,5-6", 100), Some(None));
        assert_eq!(one("items=0-1", 100), Some(None));
        assert_eq!(one("bytes=9-2", 100), Some(None));
    }

    #[test]
    fn map_paths_land_in_the_variables() {
        let mut variables: JsonMap =
            serde_json::from_str(r#"{"input":{"file":null,"files":[null,null]},"one":null}"#).expect("json");
        assert!(place(&mut variables, "variables.input.file", "x").is_ok());
        assert!(place(&mut variables, "variables.input.files.1", "y").is_ok());
        assert!(place(&mut variables, "variables.one", "z").is_ok());
        assert!(place(&mut variables, "variables.input.nothing.deeper", "w").is_err());
        assert!(place(&mut variables, "query", "w").is_err());
        assert_eq!(
            serde_json::Value::Object(variables),
            serde_json::json!({"input":{"file":"x","files":[null,"y"]},"one":"z"})
        );
    }
}
