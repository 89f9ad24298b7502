//! Resumable uploads: tus 1.0.0 with the creation, creation-with-upload, termination, checksum
//! (sha256) and expiration extensions, at `/api/v1/uploads`; and `POST /api/v1/videos`
//! (multipart) for small files in one request.
//!
//! Bytes go to `{uploads_dir}/{id}.part`. The database holds the offset that is durably on
//! disk: a chunk is written and synced before the offset moves, and a file found longer than
//! its offset (a crash mid-chunk) is cut back before the next append. One writer per upload at
//! a time (423 for a second). When the last byte is in, the video (`processing`) and its job are
//! created in one transaction.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Caller;
use crate::state::AppState;
use crate::users::Role;
use crate::videos::{check_description, check_tags, check_title};
use crate::{new_id, now_unix};

/// The protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// Extensions supported.
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
/// How long an unfinished upload is kept.
pub const UPLOAD_LIFE: Duration = Duration::from_secs(24 * 60 * 60);

/// One lock per upload being written.
#[derive(Clone, Default, Debug)]
pub struct UploadLocks(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl UploadLocks {
    fn try_lock(&self, id: &str) -> ApiResult<tokio::sync::OwnedMutexGuard<()>> {
        let lock = {
            let mut locks = self.0.lock().unwrap_or_else(|p| p.into_inner());
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(id.to_string()).or_default().clone()
        };
        lock.try_lock_owned().map_err(|_| {
            ApiError::Status(
                StatusCode::LOCKED,
                "locked",
                "another request is writing this upload".into(),
            )
        })
    }
}

fn tus_headers(response: &mut Response) {
    response
        .headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn check_version(headers: &HeaderMap) -> ApiResult<()> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(ApiError::Status(
            StatusCode::PRECONDITION_FAILED,
            "tus_version",
            format!("Tus-Resumable: {TUS_VERSION} is required"),
        )),
    }
}

fn http_date(unix: i64) -> String {
    httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0)),
    )
}

/// Parses `Upload-Metadata`: `key base64,key base64` (a value may be absent).
pub fn parse_metadata(header: &str) -> ApiResult<HashMap<String, String>> {
    let mut out = HashMap::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.splitn(2, ' ');
        let key = parts.next().unwrap_or("");
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Err(ApiError::BadRequest("Upload-Metadata: bad key".into()));
        }
        let value = match parts.next() {
            Some(encoded) => {
                let bytes = STANDARD.decode(encoded.trim()).map_err(|_| {
                    ApiError::BadRequest(format!("Upload-Metadata: {key} is not base64"))
                })?;
                String::from_utf8(bytes).map_err(|_| {
                    ApiError::BadRequest(format!("Upload-Metadata: {key} is not UTF-8"))
                })?
            }
            None => String::new(),
        };
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

/// What a new video takes from an upload's metadata (or a multipart form).
struct VideoFields {
    title: String,
    description: String,
    tags: Vec<String>,
    public: bool,
}

fn video_fields(meta: &HashMap<String, String>) -> ApiResult<VideoFields> {
    let name = meta.get("filename").map(String::as_str).unwrap_or("");
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let title = match meta.get("title").filter(|t| !t.trim().is_empty()) {
        Some(title) => check_title(title)?,
        None if !stem.trim().is_empty() => {
            check_title(&stem.chars().take(200).collect::<String>())?
        }
        None => "Untitled".to_string(),
    };
    let description = meta.get("description").cloned().unwrap_or_default();
    check_description(&description)?;
    let tags: Vec<String> = meta
        .get("tags")
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let tags = check_tags(&tags)?;
    let public = match meta.get("visibility").map(String::as_str) {
        None | Some("" | "private") => false,
        Some("public") => true,
        Some(_) => return Err(ApiError::invalid("visibility", "public or private")),
    };
    Ok(VideoFields {
        title,
        description,
        tags,
        public,
    })
}

fn may_upload(caller: &Caller) -> ApiResult<()> {
    if matches!(caller.role, Role::Creator | Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only creators may upload"))
    }
}

