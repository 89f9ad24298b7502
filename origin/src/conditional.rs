//! Conditional requests (RFC 9110 §13): `If-None-Match`, `If-Modified-Since`, `If-Range`.
//!
//! Media objects are immutable, so their validators never change once written: a strong ETag
//! derived from their content identity, and the time they were stored.

use std::time::SystemTime;

/// An object's validators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators<'a> {
    /// The strong entity tag, with its quotes (`"abc"`).
    pub etag: &'a str,
    /// When the object was stored.
    pub last_modified: SystemTime,
}

fn opaque(tag: &str) -> &str {
    tag.trim().strip_prefix("W/").unwrap_or(tag.trim())
}

/// True when the request's preconditions say the client's copy is current: answer 304.
///
/// `If-None-Match` uses the weak comparison and, when present, `If-Modified-Since` is ignored
/// (§13.1.3). An unparsable date is ignored.
pub fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    object: &Validators<'_>,
) -> bool {
    if let Some(list) = if_none_match {
        return list.split(',').any(|tag| {
            let tag = tag.trim();
            tag == "*" || opaque(tag) == object.etag
        });
    }
    match if_modified_since.and_then(|d| httpdate::parse_http_date(d.trim()).ok()) {
        // HTTP dates have whole seconds: compare at that resolution.
        Some(since) => httpdate::fmt_http_date(object.last_modified)
            .parse::<httpdate::HttpDate>()
            .map(SystemTime::from)
            .is_ok_and(|modified| modified <= since),
        None => false,
    }
}

/// True when an `If-Range` value still names this object, so the range may be served
/// (§13.1.5: a strong ETag match, or the exact Last-Modified date).
pub fn if_range_matches(if_range: &str, object: &Validators<'_>) -> bool {
    let value = if_range.trim();
    if value.starts_with('"') {
        return value == object.etag;
    }
    if value.starts_with("W/") {
        return false;
    }
    httpdate::parse_http_date(value).is_ok_and(|date| {
        httpdate::fmt_http_date(date) == httpdate::fmt_http_date(object.last_modified)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn object() -> Validators<'static> {
        Validators {
            etag: "\"abc\"",
            last_modified: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
        }
    }

    #[test]
    fn if_none_match() {
        let o = object();
        assert!(not_modified(Some("\"abc\""), None, &o));
        assert!(not_modified(Some("W/\"abc\""), None, &o));
        assert!(not_modified(Some("\"x\", \"abc\""), None, &o));
        assert!(not_modified(Some("*"), None, &o));
        assert!(!not_modified(Some("\"x\""), None, &o));
        // If-None-Match present: the date is not consulted.
        let date = httpdate::fmt_http_date(o.last_modified);
        assert!(!not_modified(Some("\"x\""), Some(&date), &o));
    }

    #[test]
    fn if_modified_since() {
        let o = object();
        let same = httpdate::fmt_http_date(o.last_modified);
        assert!(not_modified(None, Some(&same), &o), "same second");
        let later = httpdate::fmt_http_date(o.last_modified + Duration::from_secs(60));
        assert!(not_modified(None, Some(&later), &o));
        let earlier = httpdate::fmt_http_date(o.last_modified - Duration::from_secs(60));
        assert!(!not_modified(None, Some(&earlier), &o));
        assert!(!not_modified(None, Some("yesterday"), &o));
        assert!(!not_modified(None, None, &o));
    }

    #[test]
    fn if_range() {
        let o = object();
        assert!(if_range_matches("\"abc\"", &o));
        assert!(!if_range_matches("\"old\"", &o));
        assert!(
            !if_range_matches("W/\"abc\"", &o),
            "weak tags never match If-Range"
        );
        assert!(if_range_matches(
            &httpdate::fmt_http_date(o.last_modified),
            &o
        ));
        let other = httpdate::fmt_http_date(o.last_modified + Duration::from_secs(1));
        assert!(!if_range_matches(&other, &o));
        assert!(!if_range_matches("garbage", &o));
    }
}
