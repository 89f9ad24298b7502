//! The videos API against a real `lectern serve` with imported media: who sees what (owner,
//! other user, anonymous, admin), listing with search, tags, sort and pages, signed playback
//! URLs that play, edits, views once an hour, saved positions, and deletion down to the media.

mod common;

use common::server::{Api, Served, create_user, import};
use common::{Clip, make_clip};
use serde_json::json;

fn get_status(api: &Api, url: &str) -> u16 {
    api.raw("GET", &format!("{}{url}", api.base), None, None, None)
        .status
}

#[test]
fn permissions_listing_playback_edits_views_positions_and_deletion() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    create_user(&data, "olga", "creator");
    create_user(&data, "oscar", "viewer");
    create_user(&data, "root", "admin");
    let clip = make_clip(
        tmp.path(),
        "c.mp4",
        &Clip {
            size: (426, 240),
            seconds: 3.0,
            ..Clip::default()
        },
    )
    .expect("clip");
    let private = import(
        &data,
        &clip,
        &["--owner", "olga", "--title", "Fourier series, part 1"],
    );
    let public = import(
        &data,
        &clip,
        &["--owner", "olga", "--public", "--title", "Linear algebra"],
    );
    let (private_id, public_id) = (
        private["id"].as_str().expect("id").to_string(),
        public["id"].as_str().expect("id").to_string(),
    );
    let server = Served::start(&data, &[]);
    let api = server.api();
    let (olga, _, _) = api.sign_in("olga", "olga-password");
    let (oscar, _, _) = api.sign_in("oscar", "oscar-password");
    let (root, _, _) = api.sign_in("root", "root-password");

    // Listing: anonymous and others see the public one; the owner sees both.
    let ids = |token: Option<&str>, query: &str| -> Vec<String> {
        let r = api.call("GET", &format!("/api/v1/videos{query}"), token, None);
        assert_eq!(r.status, 200, "{query}: {}", r.text);
        let items = r.body["items"].as_array().expect("items").len() as u64;
        let total = r.body["total"].as_u64().expect("total");
        assert!(
            total >= items && (query.contains("page") || total == items),
            "{query}: {}",
            r.text
        );
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|v| v["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(ids(None, ""), vec![public_id.clone()]);
    assert_eq!(ids(Some(&oscar), ""), vec![public_id.clone()]);
    let mut both = ids(Some(&olga), "");
    both.sort();
    let mut want = vec![private_id.clone(), public_id.clone()];
    want.sort();
    assert_eq!(both, want);
    assert_eq!(
        ids(Some(&olga), "?q=fourier"),
        vec![private_id.clone()],
        "search by title word"
    );
    assert_eq!(
        ids(Some(&olga), "?q=four"),
        vec![private_id.clone()],
        "prefixes match"
    );
    assert!(
        ids(None, "?q=fourier").is_empty(),
        "search never shows others' private videos"
    );
    assert_eq!(
        ids(Some(&olga), "?sort=title"),
        vec![private_id.clone(), public_id.clone()]
    );
    assert_eq!(
        ids(Some(&olga), "?sort=title&per_page=1&page=2"),
        vec![public_id.clone()]
    );
    assert_eq!(ids(None, "?owner=olga"), vec![public_id.clone()]);
    assert!(ids(None, "?owner=oscar").is_empty());
    for (query, field) in [
        ("?sort=size", "sort"),
        ("?per_page=0", "per_page"),
        ("?per_page=101", "per_page"),
        ("?page=x", "page"),
    ] {
        let r = api.call("GET", &format!("/api/v1/videos{query}"), None, None);
        assert_eq!(
            (r.status, r.body["error"]["field"].as_str()),
            (422, Some(field)),
            "{query}"
        );
    }
    assert_eq!(
        api.call("GET", "/api/v1/videos?colour=red", None, None)
            .status,
        400
    );

    // One video: private is 404 to everyone but its owner and admins.
    let detail = |token: Option<&str>, id: &str| {
        api.call("GET", &format!("/api/v1/videos/{id}"), token, None)
    };
    assert_eq!(detail(None, &private_id).status, 404);
    assert_eq!(detail(Some(&oscar), &private_id).status, 404);
    assert_eq!(detail(None, "nope").status, 404);
    let mine = detail(Some(&olga), &private_id);
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(detail(Some(&root), &private_id).status, 200);
    assert_eq!(mine.body["owner"]["username"], "olga");
    assert_eq!(mine.body["visibility"], "private");
    assert_eq!(mine.body["status"], "ready");
    let duration = mine.body["duration"].as_f64().expect("duration");
    assert!((duration - 3.0).abs() < 0.2, "{duration}");
    let heights: Vec<u64> = mine.body["renditions"]
        .as_array()
        .expect("renditions")
        .iter()
        .map(|r| r["height"].as_u64().expect("h"))
        .collect();
    assert_eq!(heights, vec![240], "{}", mine.text);
    let hls = mine.body["playback"]["hls"].as_str().expect("playback URL");
    assert_eq!(get_status(&api, hls), 200, "the signed URL plays");
    // Posters: signed for a private video, plain /media for a public one; both real JPEGs.
    let private_poster = mine.body["poster_url"]
        .as_str()
        .expect("a poster")
        .to_string();
    assert!(
        private_poster.starts_with("/play/") && private_poster.ends_with("/poster.jpg"),
        "{private_poster}"
    );
    let public_poster = detail(None, &public_id).body["poster_url"]
        .as_str()
        .expect("poster")
        .to_string();
    assert!(
        public_poster.starts_with(&format!("/media/{public_id}/")),
        "{public_poster}"
    );
    for url in [&private_poster, &public_poster] {
        let r = api.raw("GET", &format!("{}{url}", api.base), None, None, None);
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some("image/jpeg")),
            "{url}"
        );
        assert_eq!(&r.bytes[..2], &[0xFF, 0xD8], "a JPEG");
    }
    let listed_poster =
        api.call("GET", "/api/v1/videos", None, None).body["items"][0]["poster_url"].clone();
    assert_eq!(
        listed_poster.as_str(),
        Some(public_poster.as_str()),
        "listings carry posters too"
    );
    assert_eq!(
        get_status(&api, &hls.replace("master.m3u8", "240p/1.m4s")),
        200
    );

    // Views: the same viewer counts once an hour.
    let before = detail(None, &public_id).body["views"]
        .as_i64()
        .expect("views");
    let again = detail(None, &public_id).body["views"]
        .as_i64()
        .expect("views");
    assert_eq!(again, before, "second view in the hour is not counted");
    let by_oscar = detail(Some(&oscar), &public_id).body["views"]
        .as_i64()
        .expect("views");
    assert_eq!(by_oscar, before + 1, "another viewer counts");

    // Edits: owner yes; another user 403 on a public video, 404 on a private one; admin yes.
    let patch = |token: &str, id: &str, body: serde_json::Value| {
        api.call(
            "PATCH",
            &format!("/api/v1/videos/{id}"),
            Some(token),
            Some(&body),
        )
    };
    let r = patch(
        &olga,
        &private_id,
        json!({"title": "Fourier analysis", "tags": ["Math", "signals"], "description": "Week 3"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["tags"], json!(["math", "signals"]));
    assert_eq!(
        patch(&oscar, &public_id, json!({"title": "mine now"})).status,
        403
    );
    assert_eq!(
        patch(&oscar, &private_id, json!({"title": "mine now"})).status,
        404
    );
    assert_eq!(
        patch(&root, &public_id, json!({"tags": ["algebra"]})).status,
        200
    );
    assert_eq!(
        api.call(
            "PATCH",
            &format!("/api/v1/videos/{public_id}"),
            None,
            Some(&json!({"title": "x"}))
        )
        .status,
        401
    );
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"visibility": "secret"}), "visibility"),
        (json!({"tags": ["has space"]}), "tags"),
        (json!({"description": "d".repeat(5001)}), "description"),
    ] {
        let r = patch(&olga, &private_id, body.clone());
        assert_eq!(
            (r.status, r.body["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}"
        );
    }
    assert_eq!(
        patch(&olga, &private_id, json!({"owner": "oscar"})).status,
        400,
        "unknown field"
    );
    assert_eq!(
        ids(Some(&olga), "?q=analysis"),
        vec![private_id.clone()],
        "search follows edits"
    );
    assert_eq!(
        ids(Some(&olga), "?q=week"),
        vec![private_id.clone()],
        "and descriptions"
    );
    assert_eq!(ids(Some(&olga), "?tag=signals"), vec![private_id.clone()]);
    // Made public: anonymous callers see it.
    assert_eq!(
        patch(&olga, &private_id, json!({"visibility": "public"})).status,
        200
    );
    assert_eq!(ids(None, "?tag=signals"), vec![private_id.clone()]);

    // Positions.
    let position = format!("/api/v1/videos/{public_id}/position");
    assert_eq!(
        api.call("GET", &position, Some(&oscar), None).body["seconds"],
        0.0
    );
    assert_eq!(
        api.call(
            "PUT",
            &position,
            Some(&oscar),
            Some(&json!({"seconds": 2.5}))
        )
        .status,
        200
    );
    assert_eq!(
        api.call("GET", &position, Some(&oscar), None).body["seconds"],
        2.5
    );
    assert_eq!(
        api.call("GET", &position, Some(&olga), None).body["seconds"],
        0.0,
        "positions are per user"
    );
    let r = api.call(
        "PUT",
        &position,
        Some(&oscar),
        Some(&json!({"seconds": 99})),
    );
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (422, Some("seconds"))
    );
    assert_eq!(
        api.call(
            "PUT",
            &position,
            Some(&oscar),
            Some(&json!({"seconds": -1}))
        )
        .status,
        422
    );
    assert_eq!(
        api.call("PUT", &position, None, Some(&json!({"seconds": 1})))
            .status,
        401
    );

    // Deletion: others cannot; the owner can, and everything goes.
    let public_hls = detail(None, &public_id).body["playback"]["hls"]
        .as_str()
        .expect("hls")
        .to_string();
    assert_eq!(get_status(&api, &public_hls), 200);
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/videos/{public_id}"),
            Some(&oscar),
            None
        )
        .status,
        403
    );
    assert_eq!(
        api.call("DELETE", &format!("/api/v1/videos/{public_id}"), None, None)
            .status,
        401
    );
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/videos/{public_id}"),
            Some(&olga),
            None
        )
        .status,
        204
    );
    assert_eq!(detail(Some(&olga), &public_id).status, 404);
    assert_eq!(
        get_status(&api, &public_hls),
        404,
        "its URLs answer 404 at once"
    );
    assert_eq!(
        get_status(&api, &public_hls.replace("master.m3u8", "240p/1.m4s")),
        404
    );
    let media = data.join("store/media").join(&public_id);
    assert!(
        !media.exists() || std::fs::read_dir(&media).expect("dir").next().is_none(),
        "media removed"
    );
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/videos/{private_id}"),
            Some(&root),
            None
        )
        .status,
        204,
        "admins delete too"
    );
}
