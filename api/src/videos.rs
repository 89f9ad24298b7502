//! Videos: the listing (pages, sort, full-text search, tags, owner), one video with its signed
//! playback URLs, edits, deletion, views and the learner's saved position.
//!
//! Visibility: anonymous callers see ready public videos; a signed-in caller also sees their
//! own (in any state); admins see every video by id. Anything else is 404, so a private video's
//! existence is not revealed.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, ClientAddr, JsonBody, MaybeCaller, QueryParams};
use crate::now_unix;
use crate::state::{AppState, Playback};

/// How long a video row is reused (views shown may lag this much; every change made through
/// the API drops the entry at once).
const ROW_TTL: Duration = Duration::from_secs(2);
/// How long an anonymous listing page is reused (a video published by `lectern import` from
/// another process shows up within this).
const LIST_TTL: Duration = Duration::from_secs(1);

/// A video row as cached: the view and its store prefix (`None`: no such video).
type CachedRow = Option<Arc<(VideoView, Option<String>)>>;

/// Recently read video rows and anonymous listing pages (as JSON), so hot reads skip SQL.
#[derive(Clone)]
pub struct VideoCaches {
    rows: crate::swr::SwrCache<CachedRow>,
    lists: crate::swr::SwrCache<Bytes>,
}

impl std::fmt::Debug for VideoCaches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VideoCaches")
    }
}

impl Default for VideoCaches {
    fn default() -> Self {
        Self {
            rows: crate::swr::SwrCache::new(100_000, ROW_TTL, Duration::from_secs(600)),
            lists: crate::swr::SwrCache::new(10_000, LIST_TTL, Duration::from_secs(60)),
        }
    }
}

impl VideoCaches {
    /// Adds `views` written to the database to a cached row (no re-read needed).
    pub async fn add_views(&self, video_id: &str, views: i64) {
        self.rows
            .update(video_id, |row| {
                row.as_ref().map(|found| {
                    let mut video = found.0.clone();
                    video.views += views;
                    Arc::new((video, found.1.clone()))
                })
            })
            .await;
    }

    /// A video changed (edited, deleted, processed): forget its row and every cached page.
    pub async fn changed(&self, video_id: &str) {
        self.rows.invalidate(video_id).await;
        self.lists.invalidate_all();
    }
}

/// One rendition of a video.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RenditionInfo {
    /// Picture height.
    pub height: u32,
    /// Picture width.
    pub width: u32,
    /// Average bits per second.
    pub bitrate: u64,
    /// Highest segment bit rate.
    pub peak_bitrate: u64,
}

/// The owner as shown with a video.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OwnerView {
    /// User id.
    pub id: String,
    /// Username.
    pub username: String,
}

/// A video as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VideoView {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// `processing`, `ready` or `failed`.
    pub status: String,
    /// 0–1 while processing.
    pub progress: f64,
    /// Why it failed.
    pub error: Option<String>,
    /// `public` or `private`.
    pub visibility: &'static str,
    /// Seconds, once known.
    pub duration: Option<f64>,
    /// Video renditions, highest first.
    pub renditions: Vec<RenditionInfo>,
    /// Poster image (JPEG), when one was made: unsigned under `/media` for public videos,
    /// signed under `/play` otherwise.
    pub poster_url: Option<String>,
    /// Owner (none for videos imported from the command line).
    pub owner: Option<OwnerView>,
    /// Views (at most one per viewer per hour).
    pub views: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Signed URLs, for a caller allowed to watch a ready video (detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playback: Option<Playback>,
}

const VIDEO_COLUMNS: &str = "v.id, v.title, v.description, v.tags, v.status, v.progress, v.error, \
     v.public, v.duration_ms, v.renditions, v.poster, v.owner, u.username AS owner_name, v.views, \
     v.created_at, v.prefix";

