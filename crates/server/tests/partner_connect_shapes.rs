//! The answers of the Partner Connect API in snapshots (`tests/snapshots/partner_connect_shapes__*.snap`):
//! the tiles and partners, the connect plan, a connect's and a sign-in's answers, connection
//! files, connections, accounts, rotations, repairs, deletes and the audit trail. A field added,
//! renamed or dropped fails here, and so does a key out of byte order: each body must be the
//! bytes its keys sorted give, as the `json!` builders these answers were first written with
//! sent them. Credentials never appear: the snapshots name the values the test saw.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::sim::{served_with_sim, sim_faults};
use common::snapshot::redacted;
use common::{SCIM, TestApp};
use patchbay_partner::sim::SimHandle;
use serde_json::{Value, json};

const PC: &str = "/api/2.0/partner-connect";

/// One caller of the Partner Connect API (paths below [`PC`]). Every answer must come with
/// the status asked for and be JSON whose keys are in byte order at every level (compact, as
/// `serde_json` writes a `Value`).
struct Client<'a> {
    app: &'a TestApp,
    token: String,
}

impl Client<'_> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{PC}{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        let (got, bytes) = self.app.send_bytes(req.body(Body::from(text)).expect("request")).await;
        let sent = String::from_utf8_lossy(&bytes);
        assert_eq!(got, status, "{path}: {sent}");
        let parsed: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(sent, parsed.to_string(), "{path}: keys out of byte order");
        parsed
    }

    async fn get(&self, path: &str) -> Value {
        self.call(Method::GET, path, None, StatusCode::OK).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(Method::POST, path, Some(body), StatusCode::OK).await
    }

    async fn put(&self, path: &str, body: Value) -> Value {
        self.call(Method::PUT, path, Some(body), StatusCode::OK).await
    }

    async fn delete(&self, path: &str) -> Value {
        self.call(Method::DELETE, path, None, StatusCode::OK).await
    }

    /// A tile click.
    async fn connect(&self, partner_id: &str, body: Value) -> Value {
        self.post(&format!("/partners/{partner_id}/connect"), body).await
    }

    /// A repair, whose body is empty.
    async fn repair(&self, partner_id: &str) -> Value {
        let path = format!("/connections/{partner_id}/repair");
        self.call(Method::POST, &path, None, StatusCode::OK).await
    }

    async fn rotate(&self, partner_id: &str, body: Value) -> Value {
        self.post(&format!("/connections/{partner_id}/rotate-token"), body).await
    }
}

fn admin(app: &TestApp) -> Client<'_> {
    Client { app, token: app.admin_token.clone() }
}

/// A workspace user who is not an admin.
async fn user(app: &TestApp) -> Client<'_> {
    let (_, token) = app.plain_user("user@example.com").await;
    Client { app, token }
}

/// A workspace on a real socket and a simulated partner, and what changes from run to run in
/// both.
async fn served() -> (TestApp, SimHandle, Known) {
    let (app, sim) = served_with_sim().await;
    let mut known = Known::default();
    known.add(app.workspace_id.to_string(), "workspace_id");
    known.add(&sim.url, "sim_url");
    known.add(&sim.config.password, "partner_password");
    (app, sim, known)
}

