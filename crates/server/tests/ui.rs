//! The Partner Connect page's sessions and CSRF protection, in-process: log in with a token,
//! the cookie's attributes, a session dying with its token, forms refused without their CSRF
//! token or from another origin, the security headers, and admin-only actions.

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use common::TestApp;
use common::sim::{served_with_sim, sim_calls};
use patchbay_partner::sim::SimHandle;
use serde_json::json;

/// The page's own origin: the workspace's public URL.
async fn origin(app: &TestApp) -> String {
    app.store.workspace_public_url(app.workspace_id).await.unwrap()
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    origin: Option<&str>,
) -> Page {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    if let Some(o) = origin {
        req = req.header(header::ORIGIN, o);
    }
    let req = match form {
        Some(f) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f.to_owned())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let r = app.send(req).await;
    Page {
        status: r.status,
        headers: r.headers,
        // A page's text; an answer in JSON (an error) as its JSON text.
        html: match r.body["_raw"].as_str() {
            Some(text) => text.to_owned(),
            None => r.body.to_string(),
        },
    }
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    request(app, Method::GET, path, cookie, None, None).await
}

async fn post(app: &TestApp, path: &str, cookie: &str, form: &str) -> Page {
    let origin = origin(app).await;
    request(app, Method::POST, path, Some(cookie), Some(form), Some(&origin)).await
}

