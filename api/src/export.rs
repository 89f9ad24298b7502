//! Exports of a learner's marks (with annotations) and notes: plain text, Markdown, JSON,
//! WebVTT and SRT for one video, or every video at once in a zip.
//!
//! Timestamps are `hh:mm:ss` with a link back to the moment (`{base}/watch/{id}?t={seconds}`).
//! Text is written as stored but escaped for its format: Markdown output cannot carry HTML or
//! links the author did not make through Lectern, WebVTT cues cannot close themselves early.
//!
//! Routes: `GET /videos/{id}/export?format=txt|md|json|vtt|srt`, `GET /export?format=…`.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::Row;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Caller, QueryParams};
use crate::marks::{MarkView, marks_of};
use crate::notes::{NoteView, notes_of};
use crate::state::AppState;
use crate::videos::visible;

/// Seconds a mark or note's cue lasts in WebVTT and SRT.
const CUE_SECONDS: f64 = 5.0;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text.
    Txt,
    /// Markdown.
    Md,
    /// JSON.
    Json,
    /// WebVTT.
    Vtt,
    /// SubRip.
    Srt,
}

impl Format {
    fn parse(text: Option<&str>) -> ApiResult<Self> {
        match text.unwrap_or("md") {
            "txt" => Ok(Self::Txt),
            "md" => Ok(Self::Md),
            "json" => Ok(Self::Json),
            "vtt" => Ok(Self::Vtt),
            "srt" => Ok(Self::Srt),
            _ => Err(ApiError::invalid(
                "format",
                "one of txt, md, json, vtt, srt",
            )),
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Txt => "txt",
            Self::Md => "md",
            Self::Json => "json",
            Self::Vtt => "vtt",
            Self::Srt => "srt",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Txt => "text/plain; charset=utf-8",
            Self::Md => "text/markdown; charset=utf-8",
            Self::Json => "application/json",
            Self::Vtt => "text/vtt; charset=utf-8",
            Self::Srt => "application/x-subrip; charset=utf-8",
        }
    }
}

/// Query of both export routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    format: Option<String>,
}

/// What one video's export holds.
pub struct Export {
    /// Video id.
    pub video_id: String,
    /// Video title.
    pub title: String,
    /// The caller's marks, by time.
    pub marks: Vec<MarkView>,
    /// The caller's notes, by time.
    pub notes: Vec<NoteView>,
    /// Start of links back to the video (`{base}/watch/{id}`).
    pub watch_url: String,
}

