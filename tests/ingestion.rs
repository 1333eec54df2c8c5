//! Incidents from detection as a connector sends them: Microsoft Graph's
//! own JSON at `POST /ingest/microsoft-graph` (fixtures from Microsoft's
//! docs, see tests/fixtures/microsoft-graph/README.md) and `ingestIncidents`,
//! upserted idempotently, with alerts and the indicators their evidence names.

use crate::api_keys::create_key;
use crate::common::*;
use serde_json::{Value, json};

const PAGE: &str = include_str!("fixtures/microsoft-graph/list-incidents-expand-alerts.json");
const REDIRECTED: &str = include_str!("fixtures/microsoft-graph/redirected-incident.json");

const INCIDENT: &str = "id externalId source title severity status classification determination assignedTo tags \
    webUrl firstActivityAt lastActivityAt sourceUpdatedAt redirectedTo redirectedToIncident { externalId } alertCount syncBack \
    alerts { id externalId title severity category detectionSource firstActivityAt lastActivityAt techniqueIds problems data \
             evidence { kind data indicators { type value normalizedValue problem } } } \
    observables { type value normalizedValue }";

/// POSTs a body to the Microsoft Graph ingestion endpoint; (status, JSON answer).
pub(crate) async fn post_graph(server: &TestServer, key: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(server.url("/ingest/microsoft-graph"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The incidents a filter finds, newest first, each read whole by `incident(id:)`
/// (a page of them whole would cost more than one query may).
async fn incidents(server: &TestServer, token: &str, filter: Value) -> Vec<Value> {
    let query = "query($filter: IncidentFilter) { incidents(filter: $filter, first: 100) { nodes { id } } }";
    let data = server.ok(token, query, json!({ "filter": filter })).await;
    let mut whole = Vec::new();
    for node in data["incidents"]["nodes"].as_array().unwrap() {
        let query = format!("query($id: ID!) {{ incident(id: $id) {{ {INCIDENT} }} }}");
        whole.push(server.ok(token, &query, json!({ "id": node["id"] })).await["incident"].clone());
    }
    whole
}

fn indicators(incident: &Value) -> Vec<(String, String)> {
    incident["observables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["type"].as_str().unwrap().to_owned(), o["normalizedValue"].as_str().unwrap().to_owned()))
        .collect()
}

both_backends!(microsoft_graph_incidents_arrive_with_alerts_evidence_and_indicators);
async fn microsoft_graph_incidents_arrive_with_alerts_evidence_and_indicators(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, key) = create_key(&server, "acme", "Defender", &["INCIDENTS_INGEST"]).await;
    let (status, answer) = post_graph(&server, Some(&key), PAGE).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["created"].as_i64(), answer["refused"].as_i64()), (Some(1), Some(0)), "{answer}");
    assert_eq!(answer["results"][0]["externalId"], "2972395");
    let (status, answer) = post_graph(&server, Some(&key), REDIRECTED).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["created"], 1, "{answer}");
    let warnings = answer["results"][0]["warnings"].to_string();
    for reported in ["T9999", "999.1.1.1", "cloudApplicationEvidence"] {
        assert!(warnings.contains(reported), "{reported} is not reported: {warnings}");
    }

    let analyst = analyst("acme");
    let listed = incidents(&server, &analyst, json!({ "sources": ["microsoft-graph"] })).await;
    assert_eq!(listed.len(), 2);
    let (redirected, first) = (&listed[0], &listed[1]);
    assert_eq!(first["externalId"], "2972395");
    assert_eq!(first["source"], "microsoft-graph");
    assert_eq!(first["severity"], "MEDIUM");
    assert_eq!(first["status"], "ACTIVE");
    assert_eq!(first["classification"], "TRUE_POSITIVE");
    assert_eq!(first["determination"], "MULTI_STAGED_ATTACK");
    assert_eq!(first["assignedTo"], "KaiC@contoso.onmicrosoft.com");
    assert_eq!(first["tags"], json!(["Demo"]));
    assert_eq!(first["sourceUpdatedAt"], "2021-09-30T09:35:45.113333Z");
    assert_eq!(first["firstActivityAt"], "2021-04-26T07:45:50.116Z");
    assert_eq!(first["lastActivityAt"], "2021-05-02T07:56:58.222Z");
    assert!(first["webUrl"].as_str().unwrap().starts_with("https://security.microsoft.com/incidents/2972395"));
    assert_eq!(first["syncBack"], true);
    assert_eq!(first["alertCount"], 1);
    let alert = &first["alerts"][0];
    assert_eq!(alert["externalId"], "da637551227677560813_-961444813");
    assert_eq!(alert["severity"], "LOW");
    assert_eq!(alert["category"], "DefenseEvasion");
    assert_eq!(alert["detectionSource"], "antivirus");
    assert_eq!(alert["techniqueIds"], json!(["T1564.001"]));
    assert_eq!(alert["problems"], json!([]), "every evidence item of the page names an indicator");
    let kinds: Vec<&str> = alert["evidence"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["deviceEvidence", "fileEvidence", "processEvidence", "registryKeyEvidence"]);
    // The rest is kept as given.
    let data: Value = serde_json::from_str(alert["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["serviceSource"], "microsoftDefenderForEndpoint");
    let device: Value = serde_json::from_str(alert["evidence"][0]["data"].as_str().unwrap()).unwrap();
    assert_eq!(device["vmMetadata"]["cloudProvider"], "azure");
    let seen = indicators(first);
    for expected in [
        ("HOSTNAME", "tempdns"),
        ("FILE_HASH_SHA256", "8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec"),
        ("FILE_HASH_SHA1", "5f1e8acedc065031aad553b710838eb366cfee9a"),
        ("FILE_NAME", "MsSense.exe"),
        ("PROCESS", "\"MsSense.exe\""),
        ("USER_ACCOUNT", "nt authority\\system"),
        ("REGISTRY_KEY", "HKEY_LOCAL_MACHINE\\system\\controlset001\\control\\wmi\\autologger\\senseauditlogger"),
    ] {
        assert!(seen.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} not in {seen:?}");
    }
    assert_eq!(seen.len(), 7, "the process's image file is the file already seen: {seen:?}");

    // Redirected: done with here, pointing at the incident it was merged into.
    assert_eq!(redirected["status"], "RESOLVED");
    assert_eq!(redirected["severity"], "HIGH");
    assert_eq!(redirected["classification"], Value::Null);
    assert_eq!(redirected["redirectedTo"], "2972395");
    assert_eq!(redirected["redirectedToIncident"]["externalId"], "2972395");
    assert_eq!(redirected["tags"], json!(["Finance", "Phishing"]));
    let seen = indicators(redirected);
    for expected in [
        ("URL", "http://evil-corp.example/login"),
        ("IP_ADDRESS", "203.0.113.77"),
        ("EMAIL_ADDRESS", "meganb@contoso.onmicrosoft.com"),
        ("USER_ACCOUNT", "contoso\\meganb"),
        ("USER_ACCOUNT", "meganb@contoso.onmicrosoft.com"),
        ("REGISTRY_KEY", "HKEY_CURRENT_USER\\software\\microsoft\\windows\\currentversion\\run"),
    ] {
        assert!(seen.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} not in {seen:?}");
    }
    assert!(!seen.iter().any(|(_, v)| v.contains("999.1.1.1")));
    let bad_address = &redirected["alerts"][1]["evidence"][1]["indicators"][0];
    assert_eq!(bad_address["value"], "999.1.1.1");
    assert_eq!(bad_address["normalizedValue"], Value::Null);
    assert!(bad_address["problem"].is_string());
    assert!(redirected["alerts"][0]["problems"].to_string().contains("T9999"));
    assert_eq!(redirected["alerts"][0]["techniqueIds"], json!(["T1566.002", "T9999"]));
    // Graph's year-1 time for "none" is read as none.
    assert_eq!(redirected["alerts"][0]["firstActivityAt"], "2021-09-30T07:55:00Z");

    // The audit of the connector's writes names the key; readers see the incidents, not the key's rights.
    let body = server.gql(Some(&key), "{ incidents { totalCount } }", json!({})).await;
    assert_code(&body, "FORBIDDEN");
}

both_backends!(replays_and_older_updates_write_nothing_newer_ones_replace);
async fn replays_and_older_updates_write_nothing_newer_ones_replace(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, key) = create_key(&server, "acme", "Defender", &["INCIDENTS_INGEST"]).await;
    let analyst = analyst("acme");
    assert_eq!(post_graph(&server, Some(&key), PAGE).await.1["created"], 1);
    let before = incidents(&server, &analyst, json!({})).await;
    let (status, replay) = post_graph(&server, Some(&key), PAGE).await;
    assert_eq!(status, 200);
    assert_eq!(replay["unchanged"], 1, "{replay}");
    assert_eq!(replay["results"][0]["reason"], Value::Null);
    assert_eq!(incidents(&server, &analyst, json!({})).await, before, "a replay changes nothing, alert ids included");

    // An older delivery of a changed incident is ignored, and says why.
    let mut page: Value = serde_json::from_str(PAGE).unwrap();
    page["value"][0]["displayName"] = json!("Renamed by an old delivery");
    page["value"][0]["lastUpdateDateTime"] = json!("2021-09-01T00:00:00Z");
    let (_, older) = post_graph(&server, Some(&key), &page.to_string()).await;
    assert_eq!(older["unchanged"], 1, "{older}");
    assert!(older["results"][0]["reason"].as_str().unwrap().contains("older"), "{older}");
    assert_eq!(incidents(&server, &analyst, json!({})).await, before);

    // A newer one replaces what is stored: fields, alerts and indicators.
    page["value"][0]["displayName"] = json!("Renamed at the source");
    page["value"][0]["lastUpdateDateTime"] = json!("2021-10-01T00:00:00Z");
    page["value"][0]["status"] = json!("inProgress");
    page["value"][0]["alerts"][0]["evidence"] =
        json!([{ "@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "198.51.100.7" }]);
    let (_, newer) = post_graph(&server, Some(&key), &page.to_string()).await;
    assert_eq!(newer["updated"], 1, "{newer}");
    let after = incidents(&server, &analyst, json!({})).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], before[0]["id"], "the same incident");
    assert_eq!(after[0]["title"], "Renamed at the source");
    assert_eq!(after[0]["status"], "IN_PROGRESS");
    assert_eq!(indicators(&after[0]), [("IP_ADDRESS".to_owned(), "198.51.100.7".to_owned())]);
    assert_eq!(after[0]["alerts"].as_array().unwrap().len(), 1);
    // The same again is a replay.
    assert_eq!(post_graph(&server, Some(&key), &page.to_string()).await.1["unchanged"], 1);
}

both_backends!(an_indicator_on_an_incident_and_on_a_case_is_one_pivot);
async fn an_indicator_on_an_incident_and_on_a_case_is_one_pivot(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, key) = create_key(&server, "acme", "Defender", &["INCIDENTS_INGEST"]).await;
    post_graph(&server, Some(&key), REDIRECTED).await;
    let analyst = analyst("acme");
    let case = create_case(&server, &analyst, "Sign-in from a strange place", json!({})).await;
    server
        .ok(
            &analyst,
            "mutation($id: ID!) { addObservables(input: { caseId: $id, observables: [{ type: IP_ADDRESS, value: \"203.0.113.77\" }] }) { case { id } } }",
            json!({ "id": case["id"] }),
        )
        .await;
    let found =
        incidents(&server, &analyst, json!({ "observable": { "type": "IP_ADDRESS", "value": "203.0.113.77" } })).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["externalId"], "2972396");
    let pivot = server
        .ok(
            &analyst,
            "query($id: ID!) { case(id: $id) { observables { nodes { incidents { nodes { externalId } } } } } \
             incidents(first: 1) { nodes { observables { type normalizedValue cases(first: 5) { nodes { id } } incidents(first: 1) { totalCount } } } } }",
            json!({ "id": case["id"] }),
        )
        .await;
    assert_eq!(pivot["case"]["observables"]["nodes"][0]["incidents"]["nodes"][0]["externalId"], "2972396");
    let address = pivot["incidents"]["nodes"][0]["observables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["normalizedValue"] == "203.0.113.77")
        .unwrap()
        .clone();
    assert_eq!(address["cases"]["nodes"][0]["id"], case["id"]);
    assert_eq!(address["incidents"]["totalCount"], 1);
    // Unlinked: the triage view.
    assert_eq!(incidents(&server, &analyst, json!({ "unlinked": true })).await.len(), 1);
    let incident_id = found[0]["id"].clone();
    server
        .ok(
            &analyst,
            "mutation($c: ID!, $i: ID!) { linkIncidents(input: { caseId: $c, incidentIds: [$i] }) { id } }",
            json!({ "c": case["id"], "i": incident_id }),
        )
        .await;
    assert_eq!(incidents(&server, &analyst, json!({ "unlinked": true })).await.len(), 0);
    assert_eq!(incidents(&server, &analyst, json!({ "unlinked": false })).await.len(), 1);
    let bad = server
        .gql(
            Some(&analyst),
            "{ incidents(filter: { observable: { type: IP_ADDRESS, value: \"999.1.1.1\" } }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_code(&bad, "BAD_USER_INPUT");
}

const INGEST: &str = "mutation($input: IngestIncidentsInput!) { ingestIncidents(input: $input) { created updated unchanged refused \
    results { index externalId outcome reason warnings incident { id externalId source title alertCount observables { type normalizedValue } } } } }";

both_backends!(ingest_incidents_refuses_a_bad_item_not_the_batch);
async fn ingest_incidents_refuses_a_bad_item_not_the_batch(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let good = |id: &str| {
        json!({
            "externalId": id, "title": format!("Detection {id}"), "severity": "HIGH", "lastUpdatedAt": "2026-12-01T10:00:00Z",
            "alerts": [{ "externalId": "a1", "title": "Beacon", "severity": "HIGH", "techniqueIds": ["T1071"],
                         "evidence": [{ "type": "DOMAIN", "value": "Evil-Corp.example." }, { "type": "IP_ADDRESS", "value": "10.0.0.05" }] }]
        })
    };
    let input = json!({ "source": "splunk-es", "incidents": [
        good("SPL-1"),
        { "externalId": "SPL-2", "title": "  ", "severity": "LOW", "lastUpdatedAt": "2026-12-01T10:00:00Z" },
        { "externalId": "SPL-3", "title": "Bad time", "severity": "LOW", "lastUpdatedAt": "yesterday" },
        good("SPL-1"),
        good("SPL-4"),
    ]});
    let data = server.ok(&analyst, INGEST, json!({ "input": input })).await;
    let payload = &data["ingestIncidents"];
    assert_eq!((payload["created"].as_i64(), payload["refused"].as_i64()), (Some(2), Some(3)), "{payload}");
    let results = payload["results"].as_array().unwrap();
    let outcomes: Vec<&str> = results.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["CREATED", "REFUSED", "REFUSED", "REFUSED", "CREATED"]);
    assert!(results[1]["reason"].as_str().unwrap().contains("title"), "{}", results[1]);
    assert!(results[2]["reason"].as_str().unwrap().contains("lastUpdatedAt"), "{}", results[2]);
    assert!(results[3]["reason"].as_str().unwrap().contains("earlier"), "{}", results[3]);
    let created = &results[0]["incident"];
    assert_eq!(created["source"], "splunk-es");
    assert_eq!(created["externalId"], "SPL-1");
    assert_eq!(created["observables"], json!([{ "type": "DOMAIN", "normalizedValue": "evil-corp.example" }]));
    assert!(results[0]["warnings"].to_string().contains("10.0.0.05"), "{}", results[0]);
    let body = server
        .gql(
            Some(&analyst),
            "mutation($id: ID!) { updateIncident(input: { id: $id, externalId: \"mine\" }) { id } }",
            json!({ "id": created["id"] }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    // The same again: unchanged, nothing written.
    let again = json!({ "source": "splunk-es", "incidents": [good("SPL-1"), good("SPL-4")] });
    let data = server.ok(&analyst, INGEST, json!({ "input": again })).await;
    assert_eq!(data["ingestIncidents"]["unchanged"], 2);
    // The same external id from another source is another incident.
    let other = json!({ "source": "sentinel", "incidents": [good("SPL-1")] });
    let data = server.ok(&analyst, INGEST, json!({ "input": other })).await;
    assert_eq!(data["ingestIncidents"]["created"], 1);
    // Malformed as a whole: refused, nothing written.
    for (input, field) in [
        (json!({ "source": "Not A Source", "incidents": [good("X-1")] }), "source"),
        (
            json!({ "source": "s", "incidents": (0..101).map(|n| good(&format!("X-{n}"))).collect::<Vec<_>>() }),
            "incidents",
        ),
    ] {
        let body = server.gql(Some(&analyst), INGEST, json!({ "input": input })).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(field), "{body}");
    }
    assert_eq!(server.ok(&analyst, "{ incidents { totalCount } }", json!({})).await["incidents"]["totalCount"], 3);
    // Readers cannot ingest.
    let body = server.gql(Some(&reader("acme")), INGEST, json!({ "input": { "source": "s", "incidents": [] } })).await;
    assert_code(&body, "FORBIDDEN");
}

both_backends!(the_endpoint_refuses_what_it_cannot_take_and_writes_nothing);
async fn the_endpoint_refuses_what_it_cannot_take_and_writes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, key) = create_key(&server, "acme", "Defender", &["INCIDENTS_INGEST"]).await;
    let (_, reader_key) = create_key(&server, "acme", "Reader", &["SECURITY_DATA_READ"]).await;
    let (status, body) = post_graph(&server, None, PAGE).await;
    assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (401, Some("UNAUTHENTICATED")));
    let (status, body) = post_graph(&server, Some("cbk_nonsense"), PAGE).await;
    assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (401, Some("UNAUTHENTICATED")));
    let (status, body) = post_graph(&server, Some(&reader_key), PAGE).await;
    assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (403, Some("FORBIDDEN")));
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let too_many = json!({ "value": (0..101).map(|n| json!({ "id": n.to_string() })).collect::<Vec<_>>() }).to_string();
    for body in ["not json", "42", "{\"value\": 7}", "{\"name\": \"no id\"}", deep.as_str(), too_many.as_str()] {
        let (status, answer) = post_graph(&server, Some(&key), body).await;
        assert_eq!(status, 400, "{body:.60}: {answer}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    }
    // Items of the wrong shape are refused one by one.
    let huge = "x".repeat(100_000);
    let items = json!({ "value": [
        { "id": "1", "displayName": huge, "lastUpdateDateTime": "2021-09-30T09:35:45Z" },
        { "id": "2", "displayName": "No time" },
        { "id": "3", "displayName": "Alerts not a list", "lastUpdateDateTime": "2021-09-30T09:35:45Z", "alerts": "x" },
        { "id": ["4"], "displayName": "Id not a string", "lastUpdateDateTime": "2021-09-30T09:35:45Z" },
        { "id": "5", "displayName": "Too many alerts", "lastUpdateDateTime": "2021-09-30T09:35:45Z",
          "alerts": (0..151).map(|n| json!({ "id": n.to_string(), "title": "a" })).collect::<Vec<_>>() },
        "not an incident",
    ]});
    let (status, answer) = post_graph(&server, Some(&key), &items.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["refused"], 6, "{answer}");
    for result in answer["results"].as_array().unwrap() {
        assert!(result["reason"].as_str().is_some_and(|r| !r.is_empty()), "{result}");
    }
    // Declared over the byte limit: answered 413 before the body is read.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "POST /ingest/microsoft-graph HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\nauthorization: Bearer {key}\r\ncontent-length: {}\r\n\r\n",
            server.addr,
            17 * 1024 * 1024
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 64];
        stream.read_exact(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }
    let count = server.ok(&analyst("acme"), "{ incidents { totalCount } }", json!({})).await;
    assert_eq!(count["incidents"]["totalCount"], 0);
}

