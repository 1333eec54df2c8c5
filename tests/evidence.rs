//! Evidence on cases, as a client uses it: observables (checked, written in
//! canonical form, idempotent, audited), the pivot to every case that saw an
//! indicator, and the queue filtered by one.

use crate::common;
use crate::common::*;
use serde_json::{Value, json};

const OBSERVABLE_FIELDS: &str =
    "id type value normalizedValue isIoc tlp description addedBy { id } addedAt case { id }";

/// Adds observables (`[type, value]` pairs, plus `extra` fields on each) and
/// returns the whole response.
async fn add_observables(server: &TestServer, token: &str, case_id: &str, items: &[Value]) -> Value {
    let query = format!(
        "mutation($input: AddObservablesInput!) {{ addObservables(input: $input) {{ case {{ id version }} observables {{ {OBSERVABLE_FIELDS} }} }} }}"
    );
    server.gql(Some(token), &query, json!({ "input": { "caseId": case_id, "observables": items } })).await
}

/// Adds observables that must be accepted; returns the payload.
async fn added(server: &TestServer, token: &str, case_id: &str, items: &[Value]) -> Value {
    let body = add_observables(server, token, case_id, items).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    body["data"]["addObservables"].clone()
}

fn item(kind: &str, value: &str) -> Value {
    json!({ "type": kind, "value": value })
}

/// The audit actions of a case's log, newest first, with their changes.
async fn audits(server: &TestServer, token: &str, case_id: &str) -> Vec<Value> {
    let query = "query($id: ID!) { case(id: $id) { activity(kinds: [AUDIT], first: 100) { nodes { ... on AuditEvent {
        action changes { field oldValue newValue } observable { id } } } } } }";
    let data = server.ok(token, query, json!({ "id": case_id })).await;
    data["case"]["activity"]["nodes"].as_array().unwrap().clone()
}

