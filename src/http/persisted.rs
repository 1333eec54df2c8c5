//! Persisted operations. Automatic persisted queries (Apollo's protocol): a
//! client sends `extensions.persistedQuery.sha256Hash` alone; an unknown
//! hash answers `PersistedQueryNotFound` and the client sends the text with
//! the hash, which is checked and kept (a bounded store, per tenant: only an
//! authenticated caller reaches it, and a hash tells nothing of what another
//! tenant ran). Trusted documents: with a manifest (`CASEBOOK_TRUSTED_DOCUMENTS`,
//! `{ "<id>": "<document>" }` as graphql-codegen's client preset and Relay
//! write it) only its documents run, named by id; anything else is refused.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// Documents the automatic store keeps, and their total size, over all tenants.
const MAX_ENTRIES: usize = 5_000;
const MAX_BYTES: usize = 16 * 1024 * 1024;
/// What one tenant may keep of it: one tenant's documents cannot push out
/// every other tenant's.
const MAX_TENANT_ENTRIES: usize = 1_000;
const MAX_TENANT_BYTES: usize = 4 * 1024 * 1024;

/// What a request that names a persisted document gets instead of a query.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// An unknown hash (the client should send the text with it).
    NotFound,
    /// Anything else: the message names the field.
    BadInput(String),
}

/// The operation-naming parts of a request, as it came.
#[derive(Debug, Default)]
pub struct Named<'a> {
    pub query: Option<String>,
    pub extensions: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// `documentId` (graphql-codegen), `doc_id` or `id` (Relay).
    pub document_id: Option<String>,
}

impl Named<'_> {
    /// Whether the request names a persisted document instead of (or as well
    /// as) giving its text.
    pub fn names_a_document(&self) -> bool {
        self.document_id.is_some() || self.extensions.is_some_and(|e| e.contains_key("persistedQuery"))
    }
}

/// One tenant's documents, oldest first.
#[derive(Default)]
struct TenantDocuments {
    documents: HashMap<String, Arc<str>>,
    order: VecDeque<String>,
    bytes: usize,
}

impl TenantDocuments {
    fn evict_oldest(&mut self) -> usize {
        let Some(oldest) = self.order.pop_front() else { return 0 };
        let freed = self.documents.remove(&oldest).map_or(0, |text| text.len());
        self.bytes -= freed;
        freed
    }
}

/// The automatic store: bounded in all and per tenant.
#[derive(Default)]
struct Store {
    tenants: HashMap<String, TenantDocuments>,
    entries: usize,
    bytes: usize,
}

impl Store {
    fn get(&self, tenant: &str, hash: &str) -> Option<Arc<str>> {
        self.tenants.get(tenant)?.documents.get(hash).cloned()
    }

    fn insert(&mut self, tenant: &str, hash: String, text: Arc<str>) {
        if text.len() > MAX_TENANT_BYTES {
            return;
        }
        let own = self.tenants.entry(tenant.to_owned()).or_default();
        if own.documents.contains_key(&hash) {
            return;
        }
        own.bytes += text.len();
        own.order.push_back(hash.clone());
        own.documents.insert(hash, text.clone());
        self.entries += 1;
        self.bytes += text.len();
        // The tenant's own share first, then the whole store, from the tenant
        // that holds most.
        while own.documents.len() > MAX_TENANT_ENTRIES || own.bytes > MAX_TENANT_BYTES {
            self.bytes -= own.evict_oldest();
            self.entries -= 1;
        }
        while self.entries > MAX_ENTRIES || self.bytes > MAX_BYTES {
            let Some(largest) = self.tenants.values_mut().max_by_key(|t| (t.bytes, t.documents.len())) else { break };
            self.bytes -= largest.evict_oldest();
            self.entries -= 1;
        }
        self.tenants.retain(|_, t| !t.documents.is_empty());
    }
}

/// The process's persisted documents.
#[derive(Default)]
pub struct Persisted {
    automatic: Mutex<Store>,
    trusted: Option<HashMap<String, Arc<str>>>,
}

