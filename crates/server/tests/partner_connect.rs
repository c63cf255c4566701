//! Partner Connect end to end: real HTTP between patchbay and partner-sim, both on 127.0.0.1.

mod common;

use axum::http::StatusCode;
use common::sim::{point_at_sim, served_with_sim, sim, sim_faults, sim_get, sim_state, sim_with};
use common::{SCIM, TestApp};
use patchbay_partner::sim::{SimConfig, SimHandle};
use serde_json::{Value, json};

const PC: &str = "/api/2.0/partner-connect";

/// Points a partner of the workspace at the simulator.
async fn configure(app: &TestApp, partner_id: &str, sim: &SimHandle) {
    let endpoints = json!({"connect_path": "/connect", "delete_connection_path": "/delete-connection",
            "test_connection_path": "/test-connection", "rotate_token_path": "/rotate-token"});
    point_at_sim(app, partner_id, sim, endpoints).await;
}

async fn connect(app: &TestApp, partner_id: &str, body: Value) -> common::Reply {
    app.admin_post(&format!("{PC}/partners/{partner_id}/connect"), body).await
}

async fn tile(app: &TestApp, partner_id: &str) -> Value {
    let r = app.admin_get(&format!("{PC}/partners/{partner_id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["partner"].clone()
}

/// The service principals of the workspace. An answer other than a 200 with a list fails the
/// test: read as "none", it would make every "nothing left behind" check pass.
async fn service_principals(app: &TestApp) -> Vec<Value> {
    let r = app.admin_get(&format!("{SCIM}/ServicePrincipals")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("a list answer without Resources: {:?}", r.body))
        .clone()
}

/// The `value`s of a multi-valued SCIM attribute; absent (SCIM leaves out empty lists) is none.
fn values(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = match v {
        Value::Null => Vec::new(),
        Value::Array(items) => {
            items.iter().map(|e| e["value"].as_str().expect("value").to_owned()).collect()
        }
        other => panic!("not a multi-valued attribute: {other}"),
    };
    out.sort();
    out
}

async fn token_acl_level(app: &TestApp, application_id: &str) -> Option<String> {
    let r = app.admin_get("/api/2.0/permissions/authorization/tokens").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["access_control_list"]
        .as_array()
        .expect("access_control_list")
        .iter()
        .find(|e| e["service_principal_name"] == application_id)
        .map(|e| e["all_permissions"][0]["permission_level"].as_str().unwrap().to_owned())
}

async fn grants_of(
    app: &TestApp,
    securable_type: &str,
    full_name: &str,
    principal: &str,
) -> Vec<String> {
    let r = app
        .admin_get(&format!("/api/2.1/unity-catalog/permissions/{securable_type}/{full_name}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut privileges: Vec<String> = r.body["privilege_assignments"]
        .as_array()
        .expect("privilege_assignments")
        .iter()
        .filter(|p| p["principal"] == principal)
        .flat_map(|p| p["privileges"].as_array().expect("privileges").clone())
        .map(|p| p.as_str().expect("a privilege").to_owned())
        .collect();
    privileges.sort();
    privileges
}

#[tokio::test]
async fn an_ingest_partner_gets_exactly_its_profile() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "rivery", &sim).await;
    assert_eq!(tile(&app, "rivery").await["connected"], false);

    let r = app.connect_partner("rivery").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["redirect_value"], "create_trial");
    assert!(r.body["redirect_uri"].as_str().unwrap().starts_with(&sim.url));
    let connection = &r.body["connection"];
    assert_eq!(connection["state"], "CONNECTED");
    assert_eq!(connection["catalog_name"], "hive_metastore");

    // The service principal: name, entitlements, token permission.
    let sps = service_principals(&app).await;
    assert_eq!(sps.len(), 1);
    let sp = &sps[0];
    assert_eq!(sp["displayName"], "RIVERY_USER");
    let app_id = sp["applicationId"].as_str().unwrap();
    assert_eq!(
        values(&sp["entitlements"]),
        ["allow-cluster-create", "databricks-sql-access", "workspace-access"]
    );
    assert_eq!(token_acl_level(&app, app_id).await.as_deref(), Some("CAN_USE"));
    // Hive grants: USAGE and CREATE on hive_metastore, nothing else.
    assert_eq!(grants_of(&app, "catalog", "hive_metastore", app_id).await, ["CREATE", "USAGE"]);
    // A new warehouse RIVERY_ENDPOINT.
    let warehouse_id = connection["warehouse_id"].as_str().unwrap();
    let wh = app.admin_get(&format!("/api/2.0/sql/warehouses/{warehouse_id}")).await;
    assert_eq!(wh.status, StatusCode::OK, "{:?}", wh.body);
    assert_eq!(wh.body["name"], "RIVERY_ENDPOINT");
    assert_eq!(wh.body["cluster_size"], "2X-Small");
    // The partner holds a token that authenticates as RIVERY_USER; nobody here can read it.
    let partner_connection = connection["partner_connection_id"].as_str().unwrap();
    let (status, who) =
        sim_get(&sim, &format!("/_sim/connections/{partner_connection}/whoami")).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["userName"], app_id);
    assert!(!r.body.to_string().contains("dapi"), "no token value in the answer");
    let tokens = app.admin_get("/api/2.0/token-management/tokens").await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    let info = tokens.body["token_infos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["comment"] == "Partner Connect")
        .unwrap()
        .clone();
    assert_eq!(info["expiry_time"], -1, "the partner's token never expires");
    // The check mark.
    let t = tile(&app, "rivery").await;
    assert_eq!(t["connected"], true);
    assert_eq!(t["connection_state"], "CONNECTED");
    // The request carried what the protocol defines.
    let state = sim_state(&sim).await;
    let received = &state["received"][0];
    assert_eq!(received["user_agent"], "databricks");
    assert!(received["idempotency_key"].is_string());
    let body = &received["body"];
    assert_eq!(body["service_principal_id"], app_id);
    assert_eq!(body["http_path"], format!("/sql/1.0/warehouses/{warehouse_id}"));
    assert!(body["jdbc_url"].as_str().unwrap().starts_with("jdbc:spark://127.0.0.1:"));
    assert!(body["databricks_jdbc_url"].as_str().unwrap().starts_with("jdbc:databricks://"));
    assert_eq!(body["catalog_name"], "hive_metastore");
    assert_eq!(body["user_info"]["is_connection_established"], false);
    assert_eq!(body["is_sql_warehouse"], true);

    // The organization's partner account names the connecting admin.
    let account = app.admin_get(&format!("{PC}/partners/rivery/account")).await;
    assert_eq!(account.status, StatusCode::OK, "{:?}", account.body);
    assert_eq!(account.body["account"]["administrator"], common::ADMIN);
}

#[tokio::test]
async fn a_read_partner_reads_the_chosen_schemas_on_the_chosen_warehouse() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "dbt-cloud", &sim).await;
    let warehouse_id = app.create_warehouse("shared", "Small").await;

    let no_schema = connect(&app, "dbt-cloud", json!({"warehouse_id": warehouse_id})).await;
    assert_eq!(no_schema.status, StatusCode::BAD_REQUEST);
    let missing =
        connect(&app, "dbt-cloud", json!({"warehouse_id": warehouse_id, "schemas": ["nope"]}))
            .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(service_principals(&app).await.is_empty(), "refusals create nothing");

    let r =
        connect(&app, "dbt-cloud", json!({"warehouse_id": warehouse_id, "schemas": ["default"]}))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let sp = &service_principals(&app).await[0];
    let app_id = sp["applicationId"].as_str().unwrap();
    assert_eq!(sp["displayName"], "DBT_CLOUD_USER");
    assert!(sp.get("entitlements").is_none(), "the read profile grants no entitlement");
    assert_eq!(
        grants_of(&app, "schema", "hive_metastore.default", app_id).await,
        ["READ_METADATA", "SELECT", "USAGE"]
    );
    assert!(grants_of(&app, "catalog", "hive_metastore", app_id).await.is_empty());
    let perms = app.admin_get(&format!("/api/2.0/permissions/warehouses/{warehouse_id}")).await;
    assert_eq!(perms.status, StatusCode::OK, "{:?}", perms.body);
    let level = perms.body["access_control_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["service_principal_name"] == app_id)
        .map(|e| e["all_permissions"][0]["permission_level"].clone());
    assert_eq!(level, Some(json!("CAN_USE")));

    // Deleting the connection keeps the warehouse the user selected.
    let del = app.admin_delete(&format!("{PC}/connections/dbt-cloud")).await;
    assert_eq!(del.status, StatusCode::OK, "{:?}", del.body);
    let still = app.admin_get(&format!("/api/2.0/sql/warehouses/{warehouse_id}")).await;
    assert_eq!(still.status, StatusCode::OK);
}