both_backends!(a_key_ingests_into_its_own_tenant_only);
async fn a_key_ingests_into_its_own_tenant_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, acme) = create_key(&server, "acme", "Acme Defender", &["INCIDENTS_INGEST"]).await;
    let (_, globex) = create_key(&server, "globex", "Globex Defender", &["INCIDENTS_INGEST"]).await;
    assert_eq!(post_graph(&server, Some(&acme), PAGE).await.1["created"], 1);
    assert_eq!(incidents(&server, &analyst("globex"), json!({})).await.len(), 0);
    // The same Microsoft incident in another tenant is that tenant's own.
    assert_eq!(post_graph(&server, Some(&globex), PAGE).await.1["created"], 1);
    let acme_incident = incidents(&server, &analyst("acme"), json!({})).await[0]["id"].clone();
    let globex_case = create_case(&server, &analyst("globex"), "Globex case", json!({})).await;
    let body = server
        .gql(
            Some(&analyst("globex")),
            "mutation($c: ID!, $i: ID!) { linkIncidents(input: { caseId: $c, incidentIds: [$i] }) { id } }",
            json!({ "c": globex_case["id"], "i": acme_incident }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    let seen = server
        .ok(&analyst("globex"), "query($id: ID!) { incident(id: $id) { id } }", json!({ "id": acme_incident }))
        .await;
    assert_eq!(seen["incident"], Value::Null);
}

both_backends!(two_replicas_ingesting_one_incident_make_one);
async fn two_replicas_ingesting_one_incident_make_one(backend: Backend) {
    let first = TestServer::start(backend).await;
    let second = TestServer::start_on(backend, first.database.clone()).await;
    let (_, key) = create_key(&first, "acme", "Defender", &["INCIDENTS_INGEST"]).await;
    let rule = json!({ "name": "One case per incident", "trigger": "INCIDENT_INGESTED", "actions": [{ "type": "CREATE_CASE" }] });
    first.ok(&admin("acme"), RULE_MUTATION, json!({ "input": rule })).await;
    for round in 0..5 {
        let mut page: Value = serde_json::from_str(PAGE).unwrap();
        page["value"][0]["lastUpdateDateTime"] = json!(format!("2022-01-0{}T00:00:00Z", round + 1));
        let body = page.to_string();
        let (a, b) = tokio::join!(post_graph(&first, Some(&key), &body), post_graph(&second, Some(&key), &body));
        assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
        let outcomes = [a.1["results"][0]["outcome"].clone(), b.1["results"][0]["outcome"].clone()];
        let wrote = outcomes.iter().filter(|o| *o == "CREATED" || *o == "UPDATED").count();
        assert_eq!(wrote, 1, "one replica writes, the other finds it written: {outcomes:?}");
    }
    let listed = incidents(&first, &analyst("acme"), json!({})).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["alerts"].as_array().unwrap().len(), 1);
    let cases = second.ok(&analyst("acme"), "{ cases { totalCount } }", json!({})).await;
    assert_eq!(cases["cases"]["totalCount"], 1, "the rule ran once");
}

