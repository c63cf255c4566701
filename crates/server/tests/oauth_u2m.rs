//! Browser sign-in for the Databricks CLI and SDKs (`external-browser` auth): the
//! authorization code with PKCE for the public client `databricks-cli`, the user signing in
//! through the page's login, and refresh tokens — step by step, as the SDK and a browser do it.

mod common;

use axum::http::{Method, StatusCode, header};
use base64::Engine;
use common::browser::{browse, location, set_cookie, token_request};
use common::{SCIM, TestApp};
use sha2::{Digest, Sha256};

const REDIRECT: &str = "http://localhost:8020";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The authorization URL the SDK opens.
fn authorize_url(extra: &str) -> String {
    format!(
        "/oidc/v1/authorize?response_type=code&client_id=databricks-cli&redirect_uri={}&scope=all-apis+offline_access&state=st4te&code_challenge={}&code_challenge_method=S256{extra}",
        form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        challenge(VERIFIER)
    )
}

/// Follows the login the authorize endpoint sends a browser without a session to; the
/// session cookie and where the login sends the browser on.
async fn log_in(app: &TestApp, login_path: &str, token: &str) -> (String, String) {
    let form = browse(app, Method::GET, login_path, None, None).await;
    assert_eq!(form.status, StatusCode::OK, "{:?}", form.body);
    let html = form.body["_raw"].as_str().unwrap().to_owned();
    let field = |name: &str| {
        let marker = format!(r#"name="{name}" value=""#);
        let at = html.find(&marker).unwrap_or_else(|| panic!("no {name} field: {html}"));
        let rest = &html[at + marker.len()..];
        rest[..rest.find('"').unwrap()].replace("&amp;", "&")
    };
    let (csrf, next) = (field("csrf"), field("next"));
    let login_cookie = set_cookie(&form.headers, "patchbay_login").unwrap();
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("next", &next)
        .append_pair("token", token)
        .finish();
    let r = browse(app, Method::POST, "/login", Some(&login_cookie), Some(body)).await;
    // A page that moves on by itself (a redirect of the form would be stopped by the page's
    // form-action policy once the sign-in redirects to the client's port).
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let html = r.body["_raw"].as_str().unwrap();
    let marker = r#"http-equiv="refresh" content="0;url="#;
    let at = html.find(marker).unwrap_or_else(|| panic!("no refresh: {html}"));
    let rest = &html[at + marker.len()..];
    (
        set_cookie(&r.headers, "patchbay_session").unwrap(),
        rest[..rest.find('"').unwrap()].replace("&amp;", "&"),
    )
}

/// The query of a redirect back to the client.
fn callback(location: &str) -> std::collections::HashMap<String, String> {
    assert!(location.starts_with(REDIRECT), "{location}");
    let query = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn exchange_form(code: &str, verifier: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("client_id", "databricks-cli")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code", code)
        .append_pair("code_verifier", verifier)
        .finish()
}

/// Signs `token`'s user in through the browser flow; the code the client receives.
async fn sign_in(app: &TestApp, token: &str) -> String {
    let first = browse(app, Method::GET, &authorize_url(""), None, None).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{:?}", first.body);
    let login_path = location(&first.headers);
    assert!(login_path.starts_with("/login?next="), "{login_path}");
    let (session, next) = log_in(app, &login_path, token).await;
    assert_eq!(next, authorize_url(""), "the login goes back to the sign-in");
    let back = browse(app, Method::GET, &next, Some(&session), None).await;
    assert_eq!(back.status, StatusCode::FOUND, "{:?}", back.body);
    let query = callback(&location(&back.headers));
    assert_eq!(query["state"], "st4te");
    query["code"].clone()
}

#[tokio::test]
async fn a_user_signs_in_through_the_browser_and_refreshes() {
    let app = TestApp::new().await;
    let (_, user_token) = app.plain_user("dev@example.com").await;
    let code = sign_in(&app, &user_token).await;

    let granted = token_request(&app, &exchange_form(&code, VERIFIER)).await.ok();
    assert_eq!(granted["token_type"], "Bearer");
    assert_eq!(granted["expires_in"], 3600);
    let access = granted["access_token"].as_str().unwrap().to_owned();
    let refresh = granted["refresh_token"].as_str().unwrap().to_owned();
    let me = app.me_as(&access).await.ok();
    assert_eq!(me["userName"], "dev@example.com");

    // A code is used once.
    let again = token_request(&app, &exchange_form(&code, VERIFIER)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body["error"], "invalid_grant");

    // A refresh gives a new pair; the old refresh token then grants nothing.
    let refresh_form =
        |t: &str| format!("grant_type=refresh_token&client_id=databricks-cli&refresh_token={t}");
    let refreshed = token_request(&app, &refresh_form(&refresh)).await.ok();
    let new_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, refresh);
    app.get_as(Some(refreshed["access_token"].as_str().unwrap()), &format!("{SCIM}/Me")).await.ok();
    let stale = token_request(&app, &refresh_form(&refresh)).await;
    assert_eq!(stale.body["error"], "invalid_grant");
    // Neither a code nor a refresh token is a bearer credential.
    for t in [&code, &new_refresh] {
        let r = app.me_as(t).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }

    // Deactivating the user ends its access tokens and its grant.
    let id = me["id"].as_str().unwrap();
    app.admin_patch(
        &format!("{SCIM}/Users/{id}"),
        serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]}),
    )
    .await
    .ok();
    let r = app.me_as(&access).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        token_request(&app, &refresh_form(&new_refresh)).await.body["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn the_code_needs_its_verifier_client_and_redirect() {
    let app = TestApp::new().await;
    for form in [
        |c: &str| exchange_form(c, "wrong-verifier-wrong-verifier-wrong-verifier-x"),
        |c: &str| exchange_form(c, VERIFIER).replace("localhost%3A8020", "localhost%3A9999"),
    ] {
        let code = sign_in(&app, &app.admin_token).await;
        let r = token_request(&app, &form(&code)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
        assert_eq!(r.body["error"], "invalid_grant");
        // The code is spent by the failed try.
        let r = token_request(&app, &exchange_form(&code, VERIFIER)).await;
        assert_eq!(r.body["error"], "invalid_grant");
    }
    let code = sign_in(&app, &app.admin_token).await;
    let other_client = exchange_form(&code, VERIFIER).replace("databricks-cli", "another-app");
    assert_eq!(token_request(&app, &other_client).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_sign_in_requests_never_redirect_elsewhere() {
    let app = TestApp::new().await;
    let (session, _) = {
        let first = browse(&app, Method::GET, &authorize_url(""), None, None).await;
        log_in(&app, &location(&first.headers), &app.admin_token).await
    };
    // An unknown client or a redirect off the user's machine: answered here, not redirected.
    for bad in [
        authorize_url("").replace("databricks-cli", "evil"),
        authorize_url("").replace("localhost%3A8020", "evil.example.com"),
        authorize_url("").replace("http%3A%2F%2Flocalhost", "https%3A%2F%2Flocalhost"),
    ] {
        let r = browse(&app, Method::GET, &bad, Some(&session), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
        assert!(r.headers.get(header::LOCATION).is_none());
    }
    // Other errors go back to the client, with its state.
    for (bad, error) in [
        (
            authorize_url("").replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (authorize_url("").replace("&code_challenge_method=S256", ""), "invalid_request"),
        (authorize_url("").replace("scope=all-apis", "scope=sql"), "invalid_scope"),
    ] {
        let r = browse(&app, Method::GET, &bad, Some(&session), None).await;
        assert_eq!(r.status, StatusCode::FOUND, "{bad}: {:?}", r.body);
        let query = callback(&location(&r.headers));
        assert_eq!(query["error"], error, "{bad}");
        assert_eq!(query["state"], "st4te");
        assert!(!query.contains_key("code"));
    }
    // A login never sends the browser anywhere but back to a sign-in.
    let form =
        browse(&app, Method::GET, "/login?next=https%3A%2F%2Fevil.example.com", None, None).await;
    let html = form.body["_raw"].as_str().unwrap();
    assert!(!html.contains("evil.example.com"), "{html}");
}