fn upload_path(state: &AppState, id: &str) -> PathBuf {
    state.config.uploads_dir.join(format!("{id}.part"))
}

/// `OPTIONS /uploads`: what this server speaks.
#[utoipa::path(options, path = "/api/v1/uploads", tag = "uploads", responses((status = 204, description = "tus capabilities (Tus-Version, Tus-Extension, Tus-Max-Size)"), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn options(State(state): State<AppState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut response);
    let h = response.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static(TUS_EXTENSIONS));
    h.insert("tus-checksum-algorithm", HeaderValue::from_static("sha256"));
    h.insert(
        "tus-max-size",
        HeaderValue::from(state.config.max_upload_bytes),
    );
    response
}

/// `POST /uploads`: creates an upload (`Upload-Length`, `Upload-Metadata`), optionally with
/// its first bytes. 201 with `Location`.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads", responses((status = 201, description = "created (tus): Location, Upload-Offset, Upload-Expires"), (status = 403, description = "creators only", body = ErrorBody), (status = 412, description = "Tus-Resumable missing", body = ErrorBody), (status = 413, description = "over the limit", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    check_version(&headers)?;
    may_upload(&caller)?;
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::BadRequest(
            "Upload-Defer-Length is not supported: send Upload-Length".into(),
        ));
    }
    let length: u64 = headers
        .get("upload-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::BadRequest("Upload-Length (bytes) is required".into()))?;
    if length > state.config.max_upload_bytes {
        return Err(ApiError::TooLarge(format!(
            "uploads are limited to {} bytes",
            state.config.max_upload_bytes
        )));
    }
    if length == 0 {
        return Err(ApiError::invalid(
            "Upload-Length",
            "an empty file is not a video",
        ));
    }
    let metadata = headers
        .get("upload-metadata")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    video_fields(&parse_metadata(&metadata)?)?;
    let id = new_id()?;
    let path = upload_path(&state, &id);
    tokio::fs::create_dir_all(&state.config.uploads_dir)
        .await
        .map_err(|e| ApiError::Internal(format!("uploads dir: {e}")))?;
    tokio::fs::File::create(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("create {}: {e}", path.display())))?;
    let now = now_unix();
    let expires = now + UPLOAD_LIFE.as_secs() as i64;
    sqlx::query(
        "INSERT INTO uploads (id, owner, length, metadata, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(&caller.id)
    .bind(length as i64)
    .bind(&metadata)
    .bind(now)
    .bind(expires)
    .execute(state.db.pool())
    .await?;
    let with_body = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/offset+octet-stream");
    let offset = if with_body {
        let lock = state.uploads_locks.try_lock(&id)?;
        let offset = append(&state, &caller, &id, 0, &headers, body).await?;
        drop(lock);
        offset
    } else {
        0
    };
    let mut response = StatusCode::CREATED.into_response();
    tus_headers(&mut response);
    let h = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/uploads/{id}")) {
        h.insert(header::LOCATION, location);
    }
    h.insert("upload-offset", HeaderValue::from(offset));
    if let Ok(value) = HeaderValue::from_str(&http_date(expires)) {
        h.insert("upload-expires", value);
    }
    Ok(response)
}

struct UploadRow {
    length: u64,
    offset: u64,
    metadata: String,
    expires_at: i64,
    video_id: Option<String>,
}

async fn upload_of(state: &AppState, caller: &Caller, id: &str) -> ApiResult<UploadRow> {
    let row = sqlx::query(
        "SELECT length, offset, metadata, expires_at, video_id FROM uploads
         WHERE id = ? AND owner = ?",
    )
    .bind(id)
    .bind(&caller.id)
    .fetch_optional(state.db.pool())
    .await?
    .ok_or(ApiError::NotFound("no such upload"))?;
    let upload = UploadRow {
        length: row.get::<i64, _>("length") as u64,
        offset: row.get::<i64, _>("offset") as u64,
        metadata: row.get("metadata"),
        expires_at: row.get("expires_at"),
        video_id: row.get("video_id"),
    };
    if upload.video_id.is_none() && upload.expires_at <= now_unix() {
        return Err(ApiError::Status(
            StatusCode::GONE,
            "expired",
            "this upload expired; start a new one".into(),
        ));
    }
    Ok(upload)
}

