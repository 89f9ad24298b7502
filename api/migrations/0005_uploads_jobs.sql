-- Resumable uploads (tus 1.0.0) and the transcode jobs they become.
CREATE TABLE uploads (
    id         TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    length     INTEGER NOT NULL,
    -- Bytes durably on disk; the file may be longer after a crash (cut back before appending).
    offset     INTEGER NOT NULL DEFAULT 0,
    -- The Upload-Metadata header as the client sent it.
    metadata   TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- Set when the last byte arrived and the video was created.
    video_id   TEXT
);
CREATE INDEX uploads_expiry ON uploads (expires_at);

-- A job turns an uploaded file into a ready video. `running` jobs hold a lease; a server that
-- starts again takes back every running job (one server runs a data directory's jobs).
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY NOT NULL,
    video_id    TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    input       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX jobs_queue ON jobs (status, created_at);
