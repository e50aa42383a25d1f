-- Statements partitioned by month of stored time (UTC), with their agent and
-- activity index tables partitioned the same way, so a month is created
-- ahead, archived and dropped as a unit. PostgreSQL wants the partition key
-- in every unique constraint, so the uniqueness of a statement id across
-- months lives in the small table lrs_statement_ids (id -> stored), which
-- also turns a look-up by id into one partition's primary-key probe.

ALTER TABLE lrs_statement_agents RENAME TO lrs_statement_agents_old;
ALTER TABLE lrs_statement_activities RENAME TO lrs_statement_activities_old;
ALTER TABLE lrs_statements RENAME TO lrs_statements_old;
ALTER INDEX lrs_statements_stored RENAME TO lrs_statements_old_stored;
ALTER INDEX lrs_statements_verb RENAME TO lrs_statements_old_verb;
ALTER INDEX lrs_statements_activity RENAME TO lrs_statements_old_activity;
ALTER INDEX lrs_statements_registration RENAME TO lrs_statements_old_registration;
ALTER INDEX lrs_statements_org RENAME TO lrs_statements_old_org;
ALTER INDEX lrs_statements_user RENAME TO lrs_statements_old_user;
ALTER INDEX lrs_statements_ref RENAME TO lrs_statements_old_ref;
ALTER INDEX lrs_statement_agents_statement RENAME TO lrs_statement_agents_old_statement;
ALTER INDEX lrs_statement_activities_statement RENAME TO lrs_statement_activities_old_statement;

CREATE TABLE lrs_statement_ids (
	id TEXT PRIMARY KEY,
	stored BIGINT NOT NULL
);

CREATE TABLE lrs_statements (
	id TEXT NOT NULL,
	stored BIGINT NOT NULL,
	ts BIGINT NOT NULL,
	actor TEXT NOT NULL,
	verb TEXT NOT NULL,
	activity TEXT NOT NULL DEFAULT '',
	object_ref TEXT NOT NULL DEFAULT '',
	registration TEXT NOT NULL DEFAULT '',
	voided BOOLEAN NOT NULL DEFAULT FALSE,
	client_id BIGINT NOT NULL DEFAULT 0,
	org_path TEXT NOT NULL,
	user_id BIGINT NOT NULL DEFAULT 0,
	body TEXT NOT NULL,
	PRIMARY KEY (stored, id)
) PARTITION BY RANGE (stored);
CREATE INDEX lrs_statements_verb ON lrs_statements (verb, stored);
CREATE INDEX lrs_statements_activity ON lrs_statements (activity, stored);
CREATE INDEX lrs_statements_registration ON lrs_statements (registration, stored) WHERE registration <> '';
CREATE INDEX lrs_statements_org ON lrs_statements (org_path, stored);
CREATE INDEX lrs_statements_user ON lrs_statements (user_id, stored) WHERE user_id <> 0;
CREATE INDEX lrs_statements_ref ON lrs_statements (object_ref) WHERE object_ref <> '';
CREATE INDEX lrs_statements_refs ON lrs_statements (stored, id) WHERE object_ref <> '';

