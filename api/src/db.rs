//! The database: SQLite in WAL mode, migrations embedded at build time, video rows.
//!
//! WAL lets `lectern import` write while `lectern serve` reads the same file; a busy timeout
//! makes a writer wait for another instead of failing.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Opening or querying failed.
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    /// Migrating the schema failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A video as the origin and the commands see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoRow {
    /// Id, as in URLs.
    pub id: String,
    /// Title.
    pub title: String,
    /// `processing`, `ready` or `failed`.
    pub status: String,
    /// Object-store prefix of the ready presentation.
    pub prefix: Option<String>,
    /// Anyone may watch.
    pub public: bool,
}

/// A finished video to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVideo<'a> {
    /// Id.
    pub id: &'a str,
    /// Title.
    pub title: &'a str,
    /// Prefix of its finished presentation.
    pub prefix: &'a str,
    /// Public or private.
    pub public: bool,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Owner's user id, if any.
    pub owner: Option<&'a str>,
    /// JSON array of the video renditions (`[{"height","width","bitrate","peak_bitrate"}]`).
    pub renditions: &'a str,
    /// File name of the poster under `prefix`, if one was made.
    pub poster: Option<&'a str>,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Unix seconds now.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Database {
    /// Opens (creating if needed) the SQLite database at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Records a video whose presentation is complete: it becomes visible in this one step.
    pub async fn insert_ready_video(&self, video: &NewVideo<'_>) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO videos (id, title, status, prefix, public, duration_ms, owner, renditions,
             poster, progress, created_at)
             VALUES (?, ?, 'ready', ?, ?, ?, ?, ?, ?, 1, ?)",
        )
        .bind(video.id)
        .bind(video.title)
        .bind(video.prefix)
        .bind(video.public)
        .bind(i64::try_from(video.duration_ms).unwrap_or(i64::MAX))
        .bind(video.owner)
        .bind(video.renditions)
        .bind(video.poster)
        .bind(now_unix())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One video by id.
    pub async fn video(&self, id: &str) -> Result<Option<VideoRow>, DbError> {
        let row = sqlx::query("SELECT id, title, status, prefix, public FROM videos WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| VideoRow {
            id: r.get("id"),
            title: r.get("title"),
            status: r.get("status"),
            prefix: r.get("prefix"),
            public: r.get("public"),
        }))
    }

    /// The connection pool (for the API's modules, which keep their own SQL).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The id of the user called `username`.
    pub async fn user_id(&self, username: &str) -> Result<Option<String>, DbError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn insert_and_read_back_across_connections() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("lectern.db");
        let db = Database::open(&path).await.expect("open");
        let video = NewVideo {
            id: "abc",
            title: "Lecture 1",
            prefix: "media/abc/r1",
            public: true,
            duration_ms: 5000,
            owner: None,
            renditions: "[]",
            poster: None,
        };
        db.insert_ready_video(&video).await.expect("insert");
        assert!(
            db.insert_ready_video(&video).await.is_err(),
            "ids are unique"
        );
        // A second handle on the same file (another process in real use) sees it.
        let other = Database::open(&path).await.expect("reopen");
        let row = other.video("abc").await.expect("query").expect("row");
        assert_eq!(row.status, "ready");
        assert_eq!(row.prefix.as_deref(), Some("media/abc/r1"));
        assert!(row.public);
        assert_eq!(other.video("nope").await.expect("query"), None);
        assert!(other.ping().await);
    }
}