/// `HEAD /uploads/{id}`: the offset to resume from.
#[utoipa::path(head, path = "/api/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path)), responses((status = 200, description = "Upload-Offset and Upload-Length"), (status = 410, description = "expired", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn head(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let upload = upload_of(&state, &caller, &id).await?;
    let mut response = StatusCode::OK.into_response();
    tus_headers(&mut response);
    let h = response.headers_mut();
    h.insert("upload-offset", HeaderValue::from(upload.offset));
    h.insert("upload-length", HeaderValue::from(upload.length));
    if let Ok(value) = HeaderValue::from_str(&upload.metadata)
        && !upload.metadata.is_empty()
    {
        h.insert("upload-metadata", value);
    }
    if upload.video_id.is_none()
        && let Ok(value) = HeaderValue::from_str(&http_date(upload.expires_at))
    {
        h.insert("upload-expires", value);
    }
    if let Some(video) = upload.video_id
        && let Ok(value) = HeaderValue::from_str(&video)
    {
        h.insert("lectern-video-id", value);
    }
    Ok(response)
}

/// `PATCH /uploads/{id}`: appends at `Upload-Offset` (409 if it is not the stored offset).
#[utoipa::path(patch, path = "/api/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path)), responses((status = 204, description = "appended: the new Upload-Offset"), (status = 409, description = "wrong offset", body = ErrorBody), (status = 423, description = "another writer", body = ErrorBody), (status = 460, description = "checksum mismatch", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    check_version(&headers)?;
    let is_chunk = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/offset+octet-stream");
    if !is_chunk {
        return Err(ApiError::Status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type",
            "PATCH bodies are Content-Type: application/offset+octet-stream".into(),
        ));
    }
    let offset: u64 = headers
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::BadRequest("Upload-Offset (bytes) is required".into()))?;
    let _lock = state.uploads_locks.try_lock(&id)?;
    let new_offset = append(&state, &caller, &id, offset, &headers, body).await?;
    let upload = upload_of(&state, &caller, &id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut response);
    let h = response.headers_mut();
    h.insert("upload-offset", HeaderValue::from(new_offset));
    if upload.video_id.is_none()
        && let Ok(value) = HeaderValue::from_str(&http_date(upload.expires_at))
    {
        h.insert("upload-expires", value);
    }
    if let Some(video) = upload.video_id
        && let Ok(value) = HeaderValue::from_str(&video)
    {
        h.insert("lectern-video-id", value);
    }
    Ok(response)
}

/// Appends `body` to upload `id` at `offset` (the caller holds its lock); returns the new
/// offset. Bytes received before a client disconnects are kept (unless a checksum was sent).
async fn append(
    state: &AppState,
    caller: &Caller,
    id: &str,
    offset: u64,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<u64> {
    let upload = upload_of(state, caller, id).await?;
    if upload.video_id.is_some() || upload.offset == upload.length {
        return Err(ApiError::Conflict("this upload is complete".into()));
    }
    if offset != upload.offset {
        return Err(ApiError::Conflict(format!(
            "Upload-Offset is {offset} but the upload is at {}",
            upload.offset
        )));
    }
    let checksum = match headers.get("upload-checksum").and_then(|v| v.to_str().ok()) {
        None => None,
        Some(value) => {
            let (algorithm, digest) = value.split_once(' ').unwrap_or((value, ""));
            if algorithm != "sha256" {
                return Err(ApiError::BadRequest(
                    "Upload-Checksum: only sha256 is supported".into(),
                ));
            }
            Some(
                STANDARD
                    .decode(digest.trim())
                    .map_err(|_| ApiError::BadRequest("Upload-Checksum is not base64".into()))?,
            )
        }
    };
    let path = upload_path(state, id);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("open {}: {e}", path.display())))?;
    let io = |e: std::io::Error| ApiError::Internal(format!("write {}: {e}", path.display()));
    // Anything past the recorded offset was never acknowledged: cut it.
    file.set_len(offset).await.map_err(io)?;
    file.seek(SeekFrom::Start(offset)).await.map_err(io)?;
    let mut hasher = checksum.as_ref().map(|_| Sha256::new());
    let room = upload.length - offset;
    let mut written: u64 = 0;
    let mut stream = body.into_data_stream();
    let mut broken = false;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            broken = true;
            break;
        };
        if written + chunk.len() as u64 > room {
            file.set_len(offset).await.map_err(io)?;
            return Err(ApiError::TooLarge("more bytes than Upload-Length".into()));
        }
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(&chunk);
        }
        file.write_all(&chunk).await.map_err(io)?;
        written += chunk.len() as u64;
    }
    if let (Some(expected), Some(hasher)) = (checksum, hasher)
        && (broken || hasher.finalize().as_slice() != expected.as_slice())
    {
        file.set_len(offset).await.map_err(io)?;
        return Err(ApiError::Status(
            StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
            "checksum_mismatch",
            "the chunk does not match its Upload-Checksum; it was discarded".into(),
        ));
    }
    file.flush().await.map_err(io)?;
    file.sync_data().await.map_err(io)?;
    let new_offset = offset + written;
    if new_offset == upload.length {
        complete(state, caller, id, &upload.metadata, &path).await?;
    } else {
        sqlx::query("UPDATE uploads SET offset = ? WHERE id = ?")
            .bind(new_offset as i64)
            .bind(id)
            .execute(state.db.pool())
            .await?;
    }
    Ok(new_offset)
}

