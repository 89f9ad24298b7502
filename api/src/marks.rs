//! Timeline marks and their annotations: a learner's own, invisible (404) to everyone else.
//!
//! Routes: `GET|POST /videos/{id}/marks` (`?category=` filters; ordered by time),
//! `PATCH|DELETE /marks/{mid}`, `GET|POST /marks/{mid}/annotations`,
//! `PATCH|DELETE /annotations/{aid}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, JsonBody, QueryParams};
use crate::state::AppState;
use crate::videos::{check_time, visible};
use crate::{new_id, now_unix};

/// Longest mark content, in characters.
pub const MAX_MARK_CONTENT: usize = 2000;
/// Longest annotation, in characters.
pub const MAX_ANNOTATION: usize = 5000;

/// A mark as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MarkView {
    /// Id.
    pub id: String,
    /// Its video.
    pub video_id: String,
    /// Seconds from the start.
    pub time: f64,
    /// User-defined category (`key point`, `question`, …).
    pub category: String,
    /// Text.
    pub content: String,
    /// Annotations, oldest first.
    pub annotations: Vec<AnnotationView>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// An annotation as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnnotationView {
    /// Id.
    pub id: String,
    /// Its mark.
    pub mark_id: String,
    /// Text.
    pub content: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

fn check_category(category: &str) -> ApiResult<String> {
    let category = category.trim();
    if category.is_empty()
        || category.chars().count() > 32
        || category.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(
            "category",
            "1 to 32 characters, no control characters",
        ));
    }
    Ok(category.to_string())
}

/// Checks a text field's length (in characters).
pub fn check_text(field: &str, text: &str, max: usize, required: bool) -> ApiResult<()> {
    let n = text.chars().count();
    if n > max {
        return Err(ApiError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    if required && text.trim().is_empty() {
        return Err(ApiError::invalid(field, "must not be empty"));
    }
    Ok(())
}

/// Query of the marks list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkQuery {
    category: Option<String>,
}

/// The caller's marks on a video, with annotations, by time (optionally one category).
pub async fn marks_of(
    state: &AppState,
    user_id: &str,
    video_id: &str,
    category: Option<&str>,
) -> ApiResult<Vec<MarkView>> {
    let rows = sqlx::query(
        "SELECT id, video_id, time, category, content, created_at, updated_at FROM marks
         WHERE user_id = ? AND video_id = ? AND (? IS NULL OR category = ?)
         ORDER BY time, created_at",
    )
    .bind(user_id)
    .bind(video_id)
    .bind(category)
    .bind(category)
    .fetch_all(state.db.pool())
    .await?;
    let annotations = sqlx::query(
        "SELECT a.id, a.mark_id, a.content, a.created_at, a.updated_at FROM annotations a
         JOIN marks m ON m.id = a.mark_id
         WHERE m.user_id = ? AND m.video_id = ? ORDER BY a.created_at, a.id",
    )
    .bind(user_id)
    .bind(video_id)
    .fetch_all(state.db.pool())
    .await?;
    let annotations: Vec<AnnotationView> = annotations.iter().map(annotation_view).collect();
    Ok(rows
        .iter()
        .map(|r| {
            let id: String = r.get("id");
            MarkView {
                annotations: annotations
                    .iter()
                    .filter(|a| a.mark_id == id)
                    .cloned()
                    .collect(),
                id,
                video_id: r.get("video_id"),
                time: r.get("time"),
                category: r.get("category"),
                content: r.get("content"),
                created_at: r.get("created_at"),
                updated_at: r.get("updated_at"),
            }
        })
        .collect())
}

fn annotation_view(r: &sqlx::sqlite::SqliteRow) -> AnnotationView {
    AnnotationView {
        id: r.get("id"),
        mark_id: r.get("mark_id"),
        content: r.get("content"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

/// `GET /videos/{id}/marks`.
#[utoipa::path(get, path = "/api/v1/videos/{id}/marks", tag = "marks", params(("id" = String, Path)), responses((status = 200, description = "the caller's marks by time", body = [MarkView]), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
    QueryParams(query): QueryParams<MarkQuery>,
) -> ApiResult<axum::Json<Vec<MarkView>>> {
    visible(&state, Some(&caller), &video_id).await?;
    Ok(axum::Json(
        marks_of(&state, &caller.id, &video_id, query.category.as_deref()).await?,
    ))
}

/// New mark.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMark {
    time: f64,
    category: String,
    #[serde(default)]
    content: String,
}

async fn one_mark(state: &AppState, caller: &Caller, mark_id: &str) -> ApiResult<MarkView> {
    let video_id: String =
        sqlx::query_scalar("SELECT video_id FROM marks WHERE id = ? AND user_id = ?")
            .bind(mark_id)
            .bind(&caller.id)
            .fetch_optional(state.db.pool())
            .await?
            .ok_or(ApiError::NotFound("no such mark"))?;
    marks_of(state, &caller.id, &video_id, None)
        .await?
        .into_iter()
        .find(|m| m.id == mark_id)
        .ok_or(ApiError::NotFound("no such mark"))
}

/// `POST /videos/{id}/marks`: 201 with the mark; time within the video (else 422).
#[utoipa::path(post, path = "/api/v1/videos/{id}/marks", tag = "marks", params(("id" = String, Path)), request_body = NewMark, responses((status = 201, description = "created", body = MarkView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
    JsonBody(body): JsonBody<NewMark>,
) -> ApiResult<(StatusCode, axum::Json<MarkView>)> {
    let (video, _) = visible(&state, Some(&caller), &video_id).await?;
    check_time("time", body.time, video.duration)?;
    let category = check_category(&body.category)?;
    check_text("content", &body.content, MAX_MARK_CONTENT, false)?;
    let id = new_id()?;
    let now = now_unix();
    sqlx::query(
        "INSERT INTO marks (id, video_id, user_id, time, category, content, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(&video_id)
    .bind(&caller.id)
    .bind(body.time)
    .bind(&category)
    .bind(&body.content)
    .bind(now)
    .bind(now)
    .execute(state.db.pool())
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(one_mark(&state, &caller, &id).await?),
    ))
}

