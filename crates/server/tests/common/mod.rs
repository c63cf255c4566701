//! An in-process patchbay for black-box tests: its own fresh database (SQLite, or PostgreSQL when
//! `PATCHBAY_TEST_DATABASE_URL` is set), bootstrapped, called through the real router.

#![allow(dead_code, reason = "each test binary uses a different part of the kit")]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use patchbay_core::WorkspaceId;
use patchbay_core::time::ManualClock;
use patchbay_partner::outbound::{OutboundPolicy, Range};
use patchbay_server::{AppState, Settings, router};
use patchbay_store::testing::TestDatabase;
use patchbay_store::{Bootstrap, BootstrapOutcome, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

pub mod browser;
pub mod scripted_partner;
pub mod sim;
pub mod snapshot;

pub const ADMIN: &str = "admin@example.com";
pub const SCIM: &str = "/api/2.0/preview/scim/v2";

pub struct TestApp {
    pub router: Router,
    /// The state behind the router, for driving the background worker by hand.
    pub state: AppState,
    pub store: Store,
    pub admin_token: String,
    pub workspace_id: WorkspaceId,
    /// Where the workspace says it is served (`serve --public-url`).
    pub public_url: String,
    pub db: TestDatabase,
    /// The clock the store and the server decide by, when the test moves it by hand
    /// ([`TestApp::with_manual_clock`]); `None` on the machine's clock.
    pub clock: Option<ManualClock>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The body of an answer that must have `status`; any other status fails the test and
    /// shows the body.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "{:?}", self.body);
        self.body
    }

    /// The body of an answer that must be a 200.
    #[track_caller]
    pub fn ok(self) -> Value {
        self.expect(StatusCode::OK)
    }
}

/// Sends a request through `router` and reads the whole answer: status, headers, body bytes.
pub async fn send_to(router: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = router.clone().oneshot(req).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, headers, bytes.to_vec())
}