/// Points a partner at the simulator, with every endpoint but the ones `without` names; the
/// answer.
async fn configure(app: &TestApp, partner_id: &str, sim: &SimHandle, without: &[&str]) -> Value {
    let mut endpoints = json!({"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                               "test_connection_path": "/test-connection", "rotate_token_path": "/rotate-token"});
    for w in without {
        endpoints.as_object_mut().unwrap().remove(*w);
    }
    let body = json!({
        "base_url": sim.url,
        "endpoints": endpoints,
        "credentials": {"username": sim.config.username, "password": sim.config.password},
        "hostnames": ["127.0.0.1"],
    });
    admin(app).put(&format!("/partners/{partner_id}"), body).await
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_owned()
}

/// The values a test saw that change from run to run, each with the name a snapshot shows
/// in its place.
#[derive(Clone, Default)]
struct Known(Vec<(String, String)>);

impl Known {
    fn add(&mut self, value: impl Into<String>, name: &str) {
        self.0.push((value.into(), name.to_owned()));
    }

    /// The ids a connection's details hold, named `{prefix}_…`; those it does not hold (a
    /// field absent or `null`) are skipped.
    fn connection(&mut self, c: &Value, prefix: &str) {
        for (pointer, name) in [
            ("/token_id", "token_id"),
            ("/partner_connection_id", "connection_id"),
            ("/service_principal/application_id", "application_id"),
            ("/service_principal/id", "service_principal_id"),
            ("/warehouse_id", "warehouse_id"),
            ("/oauth_u2m_app/client_id", "u2m_client_id"),
        ] {
            if let Some(v) = c.pointer(pointer).and_then(Value::as_str) {
                self.add(v, &format!("{prefix}_{name}"));
            }
        }
    }

    /// The new credential of a manual rotation: its id as `{name}_id`, its value, which is
    /// shown only in that answer, as `{name}_value`.
    fn shown_once(&mut self, rotation: &Value, name: &str) {
        self.add(text(&rotation["token_id"]), &format!("{name}_id"));
        self.add(text(&rotation["token_value"]), &format!("{name}_value"));
    }

    /// Snapshots `body` with the values named.
    fn snap(&self, name: &str, body: &Value) {
        let known: Vec<(&str, &str)> =
            self.0.iter().map(|(t, n)| (t.as_str(), n.as_str())).collect();
        insta::assert_json_snapshot!(name, redacted(body, &known));
    }
}

#[tokio::test]
async fn tiles_partners_plans_and_connection_files_keep_their_wire_shapes() {
    let app = TestApp::new().await;
    let admin = admin(&app);
    let user = user(&app).await;
    let mut known = Known::default();
    known.add(app.workspace_id.to_string(), "workspace_id");

    known.snap("partners", &admin.get("/partners").await);
    known.snap("partners_as_user", &user.get("/partners").await);
    // One built-in partner of each profile and provision.
    for id in
        ["fivetran", "power-bi", "hevo-data", "prophecy", "john-snow-labs", "alation", "dataiku"]
    {
        let body = admin.get(&format!("/partners/{id}")).await;
        known.snap(&format!("partner_{id}"), &body);
    }
    known.snap("partner_as_user", &user.get("/partners/hevo-data").await);

    // A custom partner: registered, changed, removed.
    let password = "s3cret-value";
    let mut custom = known.clone();
    custom.add(password, "password");
    let body = json!({"name": "Acme Ingest", "category": "INGEST", "profile": "ingest",
        "base_url": "https://partner.example.com/databricks",
        "endpoints": {"connect_path": "/connect", "test_connection_path": "/test-connection"},
        "credentials": {"username": "databricks", "password": password},
        "hostnames": ["partner.example.com", "app.partner.example.com"]});
    let registered = admin.call(Method::POST, "/partners", Some(body), StatusCode::CREATED).await;
    custom.snap("partner_registered", &registered);
    let change = json!({"category": "DATA_QUALITY", "profile": "read", "provisions": "selected_warehouse",
                        "supports_unity_catalog": false, "sign_in_through_partner_connect": false,
                        "auth_options": ["AUTH_OAUTH_M2M", "AUTH_OAUTH_U2M"]});
    let changed = admin.put("/partners/acme-ingest", change).await;
    custom.snap("partner_changed", &changed);
    custom.snap("partner_custom", &admin.get("/partners/acme-ingest").await);
    let endpoint = json!({"base_url": "https://fivetran.example.com/",
                          "credentials": {"username": "databricks", "password": password}});
    let builtin = admin.put("/partners/fivetran", endpoint).await;
    custom.snap("builtin_partner_configured", &builtin);
    let removed = admin.delete("/partners/acme-ingest").await;
    insta::assert_json_snapshot!("partner_removed", removed);

    // The connect plans (dry runs), one per kind of compute and principal.
    let created = app
        .admin_post(
            "/api/2.0/sql/warehouses",
            json!({"name": "BI", "cluster_size": "2X-Small", "max_num_clusters": 1}),
        )
        .await
        .ok();
    let warehouse = text(&created["id"]);
    known.add(&warehouse, "warehouse_id");
    for (name, id, body) in [
        ("plan_new_warehouse", "hevo-data", json!({})),
        ("plan_without_service_principal", "fivetran", json!({})),
        (
            "plan_selected_warehouse",
            "alation",
            json!({"schemas": ["default"], "warehouse_id": warehouse}),
        ),
        (
            "plan_selected_warehouse_or_new",
            "monte-carlo",
            json!({"schemas": ["default"], "catalog_name": "hive_metastore"}),
        ),
        ("plan_new_cluster", "prophecy", json!({})),
        ("plan_no_compute", "john-snow-labs", json!({})),
        ("plan_dataiku", "dataiku", json!({})),
    ] {
        let mut body = body;
        body["dry_run"] = json!(true);
        known.snap(name, &admin.connect(id, body).await);
    }

    // The connection files of the desktop tools, for the admin and for a user who may use the
    // warehouse.
    let pick = json!({"warehouse_id": warehouse});
    for id in ["power-bi", "tableau", "erwin-data-modeler"] {
        let file = admin.connect(id, pick.clone()).await;
        known.snap(&format!("connection_file_{id}"), &file);
    }
    app.admin_patch(&format!("/api/2.0/permissions/warehouses/{warehouse}"), json!({"access_control_list": [{"user_name": "user@example.com", "permission_level": "CAN_USE"}]}))
    .await
    .ok();
    let file = user.connect("power-bi", pick).await;
    known.snap("connection_file_as_user", &file);
}

#[tokio::test]
async fn a_connection_s_answers_keep_their_wire_shapes() {
    let (app, sim, mut known) = served().await;
    let admin = admin(&app);
    let user = user(&app).await;
    let me = app.admin_get(&format!("{SCIM}/Me")).await;
    known.add(text(&me.ok()["id"]), "admin_id");
    let configured = configure(&app, "census", &sim, &[]).await;
    known.snap("census_configured", &configured);

    let connected = admin.connect("census", json!({"schemas": ["default"]})).await;
    known.connection(&connected["connection"], "census");
    known.snap("connected", &connected);

    known.snap("partner_connected", &admin.get("/partners/census").await);
    let tiles = user.get("/partners").await;
    let census: Vec<&Value> =
        tiles["partners"].as_array().unwrap().iter().filter(|t| t["id"] == "census").collect();
    known.snap("partner_connected_in_the_list_as_user", &json!(census));
    let signed_in = user.connect("census", json!({})).await;
    known.snap("signed_in_as_user", &signed_in);
    let signed_in = admin.connect("census", json!({})).await;
    known.snap("signed_in_as_admin", &signed_in);

    known.snap("account", &admin.get("/partners/census/account").await);
    known.snap("connections", &admin.get("/connections").await);
    known.snap("connection", &admin.get("/connections/census").await);
    let tested = admin.post("/connections/census/test", json!({})).await;
    known.snap("connection_tested", &tested);

    let rotated = admin.rotate("census", json!({})).await;
    let second_token = text(&rotated["token_id"]);
    known.add(&second_token, "census_second_token_id");
    known.snap("rotation_delivered", &rotated);

    let repaired = admin.repair("census").await;
    known.snap("repair_nothing_to_do", &repaired);
    app.admin_delete(&format!("/api/2.0/token-management/tokens/{second_token}")).await.ok();
    known.snap("connection_broken", &admin.get("/connections/census").await);
    let repaired = admin.repair("census").await;
    let now = admin.get("/connections/census").await;
    known.add(text(&now["connection"]["token_id"]), "census_third_token_id");
    known.snap("repair_new_token", &repaired);

    known.snap("deleted", &admin.delete("/connections/census").await);

    let page = admin.get("/audit?partner_id=census&page_size=3").await;
    let next = text(&page["next_page_token"]);
    let mut paged = known.clone();
    paged.add(&next, "next_page_token");
    paged.snap("audit_page", &page);
    let rest =
        admin.get(&format!("/audit?partner_id=census&page_token={next}&page_size=1000")).await;
    assert!(rest.get("next_page_token").is_none(), "{rest}");
    known.snap("audit_rest", &rest);
}

#[tokio::test]
async fn unfinished_connects_and_manual_rotations_keep_their_wire_shapes() {
    let (app, sim, mut known) = served().await;
    let admin = admin(&app);

    // The partner configures nothing: nothing is kept.
    configure(&app, "hunters", &sim, &[]).await;
    sim_faults(&sim, json!({"refuse_resources": true})).await;
    let refused = admin.connect("hunters", json!({})).await;
    known.snap("connect_not_configured", &refused);

    // The partner fails four times: the workspace side stays, with a sign-in link.
    sim_faults(&sim, json!({"connect_500": 4})).await;
    let kept = admin.connect("hunters", json!({})).await;
    known.connection(&kept["connection"], "hunters");
    known.snap("connect_unconfirmed", &kept);
    sim_faults(&sim, json!({})).await;

    // A token partner without a rotate-token endpoint: the new token is shown once, the old
    // one is revoked when the admin confirms.
    configure(&app, "labelbox", &sim, &["rotate_token_path"]).await;
    let connected = admin.connect("labelbox", json!({})).await;
    let old = text(&connected["connection"]["token_id"]);
    known.connection(&connected["connection"], "labelbox");
    known.snap("connected_without_compute", &connected);
    let manual = admin.rotate("labelbox", json!({})).await;
    known.shown_once(&manual, "labelbox_new_token");
    known.snap("rotation_manual", &manual);
    let confirmed = admin.rotate("labelbox", json!({"revoke_token_id": old})).await;
    known.snap("rotation_confirmed", &confirmed);

    // An OAuth partner (M2M and U2M), without a rotate-token endpoint: the connection shows
    // its secret's id and dates and its app; a rotation shows the new secret once.
    let body = json!({
        "name": "Acme OAuth", "category": "INGEST", "profile": "ingest",
        "auth_options": ["AUTH_OAUTH_M2M", "AUTH_OAUTH_U2M"],
        "base_url": sim.url,
        "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                      "test_connection_path": "/test-connection"},
        "credentials": {"username": sim.config.username, "password": sim.config.password},
        "hostnames": ["127.0.0.1"],
    });
    let registered = admin.call(Method::POST, "/partners", Some(body), StatusCode::CREATED).await;
    known.snap("oauth_partner_registered", &registered);
    let connected = admin.connect("acme-oauth", json!({})).await;
    known.connection(&connected["connection"], "oauth");
    known.snap("connected_with_oauth", &connected);
    let manual = admin.rotate("acme-oauth", json!({})).await;
    known.shown_once(&manual, "oauth_new_secret");
    known.snap("rotation_manual_oauth", &manual);
    let one = admin.get("/connections/acme-oauth").await;
    known.snap("connection_with_oauth_rotating", &one);
}
