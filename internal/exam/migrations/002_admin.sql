-- What a site has done with a session: downloaded a package that lists it,
-- sent a signed answer package for it. Either makes deleting the session
-- unsafe; answers make re-keying it pointless.
CREATE TABLE exam_session_sites (
	session_id BIGINT NOT NULL REFERENCES exam_sessions(id),
	site_code TEXT NOT NULL,
	downloaded_at BIGINT NOT NULL DEFAULT 0,
	answers_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (session_id, site_code)
);

-- Re-keying a session at a site (a lost envelope, a leaked code) replaces
-- its key before release; rekeys counts how often.
ALTER TABLE exam_keys ADD COLUMN rekeys INTEGER NOT NULL DEFAULT 0;
ALTER TABLE exam_keys ADD COLUMN rekeyed_at BIGINT NOT NULL DEFAULT 0;

-- The key check of the key a paper was sealed with: a seal made with a
-- replaced key is made again. Until now every seal used the current key.
ALTER TABLE exam_sealed ADD COLUMN key_check TEXT NOT NULL DEFAULT '';
UPDATE exam_sealed SET key_check = COALESCE((SELECT k.key_check FROM exam_keys k
	WHERE k.session_id = exam_sealed.session_id AND k.site_code = exam_sealed.site_code), '');

-- When the site first downloaded a package of the exam.
ALTER TABLE exam_site_revisions ADD COLUMN downloaded_at BIGINT NOT NULL DEFAULT 0;
