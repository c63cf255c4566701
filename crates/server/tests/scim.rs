//! SCIM as the admin guide, the Databricks SDKs and Terraform use it.

mod common;

use axum::http::{Method, StatusCode};
use common::{SCIM, TestApp};
use serde_json::{Value, json};

fn ids(body: &Value) -> Vec<String> {
    common::strings(body, "Resources", "id")
}

#[tokio::test]
async fn the_guides_listing_shows_display_names_and_application_ids() {
    let app = TestApp::new().await;
    let sp = app.create_service_principal("FIVETRAN_USER").await;
    let r = app.admin_get(&format!("{SCIM}/ServicePrincipals")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]));
    let listed: Vec<(Value, Value)> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["displayName"].clone(), s["applicationId"].clone()))
        .collect();
    assert_eq!(listed, vec![(json!("FIVETRAN_USER"), sp["applicationId"].clone())]);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["startIndex"], 1);
}

#[tokio::test]
async fn service_principal_lifecycle_by_scim_id_and_application_id() {
    let app = TestApp::new().await;
    let created = app.create_service_principal("acme").await;
    let id = created["id"].as_str().unwrap();
    let app_id = created["applicationId"].as_str().unwrap();
    assert!(id.parse::<i64>().is_ok(), "SCIM ids are decimal strings");
    assert_eq!(app_id.len(), 36, "a UUID is generated when none is given");
    assert_eq!(created["active"], true);
    assert_eq!(
        created["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"])
    );

    let by_id = app.admin_get(&format!("{SCIM}/ServicePrincipals/{id}")).await;
    let by_app = app.admin_get(&format!("{SCIM}/ServicePrincipals/{app_id}")).await;
    assert_eq!(by_app.status, StatusCode::OK, "{:?}", by_app.body);
    assert_eq!(by_id.status, StatusCode::OK);
    assert_eq!(by_id.body, by_app.body);

    let put = app
        .admin_put(
            &format!("{SCIM}/ServicePrincipals/{id}"),
            json!({"displayName": "acme-renamed", "applicationId": app_id, "active": false,
                        "entitlements": [{"value": "databricks-sql-access"}]}),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
    assert_eq!(put.body["displayName"], "acme-renamed");
    assert_eq!(put.body["active"], false);
    assert_eq!(put.body["entitlements"], json!([{"value": "databricks-sql-access"}]));

    let changed_app_id = app
        .admin_put(
            &format!("{SCIM}/ServicePrincipals/{id}"),
            json!({"displayName": "x", "applicationId": "00000000-0000-0000-0000-000000000001"}),
        )
        .await;
    assert_eq!(changed_app_id.status, StatusCode::BAD_REQUEST);
    assert_eq!(changed_app_id.body["scimType"], "mutability");

    // The admin guide deletes by application id.
    let del = app.admin_delete(&format!("{SCIM}/ServicePrincipals/{app_id}")).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let gone = app.admin_get(&format!("{SCIM}/ServicePrincipals/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.body["status"], "404", "SCIM status is a string");
    assert_eq!(gone.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]));
}

#[tokio::test]
async fn duplicates_get_the_exact_messages_terraform_matches() {
    let app = TestApp::new().await;
    let app_id = "6e2b0c46-1b2c-4d5e-8f90-123456789abc";
    let body = json!({"displayName": "a", "applicationId": app_id});
    let first = app.admin_post(&format!("{SCIM}/ServicePrincipals"), body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app.admin_post(&format!("{SCIM}/ServicePrincipals"), body).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.body["detail"],
        format!("Service principal with application ID {app_id} already exists.")
    );
    assert!(again.body.get("scimType").is_none());

    app.create_user("jsmith@example.com").await;
    let user =
        app.admin_post(&format!("{SCIM}/Users"), json!({"userName": "JSmith@example.com"})).await;
    assert_eq!(user.status, StatusCode::CONFLICT);
    assert_eq!(user.body["detail"], "User with username JSmith@example.com already exists.");

    let group = app.admin_post(&format!("{SCIM}/Groups"), json!({"displayName": "admins"})).await;
    assert_eq!(group.status, StatusCode::CONFLICT);
    assert_eq!(group.body["detail"], "Group with name admins already exists.");
}

