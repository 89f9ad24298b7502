//! The accounts API against a real `lectern serve`: registration rules, sign-in, the JWT
//! attacks (another algorithm, `none`, tampered, expired, wrong issuer or audience), refresh
//! rotation and reuse detection, sign-out, roles, disabled accounts, the login limit, and the
//! error shape of bad bodies.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::lectern;
use common::server::Served;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// The API's JWT secret, read from the data directory as an attacker who stole it would not
/// have it; the tests use it to sign tokens that are valid in every way but one.
fn jwt_secret(data: &std::path::Path) -> Vec<u8> {
    let text = std::fs::read_to_string(data.join("keys/jwt.key")).expect("jwt.key");
    let hex = text.trim().split_once(':').expect("ID:HEX").1;
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn create_admin(data: &std::path::Path, name: &str, password: &str) {
    let mut child = lectern()
        .args([
            "user",
            "create",
            name,
            "--email",
            &format!("{name}@example.org"),
        ])
        .args(["--role", "admin", "--password-stdin", "--data"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("user create");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "user create failed");
    let user: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(user["role"], "admin");
    assert!(
        user.get("password").is_none(),
        "no generated password when one is given"
    );
}

#[test]
fn register_sign_in_and_profiles() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = Served::start(dir.path(), &[]);
    let api = server.api();
    let register =
        |body: serde_json::Value| api.call("POST", "/api/v1/auth/register", None, Some(&body));

    let r =
        register(json!({"username": "ada", "email": "ada@example.org", "password": "lovelace1"}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["username"], "ada");
    assert_eq!(r.body["role"], "viewer");
    assert!(
        !r.text.contains("argon2") && r.body.get("password_hash").is_none(),
        "{}",
        r.text
    );

    for (body, field) in [
        (
            json!({"username": "ab", "email": "x@example.org", "password": "12345678"}),
            "username",
        ),
        (
            json!({"username": "Ada2", "email": "x@example.org", "password": "12345678"}),
            "username",
        ),
        (
            json!({"username": "bob", "email": "not-an-email", "password": "12345678"}),
            "email",
        ),
        (
            json!({"username": "bob", "email": "bob@example.org", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "bob", "email": "bob@example.org"}),
            "password",
        ),
        (
            json!({"username": 5, "email": "bob@example.org", "password": "12345678"}),
            "username",
        ),
    ] {
        let r = register(body.clone());
        assert_eq!((r.status, r.code()), (422, "invalid"), "{body}: {}", r.text);
        assert_eq!(r.body["error"]["field"], field, "{body}");
    }
    let taken =
        register(json!({"username": "ada", "email": "other@example.org", "password": "12345678"}));
    assert_eq!((taken.status, taken.code()), (409, "conflict"));
    let taken =
        register(json!({"username": "ada2", "email": "ADA@example.org", "password": "12345678"}));
    assert_eq!(taken.status, 409, "emails compare without case");
    let unknown = register(
        json!({"username": "bob", "email": "bob@example.org", "password": "12345678", "role": "admin"}),
    );
    assert_eq!(
        (unknown.status, unknown.code()),
        (400, "bad_request"),
        "unknown fields are refused"
    );
    let url = format!("{}/api/v1/auth/register", api.base);
    let malformed = api.raw(
        "POST",
        &url,
        None,
        Some(b"{\"username\": "),
        Some("application/json"),
    );
    assert_eq!(malformed.status, 400);
    let not_json = api.raw(
        "POST",
        &url,
        None,
        Some(b"username=bob"),
        Some("application/x-www-form-urlencoded"),
    );
    assert_eq!(not_json.status, 400);
    let huge = format!("{{\"username\": \"{}\"}}", "a".repeat(300 * 1024));
    let too_large = api.raw(
        "POST",
        &url,
        None,
        Some(huge.as_bytes()),
        Some("application/json"),
    );
    assert_eq!((too_large.status, too_large.code()), (413, "too_large"));
    // The body was not read: the connection is closed, and the client is told so.
    assert_eq!(too_large.header("connection"), Some("close"));

    // Sign in by username or by email.
    let (access, _, id) = api.sign_in("ada", "lovelace1");
    let (_, _, same) = api.sign_in("ada@example.org", "lovelace1");
    assert_eq!(id, same);
    let wrong = api.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&json!({"login": "ada", "password": "nope-nope"})),
    );
    assert_eq!((wrong.status, wrong.code()), (401, "unauthorized"));
    let nobody = api.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&json!({"login": "nobody", "password": "nope-nope"})),
    );
    assert_eq!(nobody.status, 401);

    let me = api.call("GET", "/api/v1/users/me", Some(&access), None);
    assert_eq!(
        (me.status, me.body["email"].as_str()),
        (200, Some("ada@example.org"))
    );
    assert_eq!(api.call("GET", "/api/v1/users/me", None, None).status, 401);
    let patched = api.call(
        "PATCH",
        "/api/v1/users/me",
        Some(&access),
        Some(&json!({"display_name": "Ada Lovelace", "bio": "Notes on the engine"})),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["display_name"], "Ada Lovelace");
    let too_long = api.call(
        "PATCH",
        "/api/v1/users/me",
        Some(&access),
        Some(&json!({"bio": "x".repeat(2001)})),
    );
    assert_eq!(
        (too_long.status, too_long.body["error"]["field"].as_str()),
        (422, Some("bio"))
    );
    let public = api.call("GET", "/api/v1/users/ada", None, None);
    assert_eq!(public.status, 200);
    assert_eq!(public.body["bio"], "Notes on the engine");
    assert!(
        public.body.get("email").is_none(),
        "email is private: {}",
        public.text
    );
    assert_eq!(
        api.call("GET", "/api/v1/users/nobody", None, None).status,
        404
    );
    let doc = api.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(doc.status, 200);
    assert!(
        doc.body["paths"]["/api/v1/auth/login"]["post"].is_object(),
        "{}",
        doc.text
    );
    let unknown_route = api.call("GET", "/api/v1/nothing-here", None, None);
    assert_eq!(
        (unknown_route.status, unknown_route.code()),
        (404, "not_found")
    );
}