fn video_view(row: &sqlx::sqlite::SqliteRow) -> VideoView {
    let tags: String = row.get("tags");
    let owner: Option<String> = row.get("owner");
    let owner_name: Option<String> = row.get("owner_name");
    VideoView {
        id: row.get("id"),
        title: row.get("title"),
        description: row.get("description"),
        tags: tags.split_whitespace().map(str::to_string).collect(),
        status: row.get("status"),
        progress: row.get("progress"),
        error: row.get("error"),
        visibility: if row.get::<bool, _>("public") {
            "public"
        } else {
            "private"
        },
        duration: row
            .get::<Option<i64>, _>("duration_ms")
            .map(|ms| ms as f64 / 1000.0),
        renditions: serde_json::from_str(row.get::<&str, _>("renditions")).unwrap_or_default(),
        poster_url: row.get("poster"),
        owner: owner
            .zip(owner_name)
            .map(|(id, username)| OwnerView { id, username }),
        views: row.get("views"),
        created_at: row.get("created_at"),
        playback: None,
    }
}

/// Query of `GET /videos`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    page: Option<String>,
    per_page: Option<String>,
    sort: Option<String>,
    q: Option<String>,
    tag: Option<String>,
    owner: Option<String>,
}

/// A page of videos.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VideoPage {
    /// This page's videos.
    pub items: Vec<VideoView>,
    /// Videos matching in all.
    pub total: i64,
    /// Page number, from 1.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

fn parse_number(field: &str, value: Option<&str>, default: u32, max: u32) -> ApiResult<u32> {
    match value {
        None => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::invalid(field, format!("a whole number from 1 to {max}"))),
    }
}

/// Turns free text into an FTS5 query: every word must appear (as a prefix), quotes escaped,
/// so no input is an FTS5 syntax error.
pub fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// `GET /videos?page=&per_page=&sort=created|-created|views|title&q=&tag=&owner=`.
/// Anonymous pages are the same for everyone: they are cached for a second.
#[utoipa::path(get, path = "/api/v1/videos", tag = "videos", params(("page" = Option<String>, Query), ("per_page" = Option<String>, Query), ("sort" = Option<String>, Query), ("q" = Option<String>, Query), ("tag" = Option<String>, Query), ("owner" = Option<String>, Query)), responses((status = 200, description = "a page", body = VideoPage), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    QueryParams(query): QueryParams<ListQuery>,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let json = if caller.is_none() {
        let key = uri.query().unwrap_or("").to_string();
        let state_for_load = state.clone();
        state
            .videos
            .lists
            .get(&key, move || async move {
                let page = list_page(&state_for_load, None, &query).await?;
                serde_json::to_vec(&page)
                    .map(Bytes::from)
                    .map_err(|e| ApiError::Internal(e.to_string()))
            })
            .await?
    } else {
        let page = list_page(&state, caller.as_ref(), &query).await?;
        Bytes::from(serde_json::to_vec(&page).map_err(|e| ApiError::Internal(e.to_string()))?)
    };
    let mut response = json.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn list_page(
    state: &AppState,
    caller: Option<&Caller>,
    query: &ListQuery,
) -> ApiResult<VideoPage> {
    let page = parse_number("page", query.page.as_deref(), 1, 1_000_000)?;
    let per_page = parse_number("per_page", query.per_page.as_deref(), 20, 100)?;
    let order = match query.sort.as_deref().unwrap_or("-created") {
        // Ties broken by rowid, which the indexes carry: no sort step for the default order.
        "-created" => "v.created_at DESC, v.rowid DESC",
        "created" => "v.created_at ASC, v.rowid ASC",
        "views" => "v.views DESC, v.created_at DESC, v.rowid DESC",
        "title" => "v.title COLLATE NOCASE ASC, v.rowid",
        _ => {
            return Err(ApiError::invalid(
                "sort",
                "one of created, -created, views, title",
            ));
        }
    };
    let mut filter = String::from("(v.status = 'ready' AND v.public = 1");
    let mut binds: Vec<String> = Vec::new();
    if let Some(caller) = caller {
        filter.push_str(" OR v.owner = ?");
        binds.push(caller.id.clone());
    }
    filter.push(')');
    if let Some(q) = query.q.as_deref().filter(|q| !q.trim().is_empty()) {
        let Some(fts) = fts_query(q) else {
            return Ok(VideoPage {
                items: Vec::new(),
                total: 0,
                page,
                per_page,
            });
        };
        filter.push_str(" AND v.rowid IN (SELECT rowid FROM videos_fts WHERE videos_fts MATCH ?)");
        binds.push(fts);
    }
    if let Some(tag) = query.tag.as_deref().filter(|t| !t.is_empty()) {
        filter.push_str(" AND v.id IN (SELECT video_id FROM video_tags WHERE tag = ?)");
        binds.push(tag.to_lowercase());
    }
    if let Some(owner) = query.owner.as_deref().filter(|o| !o.is_empty()) {
        filter.push_str(" AND u.username = ?");
        binds.push(owner.to_string());
    }
    let from = "FROM videos v LEFT JOIN users u ON u.id = v.owner";
    // The join only matters to the count when filtering by owner.
    let count_from = if query.owner.as_deref().is_some_and(|o| !o.is_empty()) {
        from
    } else {
        "FROM videos v"
    };
    let count_sql = format!("SELECT COUNT(*) {count_from} WHERE {filter}");
    let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &binds {
        count = count.bind(b);
    }
    let total = count.fetch_one(state.db.pool()).await?;
    let sql =
        format!("SELECT {VIDEO_COLUMNS} {from} WHERE {filter} ORDER BY {order} LIMIT ? OFFSET ?");
    let mut select = sqlx::query(&sql);
    for b in &binds {
        select = select.bind(b);
    }
    let rows = select
        .bind(i64::from(per_page))
        .bind((i64::from(page) - 1) * i64::from(per_page))
        .fetch_all(state.db.pool())
        .await?;
    Ok(VideoPage {
        items: rows
            .iter()
            .map(|row| {
                let mut video = video_view(row);
                resolve_poster(state, &mut video, row.get("prefix"));
                video
            })
            .collect(),
        total,
        page,
        per_page,
    })
}

