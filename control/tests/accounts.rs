//! People's accounts through the API: sign up, sign in and out with a session cookie and its
//! CSRF token; failed sign-ins lock an account and a flood from one address is throttled;
//! registration by approval or closed, and accounts an operator makes from the command line.

mod common;

use common::people::{sign_in, sign_up, users, Person};
use common::*;
use serde_json::json;

fn start(store: &str, config: &str) -> Control {
    Control::start(Options {
        store: store.to_string(),
        no_workers: true,
        config: config.to_string(),
        ..Default::default()
    })
}

#[test]
fn people_sign_up_in_and_out_with_a_session_cookie_and_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = start(&store, "");
    let mut ada = Person::new(&control);

    let r = ada.post(
        "/api/v1/auth/signup",
        sign_up(" Ada@Example.org ", "analytical engine", "Ada"),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let cookie = r.header("set-cookie").unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(r.json()["user"]["email"], "ada@example.org");
    assert_eq!(r.json()["user"]["role"], "user");
    assert!(ada.csrf.is_some());
    assert_eq!(ada.me().json()["user"]["display_name"], "Ada");

    // The same email, however written, is taken; bad input says what is wrong.
    let mut other = Person::new(&control);
    let r = other.post(
        "/api/v1/auth/signup",
        sign_up("ADA@example.org", "another long one", "Ada II"),
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (409, Some("email_taken"))
    );
    for bad in [
        sign_up("not an email", "analytical engine", "X"),
        sign_up("x@example.org", "short", "X"),
        sign_up("x@example.org", "x@example.org", "X"),
        sign_up("x@example.org", "analytical engine", ""),
    ] {
        let r = other.post("/api/v1/auth/signup", bad.clone());
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (400, Some("invalid_request")),
            "{bad}"
        );
    }

    // Signing out is an unsafe request: it needs the CSRF token, from this site.
    let csrf = ada.csrf.clone().unwrap();
    let r = ada.sign_out(None, None);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("csrf_failed"))
    );
    let r = ada.sign_out(Some("not-the-token"), None);
    assert_eq!(r.status, 403);
    let r = ada.sign_out(Some(&csrf), Some("https://evil.example"));
    assert_eq!(r.status, 403);
    assert_eq!(ada.me().status, 200, "still signed in after the refusals");
    let ended = ada.cookie.clone().unwrap();
    assert_eq!(ada.sign_out(Some(&csrf), None).status, 204);
    ada.cookie = Some(ended);
    assert_eq!(ada.me().status, 401, "the ended session does not come back");

    // Wrong password and unknown email get the same answer.
    let mut someone = Person::new(&control);
    let wrong = someone.post(
        "/api/v1/auth/signin",
        sign_in("ada@example.org", "analytical engines"),
    );
    let unknown = someone.post(
        "/api/v1/auth/signin",
        sign_in("bob@example.org", "analytical engine"),
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["code"], "invalid_credentials");
    assert_eq!(wrong.json()["detail"], unknown.json()["detail"]);
    assert_eq!(unknown.status, 401);

    // Session fixation: a session id planted before signing in is never the one signed in.
    let mut victim = Person::new(&control);
    victim.cookie = Some("planted-by-an-attacker".into());
    let r = victim.post(
        "/api/v1/auth/signin",
        sign_in("ADA@example.org", "analytical engine"),
    );
    assert_eq!(r.status, 200);
    assert_ne!(victim.cookie.as_deref(), Some("planted-by-an-attacker"));
    assert_eq!(victim.me().status, 200);
    let mut attacker = Person::new(&control);
    attacker.cookie = Some("planted-by-an-attacker".into());
    assert_eq!(attacker.me().status, 401);
}

