//! No token value in any log line: a real `patchbay serve` logging at `trace`, driven through
//! every flow that makes a token (personal access tokens, on-behalf-of tokens, service
//! principals' OAuth secrets and the access tokens granted for them, the admin command,
//! Partner Connect's connect and both kinds of rotation, with partner-sim checking
//! each token it receives against `/Me`), then its stderr, its stdout and every file of its
//! data directory are searched for each token value the run saw and for anything shaped like
//! a token (`dapi`, `dose`, `doat`, `dort` or `doac` + 32 hex digits, or an access token's JWT header) at all — the partners' tokens are never shown to the test,
//! so the shape search is what covers them. Secret values put through the secrets API are
//! searched for too. `PATCHBAY_LOG_SCAN_KEEP=FILE` keeps the log.

mod common;

use common::{
    BOOTSTRAP_LINE, Server, admin_token_create, client, files_under, json_ok, scratch,
    serve_command, sim_state, succeeded,
};
use patchbay_core::PrincipalId;
use patchbay_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const SCIM: &str = "/api/2.0/preview/scim/v2";
const PC: &str = "/api/2.0/partner-connect";

/// `patchbay serve` logging at `trace` into `log`.
fn start(data: &Path, log: &Path, db: &TestDatabase) -> Server {
    let database_url = db.is_postgres().then_some(db.url.as_str());
    let mut cmd = serve_command("127.0.0.1:0", data, database_url);
    cmd.env("PATCHBAY_LOG", "trace")
        .stderr(Stdio::from(std::fs::File::create(log).expect("log file")));
    Server::spawn(cmd)
}

/// Calls the API and returns (status, body).
async fn call(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    common::call(&client(), method, url, token, body).await
}

/// Calls the API, which must answer `status`; the body it answered. A failure names the call.
async fn call_answering(
    method: &str,
    url: &str,
    token: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let (answered, answer) = call(method, url, token, body).await;
    assert_eq!(answered, status, "{method} {url}: {answer}");
    answer
}

/// A form POST of `form` to the OAuth token endpoint `token_url`, with `basic` (a client id and
/// a secret) as HTTP Basic credentials when given.
async fn token_request(
    token_url: &str,
    basic: Option<(&str, &str)>,
    form: &str,
) -> reqwest::Response {
    let mut req =
        client().post(token_url).header("content-type", "application/x-www-form-urlencoded");
    if let Some((client_id, secret)) = basic {
        req = req.basic_auth(client_id, Some(secret));
    }
    req.body(form.to_owned()).send().await.unwrap()
}

/// The status `GET /Me` answers `token` on the server at `url`.
async fn me_status(url: &str, token: &str) -> u16 {
    call("GET", &format!("{url}{SCIM}/Me"), token, None).await.0
}

/// How every OAuth access token (a JWT) begins: its header, `{"alg":"HS256",` in base64url.
const JWT_HEADER: &str = "eyJhbGciOiJIUzI1NiIs";

