//! A real S3-compatible server for the tests: `s3s-fs` (S3's HTTP API with
//! SigV4 authentication over a directory) on an ephemeral port, started in
//! this process. casebook reaches it as it would reach MinIO or AWS S3:
//! through `object_store`'s S3 client, over HTTP.

use hyper_util::rt::{TokioExecutor, TokioIo};

pub const BUCKET: &str = "casebook-test";
pub const ACCESS_KEY: &str = "casebook-test-access";
pub const SECRET_KEY: &str = "casebook-test-secret-key";

/// A running S3 server; stopped (and its directory removed) when dropped.
pub struct S3Server {
    pub endpoint: String,
    root: std::path::PathBuf,
    /// Taken when the server stops.
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let root = std::env::temp_dir().join(format!("casebook-s3-{}", super::unique_name()));
        std::fs::create_dir_all(root.join(BUCKET)).expect("the S3 server's directory");
        let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs over a directory");
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the S3 server");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            // The connections live in this task's set: stopping the server
            // drops them too (a client's kept-alive connection included).
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let service = service.clone();
                while connections.try_join_next().is_some() {}
                connections.spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        S3Server { endpoint, root, task: std::sync::Mutex::new(Some(task)) }
    }

    /// How casebook is pointed at it (as `CASEBOOK_S3_*` would).
    pub fn config(&self) -> casebook::store::StoreConfig {
        casebook::store::StoreConfig::S3(casebook::store::S3Config {
            endpoint: Some(self.endpoint.clone()),
            bucket: BUCKET.to_owned(),
            region: "us-east-1".to_owned(),
            access_key_id: Some(ACCESS_KEY.to_owned()),
            secret_access_key: Some(SECRET_KEY.to_owned()),
            path_style: true,
            prefix: None,
        })
    }

    /// Stops answering (the store is down), and returns once it has: the
    /// listener and every connection (a client's kept-alive one included)
    /// are gone. An abort alone is only a request, which a probe sent at once
    /// could overtake.
    pub async fn stop(&self) {
        let task = self.task.lock().expect("the S3 server's task").take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