/// How a request is refused: the status and the `error_code` of its error envelope, for the
/// tables of bad requests.
pub type Refusal = (StatusCode, &'static str);
/// 400 `INVALID_PARAMETER_VALUE`.
pub const INVALID: Refusal = (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
/// 400 `MALFORMED_REQUEST`.
pub const MALFORMED: Refusal = (StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
/// 404 `RESOURCE_DOES_NOT_EXIST`.
pub const DOES_NOT_EXIST: Refusal = (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");
/// 409 `RESOURCE_ALREADY_EXISTS`.
pub const ALREADY_EXISTS: Refusal = (StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS");
/// 403 `PERMISSION_DENIED`.
pub const DENIED: Refusal = (StatusCode::FORBIDDEN, "PERMISSION_DENIED");

/// One bad request of a table: the path it goes to, its JSON body, how it must be refused, and
/// a text the refusal's message must name.
pub type BadRequest = (&'static str, Value, Refusal, &'static str);

/// Sends each bad request of `cases` with `send` (its path and its body) and requires the
/// refusal the case names; every failure names the case's path and body.
pub async fn refuses_each(
    cases: impl IntoIterator<Item = BadRequest>,
    send: impl AsyncFn(&str, Value) -> Reply,
) {
    for (path, body, refusal, needle) in cases {
        let r = send(path, body.clone()).await;
        error_in(&format!("{path} {body}"), &r, refusal, needle);
    }
}

/// Fails the test, showing the body, unless the answer is a 200.
#[track_caller]
pub fn ok(r: &Reply) {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// A Databricks error: its status, its `error_code`, and a message that names `needle`.
#[track_caller]
pub fn error(r: &Reply, status: StatusCode, code: &str, needle: &str) {
    error_in("the answer", r, (status, code), needle);
}

/// [`error`] for the request `case` of a table: each failure begins with `case`.
#[track_caller]
pub fn error_in(case: &str, r: &Reply, (status, code): (StatusCode, &str), needle: &str) {
    assert_eq!(r.status, status, "{case}: {:?}", r.body);
    assert_eq!(r.body["error_code"], code, "{case}: {:?}", r.body);
    let message =
        r.body["message"].as_str().unwrap_or_else(|| panic!("{case}: no message in {:?}", r.body));
    assert!(message.contains(needle), "{case}: message {message:?} should mention {needle:?}");
}

/// A 400 `INVALID_PARAMETER_VALUE` whose message names `needle`.
#[track_caller]
pub fn invalid(r: &Reply, needle: &str) {
    error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", needle);
}

/// A 400 `MALFORMED_REQUEST` whose message names `needle`.
#[track_caller]
pub fn malformed(r: &Reply, needle: &str) {
    error(r, StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", needle);
}

/// The text `field` of every item of the list `list` in `body`, in order: the names, ids or
/// comments a list endpoint answered. A missing list or field fails the test, showing it.
pub fn strings(body: &Value, list: &str, field: &str) -> Vec<String> {
    body[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} list in {body}"))
        .iter()
        .map(|item| {
            item[field].as_str().unwrap_or_else(|| panic!("no text {field} in {item}")).to_owned()
        })
        .collect()
}

/// A 404 `RESOURCE_DOES_NOT_EXIST` whose message names `needle`.
#[track_caller]
pub fn not_found(r: &Reply, needle: &str) {
    error(r, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", needle);
}

/// A 403 `PERMISSION_DENIED` whose message names `needle`.
#[track_caller]
pub fn denied(r: &Reply, needle: &str) {
    error(r, StatusCode::FORBIDDEN, "PERMISSION_DENIED", needle);
}

impl TestApp {
    pub async fn new() -> TestApp {
        TestApp::build("http://127.0.0.1:1", |_| {}).await
    }

    /// A workspace whose tokens may live at most `seconds`.
    pub async fn with_max_token_lifetime(seconds: Option<i64>) -> TestApp {
        TestApp::build("http://127.0.0.1:1", |s| s.max_token_lifetime_seconds = seconds).await
    }

    /// A workspace whose clock stands still until the test moves it ([`TestApp::advance`]):
    /// a token, secret or retry comes due without the test sleeping.
    pub async fn with_manual_clock() -> TestApp {
        TestApp::build_clocked("http://127.0.0.1:1", |_| {}).await
    }

    /// [`TestApp::build`] on a [`ManualClock`] that starts at the real time now.
    pub async fn build_clocked(public_url: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let db = TestDatabase::create().await.expect("test database");
        let clock = Some(ManualClock::starting_now());
        TestApp::build_on(db, public_url, adjust, AppState::new, clock).await
    }

    /// Moves the app's [`ManualClock`] forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        self.clock.as_ref().expect("a TestApp built on a manual clock").advance(by);
    }

    /// A workspace served on a real socket on 127.0.0.1, for partners that call it back.
    /// Partner calls retry without waiting.
    pub async fn serve() -> (TestApp, String) {
        TestApp::build_serving(|_| {}).await
    }

    /// [`TestApp::serve`] with its settings adjusted by `adjust`.
    pub async fn build_serving(adjust: impl FnOnce(&mut Settings)) -> (TestApp, String) {
        TestApp::serving(adjust, None).await
    }

    /// [`TestApp::serve`] on a [`ManualClock`] that starts at the real time now.
    pub async fn serve_clocked() -> (TestApp, String) {
        TestApp::serving(|_| {}, Some(ManualClock::starting_now())).await
    }

    async fn serving(
        adjust: impl FnOnce(&mut Settings),
        clock: Option<ManualClock>,
    ) -> (TestApp, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let db = TestDatabase::create().await.expect("test database");
        let settings = |s: &mut Settings| {
            s.partner_retry = patchbay_partner::client::RetryPolicy {
                delays: vec![std::time::Duration::ZERO; 3],
            };
            s.partner_timeout = std::time::Duration::from_secs(2);
            // Every CONNECTING row counts as interrupted when a test runs the worker by hand.
            s.stale_connect_millis = -1;
            adjust(s);
        };
        let app = TestApp::build_on(db, &url, settings, AppState::new, clock).await;
        let router = app.router.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (app, url)
    }

    /// A workspace on a SQLite database of its own, also in the PostgreSQL run: for tests of
    /// what only SQLite does.
    pub async fn on_sqlite() -> TestApp {
        let db = TestDatabase::sqlite().expect("SQLite test database");
        TestApp::build_on(db, "http://127.0.0.1:1", |_| {}, AppState::new, None).await
    }

    /// A bootstrapped workspace at `public_url`, with settings adjusted by `adjust`.
    pub async fn build(public_url: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        TestApp::build_with_state(public_url, adjust, AppState::new).await
    }

    /// [`TestApp::build`] with the state made by `make_state` (a server with a SQL engine).
    pub async fn build_with_state(
        public_url: &str,
        adjust: impl FnOnce(&mut Settings),
        make_state: impl FnOnce(Store, Settings) -> AppState,
    ) -> TestApp {
        let db = TestDatabase::create().await.expect("test database");
        TestApp::build_on(db, public_url, adjust, make_state, None).await
    }

    /// [`TestApp::build_with_state`] on a [`ManualClock`] that starts at the real time now.
    pub async fn build_with_state_clocked(
        public_url: &str,
        adjust: impl FnOnce(&mut Settings),
        make_state: impl FnOnce(Store, Settings) -> AppState,
    ) -> TestApp {
        let db = TestDatabase::create().await.expect("test database");
        let clock = Some(ManualClock::starting_now());
        TestApp::build_on(db, public_url, adjust, make_state, clock).await
    }

    /// A bootstrapped workspace on `db`.
    async fn build_on(
        db: TestDatabase,
        public_url: &str,
        adjust: impl FnOnce(&mut Settings),
        make_state: impl FnOnce(Store, Settings) -> AppState,
        clock: Option<ManualClock>,
    ) -> TestApp {
        let mut store = db.store().await.expect("store");
        if let Some(clock) = &clock {
            store = store.with_clock(std::sync::Arc::new(clock.clone()));
        }
        let BootstrapOutcome::Created { workspace_id, admin_token } = store
            .bootstrap(&Bootstrap {
                organization: "test org".into(),
                workspace_name: "test".into(),
                public_url: public_url.into(),
                admin_email: ADMIN.into(),
            })
            .await
            .expect("bootstrap")
        else {
            panic!("a fresh database must bootstrap");
        };
        let mut settings = Settings::new(workspace_id, public_url);
        settings.compute_transition_millis = 0;
        // The partners of these tests (partner-sim, test partners) listen on 127.0.0.1.
        settings.outbound = OutboundPolicy::allowing(&[Range::Loopback]);
        adjust(&mut settings);
        let state = make_state(store.clone(), settings);
        let router = router(state.clone());
        TestApp {
            router,
            state,
            store,
            admin_token: admin_token.expose().to_owned(),
            workspace_id,
            public_url: public_url.to_owned(),
            db,
            clock,
        }
    }

    /// Sends a request with a bearer token (or none) and a JSON body (or none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => {
                req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string()))
            }
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let (status, headers, bytes) = send_to(&self.router, req).await;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| json!({"_raw": String::from_utf8_lossy(&bytes)}))
        };
        Reply { status, headers, body }
    }

    /// Sends a request and returns its status and body bytes as they are (binary results).
    pub async fn send_bytes(&self, req: Request<Body>) -> (StatusCode, Vec<u8>) {
        let (status, _, bytes) = send_to(&self.router, req).await;
        (status, bytes)
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, Some(&self.admin_token.clone()), body).await
    }

    /// `token`'s GET of `path` (no token: an anonymous caller).
    pub async fn get_as(&self, token: Option<&str>, path: &str) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    /// `token`'s GET of SCIM `/Me`: who the token signs in as, or how it is refused.
    pub async fn me_as(&self, token: &str) -> Reply {
        self.get_as(Some(token), &format!("{SCIM}/Me")).await
    }

    /// `token`'s POST of `body` to `path`.
    pub async fn post_as(&self, token: Option<&str>, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// `token`'s PATCH of `body` to `path`.
    pub async fn patch_as(&self, token: Option<&str>, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    /// `token`'s PUT of `body` to `path`.
    pub async fn put_as(&self, token: Option<&str>, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// `token`'s DELETE of `path`.
    pub async fn delete_as(&self, token: Option<&str>, path: &str) -> Reply {
        self.call(Method::DELETE, path, token, None).await
    }

    /// The admin's GET of `path`.
    pub async fn admin_get(&self, path: &str) -> Reply {
        self.admin(Method::GET, path, None).await
    }

    /// The admin's POST of `body` to `path`.
    pub async fn admin_post(&self, path: &str, body: Value) -> Reply {
        self.admin(Method::POST, path, Some(body)).await
    }

    /// The admin's PATCH of `body` to `path`.
    pub async fn admin_patch(&self, path: &str, body: Value) -> Reply {
        self.admin(Method::PATCH, path, Some(body)).await
    }

    /// The admin's PUT of `body` to `path`.
    pub async fn admin_put(&self, path: &str, body: Value) -> Reply {
        self.admin(Method::PUT, path, Some(body)).await
    }

    /// The admin's DELETE of `path`.
    pub async fn admin_delete(&self, path: &str) -> Reply {
        self.admin(Method::DELETE, path, None).await
    }

    /// The admin's connect of `partner_id` with no selection (`POST
    /// /api/2.0/partner-connect/partners/{partner_id}/connect`), answered as it is.
    pub async fn connect_partner(&self, partner_id: &str) -> Reply {
        self.connect_partner_as(&self.admin_token, partner_id, json!({})).await
    }

    /// `token`'s connect of (or, on a connected tile, sign-in to) `partner_id` with `body`,
    /// answered as it is.
    pub async fn connect_partner_as(&self, token: &str, partner_id: &str, body: Value) -> Reply {
        let path = format!("/api/2.0/partner-connect/partners/{partner_id}/connect");
        self.post_as(Some(token), &path, body).await
    }

    /// `token`'s new token of its own (`POST /api/2.0/token/create` with `body`): the answer's
    /// body, which must come with a 200.
    pub async fn create_token_as(&self, token: &str, body: Value) -> Value {
        self.post_as(Some(token), "/api/2.0/token/create", body).await.ok()
    }

    /// The Partner Connect audit events the admin reads with `query` (`partner_id=…` and the
    /// like); anything but a 200 with a list of events fails the test.
    pub async fn audit_events(&self, query: &str) -> Vec<Value> {
        let path = format!("/api/2.0/partner-connect/audit?{query}");
        let body = self.admin_get(&path).await.ok();
        body["events"].as_array().unwrap_or_else(|| panic!("{path}: no events: {body}")).clone()
    }

    /// `token`'s revoke of its own token `token_id` (`POST /api/2.0/token/delete`).
    pub async fn delete_token_as(&self, token: &str, token_id: &str) -> Reply {
        let body = json!({"token_id": token_id});
        self.post_as(Some(token), "/api/2.0/token/delete", body).await
    }

    /// The admin's proof, as the `Admin` extractor makes it, for calling the store directly.
    pub async fn admin_handle(&self) -> patchbay_core::access::WorkspaceAdmin {
        let token = patchbay_core::token::TokenValue::parse(&self.admin_token).expect("token");
        self.store
            .authenticate(&token.digest())
            .await
            .expect("authenticate")
            .expect("the admin's token")
            .require_admin()
            .expect("an admin")
    }

    /// Creates a user (as admin) and returns its SCIM id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let r = self.admin_post(&format!("{SCIM}/Users"), json!({"userName": user_name})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a service principal (as admin) named `display_name`, and returns what the create
    /// answered (its `id` and `applicationId`); the create must answer 201.
    pub async fn create_service_principal(&self, display_name: &str) -> Value {
        self.admin_post(&format!("{SCIM}/ServicePrincipals"), json!({"displayName": display_name}))
            .await
            .expect(StatusCode::CREATED)
    }

    /// Creates a service principal (as admin) named `display_name` with the workspace
    /// `entitlements` (`workspace-access`, …), and returns what the create answered; the create
    /// must answer 201.
    pub async fn create_service_principal_entitled(
        &self,
        display_name: &str,
        entitlements: &[&str],
    ) -> Value {
        let entitlements: Vec<Value> = entitlements.iter().map(|e| json!({"value": e})).collect();
        self.admin_post(
            &format!("{SCIM}/ServicePrincipals"),
            json!({"displayName": display_name, "entitlements": entitlements}),
        )
        .await
        .expect(StatusCode::CREATED)
    }

    /// Creates a group (as admin) with the principals of SCIM ids `members`, and returns its
    /// SCIM id; the create must answer 201.
    pub async fn create_group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
        let r = self
            .admin_post(&format!("{SCIM}/Groups"), json!({"displayName": name, "members": members}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{name}: {:?}", r.body);
        r.body["id"].as_str().expect("id").to_owned()
    }

    /// The SCIM id of the first of `resource` (`Users`, `Groups`, …) that the admin's list with
    /// the filter `filter` (URL-encoded, as sent) finds; anything but a 200 listing one fails the
    /// test.
    pub async fn scim_id_where(&self, resource: &str, filter: &str) -> String {
        let path = format!("{SCIM}/{resource}?filter={filter}");
        let body = self.admin_get(&path).await.ok();
        body["Resources"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: no resource found: {body}"))
            .to_owned()
    }

    /// Creates a SQL warehouse (as admin) named `name` of `cluster_size`, and returns its id;
    /// the create must answer 200.
    pub async fn create_warehouse(&self, name: &str, cluster_size: &str) -> String {
        let body = json!({"name": name, "cluster_size": cluster_size});
        let created = self.admin_post("/api/2.0/sql/warehouses", body).await.ok();
        created["id"].as_str().expect("id").to_owned()
    }

    /// A token for an existing user, issued the way `patchbay admin token create` does.
    pub async fn token_for(&self, user_name: &str) -> String {
        self.store.issue_token_for_user(user_name, "test").await.expect("token").expose().to_owned()
    }

    /// A plain (non-admin) user and its token.
    pub async fn plain_user(&self, user_name: &str) -> (String, String) {
        let id = self.create_user(user_name).await;
        (id, self.token_for(user_name).await)
    }
}

/// Creates a metastore ("primary", at `s3://bucket/uc`) and assigns it to the workspace with
/// `main` as the default catalog; returns its id. Each call must answer 200.
pub async fn enable_uc(app: &TestApp) -> String {
    const UC: &str = "/api/2.1/unity-catalog";
    let r = app
        .admin_post(
            &format!("{UC}/metastores"),
            json!({"name": "primary", "storage_root": "s3://bucket/uc"}),
        )
        .await;
    ok(&r);
    let id = r.body["metastore_id"].as_str().expect("metastore_id").to_owned();
    let r = app
        .admin_put(
            &format!("{UC}/workspaces/{}/metastore", app.workspace_id),
            json!({"metastore_id": id, "default_catalog_name": "main"}),
        )
        .await;
    ok(&r);
    id
}

/// Runs one statement on the test database behind the store's back, as an operator, time or an
/// older version's bug would have left it.
pub async fn behind_the_back(app: &TestApp, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// The rows one query reads from the test database behind the store's back, as an operator
/// would see them.
pub async fn read_behind_the_back(app: &TestApp, sql: &str) -> Vec<sqlx::any::AnyRow> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).fetch_all(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    rows
}

/// A second store on the test database, with its secret key: what the next start of a server
/// would open.
pub async fn restarted_store(app: &TestApp) -> patchbay_store::Store {
    app.db.store().await.expect("a store with the database's key")
}

/// What a connect of an ingest partner (a new warehouse, no schemas) creates: for tests that
/// provision through the store, as a connect interrupted after its first transaction leaves it.
pub fn ingest_plan(partner_id: &str) -> patchbay_store::ProvisionPlan {
    let name = partner_id.to_uppercase().replace('-', "_");
    patchbay_store::ProvisionPlan {
        partner_id: partner_id.into(),
        service_principal: Some(format!("{name}_USER")),
        entitlements: vec!["workspace-access".into()],
        token_can_use: true,
        compute: patchbay_store::ComputePlan::NewWarehouse(format!("{name}_ENDPOINT")),
        warehouse_can_use: false,
        catalog_name: Some("hive_metastore".into()),
        schemas: vec![],
        grants: patchbay_core::partner::Profile::Ingest.rules().grants("hive_metastore", &[]),
        credential: patchbay_core::partner::Credential::Token,
        u2m_app: false,
    }
}