/// Every `dapi`, `dose`, `doat`, `dort` or `doac` (a PAT, an OAuth secret, access token,
/// refresh token or authorization code) followed by 32 lower-case hex digits in `haystack`,
/// and every start of an access token (a JWT's header).
fn token_shaped(haystack: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in
        haystack.windows(JWT_HEADER.len()).enumerate().filter(|(_, w)| *w == JWT_HEADER.as_bytes())
    {
        let end = (at + 40).min(haystack.len());
        found.push(String::from_utf8_lossy(&haystack[at..end]).into_owned());
    }
    for (at, _) in haystack
        .windows(4)
        .enumerate()
        .filter(|(_, w)| [&b"dapi"[..], b"dose", b"doat", b"dort", b"doac"].contains(w))
    {
        let rest = &haystack[at + 4..];
        if rest.len() >= 32
            && rest[..32].iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        {
            found.push(String::from_utf8_lossy(&haystack[at..at + 36]).into_owned());
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Points a partner at partner-sim, with or without the token-rotation extension.
async fn configure(
    url: &str,
    token: &str,
    partner: &str,
    sim: &patchbay_partner::sim::SimHandle,
    rotate: bool,
) {
    let mut endpoints = json!({"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                               "test_connection_path": "/test-connection"});
    if rotate {
        endpoints["rotate_token_path"] = json!("/rotate-token");
    }
    call_answering(
        "PUT",
        &format!("{url}{PC}/partners/{partner}"),
        token,
        Some(json!({"base_url": sim.url, "endpoints": endpoints,
                    "credentials": {"username": sim.config.username, "password": sim.config.password},
                    "hostnames": ["127.0.0.1"]})),
        200,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_value_reaches_the_logs_or_the_data_files() {
    let (tmp, db, data) = scratch().await;
    let log = tmp.path().join("serve.log");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = patchbay_partner::sim::spawn(listener, patchbay_partner::sim::SimConfig::default())
        .unwrap();
    let server = start(&data, &log, &db);
    let url = server.url.clone();
    let admin = server.token.clone().expect("the first start prints the admin token");
    let mut seen = vec![admin.clone()];

    // Personal access tokens: create, use, revoke; a revoked and an unknown token refused.
    let mut pats = Vec::new();
    for comment in ["first", "second"] {
        let body = call_answering(
            "POST",
            &format!("{url}/api/2.0/token/create"),
            &admin,
            Some(json!({"comment": comment, "lifetime_seconds": 3600})),
            200,
        )
        .await;
        let value = body["token_value"].as_str().unwrap().to_owned();
        assert_eq!(me_status(&url, &value).await, 200);
        pats.push((body["token_info"]["token_id"].as_str().unwrap().to_owned(), value));
    }
    seen.extend(pats.iter().map(|(_, v)| v.clone()));
    call_answering(
        "POST",
        &format!("{url}/api/2.0/token/delete"),
        &admin,
        Some(json!({"token_id": pats[0].0})),
        200,
    )
    .await;
    assert_eq!(me_status(&url, &pats[0].1).await, 401);
    let unknown = format!("dapi{}", "0123456789abcdef".repeat(2));
    assert_eq!(me_status(&url, &unknown).await, 401);
    seen.push(unknown);
    // A token as a Basic password, as `curl --netrc` sends it.
    let basic = client()
        .get(format!("{url}{SCIM}/Me"))
        .basic_auth("token", Some(&pats[1].1))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);

    // On-behalf-of tokens for a service principal.
    let sp = call_answering(
        "POST",
        &format!("{url}{SCIM}/ServicePrincipals"),
        &admin,
        Some(json!({"displayName": "LOG_SCAN_USER"})),
        201,
    )
    .await;
    let app_id = sp["applicationId"].as_str().unwrap().to_owned();
    call_answering(
        "PATCH",
        &format!("{url}/api/2.0/permissions/authorization/tokens"),
        &admin,
        Some(json!({"access_control_list": [{"service_principal_name": app_id, "permission_level": "CAN_USE"}]})),
        200,
    )
    .await;
    for _ in 0..2 {
        let body = call_answering(
            "POST",
            &format!("{url}/api/2.0/token-management/on-behalf-of/tokens"),
            &admin,
            Some(json!({"application_id": app_id, "comment": "obo", "lifetime_seconds": 3600})),
            200,
        )
        .await;
        let value = body["token_value"].as_str().unwrap().to_owned();
        assert_eq!(me_status(&url, &value).await, 200);
        let id = body["token_info"]["token_id"].as_str().unwrap().to_owned();
        call_answering(
            "DELETE",
            &format!("{url}/api/2.0/token-management/tokens/{id}"),
            &admin,
            None,
            200,
        )
        .await;
        seen.push(value);
    }

    // OAuth: a secret, exchanged for access tokens (credentials by HTTP Basic and in the
    // form), a wrong secret presented, the secret deleted.
    let sp = call_answering(
        "POST",
        &format!("{url}{SCIM}/ServicePrincipals"),
        &admin,
        Some(json!({"displayName": "LOG_SCAN_OAUTH", "entitlements": [{"value": "workspace-access"}]})),
        201,
    )
    .await;
    let (sp_id, client_id) =
        (sp["id"].as_str().unwrap().to_owned(), sp["applicationId"].as_str().unwrap().to_owned());
    let secrets = format!("{url}/api/2.0/accounts/servicePrincipals/{sp_id}/credentials/secrets");
    let created = call_answering("POST", &secrets, &admin, Some(json!({})), 200).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let token_url = format!("{url}/oidc/v1/token");
    let by_basic = token_request(
        &token_url,
        Some((&client_id, &secret)),
        "grant_type=client_credentials&scope=all-apis",
    )
    .await;
    let by_form = token_request(
        &token_url,
        None,
        &format!("grant_type=client_credentials&client_id={client_id}&client_secret={secret}"),
    )
    .await;
    for reply in [by_basic, by_form] {
        let body: Value = json_ok(reply).await;
        let access = body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(me_status(&url, &access).await, 200);
        seen.push(access);
    }
    let wrong = format!("dose{}", "fedcba9876543210".repeat(2));
    let refused =
        token_request(&token_url, Some((&client_id, &wrong)), "grant_type=client_credentials")
            .await;
    assert_eq!(refused.status(), 401);
    call_answering(
        "DELETE",
        &format!("{secrets}/{}", created["id"].as_str().unwrap()),
        &admin,
        None,
        200,
    )
    .await;
    seen.extend([secret, wrong]);

    // A person's browser sign-in (authorization code with PKCE, the RFC 7636 example pair),
    // then a refresh.
    let browser =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let header = |r: &reqwest::Response, name: &str| -> String {
        r.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let field = |html: &str, name: &str| -> String {
        let marker = format!(r#"{name}=""#);
        let at = html.find(&marker).unwrap_or_else(|| panic!("no {name}: {html}"));
        let rest = &html[at + marker.len()..];
        rest[..rest.find('"').unwrap()].replace("&amp;", "&")
    };
    let authorize = "/oidc/v1/authorize?response_type=code&client_id=databricks-cli\
        &redirect_uri=http%3A%2F%2Flocalhost%3A8020&scope=all-apis+offline_access&state=s\
        &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    let first = browser.get(format!("{url}{authorize}")).send().await.unwrap();
    let login_path = header(&first, "location");
    let form = browser.get(format!("{url}{login_path}")).send().await.unwrap();
    let login_cookie = header(&form, "set-cookie");
    let html = form.text().await.unwrap();
    let (csrf, next) = (field(&html, r#"name="csrf" value"#), field(&html, r#"name="next" value"#));
    let logged_in = browser
        .post(format!("{url}/login"))
        .header("cookie", login_cookie)
        .header("origin", url.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("csrf", &csrf)
                .append_pair("next", &next)
                .append_pair("token", &admin)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    let session = header(&logged_in, "set-cookie");
    let back = browser.get(format!("{url}{next}")).header("cookie", session).send().await.unwrap();
    let location = header(&back, "location");
    let code = location
        .split_once("code=")
        .map(|(_, rest)| rest.split('&').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no code in {location}"));
    let exchanged: Value = json_ok(
        token_request(
            &token_url,
            None,
            &format!(
                "grant_type=authorization_code&client_id=databricks-cli&redirect_uri=http%3A%2F%2Flocalhost%3A8020\
                 &code={code}&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
            ),
        )
        .await,
    )
    .await;
    let refresh = exchanged["refresh_token"].as_str().unwrap().to_owned();
    let refreshed: Value = json_ok(
        token_request(
            &token_url,
            None,
            &format!("grant_type=refresh_token&client_id=databricks-cli&refresh_token={refresh}"),
        )
        .await,
    )
    .await;
    for body in [&exchanged, &refreshed] {
        let access = body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(me_status(&url, &access).await, 200);
        seen.push(access);
        seen.push(body["refresh_token"].as_str().unwrap().to_owned());
    }
    seen.push(code);

    // `patchbay admin token create`, beside the running server.
    let out =
        succeeded(admin_token_create("admin@example.com", &data, &db).env("PATCHBAY_LOG", "trace"));
    let cli_token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(me_status(&url, &cli_token).await, 200);
    assert!(token_shaped(&out.stderr).is_empty(), "the admin command's log holds a token");
    seen.push(cli_token);

    // Partner Connect: connect (the partner receives a token and checks it against /Me),
    // rotation delivered to the partner, rotation shown once to the admin, then delete.
    configure(&url, &admin, "hightouch", &sim, true).await;
    configure(&url, &admin, "rivery", &sim, false).await;
    for (partner, body) in [("hightouch", json!({"schemas": ["default"]})), ("rivery", json!({}))] {
        call_answering(
            "POST",
            &format!("{url}{PC}/partners/{partner}/connect"),
            &admin,
            Some(body),
            200,
        )
        .await;
    }
    let body = call_answering(
        "POST",
        &format!("{url}{PC}/connections/hightouch/rotate-token"),
        &admin,
        Some(json!({})),
        200,
    )
    .await;
    assert_eq!(body["delivered"], true, "{body}");
    let body = call_answering(
        "POST",
        &format!("{url}{PC}/connections/rivery/rotate-token"),
        &admin,
        Some(json!({})),
        200,
    )
    .await;
    let shown = body["token_value"].as_str().expect("shown once").to_owned();
    seen.push(shown);
    let old = body["old_token_id"].as_str().expect("old_token_id").to_owned();
    call_answering(
        "POST",
        &format!("{url}{PC}/connections/rivery/rotate-token"),
        &admin,
        Some(json!({"revoke_token_id": old})),
        200,
    )
    .await;
    for partner in ["hightouch", "rivery"] {
        call_answering("DELETE", &format!("{url}{PC}/connections/{partner}"), &admin, None, 200)
            .await;
    }
    let state = sim_state(&client(), &sim.url).await;
    assert!(
        state["received"].as_array().is_some_and(|r| r.len() >= 4),
        "the partner received the connects and the rotation: {state}"
    );
    // A partner over OAuth M2M: its connect sends an OAuth secret, which partner-sim exchanges
    // for an access token; a rotation sends another; delete ends them.
    call_answering(
        "POST",
        &format!("{url}{PC}/partners"),
        &admin,
        Some(json!({"name": "Log Scan M2M", "category": "INGEST", "profile": "ingest",
                    "auth_options": ["AUTH_OAUTH_M2M"], "base_url": sim.url,
                    "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                                  "rotate_token_path": "/rotate-token"},
                    "credentials": {"username": sim.config.username, "password": sim.config.password},
                    "hostnames": ["127.0.0.1"]})),
        201,
    )
    .await;
    for (method, path) in [
        ("POST", "partners/log-scan-m2m/connect"),
        ("POST", "connections/log-scan-m2m/rotate-token"),
        ("DELETE", "connections/log-scan-m2m"),
    ] {
        let body = (method == "POST").then(|| json!({}));
        call_answering(method, &format!("{url}{PC}/{path}"), &admin, body, 200).await;
    }
    // Secret values go in through the secrets API and must come out nowhere either.
    call_answering(
        "POST",
        &format!("{url}/api/2.0/secrets/scopes/create"),
        &admin,
        Some(json!({"scope": "log-scan"})),
        200,
    )
    .await;
    let secret_text = "log-scan-secret-value-5f1c9d";
    let secret_bytes = "bG9nLXNjYW4tYnl0ZXMtdmFsdWU="; // base64 of "log-scan-bytes-value"
    for (field, value) in [("string_value", secret_text), ("bytes_value", secret_bytes)] {
        call_answering(
            "POST",
            &format!("{url}/api/2.0/secrets/put"),
            &admin,
            Some(json!({"scope": "log-scan", "key": field, field: value})),
            200,
        )
        .await;
    }
    seen.extend([
        secret_text.to_owned(),
        secret_bytes.to_owned(),
        "log-scan-bytes-value".to_owned(),
        // The partners' Basic password: kept sealed, so not in the database file either.
        sim.config.password.clone(),
    ]);
    // Let the last log lines reach the file, then stop the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stdout = server.stdout();
    drop(server);

    let log_bytes = std::fs::read(&log).unwrap();
    if let Some(keep) = std::env::var_os("PATCHBAY_LOG_SCAN_KEEP") {
        std::fs::write(keep, &log_bytes).unwrap();
    }
    let log_text = String::from_utf8_lossy(&log_bytes);
    assert!(
        log_text.contains("token created") && log_text.lines().count() > 100,
        "the server logged the run at trace level ({} lines)",
        log_text.lines().count()
    );
    let mut leaks = Vec::new();
    let mut scan = |what: String, bytes: &[u8]| {
        for t in &seen {
            if contains(bytes, t) {
                leaks.push(format!(
                    "{what}: a token the run created or presented, or a secret value it put"
                ));
            }
        }
        for t in token_shaped(bytes) {
            leaks.push(format!("{what}: token-shaped value {}…", &t[..8]));
        }
    };
    scan(format!("the server log {}", log.display()), &log_bytes);
    let bootstrap_lines = stdout.iter().filter(|l| l.starts_with(BOOTSTRAP_LINE)).count();
    assert_eq!(bootstrap_lines, 1, "the admin token is printed exactly once");
    for line in stdout.iter().filter(|l| !l.starts_with(BOOTSTRAP_LINE)) {
        scan(format!("stdout line {line:?}"), line.as_bytes());
    }
    let files = files_under(&data);
    assert!(
        db.is_postgres() || files.iter().any(|f| f.ends_with("patchbay.db")),
        "on SQLite the scan covers the database file: {files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        scan(format!("data file {}", file.display()), &bytes);
    }
    // The key that signs access tokens is kept sealed in the database with the data
    // directory's secret key: it is nowhere in the clear, the database file included.
    let key = std::fs::read_to_string(data.join("secret.key")).expect("the secret key");
    let store = if db.is_postgres() {
        patchbay_store::Store::connect(&db.url).await
    } else {
        patchbay_store::Store::open_data_dir(&data).await
    }
    .expect("open the store")
    .with_secret_key(patchbay_store::SecretKey::from_file_text(&key).expect("a key"))
    .await
    .expect("the key the server sealed with");
    let signing_key = store.signing_key().await.expect("the signing key").secret_hex();
    if contains(&log_bytes, &signing_key) || stdout.iter().any(|l| l.contains(&signing_key)) {
        leaks.push("the access tokens' signing key reached the log or stdout".to_owned());
    }
    for file in files_under(&data) {
        if contains(&std::fs::read(&file).unwrap(), &signing_key) {
            leaks.push(format!("the signing key is in the clear in {}", file.display()));
        }
    }
    assert!(leaks.is_empty(), "token values leaked:\n{}", leaks.join("\n"));
    println!(
        "scanned {} log lines, {} stdout lines and the data directory for {} known tokens and the token shapes",
        log_text.lines().count(),
        stdout.len(),
        seen.len()
    );
}

/// At the default level an operator sees one line per request, when it is answered: method,
/// path (never the query string), status, latency and, once authenticated, the principal; no
/// header value and no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_logs_one_line_at_the_default_level() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let log = tmp.path().join("serve.log");
    let mut cmd = serve_command(
        "127.0.0.1:0",
        &tmp.path().join("data"),
        db.is_postgres().then_some(db.url.as_str()),
    );
    cmd.env_remove("PATCHBAY_LOG")
        .env_remove("PATCHBAY_LOG_FORMAT")
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log file")));
    let server = Server::spawn(cmd);
    let url = server.url.clone();
    let admin = server.token.clone().expect("admin token");

    let me = call_answering("GET", &format!("{url}{SCIM}/Me"), &admin, None, 200).await;
    let principal_id = me["id"].as_str().expect("id").to_owned();
    let filtered = format!("{url}{SCIM}/Users?filter=userName+eq+%22hidden-in-query%22");
    call_answering("GET", &filtered, &admin, None, 200).await;
    let unknown = format!("dapi{}", "0123456789abcdef".repeat(2));
    call_answering("GET", &format!("{url}{SCIM}/Me"), &unknown, None, 401).await;
    // The lines are written before the answers leave; give the file a moment all the same.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("request finished")).collect();
    assert_eq!(lines.len(), 3, "one line per request:\n{text}");
    let me_line = format!("path={SCIM}/Me");
    let expected = [
        ("status=200", me_line.as_str(), Some(principal_id.as_str())),
        ("status=200", "/Users", Some(principal_id.as_str())),
        ("status=401", me_line.as_str(), None),
    ];
    for (line, (status, path, principal)) in lines.iter().zip(expected) {
        assert!(line.contains(" INFO "), "{line}");
        assert!(line.contains("method=GET"), "{line}");
        assert!(line.contains(status), "{line}");
        assert!(line.contains(path), "{line}");
        assert!(line.contains("latency_ms="), "{line}");
        match principal {
            Some(id) => assert!(line.contains(&format!("principal_id={id}")), "{line}"),
            None => assert!(!line.contains("principal_id"), "{line}"),
        }
    }
    assert!(!text.contains("hidden-in-query"), "a query string was logged:\n{text}");
    assert!(!text.contains(&admin) && !text.contains(&unknown), "a token was logged");
    assert!(!text.to_lowercase().contains("bearer"), "a header was logged");
}

#[test]
fn the_shape_search_finds_tokens_anywhere() {
    let t = "dapi0123456789abcdef0123456789abcdef";
    assert_eq!(token_shaped(format!("x={t}\n").as_bytes()), [t]);
    assert_eq!(token_shaped(t.as_bytes()), [t]);
    assert!(token_shaped(b"dapi0123456789ABCDEF0123456789abcdef dapi12").is_empty());
    let secret = "dose0123456789abcdef0123456789abcdef";
    assert_eq!(token_shaped(format!("{secret}.").as_bytes()), [secret]);
    assert!(contains(format!("..{t}..").as_bytes(), t));
    let jwt = patchbay_core::jwt::sign(
        &patchbay_core::jwt::SigningKey::generate(),
        &patchbay_core::jwt::AccessClaims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "s".into(),
            exp: 1,
            iat: 0,
            jti: "j".into(),
            scope: "all-apis".into(),
            principal_id: PrincipalId::new(1),
            workspace_id: patchbay_core::WorkspaceId::new(1),
            secret_id: Some("s".into()),
            grant_id: None,
        },
    );
    assert_eq!(
        token_shaped(format!("token={}", jwt.expose()).as_bytes()).len(),
        1,
        "an access token is found by its header"
    );
}