/// A video row the caller may see, with its store prefix; 404 otherwise.
pub async fn visible(
    state: &AppState,
    caller: Option<&Caller>,
    id: &str,
) -> ApiResult<(VideoView, Option<String>)> {
    let (db, key) = (state.db.clone(), id.to_string());
    let found = state
        .videos
        .rows
        .get(id, move || async move {
            let row = sqlx::query(&format!(
                "SELECT {VIDEO_COLUMNS} FROM videos v LEFT JOIN users u ON u.id = v.owner \
                 WHERE v.id = ?"
            ))
            .bind(&key)
            .fetch_optional(db.pool())
            .await?;
            Ok(row.map(|row| Arc::new((video_view(&row), row.get::<Option<String>, _>("prefix")))))
        })
        .await?
        .ok_or(ApiError::NotFound("no such video"))?;
    let (video, prefix) = (&found.0, &found.1);
    let mine =
        caller.is_some_and(|c| c.is_admin() || video.owner.as_ref().is_some_and(|o| o.id == c.id));
    let open = video.status == "ready" && video.visibility == "public";
    if mine || open {
        let mut video = video.clone();
        resolve_poster(state, &mut video, prefix.as_deref());
        Ok((video, prefix.clone()))
    } else {
        Err(ApiError::NotFound("no such video"))
    }
}

/// Turns the stored poster file name into a URL a browser can load (or none).
fn resolve_poster(state: &AppState, video: &mut VideoView, prefix: Option<&str>) {
    let name = video.poster_url.take();
    let (Some(name), Some(prefix)) = (name, prefix) else {
        return;
    };
    if video.status != "ready" {
        return;
    }
    video.poster_url = Some(if video.visibility == "public" {
        format!(
            "{}/{prefix}/{name}",
            state.config.public_base_url.trim_end_matches('/')
        )
    } else {
        let hls = state.media.playback(&video.id, None).hls;
        format!("{}{name}", hls.trim_end_matches("master.m3u8"))
    });
}

/// Whether the caller may change or delete the video (its owner or an admin).
fn may_edit(caller: &Caller, video: &VideoView) -> bool {
    caller.is_admin() || video.owner.as_ref().is_some_and(|o| o.id == caller.id)
}

