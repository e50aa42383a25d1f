-- Collections (合集): an ordered list of videos that a teacher or a school
-- admin puts together for their school. A collection shows each viewer only
-- the videos that viewer may watch.
CREATE TABLE share_collections (
	id @IDENTITY,
	owner_id BIGINT NOT NULL,
	org_id BIGINT NOT NULL,          -- the school (or center) it belongs to
	org_path TEXT NOT NULL,          -- its materialised path, for "in my subtree" checks
	title TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX share_collections_org ON share_collections(org_id, created_at);
CREATE INDEX share_collections_owner ON share_collections(owner_id);

CREATE TABLE share_collection_videos (
	collection_id BIGINT NOT NULL REFERENCES share_collections(id) ON DELETE CASCADE,
	video_id BIGINT NOT NULL REFERENCES share_videos(id) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	added_by BIGINT NOT NULL,
	added_at BIGINT NOT NULL,
	PRIMARY KEY (collection_id, video_id)
);
CREATE INDEX share_collection_videos_video ON share_collection_videos(video_id);
