//! The learning API: accounts, videos, marks, notes, comments, exports, uploads.
//!
//! Only this crate knows SQL. Each module holds its handlers and the SQL they run; the router
//! in [`router`] puts them under `/api/v1`. Errors answer as
//! `{"error": {"code", "message"}}` ([`error`]); bodies are JSON with unknown fields refused
//! ([`extract`]); callers are identified by JWT access tokens ([`auth`]).
//!
//! # Layout
//! - [`db`]: opening the SQLite database (WAL, migrations) and the video rows of the origin.
//! - [`state`]: what handlers share.
//! - [`error`], [`extract`]: the error shape, JSON bodies and the caller.
//! - [`auth`]: password hashing, access and refresh tokens, the login limiter.
//! - [`users`]: register, login, refresh, logout, profiles, roles.
//! - [`videos`]: listing and search, one video with playback URLs, edits, deletion, views,
//!   positions.
//! - [`marks`], [`notes`]: a learner's own marks (with annotations) and notes.
//! - [`comments`]: public comments under a video.
//! - [`export`]: marks and notes as txt, Markdown, JSON, WebVTT, SRT, or all in a zip.
//! - [`uploads`]: tus 1.0.0 resumable uploads and one-request multipart uploads.
//! - [`jobs`]: the transcode queue (leases, retries), its worker, progress events.
//! - [`views`]: view counts, once per viewer per hour, written in the background.
//! - [`swr`]: the stale-while-revalidate cache in front of hot reads.
//! - [`openapi`]: the OpenAPI document, generated from the handlers' annotations.

pub mod auth;
pub mod comments;
pub mod db;
pub mod error;
pub mod export;
pub mod extract;
pub mod jobs;
pub mod marks;
pub mod notes;
pub mod openapi;
pub mod state;
pub mod swr;
pub mod uploads;
pub mod users;
pub mod videos;
pub mod views;

use axum::Router;
use axum::routing::{delete, get, patch, post};

pub(crate) use db::now_unix;
pub use db::{Database, DbError, NewVideo, VideoRow};
pub use error::{ApiError, ApiResult};
pub use state::{ApiConfig, AppState, Media, Playback};

/// Largest JSON body accepted (a 20,000-character note fits with room to spare).
pub const JSON_BODY_LIMIT: usize = 256 * 1024;

/// A fresh random id: 16 lowercase hex characters.
pub fn new_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint")
}

/// Every route of the API, under `/api/v1`.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/auth/register", post(users::register))
        .route("/auth/login", post(users::login))
        .route("/auth/refresh", post(users::refresh))
        .route("/auth/logout", post(users::logout))
        .route("/users/me", get(users::me).patch(users::patch_me))
        .route(
            "/users/{username}",
            get(users::get_user).patch(users::admin_patch_user),
        )
        .route(
            "/videos",
            get(videos::list)
                .post(uploads::multipart)
                .layer(axum::extract::DefaultBodyLimit::max(
                    usize::try_from(state.config.max_upload_bytes + 1024 * 1024)
                        .unwrap_or(usize::MAX),
                )),
        )
        .route("/videos/{id}/events", get(jobs::events))
        .route(
            "/uploads",
            post(uploads::create)
                .options(uploads::options)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/uploads/{id}",
            axum::routing::head(uploads::head)
                .patch(uploads::patch)
                .delete(uploads::delete)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/videos/{id}",
            get(videos::get).patch(videos::patch).delete(videos::delete),
        )
        .route(
            "/videos/{id}/position",
            get(videos::get_position).put(videos::put_position),
        )
        .route("/videos/{id}/marks", get(marks::list).post(marks::create))
        .route("/marks/{id}", patch(marks::patch).delete(marks::delete))
        .route(
            "/marks/{id}/annotations",
            get(marks::list_annotations).post(marks::create_annotation),
        )
        .route(
            "/annotations/{id}",
            patch(marks::patch_annotation).delete(marks::delete_annotation),
        )
        .route("/videos/{id}/notes", get(notes::list).post(notes::create))
        .route("/notes/{id}", patch(notes::patch).delete(notes::delete))
        .route(
            "/videos/{id}/comments",
            get(comments::list).post(comments::create),
        )
        .route("/comments/{id}", delete(comments::delete))
        .route("/videos/{id}/export", get(export::one))
        .route("/export", get(export::all))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(JSON_BODY_LIMIT));
    Router::new()
        .nest("/api/v1", v1)
        .fallback(not_found)
        .with_state(state)
}
