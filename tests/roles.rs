//! Every role against every mutation, with real inputs: readers read, analysts
//! change cases, tasks, incidents, links and comments, admins also manage
//! statuses and users.

use crate::common::*;
use serde_json::{Value, json};

async fn each_role_gets_exactly_its_mutations(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = admin("acme");
    server.ok(&analyst("acme"), "{ me { tenant } }", json!({})).await;
    let roles = [("reader", reader("acme")), ("analyst", analyst("acme")), ("admin", admin.clone())];
    for (role, token) in &roles {
        // Fresh objects per role, made by the admin.
        let case = create_case(&server, &admin, &format!("{role}'s case"), json!({})).await["id"].clone();
        let task = server
            .ok(
                &admin,
                "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }",
                json!({ "i": { "caseId": case, "title": "t" } }),
            )
            .await["createTask"]["id"]
            .clone();
        let incident = create_incident(&server, &admin, &format!("{role}'s incident"), "LOW").await["id"].clone();
        let status = server
            .ok(
                &admin,
                "mutation($i: CreateStatusInput!) { createStatus(input: $i) { id } }",
                json!({ "i": { "name": format!("{role} status"), "category": "OPEN" } }),
            )
            .await["createStatus"]["id"]
            .clone();
        let observable = server
            .ok(
                &admin,
                "mutation($i: AddObservablesInput!) { addObservables(input: $i) { observables { id } } }",
                json!({ "i": { "caseId": case, "observables": [{ "type": "HOSTNAME", "value": "ws-0001" }] } }),
            )
            .await["addObservables"]["observables"][0]["id"]
            .clone();
        // A file on a case of its own, so the reader's case keeps its version.
        let files = create_case(&server, &admin, &format!("{role}'s files"), json!({})).await["id"].clone();
        let uploaded = crate::attachments::upload(&server, &admin, json!({ "caseId": files }), "f.txt", b"f").await;
        let attachment = uploaded["data"]["addAttachment"]["id"].clone();
        assert!(attachment.is_string(), "{uploaded}");
        // Cases to relate and merge, apart from the reader's case.
        let other = create_case(&server, &admin, &format!("{role}'s other"), json!({})).await["id"].clone();
        let duplicate = create_case(&server, &admin, &format!("{role}'s duplicate"), json!({})).await["id"].clone();
        let closed = status_id(&server, &admin, "Closed").await;

        let attempts: Vec<(&str, &str, &str, Value)> = vec![
            (
                "updateAttachment",
                "ALERTS_MANAGE",
                "mutation($i: UpdateAttachmentInput!) { updateAttachment(input: $i) { id } }",
                json!({ "id": attachment, "description": "seen" }),
            ),
            (
                "removeAttachment",
                "ALERTS_MANAGE",
                "mutation($i: RemoveAttachmentInput!) { removeAttachment(input: $i) { removedAttachmentId } }",
                json!({ "id": attachment }),
            ),
            (
                "createCase",
                "ALERTS_MANAGE",
                "mutation($i: CreateCaseInput!) { createCase(input: $i) { id } }",
                json!({ "title": "new" }),
            ),
            (
                "updateCase",
                "ALERTS_MANAGE",
                "mutation($i: UpdateCaseInput!) { updateCase(input: $i) { id } }",
                json!({ "id": case, "priority": "HIGH" }),
            ),
            (
                "createTask",
                "ALERTS_MANAGE",
                "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }",
                json!({ "caseId": case, "title": "t2" }),
            ),
            (
                "updateTask",
                "ALERTS_MANAGE",
                "mutation($i: UpdateTaskInput!) { updateTask(input: $i) { id } }",
                json!({ "id": task, "status": "COMPLETED" }),
            ),
            (
                "createIncident",
                "ALERTS_MANAGE",
                "mutation($i: CreateIncidentInput!) { createIncident(input: $i) { id } }",
                json!({ "title": "i", "severity": "LOW" }),
            ),
            (
                "updateIncident",
                "ALERTS_MANAGE",
                "mutation($i: UpdateIncidentInput!) { updateIncident(input: $i) { id } }",
                json!({ "id": incident, "status": "RESOLVED" }),
            ),
            (
                "linkIncidents",
                "ALERTS_MANAGE",
                "mutation($i: CaseIncidentsInput!) { linkIncidents(input: $i) { id } }",
                json!({ "caseId": case, "incidentIds": [incident] }),
            ),
            (
                "unlinkIncidents",
                "ALERTS_MANAGE",
                "mutation($i: CaseIncidentsInput!) { unlinkIncidents(input: $i) { id } }",
                json!({ "caseId": case, "incidentIds": [incident] }),
            ),
            (
                "addComment",
                "ALERTS_MANAGE",
                "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }",
                json!({ "caseId": case, "body": "hi" }),
            ),
            (
                "addObservables",
                "ALERTS_MANAGE",
                "mutation($i: AddObservablesInput!) { addObservables(input: $i) { case { id } } }",
                json!({ "caseId": case, "observables": [{ "type": "CVE", "value": "CVE-2024-3094" }] }),
            ),
            (
                "updateObservable",
                "ALERTS_MANAGE",
                "mutation($i: UpdateObservableInput!) { updateObservable(input: $i) { id } }",
                json!({ "id": observable, "isIoc": true }),
            ),
            (
                "removeObservable",
                "ALERTS_MANAGE",
                "mutation($i: RemoveObservableInput!) { removeObservable(input: $i) { id } }",
                json!({ "id": observable }),
            ),
            (
                "addCaseTags",
                "ALERTS_MANAGE",
                "mutation($i: CaseTagsInput!) { addCaseTags(input: $i) { id } }",
                json!({ "caseId": case, "tags": ["triage"] }),
            ),
            (
                "removeCaseTags",
                "ALERTS_MANAGE",
                "mutation($i: CaseTagsInput!) { removeCaseTags(input: $i) { id } }",
                json!({ "caseId": case, "tags": ["triage"] }),
            ),
            (
                "setCaseTechniques",
                "ALERTS_MANAGE",
                "mutation($i: SetCaseTechniquesInput!) { setCaseTechniques(input: $i) { id } }",
                json!({ "caseId": case, "techniqueIds": ["T1486"] }),
            ),
            (
                "deleteTask",
                "ALERTS_MANAGE",
                "mutation($i: DeleteTaskInput!) { deleteTask(input: $i) { deletedTaskId } }",
                json!({ "id": task }),
            ),
            (
                "createStatus",
                "CORE_SECURITY_SETTINGS_MANAGE",
                "mutation($i: CreateStatusInput!) { createStatus(input: $i) { id } }",
                json!({ "name": format!("{role} extra"), "category": "OPEN" }),
            ),
            (
                "updateStatus",
                "CORE_SECURITY_SETTINGS_MANAGE",
                "mutation($i: UpdateStatusInput!) { updateStatus(input: $i) { id } }",
                json!({ "id": status, "archived": true }),
            ),
            (
                "updateWorkflowSettings",
                "CORE_SECURITY_SETTINGS_MANAGE",
                "mutation($i: UpdateWorkflowSettingsInput!) { updateWorkflowSettings(input: $i) { requireFinishedTasks } }",
                json!({ "requireFinishedTasks": false }),
            ),
            (
                "setSlaPolicy",
                "CORE_SECURITY_SETTINGS_MANAGE",
                "mutation($i: SetSlaPolicyInput!) { setSlaPolicy(input: $i) { resolveWithin } }",
                json!({ "priority": "LOW", "resolveWithin": "P5D" }),
            ),
            (
                "removeSlaPolicy",
                "CORE_SECURITY_SETTINGS_MANAGE",
                "mutation($i: RemoveSlaPolicyInput!) { removeSlaPolicy(input: $i) { priority } }",
                json!({ "priority": "LOW" }),
            ),
            (
                "updateCases",
                "ALERTS_MANAGE",
                "mutation($i: UpdateCasesInput!) { updateCases(input: $i) { changed } }",
                json!({ "ids": [other], "changes": { "priority": "LOW" } }),
            ),
            (
                "addTagsToCases",
                "ALERTS_MANAGE",
                "mutation($i: AddTagsToCasesInput!) { addTagsToCases(input: $i) { changed } }",
                json!({ "ids": [other], "tags": ["bulk"] }),
            ),
            (
                "linkIncidentsToCases",
                "ALERTS_MANAGE",
                "mutation($i: LinkIncidentsToCasesInput!) { linkIncidentsToCases(input: $i) { changed } }",
                json!({ "ids": [other], "incidentIds": [incident] }),
            ),
            (
                "addCaseRelation",
                "ALERTS_MANAGE",
                "mutation($i: AddCaseRelationInput!) { addCaseRelation(input: $i) { id } }",
                json!({ "caseId": other, "kind": "RELATED_TO", "relatedCaseId": files }),
            ),
            (
                "removeCaseRelation",
                "ALERTS_MANAGE",
                "mutation($i: RemoveCaseRelationInput!) { removeCaseRelation(input: $i) { id } }",
                json!({ "caseId": other, "relatedCaseId": files }),
            ),
            (
                "mergeCases",
                "ALERTS_MANAGE",
                "mutation($i: MergeCasesInput!) { mergeCases(input: $i) { operationId } }",
                json!({ "sourceIds": [duplicate], "targetId": other, "closingStatusId": closed,
                        "classification": "FALSE_POSITIVE" }),
            ),
            (
                "upsertUser",
                "CORE_SECURITY_SETTINGS_MANAGE",
                "mutation($i: UpsertUserInput!) { upsertUser(input: $i) { id } }",
                json!({ "id": format!("{role}-new"), "displayName": "N" }),
            ),
        ];
        for (name, permission, query, input) in attempts {
            let allowed = match *role {
                "reader" => false,
                "analyst" => permission == "ALERTS_MANAGE",
                _ => true,
            };
            let body = server.gql(Some(token), query, json!({ "i": input })).await;
            if allowed {
                assert!(body.get("errors").is_none(), "{role} {name}: {body}");
            } else {
                assert_code(&body, "FORBIDDEN");
            }
        }
        // Reading is everyone's.
        let read = server.ok(token, "query($c: ID!) { case(id: $c) { id tags techniques { id } observables { totalCount } } cases { totalCount } incidents { totalCount } statuses { id } users { id } observables { totalCount } tags { name } attackTechniques { id } attackTactics { id } }", json!({ "c": case })).await;
        assert_eq!(read["case"]["id"], case);
    }
    // A refused mutation changed nothing: the reader's case is as the admin left it.
    let untouched = server.ok(&admin, "{ case(id: \"1000\") { priority version } }", json!({})).await;
    assert_eq!(untouched["case"], json!({ "priority": null, "version": 3 }));
}

both_backends!(each_role_gets_exactly_its_mutations);