/// The last byte is in: the video and its job, in one transaction with the final offset.
async fn complete(
    state: &AppState,
    caller: &Caller,
    upload_id: &str,
    metadata: &str,
    path: &std::path::Path,
) -> ApiResult<String> {
    let fields = video_fields(&parse_metadata(metadata)?)?;
    let video_id = new_id()?;
    let mut tx = state.db.pool().begin().await?;
    insert_processing_video(&mut tx, &video_id, &caller.id, &fields).await?;
    crate::jobs::enqueue(&mut tx, &video_id, path).await?;
    sqlx::query("UPDATE uploads SET offset = length, video_id = ? WHERE id = ?")
        .bind(&video_id)
        .bind(upload_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    state.jobs.wake();
    Ok(video_id)
}

async fn insert_processing_video(
    tx: &mut sqlx::SqliteConnection,
    video_id: &str,
    owner: &str,
    fields: &VideoFields,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO videos (id, title, description, tags, owner, status, public, created_at)
         VALUES (?, ?, ?, ?, ?, 'processing', ?, ?)",
    )
    .bind(video_id)
    .bind(&fields.title)
    .bind(&fields.description)
    .bind(fields.tags.join(" "))
    .bind(owner)
    .bind(fields.public)
    .bind(now_unix())
    .execute(&mut *tx)
    .await?;
    for tag in &fields.tags {
        sqlx::query("INSERT INTO video_tags (video_id, tag) VALUES (?, ?)")
            .bind(video_id)
            .bind(tag)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// `DELETE /uploads/{id}` (termination): the unfinished upload and its bytes go. 204.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path)), responses((status = 204, description = "terminated"), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_version(&headers)?;
    let upload = upload_of(&state, &caller, &id).await?;
    if upload.video_id.is_some() {
        return Err(ApiError::Conflict(
            "this upload is complete: delete its video instead".into(),
        ));
    }
    let _lock = state.uploads_locks.try_lock(&id)?;
    sqlx::query("DELETE FROM uploads WHERE id = ?")
        .bind(&id)
        .execute(state.db.pool())
        .await?;
    let _ = tokio::fs::remove_file(upload_path(&state, &id)).await;
    let mut response = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut response);
    Ok(response)
}

/// Removes unfinished uploads past their expiry (rows and files).
pub async fn remove_expired(state: &AppState) {
    let expired: Vec<String> = match sqlx::query_scalar(
        "SELECT id FROM uploads WHERE video_id IS NULL AND expires_at <= ?",
    )
    .bind(now_unix())
    .fetch_all(state.db.pool())
    .await
    {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list expired uploads");
            return;
        }
    };
    for id in expired {
        if let Ok(_lock) = state.uploads_locks.try_lock(&id) {
            let _ = sqlx::query("DELETE FROM uploads WHERE id = ?")
                .bind(&id)
                .execute(state.db.pool())
                .await;
            let _ = tokio::fs::remove_file(upload_path(state, &id)).await;
        }
    }
}

