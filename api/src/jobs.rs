//! Transcode jobs: a queue in the database with leases, the worker loop that runs them one at
//! a time, progress for `GET /videos/{id}` and the server-sent events of
//! `GET /videos/{id}/events`.
//!
//! A job's video is `processing` until the transcoder has written the whole presentation under
//! a fresh prefix; then, in one transaction, the video becomes `ready` with that prefix. A
//! server killed mid-transcode leaves the job `running`: the next start puts it back in the
//! queue (and the half-written prefix is never referenced). Three failed attempts make the
//! video `failed`, with the reason.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::response::sse::{Event, Sse};
use futures_util::Stream;
use sqlx::Row;
use tokio::sync::{Notify, broadcast};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::MaybeCaller;
use crate::state::AppState;
use crate::videos::visible;
use crate::{Database, new_id, now_unix};

/// How long a running job's lease lasts; the worker renews it while it runs.
pub const LEASE: Duration = Duration::from_secs(60);
/// Attempts before a video is marked failed.
pub const MAX_ATTEMPTS: i64 = 3;

/// What a finished transcode produced.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Store prefix of the complete presentation.
    pub prefix: String,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// JSON array of the video renditions.
    pub renditions: String,
    /// File name of the poster under `prefix`, if one was made.
    pub poster: Option<String>,
}

/// Progress callback: a fraction from 0 to 1.
pub type ProgressFn = Arc<dyn Fn(f64) + Send + Sync>;

/// Turns an uploaded file into a presentation; implemented by the binary.
pub trait Transcoder: Send + Sync {
    /// Transcodes and packages `input` for `video_id`. On failure nothing it wrote remains.
    fn run<'a>(
        &'a self,
        input: &'a Path,
        video_id: &'a str,
        progress: ProgressFn,
    ) -> Pin<Box<dyn Future<Output = Result<Finished, String>> + Send + 'a>>;
}

/// A change of a video's processing state.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct VideoEvent {
    /// The video.
    pub video_id: String,
    /// `processing`, `ready` or `failed`.
    pub status: String,
    /// 0–1.
    pub progress: f64,
    /// Why it failed.
    pub error: Option<String>,
}

/// Handles the API keeps on the queue: wake the worker, follow progress.
#[derive(Clone, Debug)]
pub struct JobHandles {
    wake: Arc<Notify>,
    events: broadcast::Sender<VideoEvent>,
    /// Latest progress of running jobs (the database is updated more slowly).
    live: Arc<Mutex<HashMap<String, f64>>>,
}

impl Default for JobHandles {
    fn default() -> Self {
        Self {
            wake: Arc::new(Notify::new()),
            events: broadcast::channel(1024).0,
            live: Arc::default(),
        }
    }
}

impl JobHandles {
    /// Tells the worker a job is waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The latest progress of a running job, if it is running here.
    pub fn live_progress(&self, video_id: &str) -> Option<f64> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(video_id)
            .copied()
    }

    fn publish(&self, event: VideoEvent) {
        let _ = self.events.send(event);
    }
}

/// Queues a job for `video_id` (inside the caller's transaction).
pub async fn enqueue(
    tx: &mut sqlx::SqliteConnection,
    video_id: &str,
    input: &Path,
) -> Result<(), sqlx::Error> {
    let now = now_unix();
    sqlx::query(
        "INSERT INTO jobs (id, video_id, input, status, created_at, updated_at)
         VALUES (?, ?, ?, 'queued', ?, ?)",
    )
    .bind(new_id().map_err(|e| sqlx::Error::Protocol(e.to_string()))?)
    .bind(video_id)
    .bind(input.to_string_lossy().as_ref())
    .bind(now)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

struct Claimed {
    id: String,
    video_id: String,
    input: PathBuf,
    attempts: i64,
}

async fn claim(db: &Database) -> Result<Option<Claimed>, sqlx::Error> {
    let now = now_unix();
    let row = sqlx::query(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = ?,
         updated_at = ? WHERE id = (SELECT id FROM jobs WHERE status = 'queued'
           OR (status = 'running' AND lease_until < ?) ORDER BY created_at LIMIT 1)
         RETURNING id, video_id, input, attempts",
    )
    .bind(now + LEASE.as_secs() as i64)
    .bind(now)
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| Claimed {
        id: r.get("id"),
        video_id: r.get("video_id"),
        input: PathBuf::from(r.get::<String, _>("input")),
        attempts: r.get("attempts"),
    }))
}

