-- Incremental hourly rollups of the event tables (dashboard/rollups.py fills them).
-- Additive and idempotent like every init script: only dashboard_* objects,
-- created when missing. Hours are UTC (date_trunc(..., 'UTC')).
--
-- Rows are aggregated once, in id order, from a per-table watermark, so a
-- late row (old created_at, new id) is still counted, in the hour it belongs
-- to. Counts are additive (sum them over any set of full hours); first_at and
-- last_at are min/max of created_at within the row's group.

-- How far each event table has been aggregated.
CREATE TABLE IF NOT EXISTS dashboard_rollup_watermarks
(
  source text PRIMARY KEY,
  last_id bigint NOT NULL DEFAULT 0,
  rows_aggregated bigint NOT NULL DEFAULT 0,
  refreshed_at timestamptz
);

-- Ids below the watermark that did not exist when it moved past them: a
-- transaction may still have been writing them. They are re-checked on each
-- refresh and forgotten after a while (most are burnt sequence values).
CREATE TABLE IF NOT EXISTS dashboard_rollup_gaps
(
  source text NOT NULL,
  id bigint NOT NULL,
  noted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, id)
);

-- plaid_api_events_table per hour, method, error and institution (via items_table;
-- NULL when the event has no item or the item is gone).
CREATE TABLE IF NOT EXISTS dashboard_api_hourly
(
  hour timestamptz NOT NULL,
  plaid_method text NOT NULL,
  error_type text,
  error_code text,
  plaid_institution_id text,
  calls bigint NOT NULL,
  first_at timestamptz NOT NULL,
  last_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dashboard_api_hourly_key
  ON dashboard_api_hourly (hour, plaid_method, error_type, error_code, plaid_institution_id) NULLS NOT DISTINCT;

-- The same per UTC day: a month-long window reads ~30 rows per combination
-- instead of ~720 (hours are used only for the partial days at its ends).
CREATE TABLE IF NOT EXISTS dashboard_api_daily
(
  day timestamptz NOT NULL,
  plaid_method text NOT NULL,
  error_type text,
  error_code text,
  plaid_institution_id text,
  calls bigint NOT NULL,
  first_at timestamptz NOT NULL,
  last_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dashboard_api_daily_key
  ON dashboard_api_daily (day, plaid_method, error_type, error_code, plaid_institution_id) NULLS NOT DISTINCT;

-- The failed calls (error_code IS NOT NULL) of events with an item_id, per
-- item: "items affected" (distinct items) and per-item error counts come from
-- here. Successes are left out: per item they barely compress.
CREATE TABLE IF NOT EXISTS dashboard_api_item_hourly
(
  hour timestamptz NOT NULL,
  item_id integer NOT NULL,
  plaid_method text NOT NULL,
  error_type text,
  error_code text NOT NULL,
  plaid_institution_id text,
  errors bigint NOT NULL,
  first_at timestamptz NOT NULL,
  last_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dashboard_api_item_hourly_key
  ON dashboard_api_item_hourly (hour, item_id, plaid_method, error_type, error_code, plaid_institution_id)
  NULLS NOT DISTINCT;
CREATE INDEX IF NOT EXISTS dashboard_api_item_hourly_item_idx
  ON dashboard_api_item_hourly (item_id, hour);

-- link_events_table per hour, type, error and exit status.
CREATE TABLE IF NOT EXISTS dashboard_link_hourly
(
  hour timestamptz NOT NULL,
  type text NOT NULL,
  error_type text,
  error_code text,
  status text,
  events bigint NOT NULL,
  first_at timestamptz NOT NULL,
  last_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dashboard_link_hourly_key
  ON dashboard_link_hourly (hour, type, error_type, error_code, status) NULLS NOT DISTINCT;

-- Link sessions with more than one row. Pattern writes one row per Link
-- session (onSuccess or onExit), so distinct sessions are the rows minus the
-- extra rows of these few sessions (dashboard.rollups.LINK_MULTI_SESSION_ROWS_SQL).
CREATE TABLE IF NOT EXISTS dashboard_link_multi_sessions
(
  link_session_id text PRIMARY KEY,
  noted_at timestamptz NOT NULL DEFAULT now()
);
