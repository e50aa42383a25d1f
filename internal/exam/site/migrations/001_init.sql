-- The site node's own database (subsystem "examsite"). Recorded audio is
-- not here: it lands in the chunk log (data folder, chunks/) and, once an
-- item closes, in a WAV file (answers/) whose hash and measures are here.

-- Settings of this node: center URL, site code, package revision.
CREATE TABLE examsite_meta (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- The site package documents this node has accepted; the newest revision
-- is in force.
CREATE TABLE examsite_packages (
	revision BIGINT PRIMARY KEY,
	doc TEXT NOT NULL,
	loaded_at BIGINT NOT NULL
);

-- Session keys once released by the center or typed from the sealed code.
CREATE TABLE examsite_keys (
	session TEXT PRIMARY KEY,
	key_b64 TEXT NOT NULL,
	source TEXT NOT NULL,           -- center, typed
	at BIGINT NOT NULL
);

-- Room state: waiting, running, paused, ended.
CREATE TABLE examsite_rooms (
	session TEXT NOT NULL,
	room TEXT NOT NULL,
	state TEXT NOT NULL,
	changed_at BIGINT NOT NULL,
	PRIMARY KEY (session, room)
);

-- One attempt per candidate and session.
CREATE TABLE examsite_attempts (
	id TEXT PRIMARY KEY,
	session TEXT NOT NULL,
	number TEXT NOT NULL,
	token_hash TEXT NOT NULL,
	device TEXT NOT NULL,           -- the browser instance that holds the attempt
	room TEXT NOT NULL,
	seat INTEGER NOT NULL,
	state TEXT NOT NULL,            -- signed_in, confirmed, ready, running, finished, absent, abnormal
	reason TEXT NOT NULL DEFAULT '',
	device_ok BOOLEAN NOT NULL DEFAULT FALSE,
	move_pending BOOLEAN NOT NULL DEFAULT FALSE,
	pos INTEGER NOT NULL DEFAULT 0, -- index of the current item in paper order
	phase TEXT NOT NULL DEFAULT '', -- prompt, prep, answer
	remaining_ms BIGINT NOT NULL DEFAULT 0,
	last_seen BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	finished_at BIGINT NOT NULL DEFAULT 0,
	UNIQUE (session, number)
);

-- Candidates marked absent or abnormal before signing in (no attempt).
CREATE TABLE examsite_marks (
	session TEXT NOT NULL,
	number TEXT NOT NULL,
	state TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	at BIGINT NOT NULL,
	PRIMARY KEY (session, number)
);

CREATE TABLE examsite_moves (
	attempt TEXT NOT NULL REFERENCES examsite_attempts(id),
	at BIGINT NOT NULL,
	from_seat INTEGER NOT NULL,
	to_seat INTEGER NOT NULL,
	item TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX examsite_moves_attempt ON examsite_moves(attempt);

-- Items of an attempt: opened, closed, and for spoken items the final
-- chunk count the client reported.
CREATE TABLE examsite_items (
	attempt TEXT NOT NULL REFERENCES examsite_attempts(id),
	item TEXT NOT NULL,
	state TEXT NOT NULL,            -- open, closed
	choice INTEGER,                 -- objective items
	chunks INTEGER NOT NULL DEFAULT -1, -- final count (-1: not known yet)
	closed_by TEXT NOT NULL DEFAULT '',
	opened_at BIGINT NOT NULL,
	closed_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (attempt, item)
);

-- Assembled recordings.
CREATE TABLE examsite_recordings (
	attempt TEXT NOT NULL REFERENCES examsite_attempts(id),
	item TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	bytes BIGINT NOT NULL,
	duration_ms BIGINT NOT NULL,
	speech_ms BIGINT NOT NULL,
	silent BOOLEAN NOT NULL,
	chunks INTEGER NOT NULL,
	gaps TEXT NOT NULL DEFAULT '',  -- missing sequence numbers, "3,7-9"
	created_at BIGINT NOT NULL,
	PRIMARY KEY (attempt, item)
);

-- Proctor sign-ins to the console.
CREATE TABLE examsite_staff_sessions (
	token_hash TEXT PRIMARY KEY,
	username TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);

-- Answer packages: built when a session ends, sent until the center says
-- complete.
CREATE TABLE examsite_uploads (
	session TEXT PRIMARY KEY,
	signed TEXT NOT NULL,           -- the bundle.Signed document
	state TEXT NOT NULL,            -- sending, complete
	tries INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	next_at BIGINT NOT NULL DEFAULT 0,
	updated_at BIGINT NOT NULL
);

-- Sessions the chief ended.
CREATE TABLE examsite_sessions_ended (
	session TEXT PRIMARY KEY,
	at BIGINT NOT NULL,
	by_user TEXT NOT NULL
);
