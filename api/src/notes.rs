//! Notes: Markdown text (up to 20,000 characters), optionally at a time in the video; private
//! to their author (404 to everyone else), listed in time order (untimed notes last).
//!
//! Routes: `GET|POST /videos/{id}/notes`, `PATCH|DELETE /notes/{nid}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, JsonBody};
use crate::marks::check_text;
use crate::state::AppState;
use crate::videos::{check_time, visible};
use crate::{new_id, now_unix};

/// Longest note, in characters.
pub const MAX_NOTE: usize = 20_000;

/// A note as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NoteView {
    /// Id.
    pub id: String,
    /// Its video.
    pub video_id: String,
    /// Seconds from the start, if the note is about a moment.
    pub time: Option<f64>,
    /// Markdown, stored as given (renderers must escape it).
    pub content: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

fn note_view(r: &sqlx::sqlite::SqliteRow) -> NoteView {
    NoteView {
        id: r.get("id"),
        video_id: r.get("video_id"),
        time: r.get("time"),
        content: r.get("content"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

const NOTE_COLUMNS: &str = "id, video_id, time, content, created_at, updated_at";

/// The caller's notes on a video, in time order.
pub async fn notes_of(state: &AppState, user_id: &str, video_id: &str) -> ApiResult<Vec<NoteView>> {
    let rows = sqlx::query(&format!(
        "SELECT {NOTE_COLUMNS} FROM notes WHERE user_id = ? AND video_id = ?
         ORDER BY time IS NULL, time, created_at"
    ))
    .bind(user_id)
    .bind(video_id)
    .fetch_all(state.db.pool())
    .await?;
    Ok(rows.iter().map(note_view).collect())
}

/// `GET /videos/{id}/notes`.
#[utoipa::path(get, path = "/api/v1/videos/{id}/notes", tag = "notes", params(("id" = String, Path)), responses((status = 200, description = "the caller's notes by time", body = [NoteView]), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
) -> ApiResult<axum::Json<Vec<NoteView>>> {
    visible(&state, Some(&caller), &video_id).await?;
    Ok(axum::Json(notes_of(&state, &caller.id, &video_id).await?))
}

/// A note's fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    time: Option<f64>,
    content: Option<String>,
}

async fn one_note(state: &AppState, caller: &Caller, id: &str) -> ApiResult<NoteView> {
    let row = sqlx::query(&format!(
        "SELECT {NOTE_COLUMNS} FROM notes WHERE id = ? AND user_id = ?"
    ))
    .bind(id)
    .bind(&caller.id)
    .fetch_optional(state.db.pool())
    .await?
    .ok_or(ApiError::NotFound("no such note"))?;
    Ok(note_view(&row))
}

/// `POST /videos/{id}/notes`: 201.
#[utoipa::path(post, path = "/api/v1/videos/{id}/notes", tag = "notes", params(("id" = String, Path)), request_body = NoteBody, responses((status = 201, description = "created", body = NoteView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
    JsonBody(body): JsonBody<NoteBody>,
) -> ApiResult<(StatusCode, axum::Json<NoteView>)> {
    let (video, _) = visible(&state, Some(&caller), &video_id).await?;
    if let Some(time) = body.time {
        check_time("time", time, video.duration)?;
    }
    let content = body
        .content
        .ok_or_else(|| ApiError::invalid("content", "missing field `content`"))?;
    check_text("content", &content, MAX_NOTE, true)?;
    let id = new_id()?;
    let now = now_unix();
    sqlx::query(
        "INSERT INTO notes (id, video_id, user_id, time, content, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(&video_id)
    .bind(&caller.id)
    .bind(body.time)
    .bind(&content)
    .bind(now)
    .bind(now)
    .execute(state.db.pool())
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(one_note(&state, &caller, &id).await?),
    ))
}

/// `PATCH /notes/{nid}` (its author only).
#[utoipa::path(patch, path = "/api/v1/notes/{id}", tag = "notes", params(("id" = String, Path)), request_body = NoteBody, responses((status = 200, description = "updated", body = NoteView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NoteBody>,
) -> ApiResult<axum::Json<NoteView>> {
    let note = one_note(&state, &caller, &id).await?;
    if let Some(time) = body.time {
        let (video, _) = visible(&state, Some(&caller), &note.video_id).await?;
        check_time("time", time, video.duration)?;
    }
    if let Some(content) = &body.content {
        check_text("content", content, MAX_NOTE, true)?;
    }
    sqlx::query(
        "UPDATE notes SET time = COALESCE(?, time), content = COALESCE(?, content),
         updated_at = ? WHERE id = ? AND user_id = ?",
    )
    .bind(body.time)
    .bind(body.content)
    .bind(now_unix())
    .bind(&id)
    .bind(&caller.id)
    .execute(state.db.pool())
    .await?;
    Ok(axum::Json(one_note(&state, &caller, &id).await?))
}

/// `DELETE /notes/{nid}` (its author only).
#[utoipa::path(delete, path = "/api/v1/notes/{id}", tag = "notes", params(("id" = String, Path)), responses((status = 204, description = "deleted"), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let done = sqlx::query("DELETE FROM notes WHERE id = ? AND user_id = ?")
        .bind(&id)
        .bind(&caller.id)
        .execute(state.db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("no such note"));
    }
    Ok(StatusCode::NO_CONTENT)
}