#[tokio::test]
async fn filters_quoted_unquoted_and_combined() {
    let app = TestApp::new().await;
    let a = app.create_service_principal("my-app-one").await;
    let b = app.create_service_principal("my-app-two").await;
    let c = app.create_service_principal("other").await;
    let (a_id, b_id, c_id) =
        (a["id"].as_str().unwrap(), b["id"].as_str().unwrap(), c["id"].as_str().unwrap());
    let app_id = a["applicationId"].as_str().unwrap();
    assert_eq!(list(&app, &format!("applicationId eq \"{app_id}\"")).await, vec![a_id]);
    assert_eq!(
        list(&app, &format!("applicationId eq {}", app_id.to_uppercase())).await,
        vec![a_id]
    );
    assert_eq!(list(&app, "displayName sw my-").await, vec![a_id, b_id]);
    assert_eq!(list(&app, "displayName co \"APP\"").await, vec![a_id, b_id]);
    assert_eq!(
        list(&app, "displayName ew \"two\" or displayName eq \"other\"").await,
        vec![b_id, c_id]
    );
    assert_eq!(list(&app, "not (displayName sw \"my\")").await, vec![c_id]);
    assert_eq!(
        list(&app, "(displayName sw \"my\" and displayName ne \"my-app-one\") or id eq \"1\"")
            .await,
        vec![b_id]
    );
    assert_eq!(list(&app, &format!("id eq \"{c_id}\"")).await, vec![c_id]);
    assert_eq!(list(&app, "displayName gt \"my-app-one\"").await, vec![b_id, c_id]);
    assert_eq!(list(&app, "externalId pr").await, Vec::<&str>::new());
    assert_eq!(
        list(&app, "displayName co \"%\"").await,
        Vec::<&str>::new(),
        "LIKE wildcards are literal"
    );
}

