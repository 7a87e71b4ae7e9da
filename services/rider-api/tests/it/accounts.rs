//! Registering, logging in and out, sessions that end, rate limits on
//! authentication, and the admin's category decision.

use axum::http::{Method, StatusCode};
use chrono::Duration;
use rider_api::auth::{SESSION_IDLE_TIMEOUT_S, SESSION_TTL_S};
use rider_api::clock::Clock;
use rider_api::ratelimit::{LOGIN_PER_LOGIN, REGISTER_PER_IP};
use ring::digest::{SHA256, digest};
use serde_json::json;
use uuid::Uuid;

use crate::support::app;

#[tokio::test]
async fn register_normalises_the_login_and_refuses_a_second_account() {
    let app = app().await;
    let check = |login: &str, expected: (StatusCode, &'static str)| {
        let app = &app;
        let login = login.to_owned();
        async move {
            let reply = app
                .post(
                    "/v1/accounts",
                    None,
                    &json!({"login": login, "password": "correct horse"}),
                )
                .await;
            let got = (
                reply.status,
                if reply.status.is_success() {
                    reply.body["login"].as_str().unwrap_or_default().to_owned()
                } else {
                    reply.code().to_owned()
                },
            );
            assert_eq!(
                got,
                (expected.0, expected.1.to_owned()),
                "{login}: {}",
                reply.body
            );
        }
    };
    check("0912 345 678", (StatusCode::CREATED, "+84912345678")).await;
    check("+84912345678", (StatusCode::CONFLICT, "identifier_taken")).await;
    check("An@Example.VN", (StatusCode::CREATED, "an@example.vn")).await;
    check("an@example.vn", (StatusCode::CONFLICT, "identifier_taken")).await;
    check(
        "12345",
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
    )
    .await;
    assert_eq!(app.count("rider.account").await, 2);
    assert_eq!(app.count("rider.login").await, 2);
    app.finish().await;
}