const RULE_MUTATION: &str = "mutation($input: CreateAutomationRuleInput!) { createAutomationRule(input: $input) { id \
    conditions { sources minIncidentSeverity incidentStatuses techniqueIds minAlertCount } actions { type templateId windowDays userId } } }";

/// The cases an incident is on, with their creators and logs (newest entry first).
async fn cases_of(server: &TestServer, token: &str, incident_id: &Value) -> Vec<Value> {
    let query = "query($id: ID!) { incident(id: $id) { cases { id title description assignee { id } createdBy { displayName } tags \
        activity(first: 20) { nodes { actor { displayName } ... on AuditEvent { action } } } } } }";
    let data = server.ok(token, query, json!({ "id": incident_id })).await;
    data["incident"]["cases"].as_array().unwrap().clone()
}

both_backends!(rules_place_ingested_incidents_on_matching_or_new_cases);
async fn rules_place_ingested_incidents_on_matching_or_new_cases(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    server.ok(&analyst, "{ me { tenant } }", json!({})).await; // anna is known in acme
    let template = server
        .ok(
            &admin,
            "mutation { createCaseTemplate(input: { name: \"Defender\", titlePrefix: \"[Defender]\", tags: [\"defender\"] }) { id } }",
            json!({}),
        )
        .await["createCaseTemplate"]["id"]
        .clone();
    let rule = json!({
        "name": "Defender triage",
        "trigger": "INCIDENT_INGESTED",
        "conditions": { "sources": ["microsoft-graph"], "minIncidentSeverity": "MEDIUM" },
        "actions": [
            { "type": "LINK_TO_MATCHING_CASE", "windowDays": 30 },
            { "type": "CREATE_CASE", "templateId": template },
            { "type": "ASSIGN", "userId": "anna" }
        ]
    });
    let created = server.ok(&admin, RULE_MUTATION, json!({ "input": rule })).await;
    assert_eq!(created["createAutomationRule"]["actions"][0]["windowDays"], 30);
    assert_eq!(created["createAutomationRule"]["conditions"]["sources"], json!(["microsoft-graph"]));
    let (_, key) = create_key(&server, "acme", "Defender", &["INCIDENTS_INGEST"]).await;

    // A new medium incident with nothing to match: a case opens from the template, the incident on it.
    let answer = post_graph(&server, Some(&key), PAGE).await.1;
    let first_id = json!(answer["results"][0]["incidentId"].as_str().unwrap());
    let cases = cases_of(&server, &analyst, &first_id).await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case = &cases[0];
    assert!(case["title"].as_str().unwrap().starts_with("[Defender] Multi-stage incident"), "{case}");
    assert!(case["description"].as_str().unwrap().contains("microsoft-graph incident 2972395"), "{case}");
    assert_eq!(case["assignee"]["id"], "anna");
    assert_eq!(case["tags"], json!(["defender"]));
    assert_eq!(case["createdBy"]["displayName"], "Automation: Defender triage");
    let actions: Vec<&str> =
        case["activity"]["nodes"].as_array().unwrap().iter().filter_map(|n| n["action"].as_str()).collect();
    assert!(actions.contains(&"CASE_CREATED") && actions.contains(&"INCIDENT_LINKED"), "{actions:?}");

    // An incident that shares an indicator with an open case joins that case.
    let held = create_case(&server, &analyst, "Odd sign-ins", json!({})).await;
    server
        .ok(
            &analyst,
            "mutation($id: ID!) { addObservables(input: { caseId: $id, observables: [{ type: IP_ADDRESS, value: \"203.0.113.77\" }] }) { case { id } } }",
            json!({ "id": held["id"] }),
        )
        .await;
    let answer = post_graph(&server, Some(&key), REDIRECTED).await.1;
    let second_id = json!(answer["results"][0]["incidentId"].as_str().unwrap());
    let cases = cases_of(&server, &analyst, &second_id).await;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["id"], held["id"], "linked to the case holding 203.0.113.77");
    assert_eq!(cases[0]["assignee"]["id"], "anna", "the actions after the placing one act on that case");
    let total = server.ok(&analyst, "{ cases { totalCount } }", json!({})).await;
    assert_eq!(total["cases"]["totalCount"], 2, "no case was opened for the matched incident");

    // An update from the source places nothing again; a low incident meets no rule.
    let mut page: Value = serde_json::from_str(PAGE).unwrap();
    page["value"][0]["lastUpdateDateTime"] = json!("2022-01-01T00:00:00Z");
    page["value"][0]["severity"] = json!("high");
    assert_eq!(post_graph(&server, Some(&key), &page.to_string()).await.1["updated"], 1);
    assert_eq!(cases_of(&server, &analyst, &first_id).await.len(), 1);
    let low = json!({ "value": [{ "id": "77", "displayName": "Low one", "severity": "low", "lastUpdateDateTime": "2022-01-01T00:00:00Z" }] });
    let answer = post_graph(&server, Some(&key), &low.to_string()).await.1;
    let low_id = json!(answer["results"][0]["incidentId"].as_str().unwrap());
    assert_eq!(cases_of(&server, &analyst, &low_id).await.len(), 0);
    assert_eq!(server.ok(&analyst, "{ cases { totalCount } }", json!({})).await["cases"]["totalCount"], 2);
}

