//! The one portable schema for both backends (migrations/sqlite and migrations/postgres create
//! the same tables). Only types both backends share: Text, BigInt and Integer.

diesel::table! {
    orgs (id) {
        id -> Text,
        name -> Text,
        plan -> Text,
        currency -> Text,
        hourly_rate -> Text,
        fallback_baseline_minutes -> Nullable<Text>,
        monthly_event_cap -> Nullable<BigInt>,
        created_at -> BigInt,
        timezone -> Text,
        digest_recipients -> Text,
        retention_days -> Nullable<Integer>,
        parent_id -> Nullable<Text>,
    }
}

diesel::table! {
    api_keys (prefix) {
        prefix -> Text,
        org_id -> Text,
        mode -> Text,
        secret_hash -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        scopes -> Text,
        name -> Text,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    agents (org_id, agent_id) {
        org_id -> Text,
        agent_id -> Text,
        hourly_rate -> Nullable<Text>,
        first_seen_at -> BigInt,
        last_seen_at -> BigInt,
        first_event_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    task_type_overrides (org_id, task_type) {
        org_id -> Text,
        task_type -> Text,
        baseline_minutes -> Text,
        reason -> Nullable<Text>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    custom_task_types (org_id, key) {
        org_id -> Text,
        key -> Text,
        display_name -> Text,
        category -> Text,
        baseline_minutes -> Text,
        baseline_source -> Nullable<Text>,
        created_at -> BigInt,
        archived_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    prices (org_id, model_id, effective_from) {
        org_id -> Text,
        model_id -> Text,
        input_usd_per_mtok -> Text,
        output_usd_per_mtok -> Text,
        effective_from -> Text,
        source -> Text,
    }
}

diesel::table! {
    fx_rates (currency, effective_from) {
        currency -> Text,
        effective_from -> Text,
        usd_to -> Text,
        source -> Text,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        org_id -> Text,
        agent_id -> Text,
        task_type -> Text,
        outcome -> Text,
        occurred_at -> BigInt,
        received_at -> BigInt,
        agent_duration_seconds -> Text,
        model -> Nullable<Text>,
        tokens_in -> Nullable<BigInt>,
        tokens_out -> Nullable<BigInt>,
        baseline_minutes -> Text,
        baseline_source -> Text,
        hourly_rate -> Text,
        rate_source -> Text,
        currency -> Text,
        cost_source -> Text,
        price_input_usd_per_mtok -> Nullable<Text>,
        price_output_usd_per_mtok -> Nullable<Text>,
        fx_rate -> Nullable<Text>,
        hours_saved_milli -> BigInt,
        cost_saved_cents -> BigInt,
        agent_cost_micros -> Nullable<BigInt>,
        net_saved_cents -> BigInt,
        client -> Nullable<Text>,
        metadata -> Nullable<Text>,
        audit_sample -> Nullable<Text>,
        warnings -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (org_id, idem_key) {
        org_id -> Text,
        idem_key -> Text,
        fingerprint -> Text,
        event_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    pool_usage (anchor_id, month) {
        anchor_id -> Text,
        month -> Text,
        events -> BigInt,
        overage_events -> BigInt,
    }
}

diesel::table! {
    monthly_usage (org_id, month) {
        org_id -> Text,
        month -> Text,
        events -> BigInt,
        overage_events -> BigInt,
    }
}

diesel::table! {
    rollup_hourly (org_id, dim, hour, key) {
        org_id -> Text,
        dim -> Text,
        hour -> BigInt,
        key -> Text,
        events -> BigInt,
        hours_saved_milli -> BigInt,
        cost_saved_cents_hi -> BigInt,
        cost_saved_cents_lo -> BigInt,
        agent_cost_micros_hi -> BigInt,
        agent_cost_micros_lo -> BigInt,
        costed_events -> BigInt,
    }
}

diesel::table! {
    dashboard_sessions (id) {
        id -> Text,
        token_hash -> Text,
        org_id -> Text,
        key_prefix -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    share_links (id) {
        id -> Text,
        org_id -> Text,
        token_prefix -> Text,
        token_hash -> Text,
        label -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    background_jobs (id) {
        id -> Text,
        kind -> Text,
        payload -> Text,
        run_at -> BigInt,
        attempts -> BigInt,
        max_attempts -> BigInt,
        last_error -> Nullable<Text>,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<BigInt>,
        dead_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    job_schedules (name) {
        name -> Text,
        next_run_at -> BigInt,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        org_id -> Text,
        url -> Text,
        event_types -> Text,
        description -> Text,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<BigInt>,
        status -> Text,
        disabled_by -> Nullable<Text>,
        failed_in_a_row -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        org_id -> Text,
        endpoint_id -> Text,
        message_id -> Text,
        event_type -> Text,
        event_id -> Nullable<Text>,
        payload -> Nullable<Text>,
        status -> Text,
        attempts -> BigInt,
        round_attempts -> BigInt,
        next_attempt_at -> BigInt,
        locked_by -> Nullable<Text>,
        created_at -> BigInt,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_attempts (delivery_id, attempt) {
        delivery_id -> Text,
        attempt -> BigInt,
        attempted_at -> BigInt,
        status_code -> Nullable<BigInt>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
        response_body -> Text,
    }
}

diesel::table! {
    digests (org_id, kind, period_start) {
        org_id -> Text,
        kind -> Text,
        period_start -> BigInt,
        period_end -> BigInt,
        label -> Text,
        data -> Text,
        created_at -> BigInt,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    digest_emails (org_id, kind, period_start, address) {
        org_id -> Text,
        kind -> Text,
        period_start -> BigInt,
        address -> Text,
        status -> Text,
        attempts -> BigInt,
        last_error -> Nullable<Text>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    feed_sync (feed) {
        feed -> Text,
        last_success_at -> Nullable<BigInt>,
        last_failure_at -> Nullable<BigInt>,
        failing_since -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        rows_added -> BigInt,
    }
}

diesel::joinable!(api_keys -> orgs (org_id));
diesel::allow_tables_to_appear_in_same_query!(
    orgs,
    feed_sync,
    digests,
    digest_emails,
    api_keys,
    agents,
    task_type_overrides,
    custom_task_types,
    prices,
    fx_rates,
    events,
    idempotency_keys,
    monthly_usage,
    pool_usage,
    rollup_hourly,
    dashboard_sessions,
    share_links,
    background_jobs,
    job_schedules,
    webhook_endpoints,
    webhook_deliveries,
    webhook_attempts,
);