/// `GET /videos/{id}`: the video, with signed playback URLs when it is ready. Counts a view
/// (once per viewer per hour; the viewer is the user, or the address when anonymous).
#[utoipa::path(get, path = "/api/v1/videos/{id}", tag = "videos", params(("id" = String, Path)), responses((status = 200, description = "the video", body = VideoView), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    ClientAddr(address): ClientAddr,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<VideoView>> {
    let (mut video, _) = visible(&state, caller.as_ref(), &id).await?;
    if video.status == "processing"
        && let Some(live) = state.jobs.live_progress(&video.id)
    {
        video.progress = live;
    }
    if video.status == "ready" {
        video.playback = Some(
            state
                .media
                .playback(&video.id, caller.as_ref().map(|c| c.id.as_str())),
        );
        let viewer = caller
            .as_ref()
            .map_or_else(|| format!("addr:{address}"), |c| format!("user:{}", c.id));
        state.views.count(&video.id, viewer);
    }
    video.views += state.views.unwritten(&video.id);
    Ok(axum::Json(video))
}

/// `PATCH /videos/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoPatch {
    title: Option<String>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    visibility: Option<String>,
}

/// Checks and normalises tags: at most 20, each 1–32 of lowercase letters, digits and `-`.
pub fn check_tags(tags: &[String]) -> ApiResult<Vec<String>> {
    if tags.len() > 20 {
        return Err(ApiError::invalid("tags", "at most 20 tags"));
    }
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        let ok = (1..=32).contains(&tag.chars().count())
            && tag.chars().all(|c| c.is_alphanumeric() || c == '-');
        if !ok {
            return Err(ApiError::invalid(
                "tags",
                "each tag is 1 to 32 letters, digits or '-'",
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// Checks a title: 1–200 characters.
pub fn check_title(title: &str) -> ApiResult<String> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ApiError::invalid("title", "1 to 200 characters"));
    }
    Ok(title.to_string())
}

/// Checks a description: at most 5000 characters.
pub fn check_description(description: &str) -> ApiResult<()> {
    if description.chars().count() > 5000 {
        return Err(ApiError::invalid("description", "at most 5000 characters"));
    }
    Ok(())
}

/// `PATCH /videos/{id}` (owner, admin): title, description, tags, visibility.
#[utoipa::path(patch, path = "/api/v1/videos/{id}", tag = "videos", params(("id" = String, Path)), request_body = VideoPatch, responses((status = 200, description = "updated", body = VideoView), (status = 403, description = "not the owner", body = ErrorBody), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VideoPatch>,
) -> ApiResult<axum::Json<VideoView>> {
    let (video, _) = visible(&state, Some(&caller), &id).await?;
    if !may_edit(&caller, &video) {
        return Err(ApiError::Forbidden(
            "only the owner or an admin may edit a video",
        ));
    }
    let title = body.title.as_deref().map(check_title).transpose()?;
    if let Some(d) = &body.description {
        check_description(d)?;
    }
    let tags = body.tags.as_deref().map(check_tags).transpose()?;
    let public = match body.visibility.as_deref() {
        None => None,
        Some("public") => Some(true),
        Some("private") => Some(false),
        Some(_) => return Err(ApiError::invalid("visibility", "public or private")),
    };
    let mut tx = state.db.pool().begin().await?;
    sqlx::query(
        "UPDATE videos SET title = COALESCE(?, title), description = COALESCE(?, description),
         tags = COALESCE(?, tags), public = COALESCE(?, public) WHERE id = ?",
    )
    .bind(title)
    .bind(&body.description)
    .bind(tags.as_ref().map(|t| t.join(" ")))
    .bind(public)
    .bind(&id)
    .execute(&mut *tx)
    .await?;
    if let Some(tags) = &tags {
        sqlx::query("DELETE FROM video_tags WHERE video_id = ?")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        for tag in tags {
            sqlx::query("INSERT INTO video_tags (video_id, tag) VALUES (?, ?)")
                .bind(&id)
                .bind(tag)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    state.videos.changed(&id).await;
    if public.is_some() {
        // Public media URLs appear or disappear: the origin must ask again.
        state.media.changed(&id).await;
    }
    let (video, _) = visible(&state, Some(&caller), &id).await?;
    Ok(axum::Json(video))
}

/// `DELETE /videos/{id}` (owner, admin): rows, stored media and cached copies go; its URLs
/// answer 404 from then on.
#[utoipa::path(delete, path = "/api/v1/videos/{id}", tag = "videos", params(("id" = String, Path)), responses((status = 204, description = "deleted with its media"), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let (video, prefix) = visible(&state, Some(&caller), &id).await?;
    if !may_edit(&caller, &video) {
        return Err(ApiError::Forbidden(
            "only the owner or an admin may delete a video",
        ));
    }
    // The row first: from this moment nothing new is served for it. Then the media.
    sqlx::query("DELETE FROM videos WHERE id = ?")
        .bind(&id)
        .execute(state.db.pool())
        .await?;
    state.videos.changed(&id).await;
    state
        .media
        .remove(&id, prefix.as_deref())
        .await
        .map_err(ApiError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A learner's place in a video.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// Seconds from the start.
    pub seconds: f64,
}

/// `GET /videos/{id}/position`: where the caller stopped (0 if never saved).
#[utoipa::path(get, path = "/api/v1/videos/{id}/position", tag = "videos", params(("id" = String, Path)), responses((status = 200, description = "where the caller stopped", body = Position), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn get_position(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Position>> {
    visible(&state, Some(&caller), &id).await?;
    let seconds: Option<f64> =
        sqlx::query_scalar("SELECT seconds FROM positions WHERE user_id = ? AND video_id = ?")
            .bind(&caller.id)
            .bind(&id)
            .fetch_optional(state.db.pool())
            .await?;
    Ok(axum::Json(Position {
        seconds: seconds.unwrap_or(0.0),
    }))
}

/// `PUT /videos/{id}/position` {seconds}: 0 ≤ seconds ≤ duration, else 422.
#[utoipa::path(put, path = "/api/v1/videos/{id}/position", tag = "videos", params(("id" = String, Path)), request_body = Position, responses((status = 200, description = "saved", body = Position), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn put_position(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Position>,
) -> ApiResult<axum::Json<Position>> {
    let (video, _) = visible(&state, Some(&caller), &id).await?;
    check_time("seconds", body.seconds, video.duration)?;
    sqlx::query(
        "INSERT INTO positions (user_id, video_id, seconds, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, video_id) DO UPDATE SET seconds = excluded.seconds,
         updated_at = excluded.updated_at",
    )
    .bind(&caller.id)
    .bind(&id)
    .bind(body.seconds)
    .bind(now_unix())
    .execute(state.db.pool())
    .await?;
    Ok(axum::Json(body))
}

