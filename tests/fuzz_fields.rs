//! Every root field of the schema, fuzzed from its own input types: the
//! variables are built from the argument types the schema declares, right
//! typed with extreme values (70,000-character and unusual strings, 501-item
//! lists, out-of-range numbers, impossible dates, unknown enum values) and
//! wrongly typed. The fields are read from the running schema, so a new
//! field is fuzzed without anyone adding it here. The server must answer
//! every request cleanly: no 5xx, no INTERNAL, no hang; afterwards it serves.
//!
//! Bounded for CI (`CASEBOOK_FIELD_FUZZ_ROUNDS`, default 6 variable sets
//! per field and backend, fixed seed). A longer campaign:
//! `CASEBOOK_FIELD_FUZZ_ROUNDS=200 CASEBOOK_FUZZ_SEED=$RANDOM cargo test --release --test integration fuzz_fields:: -- --nocapture`.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::*;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

/// A root field: its operation keyword, name, arguments (name, type), and
/// whether it returns a leaf (no selection below it).
struct Root {
    keyword: &'static str,
    field: String,
    arguments: Vec<(String, Type)>,
    leaf: bool,
}

/// What the schema says of input types.
struct Schema {
    roots: Vec<Root>,
    inputs: HashMap<String, Vec<(String, Type)>>,
    enums: HashMap<String, Vec<String>>,
}

fn read_schema() -> Schema {
    let document = async_graphql::parser::parse_schema(casebook::graphql::sdl()).expect("the SDL parses");
    let mut objects = HashMap::new();
    let (mut inputs, mut enums) = (HashMap::new(), HashMap::new());
    let mut scalars_out = std::collections::HashSet::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else { continue };
        let name = ty.node.name.node.to_string();
        match ty.node.kind {
            TypeKind::Object(object) => {
                objects.insert(name, object.fields);
            }
            TypeKind::InputObject(input) => {
                let fields =
                    input.fields.iter().map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone())).collect();
                inputs.insert(name, fields);
            }
            TypeKind::Enum(e) => {
                enums.insert(name.clone(), e.values.iter().map(|v| v.node.value.node.to_string()).collect());
                scalars_out.insert(name);
            }
            TypeKind::Scalar => {
                scalars_out.insert(name);
            }
            _ => {}
        }
    }
    let leaf = |ty: &Type| -> bool {
        let mut base = &ty.base;
        while let BaseType::List(inner) = base {
            base = &inner.base;
        }
        match base {
            BaseType::Named(name) => {
                scalars_out.contains(name.as_str())
                    || ["String", "Int", "Float", "Boolean", "ID"].contains(&name.as_str())
            }
            BaseType::List(_) => false,
        }
    };
    let mut roots = Vec::new();
    for (keyword, root) in [("query", "Query"), ("mutation", "Mutation"), ("subscription", "Subscription")] {
        for field in objects.get(root).map(Vec::as_slice).unwrap_or_default() {
            let arguments =
                field.node.arguments.iter().map(|a| (a.node.name.node.to_string(), a.node.ty.node.clone())).collect();
            let (field, leaf) = (field.node.name.node.to_string(), leaf(&field.node.ty.node));
            roots.push(Root { keyword, field, arguments, leaf });
        }
    }
    Schema { roots, inputs, enums }
}

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn one_of<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())].clone()
    }

    fn string(&mut self, long: bool) -> Value {
        let long_text = || "a".repeat(70_000);
        let mut choices: Vec<String> = vec![
            String::new(),
            " ".into(),
            "x".into(),
            "é".repeat(300),
            "\u{202e}evil.exe\u{202d}".into(),
            "<script>alert(1)</script>".into(),
            "' OR 1=1 --".into(),
            "%_\\*?[".into(),
            "🦀🦀🦀".into(),
            "\"quoted\" -not OR".into(),
            "1000".into(),
            "-1".into(),
            "2026-02-30T25:61:00Z".into(),
        ];
        if long {
            choices.push(long_text());
            choices.push("x ".repeat(35_000));
        }
        Value::String(self.one_of(&choices))
    }

    fn named(&mut self, schema: &Schema, name: &str, depth: usize, long: bool) -> Value {
        match name {
            "String" => self.string(long),
            "ID" => self.one_of(&[
                json!("1000"),
                json!("0"),
                json!("-1"),
                json!("99999999999999999999"),
                json!("abc"),
                json!(""),
            ]),
            "Int" => self.one_of(&[
                json!(0),
                json!(-1),
                json!(1),
                json!(100),
                json!(101),
                json!(2147483647),
                json!(-2147483648),
            ]),
            "Float" => self.one_of(&[json!(0.0), json!(-1e308), json!(1e308), json!(0.5)]),
            "Boolean" => json!(self.rng.random_bool(0.5)),
            "DateTime" => self.one_of(&[
                json!("2026-12-06T00:00:00Z"),
                json!("9999-12-31T23:59:59Z"),
                json!("0001-01-01T00:00:00Z"),
                json!("2026-02-30T00:00:00Z"),
                json!("not a date"),
                json!("2026-12-06"),
            ]),
            _ => {
                if let Some(values) = schema.enums.get(name) {
                    if self.rng.random_bool(0.2) {
                        return json!("NOT_A_VALUE");
                    }
                    return json!(self.one_of(values));
                }
                if let Some(fields) = schema.inputs.get(name) {
                    if depth > 4 {
                        return Value::Null;
                    }
                    let mut object = Map::new();
                    for (field, ty) in fields {
                        if !ty.nullable || self.rng.random_bool(0.6) {
                            object.insert(field.clone(), self.typed(schema, ty, depth + 1, long));
                        }
                    }
                    return Value::Object(object);
                }
                // Another custom scalar: a text.
                self.string(long)
            }
        }
    }

    /// A value of this type, extreme but of the right type.
    fn typed(&mut self, schema: &Schema, ty: &Type, depth: usize, long: bool) -> Value {
        if ty.nullable && self.rng.random_bool(0.15) {
            return Value::Null;
        }
        match &ty.base {
            BaseType::Named(name) => self.named(schema, name.as_str(), depth, long),
            BaseType::List(inner) => {
                let len = self.one_of(&[0usize, 1, 3, 501]);
                // Long texts only in short lists: the body stays under the request limit.
                (0..len).map(|_| self.typed(schema, inner, depth + 1, long && len < 10)).collect()
            }
        }
    }

    /// A value of the wrong type.
    fn wrong(&mut self) -> Value {
        self.one_of(&[json!(12), json!("text"), json!([1, "a"]), json!({ "x": 1 }), json!(true), json!(1.5e300)])
    }
}

