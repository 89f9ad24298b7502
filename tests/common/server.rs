//! A real `lectern serve` on 127.0.0.1 port 0 over a data directory, stopped by PID when
//! dropped, and a small JSON client for its API.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::Value;

/// A running `lectern serve`.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Starts `lectern serve` on `data`, with `env` set, and waits for its listening line.
    pub fn start(data: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = super::lectern()
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("listening line");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Self { child, base }
    }

    /// Stops it with SIGTERM (a graceful stop); it must exit within 10 s.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "serve did not stop on SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// A client of this server.
    pub fn api(&self) -> Api {
        Api {
            base: self.base.clone(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }
}

/// One answer: status, headers we look at, and the body as JSON (`Null` if it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub bytes: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// A JSON client.
pub struct Api {
    pub base: String,
    agent: ureq::Agent,
}

impl Api {
    /// Sends `method path` with an optional bearer token and JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.raw(
            method,
            &url,
            token,
            bytes.as_deref(),
            Some("application/json"),
        )
    }

    /// Sends raw bytes with a content type.
    pub fn raw(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        content_type: Option<&str>,
    ) -> Reply {
        self.raw_with(method, url, token, body, content_type, &[])
    }

    /// `GET url` with extra request headers.
    pub fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Reply {
        self.raw_with("GET", url, None, None, None, headers)
    }

    /// Sends raw bytes with a content type and extra request headers.
    pub fn raw_with(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let (Some(ct), Some(_)) = (content_type, body) {
            request = request.header("Content-Type", ct);
        }
        let request = request
            .body(body.map(<[u8]>::to_vec).unwrap_or_default())
            .expect("request");
        let mut response = self.agent.run(request).expect("the server answers");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text,
            bytes,
            headers,
        }
    }

    /// Registers `name` (email `name@example.org`, password `name-password`) and signs in:
    /// (access token, refresh token, user id).
    pub fn sign_up(&self, name: &str) -> (String, String, String) {
        let r = self.call(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(&serde_json::json!({
                "username": name, "email": format!("{name}@example.org"),
                "password": format!("{name}-password"),
            })),
        );
        assert_eq!(r.status, 201, "register {name}: {}", r.text);
        self.sign_in(name, &format!("{name}-password"))
    }

    /// Signs in: (access token, refresh token, user id).
    pub fn sign_in(&self, login: &str, password: &str) -> (String, String, String) {
        let r = self.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&serde_json::json!({ "login": login, "password": password })),
        );
        assert_eq!(r.status, 200, "login {login}: {}", r.text);
        (
            r.body["access_token"].as_str().expect("access").to_string(),
            r.body["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_string(),
            r.body["user"]["id"].as_str().expect("id").to_string(),
        )
    }
}

/// Makes account `name` (email `name@example.org`, password `name-password`) with `role`
/// directly in the data directory, as `lectern user create` does for an operator.
pub fn create_user(data: &Path, name: &str, role: &str) {
    let mut child = super::lectern()
        .args([
            "user",
            "create",
            name,
            "--email",
            &format!("{name}@example.org"),
        ])
        .args(["--role", role, "--password-stdin", "--data"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("user create");
    writeln!(child.stdin.take().expect("stdin"), "{name}-password").expect("write");
    assert!(child.wait().expect("wait").success(), "user create {name}");
}

/// Runs `lectern import INPUT --data DATA EXTRA...` and returns its JSON line.
pub fn import(data: &Path, input: &Path, extra: &[&str]) -> Value {
    let out = super::lectern()
        .arg("import")
        .arg(input)
        .arg("--data")
        .arg(data)
        .args(extra)
        .output()
        .expect("import runs");
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}
