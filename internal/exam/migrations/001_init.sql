-- Papers are versioned JSON documents (paper.Paper). A code names a paper
-- family; each edit of a published version makes a new draft version.
CREATE TABLE exam_papers (
	id @IDENTITY,
	code TEXT NOT NULL,
	version INTEGER NOT NULL,
	state TEXT NOT NULL,            -- draft, published
	title TEXT NOT NULL,
	variant TEXT NOT NULL DEFAULT '',
	doc TEXT NOT NULL,
	problems INTEGER NOT NULL DEFAULT 0,
	created_by BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	published_at BIGINT NOT NULL DEFAULT 0,
	UNIQUE (code, version)
);

-- Files the exam subsystem put in the blob store (prompt audio and images,
-- candidate photos, sealed papers): only these are ever served.
CREATE TABLE exam_media (
	sha256 TEXT PRIMARY KEY,
	kind TEXT NOT NULL,             -- audio, image, photo, sealed
	mime TEXT NOT NULL,
	size BIGINT NOT NULL,
	duration_ms BIGINT NOT NULL DEFAULT 0,
	tts_text TEXT NOT NULL DEFAULT '', -- synthesized audio: the text (cache key)
	created_at BIGINT NOT NULL
);
CREATE INDEX exam_media_tts ON exam_media(tts_text);

CREATE TABLE exam_exams (
	id @IDENTITY,
	code TEXT NOT NULL UNIQUE,
	title TEXT NOT NULL,
	tolerance DOUBLE PRECISION NOT NULL DEFAULT 0,
	double_share DOUBLE PRECISION NOT NULL DEFAULT 1,
	org_id BIGINT NOT NULL,
	org_path TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE exam_sessions (
	id @IDENTITY,
	exam_id BIGINT NOT NULL REFERENCES exam_exams(id),
	code TEXT NOT NULL,
	title TEXT NOT NULL,
	starts_at BIGINT NOT NULL,
	ends_at BIGINT NOT NULL,
	UNIQUE (exam_id, code)
);

-- The paper variants a session uses (A, B, …, S for the spare).
CREATE TABLE exam_session_papers (
	session_id BIGINT NOT NULL REFERENCES exam_sessions(id),
	variant TEXT NOT NULL,
	paper_id BIGINT NOT NULL REFERENCES exam_papers(id),
	PRIMARY KEY (session_id, variant)
);

CREATE TABLE exam_rooms (
	id @IDENTITY,
	exam_id BIGINT NOT NULL REFERENCES exam_exams(id),
	site_code TEXT NOT NULL,
	site_org_id BIGINT NOT NULL,
	code TEXT NOT NULL,
	name TEXT NOT NULL,
	seats INTEGER NOT NULL,
	spare INTEGER NOT NULL DEFAULT 0,
	UNIQUE (exam_id, site_code, code)
);

-- Candidates. The ID-card number is kept encrypted (id_enc), with a keyed
-- hash for lookups (id_hash) and the masked form for every view.
CREATE TABLE exam_candidates (
	id @IDENTITY,
	exam_id BIGINT NOT NULL REFERENCES exam_exams(id),
	number TEXT NOT NULL,
	name TEXT NOT NULL,
	school TEXT NOT NULL,
	school_org_id BIGINT NOT NULL DEFAULT 0,
	id_enc TEXT NOT NULL,
	id_hash TEXT NOT NULL,
	id_masked TEXT NOT NULL,
	photo_name TEXT NOT NULL DEFAULT '',
	photo TEXT NOT NULL DEFAULT '',
	want_site TEXT NOT NULL DEFAULT '',
	want_session TEXT NOT NULL DEFAULT '',
	site_code TEXT NOT NULL DEFAULT '',
	session_code TEXT NOT NULL DEFAULT '',
	room_code TEXT NOT NULL DEFAULT '',
	seat INTEGER NOT NULL DEFAULT 0,
	variant TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	UNIQUE (exam_id, number)
);
CREATE INDEX exam_candidates_seat ON exam_candidates(exam_id, site_code, session_code, room_code);
CREATE INDEX exam_candidates_idhash ON exam_candidates(exam_id, id_hash);

-- One random key per session and site, kept encrypted; released_at is set
-- when the center releases it to the site.
CREATE TABLE exam_keys (
	session_id BIGINT NOT NULL REFERENCES exam_sessions(id),
	site_code TEXT NOT NULL,
	key_enc TEXT NOT NULL,
	key_check TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	released_at BIGINT NOT NULL DEFAULT 0,
	released_by BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (session_id, site_code)
);

-- Each paper variant sealed under its session × site key.
CREATE TABLE exam_sealed (
	session_id BIGINT NOT NULL REFERENCES exam_sessions(id),
	site_code TEXT NOT NULL,
	variant TEXT NOT NULL,
	paper_id BIGINT NOT NULL,
	blob TEXT NOT NULL,
	size BIGINT NOT NULL,
	PRIMARY KEY (session_id, site_code, variant)
);

-- Site nodes' signing keys. locked_at is set once an answer package was
-- received with the key: from then on it cannot be replaced.
CREATE TABLE exam_site_nodes (
	site_code TEXT PRIMARY KEY,
	public_key TEXT NOT NULL,
	key_id TEXT NOT NULL,
	registered_at BIGINT NOT NULL,
	registered_by BIGINT NOT NULL DEFAULT 0,
	locked_at BIGINT NOT NULL DEFAULT 0
);

-- What each site was last sent: the digest of its package content and the
-- revision number that goes with it.
CREATE TABLE exam_site_revisions (
	exam_id BIGINT NOT NULL REFERENCES exam_exams(id),
	site_code TEXT NOT NULL,
	digest TEXT NOT NULL,
	revision BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (exam_id, site_code)
);

-- Chief proctors (主考) among a site's exam staff.
CREATE TABLE exam_chiefs (
	site_code TEXT NOT NULL,
	user_id BIGINT NOT NULL,
	PRIMARY KEY (site_code, user_id)
);
