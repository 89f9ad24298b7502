//! Marks, annotations, notes and comments against a real `lectern serve`: the permission
//! matrix (author, other user, anonymous, admin, video owner), validation, ordering and
//! filtering, and the exports (one video in every format, every video in a zip).

mod common;

use std::io::Read;

use common::server::{Served, create_user, import};
use common::{Clip, make_clip};
use serde_json::json;

#[test]
fn marks_notes_comments_permissions_and_exports() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    for (name, role) in [
        ("tina", "creator"),
        ("lena", "viewer"),
        ("max", "viewer"),
        ("root", "admin"),
    ] {
        create_user(&data, name, role);
    }
    let clip = make_clip(
        tmp.path(),
        "c.mp4",
        &Clip {
            size: (320, 240),
            seconds: 4.0,
            ..Clip::default()
        },
    )
    .expect("clip");
    let video = import(
        &data,
        &clip,
        &["--owner", "tina", "--public", "--title", "Waves & <Optics>"],
    );
    let vid = video["id"].as_str().expect("id").to_string();
    let server = Served::start(
        &data,
        &[("LECTERN_PUBLIC_BASE_URL", "https://lectures.example.edu")],
    );
    let api = server.api();
    let token = |name: &str| api.sign_in(name, &format!("{name}-password")).0;
    let (tina, lena, max, root) = (token("tina"), token("lena"), token("max"), token("root"));

    // Marks: the learner's own; time within the video; ordered by time; filter by category.
    let marks = format!("/api/v1/videos/{vid}/marks");
    let add = |who: &str, body: serde_json::Value| api.call("POST", &marks, Some(who), Some(&body));
    let late = add(
        &lena,
        json!({"time": 3.5, "category": "question", "content": "why <b>this</b>?"}),
    );
    assert_eq!(late.status, 201, "{}", late.text);
    let early = add(
        &lena,
        json!({"time": 1.25, "category": "key point", "content": "Snell's law"}),
    );
    assert_eq!(early.status, 201);
    let mid = early.body["id"].as_str().expect("id").to_string();
    for (body, field) in [
        (json!({"time": 9.0, "category": "x"}), "time"),
        (json!({"time": -0.5, "category": "x"}), "time"),
        (json!({"time": 1.0, "category": ""}), "category"),
        (json!({"time": 1.0}), "category"),
        (json!({"time": "soon", "category": "x"}), "time"),
    ] {
        let r = add(&lena, body.clone());
        assert_eq!(
            (r.status, r.body["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {}",
            r.text
        );
    }
    assert_eq!(
        add(
            &lena,
            json!({"time": 1.0, "category": "x", "colour": "red"})
        )
        .status,
        400
    );
    assert_eq!(
        api.call(
            "POST",
            &marks,
            None,
            Some(&json!({"time": 1.0, "category": "x"}))
        )
        .status,
        401
    );
    let list = api.call("GET", &marks, Some(&lena), None);
    let times: Vec<f64> = list
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["time"].as_f64().expect("t"))
        .collect();
    assert_eq!(times, vec![1.25, 3.5], "by time");
    let filtered = api.call(
        "GET",
        &format!("{marks}?category=question"),
        Some(&lena),
        None,
    );
    assert_eq!(filtered.body.as_array().expect("list").len(), 1);
    assert_eq!(
        api.call("GET", &marks, Some(&max), None).body,
        json!([]),
        "others see none of them"
    );
    assert_eq!(api.call("GET", &marks, None, None).status, 401);

    // Somebody else's mark is 404 for every verb, admin included.
    let mark = format!("/api/v1/marks/{mid}");
    for who in [&max, &root, &tina] {
        assert_eq!(
            api.call("PATCH", &mark, Some(who), Some(&json!({"content": "mine"})))
                .status,
            404
        );
        assert_eq!(api.call("DELETE", &mark, Some(who), None).status, 404);
        assert_eq!(
            api.call("GET", &format!("{mark}/annotations"), Some(who), None)
                .status,
            404
        );
        assert_eq!(
            api.call(
                "POST",
                &format!("{mark}/annotations"),
                Some(who),
                Some(&json!({"content": "x"}))
            )
            .status,
            404
        );
    }
    let r = api.call(
        "PATCH",
        &mark,
        Some(&lena),
        Some(&json!({"content": "Snell's law: n1 sin a = n2 sin b", "time": 1.5})),
    );
    assert_eq!(
        (r.status, r.body["time"].as_f64()),
        (200, Some(1.5)),
        "{}",
        r.text
    );
    assert_eq!(
        api.call("PATCH", &mark, Some(&lena), Some(&json!({"time": 100})))
            .status,
        422
    );

    // Annotations.
    let a = api.call(
        "POST",
        &format!("{mark}/annotations"),
        Some(&lena),
        Some(&json!({"content": "see chapter 2"})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    let aid = a.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        api.call(
            "POST",
            &format!("{mark}/annotations"),
            Some(&lena),
            Some(&json!({"content": ""}))
        )
        .status,
        422
    );
    let annotation = format!("/api/v1/annotations/{aid}");
    assert_eq!(
        api.call(
            "PATCH",
            &annotation,
            Some(&max),
            Some(&json!({"content": "x"}))
        )
        .status,
        404
    );
    assert_eq!(
        api.call(
            "PATCH",
            &annotation,
            Some(&lena),
            Some(&json!({"content": "see chapter 3"}))
        )
        .status,
        200
    );
    let with = api.call("GET", &marks, Some(&lena), None);
    assert_eq!(with.body[0]["annotations"][0]["content"], "see chapter 3");

    // Notes: Markdown up to 20,000 characters, optional time, the author's only.
    let notes = format!("/api/v1/videos/{vid}/notes");
    let n = api.call(
        "POST",
        &notes,
        Some(&lena),
        Some(&json!({"time": 2.0, "content": "**Refraction** bends light"})),
    );
    assert_eq!(n.status, 201, "{}", n.text);
    let nid = n.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        api.call(
            "POST",
            &notes,
            Some(&lena),
            Some(&json!({"content": "General remark"}))
        )
        .status,
        201
    );
    assert_eq!(
        api.call(
            "POST",
            &notes,
            Some(&lena),
            Some(&json!({"content": "x".repeat(20_001)}))
        )
        .status,
        422
    );
    assert_eq!(
        api.call(
            "POST",
            &notes,
            Some(&lena),
            Some(&json!({"content": "x".repeat(20_000)}))
        )
        .status,
        201
    );
    assert_eq!(
        api.call(
            "POST",
            &notes,
            Some(&lena),
            Some(&json!({"time": 50, "content": "x"}))
        )
        .status,
        422
    );
    let listed = api.call("GET", &notes, Some(&lena), None);
    assert_eq!(listed.body[0]["time"], 2.0, "timed notes first, by time");
    assert_eq!(api.call("GET", &notes, Some(&max), None).body, json!([]));
    let note = format!("/api/v1/notes/{nid}");
    assert_eq!(
        api.call("PATCH", &note, Some(&root), Some(&json!({"content": "x"})))
            .status,
        404
    );
    assert_eq!(api.call("DELETE", &note, Some(&max), None).status, 404);
    let last = api
        .call("GET", &notes, Some(&lena), None)
        .body
        .as_array()
        .expect("notes")
        .last()
        .cloned()
        .expect("note");
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/notes/{}", last["id"].as_str().expect("id")),
            Some(&lena),
            None
        )
        .status,
        204
    );

    // Comments: everyone who sees the video reads; signed-in users write; author, video owner
    // and admins delete.
    let comments = format!("/api/v1/videos/{vid}/comments");
    let c = |who: &str, text: &str| {
        api.call(
            "POST",
            &comments,
            Some(who),
            Some(&json!({"content": text})),
        )
    };
    let by_max = c(&max, "Great lecture <3");
    assert_eq!(by_max.status, 201, "{}", by_max.text);
    let by_lena = c(&lena, "Question about slide 4");
    let by_lena2 = c(&lena, "And slide 5");
    assert_eq!(
        api.call("POST", &comments, None, Some(&json!({"content": "anon"})))
            .status,
        401
    );
    assert_eq!(c(&max, "").status, 422);
    let read = api.call("GET", &comments, None, None);
    assert_eq!(read.status, 200);
    assert_eq!(read.body.as_array().expect("list").len(), 3);
    assert_eq!(read.body[0]["author"], "max");
    assert_eq!(
        read.body[0]["content"], "Great lecture <3",
        "stored as given"
    );
    let del = |who: &str, reply: &common::server::Reply| {
        api.call(
            "DELETE",
            &format!(
                "/api/v1/comments/{}",
                reply.body["id"].as_str().expect("id")
            ),
            Some(who),
            None,
        )
        .status
    };
    assert_eq!(del(&max, &by_lena), 403, "not someone else's");
    assert_eq!(del(&lena, &by_lena), 204, "the author");
    assert_eq!(del(&tina, &by_max), 204, "the video's owner");
    assert_eq!(del(&root, &by_lena2), 204, "an admin");
    assert_eq!(del(&root, &by_lena2), 404, "gone");

    // Exports.
    let export = |format: &str| {
        api.call(
            "GET",
            &format!("/api/v1/videos/{vid}/export?format={format}"),
            Some(&lena),
            None,
        )
    };
    let md = export("md");
    assert_eq!(md.status, 200);
    assert_eq!(
        md.header("content-type"),
        Some("text/markdown; charset=utf-8")
    );
    assert_eq!(
        md.header("content-disposition"),
        Some("attachment; filename=\"waves-optics.md\"")
    );
    assert!(
        md.text.contains(&format!(
            "[00:00:01](https://lectures.example.edu/watch/{vid}?t=1) **key point**"
        )),
        "{}",
        md.text
    );
    assert!(
        md.text.contains(&format!(
            "### [00:00:02](https://lectures.example.edu/watch/{vid}?t=2)"
        )),
        "{}",
        md.text
    );
    assert!(
        md.text.contains("**Refraction** bends light"),
        "{}",
        md.text
    );
    assert!(
        !md.text.contains("<b>") && !md.text.contains("<Optics>"),
        "no HTML: {}",
        md.text
    );
    for (format, content_type) in [
        ("txt", "text/plain; charset=utf-8"),
        ("json", "application/json"),
        ("vtt", "text/vtt; charset=utf-8"),
        ("srt", "application/x-subrip; charset=utf-8"),
    ] {
        let r = export(format);
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(content_type)),
            "{format}"
        );
        assert!(
            r.header("content-disposition")
                .expect("disposition")
                .ends_with(&format!(".{format}\""))
        );
    }
    assert!(
        export("vtt")
            .text
            .starts_with("WEBVTT\n\n1\n00:00:01.500 --> "),
        "{}",
        export("vtt").text
    );
    assert_eq!(export("json").body["notes"][0]["timestamp"], "00:00:02");
    let bad = export("pdf");
    assert_eq!(
        (bad.status, bad.body["error"]["field"].as_str()),
        (422, Some("format"))
    );
    let nothing = api.call(
        "GET",
        &format!("/api/v1/videos/{vid}/export?format=json"),
        Some(&max),
        None,
    );
    assert_eq!(
        nothing.body["marks"],
        json!([]),
        "an export holds the caller's own only"
    );

    let zipped = api.raw(
        "GET",
        &format!("{}/api/v1/export?format=md", api.base),
        Some(&lena),
        None,
        None,
    );
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-type"), Some("application/zip"));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zipped.bytes)).expect("a zip");
    assert_eq!(archive.len(), 1);
    let mut file = archive.by_index(0).expect("file");
    assert_eq!(file.name(), format!("waves-optics-{vid}.md"));
    let mut text = String::new();
    file.read_to_string(&mut text).expect("read");
    assert!(text.contains("Snell"), "{text}");

    // Deleting a mark takes its annotations.
    assert_eq!(api.call("DELETE", &mark, Some(&lena), None).status, 204);
    assert_eq!(
        api.call(
            "PATCH",
            &annotation,
            Some(&lena),
            Some(&json!({"content": "x"}))
        )
        .status,
        404
    );
}
