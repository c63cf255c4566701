//! Who reaches what: every endpoint family × {workspace admin, plain user, a connected partner's
//! service principal, another partner's service principal, no token, deleted token, expired
//! token}, including object-level cases, and every Partner Connect route and page. Partner
//! Connect: tiles for everyone, sign-in for users, details, accounts, the audit trail and every
//! change for admins; no request but a user's sign-in makes patchbay call the partner, and no
//! answer to a non-admin holds a connection's details.

mod common;

use axum::http::{Method, StatusCode};
use common::sim::{sim, sim_calls};
use common::{SCIM, TestApp};
use serde_json::{Value, json};

const PC: &str = "/api/2.0/partner-connect";

async fn obo_token(app: &TestApp, application_id: &str) -> String {
    let r = app
        .admin_post(
            "/api/2.0/token-management/on-behalf-of/tokens",
            json!({"application_id": application_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["token_value"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_access_control_matrix() {
    let (app, _) = TestApp::serve_clocked().await;
    let sim = sim().await;
    for partner in ["rivery", "labelbox"] {
        let r = app
            .admin_put(&format!("{PC}/partners/{partner}"), json!({"base_url": sim.url,
                "credentials": {"username": sim.config.username, "password": sim.config.password}, "hostnames": ["127.0.0.1"]}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = app.connect_partner(partner).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let connection = |p: &str| {
        let app = &app;
        let p = p.to_owned();
        async move { app.admin_get(&format!("{PC}/connections/{p}")).await.ok()["connection"].clone() }
    };
    let rivery = connection("rivery").await;
    let labelbox = connection("labelbox").await;
    let sp_a =
        obo_token(&app, rivery["service_principal"]["application_id"].as_str().unwrap()).await;
    let sp_b =
        obo_token(&app, labelbox["service_principal"]["application_id"].as_str().unwrap()).await;
    let warehouse = rivery["warehouse_id"].as_str().unwrap().to_owned();
    // What a non-admin must never read from Partner Connect.
    let details: Vec<String> = [&rivery, &labelbox]
        .iter()
        .flat_map(|c| {
            [
                c["partner_connection_id"].as_str().unwrap().to_owned(),
                c["token_id"].as_str().unwrap().to_owned(),
                c["service_principal"]["application_id"].as_str().unwrap().to_owned(),
            ]
        })
        .chain([common::ADMIN.to_owned()])
        .collect();
    let sp_a_id = rivery["service_principal"]["id"].as_str().unwrap().to_owned();
    let (user_id, user) = app.plain_user("plain@example.com").await;

    let (_, deleted) = app.plain_user("gone@example.com").await;
    let gone_id = app.scim_id_where("Users", "userName+eq+gone@example.com").await;
    app.admin_delete(&format!("{SCIM}/Users/{gone_id}")).await;
    let expired = app.create_token_as(&user, json!({"lifetime_seconds": 1})).await["token_value"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance(std::time::Duration::from_millis(1100));

    // A job and a secret scope of the admin's, which no one else holds a level on.
    let job = app
        .admin_post("/api/2.2/jobs/create", json!({"name": "matrix", "max_concurrent_runs": 100}))
        .await
        .body["job_id"]
        .clone();
    let r = app.admin_post("/api/2.0/secrets/scopes/create", json!({"scope": "matrix"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let admin = app.admin_token.clone();
    let callers: [(&str, Option<&str>); 7] = [
        ("admin", Some(&admin)),
        ("user", Some(&user)),
        ("partner SP", Some(&sp_a)),
        ("other SP", Some(&sp_b)),
        ("no token", None),
        ("deleted token", Some(&deleted)),
        ("expired token", Some(&expired)),
    ];
    let sp_patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "entitlements", "value": [{"value": "allow-cluster-create"}]}]});
    // Expected status for admin, user, partner SP, other SP; the last three always get 401.
    let rows: Vec<(Method, String, Option<Value>, [u16; 4])> = vec![
        (Method::GET, format!("{SCIM}/Me"), None, [200, 200, 200, 200]),
        (Method::GET, format!("{SCIM}/ServicePrincipals"), None, [200, 200, 200, 200]),
        (
            Method::POST,
            format!("{SCIM}/ServicePrincipals"),
            Some(json!({"displayName": "x"})),
            [201, 403, 403, 403],
        ),
        (
            Method::PATCH,
            format!("{SCIM}/ServicePrincipals/{sp_a_id}"),
            Some(sp_patch.clone()),
            [200, 403, 403, 403],
        ),
        (
            Method::PATCH,
            format!("{SCIM}/Users/{user_id}"),
            Some(json!({"Operations": [{"op": "replace", "path": "displayName", "value": "P"}]})),
            [200, 403, 403, 403],
        ),
        (Method::GET, "/api/2.0/token/list".into(), None, [200, 200, 200, 200]),
        (Method::GET, "/api/2.0/token-management/tokens".into(), None, [200, 403, 403, 403]),
        (
            Method::GET,
            "/api/2.0/permissions/authorization/tokens".into(),
            None,
            [200, 403, 403, 403],
        ),
        (Method::GET, format!("/api/2.0/sql/warehouses/{warehouse}"), None, [200, 404, 200, 404]),
        (
            Method::POST,
            format!("/api/2.0/sql/warehouses/{warehouse}/edit"),
            Some(json!({"name": "RIVERY_ENDPOINT", "cluster_size": "X-Small"})),
            [200, 404, 200, 404],
        ),
        (
            Method::GET,
            format!("/api/2.0/permissions/warehouses/{warehouse}"),
            None,
            [200, 404, 200, 404],
        ),
        // The partner SP (allow-cluster-create) creates it; the admin, last, finds the name taken.
        (
            Method::POST,
            "/api/2.0/sql/warehouses".into(),
            Some(json!({"name": "mine", "cluster_size": "Small"})),
            [409, 403, 200, 403],
        ),
        (
            Method::GET,
            "/api/2.1/unity-catalog/catalogs/hive_metastore".into(),
            None,
            [200, 200, 200, 200],
        ),
        (Method::GET, "/api/2.1/clusters/spark-versions".into(), None, [200, 200, 200, 200]),
        (Method::GET, "/api/2.1/clusters/list-node-types".into(), None, [200, 200, 200, 200]),
        (
            Method::POST,
            "/api/2.2/jobs/run-now".into(),
            Some(json!({"job_id": job})),
            [200, 400, 400, 400],
        ),
        (Method::GET, "/api/2.2/jobs/runs/list".into(), None, [200, 200, 200, 200]),
        (Method::GET, "/api/2.0/secrets/scopes/list".into(), None, [200, 200, 200, 200]),
        (
            Method::POST,
            "/api/2.0/secrets/put".into(),
            Some(json!({"scope": "matrix", "key": "k", "string_value": "v"})),
            [200, 403, 403, 403],
        ),
        (Method::GET, "/api/2.0/secrets/list?scope=matrix".into(), None, [200, 403, 403, 403]),
        (Method::GET, "/api/2.0/secrets/get?scope=matrix&key=k".into(), None, [403, 403, 403, 403]),
        (Method::GET, "/api/2.0/groups/list".into(), None, [200, 200, 200, 200]),
        (
            Method::POST,
            "/api/2.0/groups/create".into(),
            Some(json!({"group_name": "matrix"})),
            [200, 403, 403, 403],
        ),
        (Method::GET, format!("{PC}/partners"), None, [200, 200, 200, 200]),
        (Method::GET, format!("{PC}/partners/rivery"), None, [200, 200, 200, 200]),
        (Method::GET, format!("{PC}/partners/rivery/account"), None, [200, 403, 403, 403]),
        (Method::GET, format!("{PC}/connections"), None, [200, 403, 403, 403]),
        (Method::GET, format!("{PC}/connections/rivery"), None, [200, 403, 403, 403]),
        (Method::GET, format!("{PC}/connections/labelbox"), None, [200, 403, 403, 403]),
        (
            Method::POST,
            format!("{PC}/connections/rivery/test"),
            Some(json!({})),
            [200, 403, 403, 403],
        ),
        (
            Method::POST,
            format!("{PC}/connections/rivery/repair"),
            Some(json!({})),
            [200, 403, 403, 403],
        ),
        (Method::GET, format!("{PC}/audit"), None, [200, 403, 403, 403]),
        // A connected tile: users sign in (the one partner call a non-admin makes); service
        // principals, the partner's own included, do not.
        (
            Method::POST,
            format!("{PC}/partners/rivery/connect"),
            Some(json!({})),
            [200, 200, 403, 403],
        ),
        (
            Method::POST,
            format!("{PC}/partners/labelbox/connect"),
            Some(json!({})),
            [200, 200, 403, 403],
        ),
        // A dry run on a connected tile plans nothing and calls nobody.
        (
            Method::POST,
            format!("{PC}/partners/rivery/connect"),
            Some(json!({"dry_run": true})),
            [409, 409, 409, 409],
        ),
        (
            Method::POST,
            format!("{PC}/partners/dbt-cloud/connect"),
            Some(json!({"schemas": ["default"], "dry_run": true})),
            [200, 403, 403, 403],
        ),
        (
            Method::POST,
            format!("{PC}/partners"),
            Some(json!({"name": "Acme Ingest", "category": "INGEST", "profile": "ingest",
                "base_url": sim.url, "credentials": {"username": "u", "password": "p"}})),
            [201, 403, 403, 403],
        ),
        (
            Method::PUT,
            format!("{PC}/partners/rivery"),
            Some(json!({"hostnames": ["127.0.0.1"], "base_url": sim.url})),
            [200, 403, 403, 403],
        ),
        (Method::DELETE, format!("{PC}/partners/acme-ingest"), None, [200, 403, 403, 403]),
        (
            Method::POST,
            format!("{PC}/connections/rivery/rotate-token"),
            Some(json!({})),
            [200, 403, 403, 403],
        ),
        (Method::DELETE, format!("{PC}/connections/labelbox"), None, [200, 403, 403, 403]),
    ];
    let mut failures = Vec::new();
    for (method, path, body, expected) in &rows {
        let partner_connect = path.starts_with(PC);
        let sign_in = *method == Method::POST
            && path.ends_with("/connect")
            && body.as_ref().is_some_and(|b| b.get("dry_run").is_none());
        // The admin goes last, so that an allowed admin write cannot change what others see.
        for (i, (who, token)) in callers.iter().enumerate() {
            let want = if i < 4 { expected[i] } else { 401 };
            if *who == "admin" {
                continue;
            }
            let calls_before = sim_calls(&sim).await;
            let r = app.call(method.clone(), path, *token, body.clone()).await;
            let calls = sim_calls(&sim).await - calls_before;
            if r.status.as_u16() != want {
                failures.push(format!(
                    "{who:>13} {method} {path}: got {} want {want}: {}",
                    r.status.as_u16(),
                    r.body
                ));
            }
            let want_calls = usize::from(sign_in && *who == "user");
            if partner_connect && calls != want_calls {
                failures.push(format!(
                    "{who:>13} {method} {path}: made patchbay call the partner {calls} times, want {want_calls}"
                ));
            }
            if partner_connect {
                let text = r.body.to_string();
                for secret in details.iter().filter(|d| text.contains(d.as_str())) {
                    failures.push(format!(
                        "{who:>13} {method} {path}: the answer shows a connection detail ({secret}): {text}"
                    ));
                }
            }
        }
        let r = app.call(method.clone(), path, Some(&admin), body.clone()).await;
        if r.status.as_u16() != expected[0] {
            failures.push(format!(
                "        admin {method} {path}: got {} want {}: {}",
                r.status.as_u16(),
                expected[0],
                r.body
            ));
        }
    }
    assert!(failures.is_empty(), "access-control matrix:\n{}", failures.join("\n"));
}
