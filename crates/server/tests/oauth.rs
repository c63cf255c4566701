//! OAuth for service principals as the SDKs use it: secrets through the workspace- and
//! account-level APIs, discovery, the `client_credentials` grant, and access tokens that stop
//! working (401) the moment their secret, their principal or its workspace access goes.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use common::{Reply, SCIM, TestApp};
use patchbay_core::PrincipalId;
use serde_json::{Value, json};

fn secrets_path(principal_id: &str) -> String {
    format!("/api/2.0/accounts/servicePrincipals/{principal_id}/credentials/secrets")
}

/// A service principal with `workspace-access`: its SCIM id and application id.
async fn service_principal(app: &TestApp, name: &str) -> (String, String) {
    let body = app.create_service_principal_entitled(name, &["workspace-access"]).await;
    (
        body["id"].as_str().expect("id").to_owned(),
        body["applicationId"].as_str().expect("applicationId").to_owned(),
    )
}

async fn create_secret(app: &TestApp, principal_id: &str, body: Option<Value>) -> Value {
    app.admin(Method::POST, &secrets_path(principal_id), body).await.ok()
}

/// The value of a new secret of `principal_id` made with `body`.
async fn secret_value(app: &TestApp, principal_id: &str, body: Option<Value>) -> String {
    create_secret(app, principal_id, body).await["secret"].as_str().expect("secret").to_owned()
}

/// A token request with the client's credentials in HTTP Basic, as the SDKs send it.
async fn token_request(
    app: &TestApp,
    path: &str,
    client_id: &str,
    secret: &str,
    form: &str,
) -> Reply {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .expect("request");
    app.send(req).await
}

async fn grant(app: &TestApp, client_id: &str, secret: &str) -> Reply {
    token_request(
        app,
        "/oidc/v1/token",
        client_id,
        secret,
        "grant_type=client_credentials&scope=all-apis",
    )
    .await
}

async fn access_token(app: &TestApp, client_id: &str, secret: &str) -> String {
    let body = grant(app, client_id, secret).await.ok();
    body["access_token"].as_str().expect("access_token").to_owned()
}

