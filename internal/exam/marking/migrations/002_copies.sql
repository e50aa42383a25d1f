-- Possible copies (疑似雷同): two candidates' spoken answers whose
-- recordings are byte-identical (same SHA-256) or nearly the same audio
-- (the speech scorer's fingerprints).
--
-- On each answer: ref, an opaque reference shown instead of who answered;
-- copy_group, the exam-wide key of its prompt (answers with the same
-- copy_group are compared); fingerprint, the scorer's fingerprint of the
-- recording once the machine result is back.
ALTER TABLE exam_marking_answers ADD COLUMN ref TEXT NOT NULL DEFAULT '';
ALTER TABLE exam_marking_answers ADD COLUMN copy_group TEXT NOT NULL DEFAULT '';
ALTER TABLE exam_marking_answers ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
CREATE INDEX exam_marking_answers_recording ON exam_marking_answers (exam, recording);
CREATE INDEX exam_marking_answers_copy_group ON exam_marking_answers (exam, copy_group);

-- One pair of answers found alike (answer_a < answer_b). method: sha256
-- (identical bytes, similarity 1) or fingerprint. state: open, confirmed,
-- dismissed (by the exam's marking leader).
CREATE TABLE exam_marking_copies (
	id @IDENTITY,
	exam TEXT NOT NULL,
	answer_a BIGINT NOT NULL REFERENCES exam_marking_answers(id),
	answer_b BIGINT NOT NULL REFERENCES exam_marking_answers(id),
	method TEXT NOT NULL,
	similarity DOUBLE PRECISION NOT NULL,
	state TEXT NOT NULL DEFAULT 'open',
	found_at BIGINT NOT NULL,
	decided_by BIGINT NOT NULL DEFAULT 0,
	decided_at BIGINT NOT NULL DEFAULT 0,
	note TEXT NOT NULL DEFAULT '',
	UNIQUE (answer_a, answer_b)
);
CREATE INDEX exam_marking_copies_exam ON exam_marking_copies (exam, state, id);
CREATE INDEX exam_marking_copies_b ON exam_marking_copies (answer_b);