#[test]
fn forged_and_expired_access_tokens_are_401() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = Served::start(dir.path(), &[]);
    let api = server.api();
    let (access, _, id) = api.sign_up("eve");
    assert_eq!(
        api.call("GET", "/api/v1/users/me", Some(&access), None)
            .status,
        200
    );
    let secret = jwt_secret(dir.path());
    let sign = |alg: Algorithm, claims: serde_json::Value| {
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(&secret),
        )
        .expect("sign")
    };
    let good = json!({"sub": id, "exp": now() + 600, "iat": now(), "iss": "lectern", "aud": "lectern-api"});
    // Control: a token made here the way the server makes them is accepted.
    let control = sign(Algorithm::HS256, good.clone());
    assert_eq!(
        api.call("GET", "/api/v1/users/me", Some(&control), None)
            .status,
        200
    );

    let mut attacks: Vec<(&str, String)> = vec![
        ("another algorithm", sign(Algorithm::HS512, good.clone())),
        (
            "expired",
            sign(
                Algorithm::HS256,
                json!({"sub": id, "exp": now() - 120, "iat": now() - 1000, "iss": "lectern", "aud": "lectern-api"}),
            ),
        ),
        (
            "no exp",
            sign(
                Algorithm::HS256,
                json!({"sub": id, "iss": "lectern", "aud": "lectern-api"}),
            ),
        ),
        (
            "wrong issuer",
            sign(
                Algorithm::HS256,
                json!({"sub": id, "exp": now() + 600, "iss": "evil", "aud": "lectern-api"}),
            ),
        ),
        (
            "wrong audience",
            sign(
                Algorithm::HS256,
                json!({"sub": id, "exp": now() + 600, "iss": "lectern", "aud": "other"}),
            ),
        ),
        (
            "unknown user",
            sign(
                Algorithm::HS256,
                json!({"sub": "nobody", "exp": now() + 600, "iss": "lectern", "aud": "lectern-api"}),
            ),
        ),
    ];
    let parts: Vec<&str> = access.split('.').collect();
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    attacks.push((
        "alg none",
        format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), parts[1]),
    ));
    let admin_payload = b64(&json!({"sub": id, "exp": now() + 600, "iss": "lectern", "aud": "lectern-api", "role": "admin"}).to_string());
    attacks.push((
        "tampered payload",
        format!("{}.{}.{}", parts[0], admin_payload, parts[2]),
    ));
    attacks.push(("garbage", "not.a.token".to_string()));
    for (what, token) in attacks {
        let r = api.call("GET", "/api/v1/users/me", Some(&token), None);
        assert_eq!(
            (r.status, r.code()),
            (401, "unauthorized"),
            "{what}: {}",
            r.text
        );
    }
    let basic = api.raw(
        "GET",
        &format!("{}/api/v1/users/me", api.base),
        None,
        None,
        None,
    );
    assert_eq!(basic.status, 401);
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_family() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = Served::start(dir.path(), &[]);
    let api = server.api();
    let (_, first, _) = api.sign_up("rita");
    let refresh = |token: &str| {
        api.call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(&json!({"refresh_token": token})),
        )
    };
    let r = refresh(&first);
    assert_eq!(r.status, 200, "{}", r.text);
    let second = r.body["refresh_token"]
        .as_str()
        .expect("new refresh")
        .to_string();
    assert_ne!(second, first, "rotated");
    let access = r.body["access_token"].as_str().expect("access").to_string();
    assert_eq!(
        api.call("GET", "/api/v1/users/me", Some(&access), None)
            .status,
        200
    );
    // The spent token again: refused, and the live one of its family dies with it.
    assert_eq!(refresh(&first).status, 401);
    assert_eq!(refresh(&second).status, 401, "the family is revoked");
    assert_eq!(refresh("made-up").status, 401);

    // Sign-out revokes: another sign-in, logged out, cannot refresh.
    let (_, third, _) = api.sign_in("rita", "rita-password");
    let out = api.call(
        "POST",
        "/api/v1/auth/logout",
        None,
        Some(&json!({"refresh_token": third})),
    );
    assert_eq!(out.status, 204);
    assert_eq!(refresh(&third).status, 401);
}

