-- Per-exam marking settings: how many spoken answers humans mark twice, the
-- default tolerance between two marks, and whether results are released.
CREATE TABLE exam_marking_settings (
	exam TEXT PRIMARY KEY,
	double_share DOUBLE PRECISION NOT NULL DEFAULT 1,  -- 0..1, share of spoken answers marked twice
	tolerance DOUBLE PRECISION NOT NULL DEFAULT 1,     -- default when the rubric sets none
	released_at BIGINT NOT NULL DEFAULT 0,
	released_by BIGINT NOT NULL DEFAULT 0,
	updated_at BIGINT NOT NULL
);

-- Marking leaders (阅卷组长) of an exam.
CREATE TABLE exam_marking_leaders (
	exam TEXT NOT NULL,
	user_id BIGINT NOT NULL,
	added_by BIGINT NOT NULL,
	added_at BIGINT NOT NULL,
	PRIMARY KEY (exam, user_id)
);

-- Recordings received from a site for a session (the bytes are in the blob store).
CREATE TABLE exam_marking_files (
	site TEXT NOT NULL,
	session TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	size BIGINT NOT NULL,
	received_at BIGINT NOT NULL,
	PRIMARY KEY (site, session, sha256)
);

-- One signed answer manifest per exam, site and session.
CREATE TABLE exam_marking_packages (
	exam TEXT NOT NULL,
	site TEXT NOT NULL,
	session TEXT NOT NULL,
	manifest_sha256 TEXT NOT NULL,
	manifest TEXT NOT NULL,          -- the signed document as received
	key_id TEXT NOT NULL,
	received_at BIGINT NOT NULL,
	complete BOOLEAN NOT NULL DEFAULT FALSE,
	completed_at BIGINT NOT NULL DEFAULT 0,
	reopened BOOLEAN NOT NULL DEFAULT FALSE,
	expected INTEGER NOT NULL DEFAULT 0,   -- candidates on the session roster at this site
	PRIMARY KEY (exam, site, session)
);