/// Mark changes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkPatch {
    time: Option<f64>,
    category: Option<String>,
    content: Option<String>,
}

/// `PATCH /marks/{mid}` (its author only; 404 for anyone else).
#[utoipa::path(patch, path = "/api/v1/marks/{id}", tag = "marks", params(("id" = String, Path)), request_body = MarkPatch, responses((status = 200, description = "updated", body = MarkView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(mark_id): Path<String>,
    JsonBody(body): JsonBody<MarkPatch>,
) -> ApiResult<axum::Json<MarkView>> {
    let mark = one_mark(&state, &caller, &mark_id).await?;
    if let Some(time) = body.time {
        let (video, _) = visible(&state, Some(&caller), &mark.video_id).await?;
        check_time("time", time, video.duration)?;
    }
    let category = body.category.as_deref().map(check_category).transpose()?;
    if let Some(content) = &body.content {
        check_text("content", content, MAX_MARK_CONTENT, false)?;
    }
    sqlx::query(
        "UPDATE marks SET time = COALESCE(?, time), category = COALESCE(?, category),
         content = COALESCE(?, content), updated_at = ? WHERE id = ? AND user_id = ?",
    )
    .bind(body.time)
    .bind(category)
    .bind(body.content)
    .bind(now_unix())
    .bind(&mark_id)
    .bind(&caller.id)
    .execute(state.db.pool())
    .await?;
    Ok(axum::Json(one_mark(&state, &caller, &mark_id).await?))
}

/// `DELETE /marks/{mid}` (its author only), with its annotations.
#[utoipa::path(delete, path = "/api/v1/marks/{id}", tag = "marks", params(("id" = String, Path)), responses((status = 204, description = "deleted"), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(mark_id): Path<String>,
) -> ApiResult<StatusCode> {
    let done = sqlx::query("DELETE FROM marks WHERE id = ? AND user_id = ?")
        .bind(&mark_id)
        .bind(&caller.id)
        .execute(state.db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("no such mark"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /marks/{mid}/annotations`.
#[utoipa::path(get, path = "/api/v1/marks/{id}/annotations", tag = "marks", params(("id" = String, Path)), responses((status = 200, description = "annotations", body = [AnnotationView]), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn list_annotations(
    State(state): State<AppState>,
    caller: Caller,
    Path(mark_id): Path<String>,
) -> ApiResult<axum::Json<Vec<AnnotationView>>> {
    Ok(axum::Json(
        one_mark(&state, &caller, &mark_id).await?.annotations,
    ))
}

/// An annotation's text.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnotationBody {
    content: String,
}

/// `POST /marks/{mid}/annotations`: 201.
#[utoipa::path(post, path = "/api/v1/marks/{id}/annotations", tag = "marks", params(("id" = String, Path)), request_body = AnnotationBody, responses((status = 201, description = "created", body = AnnotationView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn create_annotation(
    State(state): State<AppState>,
    caller: Caller,
    Path(mark_id): Path<String>,
    JsonBody(body): JsonBody<AnnotationBody>,
) -> ApiResult<(StatusCode, axum::Json<AnnotationView>)> {
    one_mark(&state, &caller, &mark_id).await?;
    check_text("content", &body.content, MAX_ANNOTATION, true)?;
    let id = new_id()?;
    let now = now_unix();
    sqlx::query(
        "INSERT INTO annotations (id, mark_id, user_id, content, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(&mark_id)
    .bind(&caller.id)
    .bind(&body.content)
    .bind(now)
    .bind(now)
    .execute(state.db.pool())
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(AnnotationView {
            id,
            mark_id,
            content: body.content,
            created_at: now,
            updated_at: now,
        }),
    ))
}

/// `PATCH /annotations/{aid}` (its author only).
#[utoipa::path(patch, path = "/api/v1/annotations/{id}", tag = "marks", params(("id" = String, Path)), request_body = AnnotationBody, responses((status = 200, description = "updated", body = AnnotationView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn patch_annotation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AnnotationBody>,
) -> ApiResult<axum::Json<AnnotationView>> {
    check_text("content", &body.content, MAX_ANNOTATION, true)?;
    let done = sqlx::query(
        "UPDATE annotations SET content = ?, updated_at = ? WHERE id = ? AND user_id = ?",
    )
    .bind(&body.content)
    .bind(now_unix())
    .bind(&id)
    .bind(&caller.id)
    .execute(state.db.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("no such annotation"));
    }
    let row = sqlx::query(
        "SELECT id, mark_id, content, created_at, updated_at FROM annotations WHERE id = ?",
    )
    .bind(&id)
    .fetch_one(state.db.pool())
    .await?;
    Ok(axum::Json(annotation_view(&row)))
}

/// `DELETE /annotations/{aid}` (its author only).
#[utoipa::path(delete, path = "/api/v1/annotations/{id}", tag = "marks", params(("id" = String, Path)), responses((status = 204, description = "deleted"), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn delete_annotation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let done = sqlx::query("DELETE FROM annotations WHERE id = ? AND user_id = ?")
        .bind(&id)
        .bind(&caller.id)
        .execute(state.db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("no such annotation"));
    }
    Ok(StatusCode::NO_CONTENT)
}
