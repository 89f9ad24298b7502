-- What the learning API shows of a video, its tags and search index, views and positions.
ALTER TABLE videos ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- Tags joined by spaces (for search and display); video_tags holds them one per row for filtering.
ALTER TABLE videos ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE videos ADD COLUMN views INTEGER NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN progress REAL NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN error TEXT;
-- JSON array of {"height", "width", "bitrate", "peak_bitrate"} per video rendition.
ALTER TABLE videos ADD COLUMN renditions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE videos ADD COLUMN poster TEXT;

CREATE INDEX videos_listing ON videos (status, public, created_at);
CREATE INDEX videos_owner ON videos (owner, created_at);
CREATE INDEX videos_views ON videos (views);

CREATE TABLE video_tags (
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    tag      TEXT NOT NULL,
    PRIMARY KEY (video_id, tag)
);
CREATE INDEX video_tags_tag ON video_tags (tag);

-- One row per viewer, video and hour: a view counts at most once an hour.
CREATE TABLE video_views (
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    viewer   TEXT NOT NULL,
    hour     INTEGER NOT NULL,
    PRIMARY KEY (video_id, viewer, hour)
);

CREATE TABLE positions (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    video_id   TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    seconds    REAL NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, video_id)
);

-- Full-text search over title, description and tags, kept in step by triggers.
CREATE VIRTUAL TABLE videos_fts USING fts5 (
    title, description, tags, content = 'videos', content_rowid = 'rowid'
);
INSERT INTO videos_fts (rowid, title, description, tags)
    SELECT rowid, title, description, tags FROM videos;
CREATE TRIGGER videos_fts_insert AFTER INSERT ON videos BEGIN
    INSERT INTO videos_fts (rowid, title, description, tags)
    VALUES (new.rowid, new.title, new.description, new.tags);
END;
CREATE TRIGGER videos_fts_delete AFTER DELETE ON videos BEGIN
    INSERT INTO videos_fts (videos_fts, rowid, title, description, tags)
    VALUES ('delete', old.rowid, old.title, old.description, old.tags);
END;
CREATE TRIGGER videos_fts_update AFTER UPDATE OF title, description, tags ON videos BEGIN
    INSERT INTO videos_fts (videos_fts, rowid, title, description, tags)
    VALUES ('delete', old.rowid, old.title, old.description, old.tags);
    INSERT INTO videos_fts (rowid, title, description, tags)
    VALUES (new.rowid, new.title, new.description, new.tags);
END;