-- A candidate's sitting as the site reported it, with what marking needs
-- to know about them (a snapshot from the center's catalogue).
CREATE TABLE exam_marking_candidates (
	exam TEXT NOT NULL,
	number TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	school TEXT NOT NULL DEFAULT '',
	school_org_id BIGINT NOT NULL DEFAULT 0,
	site TEXT NOT NULL,
	session TEXT NOT NULL,
	room TEXT NOT NULL DEFAULT '',
	seat INTEGER NOT NULL DEFAULT 0,
	variant TEXT NOT NULL,
	paper_code TEXT NOT NULL DEFAULT '',
	paper_points DOUBLE PRECISION NOT NULL DEFAULT 0,
	status TEXT NOT NULL,             -- finished, absent, abnormal, partial
	reason TEXT NOT NULL DEFAULT '',
	moves INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (exam, number)
);
CREATE INDEX exam_marking_candidates_site ON exam_marking_candidates (exam, site, session);
CREATE INDEX exam_marking_candidates_school ON exam_marking_candidates (exam, school_org_id);

-- One answer: candidate × item. stage: waiting (files missing), machine
-- (waiting for the machine score), human (in marking), leader (needs the
-- leader), final.
CREATE TABLE exam_marking_answers (
	id @IDENTITY,
	exam TEXT NOT NULL,
	number TEXT NOT NULL,
	site TEXT NOT NULL,
	session TEXT NOT NULL,
	variant TEXT NOT NULL,
	paper_code TEXT NOT NULL,
	item TEXT NOT NULL,
	item_type TEXT NOT NULL,
	seq INTEGER NOT NULL,             -- position of the item in the paper
	max_points DOUBLE PRECISION NOT NULL,
	tolerance DOUBLE PRECISION NOT NULL,
	choice INTEGER,                   -- objective items
	recording TEXT NOT NULL DEFAULT '',
	bytes BIGINT NOT NULL DEFAULT 0,
	duration_ms BIGINT NOT NULL DEFAULT 0,
	speech_ms BIGINT NOT NULL DEFAULT 0,
	silent BOOLEAN NOT NULL DEFAULT FALSE,
	stage TEXT NOT NULL,
	marks_needed INTEGER NOT NULL DEFAULT 0,
	machine_score DOUBLE PRECISION,
	machine_flags TEXT NOT NULL DEFAULT '',
	machine_details TEXT NOT NULL DEFAULT '',
	machine_at BIGINT NOT NULL DEFAULT 0,
	leader_reason TEXT NOT NULL DEFAULT '',  -- why it went to the leader (apart, problem)
	final_score DOUBLE PRECISION,
	final_rule TEXT NOT NULL DEFAULT '',
	final_by BIGINT NOT NULL DEFAULT 0,
	finalized_at BIGINT NOT NULL DEFAULT 0,
	published_score DOUBLE PRECISION,        -- the final score last published as a learning record
	created_at BIGINT NOT NULL,
	UNIQUE (exam, number, item)
);
CREATE INDEX exam_marking_answers_stage ON exam_marking_answers (exam, stage, id);
CREATE INDEX exam_marking_answers_package ON exam_marking_answers (exam, site, session);

-- Human marks. A row is a task handed to one examiner: leased until
-- lease_until, then done (score) or problem. round 1 and 2 are the double
-- marks, 3 the third mark, 4 a calibration re-mark. The unique keys make
-- sure two examiners never hold the same task and one examiner never marks
-- an answer twice.
CREATE TABLE exam_marking_marks (
	id @IDENTITY,
	task TEXT NOT NULL UNIQUE,        -- opaque id shown to the examiner
	answer_id BIGINT NOT NULL REFERENCES exam_marking_answers(id),
	exam TEXT NOT NULL,
	round INTEGER NOT NULL,
	examiner_id BIGINT NOT NULL,
	state TEXT NOT NULL,              -- leased, done, problem
	lease_until BIGINT NOT NULL,
	score DOUBLE PRECISION,
	problem TEXT NOT NULL DEFAULT '',
	started_at BIGINT NOT NULL,
	submitted_at BIGINT NOT NULL DEFAULT 0,
	UNIQUE (answer_id, round),
	UNIQUE (answer_id, examiner_id)
);
CREATE INDEX exam_marking_marks_examiner ON exam_marking_marks (exam, examiner_id, state);

-- Every change of a final score after it was first set (leader decisions
-- in review, re-opened packages): who, why, from what to what.
CREATE TABLE exam_marking_score_changes (
	id @IDENTITY,
	answer_id BIGINT NOT NULL REFERENCES exam_marking_answers(id),
	old_score DOUBLE PRECISION,
	new_score DOUBLE PRECISION NOT NULL,
	by_user BIGINT NOT NULL,
	reason TEXT NOT NULL,
	review_id BIGINT NOT NULL DEFAULT 0,
	at BIGINT NOT NULL
);

-- Score review requests (复核): requested → accepted → remarked → answered
-- (or rejected).
CREATE TABLE exam_marking_reviews (
	id @IDENTITY,
	exam TEXT NOT NULL,
	number TEXT NOT NULL,
	reason TEXT NOT NULL,
	state TEXT NOT NULL,
	requested_by BIGINT NOT NULL DEFAULT 0,  -- 0: the candidate through the public page
	requested_at BIGINT NOT NULL,
	accepted_by BIGINT NOT NULL DEFAULT 0,
	accepted_at BIGINT NOT NULL DEFAULT 0,
	remarked_by BIGINT NOT NULL DEFAULT 0,
	remarked_at BIGINT NOT NULL DEFAULT 0,
	answer TEXT NOT NULL DEFAULT '',
	answered_by BIGINT NOT NULL DEFAULT 0,
	answered_at BIGINT NOT NULL DEFAULT 0,
	old_total DOUBLE PRECISION,
	new_total DOUBLE PRECISION
);
CREATE INDEX exam_marking_reviews_exam ON exam_marking_reviews (exam, state);
