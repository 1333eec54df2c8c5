//! Fuzzing the request path: random documents (drawn from the schema's own
//! names, with fragments, aliases, directives and arguments of every shape),
//! random variables, random JSON bodies and random bytes over HTTP, and random
//! frames over WebSocket. The server must never panic, answer 5xx, report an
//! INTERNAL error, or hang; afterwards it still serves.
//!
//! Bounded for CI (`CASEBOOK_FUZZ_CASES`, default 150 per backend, fixed seed).
//! A longer campaign: `CASEBOOK_FUZZ_CASES=20000 CASEBOOK_FUZZ_SEED=$RANDOM
//! cargo test --release --test integration fuzz:: -- --nocapture` (README).

use std::time::Duration;

use crate::common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const NAMES: &[&str] = &[
    "me",
    "case",
    "cases",
    "task",
    "incident",
    "incidents",
    "statuses",
    "users",
    "rateLimit",
    "createCase",
    "updateCase",
    "createTask",
    "updateTask",
    "deleteTask",
    "createIncident",
    "updateIncident",
    "linkIncidents",
    "unlinkIncidents",
    "addComment",
    "createStatus",
    "updateStatus",
    "upsertUser",
    "caseActivity",
    "id",
    "title",
    "description",
    "priority",
    "status",
    "assignee",
    "tasks",
    "activity",
    "nodes",
    "edges",
    "node",
    "cursor",
    "pageInfo",
    "hasNextPage",
    "endCursor",
    "totalCount",
    "owner",
    "actor",
    "body",
    "changes",
    "field",
    "oldValue",
    "newValue",
    "tenant",
    "user",
    "permissions",
    "displayName",
    "__typename",
    "__schema",
    "__type",
    "types",
    "name",
    "fields",
    "ofType",
    "version",
    "input",
    "filter",
    "first",
    "after",
    "orderBy",
    "search",
    "kinds",
    "caseId",
    "incidentIds",
    "nope",
    "",
];
const ARGUMENTS: &[&str] = &[
    "id",
    "first",
    "after",
    "filter",
    "input",
    "orderBy",
    "search",
    "kinds",
    "caseId",
    "includeArchived",
    "name",
    "if",
];

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.rng.random_range(0..100) < percent
    }

    fn string(&mut self) -> String {
        let alphabet =
            ["a", "Z", "0", " ", "\\\"", "\\\\", "\\u0000", "é", "🦀", "\\n", "{", "}", "$", "...", "#", "\\u00e9"];
        (0..self.rng.random_range(0..12)).map(|_| self.pick(&alphabet)).collect()
    }

    fn value(&mut self, depth: u32) -> String {
        match self.rng.random_range(0..11) {
            0 => self.rng.random_range(-3i64..200).to_string(),
            1 => ["2147483648", "-2147483649", "99999999999999999999", "1e400", "0.5", "-0"]
                [self.rng.random_range(0..6)]
            .into(),
            2 => format!("\"{}\"", self.string()),
            3 => ["true", "false", "null"][self.rng.random_range(0..3)].into(),
            4 => ["HIGH", "OPEN", "COMMENT", "UPDATED_AT", "DESC", "NOPE"][self.rng.random_range(0..6)].into(),
            5 if depth < 4 => format!(
                "[{}]",
                (0..self.rng.random_range(0..4)).map(|_| self.value(depth + 1)).collect::<Vec<_>>().join(", ")
            ),
            6 if depth < 4 => {
                let fields: Vec<String> = (0..self.rng.random_range(0..4))
                    .map(|_| format!("{}: {}", self.pick(NAMES), self.value(depth + 1)))
                    .collect();
                format!("{{ {} }}", fields.join(", "))
            }
            7 => format!("${}", self.pick(&["v", "first", "id", "x"])),
            8 => "\"\"\"block \\\"\"\" string\"\"\"".into(),
            _ => format!("\"{}\"", self.rng.random_range(990..1010)),
        }
    }

    fn selection_set(&mut self, depth: u32) -> String {
        let mut items = Vec::new();
        for _ in 0..self.rng.random_range(1..5) {
            let item = match self.rng.random_range(0..10) {
                0 if depth < 6 => format!(
                    "... on {} {}",
                    self.pick(&["Case", "Query", "Mutation", "Comment", "AuditEvent", "Nope"]),
                    self.selection_set(depth + 1)
                ),
                1 if depth < 6 => format!("... {}", self.selection_set(depth + 1)),
                2 => format!("...F{}", self.rng.random_range(0..3)),
                _ => {
                    let mut field = String::new();
                    if self.chance(20) {
                        field.push_str(&format!("{}: ", self.pick(&["a", "b", "me", "cases"])));
                    }
                    field.push_str(self.pick(NAMES));
                    if self.chance(40) {
                        let args: Vec<String> = (0..self.rng.random_range(0..3))
                            .map(|_| format!("{}: {}", self.pick(ARGUMENTS), self.value(0)))
                            .collect();
                        field.push_str(&format!("({})", args.join(", ")));
                    }
                    if self.chance(10) {
                        field.push_str(&format!(
                            " @{}(if: {})",
                            self.pick(&["include", "skip", "nope"]),
                            self.value(0)
                        ));
                    }
                    if depth < 7 && self.chance(50) {
                        field.push(' ');
                        field.push_str(&self.selection_set(depth + 1));
                    }
                    field
                }
            };
            items.push(item);
        }
        format!("{{ {} }}", items.join(" "))
    }

    fn document(&mut self) -> String {
        let mut document = String::new();
        for _ in 0..self.rng.random_range(1..3) {
            let keyword = self.pick(&[
                "",
                "query",
                "mutation",
                "subscription",
                "query Q",
                "mutation M",
                "query($v: Int, $x: String)",
            ]);
            document.push_str(&format!("{keyword} {}\n", self.selection_set(0)));
        }
        for i in 0..self.rng.random_range(0..3) {
            let on = self.pick(&["Query", "Mutation", "Case", "Nope"]);
            document.push_str(&format!("fragment F{i} on {on} {}\n", self.selection_set(1)));
        }
        if self.chance(15) {
            // Damage it: truncate, or flip a byte.
            let mut bytes = document.into_bytes();
            let at = self.rng.random_range(0..bytes.len());
            if self.chance(50) {
                bytes.truncate(at);
            } else {
                bytes[at] = self.rng.random();
            }
            document = String::from_utf8_lossy(&bytes).into_owned();
        }
        document
    }

    fn json(&mut self, depth: u32) -> Value {
        match self.rng.random_range(0..8) {
            0 => json!(self.rng.random_range(-5i64..5000)),
            1 => json!(self.string().replace("\\u0000", "\0")),
            2 => json!(self.chance(50)),
            3 => Value::Null,
            4 if depth < 5 => Value::Array((0..self.rng.random_range(0..4)).map(|_| self.json(depth + 1)).collect()),
            5 if depth < 5 => Value::Object(
                (0..self.rng.random_range(0..4)).map(|_| (self.pick(NAMES).to_owned(), self.json(depth + 1))).collect(),
            ),
            6 => json!(1e300),
            _ => json!(format!("{}", self.rng.random_range(995..1010))),
        }
    }
}

