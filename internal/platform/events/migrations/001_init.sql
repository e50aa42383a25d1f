-- The outbox: PublishTx inserts a row in the caller's transaction; the relay
-- later gives it a position (pos, NULL until then) in the global order and
-- delivers it to the durable subscribers in that order.
CREATE TABLE events_outbox (
	seq @IDENTITY,
	id TEXT NOT NULL UNIQUE,
	topic TEXT NOT NULL,
	payload TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	pos BIGINT UNIQUE
);
CREATE INDEX events_outbox_pending ON events_outbox (seq) WHERE pos IS NULL;
CREATE INDEX events_outbox_topic_pos ON events_outbox (topic, pos);

-- The sequencer: a single row holding the last position handed out. The
-- relay locks it while it orders newly committed outbox rows, so positions
-- are gap-free and only ever assigned to committed rows.
CREATE TABLE events_sequence (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	last_pos BIGINT NOT NULL
);
INSERT INTO events_sequence (id, last_pos) VALUES (1, 0);

-- One row per durable subscriber: how far it got (every outbox row with
-- pos <= position has been handled), who delivers to it now (a lease, so two
-- processes never deliver to the same subscriber at once), and the failures
-- of the event it is stuck on.
CREATE TABLE events_subscribers (
	name TEXT PRIMARY KEY,
	position BIGINT NOT NULL,
	owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- Events a subscriber gave up on (undecodable payload, a permanent error,
-- too many attempts), kept with their payload for a person to look at.
CREATE TABLE events_parked (
	subscriber TEXT NOT NULL,
	event_id TEXT NOT NULL,
	pos BIGINT NOT NULL,
	topic TEXT NOT NULL,
	payload TEXT NOT NULL,
	occurred_at BIGINT NOT NULL,
	parked_at BIGINT NOT NULL,
	reason TEXT NOT NULL,
	PRIMARY KEY (subscriber, event_id)
);
CREATE INDEX events_parked_at ON events_parked (parked_at);
