//! `cargo bench --bench attachments`: one large file through a real
//! `casebook serve` (SQLite), on each store: a directory, and an
//! S3-compatible server (`s3s-fs`, started in this process, reached over
//! HTTP). Uploads the file as a GraphQL multipart request generated on the
//! fly, then downloads it with a token, and prints throughput and the
//! server's resident memory (sampled every 10 ms) before and during each;
//! asserts nothing about time.
//!
//! Environment:
//! - `CASEBOOK_BENCH_FILE_MB` (200): the file's size in MB (10^6 bytes).
//! - `CASEBOOK_BENCH_BINARY`: another `casebook` binary to serve.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use support::*;

const CHUNK: usize = 64 * 1024;
const BOUNDARY: &str = "casebook-bench-boundary";

/// Samples a process's resident memory until stopped; the peak in KiB.
struct RssPeak {
    peak: Arc<AtomicU64>,
    running: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl RssPeak {
    fn start(pid: u32) -> RssPeak {
        let peak = Arc::new(AtomicU64::new(rss_kib_of(pid)));
        let running = Arc::new(AtomicBool::new(true));
        let (p, r) = (peak.clone(), running.clone());
        let task = tokio::spawn(async move {
            while r.load(Ordering::Relaxed) {
                p.fetch_max(rss_kib_of(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        RssPeak { peak, running, task }
    }

    async fn stop(self) -> u64 {
        self.running.store(false, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}

/// An S3 server in this process over a temporary directory; (endpoint, root).
async fn s3_server() -> (String, std::path::PathBuf) {
    let root = std::env::temp_dir().join(format!("casebook-bench-s3-{}", std::process::id()));
    std::fs::create_dir_all(root.join("bench")).unwrap();
    let mut builder = s3s::service::S3ServiceBuilder::new(s3s_fs::FileSystem::new(&root).unwrap());
    builder.set_auth(s3s::auth::SimpleAuth::from_single("bench", "bench-secret"));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let service = service.clone();
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    (endpoint, root)
}

/// The multipart request's body, made as it is sent: `bytes` of content.
fn upload_body(bytes: u64) -> (u64, impl futures_util::Stream<Item = Result<Bytes, std::io::Error>>) {
    let query = "mutation($input: AddAttachmentInput!) { addAttachment(input: $input) { id size sha256 } }";
    let operations = json!({ "query": query, "variables": { "input": { "caseId": "1000", "file": null } } });
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\":[\"variables.input.file\"]}}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"memory.dmp\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let total = head.len() as u64 + bytes + tail.len() as u64;
    // Bytes that do not compress or repeat in step with the chunks.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let chunks = (0..bytes.div_ceil(CHUNK as u64)).map(move |i| {
        let len = (bytes - i * CHUNK as u64).min(CHUNK as u64) as usize;
        let mut chunk = vec![0u8; len];
        for b in chunk.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        Ok(Bytes::from(chunk))
    });
    let stream = futures_util::stream::iter(
        std::iter::once(Ok(Bytes::from(head))).chain(chunks).chain(std::iter::once(Ok(Bytes::from(tail)))),
    );
    (total, stream)
}

async fn run(store: &str, env: &[(&str, &str)], megabytes: u64) {
    let (url, path) = sqlite_url(&format!("attachments-{store}"));
    let mut env = env.to_vec();
    let max = (megabytes * 1_000_000 + 1).to_string();
    env.push(("CASEBOOK_ATTACHMENT_MAX_BYTES", &max));
    env.push(("CASEBOOK_ATTACHMENT_QUOTA", "1000000000000"));
    let server = Server::start_binary_with_env(&casebook(), &url, &env);
    let endpoint = format!("http://{}/graphql", server.addr);
    let client = reqwest::Client::new();
    let token = token("default", "admin");
    let created =
        post(&client, &endpoint, &token, "mutation { createCase(input: { title: \"Dump\" }) { id } }", &json!({}))
            .await;
    assert_eq!(created["data"]["createCase"]["id"], "1000", "{created}");
    let bytes = megabytes * 1_000_000;
    let baseline = server.rss_kib();

    let (total, body) = upload_body(bytes);
    let peak = RssPeak::start(server.child.id());
    let started = Instant::now();
    let answer: serde_json::Value = client
        .post(&endpoint)
        .bearer_auth(&token)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .header("content-length", total)
        .header("apollo-require-preflight", "true")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload = started.elapsed();
    let upload_peak = peak.stop().await;
    let added = &answer["data"]["addAttachment"];
    assert_eq!(added["size"].as_u64(), Some(bytes), "{answer}");
    let id = added["id"].as_str().unwrap().to_owned();

    let peak = RssPeak::start(server.child.id());
    let started = Instant::now();
    let response =
        client.get(format!("http://{}/attachments/{id}", server.addr)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut stream = response.bytes_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        received += chunk.unwrap().len() as u64;
    }
    let download = started.elapsed();
    let download_peak = peak.stop().await;
    assert_eq!(received, bytes);

    let mb = bytes as f64 / 1e6;
    println!(
        "{store:<9} {megabytes} MB  upload {:>7.1} MB/s ({:>5.2} s)  download {:>7.1} MB/s ({:>5.2} s)  \
         server RSS: before {:>4} MiB, peak in upload {:>4} MiB, peak in download {:>4} MiB",
        mb / upload.as_secs_f64(),
        upload.as_secs_f64(),
        mb / download.as_secs_f64(),
        download.as_secs_f64(),
        baseline / 1024,
        upload_peak / 1024,
        download_peak / 1024,
    );
    drop(server);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(format!("{}.attachments", path.display()));
}

#[tokio::main]
async fn main() {
    let megabytes = env_number("CASEBOOK_BENCH_FILE_MB", 200);
    println!("attachments: one {megabytes} MB file up and down, SQLite, each store (server: {})", casebook());
    run("directory", &[], megabytes).await;
    let (s3, root) = s3_server().await;
    let s3_env = [
        ("CASEBOOK_S3_BUCKET", "bench"),
        ("CASEBOOK_S3_ENDPOINT", s3.as_str()),
        ("CASEBOOK_S3_PATH_STYLE", "true"),
        ("CASEBOOK_S3_ACCESS_KEY_ID", "bench"),
        ("CASEBOOK_S3_SECRET_ACCESS_KEY", "bench-secret"),
    ];
    run("s3", &s3_env, megabytes).await;
    let _ = std::fs::remove_dir_all(root);
}