/// A time in a video: finite, 0 ≤ t ≤ duration (when the duration is known).
pub fn check_time(field: &str, t: f64, duration: Option<f64>) -> ApiResult<()> {
    let within = t.is_finite() && t >= 0.0 && duration.is_none_or(|d| t <= d + 0.001);
    if within {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            match duration {
                Some(d) => format!("must be between 0 and the video's duration ({d:.3} s)"),
                None => "must be 0 or more".to_string(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_becomes_a_safe_fts_query() {
        assert_eq!(
            fts_query("Fourier  series").as_deref(),
            Some("\"Fourier\"* \"series\"*")
        );
        assert_eq!(
            fts_query("\"a\" OR b*").as_deref(),
            Some("\"a\"* \"OR\"* \"b\"*")
        );
        assert_eq!(fts_query("  --  "), None);
    }

    #[test]
    fn tags_titles_and_times_are_checked() {
        assert_eq!(
            check_tags(&["Math".into(), "math".into(), "calc-1".into()]).expect("ok"),
            vec!["math", "calc-1"]
        );
        assert!(check_tags(&["a b".into()]).is_err());
        assert!(check_tags(&vec!["t".to_string(); 21]).is_err());
        assert!(check_title("  ").is_err());
        assert!(check_time("t", 5.0, Some(4.0)).is_err());
        assert!(check_time("t", -1.0, None).is_err());
        assert!(check_time("t", f64::NAN, None).is_err());
        assert!(check_time("t", 4.0, Some(4.0)).is_ok());
    }
}
