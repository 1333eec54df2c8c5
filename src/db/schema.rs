//! Table definitions shared by both backends: only SQL types valid on both.

diesel::table! {
    tenants (id) {
        id -> Text,
        next_case_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        display_name -> Nullable<Text>,
        email -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    statuses (id) {
        id -> BigInt,
        tenant_id -> Text,
        name -> Text,
        name_key -> Text,
        category -> Text,
        position -> Integer,
        is_default -> Bool,
        archived -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        pauses_sla -> Bool,
    }
}

diesel::table! {
    cases (tenant_id, id) {
        tenant_id -> Text,
        id -> BigInt,
        title -> Text,
        title_key -> Text,
        description -> Nullable<Text>,
        priority -> Integer,
        status_id -> BigInt,
        assignee_id -> Nullable<Text>,
        due_on -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_by -> Text,
        updated_at -> Timestamp,
        version -> Integer,
        activity_seq -> BigInt,
        classification -> Nullable<Text>,
        determination -> Nullable<Text>,
        closing_comment -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        paused_since -> Nullable<Timestamp>,
        paused_seconds -> BigInt,
        sla_phase -> Text,
        sla_acknowledge_by -> Nullable<Timestamp>,
        sla_resolve_by -> Nullable<Timestamp>,
        sla_at_risk_at -> Nullable<Timestamp>,
        sla_breach_at -> Nullable<Timestamp>,
        sla_notice_at -> Nullable<Timestamp>,
        sla_events_from -> Nullable<Timestamp>,
        merged_into -> Nullable<BigInt>,
    }
}

diesel::table! {
    tasks (id) {
        id -> BigInt,
        tenant_id -> Text,
        case_id -> BigInt,
        title -> Text,
        description -> Nullable<Text>,
        status -> Text,
        priority -> Integer,
        owner_id -> Nullable<Text>,
        due_on -> Nullable<Timestamp>,
        closing_notes -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    incidents (id) {
        id -> BigInt,
        tenant_id -> Text,
        external_id -> Nullable<Text>,
        title -> Text,
        search_text -> Text,
        severity -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        source -> Nullable<Text>,
        source_id -> Nullable<Text>,
        source_updated_at -> Nullable<Timestamp>,
        content_hash -> Nullable<Text>,
        web_url -> Nullable<Text>,
        classification -> Nullable<Text>,
        determination -> Nullable<Text>,
        assigned_to -> Nullable<Text>,
        tags -> Text,
        first_activity_at -> Nullable<Timestamp>,
        last_activity_at -> Nullable<Timestamp>,
        redirected_to -> Nullable<Text>,
        alert_count -> Integer,
        sync_back -> Bool,
        severity_rank -> Integer,
        activity_at -> Timestamp,
    }
}

diesel::table! {
    incident_alerts (id) {
        id -> BigInt,
        tenant_id -> Text,
        incident_id -> BigInt,
        position -> Integer,
        external_id -> Text,
        title -> Text,
        severity -> Text,
        category -> Nullable<Text>,
        detection_source -> Nullable<Text>,
        first_activity_at -> Nullable<Timestamp>,
        last_activity_at -> Nullable<Timestamp>,
        techniques -> Text,
        evidence -> Text,
        problems -> Text,
        raw -> Text,
    }
}

diesel::table! {
    incident_observables (tenant_id, incident_id, kind, normalized_value) {
        tenant_id -> Text,
        incident_id -> BigInt,
        kind -> Text,
        normalized_value -> Text,
        value -> Text,
    }
}

diesel::table! {
    incident_ingestions (id) {
        id -> BigInt,
        tenant_id -> Text,
        incident_id -> BigInt,
        outcome -> Text,
        actor_id -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        tenant_id -> Text,
        name -> Text,
        secret_hash -> Text,
        secret_hint -> Text,
        permissions -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::table! {
    case_incidents (tenant_id, case_id, incident_id) {
        tenant_id -> Text,
        case_id -> BigInt,
        incident_id -> BigInt,
        linked_by -> Text,
        linked_at -> Timestamp,
    }
}

diesel::table! {
    activity (id) {
        id -> BigInt,
        tenant_id -> Text,
        case_id -> BigInt,
        seq -> BigInt,
        kind -> Text,
        actor_id -> Text,
        created_at -> Timestamp,
        body -> Nullable<Text>,
        action -> Nullable<Text>,
        changes -> Nullable<Text>,
        task_id -> Nullable<BigInt>,
        incident_id -> Nullable<BigInt>,
        observable_id -> Nullable<BigInt>,
        operation_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// PostgreSQL only: each case's search vector (not declared: read by SQL
    /// text) beside the criteria it is counted by (see its migrations).
    case_search (tenant_id, case_id) {
        tenant_id -> Text,
        case_id -> BigInt,
        status_id -> BigInt,
        priority -> Integer,
        assignee_id -> Nullable<Text>,
        created_by -> Text,
    }
}

diesel::table! {
    case_counts (id) {
        id -> BigInt,
        tenant_id -> Text,
        status_id -> BigInt,
        priority -> Integer,
        assignee_id -> Nullable<Text>,
        created_by -> Text,
        n -> Integer,
    }
}

diesel::table! {
    case_due_counts (id) {
        id -> BigInt,
        tenant_id -> Text,
        status_id -> BigInt,
        priority -> Integer,
        assignee_id -> Nullable<Text>,
        created_by -> Text,
        due_day -> Text,
        n -> Integer,
    }
}

diesel::table! {
    /// What search matches: one row per case, task and comment (PostgreSQL
    /// adds the `vector` it keeps from these columns; SQLite indexes them in
    /// `search_fts`).
    search_entries (id) {
        id -> BigInt,
        tenant_id -> Text,
        kind -> Text,
        entity_id -> BigInt,
        case_id -> BigInt,
        title_terms -> Text,
        title_words -> Text,
        body_terms -> Text,
        body_words -> Text,
    }
}

diesel::table! {
    observables (id) {
        id -> BigInt,
        tenant_id -> Text,
        case_id -> BigInt,
        kind -> Text,
        value -> Text,
        normalized_value -> Text,
        is_ioc -> Bool,
        tlp -> Text,
        description -> Nullable<Text>,
        search_text -> Text,
        added_by -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    tags (id) {
        id -> BigInt,
        tenant_id -> Text,
        name -> Text,
        name_key -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    case_tags (tenant_id, case_id, tag_id) {
        tenant_id -> Text,
        case_id -> BigInt,
        tag_id -> BigInt,
        added_by -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    case_techniques (tenant_id, case_id, technique_id) {
        tenant_id -> Text,
        case_id -> BigInt,
        technique_id -> Text,
        added_by -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    workflow_settings (tenant_id) {
        tenant_id -> Text,
        require_classification -> Bool,
        require_finished_tasks -> Bool,
        updated_at -> Timestamp,
        require_closed_children -> Bool,
        duplicate_classification -> Text,
        duplicate_determination -> Nullable<Text>,
    }
}

diesel::table! {
    status_transitions (tenant_id, from_status_id, to_status_id) {
        tenant_id -> Text,
        from_status_id -> BigInt,
        to_status_id -> BigInt,
    }
}

diesel::table! {
    sla_policies (tenant_id, priority) {
        tenant_id -> Text,
        priority -> Integer,
        acknowledge_within_seconds -> Nullable<BigInt>,
        resolve_within_seconds -> Nullable<BigInt>,
        at_risk_percent -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    case_templates (id) {
        id -> BigInt,
        tenant_id -> Text,
        name -> Text,
        name_key -> Text,
        title_prefix -> Nullable<Text>,
        description -> Nullable<Text>,
        priority -> Nullable<Integer>,
        tags -> Text,
        techniques -> Text,
        tasks -> Text,
        archived -> Bool,
        created_by -> Text,
        created_at -> Timestamp,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    automation_rules (id) {
        id -> BigInt,
        tenant_id -> Text,
        name -> Text,
        position -> Integer,
        enabled -> Bool,
        expires_at -> Nullable<Timestamp>,
        trigger -> Text,
        conditions -> Text,
        actions -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    rule_template_applications (tenant_id, case_id, rule_id, template_id) {
        tenant_id -> Text,
        case_id -> BigInt,
        rule_id -> BigInt,
        template_id -> BigInt,
        applied_at -> Timestamp,
    }
}

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        tenant_id -> Text,
        url -> Text,
        description -> Nullable<Text>,
        event_types -> Text,
        enabled -> Bool,
        secret -> Text,
        consecutive_failures -> Integer,
        disabled_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_by -> Text,
        updated_at -> Timestamp,
        circuit_open_until -> Nullable<Timestamp>,
        previous_secret -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        tenant_id -> Text,
        webhook_id -> BigInt,
        case_id -> Nullable<BigInt>,
        message_id -> Text,
        event_type -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_attempt_at -> Nullable<Timestamp>,
        response_status -> Nullable<Integer>,
        duration_ms -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        lease_token -> Nullable<Text>,
    }
}

diesel::table! {
    sla_notices (tenant_id, case_id, kind, deadline, due_by) {
        tenant_id -> Text,
        case_id -> BigInt,
        kind -> Text,
        deadline -> Text,
        due_by -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    attachment_blobs (id) {
        id -> BigInt,
        tenant_id -> Text,
        sha256 -> Text,
        sha1 -> Text,
        md5 -> Text,
        crc32 -> BigInt,
        size -> BigInt,
        content_type -> Text,
        storage_key -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    attachments (id) {
        id -> BigInt,
        tenant_id -> Text,
        case_id -> BigInt,
        task_id -> Nullable<BigInt>,
        blob_id -> BigInt,
        file_name -> Text,
        description -> Nullable<Text>,
        is_malware -> Bool,
        added_by -> Text,
        added_at -> Timestamp,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    stored_objects (storage_key) {
        storage_key -> Text,
        tenant_id -> Text,
        state -> Text,
        since -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    attachment_downloads (id) {
        id -> BigInt,
        tenant_id -> Text,
        attachment_id -> BigInt,
        case_id -> BigInt,
        downloaded_by -> Text,
        downloaded_at -> Timestamp,
        via -> Text,
        byte_range -> Nullable<Text>,
    }
}

diesel::table! {
    case_relations (tenant_id, case_id, related_id) {
        tenant_id -> Text,
        case_id -> BigInt,
        related_id -> BigInt,
        kind -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(case_incidents -> incidents (incident_id));
diesel::joinable!(case_tags -> tags (tag_id));
diesel::joinable!(attachments -> attachment_blobs (blob_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));

// Only the pairs that queries join, or that a subquery filters against:
// each pair is a dozen trait impls the compiler checks against each other, and
// all 253 pairs of these tables cost several seconds of every build of the
// crate. A query over a new pair fails to compile until it is added here.
diesel::allow_tables_to_appear_in_same_query!(cases, statuses);
diesel::allow_tables_to_appear_in_same_query!(cases, case_incidents);
diesel::allow_tables_to_appear_in_same_query!(cases, case_tags);
diesel::allow_tables_to_appear_in_same_query!(cases, tags);
diesel::allow_tables_to_appear_in_same_query!(cases, case_techniques);
diesel::allow_tables_to_appear_in_same_query!(cases, observables);
diesel::allow_tables_to_appear_in_same_query!(cases, case_relations);
diesel::allow_tables_to_appear_in_same_query!(incidents, case_incidents);
diesel::allow_tables_to_appear_in_same_query!(incidents, incident_observables);
diesel::allow_tables_to_appear_in_same_query!(case_incidents, incident_observables);
diesel::allow_tables_to_appear_in_same_query!(observables, incident_observables);
diesel::allow_tables_to_appear_in_same_query!(cases, incident_observables);
diesel::allow_tables_to_appear_in_same_query!(tags, case_tags);
diesel::allow_tables_to_appear_in_same_query!(statuses, case_tags);
diesel::allow_tables_to_appear_in_same_query!(statuses, tags);
diesel::allow_tables_to_appear_in_same_query!(statuses, case_counts);
diesel::allow_tables_to_appear_in_same_query!(statuses, case_search);
diesel::allow_tables_to_appear_in_same_query!(statuses, case_due_counts);
diesel::allow_tables_to_appear_in_same_query!(search_entries, cases);
diesel::allow_tables_to_appear_in_same_query!(search_entries, tasks);
diesel::allow_tables_to_appear_in_same_query!(search_entries, activity);
diesel::allow_tables_to_appear_in_same_query!(webhooks, webhook_deliveries);
diesel::allow_tables_to_appear_in_same_query!(attachments, attachment_blobs);