#[tokio::test]
async fn me_shows_the_account_and_its_category() {
    let app = app().await;
    let adult = app.rider("0912000001").await;
    let student = app.rider_with("0912000002", Some("student")).await;
    let me = app.get("/v1/me", Some(&adult.token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["account_id"], json!(adult.account_id));
    assert_eq!(me.body["login_kind"], json!("phone"));
    assert_eq!(
        me.body["category"],
        json!({"requested": "adult", "status": "verified", "effective": "adult"})
    );
    let me = app.get("/v1/me", Some(&student.token)).await;
    assert_eq!(
        me.body["category"],
        json!({"requested": "student", "status": "pending", "effective": "adult"})
    );
    let unknown = app
        .post(
            "/v1/accounts",
            None,
            &json!({"login": "0912000003", "password": "correct horse", "category": "royalty"}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    app.finish().await;
}

#[tokio::test]
async fn login_needs_the_right_password_and_logout_ends_the_session() {
    let app = app().await;
    let rider = app.rider("rider@example.vn").await;
    for (login, password) in [
        ("rider@example.vn", "wrong password"),
        ("nobody@example.vn", "correct horse"),
    ] {
        let reply = app
            .post(
                "/v1/sessions",
                None,
                &json!({"login": login, "password": password}),
            )
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{login}"
        );
    }
    assert_eq!(
        app.get("/v1/me", Some(&rider.token)).await.status,
        StatusCode::OK
    );
    let out = app
        .send(
            Method::DELETE,
            "/v1/sessions/current",
            Some(&rider.token),
            &[],
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/v1/me", Some(&rider.token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .send(
            Method::DELETE,
            "/v1/sessions/current",
            Some(&rider.token),
            &[],
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    // Junk and missing tokens are the same 401.
    for token in [None, Some("not-a-token"), Some("A".repeat(43).as_str())] {
        let reply = app.get("/v1/me", token).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
    }
    app.finish().await;
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_absolute_end() {
    let app = app().await;
    let rider = app.rider("0912000004").await;
    // Idle just under the timeout: still live, and the use resets it.
    app.clock
        .advance(Duration::seconds(SESSION_IDLE_TIMEOUT_S - 60));
    assert_eq!(
        app.get("/v1/me", Some(&rider.token)).await.status,
        StatusCode::OK
    );
    app.clock
        .advance(Duration::seconds(SESSION_IDLE_TIMEOUT_S - 60));
    assert_eq!(
        app.get("/v1/me", Some(&rider.token)).await.status,
        StatusCode::OK
    );
    app.clock.advance(Duration::seconds(SESSION_IDLE_TIMEOUT_S));
    assert_eq!(
        app.get("/v1/me", Some(&rider.token)).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Used every day, a session still ends at its absolute end.
    let daily = app.rider("0912000005").await;
    let mut used_s = 0;
    while used_s + 86_400 < SESSION_TTL_S {
        app.clock.advance(Duration::seconds(86_400));
        used_s += 86_400;
        assert_eq!(
            app.get("/v1/me", Some(&daily.token)).await.status,
            StatusCode::OK,
            "day {}",
            used_s / 86_400
        );
    }
    app.clock.advance(Duration::seconds(86_400));
    assert_eq!(
        app.get("/v1/me", Some(&daily.token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.finish().await;
}

#[tokio::test]
async fn login_attempts_are_limited_per_login_with_retry_after() {
    let app = app().await;
    let rider = app.rider("0912000006").await;
    let sessions_before = app.count("rider.session").await;
    // `rider()` logged in once already: that counts too.
    for attempt in 1..LOGIN_PER_LOGIN.limit {
        // Spread over IPs: the per-login limit must hold on its own.
        let ip = format!("203.0.113.{attempt}");
        let reply = app
            .send(
                Method::POST,
                "/v1/sessions",
                None,
                &[("x-forwarded-for", ip.as_str())],
                Some(
                    json!({"login": rider.login, "password": "guess"})
                        .to_string()
                        .into(),
                ),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // The next attempt is refused even with the right password.
    let limited = app
        .post(
            "/v1/sessions",
            None,
            &json!({"login": "0912 000 006", "password": "correct horse"}),
        )
        .await;
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let retry_after: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(
        (1..=LOGIN_PER_LOGIN.window_s).contains(&retry_after),
        "{retry_after}"
    );
    assert_eq!(app.count("rider.session").await, sessions_before);
    app.finish().await;
}

#[tokio::test]
async fn registrations_are_limited_per_ip() {
    let app = app().await;
    for n in 0..REGISTER_PER_IP.limit {
        let reply = app
            .post(
                "/v1/accounts",
                None,
                &json!({"login": format!("r{n}@example.vn"), "password": "correct horse"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{n}");
    }
    let limited = app
        .post(
            "/v1/accounts",
            None,
            &json!({"login": "last@example.vn", "password": "correct horse"}),
        )
        .await;
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(limited.header("retry-after").is_some());
    assert_eq!(
        app.count("rider.account").await,
        i64::from(REGISTER_PER_IP.limit)
    );
    app.finish().await;
}

/// Creates an admin key as `oneticket admin-key create` does: the table
/// keeps the SHA-256 of the whole key.
pub async fn admin_key(app: &crate::support::TestApp, scopes: &[&str]) -> String {
    let key = format!("otk_{}_secret{}", Uuid::new_v4().simple(), scopes.join("-"));
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
    store_pg::terminal::ApiKeys::new(app.db.pool.clone())
        .create(
            Uuid::new_v4(),
            &hash,
            &scopes.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            "test",
            app.clock.now(),
        )
        .await
        .expect("the key is stored");
    key
}

#[tokio::test]
async fn a_category_needs_an_admin_with_the_riders_scope() {
    let app = app().await;
    let student = app.rider_with("0912000007", Some("student")).await;
    let path = format!("/v1/admin/riders/{}/category", student.account_id);
    let body = json!({"category": "student", "status": "verified"});
    let terminals = admin_key(&app, &["terminals"]).await;
    let riders = admin_key(&app, &["riders"]).await;
    let check = |token: Option<String>, expected: StatusCode| {
        let (app, path, body) = (&app, path.clone(), body.clone());
        async move {
            let reply = app.post(&path, token.as_deref(), &body).await;
            assert_eq!(reply.status, expected, "{}", reply.body);
        }
    };
    check(None, StatusCode::UNAUTHORIZED).await;
    check(Some(student.token.clone()), StatusCode::UNAUTHORIZED).await;
    check(Some("otk_unknown".to_owned()), StatusCode::UNAUTHORIZED).await;
    check(Some(terminals), StatusCode::FORBIDDEN).await;
    let me = app.get("/v1/me", Some(&student.token)).await;
    assert_eq!(me.body["category"]["effective"], json!("adult"));
    check(Some(riders.clone()), StatusCode::OK).await;
    let me = app.get("/v1/me", Some(&student.token)).await;
    assert_eq!(
        me.body["category"],
        json!({"requested": "student", "status": "verified", "effective": "student"})
    );
    // An unknown rider is 404; an unknown category 422.
    let missing = app
        .post(
            &format!("/v1/admin/riders/{}/category", Uuid::new_v4()),
            Some(&riders),
            &body,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad = app
        .post(
            &path,
            Some(&riders),
            &json!({"category": "royalty", "status": "verified"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    app.finish().await;
}