#[tokio::test]
async fn other_profiles_cluster_token_dataiku_and_saas() {
    let (app, sim) = served_with_sim().await;
    for p in ["prophecy", "labelbox", "dataiku", "fivetran"] {
        configure(&app, p, &sim).await;
    }
    let r = app.connect_partner("prophecy").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let cluster_id = r.body["connection"]["cluster_id"].as_str().unwrap().to_owned();
    let cluster = app.admin_get(&format!("/api/2.1/clusters/get?cluster_id={cluster_id}")).await;
    assert_eq!(cluster.status, StatusCode::OK, "{:?}", cluster.body);
    assert_eq!(cluster.body["cluster_name"], "PROPHECY_CLUSTER");

    let r = app.connect_partner("labelbox").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        r.body["connection"].get("warehouse_id").is_none()
            && r.body["connection"].get("cluster_id").is_none()
    );

    let r = connect(&app, "dataiku", json!({"schemas": ["default"]})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Fivetran acts as the connecting user: no service principal, a token of the admin.
    let r = app.connect_partner("fivetran").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["connection"].get("service_principal").is_none());
    let id = r.body["connection"]["partner_connection_id"].as_str().unwrap().to_owned();
    let (status, who) = sim_get(&sim, &format!("/_sim/connections/{id}/whoami")).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["userName"], common::ADMIN);

    let names: Vec<String> = service_principals(&app)
        .await
        .iter()
        .map(|s| s["displayName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 3);
    for n in ["PROPHECY_USER", "LABELBOX_USER", "DATAIKU_USER"] {
        assert!(names.contains(&n.to_owned()), "{names:?}");
    }
    let labelbox = service_principals(&app)
        .await
        .into_iter()
        .find(|s| s["displayName"] == "LABELBOX_USER")
        .unwrap();
    assert_eq!(values(&labelbox["entitlements"]), ["workspace-access"]);
    let dataiku = service_principals(&app)
        .await
        .into_iter()
        .find(|s| s["displayName"] == "DATAIKU_USER")
        .unwrap();
    let dataiku_id = dataiku["applicationId"].as_str().unwrap();
    assert_eq!(grants_of(&app, "catalog", "hive_metastore", dataiku_id).await, ["CREATE", "USAGE"]);
    assert_eq!(
        grants_of(&app, "schema", "hive_metastore.default", dataiku_id).await,
        ["SELECT", "USAGE"]
    );
}

#[tokio::test]
async fn a_second_user_signs_in_and_delete_connection_removes_everything_but_the_account() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "hevo-data", &sim).await;
    let r = app.connect_partner("hevo-data").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let connection = r.body["connection"].clone();
    let warehouse_id = connection["warehouse_id"].as_str().unwrap().to_owned();
    let partner_connection = connection["partner_connection_id"].as_str().unwrap().to_owned();

    // A plain user of the same organization signs in through the tile.
    let (_, token) = app.plain_user("analyst@example.com").await;
    let r = app.connect_partner_as(&token, "hevo-data", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["redirect_value"], "sign_in");
    assert_eq!(r.body["user_status"], "new", "auto_add added the new user");
    // The admin signing in again is an existing user; a sign-in never creates a second connection.
    let again = app.connect_partner("hevo-data").await;
    assert_eq!(again.body["user_status"], "existing");
    assert_eq!(service_principals(&app).await.len(), 1);
    // A plain user cannot delete the connection.
    let r = app.delete_as(Some(&token), &format!("{PC}/connections/hevo-data")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let del = app.admin_delete(&format!("{PC}/connections/hevo-data")).await;
    assert_eq!(del.status, StatusCode::OK, "{:?}", del.body);
    assert_eq!(del.body["partner_status"], "deletion_acknowledged");
    assert!(service_principals(&app).await.is_empty());
    let wh = app.admin_get(&format!("/api/2.0/sql/warehouses/{warehouse_id}")).await;
    assert_eq!(wh.status, StatusCode::NOT_FOUND);
    let tokens = app.admin_get("/api/2.0/token-management/tokens").await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    assert!(!tokens.body.to_string().contains("Partner Connect"));
    let (status, _) =
        sim_get(&sim, &format!("/_sim/connections/{partner_connection}/whoami")).await;
    assert_eq!(status, 404, "the partner was told");
    assert_eq!(tile(&app, "hevo-data").await["connected"], false);
    let account = app.admin_get(&format!("{PC}/partners/hevo-data/account")).await;
    assert_eq!(account.status, StatusCode::OK, "the partner account stays");
    let state = sim_state(&sim).await;
    assert!(state["accounts"]["example.com"].is_object());
}

