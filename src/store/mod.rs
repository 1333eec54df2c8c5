//! Where attachments' bytes live: a directory (the embedded default, beside
//! the SQLite database) or any S3-compatible bucket, behind `object_store`.
//! Objects are written once under random keys and never changed; which
//! object belongs to what is the database's business (`domain::attachment`).

mod digest;

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};

use digest::Digester;
pub use digest::Digests;

/// Parts of a multipart write (S3's smallest part but the last is 5 MiB).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one write in flight at once: what a write holds in memory is
/// about (this + 1) x [`PART_BYTES`], whatever the file's size.
const PARTS_IN_FLIGHT: usize = 2;

/// An S3-compatible bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The service's URL (MinIO, SeaweedFS, Ceph...); absent: AWS S3.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// `https://host/bucket/key` rather than `https://bucket.host/key`
    /// (MinIO and most self-hosted stores need it).
    pub path_style: bool,
    /// Keys begin with this folder (several deployments in one bucket).
    pub prefix: Option<String>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<set>"))
            .field("path_style", &self.path_style)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Which store to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    Directory(PathBuf),
    S3(S3Config),
}

/// A failure of the store (unreachable, refused, a missing object).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no object {0}")]
    NotFound(String),
    #[error("the attachment store failed")]
    Failed(#[source] object_store::Error),
    #[error("the attachment store failed: {0}")]
    Io(#[source] std::io::Error),
}

impl From<object_store::Error> for StoreError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { path, .. } => StoreError::NotFound(path),
            other => StoreError::Failed(other),
        }
    }
}

/// Why a write stopped.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The bytes went past the bound given: the write was abandoned.
    #[error("over {0} bytes")]
    TooLarge(u64),
    /// The source of the bytes failed (a client cut off, a timeout).
    #[error("the upload did not complete: {0}")]
    Source(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An opened store.
#[derive(Clone)]
pub struct Store {
    objects: Arc<dyn ObjectStore>,
    kind: &'static str,
    /// The directory store's root (readiness checks it exists).
    root: Option<PathBuf>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Store({})", self.kind)
    }
}

/// An object's bytes, as a stream, and the range of the object they are.
pub struct Read {
    pub bytes: BoxStream<'static, Result<Bytes, StoreError>>,
    pub range: Range<u64>,
}

impl Store {
    /// Opens a store (a directory is created if missing).
    pub fn open(config: &StoreConfig) -> anyhow::Result<Store> {
        match config {
            StoreConfig::Directory(root) => {
                std::fs::create_dir_all(root)
                    .map_err(|e| anyhow::anyhow!("creating the attachment directory {}: {e}", root.display()))?;
                let objects = LocalFileSystem::new_with_prefix(root)?;
                Ok(Store { objects: Arc::new(objects), kind: "directory", root: Some(root.clone()) })
            }
            StoreConfig::S3(s3) => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_virtual_hosted_style_request(!s3.path_style);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(id) = &s3.access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.with_secret_access_key(secret);
                }
                let objects: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
                let objects = match s3.prefix.as_deref().map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
                    Some(prefix) => Arc::new(object_store::prefix::PrefixStore::new(objects, prefix)),
                    None => objects,
                };
                Ok(Store { objects, kind: "s3", root: None })
            }
        }
    }

    /// `directory` or `s3`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// A fresh key for new content (random: no name, tenant or hash of the
    /// caller's reaches the store's paths).
    pub fn new_key() -> String {
        let bytes: [u8; 16] = rand::random();
        format!("blobs/{}", digest::hex(&bytes))
    }

    /// Starts writing an object; bytes are hashed as they pass.
    pub async fn writer(&self, key: &str) -> Result<Writer, StoreError> {
        let upload = self.objects.put_multipart(&Path::from(key)).await?;
        Ok(Writer { parts: WriteMultipart::new_with_chunk_size(upload, PART_BYTES), digester: Digester::default() })
    }

    /// Reads an object, or a range of it (clamped to its end).
    pub async fn read(&self, key: &str, range: Option<Range<u64>>) -> Result<Read, StoreError> {
        let options = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
        let got = self.objects.get_opts(&Path::from(key), options).await?;
        let range = got.range.clone();
        let bytes = got.into_stream().map(|chunk| chunk.map_err(StoreError::from)).boxed();
        Ok(Read { bytes, range })
    }

    /// Deletes an object; one already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.objects.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the store answers: a missing object's lookup must come back
    /// as "not found".
    pub async fn ready(&self) -> Result<(), StoreError> {
        if let Some(root) = &self.root {
            let meta = tokio::fs::metadata(root).await.map_err(StoreError::Io)?;
            if !meta.is_dir() {
                return Err(StoreError::Io(std::io::Error::other(format!("{} is not a directory", root.display()))));
            }
        }
        match self.objects.head(&Path::from("readiness-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every key in the store (tests and the operator's checks: no orphans).
    pub async fn keys(&self) -> Result<Vec<String>, StoreError> {
        let mut listed = self.objects.list(None);
        let mut keys = Vec::new();
        while let Some(meta) = listed.next().await {
            keys.push(meta?.location.to_string());
        }
        keys.sort();
        Ok(keys)
    }
}

/// An object being written.
pub struct Writer {
    parts: WriteMultipart,
    digester: Digester,
}

impl Writer {
    /// Adds bytes; past `max_bytes` in all, refuses (the caller aborts).
    pub async fn push(&mut self, chunk: Bytes, max_bytes: u64) -> Result<(), WriteError> {
        if self.digester.size() + chunk.len() as u64 > max_bytes {
            return Err(WriteError::TooLarge(max_bytes));
        }
        self.digester.update(&chunk);
        self.parts.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(StoreError::from)?;
        self.parts.put(chunk);
        Ok(())
    }

    /// Completes the object.
    pub async fn finish(self) -> Result<Digests, WriteError> {
        self.parts.finish().await.map_err(StoreError::from)?;
        Ok(self.digester.finish())
    }

    /// Abandons the object: nothing of it stays in the store.
    pub async fn abort(self) {
        if let Err(e) = self.parts.abort().await {
            tracing::warn!(error = %e, "abandoning a partial upload failed (the sweeper removes it)");
        }
    }
}