#[test]
fn roles_and_disabled_accounts() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = Served::start(dir.path(), &[]);
    let api = server.api();
    create_admin(dir.path(), "root", "root-password");
    let (admin, _, _) = api.sign_in("root", "root-password");
    let (viewer, viewer_refresh, _) = api.sign_up("vic");
    let set = |token: &str, name: &str, body: serde_json::Value| {
        api.call(
            "PATCH",
            &format!("/api/v1/users/{name}"),
            Some(token),
            Some(&body),
        )
    };
    let r = set(&viewer, "vic", json!({"role": "admin"}));
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden"),
        "viewers cannot promote themselves"
    );
    let r = set(&admin, "vic", json!({"role": "creator"}));
    assert_eq!(
        (r.status, r.body["role"].as_str()),
        (200, Some("creator")),
        "{}",
        r.text
    );
    let me = api.call("GET", "/api/v1/users/me", Some(&viewer), None);
    assert_eq!(
        me.body["role"], "creator",
        "the role applies at once, same token"
    );
    assert_eq!(set(&admin, "vic", json!({"role": "superuser"})).status, 422);
    assert_eq!(
        set(&admin, "nobody", json!({"role": "creator"})).status,
        404
    );
    assert_eq!(
        set(&admin, "root", json!({"disabled": true})).status,
        409,
        "no self-lockout"
    );

    let r = set(&admin, "vic", json!({"disabled": true}));
    assert_eq!(r.status, 200);
    assert_eq!(
        api.call("GET", "/api/v1/users/me", Some(&viewer), None)
            .status,
        401,
        "tokens stop working"
    );
    let login = api.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&json!({"login": "vic", "password": "vic-password"})),
    );
    assert_eq!(login.status, 401);
    let refresh = api.call(
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(&json!({"refresh_token": viewer_refresh})),
    );
    assert_eq!(refresh.status, 401);
    assert_eq!(set(&admin, "vic", json!({"disabled": false})).status, 200);
    api.sign_in("vic", "vic-password");
}

#[test]
fn failed_logins_are_limited_per_account_and_per_address() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = Served::start(dir.path(), &[]);
    let api = server.api();
    api.sign_up("lim");
    let attempt = |login: &str, password: &str| {
        api.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"login": login, "password": password})),
        )
    };
    for _ in 0..5 {
        assert_eq!(attempt("lim", "wrong-password").status, 401);
    }
    let locked = attempt("lim", "lim-password");
    assert_eq!(
        (locked.status, locked.code()),
        (429, "too_many_requests"),
        "even the right password waits"
    );
    let retry: u64 = locked
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry > 0 && retry <= 900, "{retry}");
    // Other accounts from this address still get in, until 20 failures from it.
    api.sign_up("other");
    for i in 0..15 {
        assert_eq!(
            attempt(&format!("ghost{i}"), "wrong-password").status,
            401,
            "attempt {i}"
        );
    }
    let address_locked = attempt("other", "other-password");
    assert_eq!(address_locked.status, 429, "20 failures from one address");
}