#[tokio::test]
async fn deleting_the_service_principal_alone_breaks_the_connection() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "rudderstack", &sim).await;
    app.connect_partner("rudderstack").await;
    let sp = service_principals(&app).await.remove(0);
    let app_id = sp["applicationId"].as_str().unwrap();
    let del = app.admin_delete(&format!("{SCIM}/ServicePrincipals/{app_id}")).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let t = tile(&app, "rudderstack").await;
    assert_eq!(t["connected"], true, "the check mark stays");
    assert_eq!(t["connection_state"], "BROKEN");
    let c = app.admin_get(&format!("{PC}/connections/rudderstack")).await;
    assert_eq!(c.status, StatusCode::OK, "{:?}", c.body);
    assert!(c.body["connection"]["reasons"][0].as_str().unwrap().contains("RUDDERSTACK_USER"));
}

#[tokio::test]
async fn a_partner_failing_with_500_four_times_leaves_the_resources_and_a_sign_in_link() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "snowplow", &sim).await;
    sim_faults(&sim, json!({"connect_500": 4})).await;
    let r = app.connect_partner("snowplow").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["redirect_uri"].as_str().unwrap().starts_with(&sim.url));
    assert!(r.body["message"].as_str().unwrap().contains("4 attempts"));
    assert_eq!(service_principals(&app).await.len(), 1, "the resources stay");
    assert_eq!(tile(&app, "snowplow").await["connected"], true);
    let state = sim_state(&sim).await;
    let keys: Vec<&Value> =
        state["received"].as_array().unwrap().iter().map(|r| &r["idempotency_key"]).collect();
    assert_eq!(keys.len(), 4);
    assert!(keys.iter().all(|k| *k == keys[0]), "retries carry the same Idempotency-Key");
}