#[tokio::test]
async fn discovery_names_the_token_endpoint() {
    let app = TestApp::new().await;
    let config = app.get_as(None, "/.well-known/databricks-config").await.ok();
    let oidc = config["oidc_endpoint"].as_str().expect("oidc_endpoint");
    assert_eq!(oidc, format!("{}/oidc", app.public_url));
    let account_id = config["account_id"].as_str().expect("account_id").to_owned();
    assert!(!account_id.is_empty());

    let doc = app.get_as(None, "/oidc/.well-known/oauth-authorization-server").await.ok();
    assert_eq!(doc["token_endpoint"], format!("{oidc}/v1/token"));
    assert!(doc["authorization_endpoint"].is_string(), "the SDK requires it");

    let account = app
        .get_as(
            None,
            &format!("/oidc/accounts/{account_id}/.well-known/oauth-authorization-server"),
        )
        .await
        .ok();
    assert_eq!(account["token_endpoint"], format!("{oidc}/accounts/{account_id}/v1/token"));
    let other = app
        .get_as(None, "/oidc/accounts/00000000-0000-0000-0000-000000000000/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_secret_is_shown_once_and_exchanged_for_an_access_token() {
    let app = TestApp::new().await;
    let (id, application_id) = service_principal(&app, "ETL").await;
    let created = create_secret(&app, &id, Some(json!({"lifetime": "31536000s"}))).await;
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("dose"), "{secret}");
    assert_eq!(created["status"], "ACTIVE");
    for field in ["id", "secret_hash", "create_time", "update_time", "expire_time"] {
        assert!(created[field].is_string(), "{field}: {created}");
    }
    let create_time = time::OffsetDateTime::parse(
        created["create_time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    let expire_time = time::OffsetDateTime::parse(
        created["expire_time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    assert_eq!((expire_time - create_time).whole_seconds(), 31_536_000);

    let list = app.admin_get(&secrets_path(&id)).await.ok();
    let listed = list["secrets"].as_array().expect("secrets");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], created["id"]);
    assert_eq!(listed[0]["secret_hash"], created["secret_hash"]);
    assert!(!list.to_string().contains(&secret), "a listing never shows the value");

    let reply = grant(&app, &application_id, &secret).await;
    assert_eq!(
        reply.headers.get(header::CACHE_CONTROL).map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    let body = reply.ok();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "all-apis");
    let token = body["access_token"].as_str().unwrap();
    let me = app.me_as(token).await.ok();
    assert_eq!(me["userName"], application_id, "a service principal is shown as a user");
    assert_eq!(me["id"], id);
}

#[tokio::test]
async fn the_default_lifetime_is_730_days_and_bad_lifetimes_are_refused() {
    let app = TestApp::new().await;
    let (id, _) = service_principal(&app, "ETL").await;
    let created = create_secret(&app, &id, None).await;
    let parse = |field: &str| {
        time::OffsetDateTime::parse(
            created[field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!((parse("expire_time") - parse("create_time")).whole_days(), 730);
    for bad in ["forever", "0s", "63072001s", "10"] {
        let r = app.admin_post(&secrets_path(&id), json!({"lifetime": bad})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
    }
}

#[tokio::test]
async fn only_admins_manage_secrets_and_only_of_service_principals() {
    let app = TestApp::new().await;
    let (id, _) = service_principal(&app, "ETL").await;
    let (user_id, user_token) = app.plain_user("u@example.com").await;
    for (method, body) in [(Method::POST, Some(json!({}))), (Method::GET, None)] {
        let r = app.call(method, &secrets_path(&id), Some(&user_token), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    }
    let r = app.post_as(None, &secrets_path(&id), json!({})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A user is not a service principal; an unknown id is nobody, and so is a principal's id
    // spelt with a sign, as everywhere else a URL names a principal.
    let signed = format!("+{id}");
    for other in [user_id.as_str(), "123", "abc", &signed] {
        let r = app.admin_post(&secrets_path(other), json!({})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{other}: {:?}", r.body);
    }
}

#[tokio::test]
async fn a_principal_may_not_mint_secrets_for_itself() {
    let app = TestApp::new().await;
    let (id, application_id) = service_principal(&app, "ADMIN_SP").await;
    let group = app.scim_id_where("Groups", "displayName%20eq%20admins").await;
    app.admin_patch(
        &format!("{SCIM}/Groups/{group}"),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}),
    )
    .await
    .ok();
    let secret = secret_value(&app, &id, None).await;
    let token = access_token(&app, &application_id, &secret).await;
    let r = app.post_as(Some(&token), &secrets_path(&id), json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    // As an admin it may manage another principal's.
    let (other, _) = service_principal(&app, "OTHER").await;
    let r = app.post_as(Some(&token), &secrets_path(&other), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn deleting_the_secret_ends_its_access_tokens_at_once() {
    let app = TestApp::new().await;
    let (id, application_id) = service_principal(&app, "ETL").await;
    let created = create_secret(&app, &id, None).await;
    let secret = created["secret"].as_str().unwrap();
    let kept = create_secret(&app, &id, None).await;
    let token = access_token(&app, &application_id, secret).await;
    let other = access_token(&app, &application_id, kept["secret"].as_str().unwrap()).await;
    app.me_as(&token).await.ok();

    let secret_id = created["id"].as_str().unwrap();
    app.admin_delete(&format!("{}/{secret_id}", secrets_path(&id))).await.ok();
    assert_eq!(app.me_as(&token).await.status, StatusCode::UNAUTHORIZED, "never 403");
    let again = grant(&app, &application_id, secret).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.body["error"], "invalid_client");
    app.me_as(&other).await.ok();
    let gone = app.admin_delete(&format!("{}/{secret_id}", secrets_path(&id))).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_the_principal_or_its_workspace_access_ends_its_tokens() {
    let app = TestApp::new().await;
    let (id, application_id) = service_principal(&app, "ETL").await;
    let secret = secret_value(&app, &id, None).await;
    let token = access_token(&app, &application_id, &secret).await;

    app.admin_patch(&format!("{SCIM}/ServicePrincipals/{id}"), json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": "entitlements[value eq \"workspace-access\"]"}]}))
    .await
    .ok();
    assert_eq!(app.me_as(&token).await.status, StatusCode::UNAUTHORIZED);
    let refused = grant(&app, &application_id, &secret).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "unauthorized_client");

    app.admin_patch(&format!("{SCIM}/ServicePrincipals/{id}"), json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "entitlements", "value": [{"value": "workspace-access"}]}]}))
    .await
    .ok();
    app.me_as(&token).await.ok();

    let r = app.admin_delete(&format!("{SCIM}/ServicePrincipals/{id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.me_as(&token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(grant(&app, &application_id, &secret).await.body["error"], "invalid_client");
}

#[tokio::test]
async fn an_expired_secret_grants_nothing() {
    let app = TestApp::with_manual_clock().await;
    let (id, application_id) = service_principal(&app, "ETL").await;
    let secret = secret_value(&app, &id, Some(json!({"lifetime": "1s"}))).await;
    app.advance(std::time::Duration::from_millis(1100));
    let r = grant(&app, &application_id, &secret).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"], "invalid_client");
    let list = app.admin_get(&secrets_path(&id)).await.ok();
    assert_eq!(list["secrets"][0]["status"], "EXPIRED");
}

#[tokio::test]
async fn bad_token_requests_get_oauth_errors_and_nothing_is_issued() {
    let app = TestApp::new().await;
    let (id, application_id) = service_principal(&app, "ETL").await;
    let (other_id, other_application) = service_principal(&app, "OTHER").await;
    let secret = secret_value(&app, &id, None).await;
    create_secret(&app, &other_id, None).await;
    let cases: Vec<(&str, &str, &str, StatusCode, &str)> = vec![
        (
            "grant_type=password",
            &application_id,
            &secret,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        ("scope=all-apis", &application_id, &secret, StatusCode::BAD_REQUEST, "invalid_request"),
        (
            "grant_type=client_credentials&scope=sql",
            &application_id,
            &secret,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials",
            &other_application,
            &secret,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        ("grant_type=client_credentials", "", &secret, StatusCode::UNAUTHORIZED, "invalid_client"),
        (
            "grant_type=client_credentials",
            &application_id,
            "dose0123456789abcdef0123456789abcdef",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            "grant_type=client_credentials",
            &application_id,
            &app.admin_token,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
    ];
    for (form, client, presented, status, error) in cases {
        let r = token_request(&app, "/oidc/v1/token", client, presented, form).await;
        assert_eq!(r.status, status, "{form} {client}: {:?}", r.body);
        assert_eq!(r.body["error"], error, "{form}");
        assert!(r.body.get("access_token").is_none());
        assert_eq!(
            r.headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap()),
            Some("application/json")
        );
    }
    // The form may carry the credentials instead.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/oidc/v1/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "grant_type=client_credentials&client_id={application_id}&client_secret={secret}"
        )))
        .unwrap();
    let token = app.send(req).await.ok()["access_token"].as_str().unwrap().to_owned();
    // A secret is not a bearer credential.
    assert_eq!(app.me_as(&secret).await.status, StatusCode::UNAUTHORIZED);
    app.me_as(&token).await.ok();
}

#[tokio::test]
async fn failed_client_authentications_are_limited_per_client() {
    let app = TestApp::new().await;
    let (id, application_id) = service_principal(&app, "ETL").await;
    let secret = secret_value(&app, &id, None).await;
    let (other_id, other_application) = service_principal(&app, "OTHER").await;
    let other_secret = secret_value(&app, &other_id, None).await;
    let wrong = "dose0123456789abcdef0123456789abcdef";
    for _ in 0..10 {
        assert_eq!(grant(&app, &application_id, wrong).await.status, StatusCode::UNAUTHORIZED);
    }
    let limited = grant(&app, &application_id, &secret).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", limited.body);
    assert!(limited.headers.get(header::RETRY_AFTER).is_some());
    assert!(limited.body.get("access_token").is_none());
    grant(&app, &other_application, &other_secret).await.ok();
}

#[tokio::test]
async fn the_account_level_api_and_token_endpoint_answer_for_this_account_only() {
    let app = TestApp::new().await;
    let (id, application_id) = service_principal(&app, "ETL").await;
    let config = app.get_as(None, "/.well-known/databricks-config").await.ok();
    let account_id = config["account_id"].as_str().unwrap().to_owned();
    let base = format!("/api/2.0/accounts/{account_id}/servicePrincipals/{id}/credentials/secrets");
    let created = app.admin_post(&base, json!({})).await.ok();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let listed = app.admin_get(&base).await.ok();
    assert_eq!(listed["secrets"][0]["id"], created["id"]);
    // The workspace-level view sees the same secret.
    let here = app.admin_get(&secrets_path(&id)).await.ok();
    assert_eq!(here["secrets"][0]["id"], created["id"]);

    let elsewhere = "/api/2.0/accounts/00000000-0000-0000-0000-000000000000/servicePrincipals";
    let r = app.admin_get(&format!("{elsewhere}/{id}/credentials/secrets")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let account_grant = token_request(
        &app,
        &format!("/oidc/accounts/{account_id}/v1/token"),
        &application_id,
        &secret,
        "grant_type=client_credentials&scope=all-apis",
    )
    .await
    .ok();
    app.me_as(account_grant["access_token"].as_str().unwrap()).await.ok();
    let foreign = token_request(
        &app,
        "/oidc/accounts/00000000-0000-0000-0000-000000000000/v1/token",
        &application_id,
        &secret,
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(foreign.status, StatusCode::UNAUTHORIZED);

    let secret_id = created["id"].as_str().unwrap();
    app.admin_delete(&format!("{base}/{secret_id}")).await.ok();
    let after = app.admin_get(&base).await.ok();
    assert_eq!(after["secrets"], json!([]));
}

#[tokio::test]
async fn a_principal_holds_at_most_five_secrets() {
    let app = TestApp::new().await;
    let (id, _) = service_principal(&app, "ETL").await;
    for _ in 0..5 {
        create_secret(&app, &id, None).await;
    }
    let r = app.admin_post(&secrets_path(&id), json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
}

/// Whatever a caller sends to the token endpoint (any body, any Authorization header), the
/// answer is an OAuth error in JSON or a grant, never a 5xx, and nothing is issued without the
/// secret.
#[test]
fn hostile_token_requests_get_oauth_errors() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let app = runtime.block_on(TestApp::new());
    let (id, client_id) = runtime.block_on(service_principal(&app, "ETL"));
    runtime.block_on(create_secret(&app, &id, None));
    let pieces = prop_oneof![
        Just("grant_type=client_credentials".to_owned()),
        Just(format!("client_id={client_id}")),
        Just("client_secret=dose0123456789abcdef0123456789abcdef".to_owned()),
        Just("scope=all-apis".to_owned()),
        Just("grant_type=".to_owned()),
        "[ -~]{0,40}",
        "%[0-9A-Fa-f]{2}",
    ];
    let body = prop::collection::vec(pieces, 0..6).prop_map(|p| p.join("&"));
    let header = prop_oneof![
        Just(None),
        "[ -~]{0,60}".prop_map(Some),
        "[A-Za-z0-9+/=]{0,40}".prop_map(|b| Some(format!("Basic {b}"))),
        Just(Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{client_id}:dose0123456789abcdef0123456789abcdef"))
        ))),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 300,
        ..Default::default()
    });
    runner
        .run(&(body, header), |(body, header)| {
            let mut req = Request::builder()
                .method(Method::POST)
                .uri("/oidc/v1/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            if let Some(h) = &header
                && let Ok(value) = axum::http::HeaderValue::from_str(h)
            {
                req = req.header(header::AUTHORIZATION, value);
            }
            let reply = runtime.block_on(app.send(req.body(Body::from(body.clone())).unwrap()));
            prop_assert!(reply.status.as_u16() < 500, "{body:?}: {:?}", reply.body);
            prop_assert!(reply.body.get("access_token").is_none(), "{body:?}: {:?}", reply.body);
            prop_assert!(reply.body["error"].is_string(), "{body:?}: {:?}", reply.body);
            Ok(())
        })
        .unwrap();
}

/// The claims of a token the endpoint granted, and the key that signed it.
async fn granted_claims(
    app: &TestApp,
    token: &str,
) -> (patchbay_core::jwt::AccessClaims, patchbay_core::jwt::SigningKey) {
    let claims = patchbay_core::jwt::Unverified::parse(token).expect("a JWT").claims().clone();
    (claims, app.store.signing_key().await.expect("signing key"))
}

#[tokio::test]
async fn access_tokens_are_jwts_and_forged_ones_are_refused() {
    use patchbay_core::jwt::{SigningKey, sign};
    let app = TestApp::new().await;
    let (id, application_id) = service_principal(&app, "ETL").await;
    let created = create_secret(&app, &id, None).await;
    let token = access_token(&app, &application_id, created["secret"].as_str().unwrap()).await;
    let (claims, key) = granted_claims(&app, &token).await;
    assert_eq!(claims.iss, format!("{}/oidc", app.public_url));
    assert_eq!(claims.aud, app.public_url);
    assert_eq!(claims.sub, application_id);
    assert_eq!(claims.exp - claims.iat, 3600);
    assert_eq!(claims.secret_id.as_deref(), created["id"].as_str());
    assert_eq!(claims.principal_id.to_string(), id);
    app.me_as(&token).await.ok();
    // The harness forges with the real key what the server accepts.
    app.me_as(sign(&key, &claims).expose()).await.ok();

    let refused = app.me_as(&format!("dapi{}", "0".repeat(32))).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let parts: Vec<&str> = token.split('.').collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    let with = |change: &dyn Fn(&mut patchbay_core::jwt::AccessClaims)| {
        let mut c = claims.clone();
        change(&mut c);
        c
    };
    let forged = [
        (
            "another secret under the same kid",
            sign(
                &SigningKey::from_hex(key.kid(), &SigningKey::generate().secret_hex()).unwrap(),
                &claims,
            )
            .expose()
            .to_owned(),
        ),
        ("a key of another kid", sign(&SigningKey::generate(), &claims).expose().to_owned()),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": key.kid(), "typ": "JWT"})),
                parts[1]
            ),
        ),
        (
            "alg none with the real signature",
            format!("{}.{}.{}", b64(&json!({"alg": "none", "kid": key.kid()})), parts[1], parts[2]),
        ),
        (
            "changed claims",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&serde_json::to_value(with(&|c| c.principal_id = PrincipalId::new(1))).unwrap()),
                parts[2]
            ),
        ),
        (
            "wrong iss",
            sign(&key, &with(&|c| c.iss = "https://elsewhere/oidc".into())).expose().to_owned(),
        ),
        (
            "wrong aud",
            sign(&key, &with(&|c| c.aud = "https://elsewhere".into())).expose().to_owned(),
        ),
        ("expired", sign(&key, &with(&|c| c.exp = now - 1)).expose().to_owned()),
        (
            "another principal than its secret's",
            sign(&key, &with(&|c| c.principal_id = PrincipalId::new(1))).expose().to_owned(),
        ),
        ("no secret named", sign(&key, &with(&|c| c.secret_id = None)).expose().to_owned()),
    ];
    for (what, forged) in forged {
        let r = app.me_as(&forged).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(r.body, refused.body, "{what}: the same envelope and message");
        let r = app.get_as(Some(&forged), "/api/2.0/clusters/list").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            r.body,
            json!({"error_code": "UNAUTHENTICATED", "message": "Invalid access token."}),
            "{what}"
        );
    }
    app.me_as(&token).await.ok();
}