/// The case numbers a queue filter shows, and its count.
async fn queue(server: &TestServer, token: &str, filter: Value) -> (Vec<String>, i64) {
    let query = "query($filter: CaseFilter) { cases(filter: $filter, first: 100) { totalCount nodes { id } } }";
    let data = server.ok(token, query, json!({ "filter": filter })).await;
    let ids = data["cases"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect();
    (ids, data["cases"]["totalCount"].as_i64().unwrap())
}

async fn observables_are_normalised_idempotent_and_audited(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let case = create_case(&server, &analyst, "Burrowing", json!({})).await;
    let id = case["id"].as_str().unwrap();

    let first = added(
        &server,
        &analyst,
        id,
        &[
            json!({ "type": "IP_ADDRESS", "value": " 2001:DB8:0:0:0:0:0:1 ", "isIoc": true, "tlp": "RED", "description": "C2" }),
            item("DOMAIN", "Evil-Corp.Example."),
            item("URL", "HTTP://Evil-Corp.Example:80/stage2"),
            item("FILE_HASH_SHA256", &"AB".repeat(32)),
            item("CVE", "cve-2021-44228"),
        ],
    )
    .await;
    let values: Vec<&str> =
        first["observables"].as_array().unwrap().iter().map(|o| o["normalizedValue"].as_str().unwrap()).collect();
    assert_eq!(
        values,
        [
            "2001:db8::1",
            "evil-corp.example",
            "http://evil-corp.example/stage2",
            "ab".repeat(32).as_str(),
            "CVE-2021-44228"
        ]
    );
    let ip = &first["observables"][0];
    assert_eq!(
        (ip["value"].as_str(), ip["isIoc"].as_bool(), ip["tlp"].as_str()),
        (Some("2001:DB8:0:0:0:0:0:1"), Some(true), Some("RED"))
    );
    assert_eq!(first["observables"][1]["tlp"], "AMBER", "AMBER by default");
    assert_eq!(first["observables"][1]["isIoc"], false);
    assert_eq!(first["case"]["version"], 2, "adding in bulk counts as one change");

    // The same indicators written another way: nothing new, the same observables back.
    let again =
        added(&server, &analyst, id, &[item("IP_ADDRESS", "2001:db8::1"), item("DOMAIN", "evil-corp.example")]).await;
    assert_eq!(again["case"]["version"], 2, "an idempotent add changes nothing");
    assert_eq!(again["observables"][0]["id"], ip["id"]);
    assert_eq!(again["observables"][0]["tlp"], "RED", "an existing observable is left as it is");

    let log = audits(&server, &analyst, id).await;
    assert_eq!(log[0]["action"], "OBSERVABLES_ADDED");
    let listed = log[0]["changes"][0]["newValue"].as_str().unwrap();
    assert!(listed.contains("2001:db8::1") && listed.contains("CVE-2021-44228"), "{listed}");
    assert_eq!(log.iter().filter(|a| a["action"] == "OBSERVABLES_ADDED").count(), 1);

    // Update, then remove: both audited, naming the observable.
    let update =
        "mutation($input: UpdateObservableInput!) { updateObservable(input: $input) { isIoc tlp description } }";
    let ip_id = ip["id"].as_str().unwrap();
    let changed = server
        .ok(&analyst, update, json!({ "input": { "id": ip_id, "tlp": "AMBER_STRICT", "description": null } }))
        .await;
    assert_eq!(changed["updateObservable"], json!({ "isIoc": true, "tlp": "AMBER_STRICT", "description": null }));
    let remove = "mutation($input: RemoveObservableInput!) { removeObservable(input: $input) { id observables { totalCount } } }";
    let removed = server.ok(&analyst, remove, json!({ "input": { "id": ip_id } })).await;
    assert_eq!(removed["removeObservable"]["observables"]["totalCount"], 4);
    let log = audits(&server, &analyst, id).await;
    assert_eq!(log[0]["action"], "OBSERVABLE_REMOVED");
    assert_eq!(log[0]["changes"][0]["oldValue"], "IP_ADDRESS 2001:db8::1", "the log keeps what was removed");
    assert_eq!(log[0]["observable"], Value::Null);
    assert_eq!(log[1]["action"], "OBSERVABLE_UPDATED");
    let fields: Vec<&str> =
        log[1]["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["tlp", "description"]);

    // Unknown ids, and a reader, are refused.
    let missing = server.gql(Some(&analyst), remove, json!({ "input": { "id": ip_id } })).await;
    assert_code(&missing, "NOT_FOUND");
    let refused = add_observables(&server, &reader("acme"), id, &[item("DOMAIN", "x.example")]).await;
    assert_code(&refused, "FORBIDDEN");
}

async fn bad_values_are_refused_naming_the_item_and_nothing_is_added(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let id = create_case(&server, &analyst, "Bad input", json!({})).await["id"].as_str().unwrap().to_owned();
    let cases = [
        (item("IP_ADDRESS", "10.0.0.256"), "IP_ADDRESS must be an IPv4 address"),
        (item("DOMAIN", "localhost"), "DOMAIN must be a domain name"),
        (item("URL", "evil.example/path"), "URL must be an absolute URL"),
        (item("EMAIL_ADDRESS", "alice@"), "EMAIL_ADDRESS must be an e-mail address"),
        (item("FILE_HASH_MD5", "xyz"), "FILE_HASH_MD5 must be an MD5 hash"),
        (item("CVE", "CVE-21-1"), "CVE must be a CVE id"),
    ];
    for (bad, rule) in cases {
        let body = add_observables(&server, &analyst, &id, &[item("DOMAIN", "fine.example"), bad]).await;
        assert_code(&body, "BAD_USER_INPUT");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("observables[1].value: ") && message.contains(rule), "{message}");
    }
    let nul = add_observables(&server, &analyst, &id, &[item("OTHER", "nul\u{0}")]).await;
    assert_code(&nul, "BAD_USER_INPUT");
    let too_many: Vec<Value> = (0..101).map(|i| item("OTHER", &format!("item {i}"))).collect();
    assert_code(&add_observables(&server, &analyst, &id, &too_many).await, "BAD_USER_INPUT");
    let (_, count) =
        queue(&server, &analyst, json!({ "observable": { "type": "DOMAIN", "value": "fine.example" } })).await;
    assert_eq!(count, 0, "a refused add adds nothing");
    assert_code(&add_observables(&server, &analyst, "999999", &[item("DOMAIN", "a.example")]).await, "NOT_FOUND");
}

async fn the_pivot_finds_every_case_that_saw_an_indicator(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let mut ids = Vec::new();
    for title in ["First sighting", "Second sighting", "Unrelated", "Third sighting"] {
        ids.push(create_case(&server, &analyst, title, json!({})).await["id"].as_str().unwrap().to_owned());
    }
    for (case, value) in [(0, "198.51.100.7"), (1, "198.51.100.7"), (2, "198.51.100.8"), (3, "198.51.100.7")] {
        added(&server, &analyst, &ids[case], &[item("IP_ADDRESS", value), item("HOSTNAME", "WS-0421")]).await;
    }
    // Another tenant's sighting stays there.
    let other = common::analyst("globex");
    let theirs = create_case(&server, &other, "Theirs", json!({})).await["id"].as_str().unwrap().to_owned();
    added(&server, &other, &theirs, &[item("IP_ADDRESS", "198.51.100.7")]).await;

    let query = "query($id: ID!) { case(id: $id) { observables(filter: { types: [IP_ADDRESS] }) { nodes {
        normalizedValue cases(first: 2) { totalCount nodes { id title } pageInfo { hasNextPage endCursor } } } } } }";
    let data = server.ok(&analyst, query, json!({ "id": ids[1] })).await;
    let pivot = &data["case"]["observables"]["nodes"][0]["cases"];
    assert_eq!(pivot["totalCount"], 3);
    let newest: Vec<&str> = pivot["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(newest, [ids[3].as_str(), ids[1].as_str()], "newest first, paged");
    assert_eq!(pivot["pageInfo"]["hasNextPage"], true);

    // The queue filter normalises what the client typed.
    let (found, count) =
        queue(&server, &analyst, json!({ "observable": { "type": "HOSTNAME", "value": "ws-0421." } })).await;
    assert_eq!((found.len(), count), (4, 4));
    let (found, _) = queue(
        &server,
        &analyst,
        json!({ "observable": { "type": "IP_ADDRESS", "value": "198.51.100.7" }, "search": "sighting" }),
    )
    .await;
    assert_eq!(found, [ids[3].clone(), ids[1].clone(), ids[0].clone()]);
    let bad = server
        .gql(
            Some(&analyst),
            "{ cases(filter: { observable: { type: IP_ADDRESS, value: \"nope\" } }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_code(&bad, "BAD_USER_INPUT");
    assert!(bad["errors"][0]["message"].as_str().unwrap().starts_with("filter.observable.value:"));

    // Across the tenant: one row per case that saw it.
    let list = "query($filter: ObservableFilter) { observables(filter: $filter, first: 10) { totalCount nodes { type case { id } } } }";
    let data = server.ok(&analyst, list, json!({ "filter": { "value": "198.51.100.7" } })).await;
    assert_eq!(data["observables"]["totalCount"], 3);
    let data = server
        .ok(&analyst, list, json!({ "filter": { "value": "WS-0421", "types": ["HOSTNAME", "IP_ADDRESS"] } }))
        .await;
    assert_eq!(data["observables"]["totalCount"], 4, "a value invalid for one of the types is matched as the others");
    let data = server.ok(&analyst, list, json!({ "filter": { "search": "198.51", "isIoc": false } })).await;
    assert_eq!(data["observables"]["totalCount"], 4);
    let bad = server.gql(Some(&analyst), list, json!({ "filter": { "value": "nope", "types": ["IP_ADDRESS"] } })).await;
    assert_code(&bad, "BAD_USER_INPUT");

    // Pages of a case's observables and of the tenant's cover each once, newest first.
    let many: Vec<Value> = (1..=5).map(|n| item("IP_ADDRESS", &format!("192.0.2.{n}"))).collect();
    added(&server, &analyst, &ids[0], &many).await;
    let of_case = "query($id: ID!, $after: String) { case(id: $id) { observables(first: 2, after: $after) {
        totalCount nodes { normalizedValue } pageInfo { hasNextPage endCursor } } } }";
    let across = "query($after: String) { observables(filter: { search: \"192.0.2\" }, first: 2, after: $after) {
        totalCount nodes { normalizedValue } pageInfo { hasNextPage endCursor } } }";
    for (query, variables, root) in [(of_case, json!({ "id": ids[0] }), "case"), (across, json!({}), "observables")] {
        let (mut seen, mut after) = (Vec::new(), Value::Null);
        loop {
            let mut variables = variables.clone();
            variables["after"] = after.clone();
            let data = server.ok(&analyst, query, variables).await;
            let page = if root == "case" { &data["case"]["observables"] } else { &data["observables"] };
            let values =
                page["nodes"].as_array().unwrap().iter().map(|n| n["normalizedValue"].as_str().unwrap().to_owned());
            seen.extend(values);
            if page["pageInfo"]["hasNextPage"] != true {
                assert_eq!(seen.len() as i64, page["totalCount"].as_i64().unwrap(), "{root}: {seen:?}");
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        let fresh: Vec<String> = (1..=5).rev().map(|n| format!("192.0.2.{n}")).collect();
        assert_eq!(seen[..5], fresh[..], "{root}: newest first");
    }
    let bad = server.gql(Some(&analyst), across, json!({ "after": "not a cursor" })).await;
    assert_code(&bad, "BAD_USER_INPUT");

    // Search finds a case by its observables' values.
    let (found, _) = queue(&server, &analyst, json!({ "search": "\"198.51.100.8\"" })).await;
    assert_eq!(found, [ids[2].clone()]);
}

async fn change_tags(server: &TestServer, token: &str, mutation: &str, case_id: &str, tags: &[&str]) -> Value {
    let query = format!("mutation($input: CaseTagsInput!) {{ {mutation}(input: $input) {{ id version tags }} }}");
    server.gql(Some(token), &query, json!({ "input": { "caseId": case_id, "tags": tags } })).await
}

async fn tags_are_labels_unique_ignoring_case_and_filter_the_queue(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let mut ids = Vec::new();
    for title in ["Tagged one", "Tagged two", "Tagged three"] {
        ids.push(create_case(&server, &analyst, title, json!({})).await["id"].as_str().unwrap().to_owned());
    }
    let body = change_tags(&server, &analyst, "addCaseTags", &ids[0], &["Ransomware", " APT29 ", "ransomware"]).await;
    assert_eq!(body["data"]["addCaseTags"]["tags"], json!(["APT29", "Ransomware"]), "{body:#}");
    assert_eq!(body["data"]["addCaseTags"]["version"], 2);
    // The tenant's first spelling is kept; adding a tag the case has changes nothing.
    let body = change_tags(&server, &analyst, "addCaseTags", &ids[1], &["RANSOMWARE", "phishing"]).await;
    assert_eq!(body["data"]["addCaseTags"]["tags"], json!(["phishing", "Ransomware"]));
    let body = change_tags(&server, &analyst, "addCaseTags", &ids[1], &["phishing"]).await;
    assert_eq!(body["data"]["addCaseTags"]["version"], 2);
    change_tags(&server, &analyst, "addCaseTags", &ids[2], &["apt29"]).await;

    let tagged = |all: &[&str], any: &[&str]| json!({ "tags": { "all": all, "any": any } });
    assert_eq!(queue(&server, &analyst, tagged(&["ransomware"], &[])).await, (vec![ids[1].clone(), ids[0].clone()], 2));
    assert_eq!(queue(&server, &analyst, tagged(&["ransomware", "apt29"], &[])).await, (vec![ids[0].clone()], 1));
    assert_eq!(queue(&server, &analyst, tagged(&[], &["phishing", "APT29"])).await.1, 3);
    assert_eq!(queue(&server, &analyst, tagged(&["no such tag"], &[])).await.1, 0);

    let tags = "query($search: String) { tags(search: $search) { name openCaseCount } }";
    let data = server.ok(&analyst, tags, json!({})).await;
    assert_eq!(
        data["tags"],
        json!([
            { "name": "APT29", "openCaseCount": 2 },
            { "name": "phishing", "openCaseCount": 1 },
            { "name": "Ransomware", "openCaseCount": 2 },
        ])
    );
    let data = server.ok(&analyst, tags, json!({ "search": "SOM" })).await;
    assert_eq!(data["tags"], json!([{ "name": "Ransomware", "openCaseCount": 2 }]));
    let closed = status_id(&server, &analyst, "Closed").await;
    let closing =
        update_case(&server, &analyst, json!({ "id": ids[1], "statusId": closed, "classification": "FALSE_POSITIVE" }))
            .await;
    assert!(closing.get("errors").is_none(), "{closing:#}");
    let data = server.ok(&analyst, tags, json!({ "search": "ransom" })).await;
    assert_eq!(data["tags"][0]["openCaseCount"], 1, "a closed case is not counted");

    let body = change_tags(&server, &analyst, "removeCaseTags", &ids[0], &["RANSOMWARE", "never there"]).await;
    assert_eq!(body["data"]["removeCaseTags"]["tags"], json!(["APT29"]));
    let log = audits(&server, &analyst, &ids[0]).await;
    assert_eq!(
        (log[0]["action"].as_str(), log[0]["changes"][0]["oldValue"].as_str()),
        (Some("TAGS_REMOVED"), Some("Ransomware"))
    );
    assert_eq!(
        (log[1]["action"].as_str(), log[1]["changes"][0]["newValue"].as_str()),
        (Some("TAGS_ADDED"), Some("APT29, Ransomware"))
    );

    // Limits: 64 characters, no commas, 20 per case.
    let long = "x".repeat(65);
    for bad in [long.as_str(), "a,b", "   "] {
        assert_code(&change_tags(&server, &analyst, "addCaseTags", &ids[2], &[bad]).await, "BAD_USER_INPUT");
    }
    let many: Vec<String> = (0..19).map(|i| format!("t{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let full = change_tags(&server, &analyst, "addCaseTags", &ids[2], &many).await;
    assert!(full.get("errors").is_none(), "{full:#}");
    let over = change_tags(&server, &analyst, "addCaseTags", &ids[2], &["one too many"]).await;
    assert_code(&over, "BAD_USER_INPUT");
    assert!(over["errors"][0]["message"].as_str().unwrap().contains("at most 20 tags"));
    assert_code(&change_tags(&server, &reader("acme"), "addCaseTags", &ids[2], &["x"]).await, "FORBIDDEN");
}

async fn set_techniques(server: &TestServer, token: &str, case_id: &str, ids: &[&str]) -> Value {
    let query = "mutation($input: SetCaseTechniquesInput!) { setCaseTechniques(input: $input) {
        id version techniques { id name isSubtechnique url tactics { id name } } } }";
    server.gql(Some(token), query, json!({ "input": { "caseId": case_id, "techniqueIds": ids } })).await
}

async fn attack_techniques_come_from_the_catalogue_and_filter_the_queue(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let picker = "query($search: String, $tactic: String) { attackCatalogueVersion
        attackTechniques(search: $search, tactic: $tactic, first: 5) { id name isDeprecated tactics { id } } }";
    let data = server.ok(&analyst, picker, json!({ "search": "t1021.00" })).await;
    assert_eq!(data["attackTechniques"][0]["id"], "T1021.001");
    assert!(!data["attackCatalogueVersion"].as_str().unwrap().is_empty());
    let data = server.ok(&analyst, picker, json!({ "search": "admin shares", "tactic": "Lateral Movement" })).await;
    assert_eq!(data["attackTechniques"][0]["name"], "SMB/Windows Admin Shares");
    assert_code(&server.gql(Some(&analyst), picker, json!({ "tactic": "TA9999" })).await, "BAD_USER_INPUT");

    let mut ids = Vec::new();
    for title in ["Burrowing", "Phish", "Quiet"] {
        ids.push(create_case(&server, &analyst, title, json!({})).await["id"].as_str().unwrap().to_owned());
    }
    let body = set_techniques(&server, &analyst, &ids[0], &["t1021.002", "T1059.001", "T1021.002"]).await;
    let case = &body["data"]["setCaseTechniques"];
    assert_eq!(case["version"], 2, "{body:#}");
    let smb = &case["techniques"][0];
    assert_eq!(smb["id"], "T1021.002");
    assert_eq!(smb["isSubtechnique"], true);
    assert_eq!(smb["url"], "https://attack.mitre.org/techniques/T1021/002/");
    assert_eq!(smb["tactics"], json!([{ "id": "TA0008", "name": "Lateral Movement" }]));
    set_techniques(&server, &analyst, &ids[1], &["T1566.001"]).await;
    let same = set_techniques(&server, &analyst, &ids[0], &["T1059.001", "T1021.002"]).await;
    assert_eq!(same["data"]["setCaseTechniques"]["version"], 2, "the same list changes nothing");

    let unknown = set_techniques(&server, &analyst, &ids[2], &["T1021", "T9999", "T1086"]).await;
    assert_code(&unknown, "BAD_USER_INPUT");
    let message = unknown["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("techniqueIds:") && message.contains("T9999") && message.contains("T1086"),
        "{message}"
    );

    let filtered = |filter: Value| async { queue(&server, &analyst, filter).await.0 };
    assert_eq!(
        filtered(json!({ "techniqueIds": ["T1021"] })).await,
        [ids[0].clone()],
        "a technique matches its sub-techniques"
    );
    assert_eq!(filtered(json!({ "techniqueIds": ["T1021.002", "T1566.001"] })).await, [ids[1].clone(), ids[0].clone()]);
    assert_eq!(filtered(json!({ "tactics": ["TA0001"] })).await, [ids[1].clone()]);
    assert_eq!(
        filtered(json!({ "tactics": ["lateral movement"], "techniqueIds": ["T1566"] })).await,
        Vec::<String>::new()
    );
    let bad =
        server.gql(Some(&analyst), "{ cases(filter: { techniqueIds: [\"T0\"] }) { totalCount } }", json!({})).await;
    assert_code(&bad, "BAD_USER_INPUT");

    let cleared = set_techniques(&server, &analyst, &ids[0], &[]).await;
    assert_eq!(cleared["data"]["setCaseTechniques"]["techniques"], json!([]));
    let log = audits(&server, &analyst, &ids[0]).await;
    assert_eq!(log[0]["action"], "TECHNIQUES_CHANGED");
    assert_eq!(
        log[0]["changes"][0],
        json!({ "field": "techniques", "oldValue": "T1021.002, T1059.001", "newValue": null })
    );
    assert_code(&set_techniques(&server, &reader("acme"), &ids[0], &["T1021"]).await, "FORBIDDEN");
}