/// Puts every `running` job back in the queue: called once at start, when nothing can be
/// running (one server runs a data directory's jobs).
pub async fn requeue_interrupted(db: &Database) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE jobs SET status = 'queued', lease_until = 0 WHERE status = 'running'")
            .execute(db.pool())
            .await?
            .rows_affected(),
    )
}

/// Runs queued jobs one at a time until `shutdown` resolves. A job interrupted by shutdown
/// stays `running` and is taken back at the next start.
pub async fn run_worker(
    state: AppState,
    transcoder: Arc<dyn Transcoder>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    match requeue_interrupted(&state.db).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!("{n} interrupted job(s) queued again"),
        Err(e) => tracing::error!(error = %e, "cannot requeue interrupted jobs"),
    }
    loop {
        let job = match claim(&state.db).await {
            Ok(job) => job,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim a job");
                None
            }
        };
        let Some(job) = job else {
            tokio::select! {
                () = state.jobs.wake.notified() => continue,
                () = tokio::time::sleep(Duration::from_secs(5)) => {
                    crate::uploads::remove_expired(&state).await;
                    continue;
                }
                () = &mut shutdown => return,
            }
        };
        tokio::select! {
            () = run_one(&state, transcoder.as_ref(), &job) => {}
            () = &mut shutdown => return,
        }
    }
}

async fn run_one(state: &AppState, transcoder: &dyn Transcoder, job: &Claimed) {
    tracing::info!(video = %job.video_id, attempt = job.attempts, "transcoding");
    let handles = state.jobs.clone();
    let video_id = job.video_id.clone();
    let db = state.db.clone();
    let last_write = Arc::new(Mutex::new(std::time::Instant::now()));
    let last_published: Arc<Mutex<Option<f64>>> = Arc::default();
    let progress: ProgressFn = Arc::new(move |fraction: f64| {
        let fraction = fraction.clamp(0.0, 0.999);
        // Reports come from every track, each at its own media time: keep the furthest, so
        // progress only grows.
        {
            let mut live = handles.live.lock().unwrap_or_else(|p| p.into_inner());
            if live.get(&video_id).is_some_and(|p| fraction <= *p) {
                return;
            }
            live.insert(video_id.clone(), fraction);
        }
        let mut published = last_published.lock().unwrap_or_else(|p| p.into_inner());
        if published.is_none_or(|p| fraction - p >= 0.01) {
            *published = Some(fraction);
            handles.publish(VideoEvent {
                video_id: video_id.clone(),
                status: "processing".into(),
                progress: fraction,
                error: None,
            });
        }
        let mut last = last_write.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() >= Duration::from_secs(1) {
            *last = std::time::Instant::now();
            let (db, id) = (db.clone(), video_id.clone());
            tokio::spawn(async move {
                let _ = sqlx::query(
                    "UPDATE videos SET progress = ? WHERE id = ? AND status = 'processing'",
                )
                .bind(fraction)
                .bind(id)
                .execute(db.pool())
                .await;
            });
        }
    });
    let heartbeat = async {
        loop {
            tokio::time::sleep(LEASE / 4).await;
            let _ = sqlx::query("UPDATE jobs SET lease_until = ? WHERE id = ?")
                .bind(now_unix() + LEASE.as_secs() as i64)
                .bind(&job.id)
                .execute(state.db.pool())
                .await;
        }
    };
    let result = tokio::select! {
        result = transcoder.run(&job.input, &job.video_id, progress) => result,
        () = heartbeat => unreachable!("the heartbeat never ends"),
    };
    state
        .jobs
        .live
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&job.video_id);
    let outcome = match result {
        Ok(finished) => finish(state, job, &finished).await,
        Err(why) => fail(state, job, &why).await,
    };
    if let Err(e) = outcome {
        tracing::error!(video = %job.video_id, error = %e, "cannot record the job's outcome");
    }
}