both_backends!(incident_rules_fit_their_trigger);
async fn incident_rules_fit_their_trigger(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = admin("acme");
    for (rule, field) in [
        (json!({ "name": "r", "trigger": "CASE_CREATED", "actions": [{ "type": "CREATE_CASE" }] }), "actions[0].type"),
        (
            json!({ "name": "r", "trigger": "INCIDENT_INGESTED", "conditions": { "priorities": ["HIGH"] }, "actions": [{ "type": "CREATE_CASE" }] }),
            "conditions",
        ),
        (
            json!({ "name": "r", "trigger": "CASE_CREATED", "conditions": { "sources": ["x"] }, "actions": [{ "type": "ADD_COMMENT", "body": "b" }] }),
            "conditions",
        ),
        (
            json!({ "name": "r", "trigger": "INCIDENT_INGESTED", "actions": [{ "type": "ADD_COMMENT", "body": "b" }] }),
            "actions[0].type",
        ),
        (
            json!({ "name": "r", "trigger": "INCIDENT_INGESTED", "actions": [{ "type": "LINK_TO_MATCHING_CASE" }] }),
            "windowDays",
        ),
        (
            json!({ "name": "r", "trigger": "INCIDENT_INGESTED", "actions": [{ "type": "LINK_TO_MATCHING_CASE", "windowDays": 400 }] }),
            "windowDays",
        ),
        (
            json!({ "name": "r", "trigger": "INCIDENT_INGESTED", "conditions": { "techniqueIds": ["T0000"] }, "actions": [{ "type": "CREATE_CASE" }] }),
            "techniqueIds",
        ),
    ] {
        let body = server.gql(Some(&admin), RULE_MUTATION, json!({ "input": rule })).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(field), "{field}: {body}");
    }
    let ok = json!({ "name": "r", "trigger": "INCIDENT_INGESTED",
        "conditions": { "techniqueIds": ["T1564"], "minAlertCount": 1, "incidentStatuses": ["ACTIVE"] },
        "actions": [{ "type": "CREATE_CASE" }] });
    let data = server.ok(&admin, RULE_MUTATION, json!({ "input": ok })).await;
    assert!(
        data["createAutomationRule"]["conditions"]["techniqueIds"].as_array().unwrap().contains(&json!("T1564.001"))
    );
    // The rule's conditions hold for the page's incident (T1564.001, one alert, active).
    let (_, key) = create_key(&server, "acme", "Defender", &["INCIDENTS_INGEST"]).await;
    let answer = post_graph(&server, Some(&key), PAGE).await.1;
    let id = json!(answer["results"][0]["incidentId"].as_str().unwrap());
    assert_eq!(cases_of(&server, &analyst("acme"), &id).await.len(), 1);
}

