/**
 * The schema's CHECK constraints on values a request supplies, by name, and the API field each
 * guards (migrations/). The DTOs check the same rules first; a violation that still reaches the
 * database (SQLSTATE 23514) is answered 400 naming this field, not 500. A new CHECK goes here, or
 * in INTERNAL_CHECK_CONSTRAINTS when no request value can break it (a test compares both with the schema).
 */
export const CHECK_CONSTRAINT_FIELDS: Readonly<Record<string, string>> = {
  // A tenant's slug is `tenant` in every route path (and `slug` in POST /v1/tenants).
  tenants_slug_format: 'tenant',
  tenants_display_name_length: 'displayName',
  services_name_format: 'service',
  endpoints_environment_format: 'environment',
  endpoints_url_format: 'url',
  api_keys_name_length: 'name',
  api_keys_scopes_known: 'scopes',
  api_keys_admin_unbound: 'scopes',
  change_sets_description_length: 'description',
};

/** CHECK constraints on values the service computes itself (revisions, hashes, event types). */
export const INTERNAL_CHECK_CONSTRAINTS: readonly string[] = [
  'store_revision_id_check',
  'store_revision_revision_check',
  'endpoints_revision_positive',
  'endpoints_policy_shape',
  'endpoints_health_revisions_shape',
  'api_keys_secret_hash_length',
  'outbox_event_type_known',
  'tenants_route_count_nonnegative',
  'tenants_probed_endpoint_count_nonnegative',
  'change_sets_size_positive',
  'route_versions_op_known',
  'route_versions_body_on_put',
  'audit_log_action_known',
  'relay_positions_revision_positive',
  'relay_positions_offsets_object',
];