#[tokio::test]
async fn a_partner_that_configures_nothing_or_misbehaves_leaves_nothing_behind() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "hunters", &sim).await;
    let faults = [
        json!({"refuse_resources": true}),
        json!({"foreign_redirect": true}),
        json!({"garbage": true}),
        json!({"oversized": true}),
        json!({"unauthorized": true}),
        json!({"delay_ms": 3000}),
        json!({"connect_500": 9}),
    ];
    for fault in faults {
        sim_faults(&sim, fault.clone()).await;
        let r = app.connect_partner("hunters").await;
        let kept = fault.get("connect_500").is_some();
        if kept {
            assert_eq!(r.status, StatusCode::OK);
            let del = app.admin_delete(&format!("{PC}/connections/hunters")).await;
            assert_eq!(del.status, StatusCode::OK);
        } else if fault.get("refuse_resources").is_some() {
            assert_eq!(r.status, StatusCode::OK, "{fault}: {:?}", r.body);
            assert_eq!(r.body["connection"], Value::Null);
        } else {
            assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{fault}: {:?}", r.body);
            assert!(!r.body["message"].as_str().unwrap().is_empty());
        }
        assert!(service_principals(&app).await.is_empty(), "{fault}: nothing half-created");
        let wh = app.admin_get("/api/2.0/sql/warehouses").await;
        assert_eq!(wh.status, StatusCode::OK, "{:?}", wh.body);
        assert!(
            wh.body["warehouses"].as_array().is_none_or(|w| w.is_empty()),
            "{fault}: {:?}",
            wh.body
        );
        assert_eq!(tile(&app, "hunters").await["connected"], false, "{fault}");
        let tokens = app.admin_get("/api/2.0/token-management/tokens").await;
        assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
        assert_eq!(tokens.body["token_infos"].as_array().unwrap().len(), 1, "{fault}");
    }
}