// The README's connector walk-through (docs/ingestion.md): create a key,
// post a Microsoft Graph incident page, see the case a rule opened, close
// it, see INCIDENT_UPDATED arrive at a webhook; the source's own later
// changes are not sent back to it.
both_backends!(a_connector_walkthrough_from_incident_page_to_write_back);
async fn a_connector_walkthrough_from_incident_page_to_write_back(backend: Backend) {
    use crate::webhooks::{Receiver, deliveries, server_allowing_loopback, webhook_to};
    let server = server_allowing_loopback(backend, |_| {}).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    server.ok(&analyst, "{ me { tenant } }", json!({})).await;
    let mut receiver = Receiver::start().await;
    let (hook, _) = webhook_to(&server, &receiver.url, &["INCIDENT_UPDATED"]).await;
    let rule = json!({ "name": "Open a case per Defender incident", "trigger": "INCIDENT_INGESTED",
        "conditions": { "sources": ["microsoft-graph"] }, "actions": [{ "type": "CREATE_CASE" }] });
    server.ok(&admin, RULE_MUTATION, json!({ "input": rule })).await;
    let (_, key) = create_key(&server, "acme", "Defender connector", &["INCIDENTS_INGEST"]).await;

    let answer = post_graph(&server, Some(&key), PAGE).await.1;
    let incident_id = json!(answer["results"][0]["incidentId"].as_str().unwrap());
    let case = cases_of(&server, &analyst, &incident_id).await[0].clone();

    let closed = status_id(&server, &analyst, "Closed").await;
    let input =
        json!({ "id": case["id"], "statusId": closed, "classification": "TRUE_POSITIVE", "determination": "MALWARE" });
    let body = update_case(&server, &analyst, input).await;
    assert!(body.get("errors").is_none(), "{body}");
    let message = receiver.next().await.json();
    assert_eq!(message["type"], "INCIDENT_UPDATED");
    let incident = &message["data"]["incident"];
    assert_eq!(incident["source"], "microsoft-graph");
    assert_eq!(incident["externalId"], "2972395");
    assert_eq!(incident["status"], "RESOLVED");
    assert_eq!(incident["classification"], "TRUE_POSITIVE");
    assert_eq!(incident["determination"], "MALWARE");
    assert_eq!(message["data"]["caseId"], case["id"]);
    assert_eq!(message["data"]["activity"]["action"], "INCIDENT_UPDATED");
    let read = server
        .ok(
            &analyst,
            "query($id: ID!) { incident(id: $id) { status classification determination } }",
            json!({ "id": incident_id }),
        )
        .await;
    assert_eq!(
        read["incident"],
        json!({ "status": "RESOLVED", "classification": "TRUE_POSITIVE", "determination": "MALWARE" })
    );

    // The source reports its own change: stored, never echoed back to it.
    let mut page: Value = serde_json::from_str(PAGE).unwrap();
    page["value"][0]["lastUpdateDateTime"] = json!("2022-02-01T00:00:00Z");
    page["value"][0]["status"] = json!("resolved");
    page["value"][0]["determination"] = json!("malware");
    assert_eq!(post_graph(&server, Some(&key), &page.to_string()).await.1["updated"], 1);
    assert_eq!(deliveries(&server, &hook).await.len(), 1, "an ingested change is not sent back");

    // Reopening the case reopens its incidents.
    let open = status_id(&server, &analyst, "Open").await;
    let body = update_case(&server, &analyst, json!({ "id": case["id"], "statusId": open })).await;
    assert!(body.get("errors").is_none(), "{body}");
    let message = receiver.next().await.json();
    assert_eq!(message["data"]["incident"]["status"], "ACTIVE");
    assert_eq!(message["data"]["incident"]["classification"], Value::Null);
    // An incident that asked not to sync back is left alone.
    let quiet = json!({ "source": "quiet", "syncBack": false, "incidents": [{ "externalId": "Q-1", "title": "Quiet", "severity": "LOW", "lastUpdatedAt": "2026-01-01T00:00:00Z" }] });
    let data = server.ok(&analyst, INGEST, json!({ "input": quiet })).await;
    let quiet_id = data["ingestIncidents"]["results"][0]["incident"]["id"].clone();
    server
        .ok(
            &analyst,
            "mutation($c: ID!, $i: ID!) { linkIncidents(input: { caseId: $c, incidentIds: [$i] }) { id } }",
            json!({ "c": case["id"], "i": quiet_id }),
        )
        .await;
    let body = update_case(&server, &analyst, json!({ "id": case["id"], "statusId": closed, "classification": "FALSE_POSITIVE", "determination": "NOT_MALICIOUS" })).await;
    assert!(body.get("errors").is_none(), "{body}");
    let message = receiver.next().await.json();
    assert_eq!(message["data"]["incident"]["externalId"], "2972395", "only the incident that syncs back");
    let quiet_read =
        server.ok(&analyst, "query($id: ID!) { incident(id: $id) { status } }", json!({ "id": quiet_id })).await;
    assert_eq!(quiet_read["incident"]["status"], "ACTIVE");
    assert_eq!(deliveries(&server, &hook).await.len(), 3);
}