/// `hh:mm:ss` of a time in seconds (whole seconds, rounded down).
pub fn hms(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `hh:mm:ss.mmm` (WebVTT) or `hh:mm:ss,mmm` (SRT).
fn cue_time(seconds: f64, separator: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Every Markdown punctuation mark: escaped in text that must read exactly as typed.
const MD_PUNCTUATION: &str = "\\`*_{}[]()#+-.!|~";
/// What a note keeps of Markdown: its formatting, but no links, images or escapes.
const MD_LINKS: &str = "\\[]()!";

/// HTML special characters become entities and the characters in `backslashed` get a `\`.
fn md_escape_with(text: &str, backslashed: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if backslashed.contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for Markdown so it reads as the author typed it: HTML special characters
/// become entities and every Markdown punctuation mark is backslash-escaped.
pub fn md_escape(text: &str) -> String {
    md_escape_with(text, MD_PUNCTUATION)
}

/// Escapes a note's Markdown for the Markdown export: its formatting stays, but raw HTML
/// becomes text and brackets are escaped, so it can make no links, images or tags.
pub fn md_note(text: &str) -> String {
    md_escape_with(text, MD_LINKS)
}

/// Escapes cue text for WebVTT: entities for `&`, `<`, `>`, no blank lines, no `-->`.
fn vtt_text(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("-->", "→");
    one_paragraph(&escaped)
}

/// Drops blank lines (they would end a cue).
fn one_paragraph(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A moment's link back to the video.
fn link(export: &Export, seconds: f64) -> String {
    format!("{}?t={}", export.watch_url, seconds.max(0.0) as u64)
}

/// Renders one video's export.
pub fn render(export: &Export, format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Txt => {
            let _ = writeln!(out, "{}\n{}\n", export.title, export.watch_url);
            let _ = writeln!(out, "Marks");
            for m in &export.marks {
                let _ = writeln!(
                    out,
                    "[{}] ({}) {}  {}",
                    hms(m.time),
                    m.category,
                    one_line(&m.content),
                    link(export, m.time)
                );
                for a in &m.annotations {
                    let _ = writeln!(out, "    - {}", one_line(&a.content));
                }
            }
            let _ = writeln!(out, "\nNotes");
            for n in &export.notes {
                let when = n.time.map_or_else(|| "--:--:--".to_string(), hms);
                let _ = writeln!(out, "[{when}]");
                for line in n.content.lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        Format::Md => {
            let _ = writeln!(out, "# {}\n", md_escape(&export.title));
            let _ = writeln!(out, "## Marks\n");
            for m in &export.marks {
                let _ = writeln!(
                    out,
                    "- [{}]({}) **{}**: {}",
                    hms(m.time),
                    link(export, m.time),
                    md_escape(&m.category),
                    md_escape(&one_line(&m.content))
                );
                for a in &m.annotations {
                    let _ = writeln!(out, "  - {}", md_escape(&one_line(&a.content)));
                }
            }
            let _ = writeln!(out, "\n## Notes\n");
            for n in &export.notes {
                match n.time {
                    Some(t) => {
                        let _ = writeln!(out, "### [{}]({})\n", hms(t), link(export, t));
                    }
                    None => {
                        let _ = writeln!(out, "### Note\n");
                    }
                }
                let _ = writeln!(out, "{}\n", md_note(&n.content));
            }
        }
        Format::Json => {
            let value = serde_json::json!({
                "video": { "id": export.video_id, "title": export.title, "url": export.watch_url },
                "marks": export.marks.iter().map(|m| serde_json::json!({
                    "time": m.time, "timestamp": hms(m.time), "link": link(export, m.time),
                    "category": m.category, "content": m.content,
                    "annotations": m.annotations.iter().map(|a| &a.content).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "notes": export.notes.iter().map(|n| serde_json::json!({
                    "time": n.time, "timestamp": n.time.map(hms),
                    "link": n.time.map(|t| link(export, t)), "content": n.content,
                })).collect::<Vec<_>>(),
            });
            out = serde_json::to_string_pretty(&value).unwrap_or_default();
        }
        Format::Vtt | Format::Srt => {
            let vtt = format == Format::Vtt;
            if vtt {
                out.push_str("WEBVTT\n\n");
            }
            let mut cues: Vec<(f64, String)> = export
                .marks
                .iter()
                .map(|m| {
                    let mut text = format!("[{}] {}", m.category, m.content);
                    for a in &m.annotations {
                        text.push_str(&format!("\n- {}", a.content));
                    }
                    (m.time, text)
                })
                .chain(
                    export
                        .notes
                        .iter()
                        .filter_map(|n| n.time.map(|t| (t, n.content.clone()))),
                )
                .collect();
            cues.sort_by(|a, b| a.0.total_cmp(&b.0));
            let separator = if vtt { '.' } else { ',' };
            for (i, (start, text)) in cues.iter().enumerate() {
                let text = if vtt {
                    vtt_text(text)
                } else {
                    one_paragraph(text)
                };
                let _ = writeln!(
                    out,
                    "{}\n{} --> {}\n{}\n",
                    i + 1,
                    cue_time(*start, separator),
                    cue_time(start + CUE_SECONDS, separator),
                    if text.is_empty() { "-" } else { &text }
                );
            }
        }
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A file-name-safe form of a title.
fn slug(title: &str, fallback: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 60 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        fallback.to_string()
    } else {
        slug
    }
}

async fn export_of(state: &AppState, caller: &Caller, video_id: &str) -> ApiResult<Export> {
    let (video, _) = visible(state, Some(caller), video_id).await?;
    Ok(Export {
        marks: marks_of(state, &caller.id, video_id, None).await?,
        notes: notes_of(state, &caller.id, video_id).await?,
        watch_url: format!(
            "{}/watch/{}",
            state.config.public_base_url.trim_end_matches('/'),
            video.id
        ),
        video_id: video.id,
        title: video.title,
    })
}

fn attachment(body: Vec<u8>, content_type: &'static str, file_name: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /videos/{id}/export?format=`: the caller's marks and notes on one video.
#[utoipa::path(get, path = "/api/v1/videos/{id}/export", tag = "export", params(("id" = String, Path), ("format" = Option<String>, Query)), responses((status = 200, description = "a file (txt, md, json, vtt or srt)"), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
    QueryParams(query): QueryParams<ExportQuery>,
) -> ApiResult<Response> {
    let format = Format::parse(query.format.as_deref())?;
    let export = export_of(&state, &caller, &video_id).await?;
    let name = format!(
        "{}.{}",
        slug(&export.title, &export.video_id),
        format.extension()
    );
    Ok(attachment(
        render(&export, format).into_bytes(),
        format.content_type(),
        &name,
    ))
}

/// `GET /export?format=`: every video the caller marked or took notes on, one file each, in
/// a zip.
#[utoipa::path(get, path = "/api/v1/export", tag = "export", params(("format" = Option<String>, Query)), responses((status = 200, description = "a zip of every video's export", content_type = "application/zip"), (status = 400, description = "bad request", body = ErrorBody), (status = 401, description = "not signed in", body = ErrorBody), (status = 404, description = "not found (or not yours)", body = ErrorBody), (status = 422, description = "a field is invalid", body = ErrorBody)))]
pub async fn all(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ExportQuery>,
) -> ApiResult<Response> {
    let format = Format::parse(query.format.as_deref())?;
    let ids: Vec<String> = sqlx::query(
        "SELECT video_id FROM marks WHERE user_id = ? UNION SELECT video_id FROM notes WHERE user_id = ?",
    )
    .bind(&caller.id)
    .bind(&caller.id)
    .fetch_all(state.db.pool())
    .await?
    .iter()
    .map(|r| r.get("video_id"))
    .collect();
    let mut files = Vec::new();
    for id in ids {
        match export_of(&state, &caller, &id).await {
            Ok(export) => files.push((
                format!(
                    "{}-{}.{}",
                    slug(&export.title, &export.video_id),
                    export.video_id,
                    format.extension()
                ),
                render(&export, format),
            )),
            // No longer visible (made private by its owner): left out.
            Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let zip = crate::auth::blocking(move || zip_files(&files)).await??;
    Ok(attachment(zip, "application/zip", "lectern-export.zip"))
}

fn zip_files(files: &[(String, String)]) -> ApiResult<Vec<u8>> {
    use std::io::Write as _;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in files {
        writer
            .start_file(name.as_str(), options)
            .map_err(|e| ApiError::Internal(format!("zip: {e}")))?;
        writer
            .write_all(text.as_bytes())
            .map_err(|e| ApiError::Internal(format!("zip: {e}")))?;
    }
    writer
        .finish()
        .map(std::io::Cursor::into_inner)
        .map_err(|e| ApiError::Internal(format!("zip: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marks::AnnotationView;

    fn sample() -> Export {
        Export {
            video_id: "v1".into(),
            title: "Waves <script>".into(),
            marks: vec![MarkView {
                id: "m1".into(),
                video_id: "v1".into(),
                time: 65.4,
                category: "key point".into(),
                content: "Fourier [click](javascript:alert(1)) <img src=x>".into(),
                annotations: vec![AnnotationView {
                    id: "a1".into(),
                    mark_id: "m1".into(),
                    content: "see *book*".into(),
                    created_at: 0,
                    updated_at: 0,
                }],
                created_at: 0,
                updated_at: 0,
            }],
            notes: vec![NoteView {
                id: "n1".into(),
                video_id: "v1".into(),
                time: Some(3725.0),
                content: "**bold** <b>html</b>\n\n--> end".into(),
                created_at: 0,
                updated_at: 0,
            }],
            watch_url: "https://l.example/watch/v1".into(),
        }
    }

    #[test]
    fn markdown_keeps_links_to_moments_and_carries_no_html() {
        let md = render(&sample(), Format::Md);
        assert!(
            md.contains("- [00:01:05](https://l.example/watch/v1?t=65) **key point**"),
            "{md}"
        );
        assert!(
            md.contains("### [01:02:05](https://l.example/watch/v1?t=3725)"),
            "{md}"
        );
        assert!(!md.contains('<'), "no raw tags: {md}");
        assert!(
            !md.contains("](javascript"),
            "no links the author smuggled in: {md}"
        );
        assert!(
            md.contains("**bold**"),
            "a note's own formatting stays: {md}"
        );
        assert!(md.contains("see \\*book\\*"), "{md}");
    }

    #[test]
    fn cues_are_timed_and_cannot_break_out() {
        let vtt = render(&sample(), Format::Vtt);
        assert!(
            vtt.starts_with("WEBVTT\n\n1\n00:01:05.400 --> 00:01:10.400\n[key point]"),
            "{vtt}"
        );
        assert!(vtt.contains("01:02:05.000 --> 01:02:10.000"), "{vtt}");
        assert_eq!(
            vtt.matches("-->").count(),
            2,
            "no --> inside cue text: {vtt}"
        );
        assert!(!vtt.contains("<b>"));
        let srt = render(&sample(), Format::Srt);
        assert!(
            srt.starts_with("1\n00:01:05,400 --> 00:01:10,400\n"),
            "{srt}"
        );
        let cue_blocks: Vec<&str> = srt.trim().split("\n\n").collect();
        assert_eq!(cue_blocks.len(), 2, "no blank line inside a cue: {srt}");
    }

    #[test]
    fn text_and_json_have_timestamps_and_links() {
        let txt = render(&sample(), Format::Txt);
        assert!(txt.contains("[00:01:05] (key point)"));
        assert!(txt.contains("https://l.example/watch/v1?t=65"));
        let json: serde_json::Value =
            serde_json::from_str(&render(&sample(), Format::Json)).expect("JSON");
        assert_eq!(json["marks"][0]["timestamp"], "00:01:05");
        assert_eq!(
            json["notes"][0]["link"],
            "https://l.example/watch/v1?t=3725"
        );
        assert_eq!(json["marks"][0]["annotations"][0], "see *book*");
        assert_eq!(slug("Waves <script>", "v1"), "waves-script");
        assert_eq!(slug("???", "v1"), "v1");
    }
}