/// The signing keys' secrets as stored, by kid, read behind the store's back.
async fn stored_signing_secrets(app: &TestApp) -> std::collections::BTreeMap<String, String> {
    use sqlx::Row;
    common::read_behind_the_back(app, "SELECT kid, secret FROM oauth_signing_keys")
        .await
        .iter()
        .map(|r| (r.get("kid"), r.get("secret")))
        .collect()
}

/// Whoever reads the database must not be able to mint access tokens: the signing keys'
/// secrets are kept sealed with the installation's secret key. A sealed secret moved to
/// another key's row does not open there, so the tokens that key signed are refused; a secret
/// an older version kept in the clear is sealed when a store is given the key, and the tokens
/// it signed still verify.
#[tokio::test]
async fn signing_keys_are_kept_sealed_outside_the_database() {
    let app = TestApp::new().await;
    let (id, application_id) = service_principal(&app, "ETL").await;
    let secret = secret_value(&app, &id, None).await;
    // Signed by the first key, and not presented until the end.
    let by_first = access_token(&app, &application_id, &secret).await;
    let first = app.store.signing_key().await.unwrap();
    let stored = stored_signing_secrets(&app).await;
    assert_eq!(stored.len(), 1);
    let sealed_first = &stored[first.kid()];
    assert!(
        !sealed_first.contains(&first.secret_hex()),
        "the secret is in the clear: {sealed_first}"
    );

    // Two keys, their sealed secrets swapped: a token signed by the newest, never presented
    // before, is refused.
    let second_kid = app.store.rotate_signing_key().await.unwrap();
    let signed = access_token(&app, &application_id, &secret).await;
    let stored = stored_signing_secrets(&app).await;
    for (kid, other) in [(&second_kid, first.kid()), (&first.kid().to_owned(), &second_kid)] {
        common::behind_the_back(
            &app,
            &format!(
                "UPDATE oauth_signing_keys SET secret = '{}' WHERE kid = '{kid}'",
                stored[other]
            ),
        )
        .await;
    }
    let refused = app.me_as(&signed).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{:?}", refused.body);

    // Put back, the first key's secret in the clear as an older version kept it: the next
    // store given the key seals it, and the token verifies again.
    common::behind_the_back(
        &app,
        &format!(
            "UPDATE oauth_signing_keys SET secret = '{}' WHERE kid = '{second_kid}'",
            stored[&second_kid]
        ),
    )
    .await;
    common::behind_the_back(
        &app,
        &format!(
            "UPDATE oauth_signing_keys SET secret = '{}' WHERE kid = '{}'",
            first.secret_hex(),
            first.kid()
        ),
    )
    .await;
    let restarted = common::restarted_store(&app).await;
    let resealed = stored_signing_secrets(&app).await;
    assert!(
        !resealed[first.kid()].contains(&first.secret_hex()),
        "sealed again: {}",
        resealed[first.kid()]
    );
    assert_eq!(resealed[&second_kid], stored[&second_kid], "a sealed secret stays as it is");
    assert_eq!(restarted.signing_key().await.unwrap().kid(), second_kid);
    restarted.close().await;
    app.me_as(&signed).await.ok();
    app.me_as(&by_first).await.ok();
}

#[tokio::test]
async fn a_rotated_key_signs_new_tokens_and_old_ones_still_verify() {
    let app = TestApp::new().await;
    let (a, b) = tokio::join!(app.store.signing_key(), app.store.signing_key());
    let first = a.unwrap();
    assert_eq!(first.kid(), b.unwrap().kid(), "one first key, however many ask");
    let (id, application_id) = service_principal(&app, "ETL").await;
    let secret = secret_value(&app, &id, None).await;
    let old = access_token(&app, &application_id, &secret).await;
    let kid = app.store.rotate_signing_key().await.unwrap();
    assert_ne!(kid, first.kid());
    let new = access_token(&app, &application_id, &secret).await;
    let (claims_new, key) = granted_claims(&app, &new).await;
    assert_eq!(key.kid(), kid);
    assert_eq!(patchbay_core::jwt::Unverified::parse(&new).unwrap().kid(), kid);
    assert_ne!(patchbay_core::jwt::Unverified::parse(&old).unwrap().kid(), kid);
    assert_eq!(claims_new.sub, application_id);
    app.me_as(&old).await.ok();
    app.me_as(&new).await.ok();
}