fn set_cookies(p: &Page) -> Vec<String> {
    p.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// The `name=value` of a cookie the response sets.
fn cookie_pair(p: &Page, name: &str) -> Option<String> {
    set_cookies(p).into_iter().find_map(|c| {
        let pair = c.split(';').next()?.trim().to_owned();
        pair.starts_with(&format!("{name}=")).then_some(pair)
    })
}

/// The value of the hidden `csrf` field of a page.
fn csrf(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a csrf field");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[track_caller]
fn location(p: &Page) -> &str {
    p.headers
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap())
        .expect("the answer redirects (it has a Location)")
}

/// Logs in with a token; returns the session cookie (`patchbay_session=…`).
/// The login form's POST of `token` as a browser sends it: with the form's CSRF token and
/// cookie, from the workspace's own origin. The answer, whatever it is.
async fn submit_login(app: &TestApp, token: &str) -> Page {
    let form = get(app, "/login", None).await;
    assert_eq!(form.status, StatusCode::OK);
    let login_cookie = cookie_pair(&form, "patchbay_login").expect("login csrf cookie");
    request(
        app,
        Method::POST,
        "/login",
        Some(&login_cookie),
        Some(&format!("csrf={}&token={token}", csrf(&form.html))),
        Some(&origin(app).await),
    )
    .await
}

async fn login(app: &TestApp, token: &str) -> String {
    let r = submit_login(app, token).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(location(&r), "/");
    cookie_pair(&r, "patchbay_session").expect("session cookie")
}

#[tokio::test]
async fn login_sets_a_strict_http_only_session_cookie_and_shows_the_tiles() {
    let app = TestApp::new().await;
    let r = get(&app, "/", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");

    let r = submit_login(&app, &app.admin_token).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let session = set_cookies(&r).into_iter().find(|c| c.starts_with("patchbay_session=")).unwrap();
    let id = session.split(';').next().unwrap()["patchbay_session=".len()..].to_owned();
    assert_eq!(id.len(), 64, "{session}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Secure"), "plain http: {session}");
    assert!(!session.contains(&app.admin_token));

    let home = get(&app, "/", Some(&format!("patchbay_session={id}"))).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.html.contains("Monte Carlo"));
    assert!(home.html.contains("Data quality"));
    assert!(home.html.contains("admin-badge"), "admins get the badge");
    assert!(!home.html.contains(&app.admin_token));

    // The store keeps a digest of the session id, never the id itself.
    let cookie = format!("patchbay_session={id}");
    assert_eq!(get(&app, "/", Some(&cookie)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn over_https_the_session_cookie_is_secure() {
    let app = TestApp::build("https://patchbay.example.com", |_| {}).await;
    let form = get(&app, "/login", None).await;
    let login_cookie = set_cookies(&form).join(" ");
    assert!(login_cookie.contains("Secure"), "{login_cookie}");
    let r = request(
        &app,
        Method::POST,
        "/login",
        Some(&cookie_pair(&form, "patchbay_login").unwrap()),
        Some(&format!("csrf={}&token={}", csrf(&form.html), app.admin_token)),
        Some("https://patchbay.example.com"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let session = set_cookies(&r).into_iter().find(|c| c.starts_with("patchbay_session=")).unwrap();
    assert!(session.contains("; Secure"), "{session}");
}

#[tokio::test]
async fn a_wrong_token_or_a_login_without_its_csrf_token_starts_no_session() {
    let app = TestApp::new().await;
    let form = get(&app, "/login", None).await;
    let login_cookie = cookie_pair(&form, "patchbay_login").unwrap();
    let wrong = request(
        &app,
        Method::POST,
        "/login",
        Some(&login_cookie),
        Some(&format!("csrf={}&token=dapi00000000000000000000000000000000", csrf(&form.html))),
        Some(&origin(&app).await),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("not valid"));
    assert!(cookie_pair(&wrong, "patchbay_session").is_none());

    let no_csrf = request(
        &app,
        Method::POST,
        "/login",
        Some(&login_cookie),
        Some(&format!("token={}", app.admin_token)),
        Some(&origin(&app).await),
    )
    .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    assert!(cookie_pair(&no_csrf, "patchbay_session").is_none());
}

#[tokio::test]
async fn the_session_ends_when_its_token_is_deleted() {
    let app = TestApp::new().await;
    app.create_user("ana@example.com").await;
    let token = app.token_for("ana@example.com").await;
    let cookie = login(&app, &token).await;
    assert_eq!(get(&app, "/", Some(&cookie)).await.status, StatusCode::OK);

    let r = app.get_as(Some(&token), "/api/2.0/token/list").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let token_id = &common::strings(&r.body, "token_infos", "token_id")[0];
    let r = app.delete_token_as(&token, token_id).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let after = get(&app, "/", Some(&cookie)).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/login");
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_elsewhere_are_refused_and_logout_works() {
    let app = TestApp::new().await;
    let cookie = login(&app, &app.admin_token).await;
    let home = get(&app, "/", Some(&cookie)).await;
    let token = csrf(&home.html);

    // Refused: no CSRF token, a wrong one, the right one from another origin or from none.
    let own = origin(&app).await;
    let (good, wrong) = (format!("csrf={token}"), format!("csrf={}", "0".repeat(64)));
    for (case, form, from) in [
        ("missing", "", Some(own.as_str())),
        ("wrong", wrong.as_str(), Some(own.as_str())),
        ("elsewhere", good.as_str(), Some("http://evil.example")),
        ("no origin", good.as_str(), None),
    ] {
        let r = request(&app, Method::POST, "/logout", Some(&cookie), Some(form), from).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{case}");
    }
    assert_eq!(get(&app, "/", Some(&cookie)).await.status, StatusCode::OK);

    let out = post(&app, "/logout", &cookie, &format!("csrf={token}")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/login");
    let cleared =
        set_cookies(&out).into_iter().find(|c| c.starts_with("patchbay_session=")).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The session is gone on the server, not only in the browser.
    assert_eq!(get(&app, "/", Some(&cookie)).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_and_errors_carry_the_security_headers() {
    let app = TestApp::new().await;
    let cookie = login(&app, &app.admin_token).await;
    for page in [
        get(&app, "/login", None).await,
        get(&app, "/", Some(&cookie)).await,
        get(&app, "/partners/monte-carlo", Some(&cookie)).await,
        get(&app, "/partners/no-such-partner", Some(&cookie)).await,
        get(&app, "/ui/style.css", None).await,
    ] {
        let h = |name: header::HeaderName| {
            page.headers
                .get(&name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_else(|| panic!("no {name} header"))
        };
        let csp = h(header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(h(header::X_FRAME_OPTIONS), "DENY");
        assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(h(header::REFERRER_POLICY), "same-origin");
    }
    let missing = get(&app, "/partners/no-such-partner", Some(&cookie)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.html.contains("does not exist"));
    // The API keeps its own answers and its fallback.
    let api = app.admin_get("/api/2.0/partner-connect/partners").await;
    assert_eq!(api.status, StatusCode::OK);
    let unknown = app.admin_get("/api/2.0/nothing-here").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error_code"], "ENDPOINT_NOT_FOUND");
}

#[tokio::test]
async fn user_input_is_escaped() {
    let app = TestApp::new().await;
    let cookie = login(&app, &app.admin_token).await;
    let page = get(&app, "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.html.contains("<script>alert(1)"));
    assert!(page.html.contains("&lt;script&gt;alert(1)"));
}

#[tokio::test]
async fn a_desktop_tool_s_dialog_offers_only_warehouses_the_user_may_use() {
    let app = TestApp::new().await;
    let (_, token) = app.plain_user("user@example.com").await;
    let viewed = app.create_warehouse("VIEWED", "2X-Small").await;
    let used = app.create_warehouse("USED", "2X-Small").await;
    for (warehouse, level) in [(&viewed, "CAN_VIEW"), (&used, "CAN_USE")] {
        let entry = json!({"user_name": "user@example.com", "permission_level": level});
        let acl = format!("/api/2.0/permissions/sql/warehouses/{warehouse}");
        app.admin_put(&acl, json!({"access_control_list": [entry]})).await.ok();
    }
    let cookie = login(&app, &token).await;
    let page = get(&app, "/partners/power-bi", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains(&format!(r#"option value="{used}""#)), "{}", page.html);
    assert!(!page.html.contains(&viewed), "a warehouse the user only sees: {}", page.html);
}

/// A workspace on a real socket with Rivery pointed at a running partner-sim.
async fn with_partner() -> (TestApp, SimHandle) {
    let (app, sim) = served_with_sim().await;
    let r = app
        .admin_put("/api/2.0/partner-connect/partners/rivery", json!({
                "base_url": sim.url,
                "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                              "test_connection_path": "/test-connection", "rotate_token_path": "/rotate-token"},
                "credentials": {"username": sim.config.username, "password": sim.config.password},
                "hostnames": ["127.0.0.1"],
            }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    (app, sim)
}

fn has_token_value(html: &str) -> bool {
    html.match_indices("dapi")
        .any(|(i, _)| html[i + 4..].bytes().take(32).filter(u8::is_ascii_hexdigit).count() == 32)
}

#[tokio::test]
async fn a_non_admin_cannot_connect_delete_or_open_admin_pages() {
    let (app, _sim) = with_partner().await;
    let (_id, token) = app.plain_user("bo@example.com").await;
    let cookie = login(&app, &token).await;

    let tile = get(&app, "/partners/rivery", Some(&cookie)).await;
    assert_eq!(tile.status, StatusCode::OK);
    assert!(tile.html.contains("Only workspace admins can connect Rivery"));
    assert!(!tile.html.contains("admin-badge"));
    let token_field = csrf(&tile.html);
    let connect =
        post(&app, "/partners/rivery/connect", &cookie, &format!("csrf={token_field}")).await;
    assert_eq!(connect.status, StatusCode::FORBIDDEN, "{}", connect.html);
    assert!(connect.html.contains("Only workspace admins can connect Rivery"));

    // An admin connects over the API; the user sees it but cannot delete it from the page.
    let r = app.connect_partner("rivery").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let details = get(&app, "/partners/rivery", Some(&cookie)).await;
    assert!(details.html.contains("Sign in to Rivery"));
    assert!(details.html.contains("Only workspace admins can rotate"));
    assert!(!has_token_value(&details.html));
    let delete =
        post(&app, "/partners/rivery/delete", &cookie, &format!("csrf={token_field}")).await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    assert!(delete.html.contains("Only workspace admins"));
    let confirm = get(&app, "/partners/rivery/delete", Some(&cookie)).await;
    assert_eq!(confirm.status, StatusCode::FORBIDDEN);
    let rotate =
        post(&app, "/partners/rivery/rotate-token", &cookie, &format!("csrf={token_field}")).await;
    assert_eq!(rotate.status, StatusCode::FORBIDDEN);
    assert!(
        app.store.connection(app.workspace_id, "rivery").await.unwrap().is_some(),
        "the connection is still there"
    );
    for path in ["/admin/service-principals", "/admin/tokens"] {
        assert_eq!(get(&app, path, Some(&cookie)).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let r =
        post(&app, "/admin/tokens/anything/delete", &cookie, &format!("csrf={token_field}")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The admin can: the confirmation lists what goes, then the tile clears.
    let admin = login(&app, &app.admin_token).await;
    let confirm = get(&app, "/partners/rivery/delete", Some(&admin)).await;
    assert_eq!(confirm.status, StatusCode::OK);
    let c = app.store.connection(app.workspace_id, "rivery").await.unwrap().unwrap();
    for expected in [
        "RIVERY_USER",
        "RIVERY_ENDPOINT",
        c.warehouse_id.as_deref().unwrap(),
        c.token_id.as_deref().unwrap(),
        "cannot be undone",
    ] {
        assert!(confirm.html.contains(expected), "{expected}: {}", confirm.html);
    }
    let done =
        post(&app, "/partners/rivery/delete", &admin, &format!("csrf={}", csrf(&confirm.html)))
            .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(location(&done), "/?deleted=rivery");
    assert!(app.store.connection(app.workspace_id, "rivery").await.unwrap().is_none());
}

/// How many requests the partner (partner-sim) has received.
/// The page's side of the access matrix (`access_matrix.rs` has the API's): admin, user, the
/// partner's own service principal and another partner's, each logged in, on every Partner
/// Connect page and form. Users see tiles and sign in; service principals do not sign in;
/// details, rotation and deletion are for admins; only a user's sign-in calls the partner.
#[tokio::test]
async fn the_page_access_matrix() {
    let (app, sim) = with_partner().await;
    let r = app
        .admin_put(
            "/api/2.0/partner-connect/partners/labelbox",
            json!({"base_url": sim.url,
                "credentials": {"username": sim.config.username, "password": sim.config.password}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut details = vec![common::ADMIN.to_owned()];
    let mut sp_tokens = Vec::new();
    let mut sp_ids = Vec::new();
    for partner in ["rivery", "labelbox"] {
        let r = app.connect_partner(partner).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let c = &r.body["connection"];
        let application_id = c["service_principal"]["application_id"].as_str().unwrap();
        details.extend([
            c["token_id"].as_str().unwrap().to_owned(),
            c["partner_connection_id"].as_str().unwrap().to_owned(),
            application_id.to_owned(),
        ]);
        let obo = app
            .admin_post(
                "/api/2.0/token-management/on-behalf-of/tokens",
                json!({"application_id": application_id}),
            )
            .await;
        assert_eq!(obo.status, StatusCode::OK, "{:?}", obo.body);
        sp_tokens.push(obo.body["token_value"].as_str().unwrap().to_owned());
        sp_ids.push(application_id.to_owned());
    }
    let (_, user_token) = app.plain_user("bo@example.com").await;
    let mut sessions = Vec::new();
    // Each with its own name, which the page's header shows.
    for (who, token, own) in [
        ("user", user_token.as_str(), "bo@example.com"),
        ("partner SP", sp_tokens[0].as_str(), sp_ids[0].as_str()),
        ("other SP", sp_tokens[1].as_str(), sp_ids[1].as_str()),
        ("admin", app.admin_token.as_str(), common::ADMIN),
    ] {
        let cookie = login(&app, token).await;
        let home = get(&app, "/", Some(&cookie)).await;
        assert_eq!(home.status, StatusCode::OK, "{who}");
        sessions.push((who, cookie, csrf(&home.html), own.to_owned()));
    }

    // (method, path, expected for user, partner SP, other SP, admin). The admin goes last.
    #[rustfmt::skip]
    let rows: [(Method, &str, [u16; 4]); 12] = [
        (Method::GET,  "/",                             [200, 200, 200, 200]),
        (Method::GET,  "/partners/rivery",              [200, 200, 200, 200]),
        (Method::GET,  "/partners/labelbox",            [200, 200, 200, 200]),
        (Method::GET,  "/partners/dbt-cloud",           [200, 200, 200, 200]),
        (Method::POST, "/partners/rivery/sign-in",      [200, 403, 403, 200]),
        (Method::POST, "/partners/labelbox/connect",    [200, 403, 403, 200]),
        (Method::POST, "/partners/dbt-cloud/connect",   [403, 403, 403, 400]),
        (Method::GET,  "/partners/rivery/delete",       [403, 403, 403, 200]),
        (Method::POST, "/partners/rivery/rotate-token", [403, 403, 403, 200]),
        (Method::GET,  "/admin/service-principals",     [403, 403, 403, 200]),
        (Method::GET,  "/admin/tokens",                 [403, 403, 403, 200]),
        (Method::POST, "/partners/labelbox/delete",     [403, 403, 403, 303]),
    ];
    let mut failures = Vec::new();
    for (method, path, expected) in &rows {
        for (i, (who, cookie, csrf_value, own)) in sessions.iter().enumerate() {
            let before = sim_calls(&sim).await;
            let page = if *method == Method::GET {
                get(&app, path, Some(cookie)).await
            } else {
                post(&app, path, cookie, &format!("csrf={csrf_value}")).await
            };
            let calls = sim_calls(&sim).await - before;
            if page.status.as_u16() != expected[i] {
                failures.push(format!(
                    "{who:>10} {method} {path}: got {} want {}",
                    page.status.as_u16(),
                    expected[i]
                ));
            }
            if *who == "admin" {
                continue;
            }
            let signs_in = *method == Method::POST
                && (path.ends_with("/sign-in") || path.starts_with("/partners/labelbox/connect"));
            let want_calls = usize::from(signs_in && *who == "user");
            if calls != want_calls {
                failures.push(format!(
                    "{who:>10} {method} {path}: made patchbay call the partner {calls} times, want {want_calls}"
                ));
            }
            for secret in details.iter().filter(|d| *d != own && page.html.contains(d.as_str())) {
                failures.push(format!(
                    "{who:>10} {method} {path}: the page shows a connection detail ({secret})"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "page access matrix:\n{}", failures.join("\n"));

    // What each sees on a connected tile: the admin the details, a user the sign-in button,
    // a service principal neither.
    let tile = |i: usize| {
        let cookie = sessions[i].1.clone();
        let app = &app;
        async move { get(app, "/partners/rivery", Some(&cookie)).await.html }
    };
    let user = tile(0).await;
    assert!(user.contains("Sign in to Rivery"), "{user}");
    assert!(!user.contains("Connection details"), "{user}");
    let sp = tile(1).await;
    assert!(!sp.contains("Sign in to Rivery"), "{sp}");
    assert!(sp.contains("Service principals do not sign in"), "{sp}");
    let admin = tile(3).await;
    assert!(admin.contains("Connection details"), "{admin}");
    assert!(admin.contains("RIVERY_USER"), "{admin}");
}

/// The page's login takes personal access tokens only: an OAuth secret or access token of a
/// service principal starts no session.
#[tokio::test]
async fn oauth_credentials_do_not_log_in() {
    let app = TestApp::new().await;
    let sp = app
        .admin_post(
            &format!("{}/ServicePrincipals", common::SCIM),
            json!({"displayName": "ETL", "entitlements": [{"value": "workspace-access"}]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let (id, client_id) = (sp["id"].as_str().unwrap(), sp["applicationId"].as_str().unwrap());
    let secret = app
        .admin_post(
            &format!("/api/2.0/accounts/servicePrincipals/{id}/credentials/secrets"),
            json!({}),
        )
        .await
        .ok()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let grant = Request::builder()
        .method(Method::POST)
        .uri("/oidc/v1/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
        )))
        .unwrap();
    let access = app.send(grant).await.ok()["access_token"].as_str().unwrap().to_owned();
    for token in [secret, access] {
        let r = submit_login(&app, &token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.html);
        assert!(cookie_pair(&r, "patchbay_session").is_none());
    }
}

/// An OAuth M2M partner's connection page names its OAuth secret (id and dates), never the value.
#[tokio::test]
async fn an_m2m_connection_shows_its_secret_without_the_value() {
    let (app, sim) = served_with_sim().await;
    app.admin_post("/api/2.0/partner-connect/partners", json!({"name": "Acme M2M", "category": "INGEST", "profile": "ingest",
            "auth_options": ["AUTH_OAUTH_M2M"], "base_url": sim.url,
            "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection"},
            "credentials": {"username": sim.config.username, "password": sim.config.password},
            "hostnames": ["127.0.0.1"]}))
    .await
    .expect(StatusCode::CREATED);
    let connected = app.connect_partner("acme-m2m").await.ok();
    let secret_id = connected["connection"]["token_id"].as_str().unwrap().to_owned();
    let cookie = login(&app, &app.admin_token).await;
    let page = get(&app, "/partners/acme-m2m", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("OAuth secret"), "{}", page.html);
    assert!(page.html.contains(&secret_id), "{}", page.html);
    assert!(page.html.contains("expires"), "{}", page.html);
    assert!(!page.html.contains("dose"), "no secret value: {}", page.html);
}
