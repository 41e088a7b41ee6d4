//! People in tests: a browser-like client that keeps the session cookie and CSRF token a
//! sign-in gives it, and the `sunomi-control users` command.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use std::time::Duration;

use super::{control_binary, database_for, wait_until, Api, Control, Reply};

/// A browser-like client: the session cookie it was given, and the CSRF token.
pub struct Person {
    pub api: Api,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Person {
    pub fn new(control: &Control) -> Person {
        Person {
            api: control.api(""),
            cookie: None,
            csrf: None,
        }
    }

    pub fn send(&self, method: &str, path: &str, extra: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let cookie = self.cookie.as_ref().map(|c| format!("sunomi_session={c}"));
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        if let Some(c) = &cookie {
            headers.push(("cookie", c));
        }
        headers.extend_from_slice(extra);
        self.api.send(method, path, &headers, body)
    }

    /// Posts JSON; keeps the session a sign-in or sign-up gives.
    pub fn post(&mut self, path: &str, body: serde_json::Value) -> Reply {
        let r = self.send("POST", path, &[], body.to_string().into_bytes());
        if let Some(set) = r.header("set-cookie") {
            let value = set
                .strip_prefix("sunomi_session=")
                .and_then(|v| v.split(';').next())
                .expect("the session cookie");
            self.cookie = (!value.is_empty()).then(|| value.to_string());
            self.csrf = r.json()["csrf_token"].as_str().map(str::to_string);
        }
        r
    }

    pub fn me(&self) -> Reply {
        self.send("GET", "/api/v1/me", &[], vec![])
    }

    pub fn sign_out(&mut self, csrf: Option<&str>, origin: Option<&str>) -> Reply {
        let mut extra = Vec::new();
        if let Some(t) = csrf {
            extra.push(("x-csrf-token", t));
        }
        if let Some(o) = origin {
            extra.push(("origin", o));
        }
        let r = self.send("POST", "/api/v1/auth/signout", &extra, vec![]);
        if r.status == 204 {
            self.cookie = None;
        }
        r
    }
}

pub fn sign_up(email: &str, password: &str, name: &str) -> serde_json::Value {
    json!({ "email": email, "password": password, "display_name": name })
}

pub fn sign_in(email: &str, password: &str) -> serde_json::Value {
    json!({ "email": email, "password": password })
}

/// Runs `sunomi-control users …` on `store`'s database with `stdin`.
pub fn users(store: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let database = database_for(store);
    let mut child = Command::new(control_binary())
        .arg("users")
        .args(args)
        .args(["--store", store, "--database", &database])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sunomi-control users");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("writing the password");
    let out = child.wait_with_output().expect("sunomi-control users");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A person signed up (open registration) and signed in as `name`.
pub fn signed_up(control: &Control, name: &str) -> Person {
    let mut p = Person::new(control);
    let email = format!("{}@example.org", name.to_lowercase());
    let r = p.post(
        "/api/v1/auth/signup",
        sign_up(&email, &format!("{name}'s long password"), name),
    );
    assert_eq!(
        r.status,
        201,
        "signing up {name}: {}",
        String::from_utf8_lossy(&r.body)
    );
    p
}

impl Person {
    /// An unsafe JSON request with the session's CSRF token.
    pub fn write(&self, method: &str, path: &str, body: serde_json::Value) -> Reply {
        let csrf = self.csrf.clone().unwrap_or_default();
        self.send(
            method,
            path,
            &[("x-csrf-token", &csrf)],
            body.to_string().into_bytes(),
        )
    }
}

/// Sends `file` to a tus upload URL with an upload token, in one PATCH.
pub fn send_file(person: &Person, url: &str, token: &str, file: &std::path::Path) -> Reply {
    let bytes = std::fs::read(file).unwrap();
    person.api.send(
        "PATCH",
        url,
        &[
            ("authorization", &format!("Bearer {token}")),
            ("tus-resumable", "1.0.0"),
            ("upload-offset", "0"),
            ("content-type", "application/offset+octet-stream"),
        ],
        bytes,
    )
}

/// Starts a video of `file` for `person` and sends the file; returns the video's id.
pub fn upload(person: &Person, file: &std::path::Path, title: &str, visibility: &str) -> String {
    let size = std::fs::metadata(file).unwrap().len();
    let r = person.write(
        "POST",
        "/api/v1/videos",
        json!({ "title": title, "description": "made in a test", "visibility": visibility, "size": size }),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let made = r.json();
    let token = made["upload"]["token"].as_str().unwrap();
    assert!(token.starts_with("ut_"), "an upload-only token: {token}");
    let sent = send_file(person, made["upload"]["url"].as_str().unwrap(), token, file);
    assert_eq!(sent.status, 204, "{}", String::from_utf8_lossy(&sent.body));
    made["video"]["id"].as_str().unwrap().to_string()
}

pub fn wait_ready(person: &Person, id: &str) -> serde_json::Value {
    wait_status(person, id, "ready")
}

/// Video `id` as `person` sees it, once its status is `status`.
pub fn wait_status(person: &Person, id: &str, status: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    wait_until(
        Duration::from_secs(120),
        &format!("the video to be {status}"),
        || {
            last = person
                .send("GET", &format!("/api/v1/videos/{id}"), &[], vec![])
                .json();
            last["status"] == status
        },
    );
    last
}
