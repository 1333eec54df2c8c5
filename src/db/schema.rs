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
    }
}

diesel::allow_tables_to_appear_in_same_query!(tenants, users, statuses);
