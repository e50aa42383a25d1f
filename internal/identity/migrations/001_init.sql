-- Organisations form a tree; path is the materialised path of ids
-- ("/1/4/17/") so a subtree is a prefix match.
CREATE TABLE identity_orgs (
	id @IDENTITY,
	parent_id BIGINT REFERENCES identity_orgs(id),
	kind TEXT NOT NULL,
	code TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	name_en TEXT NOT NULL DEFAULT '',
	path TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX identity_orgs_parent ON identity_orgs(parent_id);
CREATE INDEX identity_orgs_path ON identity_orgs(path);

CREATE TABLE identity_users (
	id @IDENTITY,
	org_id BIGINT NOT NULL REFERENCES identity_orgs(id),
	username TEXT NOT NULL UNIQUE,
	display_name TEXT NOT NULL,
	email TEXT NOT NULL DEFAULT '',
	phone TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL,
	must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
	demo BOOLEAN NOT NULL DEFAULT FALSE,
	locale TEXT NOT NULL DEFAULT 'zh-CN',
	disabled BOOLEAN NOT NULL DEFAULT FALSE,
	failed_logins INTEGER NOT NULL DEFAULT 0,
	locked_until BIGINT NOT NULL DEFAULT 0,
	password_changed_at BIGINT NOT NULL DEFAULT 0,
	last_login_at BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX identity_users_org ON identity_users(org_id);

-- A grant gives a role over an organisation's subtree.
CREATE TABLE identity_grants (
	id @IDENTITY,
	user_id BIGINT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
	role TEXT NOT NULL,
	org_id BIGINT NOT NULL REFERENCES identity_orgs(id),
	created_at BIGINT NOT NULL,
	UNIQUE (user_id, role, org_id)
);
CREATE INDEX identity_grants_org ON identity_grants(org_id);

-- Links to outside identity providers (the bureau's unified identity
-- service through OIDC): provider + subject → user.
CREATE TABLE identity_external_ids (
	provider TEXT NOT NULL,
	subject TEXT NOT NULL,
	user_id BIGINT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (provider, subject)
);

-- Sessions: the cookie holds a random secret; only its SHA-256 is stored.
CREATE TABLE identity_sessions (
	id_hash TEXT PRIMARY KEY,
	user_id BIGINT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
	csrf_token TEXT NOT NULL,
	ip TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	last_seen_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX identity_sessions_user ON identity_sessions(user_id);
CREATE INDEX identity_sessions_expires ON identity_sessions(expires_at);

-- API tokens for machines and scripts: "jn_<prefix>_<secret>"; only the
-- SHA-256 of the whole token is stored.
CREATE TABLE identity_tokens (
	id @IDENTITY,
	user_id BIGINT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	prefix TEXT NOT NULL UNIQUE,
	hash TEXT NOT NULL UNIQUE,
	scopes TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL DEFAULT 0,
	revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX identity_tokens_user ON identity_tokens(user_id);

-- The audit log is append-only: updates are refused, and a row may only be
-- deleted once it is older than 180 days (Cybersecurity Law art. 21).
CREATE TABLE identity_audit (
	id @IDENTITY,
	at BIGINT NOT NULL,
	actor_id BIGINT,
	actor_name TEXT NOT NULL DEFAULT '',
	org_id BIGINT,
	ip TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT '',
	result TEXT NOT NULL,
	request_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX identity_audit_at ON identity_audit(at);
CREATE INDEX identity_audit_actor ON identity_audit(actor_id, at);
CREATE INDEX identity_audit_action ON identity_audit(action, at);
