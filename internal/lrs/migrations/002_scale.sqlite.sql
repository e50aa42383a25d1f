-- The agent and activity index tables carry the stored time of their
-- statement, so a query by agent (or related activity) walks one index in
-- stored order instead of probing every statement since a time.
ALTER TABLE lrs_statement_agents ADD COLUMN stored BIGINT NOT NULL DEFAULT 0;
UPDATE lrs_statement_agents SET stored = (SELECT s.stored FROM lrs_statements s WHERE s.id = statement_id);
CREATE INDEX lrs_statement_agents_time ON lrs_statement_agents (agent, stored, statement_id, direct);

ALTER TABLE lrs_statement_activities ADD COLUMN stored BIGINT NOT NULL DEFAULT 0;
UPDATE lrs_statement_activities SET stored = (SELECT s.stored FROM lrs_statements s WHERE s.id = statement_id);
CREATE INDEX lrs_statement_activities_time ON lrs_statement_activities (activity, stored, statement_id, direct);

-- Statements that refer to another (voiding and other StatementRefs): few,
-- so a small index finds them for the StatementRef half of a query.
CREATE INDEX lrs_statements_refs ON lrs_statements (stored, id) WHERE object_ref <> '';

-- Writes in progress: the stored time each one will give its statements,
-- registered (and committed) before the write begins and removed after.
-- The consistent-through time of a query is just before the oldest of them.
CREATE TABLE lrs_inflight (
	token TEXT PRIMARY KEY,
	stored BIGINT NOT NULL,
	expires BIGINT NOT NULL
);
