-- The job queue: one row per job. A job is queued until a runner claims it
-- (state running, owner and lease_until set; attempts counts claims), then
-- done, failed (last_error says why) or cancelled. A running job whose lease
-- ran out (its worker died) is claimed again. Times are Unix milliseconds;
-- 0 means "never" for started_at, finished_at and lease_until.
CREATE TABLE jobs_queue (
	id @IDENTITY,
	kind TEXT NOT NULL,
	payload TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
	priority INTEGER NOT NULL DEFAULT 0,
	run_at BIGINT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	max_attempts INTEGER NOT NULL,
	unique_key TEXT,
	owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	progress INTEGER NOT NULL DEFAULT 0,
	progress_note TEXT NOT NULL DEFAULT '',
	last_error TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	started_at BIGINT NOT NULL DEFAULT 0,
	finished_at BIGINT NOT NULL DEFAULT 0
);
-- Claiming: the ready jobs of a kind, and the running jobs whose lease ran out.
CREATE INDEX jobs_queue_ready ON jobs_queue (kind, run_at) WHERE state = 'queued';
CREATE INDEX jobs_queue_leases ON jobs_queue (lease_until) WHERE state = 'running';
-- Pages: lists newest first, filtered by state and kind; counts per state.
CREATE INDEX jobs_queue_state_kind ON jobs_queue (state, kind, id);
-- Deduplication: one pending (queued or running) job per kind and unique key.
CREATE UNIQUE INDEX jobs_queue_unique ON jobs_queue (kind, unique_key)
	WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');
-- Pruning finished jobs after their retention.
CREATE INDEX jobs_queue_finished ON jobs_queue (finished_at) WHERE state IN ('done', 'failed', 'cancelled');
