-- Media: one row per distinct original (by SHA-256). Processing happens
-- once per media; every upload of the same bytes points here.
CREATE TABLE share_media (
	sha256 TEXT PRIMARY KEY,
	size BIGINT NOT NULL,
	state TEXT NOT NULL,            -- uploaded, probing, packaging, encoding, ready, failed
	state_reason TEXT NOT NULL DEFAULT '',
	playable BOOLEAN NOT NULL DEFAULT FALSE,
	progress INTEGER NOT NULL DEFAULT 0,
	duration_ms BIGINT NOT NULL DEFAULT 0,
	width INTEGER NOT NULL DEFAULT 0,
	height INTEGER NOT NULL DEFAULT 0,
	video_codec TEXT NOT NULL DEFAULT '',
	audio_codec TEXT NOT NULL DEFAULT '',
	original_kept BOOLEAN NOT NULL DEFAULT TRUE,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- Files produced for a media (playlists, init segments, segments, poster,
-- sprite), stored in the blob store and addressed by their relative path.
CREATE TABLE share_files (
	media_sha256 TEXT NOT NULL REFERENCES share_media(sha256),
	path TEXT NOT NULL,
	blob_key TEXT NOT NULL,
	size BIGINT NOT NULL,
	PRIMARY KEY (media_sha256, path)
);

-- Renditions ready for playback.
CREATE TABLE share_renditions (
	media_sha256 TEXT NOT NULL REFERENCES share_media(sha256),
	name TEXT NOT NULL,             -- e.g. "src", "720p"
	width INTEGER NOT NULL,
	height INTEGER NOT NULL,
	bandwidth BIGINT NOT NULL,
	codecs TEXT NOT NULL,
	frame_rate DOUBLE PRECISION NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (media_sha256, name)
);

-- A video is what people see and share: a title and its audience over a media.
CREATE TABLE share_videos (
	id @IDENTITY,
	media_sha256 TEXT NOT NULL REFERENCES share_media(sha256),
	owner_id BIGINT NOT NULL,
	org_id BIGINT NOT NULL,          -- the owner's school (or center) at upload
	org_path TEXT NOT NULL,          -- its materialised path, for "in my subtree" checks
	title TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	tags TEXT NOT NULL DEFAULT '',
	subject TEXT NOT NULL DEFAULT '',
	grade TEXT NOT NULL DEFAULT '',
	original_name TEXT NOT NULL DEFAULT '',
	visibility TEXT NOT NULL DEFAULT 'private', -- private, school, orgs, all, link
	allow_download BOOLEAN NOT NULL DEFAULT FALSE,
	link_token TEXT NOT NULL DEFAULT '',
	link_code_hash TEXT NOT NULL DEFAULT '',
	link_expires_at BIGINT NOT NULL DEFAULT 0,
	views BIGINT NOT NULL DEFAULT 0,
	taken_down_at BIGINT NOT NULL DEFAULT 0,
	taken_down_by BIGINT NOT NULL DEFAULT 0,
	taken_down_reason TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX share_videos_owner ON share_videos(owner_id, created_at);
CREATE INDEX share_videos_org ON share_videos(org_id, created_at);
CREATE INDEX share_videos_media ON share_videos(media_sha256);
CREATE INDEX share_videos_link ON share_videos(link_token);

-- The organisations a video is shared with when visibility = 'orgs'.
CREATE TABLE share_video_orgs (
	video_id BIGINT NOT NULL REFERENCES share_videos(id) ON DELETE CASCADE,
	org_id BIGINT NOT NULL,
	PRIMARY KEY (video_id, org_id)
);

-- Search terms: Chinese text has no spaces, so every character bigram (and
-- every whole Latin word) of the searchable fields is a term.
CREATE TABLE share_terms (
	term TEXT NOT NULL,
	video_id BIGINT NOT NULL REFERENCES share_videos(id) ON DELETE CASCADE,
	PRIMARY KEY (term, video_id)
);
CREATE INDEX share_terms_video ON share_terms(video_id);

-- Views: where each person is in each video (to resume), and what counts.
CREATE TABLE share_views (
	video_id BIGINT NOT NULL REFERENCES share_videos(id) ON DELETE CASCADE,
	user_id BIGINT NOT NULL,
	org_id BIGINT NOT NULL,
	position_ms BIGINT NOT NULL DEFAULT 0,
	watched_ms BIGINT NOT NULL DEFAULT 0,
	completed BOOLEAN NOT NULL DEFAULT FALSE,
	started_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (video_id, user_id)
);
CREATE INDEX share_views_org ON share_views(org_id);

-- Uploads in progress, for quotas counted before the bytes are sent.
CREATE TABLE share_uploads (
	id TEXT PRIMARY KEY,
	owner_id BIGINT NOT NULL,
	org_id BIGINT NOT NULL,
	size BIGINT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);
CREATE INDEX share_uploads_owner ON share_uploads(owner_id);
CREATE INDEX share_uploads_org ON share_uploads(org_id);
