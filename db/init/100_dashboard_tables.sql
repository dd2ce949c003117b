-- The dashboard's own tables. Additive only: Pattern's tables are never touched.

-- Every admin action (who, when, what, which items, outcome, request ids).
CREATE TABLE IF NOT EXISTS dashboard_audit_log
(
  id bigserial PRIMARY KEY,
  actor text NOT NULL,
  action text NOT NULL,
  plaid_env text NOT NULL,
  item_ids integer[] NOT NULL DEFAULT '{}',
  outcome text NOT NULL,
  request_ids text[] NOT NULL DEFAULT '{}',
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dashboard_audit_log_created_at_idx
  ON dashboard_audit_log (created_at DESC);

-- Institution names resolved through /institutions/get_by_id, so pages do not
-- call Plaid on every render.
CREATE TABLE IF NOT EXISTS dashboard_institutions
(
  plaid_institution_id text PRIMARY KEY,
  name text NOT NULL,
  fetched_at timestamptz NOT NULL DEFAULT now()
);

-- Records which demo dataset (if any) was seeded, so seeding twice is refused.
CREATE TABLE IF NOT EXISTS dashboard_seed_runs
(
  id serial PRIMARY KEY,
  seed integer NOT NULL,
  api_events bigint NOT NULL,
  anchor timestamptz NOT NULL,
  stories jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
