-- Roster (学籍): the people, classes and enrolments of the schools, as the
-- schools' own systems export them. Every row carries the import source and
-- the source's stable id (sourcedId), so a second import of the same source
-- updates rows instead of adding new ones. Rows a source withdraws are kept
-- with status 'tobedeleted' (OneRoster's word) and hidden everywhere.

-- OneRoster organisations mapped to identity organisations (schools).
CREATE TABLE roster_orgs (
	source TEXT NOT NULL,
	sourced_id TEXT NOT NULL,
	org_id BIGINT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	kind TEXT NOT NULL DEFAULT '',
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (source, sourced_id)
);

-- Classes (班级): a school's class in one grade and school year (学年).
CREATE TABLE roster_classes (
	id @IDENTITY,
	source TEXT NOT NULL,
	sourced_id TEXT NOT NULL,
	org_id BIGINT NOT NULL,          -- the school (identity organisation of kind school)
	org_path TEXT NOT NULL,          -- its materialised path, for "in my subtree" checks
	name TEXT NOT NULL,
	grade TEXT NOT NULL DEFAULT '',  -- grade code (see codes.go), '' when unknown
	school_year TEXT NOT NULL DEFAULT '', -- e.g. 2025-2026
	class_type TEXT NOT NULL DEFAULT 'homeroom', -- homeroom (行政班) or scheduled (教学班)
	subject TEXT NOT NULL DEFAULT '', -- subject code of a scheduled class
	status TEXT NOT NULL DEFAULT 'active',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (source, sourced_id)
);
CREATE INDEX roster_classes_org ON roster_classes(org_id, school_year, grade);
CREATE INDEX roster_classes_path ON roster_classes(org_path);

-- People: students and teachers. The national ID number (身份证号) is kept
-- encrypted (id_enc), as a keyed hash for matching (id_hash) and masked
-- for display (id_masked); the plain number is never stored.
CREATE TABLE roster_people (
	id @IDENTITY,
	kind TEXT NOT NULL,              -- student or teacher
	source TEXT NOT NULL,
	sourced_id TEXT NOT NULL,
	org_id BIGINT NOT NULL,
	org_path TEXT NOT NULL,
	number TEXT NOT NULL DEFAULT '', -- 学籍号 (students) or 工号 (teachers)
	name TEXT NOT NULL,
	gender TEXT NOT NULL DEFAULT '', -- GB/T 2261.1 code
	birth_date TEXT NOT NULL DEFAULT '', -- YYYY-MM-DD
	ethnicity TEXT NOT NULL DEFAULT '', -- GB 3304 code
	grade TEXT NOT NULL DEFAULT '',  -- students: grade code
	id_enc TEXT NOT NULL DEFAULT '',
	id_hash TEXT NOT NULL DEFAULT '',
	id_masked TEXT NOT NULL DEFAULT '',
	user_id BIGINT NOT NULL DEFAULT 0, -- the identity user, when one matches
	status TEXT NOT NULL DEFAULT 'active',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (kind, source, sourced_id)
);
CREATE INDEX roster_people_org ON roster_people(org_id, kind, grade);
CREATE INDEX roster_people_path ON roster_people(org_path);
CREATE INDEX roster_people_user ON roster_people(user_id);
CREATE INDEX roster_people_id_hash ON roster_people(id_hash);

-- Enrolments: a student in a class, or a teacher teaching a subject in a
-- class (role head_teacher = 班主任, teacher = 任课教师).
CREATE TABLE roster_enrolments (
	id @IDENTITY,
	source TEXT NOT NULL,
	sourced_id TEXT NOT NULL,
	class_id BIGINT NOT NULL REFERENCES roster_classes(id),
	person_id BIGINT NOT NULL REFERENCES roster_people(id),
	role TEXT NOT NULL,              -- student, head_teacher, teacher
	subject TEXT NOT NULL DEFAULT '', -- subject code (teachers)
	status TEXT NOT NULL DEFAULT 'active',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (source, sourced_id)
);
CREATE INDEX roster_enrolments_class ON roster_enrolments(class_id, role);
CREATE INDEX roster_enrolments_person ON roster_enrolments(person_id);
