//! View counting: at most once per viewer per video per hour, without a database write on the
//! request path. A view is recorded in memory and shown at once; a background task writes the
//! pending views every second in one transaction (`video_views` keeps the once-an-hour rule
//! across restarts). A crash loses at most that second of views.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use crate::now_unix;
use crate::state::AppState;

/// How often pending views are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Views seen and not yet written.
pub struct ViewCounter {
    /// (video, viewer, hour) already counted by this process.
    seen: moka::sync::Cache<(String, String, i64), ()>,
    /// Pending views by video: (viewer, hour).
    pending: Mutex<HashMap<String, Vec<(String, i64)>>>,
    /// Views being written right now (still shown until the rows are re-read).
    flushing: Mutex<HashMap<String, Vec<(String, i64)>>>,
}

impl std::fmt::Debug for ViewCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewCounter")
    }
}

impl Default for ViewCounter {
    fn default() -> Self {
        Self {
            seen: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            pending: Mutex::default(),
            flushing: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ViewCounter {
    /// Counts a view of `video_id` by `viewer` unless it was counted this hour; true if counted.
    pub fn count(&self, video_id: &str, viewer: String) -> bool {
        let hour = now_unix() / 3600;
        let key = (video_id.to_string(), viewer, hour);
        if self.seen.contains_key(&key) {
            return false;
        }
        self.seen.insert(key.clone(), ());
        lock(&self.pending)
            .entry(key.0)
            .or_default()
            .push((key.1, hour));
        true
    }

    /// Views of `video_id` counted here but not yet in its row.
    pub fn unwritten(&self, video_id: &str) -> i64 {
        let n = |m: &Mutex<HashMap<String, Vec<(String, i64)>>>| {
            lock(m).get(video_id).map_or(0, |v| v.len() as i64)
        };
        n(&self.pending) + n(&self.flushing)
    }

    /// Writes pending views; returns how many rows of `videos` changed.
    pub async fn flush(&self, state: &AppState) -> Result<usize, sqlx::Error> {
        let batch = std::mem::take(&mut *lock(&self.pending));
        if batch.is_empty() {
            return Ok(0);
        }
        lock(&self.flushing).clone_from(&batch);
        let mut written: Vec<(String, i64)> = Vec::new();
        let result = async {
            let mut tx = state.db.pool().begin().await?;
            for (video_id, viewers) in &batch {
                let mut inserted = 0i64;
                for (viewer, hour) in viewers {
                    inserted += sqlx::query(
                        "INSERT OR IGNORE INTO video_views (video_id, viewer, hour)
                         SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM videos WHERE id = ?)",
                    )
                    .bind(video_id)
                    .bind(viewer)
                    .bind(hour)
                    .bind(video_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() as i64;
                }
                if inserted > 0 {
                    sqlx::query("UPDATE videos SET views = views + ? WHERE id = ?")
                        .bind(inserted)
                        .bind(video_id)
                        .execute(&mut *tx)
                        .await?;
                }
                written.push((video_id.clone(), inserted));
            }
            sqlx::query("DELETE FROM video_views WHERE hour < ?")
                .bind(now_unix() / 3600 - 1)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }
        .await;
        if result.is_err() {
            // Put them back for the next try.
            let mut pending = lock(&self.pending);
            for (video, viewers) in batch.iter() {
                pending
                    .entry(video.clone())
                    .or_default()
                    .extend(viewers.iter().cloned());
            }
        } else {
            for (video, views) in &written {
                state.videos.add_views(video, *views).await;
            }
        }
        lock(&self.flushing).clear();
        result.map(|()| batch.len())
    }
}

/// Writes pending views every second until `shutdown`, then once more.
pub async fn run_flusher(state: AppState, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = tokio::time::sleep(FLUSH_EVERY) => {}
            () = &mut shutdown => break,
        }
        if let Err(e) = state.views.flush(&state).await {
            tracing::warn!(error = %e, "cannot write views; will retry");
        }
    }
    if let Err(e) = state.views.flush(&state).await {
        tracing::warn!(error = %e, "views lost at shutdown");
    }
}
