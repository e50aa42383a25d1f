-- xAPI statements. body is the statement as stored (with id, stored,
-- timestamp, authority and version filled in); the columns beside it are
-- what queries and indicators filter on.
CREATE TABLE lrs_statements (
	id TEXT PRIMARY KEY,                  -- lower-case UUID
	stored BIGINT NOT NULL,               -- Unix ms, set by the store
	ts BIGINT NOT NULL,                   -- the statement's timestamp, Unix ms
	actor TEXT NOT NULL,                  -- inverse functional identifier key of the actor
	verb TEXT NOT NULL,
	activity TEXT NOT NULL DEFAULT '',    -- object activity id, '' when the object is not an activity
	object_ref TEXT NOT NULL DEFAULT '',  -- target of a StatementRef object
	registration TEXT NOT NULL DEFAULT '',
	voided BOOLEAN NOT NULL DEFAULT FALSE,
	client_id BIGINT NOT NULL DEFAULT 0,  -- 0: recorded by the platform itself
	org_path TEXT NOT NULL,               -- organisation the record belongs to (materialised path)
	user_id BIGINT NOT NULL DEFAULT 0,    -- platform user, for records from inside
	body TEXT NOT NULL
);
CREATE INDEX lrs_statements_stored ON lrs_statements (stored, id);
CREATE INDEX lrs_statements_verb ON lrs_statements (verb, stored);
CREATE INDEX lrs_statements_activity ON lrs_statements (activity, stored);
CREATE INDEX lrs_statements_registration ON lrs_statements (registration, stored);
CREATE INDEX lrs_statements_org ON lrs_statements (org_path, stored);
CREATE INDEX lrs_statements_user ON lrs_statements (user_id, stored);
CREATE INDEX lrs_statements_ref ON lrs_statements (object_ref);

-- Agents a statement names: direct (actor, object agent or group, and their
-- members) or related (authority, instructor, team, context agents, and
-- those of a SubStatement).
CREATE TABLE lrs_statement_agents (
	statement_id TEXT NOT NULL REFERENCES lrs_statements(id),
	agent TEXT NOT NULL,
	direct BOOLEAN NOT NULL,
	PRIMARY KEY (agent, statement_id, direct)
);
CREATE INDEX lrs_statement_agents_statement ON lrs_statement_agents (statement_id);

-- Activities a statement names: direct (the object) or related (context
-- activities, a SubStatement's).
CREATE TABLE lrs_statement_activities (
	statement_id TEXT NOT NULL REFERENCES lrs_statements(id),
	activity TEXT NOT NULL,
	direct BOOLEAN NOT NULL,
	PRIMARY KEY (activity, statement_id, direct)
);
CREATE INDEX lrs_statement_activities_statement ON lrs_statement_activities (statement_id);

-- Attachment content, by its SHA-2 hash.
CREATE TABLE lrs_attachments (
	sha2 TEXT PRIMARY KEY,
	content_type TEXT NOT NULL,
	size BIGINT NOT NULL,
	data BYTEA NOT NULL,
	created_at BIGINT NOT NULL
);

-- Activities with their definition merged from the statements stored.
CREATE TABLE lrs_activities (
	id TEXT PRIMARY KEY,
	definition TEXT NOT NULL,
	updated BIGINT NOT NULL
);

-- Names and identifiers seen for an agent (the Person object).
CREATE TABLE lrs_agents (
	agent TEXT PRIMARY KEY,
	person TEXT NOT NULL,
	updated BIGINT NOT NULL
);

-- State, activity profile and agent profile documents. Absent keys are ''.
-- Documents belong to the organisation of the client that wrote them.
CREATE TABLE lrs_documents (
	kind TEXT NOT NULL,          -- state, activity_profile, agent_profile
	org_path TEXT NOT NULL,
	activity TEXT NOT NULL,
	agent TEXT NOT NULL,
	registration TEXT NOT NULL,
	doc_id TEXT NOT NULL,
	content_type TEXT NOT NULL,
	body BYTEA NOT NULL,
	etag TEXT NOT NULL,
	updated BIGINT NOT NULL,
	PRIMARY KEY (kind, org_path, activity, agent, registration, doc_id)
);

-- Credentials of outside tools (HTTP Basic key and secret).
CREATE TABLE lrs_clients (
	id @IDENTITY,
	name TEXT NOT NULL,
	key TEXT NOT NULL UNIQUE,
	secret_hash TEXT NOT NULL,   -- hex SHA-256 of the random secret
	scope TEXT NOT NULL,         -- read, write, all
	org_id BIGINT NOT NULL,
	org_path TEXT NOT NULL,
	created_by BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL DEFAULT 0,
	last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX lrs_clients_org ON lrs_clients (org_path);
