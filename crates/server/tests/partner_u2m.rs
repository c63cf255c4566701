//! Partner Connect over OAuth U2M (`auth_options` with `AUTH_OAUTH_U2M`), end to end with
//! partner-sim on real sockets: the connect makes a per-workspace public OAuth app and sends
//! its client id; the partner's answer names its callback, the app's only redirect; a user
//! authorizes the partner through the workspace's sign-in, the partner exchanges the code (with
//! PKCE) and acts as that user; deleting the connection ends it all.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use common::browser::{self, location, set_cookie, token_request};
use common::sim::{served_with_sim, sim_state};
use common::{Reply, TestApp, behind_the_back};
use patchbay_partner::sim::{CALLBACK, SimHandle};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Connection;
use tower::ServiceExt;

const PC: &str = "/api/2.0/partner-connect";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Registers the custom partner "Acme Ingest" at the simulator, with `auth_options`.
async fn register(app: &TestApp, sim: &SimHandle, auth_options: Value) -> Reply {
    app.admin_post(&format!("{PC}/partners"), json!({
            "name": "Acme Ingest", "category": "INGEST", "profile": "ingest",
            "auth_options": auth_options,
            "base_url": sim.url,
            "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                          "test_connection_path": "/test-connection"},
            "credentials": {"username": sim.config.username, "password": sim.config.password},
            "hostnames": ["127.0.0.1"],
        }))
    .await
}

/// Registers the sim as a U2M-only partner, connects it, and returns its app's client id.
async fn connected_u2m_app(app: &TestApp, sim: &SimHandle) -> String {
    register(app, sim, json!(["AUTH_OAUTH_U2M"])).await.expect(StatusCode::CREATED);
    let connected = connect(app).await.ok();
    connected["connection"]["oauth_u2m_app"]["client_id"].as_str().unwrap().to_owned()
}

async fn connect(app: &TestApp) -> Reply {
    app.connect_partner("acme-ingest").await
}

