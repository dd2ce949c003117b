-- Indexes the dashboard's queries need on Pattern's event tables (which ship
-- with only their primary key and the UNIQUE on request_id).
-- CONCURRENTLY so that `python -m dashboard init-db` on a live Pattern
-- database never blocks the writers; each statement runs on its own.

CREATE INDEX CONCURRENTLY IF NOT EXISTS dashboard_api_events_created_at_idx
  ON plaid_api_events_table (created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS dashboard_api_events_item_created_idx
  ON plaid_api_events_table (item_id, created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS dashboard_api_events_user_created_idx
  ON plaid_api_events_table (user_id, created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS dashboard_api_events_errors_idx
  ON plaid_api_events_table (error_code, created_at) WHERE error_code IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS dashboard_link_events_created_at_idx
  ON link_events_table (created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS dashboard_link_events_user_created_idx
  ON link_events_table (user_id, created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS dashboard_link_events_session_idx
  ON link_events_table (link_session_id);

CREATE INDEX CONCURRENTLY IF NOT EXISTS dashboard_items_institution_idx
  ON items_table (plaid_institution_id);