async fn finish(state: &AppState, job: &Claimed, done: &Finished) -> Result<(), sqlx::Error> {
    let mut tx = state.db.pool().begin().await?;
    let updated = sqlx::query(
        "UPDATE videos SET status = 'ready', prefix = ?, duration_ms = ?, renditions = ?,
         poster = ?, progress = 1, error = NULL WHERE id = ?",
    )
    .bind(&done.prefix)
    .bind(i64::try_from(done.duration_ms).unwrap_or(i64::MAX))
    .bind(&done.renditions)
    .bind(&done.poster)
    .bind(&job.video_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE jobs SET status = 'done', updated_at = ? WHERE id = ?")
        .bind(now_unix())
        .bind(&job.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    state.videos.changed(&job.video_id).await;
    if updated.rows_affected() == 0 {
        // Deleted while it was transcoding: its media must not stay behind.
        let _ = state.media.remove(&job.video_id, Some(&done.prefix)).await;
    } else {
        state.media.changed(&job.video_id).await;
    }
    let _ = tokio::fs::remove_file(&job.input).await;
    tracing::info!(video = %job.video_id, "ready");
    state.jobs.publish(VideoEvent {
        video_id: job.video_id.clone(),
        status: "ready".into(),
        progress: 1.0,
        error: None,
    });
    Ok(())
}

async fn fail(state: &AppState, job: &Claimed, why: &str) -> Result<(), sqlx::Error> {
    tracing::warn!(video = %job.video_id, attempt = job.attempts, error = %why, "transcode failed");
    // A file the transcoder refuses will not get better: bad input fails at once.
    let retry = job.attempts < MAX_ATTEMPTS && !why.starts_with("input:");
    let mut tx = state.db.pool().begin().await?;
    sqlx::query(
        "UPDATE jobs SET status = ?, error = ?, lease_until = 0, updated_at = ? WHERE id = ?",
    )
    .bind(if retry { "queued" } else { "failed" })
    .bind(why)
    .bind(now_unix())
    .bind(&job.id)
    .execute(&mut *tx)
    .await?;
    if !retry {
        sqlx::query("UPDATE videos SET status = 'failed', error = ? WHERE id = ?")
            .bind(why)
            .bind(&job.video_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    state.videos.changed(&job.video_id).await;
    if !retry {
        let _ = tokio::fs::remove_file(&job.input).await;
        state.jobs.publish(VideoEvent {
            video_id: job.video_id.clone(),
            status: "failed".into(),
            progress: 0.0,
            error: Some(why.to_string()),
        });
    }
    Ok(())
}

/// `GET /videos/{id}/events`: server-sent `state` events (`{status, progress, error}`) as the
/// video is processed; the stream ends once it is ready or failed.
#[utoipa::path(get, path = "/api/v1/videos/{id}/events", tag = "videos", params(("id" = String, Path)), responses((status = 200, description = "server-sent `state` events until ready or failed", content_type = "text/event-stream"), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    UrlPath(video_id): UrlPath<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Subscribe before reading the current state, so no change falls between the two.
    let receiver = state.jobs.events.subscribe();
    let (video, _) = visible(&state, caller.as_ref(), &video_id).await?;
    let first = VideoEvent {
        progress: state
            .jobs
            .live_progress(&video_id)
            .unwrap_or(video.progress),
        video_id: video.id,
        status: video.status,
        error: video.error,
    };
    let stream = futures_util::stream::unfold(
        (Some(first), false, receiver, video_id),
        |(pending, finished, mut receiver, id)| async move {
            if finished {
                return None;
            }
            let event = match pending {
                Some(event) => event,
                None => loop {
                    match receiver.recv().await {
                        Ok(event) if event.video_id == id => break event,
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                },
            };
            let finished = event.status != "processing";
            let sse = Event::default()
                .event("state")
                .json_data(&event)
                .unwrap_or_else(|_| Event::default().event("state"));
            Some((Ok::<_, Infallible>(sse), (None, finished, receiver, id)))
        },
    );
    Ok(Sse::new(stream))
}