async fn evidence_changes_reach_case_watchers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let id = create_case(&server, &analyst, "Watched", json!({})).await["id"].as_str().unwrap().to_owned();
    let after = latest_cursor(&server, &analyst, &id).await;
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&analyst).await;
    ws.subscribe("1", WATCH, json!({ "caseId": id, "after": after })).await;
    added(&server, &analyst, &id, &[item("IP_ADDRESS", "192.0.2.1")]).await;
    change_tags(&server, &analyst, "addCaseTags", &id, &["watched"]).await;
    set_techniques(&server, &analyst, &id, &["T1486"]).await;
    let mut actions = Vec::new();
    for _ in 0..3 {
        actions.push(ws.payload(10).await["data"]["caseActivity"]["action"].as_str().unwrap().to_owned());
    }
    assert_eq!(actions, ["OBSERVABLES_ADDED", "TAGS_ADDED", "TECHNIQUES_CHANGED"]);
}

/// Filters made of evidence alone are counted from the evidence's own rows:
/// a case holding two of a list's tags counts once, sets meet, and another
/// tenant holding the same evidence counts nothing here.
async fn evidence_alone_counts_each_case_once_within_the_tenant(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let evidence = |tags: &'static [&'static str],
                    domains: &'static [&'static str],
                    techniques: &'static [&'static str]| { (tags, domains, techniques) };
    let plan = [
        ("Both tags", evidence(&["Ransomware", "VIP"], &["evil.example"], &["T1021"])),
        ("Ransomware", evidence(&["ransomware"], &["evil.example"], &[])),
        ("VIP", evidence(&["vip"], &[], &["T1566"])),
        ("Bare", evidence(&[], &[], &[])),
    ];
    // Another tenant holds the same evidence on a case numbered as this
    // tenant's bare one (case numbers count per tenant).
    let theirs = [plan[3], plan[3], plan[3], plan[0]];
    for (tenant, titles) in [("globex", &theirs[..]), ("acme", &plan[..])] {
        let token = common::analyst(tenant);
        for (title, (tags, domains, techniques)) in titles {
            let id = create_case(&server, &token, title, json!({})).await["id"].as_str().unwrap().to_owned();
            if !tags.is_empty() {
                let body = change_tags(&server, &token, "addCaseTags", &id, tags).await;
                assert!(body.get("errors").is_none(), "{body:#}");
            }
            for domain in *domains {
                added(&server, &token, &id, &[item("DOMAIN", domain)]).await;
            }
            if !techniques.is_empty() {
                let body = set_techniques(&server, &token, &id, techniques).await;
                assert!(body.get("errors").is_none(), "{body:#}");
            }
        }
    }
    let titles = "query($filter: CaseFilter) { cases(filter: $filter, first: 100) { totalCount nodes { title } } }";
    let evil = json!({ "type": "DOMAIN", "value": "EVIL.example" });
    let table = [
        (json!({ "tags": { "any": ["ransomware", "vip"] } }), vec!["VIP", "Ransomware", "Both tags"]),
        (json!({ "tags": { "all": ["ransomware", "vip"] } }), vec!["Both tags"]),
        (json!({ "tags": { "all": ["ransomware"] }, "observable": evil }), vec!["Ransomware", "Both tags"]),
        (json!({ "observable": evil }), vec!["Ransomware", "Both tags"]),
        (json!({ "techniqueIds": ["T1021"], "tags": { "any": ["vip"] } }), vec!["Both tags"]),
        (json!({ "tactics": ["lateral movement"] }), vec!["Both tags"]),
        (
            json!({ "tags": { "all": ["vip", "ransomware"], "any": ["vip", "ransomware"] }, "observable": evil,
                    "techniqueIds": ["T1021"] }),
            vec!["Both tags"],
        ),
        (json!({ "tags": { "any": ["ransomware"] }, "techniqueIds": ["T1566"] }), vec![]),
        (json!({ "tags": { "all": ["no such tag"] } }), vec![]),
    ];
    for (filter, expected) in table {
        let data = server.ok(&analyst, titles, json!({ "filter": filter })).await;
        let listed: Vec<&str> =
            data["cases"]["nodes"].as_array().unwrap().iter().map(|n| n["title"].as_str().unwrap()).collect();
        assert_eq!(listed, expected, "{filter}");
        assert_eq!(data["cases"]["totalCount"], expected.len(), "{filter}");
    }
}

both_backends!(
    evidence_alone_counts_each_case_once_within_the_tenant,
    evidence_changes_reach_case_watchers,
    attack_techniques_come_from_the_catalogue_and_filter_the_queue,
    tags_are_labels_unique_ignoring_case_and_filter_the_queue,
    observables_are_normalised_idempotent_and_audited,
    bad_values_are_refused_naming_the_item_and_nothing_is_added,
    the_pivot_finds_every_case_that_saw_an_indicator,
);
