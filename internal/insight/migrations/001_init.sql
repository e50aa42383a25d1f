-- Indicators are kept as small aggregate tables, updated as statements
-- arrive (lrs.statement.stored) and rebuilt by `jnedu insight recompute`.
-- Pages read only insight_agg (and, for a class's students, insight_members).

-- One row per counted statement: what it added (contrib, JSON), so a voided
-- statement or a recomputed range is taken back exactly, and a statement
-- delivered twice is counted once.
CREATE TABLE insight_facts (
	statement_id TEXT PRIMARY KEY,
	stored BIGINT NOT NULL,
	week BIGINT NOT NULL,             -- Monday 00:00 China Standard Time, Unix ms
	org_id BIGINT NOT NULL,
	contrib TEXT NOT NULL
);
CREATE INDEX insight_facts_stored ON insight_facts (stored);

-- Counts and sums per base measure × week × organisation × class ×
-- dimension (exam site, score band). class '*' rows hold an organisation's
-- whole subtree (kept for the statement's organisation and every ancestor,
-- so the city and a district are read from their own rows); other classes
-- are the statement's own organisation split by class ('' unknown).
-- Distinct counts (active people) are maintained here too, from
-- insight_members.
CREATE TABLE insight_agg (
	measure TEXT NOT NULL,
	week BIGINT NOT NULL,
	org_id BIGINT NOT NULL,
	org_path TEXT NOT NULL,
	class TEXT NOT NULL DEFAULT '',
	dim TEXT NOT NULL DEFAULT '',
	n BIGINT NOT NULL DEFAULT 0,
	total DOUBLE PRECISION NOT NULL DEFAULT 0,
	-- Led by the organisation: every read names one or a few.
	PRIMARY KEY (org_id, measure, week, class, dim)
);

-- Distinct members of a set per week (people active, videos watched,
-- lessons held): n counts the statements naming the member, so the member
-- leaves the set (and the distinct count in insight_agg drops) only when
-- its last statement is taken back.
CREATE TABLE insight_members (
	measure TEXT NOT NULL,
	week BIGINT NOT NULL,
	org_id BIGINT NOT NULL,
	org_path TEXT NOT NULL,
	class TEXT NOT NULL DEFAULT '',
	dim TEXT NOT NULL DEFAULT '',
	member TEXT NOT NULL,
	label TEXT NOT NULL DEFAULT '',
	n BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (org_id, class, measure, week, dim, member)
);

-- Watching time: video records carry the viewer's cumulative time on the
-- video; the increase over the last one seen is what a statement adds.
CREATE TABLE insight_watch (
	actor TEXT NOT NULL,
	activity TEXT NOT NULL,
	watched_ms BIGINT NOT NULL,
	PRIMARY KEY (actor, activity)
);

-- Students on the roster per organisation subtree: the denominators of the
-- share of students active, refreshed (from the roster) for the schools an
-- import touched and their ancestors.
CREATE TABLE insight_roster (
	org_id BIGINT PRIMARY KEY,
	students BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