const WATCH_INGESTED: &str = "subscription($after: String) { incidentIngested(after: $after) { cursor outcome at incident { externalId source } } }";

async fn ingest_one(server: &TestServer, token: &str, id: &str, updated: &str) {
    let input = json!({ "source": "feed", "incidents": [{ "externalId": id, "title": format!("Incident {id}"), "severity": "LOW", "lastUpdatedAt": updated }] });
    let data = server.ok(token, INGEST, json!({ "input": input })).await;
    assert_eq!(data["ingestIncidents"]["refused"], 0);
}

both_backends!(ingested_incidents_stream_live_and_replay_after_a_cursor);
async fn ingested_incidents_stream_live_and_replay_after_a_cursor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    ws.subscribe("1", WATCH_INGESTED, json!({})).await;
    // The watch is set up asynchronously: probe until one ingestion arrives.
    let mut probes = 0;
    let first = loop {
        ingest_one(&server, &analyst, &format!("P-{probes}"), "2026-01-01T00:00:00Z").await;
        probes += 1;
        if let Some(payload) = ws.try_payload(500).await {
            break payload["data"]["incidentIngested"].clone();
        }
        assert!(probes < 20, "no ingestion arrived");
    };
    assert_eq!(first["outcome"], "CREATED");
    assert_eq!(first["incident"]["source"], "feed");
    let seen: usize = first["incident"]["externalId"].as_str().unwrap()[2..].parse().unwrap();
    // An update is streamed too; a replay (unchanged) is not.
    ingest_one(&server, &analyst, "P-0", "2026-02-01T00:00:00Z").await;
    ingest_one(&server, &analyst, "P-0", "2026-02-01T00:00:00Z").await;
    ingest_one(&server, &analyst, "LIVE", "2026-01-01T00:00:00Z").await;
    let mut expected: Vec<(String, String)> =
        (seen + 1..probes).map(|n| (format!("P-{n}"), "CREATED".to_owned())).collect();
    expected.push(("P-0".into(), "UPDATED".into()));
    expected.push(("LIVE".into(), "CREATED".into()));
    let mut got = Vec::new();
    for _ in 0..expected.len() {
        let event = ws.payload(10).await["data"]["incidentIngested"].clone();
        got.push((
            event["incident"]["externalId"].as_str().unwrap().to_owned(),
            event["outcome"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(got, expected);
    assert!(ws.try_payload(300).await.is_none(), "nothing more");

    // Resuming after the first event replays everything after it, in order.
    let mut again = server.ws("graphql-transport-ws").await;
    again.init(&reader("acme")).await;
    again.subscribe("2", WATCH_INGESTED, json!({ "after": first["cursor"] })).await;
    let mut replayed = Vec::new();
    for _ in 0..expected.len() {
        let event = again.payload(10).await["data"]["incidentIngested"].clone();
        replayed.push((
            event["incident"]["externalId"].as_str().unwrap().to_owned(),
            event["outcome"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(replayed, expected);
    // Another tenant's ingestions are not streamed.
    ingest_one(&server, &crate::common::analyst("globex"), "OTHER", "2026-01-01T00:00:00Z").await;
    assert!(again.try_payload(300).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingestions_on_one_replica_stream_to_watchers_on_another() {
    let first = TestServer::start(Backend::Postgres).await;
    let second = TestServer::start_on(Backend::Postgres, first.database.clone()).await;
    let analyst = analyst("acme");
    ingest_one(&first, &analyst, "BEFORE", "2026-01-01T00:00:00Z").await;
    let mut ws = second.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    let mut probes = 0;
    ws.subscribe("1", WATCH_INGESTED, json!({})).await;
    loop {
        ingest_one(&first, &analyst, &format!("R-{probes}"), "2026-01-01T00:00:00Z").await;
        probes += 1;
        if let Some(payload) = ws.try_payload(500).await {
            assert!(payload["data"]["incidentIngested"]["incident"]["externalId"].as_str().unwrap().starts_with("R-"));
            break;
        }
        assert!(probes < 20, "nothing reached the other replica");
    }
}

both_backends!(the_triage_view_orders_by_severity_and_activity_page_by_page);
async fn the_triage_view_orders_by_severity_and_activity_page_by_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let item = |id: &str, severity: &str, last: &str| {
        json!({ "externalId": id, "title": id, "severity": severity, "lastUpdatedAt": "2026-01-01T00:00:00Z",
                "alerts": [{ "externalId": "a", "title": "a", "severity": severity, "lastActivityAt": last }] })
    };
    let input = json!({ "source": "s", "incidents": [
        item("A", "LOW", "2026-01-01T03:00:00Z"),
        item("B", "HIGH", "2026-01-01T01:00:00Z"),
        item("C", "MEDIUM", "2026-01-01T05:00:00Z"),
        item("D", "HIGH", "2026-01-01T02:00:00Z"),
        item("E", "INFORMATIONAL", "2026-01-01T04:00:00Z"),
    ]});
    server.ok(&analyst, INGEST, json!({ "input": input })).await;
    let query = "query($order: IncidentOrder, $after: String) { incidents(orderBy: $order, first: 2, after: $after, filter: { unlinked: true }) {
        pageInfo { hasNextPage endCursor } nodes { externalId } } }";
    let walk = |order: Value| {
        let server = &server;
        let analyst = analyst.clone();
        async move {
            let (mut seen, mut after) = (Vec::new(), Value::Null);
            loop {
                let data = server.ok(&analyst, query, json!({ "order": order, "after": after })).await;
                let page = &data["incidents"];
                seen.extend(
                    page["nodes"].as_array().unwrap().iter().map(|n| n["externalId"].as_str().unwrap().to_owned()),
                );
                if page["pageInfo"]["hasNextPage"] != true {
                    return seen;
                }
                after = page["pageInfo"]["endCursor"].clone();
            }
        }
    };
    // Equal severities go by number, the same way: D after B descending.
    assert_eq!(walk(json!({ "field": "SEVERITY" })).await, ["D", "B", "C", "A", "E"]);
    assert_eq!(walk(json!({ "field": "SEVERITY", "direction": "ASC" })).await, ["E", "A", "C", "B", "D"]);
    assert_eq!(walk(json!({ "field": "LAST_ACTIVITY_AT" })).await, ["C", "E", "A", "D", "B"]);
    assert_eq!(walk(json!({ "field": "CREATED_AT", "direction": "ASC" })).await, ["A", "B", "C", "D", "E"]);
    assert_eq!(walk(Value::Null).await, ["E", "D", "C", "B", "A"]);
    // A cursor of one order does not continue another.
    let data = server.ok(&analyst, query, json!({ "order": { "field": "SEVERITY" } })).await;
    let cursor = data["incidents"]["pageInfo"]["endCursor"].clone();
    let body =
        server.gql(Some(&analyst), query, json!({ "order": { "field": "LAST_ACTIVITY_AT" }, "after": cursor })).await;
    assert_code(&body, "BAD_USER_INPUT");
}