-- One row per agent a statement names (no foreign key: written in the
-- statement's own transaction, and dropped with its month).
CREATE TABLE lrs_statement_agents (
	agent TEXT NOT NULL,
	stored BIGINT NOT NULL,
	statement_id TEXT NOT NULL,
	direct BOOLEAN NOT NULL,
	PRIMARY KEY (agent, stored, statement_id, direct)
) PARTITION BY RANGE (stored);

CREATE TABLE lrs_statement_activities (
	activity TEXT NOT NULL,
	stored BIGINT NOT NULL,
	statement_id TEXT NOT NULL,
	direct BOOLEAN NOT NULL,
	PRIMARY KEY (activity, stored, statement_id, direct)
) PARTITION BY RANGE (stored);

-- Rows outside every month created (a clock far off, a restore of old
-- records) land here rather than fail; lrs_ensure_month moves them into
-- their month when it creates it.
CREATE TABLE lrs_statements_default PARTITION OF lrs_statements DEFAULT;
CREATE TABLE lrs_statement_agents_default PARTITION OF lrs_statement_agents DEFAULT;
CREATE TABLE lrs_statement_activities_default PARTITION OF lrs_statement_activities DEFAULT;

-- lrs_ensure_month creates the partitions of the month (UTC) that holds the
-- instant ms (Unix milliseconds) in the three tables, if missing, and
-- returns the number of tables it created the month in.
CREATE FUNCTION lrs_ensure_month(ms BIGINT) RETURNS INTEGER LANGUAGE plpgsql AS $fn$
DECLARE
	m TIMESTAMP := date_trunc('month', to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC');
	lo BIGINT := (extract(epoch FROM m AT TIME ZONE 'UTC') * 1000)::BIGINT;
	hi BIGINT := (extract(epoch FROM (m + INTERVAL '1 month') AT TIME ZONE 'UTC') * 1000)::BIGINT;
	suffix TEXT := to_char(m, 'YYYYMM');
	t TEXT;
	part TEXT;
	made INTEGER := 0;
BEGIN
	-- Two processes making the same month wait for each other.
	PERFORM pg_advisory_xact_lock(hashtext('lrs_ensure_month'));
	FOREACH t IN ARRAY ARRAY['lrs_statements', 'lrs_statement_agents', 'lrs_statement_activities'] LOOP
		part := t || '_p' || suffix;
		IF to_regclass(part) IS NOT NULL THEN
			CONTINUE;
		END IF;
		-- The default partition is locked while rows of this month move
		-- out of it into the new table, which is then attached.
		EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', t || '_default');
		EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, t);
		EXECUTE format('WITH moved AS (DELETE FROM %I WHERE stored >= %s AND stored < %s RETURNING *) INSERT INTO %I SELECT * FROM moved',
			t || '_default', lo, hi, part);
		EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (stored >= %s AND stored < %s)', part, part || '_range', lo, hi);
		EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', t, part, lo, hi);
		EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
		made := made + 1;
	END LOOP;
	RETURN made;
END
$fn$;

-- The months of the records already kept, and this month and the next two.
DO $do$
DECLARE
	m BIGINT;
	now_ms BIGINT := (extract(epoch FROM now()) * 1000)::BIGINT;
BEGIN
	FOR m IN SELECT DISTINCT (extract(epoch FROM date_trunc('month', to_timestamp(stored / 1000.0) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') * 1000)::BIGINT
			FROM lrs_statements_old LOOP
		PERFORM lrs_ensure_month(m);
	END LOOP;
	PERFORM lrs_ensure_month(now_ms);
	PERFORM lrs_ensure_month((extract(epoch FROM date_trunc('month', now() AT TIME ZONE 'UTC') + INTERVAL '1 month') * 1000)::BIGINT);
	PERFORM lrs_ensure_month((extract(epoch FROM date_trunc('month', now() AT TIME ZONE 'UTC') + INTERVAL '2 month') * 1000)::BIGINT);
END
$do$;

INSERT INTO lrs_statement_ids (id, stored) SELECT id, stored FROM lrs_statements_old;
INSERT INTO lrs_statements SELECT id, stored, ts, actor, verb, activity, object_ref, registration, voided, client_id, org_path, user_id, body
	FROM lrs_statements_old;
INSERT INTO lrs_statement_agents (agent, stored, statement_id, direct)
	SELECT a.agent, s.stored, a.statement_id, a.direct FROM lrs_statement_agents_old a JOIN lrs_statements_old s ON s.id = a.statement_id;
INSERT INTO lrs_statement_activities (activity, stored, statement_id, direct)
	SELECT a.activity, s.stored, a.statement_id, a.direct FROM lrs_statement_activities_old a JOIN lrs_statements_old s ON s.id = a.statement_id;
DROP TABLE lrs_statement_agents_old;
DROP TABLE lrs_statement_activities_old;
DROP TABLE lrs_statements_old;

-- Writes in progress (see the SQLite file); unlogged: it matters only
-- while the writers run, and its rows cost no WAL.
CREATE UNLOGGED TABLE lrs_inflight (
	token TEXT PRIMARY KEY,
	stored BIGINT NOT NULL,
	expires BIGINT NOT NULL
);
