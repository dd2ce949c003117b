-- Plaid Pattern's schema, as shared/reference/pattern-database.md lists it.
-- Written so it can run on an empty database (like the postgres image's
-- /docker-entrypoint-initdb.d) and on a live Pattern database alike: every
-- object is created only when it is missing, nothing is altered or dropped.

CREATE OR REPLACE FUNCTION trigger_set_timestamp()
RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at = NOW();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE IF NOT EXISTS users_table
(
  id SERIAL PRIMARY KEY,
  username text UNIQUE NOT NULL,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

CREATE TABLE IF NOT EXISTS items_table
(
  id SERIAL PRIMARY KEY,
  user_id integer REFERENCES users_table(id) ON DELETE CASCADE,
  plaid_access_token text UNIQUE NOT NULL,
  plaid_item_id text UNIQUE NOT NULL,
  plaid_institution_id text NOT NULL,
  status text NOT NULL,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  transactions_cursor text
);

CREATE TABLE IF NOT EXISTS assets_table
(
  id SERIAL PRIMARY KEY,
  user_id integer REFERENCES users_table(id) ON DELETE CASCADE,
  value numeric(28,2),
  description text,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

CREATE TABLE IF NOT EXISTS accounts_table
(
  id SERIAL PRIMARY KEY,
  item_id integer REFERENCES items_table(id) ON DELETE CASCADE,
  plaid_account_id text UNIQUE NOT NULL,
  name text NOT NULL,
  mask text NOT NULL,
  official_name text,
  current_balance numeric(28,10),
  available_balance numeric(28,10),
  iso_currency_code text,
  unofficial_currency_code text,
  type text NOT NULL,
  subtype text NOT NULL,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

CREATE TABLE IF NOT EXISTS transactions_table
(
  id SERIAL PRIMARY KEY,
  account_id integer REFERENCES accounts_table(id) ON DELETE CASCADE,
  plaid_transaction_id text UNIQUE NOT NULL,
  plaid_category_id text,
  category text,
  type text NOT NULL,
  name text NOT NULL,
  amount numeric(28,10) NOT NULL,
  iso_currency_code text,
  unofficial_currency_code text,
  date date NOT NULL,
  pending boolean NOT NULL,
  account_owner text,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

CREATE TABLE IF NOT EXISTS link_events_table
(
  id SERIAL PRIMARY KEY,
  type text NOT NULL,
  user_id integer,
  link_session_id text,
  request_id text UNIQUE,
  error_type text,
  error_code text,
  status text,
  created_at timestamptz default now()
);

CREATE TABLE IF NOT EXISTS plaid_api_events_table
(
  id SERIAL PRIMARY KEY,
  item_id integer,
  user_id integer,
  plaid_method text NOT NULL,
  arguments text,
  request_id text UNIQUE,
  error_type text,
  error_code text,
  created_at timestamptz default now()
);

-- Triggers and views: PostgreSQL has no IF NOT EXISTS for these, so each is
-- created only when the catalog does not have it yet.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'items', 'assets', 'accounts', 'transactions'] LOOP
    IF NOT EXISTS (
      SELECT 1 FROM pg_trigger
      WHERE tgname = t || '_updated_at_timestamp'
        AND tgrelid = (t || '_table')::regclass
    ) THEN
      EXECUTE format(
        'CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE PROCEDURE trigger_set_timestamp()',
        t || '_updated_at_timestamp', t || '_table');
    END IF;
  END LOOP;

  IF to_regclass('users') IS NULL THEN
    CREATE VIEW users AS
      SELECT id, username, created_at, updated_at
      FROM users_table;
  END IF;

  IF to_regclass('items') IS NULL THEN
    CREATE VIEW items AS
      SELECT id, plaid_item_id, user_id, plaid_access_token, plaid_institution_id,
             status, created_at, updated_at, transactions_cursor
      FROM items_table;
  END IF;

  IF to_regclass('assets') IS NULL THEN
    CREATE VIEW assets AS
      SELECT id, user_id, value, description, created_at, updated_at
      FROM assets_table;
  END IF;

  IF to_regclass('accounts') IS NULL THEN
    CREATE VIEW accounts AS
      SELECT a.id, a.plaid_account_id, a.item_id, i.plaid_item_id, i.user_id,
             a.name, a.mask, a.official_name, a.current_balance, a.available_balance,
             a.iso_currency_code, a.unofficial_currency_code, a.type, a.subtype,
             a.created_at, a.updated_at
      FROM accounts_table a
      LEFT JOIN items i ON i.id = a.item_id;
  END IF;

  IF to_regclass('transactions') IS NULL THEN
    CREATE VIEW transactions AS
      SELECT t.id, t.plaid_transaction_id, t.account_id, a.plaid_account_id,
             a.item_id, a.plaid_item_id, a.user_id, t.plaid_category_id, t.category,
             t.type, t.name, t.amount, t.iso_currency_code, t.unofficial_currency_code,
             t.date, t.pending, t.account_owner, t.created_at, t.updated_at
      FROM transactions_table t
      LEFT JOIN accounts a ON t.account_id = a.id;
  END IF;
END
$$;
