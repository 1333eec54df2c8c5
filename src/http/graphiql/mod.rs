//! GraphiQL at `/`, working offline: its code is embedded in the binary
//! (`assets/graphiql`, fetched from the npm registry at pinned versions by
//! `scripts/vendor-graphiql.sh`), so the page loads nothing from elsewhere.
//! With `--dev` it offers the printed tokens in a picker.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;

/// An embedded file.
struct Asset {
    name: &'static str,
    bytes: &'static [u8],
}

impl Asset {
    /// By extension; anything else is served as bytes a browser will not run.
    fn media_type(&self) -> &'static str {
        match self.name.rsplit_once('.').map(|(_, extension)| extension) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => "application/octet-stream",
        }
    }
}

macro_rules! vendored {
    ($name:literal) => {
        Asset { name: $name, bytes: include_bytes!(concat!("../../../assets/graphiql/", $name)) }
    };
}

const ASSETS: [Asset; 6] = [
    vendored!("graphiql.min.js"),
    vendored!("graphiql.min.css"),
    vendored!("react.production.min.js"),
    vendored!("react-dom.production.min.js"),
    vendored!("graphql-ws.min.js"),
    Asset { name: "casebook.js", bytes: include_bytes!("casebook.js") },
];

const PAGE: &str = include_str!("page.html");

/// The page, with this process's dev tokens (none without `--dev`).
pub async fn page(State(state): State<AppState>) -> Html<String> {
    let tokens: Vec<serde_json::Value> = state
        .settings()
        .dev_tokens
        .iter()
        .map(|(role, token)| serde_json::json!({ "role": role, "token": token }))
        .collect();
    // Inside <script>, `<` could close the element: JSON may spell it `\u003c`.
    let json = serde_json::Value::from(tokens).to_string().replace('<', "\\u003c");
    Html(PAGE.replace("__DEV_TOKENS__", &json))
}

/// `/graphiql/{file}`: one embedded asset.
pub async fn asset(Path(file): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return (StatusCode::NOT_FOUND, "no such GraphiQL asset").into_response();
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(asset.media_type())),
        (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    (headers, asset.bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded files are the ones `scripts/vendor-graphiql.sh` took from
    /// the registry (SHA256SUMS), not edited copies.
    #[test]
    fn embedded_assets_match_the_recorded_checksums() {
        use sha2::{Digest, Sha256};
        let sums = include_str!("../../../assets/graphiql/SHA256SUMS");
        let vendored: Vec<&Asset> = ASSETS.iter().filter(|a| a.name != "casebook.js").collect();
        assert_eq!(sums.lines().count(), vendored.len());
        for asset in vendored {
            let digest: String = Sha256::digest(asset.bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert!(sums.lines().any(|line| line == format!("{digest}  {}", asset.name)), "{} changed", asset.name);
        }
    }

    #[test]
    fn every_asset_is_served_as_script_or_style() {
        for asset in &ASSETS {
            assert_ne!(asset.media_type(), "application/octet-stream", "{} has no known media type", asset.name);
        }
    }

    #[test]
    fn the_page_refers_only_to_embedded_assets() {
        for reference in PAGE.split("src=\"").skip(1).chain(PAGE.split("href=\"").skip(1)) {
            let path = reference.split('"').next().unwrap_or_default();
            let file = path.strip_prefix("/graphiql/").unwrap_or_else(|| panic!("{path} is not embedded"));
            assert!(ASSETS.iter().any(|a| a.name == file), "{file} is not embedded");
        }
    }
}