/// The server's answer must be a clean one.
fn check(status: u16, body: &str, what: &str) {
    assert!(status < 500, "{status} for {what}\n{body}");
    let json: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON ({status}) for {what}: {body}"));
    assert!(
        !error_codes(&json).iter().any(|c| c == "INTERNAL"),
        "INTERNAL for {what}\n{}",
        &body[..body.len().min(2000)]
    );
}

async fn every_root_field_takes_extreme_and_wrong_input_cleanly(backend: Backend) {
    let rounds: usize = std::env::var("CASEBOOK_FIELD_FUZZ_ROUNDS").ok().and_then(|c| c.parse().ok()).unwrap_or(6);
    let seed: u64 = std::env::var("CASEBOOK_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xF1E1D5);
    let schema = read_schema();
    assert!(schema.roots.len() > 50, "the schema's root fields are read: {}", schema.roots.len());
    let server = TestServer::start_with(backend, |s| s.rate_limit_per_minute = 0).await;
    let admin = admin("acme");
    create_case(&server, &admin, "Fuzzed", json!({})).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut generator = Gen { rng: StdRng::seed_from_u64(seed) };
    let mut requests = 0;
    for Root { keyword, field, arguments, leaf } in &schema.roots {
        let declared: Vec<String> = arguments.iter().map(|(name, ty)| format!("${name}: {ty}")).collect();
        let passed: Vec<String> = arguments.iter().map(|(name, _)| format!("{name}: ${name}")).collect();
        let selection = if *leaf { "" } else { "{ __typename }" };
        let (declared, passed) = if arguments.is_empty() {
            (String::new(), String::new())
        } else {
            (format!("({})", declared.join(", ")), format!("({})", passed.join(", ")))
        };
        let document = format!("{keyword} Fuzz{declared} {{ {field}{passed} {selection} }}");
        for round in 0..rounds {
            // Under the request body's limit (past it is a 413, tested elsewhere).
            let variables = loop {
                let mut variables = Map::new();
                for (name, ty) in arguments {
                    let value = match round % 3 {
                        2 if generator.rng.random_bool(0.5) => generator.wrong(),
                        _ => generator.typed(&schema, ty, 0, round % 3 == 1),
                    };
                    variables.insert(name.clone(), value);
                }
                if Value::Object(variables.clone()).to_string().len() < 900_000 {
                    break variables;
                }
            };
            let what = format!(
                "{document} with {}",
                Value::Object(variables.clone()).to_string().chars().take(400).collect::<String>()
            );
            requests += 1;
            if *keyword == "subscription" {
                let mut ws = server.ws("graphql-transport-ws").await;
                ws.init(&admin).await;
                ws.send(
                    json!({ "id": "f", "type": "subscribe", "payload": { "query": document, "variables": variables } }),
                )
                .await;
                // An answer or nothing yet (a live subscription); never INTERNAL, never a server close.
                if let Ok(event) = tokio::time::timeout(Duration::from_millis(500), ws.next(5)).await {
                    match event {
                        WsEvent::Message(m) => assert!(!m.to_string().contains("\"INTERNAL\""), "{m} for {what}"),
                        WsEvent::Closed(code, reason) => panic!("closed {code} {reason} for {what}"),
                    }
                }
                continue;
            }
            let body = json!({ "query": document, "variables": variables });
            let response = client
                .post(server.url("/graphql"))
                .bearer_auth(&admin)
                .json(&body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("no answer ({e}) for {what}"));
            let status = response.status().as_u16();
            check(status, &response.text().await.unwrap(), &what);
        }
    }
    eprintln!("{backend:?}: {requests} requests over {} root fields (seed {seed})", schema.roots.len());
    assert_eq!(server.client.get(server.url("/healthz")).send().await.unwrap().status(), 200);
    server.ok(&admin, "{ cases { totalCount } }", json!({})).await;
}

both_backends!(every_root_field_takes_extreme_and_wrong_input_cleanly);

/// What the fuzz from outside found: a 70,000-character search answered
/// INTERNAL on SQLite (its LIKE pattern limit) and not on PostgreSQL; a
/// window that reaches before year 1 answered INTERNAL on PostgreSQL. Both
/// databases now refuse them alike, naming the field.
async fn what_the_outside_fuzz_found_is_refused_alike(backend: Backend) {
    let server = TestServer::start(backend).await;
    let reader = reader("acme");
    let long = "a".repeat(70_000);
    for query in [
        "query($s: String) { users(search: $s) { id } }",
        "query($s: String) { tags(search: $s) { name } }",
        "query($s: String) { observables(filter: { search: $s }) { totalCount } }",
        "query($s: String) { incidents(filter: { search: $s }) { totalCount } }",
        "query($s: String) { cases(filter: { search: $s }) { totalCount } }",
    ] {
        let answer = server.gql(Some(&reader), query, json!({ "s": long })).await;
        assert_code(&answer, "BAD_USER_INPUT");
        assert_eq!(answer["errors"][0]["message"], "search: must be at most 512 characters", "{query}");
    }
    let window = "{ caseMetrics(to: \"0001-01-01T00:00:00Z\", groupBy: [ASSIGNEE]) { opened } }";
    let answer = server.gql(Some(&reader), window, json!({})).await;
    assert_code(&answer, "BAD_USER_INPUT");
    assert!(answer["errors"][0]["message"].as_str().unwrap().starts_with("to: must fall in the years"), "{answer}");
    // A body past the limit is refused as JSON, like every other refusal.
    let huge = json!({ "query": "{ me { tenant } }", "variables": { "x": "a".repeat(1_100_000) } });
    let response = server.client.post(server.url("/graphql")).bearer_auth(&reader).json(&huge).send().await;
    if let Ok(response) = response {
        assert_eq!(response.status(), 413);
        let body: Value = response.json().await.unwrap();
        assert_code(&body, "BAD_USER_INPUT");
    }
}

both_backends!(what_the_outside_fuzz_found_is_refused_alike);