#[tokio::test]
async fn filters_on_multi_valued_attributes_and_membership() {
    let app = TestApp::new().await;
    let r = app
        .admin_post(&format!("{SCIM}/Users"), json!({"userName": "ann@example.com", "name": {"givenName": "Ann", "familyName": "Lee"},
                        "emails": [{"value": "ann@corp.example.com", "type": "work", "primary": true}],
                        "entitlements": [{"value": "allow-cluster-create"}]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let ann = r.body["id"].as_str().unwrap().to_owned();
    app.create_user("bob@example.com").await;
    let group_id = app.create_group("analysts", &[&ann]).await;

    for filter in [
        "emails[type eq \"work\" and value co \"@corp\"]",
        "emails.value ew \"corp.example.com\"",
        "entitlements.value eq \"allow-cluster-create\" and userName ne \"admin@example.com\"",
        "name.givenName eq \"ann\"",
        "groups.display eq \"analysts\"",
    ] {
        let path = format!("{SCIM}/Users?filter={}", urlencode(filter));
        let r = app.admin_get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{filter}: {:?}", r.body);
        assert_eq!(ids(&r.body), vec![ann.clone()], "{filter}");
    }
    let path =
        format!("{SCIM}/Groups?filter={}", urlencode(&format!("members.value eq \"{ann}\"")));
    let r = app.admin_get(&path).await;
    assert!(ids(&r.body).contains(&group_id));
}

async fn list(app: &TestApp, filter: &str) -> Vec<String> {
    let path = format!("{SCIM}/ServicePrincipals?filter={}&sortBy=displayName", urlencode(filter));
    let r = app.admin_get(&path).await;
    assert_eq!(r.status, StatusCode::OK, "{filter}: {:?}", r.body);
    ids(&r.body)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn invalid_filters_are_400_invalid_filter() {
    let app = TestApp::new().await;
    for filter in [
        "displayName eq",
        "displayName zz \"x\"",
        "(displayName eq \"x\"",
        "password eq \"x\"",
        "active co \"t\"",
    ] {
        let r =
            app.admin_get(&format!("{SCIM}/ServicePrincipals?filter={}", urlencode(filter))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{filter}");
        assert_eq!(r.body["scimType"], "invalidFilter", "{filter}: {:?}", r.body);
        assert!(!r.body["detail"].as_str().unwrap().is_empty());
    }
    let huge = vec!["displayName eq \"x\""; 300].join(" or ");
    let r = app.admin_get(&format!("{SCIM}/ServicePrincipals?filter={}", urlencode(&huge))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn paging_echoes_start_index_and_ends_with_an_empty_page() {
    let app = TestApp::new().await;
    for i in 0..5 {
        app.create_service_principal(&format!("sp-{i}")).await;
    }
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        // The SDK's loop: startIndex += len(Resources) until a page is empty.
        let r =
            app.admin_get(&format!("{SCIM}/ServicePrincipals?startIndex={start}&count=2")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["startIndex"], start);
        assert_eq!(r.body["totalResults"], 5);
        let page = ids(&r.body);
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        start += page.len();
        seen.extend(page);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);

    let bad = app.admin_get(&format!("{SCIM}/ServicePrincipals?count=many")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sorting_by_display_name_both_ways() {
    let app = TestApp::new().await;
    for name in ["b", "c", "a"] {
        app.create_service_principal(name).await;
    }
    let names = |body: &Value| common::strings(body, "Resources", "displayName");
    let asc = app.admin_get(&format!("{SCIM}/ServicePrincipals?sortBy=displayName")).await;
    assert_eq!(names(&asc.body), ["a", "b", "c"]);
    let desc = app
        .admin_get(&format!("{SCIM}/ServicePrincipals?sortBy=displayName&sortOrder=descending"))
        .await;
    assert_eq!(names(&desc.body), ["c", "b", "a"]);
}

#[tokio::test]
async fn attributes_and_excluded_attributes() {
    let app = TestApp::new().await;
    let sp = app.create_service_principal("proj").await;
    let id = sp["id"].as_str().unwrap();
    let r = app
        .admin_get(&format!("{SCIM}/ServicePrincipals/{id}?attributes=userName,displayName,active,externalId,entitlements"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Terraform asks exactly this and still needs applicationId back.
    assert_eq!(r.body["applicationId"], sp["applicationId"]);
    assert_eq!(r.body["active"], true);
    assert!(r.body.get("meta").is_none());
    let r =
        app.admin_get(&format!("{SCIM}/ServicePrincipals?excludedAttributes=meta,active")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let first = &r.body["Resources"][0];
    assert!(first.get("meta").is_none() && first.get("active").is_none());
    assert_eq!(first["id"], sp["id"]);
}

#[tokio::test]
async fn patch_entitlements_active_and_group_members() {
    let app = TestApp::new().await;
    let sp = app.create_service_principal("patchy").await;
    let id = sp["id"].as_str().unwrap();
    let path = format!("{SCIM}/ServicePrincipals/{id}");
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});

    let r = app
        .admin_patch(&path, patch(json!([{"op": "add", "path": "entitlements", "value": [{"value": "allow-cluster-create"}]}])))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["entitlements"], json!([{"value": "allow-cluster-create"}]));

    // Terraform deactivates with a list of one ComplexValue.
    let r = app
        .admin_patch(
            &path,
            patch(json!([{"op": "replace", "path": "active", "value": [{"value": "false"}]}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["active"], false);

    let group = app.admin_post(&format!("{SCIM}/Groups"), json!({"displayName": "g1"})).await;
    assert_eq!(group.status, StatusCode::CREATED, "{:?}", group.body);
    let gid = group.body["id"].as_str().unwrap();
    let gpath = format!("{SCIM}/Groups/{gid}");
    let r = app
        .admin_patch(
            &gpath,
            patch(json!([{"op": "add", "path": "members", "value": [{"value": id}]}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["members"][0]["value"], id);
    assert_eq!(
        r.body["members"][0]["$ref"],
        format!("{}{SCIM}/ServicePrincipals/{id}", app.public_url)
    );
    let member_view = app.admin_get(&path).await;
    assert_eq!(member_view.status, StatusCode::OK, "{:?}", member_view.body);
    assert_eq!(
        member_view.body["groups"],
        json!([{"display": "g1", "type": "direct", "value": gid, "$ref": format!("Groups/{gid}")}])
    );

    let r = app
        .admin_patch(
            &gpath,
            patch(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body.get("members").is_none());

    let unknown_member = app
        .admin_patch(
            &gpath,
            patch(json!([{"op": "add", "path": "members", "value": [{"value": "123"}]}])),
        )
        .await;
    assert_eq!(unknown_member.status, StatusCode::BAD_REQUEST);

    let bad_op = app.admin_patch(&path, patch(json!([{"op": "explode", "path": "active"}]))).await;
    assert_eq!(bad_op.status, StatusCode::BAD_REQUEST);
    let read_only =
        app.admin_patch(&path, patch(json!([{"op": "replace", "path": "id", "value": "1"}]))).await;
    assert_eq!(read_only.status, StatusCode::BAD_REQUEST);
    assert_eq!(read_only.body["scimType"], "mutability");
}

#[tokio::test]
async fn built_in_groups_exist_and_cannot_be_deleted() {
    let app = TestApp::new().await;
    let r = app
        .admin_get(&format!(
            "{SCIM}/Groups?filter=displayName+eq+admins&attributes=members.display,members.value"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let admins = &r.body["Resources"][0];
    assert_eq!(admins["displayName"], "admins");
    let members = admins["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["display"], "admin@example.com");
    let id = admins["id"].as_str().unwrap();
    let del = app.admin_delete(&format!("{SCIM}/Groups/{id}")).await;
    assert_eq!(del.status, StatusCode::BAD_REQUEST);
    let users = app.admin_get(&format!("{SCIM}/Groups?filter=displayName+eq+users")).await;
    assert_eq!(users.status, StatusCode::OK, "{:?}", users.body);
    assert_eq!(users.body["totalResults"], 1);

    let new_user = app.create_user("new@example.com").await;
    let r = app.admin_get(&format!("{SCIM}/Users/{new_user}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let groups = common::strings(&r.body, "groups", "display");
    assert_eq!(groups, ["users"], "every user is in `users`, not in `admins`");
}

#[tokio::test]
async fn bad_input_is_a_400_in_the_scim_envelope_and_writes_nothing() {
    let app = TestApp::new().await;
    let path = format!("{SCIM}/ServicePrincipals");
    let cases: Vec<(&str, axum::body::Body)> = vec![
        ("malformed JSON", "{\"displayName\": ".into()),
        ("not an object", "[1, 2]".into()),
        ("wrong type", json!({"displayName": 5}).to_string().into()),
        ("unknown attribute", json!({"displayName": "x", "password": "p"}).to_string().into()),
        (
            "unknown schema",
            json!({"displayName": "x", "schemas": ["urn:example:Nope"]}).to_string().into(),
        ),
        (
            "bad application id",
            json!({"displayName": "x", "applicationId": "nope"}).to_string().into(),
        ),
        ("control characters", json!({"displayName": "a\u{1}b"}).to_string().into()),
    ];
    for (what, body) in cases {
        let req = axum::http::Request::builder()
            .method(Method::POST)
            .uri(&path)
            .header("authorization", format!("Bearer {}", app.admin_token))
            .header("content-type", "application/scim+json; charset=utf-8")
            .body(body)
            .unwrap();
        let r = app.send(req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {:?}", r.body);
        assert_eq!(r.body["status"], "400", "{what}");
        assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}");
    }
    let big = json!({"displayName": "x".repeat(2 * 1024 * 1024)});
    let r = app.admin_post(&path, big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["status"], "413");

    // A declared length over the limit is refused before the body arrives.
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri(&path)
        .header("authorization", format!("Bearer {}", app.admin_token))
        .header("content-length", "5000000")
        .body(axum::body::Body::from("{"))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["status"], "413");

    // Headers beyond 32 KiB in all: 431, in the SCIM envelope here, Databricks' elsewhere.
    for (uri, field) in [(path.as_str(), "detail"), ("/api/2.0/token/list", "message")] {
        let req = axum::http::Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header("authorization", format!("Bearer {}", app.admin_token))
            .header("x-padding", "p".repeat(40 * 1024))
            .body(axum::body::Body::empty())
            .unwrap();
        let r = app.send(req).await;
        assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "{uri}");
        assert!(
            r.body[field].as_str().is_some_and(|m| m.contains("32 KiB")),
            "{uri}: {:?}",
            r.body
        );
    }

    let list = app.admin_get(&path).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert_eq!(list.body["totalResults"], 0, "nothing was written");
}

#[tokio::test]
async fn users_need_a_user_name_without_spaces() {
    let app = TestApp::new().await;
    for body in [json!({}), json!({"userName": ""}), json!({"userName": "a b@example.com"})] {
        let r = app.admin_post(&format!("{SCIM}/Users"), body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let app = TestApp::new().await;
    for path in
        ["Users/1234", "Groups/abc", "ServicePrincipals/00000000-0000-0000-0000-000000000000"]
    {
        let r = app.admin_get(&format!("{SCIM}/{path}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        let r = app.admin_delete(&format!("{SCIM}/{path}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn discovery_documents_and_their_405s() {
    let app = TestApp::new().await;
    let spc = app.admin_get(&format!("{SCIM}/ServiceProviderConfig")).await;
    assert_eq!(spc.status, StatusCode::OK);
    assert_eq!(spc.body["patch"]["supported"], true);
    let types = app.admin_get(&format!("{SCIM}/ResourceTypes")).await;
    assert_eq!(types.status, StatusCode::OK, "{:?}", types.body);
    let names = common::strings(&types.body, "Resources", "name");
    assert_eq!(names.len(), 3);
    for name in ["User", "Group", "ServicePrincipal"] {
        assert!(names.iter().any(|n| n == name));
        let one = app.admin_get(&format!("{SCIM}/ResourceTypes/{name}")).await;
        assert_eq!(one.status, StatusCode::OK);
        let schema = one.body["schema"].as_str().unwrap().to_owned();
        let s = app.admin_get(&format!("{SCIM}/Schemas/{schema}")).await;
        assert_eq!(s.status, StatusCode::OK, "{schema}");
    }
    let missing = app.admin_get(&format!("{SCIM}/Schemas/urn:nope")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let post = app.admin_post(&format!("{SCIM}/ServiceProviderConfig"), json!({})).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.body["status"], "405", "in the SCIM envelope: {:?}", post.body);
    let delete_me = app.admin_delete(&format!("{SCIM}/Me")).await;
    assert_eq!(delete_me.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(delete_me.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]));
    let search = app.admin_post(&format!("{SCIM}/Users/.search"), json!({})).await;
    assert_eq!(search.status, StatusCode::NOT_IMPLEMENTED);
}

#[tokio::test]
async fn removing_active_leaves_it_unset_and_the_user_still_active() {
    let app = TestApp::new().await;
    let (id, token) = app.plain_user("unset@example.com").await;
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "remove", "path": "active"}]});
    let r = app.admin_patch(&format!("{SCIM}/Users/{id}"), patch).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body.get("active").is_none());
    let me = app.me_as(&token).await;
    assert_eq!(me.status, StatusCode::OK, "an unset `active` counts as active");
    let listed = app
        .admin_get(&format!(
            "{SCIM}/Users?filter={}",
            urlencode("active eq true and userName eq \"unset@example.com\"")
        ))
        .await;
    assert_eq!(ids(&listed.body), vec![id]);
}

#[tokio::test]
async fn entitlements_and_emails_are_checked() {
    let app = TestApp::new().await;
    let r = app
        .admin_post(
            &format!("{SCIM}/ServicePrincipals"),
            json!({"displayName": "x", "entitlements": [{"value": "root-access"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().contains("root-access"));
    let r = app
        .admin_post(&format!("{SCIM}/Users"), json!({"userName": "two@example.com", "emails": [
                {"value": "a@example.com", "primary": true}, {"value": "b@example.com", "primary": true}]}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Terraform's "no entitlements" marker is accepted and means none.
    let r = app
        .admin_post(
            &format!("{SCIM}/ServicePrincipals"),
            json!({"displayName": "tf", "entitlements": [{}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(r.body.get("entitlements").is_none());
}

#[tokio::test]
async fn a_lookup_by_a_unique_attribute_counts_and_pages_like_any_filter() {
    let app = TestApp::new().await;
    let sp = app.create_service_principal("unique-one").await;
    app.create_service_principal("another").await;
    let app_id = sp["applicationId"].as_str().unwrap();
    let filter = format!("applicationId%20eq%20%22{app_id}%22");
    let page = |query: String| {
        let app = &app;
        async move {
            let r = app.admin_get(&format!("{SCIM}/ServicePrincipals?{query}")).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            (r.body["totalResults"].clone(), ids(&r.body))
        }
    };
    let sp_id = sp["id"].as_str().unwrap().to_owned();
    assert_eq!(page(format!("filter={filter}")).await, (json!(1), vec![sp_id.clone()]));
    assert_eq!(page(format!("filter={filter}&count=0")).await, (json!(1), vec![]));
    assert_eq!(page(format!("filter={filter}&startIndex=2")).await, (json!(1), vec![]));
    let unknown = "applicationId%20eq%20%2200000000-0000-0000-0000-000000000000%22";
    assert_eq!(page(format!("filter={unknown}")).await, (json!(0), vec![]));
    // A unique attribute and-ed with another condition is still a lookup.
    let both = format!("{filter}%20and%20displayName%20eq%20%22another%22");
    assert_eq!(page(format!("filter={both}")).await, (json!(0), vec![]));
}

/// RFC 7644 §3.1: a create answers `Location` and `meta.location` with one absolute URI of the
/// new resource, built from the public URL the server was given; every later read shows the
/// same `meta.location`. A member's `$ref` is the member's own location (what a client
/// writes there reads back unchanged); `groups[].$ref` stays relative, as Databricks shows it.
#[tokio::test]
async fn locations_are_one_absolute_uri_under_the_public_url() {
    // A trailing slash on the public URL does not double the slash.
    let app = TestApp::build("https://patchbay.example.com:8443/", |_| {}).await;
    let base = format!("https://patchbay.example.com:8443{SCIM}");
    let mut created = Vec::new();
    for (resource, body) in [
        ("Users", json!({"userName": "loc@example.com"})),
        ("ServicePrincipals", json!({"displayName": "LOC_USER"})),
    ] {
        let r = app.admin_post(&format!("{SCIM}/{resource}"), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let id = r.body["id"].as_str().expect("id").to_owned();
        let expected = format!("{base}/{resource}/{id}");
        let header =
            r.headers.get(axum::http::header::LOCATION).expect("Location").to_str().expect("ASCII");
        assert_eq!(header, expected);
        assert_eq!(r.body["meta"]["location"], expected.as_str());
        created.push((resource, id, expected));
    }
    let members: Vec<Value> = created.iter().map(|(_, id, _)| json!({"value": id})).collect();
    let r = app
        .admin_post(
            &format!("{SCIM}/Groups"),
            json!({"displayName": "located", "members": members}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let group_id = r.body["id"].as_str().expect("id").to_owned();
    let group_location = format!("{base}/Groups/{group_id}");
    assert_eq!(
        r.headers.get(axum::http::header::LOCATION).and_then(|v| v.to_str().ok()),
        Some(group_location.as_str())
    );
    assert_eq!(r.body["meta"]["location"], group_location.as_str());
    let mut refs: Vec<&str> = r.body["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["$ref"].as_str().expect("$ref"))
        .collect();
    refs.sort();
    let mut expected_refs: Vec<String> =
        created.iter().map(|(_, _, location)| location.clone()).collect();
    expected_refs.sort();
    assert_eq!(refs, expected_refs);

    // Reads, lists and /Me show the same location; a member's groups keep relative $refs.
    for (resource, id, expected) in &created {
        let r = app.admin_get(&format!("{SCIM}/{resource}/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["meta"]["location"], expected.as_str());
        assert_eq!(r.body["groups"][0]["$ref"], format!("Groups/{group_id}"));
        let r =
            app.admin_get(&format!("{SCIM}/{resource}?filter=id+eq+{id}&attributes=meta")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["Resources"][0]["meta"]["location"], expected.as_str());
    }
    // A member written with the $ref a client takes from its meta.location reads back as
    // written (scim2-tester's PATCH round trip).
    let r =
        app.admin_post(&format!("{SCIM}/Users"), json!({"userName": "added@example.com"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let added = json!({"value": r.body["id"], "type": "User", "$ref": r.body["meta"]["location"]});
    let r = app
        .admin_patch(
            &format!("{SCIM}/Groups/{group_id}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "members", "value": [added]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["members"], json!([added]));

    let r = app.admin_get(&format!("{SCIM}/Me")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let me_id = r.body["id"].as_str().expect("id");
    assert_eq!(r.body["meta"]["location"], format!("{base}/Users/{me_id}"));
}

/// Adding a member whose `value` is not a member id says what is wrong with the value, and the
/// group stays as it was. (scim-sanity expects 200 for `fake-member-id`; Databricks' ids are
/// numbers and patchbay refuses what it cannot store, with the reason.)
#[tokio::test]
async fn a_member_value_that_is_not_a_member_id_is_refused_with_the_reason() {
    let app = TestApp::new().await;
    let member = app.create_service_principal("MEMBER_USER").await;
    let member_id = member["id"].as_str().expect("id").to_owned();
    let group_id = app.create_group("g", &[&member_id]).await;
    let path = format!("{SCIM}/Groups/{group_id}");
    let before = app.admin_get(&path).await;
    assert_eq!(before.status, StatusCode::OK, "{:?}", before.body);
    let add = |value: Value| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "add", "path": "members", "value": [value]}]})
    };
    for (value, needles) in [
        (
            json!({"value": "fake-member-id"}),
            vec!["'fake-member-id'", "not a member id", "SCIM id"],
        ),
        (json!({"value": member["applicationId"]}), vec!["not a member id", "application id"]),
        (json!({"value": "123"}), vec!["Member 123 not found"]),
        (json!({"value": -5}), vec!["-5", "not a member id"]),
        (json!({"value": true}), vec!["true", "not a member id"]),
        (json!({"display": "someone"}), vec!["no 'value'"]),
    ] {
        let r = app.admin_patch(&path, add(value.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{value}: {:?}", r.body);
        assert_eq!(r.body["status"], "400", "{value}: {:?}", r.body);
        assert_eq!(r.body["scimType"], "invalidValue", "{value}: {:?}", r.body);
        let detail = r.body["detail"].as_str().expect("detail");
        for needle in needles {
            assert!(detail.contains(needle), "{value}: {detail:?} should say {needle:?}");
        }
    }
    let after = app.admin_get(&path).await;
    assert_eq!(after.status, StatusCode::OK, "{:?}", after.body);
    assert_eq!(after.body, before.body, "refused additions change nothing");
}