/// What partner-sim answers as its callback: `own`, `foreign` or `none`.
async fn set_callback(sim: &SimHandle, callback: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/u2m/callback", sim.url))
        .json(&json!({ "callback": callback }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

/// [`browser::browse`] with the method a browser would use: POST for a form, GET otherwise.
async fn browse(app: &TestApp, path: &str, cookie: Option<&str>, form: Option<String>) -> Reply {
    let method = if form.is_some() { Method::POST } else { Method::GET };
    browser::browse(app, method, path, cookie, form).await
}

/// The store's integrity check finds nothing broken.
async fn assert_no_violations(app: &TestApp) {
    let found = app.store.check_integrity(60_000, i64::MAX).await.unwrap();
    assert!(found.is_empty(), "{found:?}");
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The authorization URL a partner sends a user to.
fn authorize_url(client_id: &str, redirect_uri: &str) -> String {
    format!(
        "/oidc/v1/authorize?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "all-apis offline_access")
            .append_pair("state", "st4te")
            .append_pair("code_challenge", &challenge(VERIFIER))
            .append_pair("code_challenge_method", "S256")
            .finish()
    )
}

/// Signs `token`'s user in at the login page (a browser without a session); the session
/// cookie.
async fn session_of(app: &TestApp, token: &str) -> String {
    let form = browse(app, "/login?next=%2F", None, None).await;
    assert_eq!(form.status, StatusCode::OK, "{:?}", form.body);
    let html = form.body["_raw"].as_str().unwrap().to_owned();
    let marker = r#"name="csrf" value=""#;
    let at = html.find(marker).expect("csrf field");
    let rest = &html[at + marker.len()..];
    let csrf = rest[..rest.find('"').unwrap()].to_owned();
    let login_cookie = set_cookie(&form.headers, "patchbay_login").unwrap();
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("next", "/")
        .append_pair("token", token)
        .finish();
    let r = browse(app, "/login", Some(&login_cookie), Some(body)).await;
    set_cookie(&r.headers, "patchbay_session")
        .unwrap_or_else(|| panic!("no session: {:?} {:?}", r.status, r.body))
}

/// The query of a redirect.
fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// A field's value in a page (the first `name="…" value="…"`), or the meta refresh's target,
/// with the HTML escaping of `&` undone.
fn attribute_after(html: &str, marker: &str) -> Option<String> {
    let at = html.find(marker)?;
    let rest = &html[at + marker.len()..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

fn html_of(r: &Reply) -> String {
    r.body["_raw"].as_str().unwrap_or_default().to_owned()
}

/// The consent page's form: where it posts and its CSRF token.
fn consent_form(page: &Reply) -> (String, String) {
    let html = html_of(page);
    // The page's main part: the header has the log-out form.
    let html = &html[html.find("<main").expect("a page")..];
    let action = attribute_after(html, r#"method="post" action=""#).expect("the consent form");
    let csrf = attribute_after(html, r#"name="csrf" value=""#).expect("csrf field");
    (action, csrf)
}

/// Clicks Allow or Deny on the consent page: the page that moves on, and where it goes.
async fn answer_consent(app: &TestApp, session: &str, page: &Reply, decision: &str) -> String {
    let (action, csrf) = consent_form(page);
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("decision", decision)
        .finish();
    let r = browse(app, &action, Some(session), Some(form)).await;
    assert_eq!(r.status, StatusCode::OK, "{action}: {:?} {:?}", r.headers, r.body);
    assert!(browser::redirect(&r.headers).is_none(), "not a redirect of the form");
    attribute_after(&html_of(&r), r#"http-equiv="refresh" content="0;url="#)
        .expect("the page moves on")
}

fn exchange_form(client_id: &str, redirect_uri: &str, code: &str, verifier: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code", code)
        .append_pair("code_verifier", verifier)
        .finish()
}

/// A code for the signed-in user (`session`) to the app, as the partner's callback receives it;
/// the user allows the partner on the consent page if it asks.
async fn code_for(app: &TestApp, session: &str, client_id: &str, redirect_uri: &str) -> String {
    let path = authorize_url(client_id, redirect_uri);
    let mut r = browse(app, &path, Some(session), None).await;
    if r.status == StatusCode::OK {
        let onward = answer_consent(app, session, &r, "allow").await;
        assert_eq!(onward, path);
        r = browse(app, &onward, Some(session), None).await;
    }
    assert_eq!(r.status, StatusCode::FOUND, "{:?}", r.body);
    let to = location(&r.headers);
    assert!(to.starts_with(redirect_uri), "{to}");
    let query = query_of(&to);
    assert_eq!(query["state"], "st4te");
    query["code"].clone()
}

#[tokio::test]
async fn registration_accepts_u2m_alone_or_beside_one_other_credential() {
    let (app, sim) = served_with_sim().await;
    let r = register(&app, &sim, json!(["AUTH_OAUTH_U2M", "AUTH_PAT", "AUTH_OAUTH_M2M"])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    for ok in [
        json!(["AUTH_OAUTH_U2M"]),
        json!(["AUTH_PAT", "AUTH_OAUTH_U2M"]),
        json!(["AUTH_OAUTH_M2M", "AUTH_OAUTH_U2M"]),
    ] {
        let r = register(&app, &sim, ok.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{ok}: {:?}", r.body);
        assert_eq!(r.body["partner"]["auth_options"], ok);
        app.admin_delete(&format!("{PC}/partners/acme-ingest")).await.ok();
    }
}

#[tokio::test]
async fn a_user_authorizes_the_partner_which_acts_as_them_until_the_connection_goes() {
    let (app, sim) = served_with_sim().await;
    let r = register(&app, &sim, json!(["AUTH_OAUTH_U2M"])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let connected = connect(&app).await.ok();
    let c = &connected["connection"];
    assert_eq!(c["state"], "CONNECTED", "{connected}");
    let client_id = c["oauth_u2m_app"]["client_id"].as_str().unwrap().to_owned();
    assert!(client_id.starts_with("pc-"), "{client_id}");
    let callback = format!("{}{CALLBACK}", sim.url);
    assert_eq!(c["oauth_u2m_app"]["redirect_uri"], callback.as_str());
    assert!(!c["oauth_u2m_app"].as_object().unwrap().keys().any(|k| k.contains("secret")), "{c}");

    // The partner got the app's client id and, with U2M alone, no token.
    let state = sim_state(&sim).await;
    let connection_id = c["partner_connection_id"].as_str().unwrap().to_owned();
    let held = state["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["connection_id"] == connection_id.as_str())
        .unwrap();
    assert_eq!(held["request"]["oauth_u2m_app_id"], client_id.as_str());
    assert_eq!(held["has_token"], false, "{held}");

    // A user clicks the partner's "Sign in with Databricks": the partner sends the browser to
    // the workspace, which sends it to the login, then back with a code to the partner.
    let (_, user_token) = app.plain_user("dev@example.com").await;
    let start = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/oauth/start/{connection_id}", sim.url))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status().as_u16(), 302);
    let authorize = start.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let path = authorize
        .strip_prefix(app.public_url.as_str())
        .unwrap_or_else(|| panic!("{authorize}"))
        .to_owned();
    assert_eq!(query_of(&path)["client_id"], client_id);
    let first = browse(&app, &path, None, None).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{:?}", first.body);
    assert!(location(&first.headers).starts_with("/login?next="));
    let session = session_of(&app, &user_token).await;
    // The workspace asks the user first; Allow leads back to the same authorize link.
    let asked = browse(&app, &path, Some(&session), None).await;
    assert_eq!(asked.status, StatusCode::OK, "{:?}", asked.body);
    assert!(html_of(&asked).contains("Allow Acme Ingest to act as you?"));
    let onward = answer_consent(&app, &session, &asked, "allow").await;
    assert_eq!(onward, path);
    let back = browse(&app, &path, Some(&session), None).await;
    assert_eq!(back.status, StatusCode::FOUND, "{:?}", back.body);
    let to = location(&back.headers);
    assert!(to.starts_with(&callback), "{to}");
    let finished = reqwest::get(&to).await.unwrap();
    assert_eq!(finished.status().as_u16(), 200);
    let finished: Value = finished.json().await.unwrap();
    assert_eq!(finished["user_name"], "dev@example.com", "{finished}");
    let sim_session = finished["session"].as_str().unwrap().to_owned();

    let check = || async {
        reqwest::Client::new()
            .post(format!("{}/_sim/u2m/{sim_session}/check", sim.url))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let ok = check().await;
    assert_eq!(ok["access"]["user_name"], "dev@example.com", "{ok}");
    assert_eq!(ok["refresh"]["user_name"], "dev@example.com", "{ok}");

    // Delete: the partner's refresh and access tokens stop; the app authorizes nothing more.
    app.admin_delete(&format!("{PC}/connections/acme-ingest")).await.ok();
    let gone = check().await;
    assert_eq!(gone["access"]["ok"], false, "{gone}");
    assert_eq!(gone["refresh"]["ok"], false, "{gone}");
    let refused = browse(&app, &path, Some(&session), None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{:?}", refused.body);
    assert!(browser::redirect(&refused.headers).is_none());
    assert_no_violations(&app).await;
}

#[tokio::test]
async fn the_code_needs_the_apps_redirect_and_its_verifier_and_grants_once() {
    let (app, sim) = served_with_sim().await;
    register(&app, &sim, json!(["AUTH_PAT", "AUTH_OAUTH_U2M"])).await.expect(StatusCode::CREATED);
    let connected = connect(&app).await.ok();
    let c = &connected["connection"];
    assert_eq!(c["credential"], "token", "{connected}");
    let client_id = c["oauth_u2m_app"]["client_id"].as_str().unwrap().to_owned();
    let redirect = c["oauth_u2m_app"]["redirect_uri"].as_str().unwrap().to_owned();
    let (_, user_token) = app.plain_user("ana@example.com").await;
    let session = session_of(&app, &user_token).await;

    // Another redirect, or an unknown client: refused here, never redirected.
    for (client, uri) in [
        (client_id.as_str(), format!("{redirect}x")),
        (client_id.as_str(), "http://localhost:8020".to_owned()),
        ("pc-00000000000000000000000000000000", redirect.clone()),
    ] {
        let r = browse(&app, &authorize_url(client, &uri), Some(&session), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{client} {uri}");
        assert!(browser::redirect(&r.headers).is_none());
    }

    // A wrong verifier, or another redirect at the exchange: invalid_grant, the code spent.
    let code = code_for(&app, &session, &client_id, &redirect).await;
    let wrong = "A".repeat(43);
    let r = token_request(&app, &exchange_form(&client_id, &redirect, &code, &wrong)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"], "invalid_grant");
    let r = token_request(&app, &exchange_form(&client_id, &redirect, &code, VERIFIER)).await;
    assert_eq!(r.body["error"], "invalid_grant", "spent");
    let code = code_for(&app, &session, &client_id, &redirect).await;
    let r =
        token_request(&app, &exchange_form(&client_id, &format!("{redirect}x"), &code, VERIFIER))
            .await;
    assert_eq!(r.body["error"], "invalid_grant");
    // The CLI's client cannot redeem the app's code.
    let code = code_for(&app, &session, &client_id, &redirect).await;
    let r = token_request(&app, &exchange_form("databricks-cli", &redirect, &code, VERIFIER)).await;
    assert_eq!(r.body["error"], "invalid_grant");
    // An unknown client at the token endpoint: invalid_client.
    let r = token_request(
        &app,
        &exchange_form("pc-00000000000000000000000000000000", &redirect, "x", VERIFIER),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"], "invalid_client");

    // Twenty exchanges of one code at once: exactly one gets tokens.
    let code = code_for(&app, &session, &client_id, &redirect).await;
    let form = exchange_form(&client_id, &redirect, &code, VERIFIER);
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let router = app.router.clone();
        let form = form.clone();
        racers.spawn(async move {
            let req = Request::builder()
                .method(Method::POST)
                .uri("/oidc/v1/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap();
            let response = router.oneshot(req).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        });
    }
    let mut granted = Vec::new();
    while let Some(joined) = racers.join_next().await {
        let (status, body) = joined.unwrap();
        if status == StatusCode::OK {
            granted.push(body);
        } else {
            assert_eq!(body["error"], "invalid_grant", "{status} {body}");
        }
    }
    assert_eq!(granted.len(), 1, "{} exchanges granted tokens", granted.len());

    // The one that won acts as the user, on the workspace's API.
    let access = granted[0]["access_token"].as_str().unwrap();
    let me = app.me_as(access).await.ok();
    assert_eq!(me["userName"], "ana@example.com");
    app.get_as(Some(access), "/api/2.0/sql/warehouses").await.ok();
    let refresh = granted[0]["refresh_token"].as_str().unwrap().to_owned();
    let refresh_form =
        format!("grant_type=refresh_token&client_id={client_id}&refresh_token={refresh}");
    // The refresh token is the app's: not the CLI's.
    let r = token_request(
        &app,
        &format!("grant_type=refresh_token&client_id=databricks-cli&refresh_token={refresh}"),
    )
    .await;
    assert_eq!(r.body["error"], "invalid_grant");

    // Delete: the refresh token is refused at once, the access token at its next request.
    app.admin_delete(&format!("{PC}/connections/acme-ingest")).await.ok();
    let r = token_request(&app, &refresh_form).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(r.body["error"], "invalid_client");
    let r = app.me_as(access).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = browse(&app, &authorize_url(&client_id, &redirect), Some(&session), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_partners_callback_must_be_on_its_hosts_or_the_connect_is_undone() {
    let (app, sim) = served_with_sim().await;
    register(&app, &sim, json!(["AUTH_OAUTH_M2M", "AUTH_OAUTH_U2M"]))
        .await
        .expect(StatusCode::CREATED);
    set_callback(&sim, "foreign").await;
    let r = connect(&app).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("oauth_redirect_uri"), "{:?}", r.body);
    let tile = app.admin_get(&format!("{PC}/partners/acme-ingest")).await.ok();
    assert!(tile["connection"].is_null(), "{tile}");
    assert!(
        app.store
            .check_integrity(60_000, i64::MAX)
            .await
            .unwrap()
            .iter()
            .all(|v| v.object_type != "oauth_app"),
    );

    // Without a callback the app exists but authorizes nobody.
    set_callback(&sim, "none").await;
    let connected = connect(&app).await.ok();
    let c = &connected["connection"];
    assert_eq!(c["credential"], "oauth_secret", "{connected}");
    assert!(c["oauth_u2m_app"]["redirect_uri"].is_null(), "{c}");
    let client_id = c["oauth_u2m_app"]["client_id"].as_str().unwrap();
    let (_, user_token) = app.plain_user("dev@example.com").await;
    let session = session_of(&app, &user_token).await;
    let r = browse(
        &app,
        &authorize_url(client_id, &format!("{}{CALLBACK}", sim.url)),
        Some(&session),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(browser::redirect(&r.headers).is_none());
}

#[tokio::test]
async fn an_app_without_its_connection_is_an_orphan_the_check_removes() {
    let (app, sim) = served_with_sim().await;
    let client_id = connected_u2m_app(&app, &sim).await;
    assert_no_violations(&app).await;
    // An older version (or an operator) points the app at a connection that is not there.
    behind_the_back(
        &app,
        &format!("UPDATE oauth_apps SET connection_uid = 'gone' WHERE client_id = '{client_id}'"),
    )
    .await;
    let found = app.store.check_integrity(60_000, i64::MAX).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].object_type, "oauth_app");
    assert_eq!(found[0].object_id, client_id);
    let repaired = app.store.repair_integrity(60_000).await.unwrap();
    assert_eq!(repaired.removed.len(), 1);
    assert!(app.store.oauth_app(&client_id).await.unwrap().is_none());
}

/// How many rows `sql` (a `SELECT COUNT(*) AS n …`) counts, read behind the server's back.
async fn count(app: &TestApp, sql: &str) -> i64 {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
    let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    conn.close().await.unwrap();
    n
}

#[tokio::test]
async fn a_partner_app_acts_as_a_user_only_after_they_allow_it_once() {
    let (app, sim) = served_with_sim().await;
    let client_id = connected_u2m_app(&app, &sim).await;
    let redirect = format!("{}{CALLBACK}", sim.url);
    let path = authorize_url(&client_id, &redirect);
    let (_, user_token) = app.plain_user("dev@example.com").await;
    let session = session_of(&app, &user_token).await;
    let codes = || count(&app, "SELECT COUNT(*) AS n FROM oauth_codes");

    // The first authorize asks, on a page of the workspace, and issues no code.
    let asked = browse(&app, &path, Some(&session), None).await;
    assert_eq!(asked.status, StatusCode::OK, "{:?}", asked.body);
    assert!(browser::redirect(&asked.headers).is_none());
    let html = html_of(&asked);
    assert!(
        html.contains("Allow <strong>Acme Ingest</strong> to act as you (<strong>dev@example.com</strong>) in this workspace?"),
        "{html}"
    );
    let csp = asked.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("form-action 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(asked.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(codes().await, 0);

    // Forged answers: without the page's token, with another session's, or from another site.
    let (action, csrf) = consent_form(&asked);
    let (_, other_token) = app.plain_user("eve@example.com").await;
    let other_session = session_of(&app, &other_token).await;
    let other_csrf = consent_form(&browse(&app, &path, Some(&other_session), None).await).1;
    for form in ["decision=allow".to_owned(), format!("decision=allow&csrf={other_csrf}")] {
        let r = browse(&app, &action, Some(&session), Some(form.clone())).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{form}: {:?}", r.body);
    }
    let req = Request::builder()
        .method(Method::POST)
        .uri(&action)
        .header(header::COOKIE, &session)
        .header(header::ORIGIN, "http://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("decision=allow&csrf={csrf}")))
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    // Without a session: to the login, nothing recorded.
    let r = browse(&app, &action, None, Some(format!("decision=allow&csrf={csrf}"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM oauth_consents").await, 0);
    assert_eq!(codes().await, 0);

    // Deny: back to the partner with access_denied and its state; asked again next time.
    let denied = answer_consent(&app, &session, &asked, "deny").await;
    assert!(denied.starts_with(&format!("{redirect}?")), "{denied}");
    let q = query_of(&denied);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st4te");
    assert!(!q.contains_key("code"));
    assert_eq!(codes().await, 0);
    let again = browse(&app, &path, Some(&session), None).await;
    assert_eq!(again.status, StatusCode::OK);

    // Allow: the same authorize link again, which now redirects with a code that works.
    let onward = answer_consent(&app, &session, &again, "allow").await;
    assert_eq!(onward, path);
    let code = code_for(&app, &session, &client_id, &redirect).await;
    let r = token_request(&app, &exchange_form(&client_id, &redirect, &code, VERIFIER)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The second time: no page, straight back with a code. Another user is still asked.
    let r = browse(&app, &path, Some(&session), None).await;
    assert_eq!(r.status, StatusCode::FOUND, "{:?}", r.body);
    assert!(query_of(&location(&r.headers)).contains_key("code"));
    let r = browse(&app, &path, Some(&other_session), None).await;
    assert_eq!(r.status, StatusCode::OK);

    // The CLI's own client asks nothing, and has no consent to answer.
    let cli = authorize_url("databricks-cli", "http://localhost:8020");
    let r = browse(&app, &cli, Some(&session), None).await;
    assert_eq!(r.status, StatusCode::FOUND, "{:?}", r.body);
    assert!(query_of(&location(&r.headers)).contains_key("code"));
    let r = browse(&app, &cli, Some(&session), Some(format!("decision=allow&csrf={csrf}"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);

    // The consents die with the connection's app; a new connection's app asks again.
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM oauth_consents").await, 1);
    app.admin_delete(&format!("{PC}/connections/acme-ingest")).await.ok();
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM oauth_consents").await, 0);
    let r =
        browse(&app, &action, Some(&session), Some(format!("decision=allow&csrf={csrf}"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "the app is gone");
    let connected = connect(&app).await.ok();
    let new_client =
        connected["connection"]["oauth_u2m_app"]["client_id"].as_str().unwrap().to_owned();
    assert_ne!(new_client, client_id);
    let r = browse(&app, &authorize_url(&new_client, &redirect), Some(&session), None).await;
    assert_eq!(r.status, StatusCode::OK, "asked again");
    assert_no_violations(&app).await;
}