/// The hex SHA-256 of a document, as clients compute it.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl Persisted {
    /// Only the manifest's documents run.
    pub fn trusted(manifest: HashMap<String, String>) -> Self {
        Persisted {
            automatic: Mutex::default(),
            trusted: Some(manifest.into_iter().map(|(id, text)| (id, Arc::from(text))).collect()),
        }
    }

    /// The query a request of `tenant`'s runs (call only once its caller is
    /// authenticated).
    pub fn resolve(&self, tenant: &str, named: Named<'_>) -> Result<String, Refused> {
        let hash = persisted_hash(named.extensions)?;
        if let Some(trusted) = &self.trusted {
            let id = named.document_id.or(hash).ok_or_else(|| {
                Refused::BadInput(
                    "documentId: this server runs only its trusted documents; send the document's id".into(),
                )
            })?;
            return trusted
                .get(&id)
                .map(|text| text.to_string())
                .ok_or_else(|| Refused::BadInput(format!("documentId: {id:?} is not a trusted document")));
        }
        let hash = hash.or(named.document_id);
        match (hash, named.query) {
            (None, Some(query)) => Ok(query),
            (None, None) => Err(Refused::BadInput("query: the body has no `query` string".into())),
            (Some(hash), Some(query)) => {
                if sha256_hex(&query) != hash.to_ascii_lowercase() {
                    return Err(Refused::BadInput(
                        "extensions.persistedQuery.sha256Hash: it is not the SHA-256 of the query".into(),
                    ));
                }
                let mut store = self.automatic.lock().unwrap_or_else(|p| p.into_inner());
                store.insert(tenant, hash.to_ascii_lowercase(), Arc::from(query.as_str()));
                Ok(query)
            }
            (Some(hash), None) => {
                let store = self.automatic.lock().unwrap_or_else(|p| p.into_inner());
                store.get(tenant, &hash.to_ascii_lowercase()).map(|t| t.to_string()).ok_or(Refused::NotFound)
            }
        }
    }
}

/// `extensions.persistedQuery.sha256Hash` (version 1), when given.
fn persisted_hash(extensions: Option<&serde_json::Map<String, serde_json::Value>>) -> Result<Option<String>, Refused> {
    let Some(persisted) = extensions.and_then(|e| e.get("persistedQuery")) else { return Ok(None) };
    let bad = |m: &str| Refused::BadInput(format!("extensions.persistedQuery: {m}"));
    if persisted.get("version").and_then(serde_json::Value::as_i64) != Some(1) {
        return Err(bad("only version 1 is supported"));
    }
    let hash =
        persisted.get("sha256Hash").and_then(serde_json::Value::as_str).ok_or_else(|| bad("sha256Hash is required"))?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("sha256Hash must be 64 hexadecimal digits"));
    }
    Ok(Some(hash.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(hash: &str) -> serde_json::Map<String, serde_json::Value> {
        serde_json::json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn automatic_persisted_queries_register_then_run_by_hash() {
        let persisted = Persisted::default();
        let query = "{ me { tenant } }";
        let hash = sha256_hex(query);
        let e = ext(&hash);
        let by_hash = || persisted.resolve("acme", Named { extensions: Some(&e), ..Default::default() });
        assert_eq!(by_hash(), Err(Refused::NotFound));
        let register = Named { query: Some(query.into()), extensions: Some(&e), ..Default::default() };
        assert_eq!(persisted.resolve("acme", register).as_deref(), Ok(query));
        assert_eq!(by_hash().as_deref(), Ok(query));
        let elsewhere = persisted.resolve("globex", Named { extensions: Some(&e), ..Default::default() });
        assert_eq!(elsewhere, Err(Refused::NotFound), "another tenant learns nothing");
        let other = ext(&sha256_hex("{ other }"));
        let lying = Named { query: Some(query.into()), extensions: Some(&other), ..Default::default() };
        assert!(matches!(persisted.resolve("acme", lying), Err(Refused::BadInput(_))));
    }

    #[test]
    fn the_store_is_bounded_in_all_and_per_tenant() {
        let mut store = Store::default();
        for n in 0..MAX_TENANT_ENTRIES + 10 {
            store.insert("flood", format!("{n}"), Arc::from("{ a }"));
        }
        assert_eq!(store.entries, MAX_TENANT_ENTRIES, "one tenant keeps at most its share");
        assert!(store.get("flood", "0").is_none(), "its oldest went first");
        store.insert("quiet", "q".into(), Arc::from("{ q }"));
        for tenant in 0..20 {
            for n in 0..MAX_TENANT_ENTRIES {
                store.insert(&format!("t{tenant}"), format!("{n}"), Arc::from("{ a }"));
            }
        }
        assert_eq!(store.entries, MAX_ENTRIES);
        assert_eq!(store.tenants.values().map(|t| t.documents.len()).sum::<usize>(), MAX_ENTRIES);
        assert!(store.get("quiet", "q").is_some(), "the smallest tenant's document stays");
        assert!(store.tenants.len() <= MAX_ENTRIES);
    }

    #[test]
    fn trusted_documents_run_only_by_id() {
        let persisted = Persisted::trusted([("abc".to_owned(), "{ me { tenant } }".to_owned())].into());
        let by_id = Named { document_id: Some("abc".into()), ..Default::default() };
        assert_eq!(persisted.resolve("acme", by_id).as_deref(), Ok("{ me { tenant } }"));
        let text = Named { query: Some("{ me { tenant } }".into()), ..Default::default() };
        assert!(matches!(persisted.resolve("acme", text), Err(Refused::BadInput(_))));
        let unknown = Named { document_id: Some("zzz".into()), ..Default::default() };
        assert!(matches!(persisted.resolve("acme", unknown), Err(Refused::BadInput(_))));
    }
}
