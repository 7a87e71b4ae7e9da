//! The OpenAPI document matches the router: every route is documented and
//! every documented operation is routed, with request and response schemas;
//! CORS answers only the configured origins.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use rider_api::settings::{ClientIpSource, RiderSettings};
use serde_json::Value;

use crate::support::{PUBLIC_URL, app, app_with};

/// The API as specified: method and path of every route.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/accounts"),
    ("post", "/v1/sessions"),
    ("delete", "/v1/sessions/current"),
    ("get", "/v1/me"),
    ("post", "/v1/admin/riders/{id}/category"),
    ("post", "/v1/me/media"),
    ("get", "/v1/me/media"),
    ("post", "/v1/me/media/{id}/lost"),
    ("get", "/v1/me/wallet"),
    ("post", "/v1/me/topups"),
    ("get", "/v1/me/topups/{id}"),
    ("get", "/v1/payments/vnpay/ipn"),
    ("post", "/v1/payments/vnpay/ipn"),
    ("get", "/v1/payments/vnpay/return"),
    ("get", "/v1/passes"),
    ("post", "/v1/me/passes"),
    ("get", "/v1/me/ticket"),
    ("put", "/v1/me/holder-key"),
    ("get", "/v1/me/trips"),
    ("get", "/v1/me/parking-stays"),
    ("get", "/v1/me/wallet/transactions"),
    ("get", "/v1/me/receipts/{id}"),
    ("get", "/openapi.json"),
    ("get", "/sandbox/vnpay/pay"),
];

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| ((*m).to_owned(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let app = app().await;
    let reply = app.get("/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.body;
    assert_eq!(doc["openapi"], Value::from("3.1.0"));
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented(&doc), expected);

    let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
    for path in paths {
        for method in METHODS {
            let routed = ROUTES.contains(&(method, path));
            let reply = app
                .send(
                    Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method"),
                    &concrete(path),
                    None,
                    &[],
                    None,
                )
                .await;
            if routed {
                // Reached the handler: not the router's 404 or 405.
                assert_ne!(
                    reply.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}"
                );
                let fallback = reply.body["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("No route for"));
                assert!(!fallback, "{method} {path} fell through to the fallback");
            } else {
                assert_eq!(
                    reply.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is routed but undocumented"
                );
            }
        }
    }
    app.finish().await;
}

#[tokio::test]
async fn every_operation_has_schemas_and_documents_its_problems() {
    let app = app().await;
    let doc = app.get("/openapi.json", None).await.body;
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let resolves = |schema: &Value| -> bool {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix("#/components/schemas/")
                .is_some_and(|name| schemas.contains_key(name)),
            None => schema.is_object(),
        }
    };
    for (method, path) in ROUTES {
        let operation = &doc["paths"][path][method];
        let responses = operation["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path}");
        for (status, response) in responses {
            let Some(content) = response.get("content").and_then(Value::as_object) else {
                // Only bodiless answers (204, the sandbox's redirect) have no content.
                assert!(
                    matches!(status.as_str(), "204" | "303"),
                    "{method} {path} {status} has no schema"
                );
                continue;
            };
            for (media, body) in content {
                assert!(
                    resolves(&body["schema"]),
                    "{method} {path} {status} {media}"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        media, "application/problem+json",
                        "{method} {path} {status}"
                    );
                }
            }
        }
        if ["post", "put"].contains(method) && operation.get("requestBody").is_some() {
            let content = operation["requestBody"]["content"]
                .as_object()
                .expect("content");
            assert!(
                content.values().all(|c| resolves(&c["schema"])),
                "{method} {path}"
            );
        }
    }
    // Money-moving POSTs document their Idempotency-Key header.
    for path in ["/v1/me/topups", "/v1/me/passes"] {
        let params = doc["paths"][path]["post"]["parameters"]
            .as_array()
            .expect("parameters");
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
            "{path}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["session"].is_object());
    app.finish().await;
}

#[tokio::test]
async fn live_mode_has_no_sandbox_route() {
    let app = app_with(RiderSettings {
        public_url: PUBLIC_URL.to_owned(),
        client_ip: ClientIpSource::ForwardedFor,
        payments: rider_api::settings::PaymentMode::Live {
            pay_url: "https://pay.example/vpcpay.html".to_owned(),
            tmn_code: "LIVE0001".to_owned(),
            hash_secret: service_kit::Secret::new("live-secret".to_owned()),
        },
        ..RiderSettings::default()
    })
    .await;
    let doc = app.get("/openapi.json", None).await.body;
    assert!(doc["paths"].get("/sandbox/vnpay/pay").is_none());
    assert_eq!(
        app.get("/sandbox/vnpay/pay", None).await.status,
        StatusCode::NOT_FOUND
    );
    app.finish().await;
}

#[tokio::test]
async fn cors_answers_only_configured_origins() {
    let allowed = "https://app.oneticket.vn";
    let cors = app_with(RiderSettings {
        public_url: PUBLIC_URL.to_owned(),
        cors_allowed_origins: vec![axum::http::HeaderValue::from_static(allowed)],
        ..RiderSettings::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        let app = &cors;
        async move {
            app.send(
                Method::OPTIONS,
                "/v1/me/topups",
                None,
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "authorization,idempotency-key,content-type",
                    ),
                ],
                Some(Body::empty()),
            )
            .await
        }
    };
    let ok = preflight(allowed).await;
    assert_eq!(ok.header("access-control-allow-origin"), Some(allowed));
    let headers = ok
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(headers.contains("idempotency-key"), "{headers}");
    let other = preflight("https://evil.example").await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    cors.finish().await;

    // No origins configured: no CORS headers at all.
    let plain = app().await;
    let reply = plain
        .send(
            Method::GET,
            "/openapi.json",
            None,
            &[("origin", allowed)],
            None,
        )
        .await;
    assert_eq!(reply.header("access-control-allow-origin"), None);
    plain.finish().await;
}