#[test]
fn failures_lock_an_account_and_a_flood_from_one_address_is_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = start(&store, "");
    let mut ada = Person::new(&control);
    assert_eq!(
        ada.post(
            "/api/v1/auth/signup",
            sign_up("ada@example.org", "analytical engine", "Ada")
        )
        .status,
        201
    );
    let mut guesser = Person::new(&control);
    let mut answers = Vec::new();
    for i in 0..5 {
        let r = guesser.post(
            "/api/v1/auth/signin",
            sign_in("ada@example.org", &format!("guess number {i}")),
        );
        answers.push((
            r.status,
            r.json()["code"].as_str().unwrap_or("").to_string(),
        ));
    }
    assert_eq!(answers[3], (401, "invalid_credentials".to_string()));
    assert_eq!(
        answers[4],
        (423, "account_locked".to_string()),
        "{answers:?}"
    );
    // Locked: even the right password waits, and says how long.
    let r = guesser.post(
        "/api/v1/auth/signin",
        sign_in("ada@example.org", "analytical engine"),
    );
    assert_eq!(r.status, 423);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((800..=900).contains(&wait), "about fifteen minutes: {wait}");
    // The session made before the lock still works (the lock is on signing in).
    assert_eq!(ada.me().status, 200);

    // Spraying other accounts from one address runs out of its budget.
    let mut statuses = Vec::new();
    for i in 0..40 {
        let r = guesser.post(
            "/api/v1/auth/signin",
            sign_in(&format!("nobody{i}@example.org"), "a guessed password"),
        );
        statuses.push(r.status);
        if r.status == 429 {
            assert_eq!(r.json()["code"], "rate_limited");
            assert!(r.header("retry-after").is_some());
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[test]
fn registration_by_approval_or_closed_and_accounts_made_by_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    {
        let control = start(&store, "[accounts]\nregistration = \"approval\"\n");
        let mut bob = Person::new(&control);
        let r = bob.post(
            "/api/v1/auth/signup",
            sign_up("bob@example.org", "a fine password", "Bob"),
        );
        assert_eq!(r.status, 202);
        assert!(
            r.header("set-cookie").is_none(),
            "no session before approval"
        );
        assert_eq!(r.json()["user"]["status"], "pending");
        let r = bob.post(
            "/api/v1/auth/signin",
            sign_in("bob@example.org", "a fine password"),
        );
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (403, Some("account_pending"))
        );
        let (code, out, err) = users(&store, &["approve", "--email", "BOB@example.org"], "");
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("approved bob@example.org"));
        assert_eq!(
            bob.post(
                "/api/v1/auth/signin",
                sign_in("bob@example.org", "a fine password")
            )
            .status,
            200
        );
    }
    let control = start(&store, "[accounts]\nregistration = \"closed\"\n");
    let mut eve = Person::new(&control);
    let r = eve.post(
        "/api/v1/auth/signup",
        sign_up("eve@example.org", "a fine password", "Eve"),
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("registration_closed"))
    );
    // The first admin comes from the command line, the password from stdin.
    let (code, out, err) = users(
        &store,
        &["create", "--email", "root@example.org", "--role", "admin"],
        "the admin's password\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.trim().starts_with("u_"), "{out}");
    let (code, _, err) = users(
        &store,
        &["create", "--email", "root@example.org"],
        "whatever long\n",
    );
    assert_ne!(code, 0);
    assert!(err.contains("has an account"), "{err}");
    let (code, _, err) = users(
        &store,
        &["create", "--email", "x@example.org", "--role", "king"],
        "whatever long\n",
    );
    assert_ne!(code, 0);
    assert!(err.contains("--role"), "{err}");
    let mut root = Person::new(&control);
    let r = root.post(
        "/api/v1/auth/signin",
        sign_in("root@example.org", "the admin's password"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(root.me().json()["user"]["role"], "admin");
}

/// A code from oathtool (an independent TOTP implementation) for `secret`, `offset` seconds
/// from now.
fn oathtool(secret: &str, offset: i64) -> String {
    let out = std::process::Command::new("oathtool")
        .args([
            "--totp",
            "-b",
            secret,
            "-N",
            &format!("now + {offset} seconds"),
        ])
        .output()
        .expect("oathtool must be installed (make deps-test)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Two-factor sign-in: set up with a secret an authenticator (oathtool) reads, proved by its
/// first code; then signing in needs a code, each code works once, a recovery code stands in
/// once, wrong codes count toward the lock; turning it off needs the password and a code.
#[test]
fn two_factor_sign_in_with_codes_from_an_independent_authenticator() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = start(&store, "");
    let mut ada = Person::new(&control);
    let password = "Ada's long password";
    assert_eq!(
        ada.post(
            "/api/v1/auth/signup",
            sign_up("ada@example.org", password, "Ada")
        )
        .status,
        201
    );
    let write = |p: &Person, method: &str, path: &str, body: serde_json::Value| {
        let csrf = p.csrf.clone().unwrap_or_default();
        p.send(
            method,
            path,
            &[("x-csrf-token", &csrf)],
            body.to_string().into_bytes(),
        )
    };
    let r = write(
        &ada,
        "PUT",
        "/api/v1/me/two-factor",
        serde_json::json!({ "code": "123456" }),
    );
    assert_eq!(r.json()["code"], "no_two_factor_setup");
    let r = write(&ada, "POST", "/api/v1/me/two-factor", serde_json::json!({}));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let setup = r.json();
    let secret = setup["secret"].as_str().unwrap().to_string();
    let url = setup["otpauth_url"].as_str().unwrap();
    assert!(
        url.starts_with("otpauth://totp/Sunomi:ada%40example.org?secret=") && url.contains(&secret),
        "{url}"
    );
    let r = write(
        &ada,
        "PUT",
        "/api/v1/me/two-factor",
        serde_json::json!({ "code": "000000" }),
    );
    assert_eq!(r.json()["code"], "invalid_code");
    let first = oathtool(&secret, 0);
    let r = write(
        &ada,
        "PUT",
        "/api/v1/me/two-factor",
        serde_json::json!({ "code": first }),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let recovery: Vec<String> = r.json()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(ada.me().json()["user"]["two_factor"], true);
    // A session alone cannot swap the second factor.
    let r = write(&ada, "POST", "/api/v1/me/two-factor", serde_json::json!({}));
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (409, Some("two_factor_on"))
    );

    // Signing in now needs a code; each works once.
    let mut again = Person::new(&control);
    let signin = |p: &mut Person, code: Option<&str>| {
        let mut body = sign_in("ada@example.org", password);
        if let Some(c) = code {
            body["code"] = serde_json::json!(c);
        }
        p.post("/api/v1/auth/signin", body)
    };
    let r = signin(&mut again, None);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (401, Some("two_factor_required"))
    );
    assert!(r.header("set-cookie").is_none());
    let r = signin(&mut again, Some(&first));
    assert_eq!(r.json()["code"], "invalid_code", "a code works once");
    let next = oathtool(&secret, 30);
    let r = signin(&mut again, Some(&next));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("set-cookie").is_some());
    let mut third = Person::new(&control);
    let r = signin(&mut third, Some(&recovery[0].to_uppercase()));
    assert_eq!(r.status, 200, "a recovery code, in any case");
    let r = signin(&mut third, Some(&recovery[0]));
    assert_eq!(
        r.json()["code"],
        "invalid_code",
        "a recovery code works once"
    );

    // Off: the password and a code.
    let off = |code: &str, pw: &str| {
        write(
            &again,
            "POST",
            "/api/v1/me/two-factor/disable",
            serde_json::json!({ "password": pw, "code": code }),
        )
    };
    assert_eq!(
        off(&recovery[1], "not the password").json()["code"],
        "invalid_credentials"
    );
    assert_eq!(off("111111", password).json()["code"], "invalid_code");
    assert_eq!(off(&recovery[1], password).status, 204);
    let mut fourth = Person::new(&control);
    assert_eq!(signin(&mut fourth, None).status, 200);

    // Wrong codes count toward the lock like wrong passwords.
    let r = write(
        &fourth,
        "POST",
        "/api/v1/me/two-factor",
        serde_json::json!({}),
    );
    let secret = r.json()["secret"].as_str().unwrap().to_string();
    let code = oathtool(&secret, 0);
    assert_eq!(
        write(
            &fourth,
            "PUT",
            "/api/v1/me/two-factor",
            serde_json::json!({ "code": code })
        )
        .status,
        200
    );
    let mut attacker = Person::new(&control);
    let statuses: Vec<u16> = (0..5)
        .map(|_| signin(&mut attacker, Some("999999")).status)
        .collect();
    assert_eq!(
        statuses,
        vec![401, 401, 401, 401, 423],
        "locked after five wrong codes"
    );
}

/// A person's own account: a new name (their channel's, in search too), a new password (their
/// other sessions end), everything kept about them exported, and the account deleted — its
/// videos gone from the edge, its comments elsewhere removed, its sign-in gone.
#[test]
fn people_rename_change_password_export_and_delete_their_account() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let edge = Edge::start(&store, &[], &[]);
    let control = Control::start(Options {
        store: store.clone(),
        config: format!(
            "edge_url = \"{}\"\nedge_admin_urls = [\"{}\"]\n",
            edge.base, edge.admin
        ),
        ..Default::default()
    });
    let mut ada = common::people::signed_up(&control, "Ada");
    let bob = common::people::signed_up(&control, "Bob");
    let file = clip(dir.path(), "clip.mp4", 2.0);
    let hers = common::people::upload(&ada, &file, "Counting machines", "public");
    let his = common::people::upload(&bob, &file, "Bob's walk", "public");
    let shown = common::people::wait_ready(&ada, &hers);
    common::people::wait_ready(&bob, &his);
    let master = shown["playback_url"].as_str().unwrap().to_string();
    assert_eq!(http_status(&master), 200);
    let ada_id = ada.me().json()["user"]["id"].as_str().unwrap().to_string();
    let bob_id = bob.me().json()["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        ada.write("PUT", &format!("/api/v1/videos/{his}/like"), json!({}))
            .status,
        200
    );
    assert_eq!(
        ada.write(
            "PUT",
            &format!("/api/v1/channels/{bob_id}/subscription"),
            json!({})
        )
        .status,
        200
    );
    let r = ada.write(
        "POST",
        &format!("/api/v1/videos/{his}/comments"),
        json!({ "body": "Lovely walk." }),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let comment = r.json()["id"].as_str().unwrap().to_string();

    // A new name: the channel's, in search too.
    let r = ada.write(
        "PATCH",
        "/api/v1/me",
        json!({ "display_name": "Ada Lovelace" }),
    );
    assert_eq!(r.json()["display_name"], "Ada Lovelace");
    assert_eq!(
        ada.write("PATCH", "/api/v1/me", json!({ "display_name": " " }))
            .status,
        400
    );
    let found = bob
        .send("GET", "/api/v1/search?q=lovelace", &[], vec![])
        .json();
    assert_eq!(found["videos"][0]["id"], hers.as_str(), "{found}");

    // A new password: other sessions end, this one stays.
    let mut other = Person::new(&control);
    let old = "Ada's long password";
    assert_eq!(
        other
            .post("/api/v1/auth/signin", sign_in("ada@example.org", old))
            .status,
        200
    );
    let change = |p: &Person, current: &str, new: &str| {
        p.write(
            "POST",
            "/api/v1/me/password",
            json!({ "current_password": current, "new_password": new }),
        )
    };
    assert_eq!(
        change(&ada, "wrong password", "a brand new password").status,
        401
    );
    assert_eq!(change(&ada, old, "short").status, 400);
    assert_eq!(change(&ada, old, "a brand new password").status, 204);
    assert_eq!(ada.me().status, 200, "this session stays");
    assert_eq!(other.me().status, 401, "the other session ended");
    assert_eq!(
        other
            .post("/api/v1/auth/signin", sign_in("ada@example.org", old))
            .status,
        401
    );

    // Export: everything, and no secret.
    let r = ada.send("GET", "/api/v1/me/export", &[], vec![]);
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-disposition")
        .unwrap_or_default()
        .starts_with("attachment"));
    let export = r.json();
    assert_eq!(export["account"]["display_name"], "Ada Lovelace");
    assert_eq!(export["videos"][0]["title"], "Counting machines");
    assert_eq!(export["comments"][0]["body"], "Lovely walk.");
    assert_eq!(export["likes"][0]["id"], his.as_str());
    assert_eq!(export["subscriptions"][0]["id"], bob_id.as_str());
    assert_eq!(
        export["account"]["sign_in_providers"],
        serde_json::json!([])
    );
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
    assert_eq!(
        bob.send("GET", "/api/v1/me/export", &[], vec![]).json()["videos"][0]["id"],
        his.as_str()
    );

    // Delete: the password again; then the videos leave the edge, the rest goes.
    let r = ada.send(
        "DELETE",
        "/api/v1/me",
        &[("x-csrf-token", ada.csrf.as_deref().unwrap_or_default())],
        json!({ "password": "not it" }).to_string().into_bytes(),
    );
    assert_eq!(r.status, 401);
    let r = ada.send(
        "DELETE",
        "/api/v1/me",
        &[("x-csrf-token", ada.csrf.as_deref().unwrap_or_default())],
        json!({ "password": "a brand new password" })
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert!(r
        .header("set-cookie")
        .unwrap_or_default()
        .contains("Max-Age=0"));
    assert_ne!(http_status(&master), 200, "gone from the edge");
    assert_eq!(
        bob.send("GET", &format!("/api/v1/videos/{hers}"), &[], vec![])
            .status,
        404
    );
    assert_eq!(
        bob.send("GET", &format!("/api/v1/channels/{ada_id}"), &[], vec![])
            .status,
        404
    );
    let thread = bob
        .send(
            "GET",
            &format!("/api/v1/videos/{his}/comments"),
            &[],
            vec![],
        )
        .json();
    let kept = thread["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == comment.as_str())
        .cloned()
        .unwrap_or_default();
    assert!(kept.is_null() || kept["deleted"] == true, "{thread}");
    assert_eq!(
        bob.send("GET", &format!("/api/v1/videos/{his}/likes"), &[], vec![])
            .json()["likes"],
        0
    );
    let r = ada.post(
        "/api/v1/auth/signin",
        sign_in("ada@example.org", "a brand new password"),
    );
    assert_eq!(r.status, 401);
}

/// Admins change other accounts' roles and status (audited; a disabled account's session
/// stops at once); nobody else may, and an admin cannot change their own.
#[test]
fn admins_change_roles_and_status_of_others_and_only_admins_may() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = start(&store, "");
    let bob = common::people::signed_up(&control, "Bob");
    let carol = common::people::signed_up(&control, "Carol");
    let (code, _, err) = users(
        &store,
        &["create", "--email", "root@example.org", "--role", "admin"],
        "an admin password\n",
    );
    assert_eq!(code, 0, "{err}");
    let mut root = Person::new(&control);
    root.post(
        "/api/v1/auth/signin",
        sign_in("root@example.org", "an admin password"),
    );
    let bob_id = bob.me().json()["user"]["id"].as_str().unwrap().to_string();
    let root_id = root.me().json()["user"]["id"].as_str().unwrap().to_string();
    let listed = root
        .send("GET", "/api/v1/admin/users?q=CAROL", &[], vec![])
        .json();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["data"][0]["display_name"], "Carol");
    assert_eq!(
        carol.send("GET", "/api/v1/admin/users", &[], vec![]).status,
        403
    );
    let change = |p: &Person, id: &str, body: serde_json::Value| {
        p.write("PATCH", &format!("/api/v1/admin/users/{id}"), body)
    };
    assert_eq!(
        change(
            &carol,
            &bob_id,
            json!({ "role": "admin", "reason": "me too" })
        )
        .status,
        403
    );
    let r = change(
        &root,
        &bob_id,
        json!({ "role": "moderator", "reason": "helps with reports" }),
    );
    assert_eq!(r.json()["role"], "moderator");
    assert_eq!(
        bob.send("GET", "/api/v1/moderation/queue", &[], vec![])
            .status,
        200
    );
    let r = change(
        &root,
        &bob_id,
        json!({ "status": "disabled", "reason": "spam" }),
    );
    assert_eq!(r.json()["status"], "disabled");
    assert_eq!(bob.me().status, 401, "a disabled account's session stops");
    let r = change(&root, &root_id, json!({ "role": "user", "reason": "oops" }));
    assert_eq!(r.json()["code"], "invalid_state");
    assert_eq!(change(&root, &bob_id, json!({ "reason": "" })).status, 409);
    assert_eq!(
        change(&root, "u_nobody", json!({ "reason": "x" })).status,
        404
    );
    let log = root
        .send("GET", "/api/v1/moderation/audit", &[], vec![])
        .json();
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["user.status:disabled", "user.role:moderator"]);
    let page = String::from_utf8_lossy(&carol.send("GET", "/admin", &[], vec![]).body).into_owned();
    assert!(page.contains("Not found"), "the admin page is the admins'");
    let page = String::from_utf8_lossy(&root.send("GET", "/admin", &[], vec![]).body).into_owned();
    assert!(page.contains("Account bob@example.org"), "{page}");
}