#[tokio::test]
async fn only_admins_connect_and_a_dry_run_changes_nothing() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "monte-carlo", &sim).await;
    let (_, token) = app.plain_user("user@example.com").await;
    let r = app.connect_partner_as(&token, "monte-carlo", json!({"schemas": ["default"]})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = connect(&app, "monte-carlo", json!({"schemas": ["default"], "dry_run": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let plan = &r.body["plan"];
    assert_eq!(plan["service_principal"]["display_name"], "MONTE_CARLO_USER");
    assert_eq!(plan["service_principal"]["token_permission"], "CAN_USE");
    assert_eq!(plan["compute"]["create_warehouse"], "MONTE_CARLO_ENDPOINT");
    assert_eq!(plan["grants"][0]["full_name"], "hive_metastore.default");
    assert!(service_principals(&app).await.is_empty());
    assert_eq!(tile(&app, "monte-carlo").await["connected"], false);
    let state = sim_state(&sim).await;
    assert!(state["received"].as_array().unwrap().is_empty(), "the partner was not called");

    let unknown = app.connect_partner("no-such-partner").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let unconfigured = connect(&app, "alation", json!({"schemas": ["default"]})).await;
    assert_eq!(unconfigured.status, StatusCode::BAD_REQUEST);
    assert!(service_principals(&app).await.is_empty());
}

#[tokio::test]
async fn a_desktop_tool_s_file_needs_can_use_on_the_warehouse() {
    let app = TestApp::new().await;
    let warehouse = app.create_warehouse("BI", "2X-Small").await;
    let (_, token) = app.plain_user("user@example.com").await;
    let pick = json!({"warehouse_id": warehouse});
    let acl = format!("/api/2.0/permissions/sql/warehouses/{warehouse}");
    // No level, or CAN_VIEW alone: the warehouse is not one the user may use.
    for level in [None, Some("CAN_VIEW"), Some("CAN_USE")] {
        if let Some(level) = level {
            let entry = json!({"user_name": "user@example.com", "permission_level": level});
            app.admin_put(&acl, json!({"access_control_list": [entry]})).await.ok();
        }
        let r = app.connect_partner_as(&token, "power-bi", pick.clone()).await;
        if level == Some("CAN_USE") {
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            let content = r.body["connection_file"]["content"].as_str().unwrap_or_default();
            assert!(content.contains(&format!("/sql/1.0/warehouses/{warehouse}")), "{content}");
        } else {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{level:?}: {:?}", r.body);
            let message = r.body["message"].as_str().unwrap_or_default();
            assert!(message.contains("cannot use it"), "{level:?}: {:?}", r.body);
        }
    }
}

#[tokio::test]
async fn custom_partners_register_without_showing_their_credentials() {
    let (app, _) = TestApp::serve().await;
    let body = json!({"name": "Acme Ingest", "category": "INGEST", "profile": "ingest", "supports_unity_catalog": true,
        "base_url": "https://partner.example.com/databricks",
        "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection", "test_connection_path": "/test-connection"},
        "credentials": {"username": "databricks", "password": "s3cret-value"},
        "hostnames": ["partner.example.com"]});
    let r = app.admin_post(&format!("{PC}/partners"), body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["partner"]["id"], "acme-ingest");
    assert!(!r.body.to_string().contains("s3cret-value"));
    let again = app.admin_post(&format!("{PC}/partners"), body).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let list = app.admin_get(&format!("{PC}/partners")).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert!(!list.body.to_string().contains("s3cret-value"));
    assert!(list.body["partners"].as_array().unwrap().iter().any(|p| p["id"] == "acme-ingest"));
    let bad = app
        .admin_post(&format!("{PC}/partners"), json!({"name": "X", "category": "NOPE", "profile": "ingest", "base_url": "https://x.example.com"}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let (_, user_token) = app.plain_user("u@example.com").await;
    let r = app.delete_as(Some(&user_token), &format!("{PC}/partners/acme-ingest")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.admin_delete(&format!("{PC}/partners/acme-ingest")).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// The partner's password as stored, read behind the store's back: `(password, password_sealed)`.
async fn stored_password(app: &TestApp, partner_id: &str) -> (Option<String>, Option<String>) {
    use sqlx::Row;
    let rows = common::read_behind_the_back(
        app,
        &format!(
            "SELECT password, password_sealed FROM partner_settings \
             WHERE workspace_id = {} AND partner_id = '{partner_id}'",
            app.workspace_id
        ),
    )
    .await;
    let [row] = rows.as_slice() else { panic!("{partner_id}: {} rows", rows.len()) };
    (row.get("password"), row.get("password_sealed"))
}

/// A partner's Basic password is sent to the partner on every call, so it cannot be kept as a
/// digest: it is kept sealed with the installation's secret key, which is not in the database.
/// The database holds no clear text of it; a sealed password moved to another partner's row
/// does not open there (and that partner is not called); a clear password an older version
/// stored is sealed when a store is given the key; a store given another key is refused.
#[tokio::test]
async fn a_partners_password_is_kept_sealed_outside_the_database() {
    let (app, sim) = served_with_sim().await;
    let password = sim.config.password.clone();
    configure(&app, "rivery", &sim).await;
    let (clear, sealed) = stored_password(&app, "rivery").await;
    assert_eq!(clear, None);
    let sealed = sealed.expect("the password is kept sealed");
    assert!(!sealed.contains(&password), "{sealed}");
    if !app.db.is_postgres() {
        let mut bytes = Vec::new();
        for file in app.db.sqlite_files() {
            bytes.extend(std::fs::read(&file).unwrap_or_default());
        }
        let holds = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(holds(b"rivery"), "the scan reads where the settings went");
        assert!(!holds(password.as_bytes()), "the password is in the database files");
    }
    // partner-sim checks the Basic credentials of every call: the sealed password opens.
    let r = connect(&app, "rivery", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Moved to another partner's row, it does not open: an error, not a call.
    configure(&app, "hightouch", &sim).await;
    let calls = sim_state(&sim).await["received"].as_array().unwrap().len();
    common::behind_the_back(
        &app,
        &format!(
            "UPDATE partner_settings SET password_sealed = '{sealed}' WHERE partner_id = 'hightouch'"
        ),
    )
    .await;
    let moved = connect(&app, "hightouch", json!({})).await;
    assert_eq!(moved.status, StatusCode::INTERNAL_SERVER_ERROR, "{:?}", moved.body);
    assert!(!moved.body.to_string().contains(&password));
    assert_eq!(
        sim_state(&sim).await["received"].as_array().unwrap().len(),
        calls,
        "the partner was not called"
    );
    // The listing opens no password, so one that does not open leaves it whole.
    let listed = app.admin_get(&format!("{PC}/partners")).await.ok();
    let tiles = listed["partners"].as_array().expect("partners");
    assert!(tiles.iter().any(|p| p["id"] == "hightouch"), "{listed}");
    assert!(tiles.iter().any(|p| p["id"] == "rivery"), "{listed}");
    assert!(!listed.to_string().contains(&password));

    // A password in the clear, as an older version kept it, is sealed by the next start.
    common::behind_the_back(
        &app,
        "UPDATE partner_settings SET password = 'kept-in-the-clear', password_sealed = NULL \
         WHERE partner_id = 'rivery'",
    )
    .await;
    let restarted = common::restarted_store(&app).await;
    assert_eq!(stored_password(&app, "rivery").await.0, None, "the clear text is gone");
    let endpoint = restarted
        .partner_setting(app.workspace_id, "rivery")
        .await
        .unwrap()
        .and_then(|s| s.endpoint)
        .expect("rivery's endpoint");
    assert_eq!(endpoint.password, "kept-in-the-clear");
    restarted.close().await;

    // Another key is refused at once, before it seals anything.
    let refused = patchbay_store::Store::connect(&app.db.url)
        .await
        .unwrap()
        .with_secret_key(patchbay_store::SecretKey::generate())
        .await
        .expect_err("another key");
    assert!(refused.to_string().contains("sealed with another secret key"), "{refused}");
}

#[tokio::test]
async fn sign_in_answers_name_what_the_user_must_do() {
    let (app, _) = TestApp::serve().await;
    let sim = sim_with(SimConfig {
        new_user_action: patchbay_partner::sim::NewUserAction::NotFound,
        ..SimConfig::default()
    })
    .await;
    configure(&app, "census", &sim).await;
    let r = connect(&app, "census", json!({"schemas": ["default"]})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (_, token) = app.plain_user("newbie@example.com").await;
    let r = app.connect_partner_as(&token, "census", json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert!(
        r.body["message"].as_str().unwrap().contains(common::ADMIN),
        "names the partner account administrator"
    );

    // Deleted at the partner: the user is told to delete and re-create.
    let id = app
        .admin_get(&format!("{PC}/connections/census"))
        .await
        .ok()["connection"]["partner_connection_id"]
        .as_str()
        .unwrap()
        .to_owned();
    reqwest::Client::new().post(format!("{}/delete-connection", sim.url)).basic_auth(&sim.config.username, Some(&sim.config.password))
        .json(&json!({"connection_id": id, "cloud_provider": "aws", "databricks_organization_id": app.workspace_id})).send().await.unwrap();
    let r = app.connect_partner("census").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("delete the connection"));
}

#[tokio::test]
async fn token_rotation_delivers_the_new_token_before_revoking_the_old() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "hightouch", &sim).await;
    let r = connect(&app, "hightouch", json!({"schemas": ["default"]})).await;
    let old_token_id = r.body["connection"]["token_id"].as_str().unwrap().to_owned();
    let id = r.body["connection"]["partner_connection_id"].as_str().unwrap().to_owned();
    let rotated =
        app.admin_post(&format!("{PC}/connections/hightouch/rotate-token"), json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    assert_eq!(rotated.body["delivered"], true);
    assert!(rotated.body.get("token_value").is_none());
    let (status, who) = sim_get(&sim, &format!("/_sim/connections/{id}/whoami")).await;
    assert_eq!(status, 200, "the partner holds a working new token: {who}");
    let old = app.admin_get(&format!("/api/2.0/token-management/tokens/{old_token_id}")).await;
    assert_eq!(old.status, StatusCode::NOT_FOUND, "the old token is gone");
}

#[tokio::test]
async fn the_audit_trail_names_every_object_of_a_connect_and_delete() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "rivery", &sim).await;
    let r = app.connect_partner("rivery").await;
    let warehouse_id = r.body["connection"]["warehouse_id"].as_str().unwrap().to_owned();
    let token_id = r.body["connection"]["token_id"].as_str().unwrap().to_owned();
    app.admin_delete(&format!("{PC}/connections/rivery")).await;
    let audit = app.admin_get(&format!("{PC}/audit?partner_id=rivery")).await;
    assert_eq!(audit.status, StatusCode::OK, "{:?}", audit.body);
    let events: Vec<(String, String)> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["action"].as_str().unwrap().to_owned(), e["object_id"].as_str().unwrap().to_owned())
        })
        .collect();
    for expected in [
        ("warehouse.create", warehouse_id.as_str()),
        ("token.create", token_id.as_str()),
        ("warehouse.delete", warehouse_id.as_str()),
        ("token.revoke", token_id.as_str()),
    ] {
        assert!(
            events.iter().any(|(a, o)| a == expected.0 && o == expected.1),
            "{expected:?} in {events:?}"
        );
    }
    for action in [
        "service_principal.create",
        "permission.grant",
        "grant",
        "connection.connected",
        "service_principal.delete",
        "connection.delete",
        "partner.notify",
    ] {
        assert!(events.iter().any(|(a, _)| a == action), "{action} in {events:?}");
    }
    assert!(!audit.body.to_string().contains("dapi"), "never a token value");
}

/// Enables Unity Catalog with a metastore owned by `owner`; `main` becomes the default catalog.
async fn enable_unity_catalog(app: &TestApp, owner: &str) {
    let m = app
        .admin_post("/api/2.1/unity-catalog/metastores", json!({"name": "primary", "owner": owner}))
        .await;
    assert_eq!(m.status, StatusCode::OK, "{:?}", m.body);
    let id = m.body["metastore_id"].as_str().unwrap().to_owned();
    let a = app
        .admin_put(
            &format!("/api/2.1/unity-catalog/workspaces/{}/metastore", app.workspace_id),
            json!({"metastore_id": id, "default_catalog_name": "main"}),
        )
        .await;
    assert!(a.status.is_success(), "{:?}", a.body);
}

#[tokio::test]
async fn the_unity_catalog_rules_and_their_errors() {
    let (app, sim) = served_with_sim().await;
    for p in ["hunters", "dbt-cloud"] {
        configure(&app, p, &sim).await;
    }
    app.create_user("steward@example.com").await;
    enable_unity_catalog(&app, "steward@example.com").await;

    // Hunters has no Unity Catalog support: only the default catalog, which the admin does not own.
    let r = app.connect_partner("hunters").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.contains("'main'")
            && message.contains("hive_metastore")
            && message.contains("do not own"),
        "{message}"
    );
    // A UC partner may use hive_metastore, but not a catalog someone else owns.
    let r =
        connect(&app, "dbt-cloud", json!({"catalog_name": "main", "schemas": ["default"]})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("you do not own 'main'"));
    assert!(service_principals(&app).await.is_empty());
    let r = connect(
        &app,
        "dbt-cloud",
        json!({"catalog_name": "hive_metastore", "schemas": ["default"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.admin_delete(&format!("{PC}/connections/dbt-cloud")).await;

    // The metastore admin (a workspace admin too) may choose any catalog of the metastore,
    // and gets the Unity Catalog privileges there.
    let admins_id = app.scim_id_where("Groups", "displayName+eq+admins").await;
    let steward_id = app.scim_id_where("Users", "userName+eq+steward@example.com").await;
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "add", "path": "members", "value": [{"value": steward_id}]}]});
    let r = app.admin_patch(&format!("{SCIM}/Groups/{admins_id}"), patch).await;
    assert_eq!(r.status, StatusCode::OK);
    let steward_token = app.token_for("steward@example.com").await;
    let r = app
        .connect_partner_as(
            &steward_token,
            "dbt-cloud",
            json!({"catalog_name": "main", "schemas": ["default"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let app_id =
        r.body["connection"]["service_principal"]["application_id"].as_str().unwrap().to_owned();
    for (securable_type, full_name, expected) in [
        ("catalog", "main", vec!["USE_CATALOG"]),
        ("schema", "main.default", vec!["SELECT", "USE_SCHEMA"]),
    ] {
        // Read as the metastore admin: the workspace admin may not read main's grants.
        let r = app
            .get_as(
                Some(&steward_token),
                &format!("/api/2.1/unity-catalog/permissions/{securable_type}/{full_name}"),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let mut got: Vec<String> = r.body["privilege_assignments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["principal"] == app_id.as_str())
            .flat_map(|p| p["privileges"].as_array().expect("privileges").clone())
            .map(|p| p.as_str().expect("a privilege").to_owned())
            .collect();
        got.sort();
        assert_eq!(got, expected, "{full_name}");
    }
}

#[tokio::test]
async fn a_second_workspace_of_the_organization_joins_the_existing_partner_account() {
    let (app, url) = TestApp::serve().await;
    let sim = sim().await;
    configure(&app, "rivery", &sim).await;
    let r = app.connect_partner("rivery").await;
    assert_eq!(r.body["account_status"], "new");

    let (second, token) = app
        .store
        .add_workspace(app.workspace_id, "second", &url, "lead@example.com")
        .await
        .unwrap();
    let token = token.expose().to_owned();
    assert_ne!(second, app.workspace_id);
    // The second workspace is its own: none of the first one's principals or connections.
    let sps = app.get_as(Some(&token), &format!("{SCIM}/ServicePrincipals")).await;
    assert_eq!(sps.status, StatusCode::OK, "{:?}", sps.body);
    assert_eq!(sps.body["totalResults"], 0);
    let tile = app.get_as(Some(&token), &format!("{PC}/partners/rivery")).await;
    assert_eq!(tile.status, StatusCode::OK, "{:?}", tile.body);
    assert_eq!(tile.body["partner"]["connected"], false);
    assert_eq!(
        tile.body["partner"]["endpoint_configured"], false,
        "partner settings are per workspace"
    );

    let put = app
        .put_as(Some(&token), &format!("{PC}/partners/rivery"), json!({"base_url": sim.url, "credentials": {"username": sim.config.username, "password": sim.config.password},
                        "hostnames": ["127.0.0.1"]}))
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let r = app.connect_partner_as(&token, "rivery", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["account_status"], "active", "the partner knows the organization already");
    assert_eq!(
        r.body["connection"]["partner_account_administrator"],
        common::ADMIN,
        "the first connector stays administrator"
    );
    let state = sim_state(&sim).await;
    let workspaces: Vec<i64> = state["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["workspace_id"].as_i64().unwrap())
        .collect();
    assert_eq!(workspaces.len(), 2, "one connection per workspace at the partner");
    assert!(workspaces.contains(&second.get()) && workspaces.contains(&app.workspace_id.get()));
}
