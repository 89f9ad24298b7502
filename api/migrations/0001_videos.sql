-- The minimal videos table the origin needs; the API issue extends it.
CREATE TABLE videos (
    id          TEXT PRIMARY KEY NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    owner       TEXT,
    status      TEXT NOT NULL CHECK (status IN ('processing', 'ready', 'failed')),
    -- Object-store prefix of the finished presentation, e.g. media/{id}/{rev}; NULL until ready.
    prefix      TEXT,
    public      INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER,
    created_at  INTEGER NOT NULL
);