/// A channel's picture and description: set by its person with their session, read by
/// everyone; a picture is decoded once and served as our own 256 × 256 JPEG, and what is not
/// an image (a text file, a playlist pointing elsewhere) is refused with a reason.
#[test]
fn people_give_their_channel_a_picture_and_a_description() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let control = start(&store, "");
    let ada = common::people::signed_up(&control, "Ada");
    let guest = Person::new(&control);
    let ada_id = ada.me().json()["user"]["id"].as_str().unwrap().to_string();
    let png = picture(dir.path(), "wide.png", "600x300");
    let put = |p: &Person, body: Vec<u8>, csrf: bool| {
        let token = p.csrf.clone().unwrap_or_default();
        let mut headers = vec![("content-type", "application/octet-stream")];
        if csrf {
            headers.push(("x-csrf-token", token.as_str()));
        }
        p.send("PUT", "/api/v1/me/picture", &headers, body)
    };
    let r = put(&ada, std::fs::read(&png).unwrap(), true);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let url = r.json()["picture_url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("/api/v1/channels/{ada_id}/picture?v=")));
    let got = guest.send("GET", &url, &[], vec![]);
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("image/jpeg"));
    let stored = dir.path().join("stored.jpg");
    std::fs::write(&stored, &got.body).unwrap();
    let (_, probe, _) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            stored.to_str().unwrap(),
        ],
    );
    assert_eq!(probe.trim(), "mjpeg,256,256");

    // Not pictures: refused with a reason, the stored picture kept.
    let playlist = b"#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:1/secret.png\n".to_vec();
    for (what, body) in [
        ("text", b"these are notes, not a picture".to_vec()),
        ("a playlist", playlist),
        ("nothing", Vec::new()),
    ] {
        let r = put(&ada, body, true);
        assert_eq!(r.status, 400, "{what}");
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap_or("")
                .contains("picture"),
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(put(&ada, vec![0; 3 * 1024 * 1024], true).status, 413);
    assert_eq!(put(&ada, std::fs::read(&png).unwrap(), false).status, 403);
    assert_eq!(put(&guest, std::fs::read(&png).unwrap(), true).status, 401);
    assert_eq!(guest.send("GET", &url, &[], vec![]).status, 200);

    // The description: on the channel (API and page), limited, and its person's alone.
    let r = ada.write(
        "PUT",
        "/api/v1/me/channel",
        json!({ "description": "Counting machines\nand walks." }),
    );
    assert_eq!(r.status, 200);
    let channel = guest
        .send("GET", &format!("/api/v1/channels/{ada_id}"), &[], vec![])
        .json();
    assert_eq!(channel["description"], "Counting machines\nand walks.");
    assert_eq!(channel["picture_url"], url.as_str());
    let page = guest.send("GET", &format!("/channel/{ada_id}"), &[], vec![]);
    let page = String::from_utf8_lossy(&page.body);
    assert!(
        page.contains("Counting machines") && page.contains(&url.replace('&', "&amp;")),
        "{page}"
    );
    let r = ada.write(
        "PUT",
        "/api/v1/me/channel",
        json!({ "description": "x".repeat(1001) }),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        guest
            .write(
                "PUT",
                "/api/v1/me/channel",
                json!({ "description": "mine" })
            )
            .status,
        401
    );

    // Removed: gone from the channel.
    assert_eq!(
        ada.write("DELETE", "/api/v1/me/picture", json!({})).status,
        204
    );
    assert_eq!(guest.send("GET", &url, &[], vec![]).status, 404);
    let channel = guest
        .send("GET", &format!("/api/v1/channels/{ada_id}"), &[], vec![])
        .json();
    assert!(channel["picture_url"].is_null());
}