/// `POST /videos` (multipart: `file`, and optionally `title`, `description`, `tags` (comma
/// separated), `visibility`): a small file in one request. 201 with the video.
#[utoipa::path(post, path = "/api/v1/videos", tag = "uploads", responses((status = 201, description = "a processing video (multipart: file, title, description, tags, visibility)", body = crate::videos::VideoView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn multipart(
    State(state): State<AppState>,
    caller: Caller,
    mut form: Multipart,
) -> ApiResult<Response> {
    may_upload(&caller)?;
    let mut meta = HashMap::new();
    let mut file: Option<(PathBuf, u64)> = None;
    let id = new_id()?;
    let path = upload_path(&state, &format!("form-{id}"));
    let result: ApiResult<()> = async {
        while let Some(mut field) = form.next_field().await.map_err(|e| multipart_error(&e))? {
            let name = field.name().unwrap_or("").to_string();
            if name == "file" {
                if let Some(file_name) = field.file_name() {
                    meta.insert("filename".to_string(), file_name.to_string());
                }
                tokio::fs::create_dir_all(&state.config.uploads_dir)
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                let mut out = tokio::fs::File::create(&path)
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                let mut size = 0u64;
                while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e))? {
                    size += chunk.len() as u64;
                    if size > state.config.max_upload_bytes {
                        return Err(ApiError::TooLarge(format!(
                            "uploads are limited to {} bytes",
                            state.config.max_upload_bytes
                        )));
                    }
                    out.write_all(&chunk)
                        .await
                        .map_err(|e| ApiError::Internal(e.to_string()))?;
                }
                out.flush()
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                out.sync_data()
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                file = Some((path.clone(), size));
            } else if ["title", "description", "tags", "visibility"].contains(&name.as_str()) {
                let text = field.text().await.map_err(|e| multipart_error(&e))?;
                meta.insert(name, text);
            } else {
                return Err(ApiError::BadRequest(format!("unknown form field {name:?}")));
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e);
    }
    let Some((path, _)) = file.filter(|(_, size)| *size > 0) else {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(ApiError::invalid(
            "file",
            "a non-empty file field is required",
        ));
    };
    let fields = match video_fields(&meta) {
        Ok(fields) => fields,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
    };
    let video_id = new_id()?;
    let mut tx = state.db.pool().begin().await?;
    insert_processing_video(&mut tx, &video_id, &caller.id, &fields).await?;
    crate::jobs::enqueue(&mut tx, &video_id, &path).await?;
    tx.commit().await?;
    state.jobs.wake();
    let (video, _) = crate::videos::visible(&state, Some(&caller), &video_id).await?;
    Ok((StatusCode::CREATED, axum::Json(video)).into_response())
}

fn multipart_error(e: &axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(e.body_text())
    } else {
        ApiError::BadRequest(e.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_parses_like_tus_clients_send_it() {
        let meta = parse_metadata("filename bGVjdHVyZS5tcDQ=,title V2VlayAx,is_confidential")
            .expect("parses");
        assert_eq!(meta["filename"], "lecture.mp4");
        assert_eq!(meta["title"], "Week 1");
        assert_eq!(meta["is_confidential"], "");
        assert!(parse_metadata("title !!!").is_err());
        let fields = video_fields(&meta).expect("fields");
        assert_eq!(fields.title, "Week 1");
        let fields =
            video_fields(&parse_metadata("filename bGVjdHVyZS5tcDQ=").expect("p")).expect("f");
        assert_eq!(
            fields.title, "lecture",
            "the file name without its extension"
        );
    }

    #[test]
    fn expiry_dates_are_http_dates() {
        assert_eq!(http_date(86_400), "Fri, 02 Jan 1970 00:00:00 GMT");
    }
}
