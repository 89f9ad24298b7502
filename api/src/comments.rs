//! Comments under a video: anyone who can see the video reads them; signed-in callers write;
//! the author, the video's owner and admins delete.
//!
//! Routes: `GET|POST /videos/{id}/comments`, `DELETE /comments/{cid}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, JsonBody, MaybeCaller};
use crate::marks::check_text;
use crate::state::AppState;
use crate::videos::visible;
use crate::{new_id, now_unix};

/// Longest comment, in characters.
pub const MAX_COMMENT: usize = 5000;

/// A comment as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommentView {
    /// Id.
    pub id: String,
    /// Its video.
    pub video_id: String,
    /// Author's username.
    pub author: String,
    /// Text, as written (renderers escape it).
    pub content: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// `GET /videos/{id}/comments`: oldest first.
#[utoipa::path(get, path = "/api/v1/videos/{id}/comments", tag = "comments", params(("id" = String, Path)), responses((status = 200, description = "comments, oldest first", body = [CommentView]), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(video_id): Path<String>,
) -> ApiResult<axum::Json<Vec<CommentView>>> {
    visible(&state, caller.as_ref(), &video_id).await?;
    let rows = sqlx::query(
        "SELECT c.id, c.video_id, u.username, c.content, c.created_at FROM comments c
         JOIN users u ON u.id = c.user_id WHERE c.video_id = ? ORDER BY c.created_at, c.rowid",
    )
    .bind(&video_id)
    .fetch_all(state.db.pool())
    .await?;
    Ok(axum::Json(
        rows.iter()
            .map(|r| CommentView {
                id: r.get("id"),
                video_id: r.get("video_id"),
                author: r.get("username"),
                content: r.get("content"),
                created_at: r.get("created_at"),
            })
            .collect(),
    ))
}

/// A new comment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    content: String,
}

/// `POST /videos/{id}/comments`: 201.
#[utoipa::path(post, path = "/api/v1/videos/{id}/comments", tag = "comments", params(("id" = String, Path)), request_body = NewComment, responses((status = 201, description = "created", body = CommentView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
    JsonBody(body): JsonBody<NewComment>,
) -> ApiResult<(StatusCode, axum::Json<CommentView>)> {
    visible(&state, Some(&caller), &video_id).await?;
    check_text("content", &body.content, MAX_COMMENT, true)?;
    let id = new_id()?;
    let now = now_unix();
    sqlx::query(
        "INSERT INTO comments (id, video_id, user_id, content, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(&video_id)
    .bind(&caller.id)
    .bind(&body.content)
    .bind(now)
    .execute(state.db.pool())
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CommentView {
            id,
            video_id,
            author: caller.username,
            content: body.content,
            created_at: now,
        }),
    ))
}

/// `DELETE /comments/{cid}`: its author, the video's owner or an admin.
#[utoipa::path(delete, path = "/api/v1/comments/{id}", tag = "comments", params(("id" = String, Path)), responses((status = 204, description = "deleted"), (status = 403, description = "not allowed", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let row = sqlx::query(
        "SELECT c.user_id, c.video_id, v.owner FROM comments c JOIN videos v ON v.id = c.video_id
         WHERE c.id = ?",
    )
    .bind(&id)
    .fetch_optional(state.db.pool())
    .await?
    .ok_or(ApiError::NotFound("no such comment"))?;
    let video_id: String = row.get("video_id");
    // A comment on a video the caller cannot see does not exist for them.
    visible(&state, Some(&caller), &video_id).await?;
    let author: String = row.get("user_id");
    let owner: Option<String> = row.get("owner");
    let allowed =
        caller.is_admin() || author == caller.id || owner.as_deref() == Some(caller.id.as_str());
    if !allowed {
        return Err(ApiError::Forbidden(
            "only the author, the video's owner or an admin may delete a comment",
        ));
    }
    sqlx::query("DELETE FROM comments WHERE id = ?")
        .bind(&id)
        .execute(state.db.pool())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
