-- Admin batches (dashboard-owned, additive). A batch row exists while it
-- runs and keeps its results after; the partial unique index lets only one
-- running batch per fingerprint (action + items + environment), so a double
-- click or a second browser tab cannot run the same batch twice.
CREATE TABLE IF NOT EXISTS dashboard_admin_batches
(
  id bigserial PRIMARY KEY,
  fingerprint text NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  plaid_env text NOT NULL,
  item_ids integer[] NOT NULL DEFAULT '{}',
  state text NOT NULL DEFAULT 'running',
  total integer NOT NULL DEFAULT 0,
  done integer NOT NULL DEFAULT 0,
  results jsonb NOT NULL DEFAULT '[]'::jsonb,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS dashboard_admin_batches_one_running
  ON dashboard_admin_batches (fingerprint) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS dashboard_admin_batches_started_at_idx
  ON dashboard_admin_batches (started_at DESC);