/// The server's answer to one fuzzed HTTP request must be a clean one.
fn check_answer(status: u16, body: &str, what: &str) {
    assert!([200, 400, 401, 403, 405, 406, 413, 415, 429].contains(&status), "{status} for {what}\n{body}");
    if let Ok(json) = serde_json::from_str::<Value>(body) {
        assert!(!error_codes(&json).iter().any(|c| c == "INTERNAL"), "INTERNAL for {what}\n{body}");
    } else {
        panic!("not JSON ({status}) for {what}: {body}");
    }
}

async fn random_requests_get_clean_answers(backend: Backend) {
    let cases: u32 = std::env::var("CASEBOOK_FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(150);
    let seed: u64 = std::env::var("CASEBOOK_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EC0_FF1C);
    eprintln!("fuzz: {cases} cases, CASEBOOK_FUZZ_SEED={seed}");
    let server = TestServer::start_with(backend, |s| s.rate_limit_per_minute = 0).await;
    let admin = admin("acme");
    create_case(&server, &admin, "Fuzzed", json!({})).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    let mut generator = Gen { rng: StdRng::seed_from_u64(seed) };
    for case in 0..cases {
        let document = generator.document();
        let variables =
            if generator.chance(70) { generator.json(0) } else { json!({ "v": generator.json(0), "first": 3 }) };
        let what = format!("case {case} (seed {seed}): {document:?} {variables}");
        let request = match generator.rng.random_range(0..6) {
            0 => client
                .get(server.url("/graphql"))
                .query(&[("query", document.as_str()), ("variables", &variables.to_string())]),
            1 => client
                .post(server.url("/graphql"))
                .header("content-type", "application/json")
                .body(generator.json(0).to_string()),
            2 => {
                let bytes: Vec<u8> = (0..generator.rng.random_range(0..300)).map(|_| generator.rng.random()).collect();
                client.post(server.url("/graphql")).header("content-type", "application/json").body(bytes)
            }
            3 => client
                .post(server.url("/graphql"))
                .header("accept", "application/graphql-response+json")
                .json(&json!({ "query": document, "variables": variables })),
            _ => client.post(server.url("/graphql")).json(
                &json!({ "query": document, "variables": variables, "operationName": generator.pick(&["Q", "M"]) }),
            ),
        };
        let response =
            request.bearer_auth(&admin).send().await.unwrap_or_else(|e| panic!("no answer ({e}) for {what}"));
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        check_answer(status, &body, &what);
    }

    // WebSocket frames: random messages after a real handshake.
    for round in 0..(cases / 15).max(2) {
        let mut ws = server.ws(if round % 2 == 0 { "graphql-transport-ws" } else { "graphql-ws" }).await;
        ws.init(&admin).await;
        for n in 0..10 {
            let frame = match generator.rng.random_range(0..5) {
                0 => {
                    json!({ "type": "subscribe", "id": format!("{n}"), "payload": { "query": generator.document(), "variables": generator.json(0) } })
                }
                1 => {
                    json!({ "type": generator.pick(&["start", "stop", "complete", "ping", "pong", "connection_init", "nope"]), "id": generator.json(0) })
                }
                2 => generator.json(0),
                3 => {
                    json!({ "type": "subscribe", "id": "dup", "payload": { "query": "subscription { caseActivity(caseId: \"1000\") { id } }" } })
                }
                _ => json!({ "type": "subscribe", "id": format!("{n}"), "payload": generator.json(0) }),
            };
            if !ws.try_send(frame).await {
                break; // the server closed the socket; what it said is read below
            }
        }
        // The socket ends with a protocol close code, or answers on.
        while let Ok(event) = tokio::time::timeout(Duration::from_millis(300), ws.next(5)).await {
            match event {
                WsEvent::Closed(code, reason) => {
                    assert!(
                        [1000, 1005, 1006, 4400, 4401, 4403, 4409, 4429].contains(&code),
                        "closed {code} {reason} (round {round}, seed {seed})"
                    );
                    break;
                }
                WsEvent::Message(m) => {
                    assert!(!m.to_string().contains("\"INTERNAL\""), "{m} (round {round}, seed {seed})")
                }
            }
        }
    }

    // Still serving.
    assert_eq!(server.client.get(server.url("/healthz")).send().await.unwrap().status(), 200);
    server.ok(&admin, "{ cases { totalCount } }", json!({})).await;
}

both_backends!(random_requests_get_clean_answers);
