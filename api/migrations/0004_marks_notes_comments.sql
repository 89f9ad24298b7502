-- A learner's timeline marks, their annotations and notes (private to their author), and
-- comments under a video (public to whoever can see the video).
CREATE TABLE marks (
    id         TEXT PRIMARY KEY NOT NULL,
    video_id   TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    time       REAL NOT NULL,
    category   TEXT NOT NULL,
    content    TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX marks_by_owner ON marks (user_id, video_id, time);

CREATE TABLE annotations (
    id         TEXT PRIMARY KEY NOT NULL,
    mark_id    TEXT NOT NULL REFERENCES marks (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX annotations_by_mark ON annotations (mark_id, created_at);

CREATE TABLE notes (
    id         TEXT PRIMARY KEY NOT NULL,
    video_id   TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    time       REAL,
    content    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX notes_by_owner ON notes (user_id, video_id, time);

CREATE TABLE comments (
    id         TEXT PRIMARY KEY NOT NULL,
    video_id   TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX comments_by_video ON comments (video_id, created_at);
