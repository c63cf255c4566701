//! `patchbay serve` as a user runs it: a real process, real sockets, real crashes.

mod common;

use common::{
    Server, admin_command, admin_token_create, client, files_under, get_ok, install_crypto,
    json_ok, json_with, log_next_to, scratch, serve_command, sim_state, succeeded,
};
use patchbay_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const SCIM: &str = "/api/2.0/preview/scim/v2";

/// `patchbay serve` on a free port, on PostgreSQL when the test database is, its log appended
/// next to the data directory.
fn start(data_dir: &Path, db: &TestDatabase, extra: &[&str]) -> Server {
    let database_url = db.is_postgres().then_some(db.url.as_str());
    let mut cmd = serve_command("127.0.0.1:0", data_dir, database_url);
    cmd.args(extra).env("PATCHBAY_LOG", "info").stderr(log_next_to(data_dir));
    Server::spawn(cmd)
}

async fn create_sp(url: &str, token: &str, name: &str) -> Value {
    let r = client()
        .post(format!("{url}{SCIM}/ServicePrincipals"))
        .bearer_auth(token)
        .json(&json!({"displayName": name}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 201);
    r.json().await.expect("json")
}

async fn list_names(url: &str, token: &str) -> Vec<String> {
    let r: Value = get_ok(&client(), &format!("{url}{SCIM}/ServicePrincipals"), token).await;
    r["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|s| s["displayName"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Points rivery on the server at `url` to partner-sim, as the admin (`token`).
async fn point_rivery_at(
    sim: &patchbay_partner::sim::SimHandle,
    http: &reqwest::Client,
    url: &str,
    token: &str,
) {
    let put = http
        .put(format!("{url}/api/2.0/partner-connect/partners/rivery"))
        .bearer_auth(token)
        .json(&json!({"base_url": sim.url, "credentials": {"username": sim.config.username, "password": sim.config.password},
                      "hostnames": ["127.0.0.1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
}

#[tokio::test]
async fn first_start_prints_the_token_once_and_acknowledged_writes_survive_kill_9() {
    let (_tmp, db, data) = scratch().await;
    let first = start(&data, &db, &[]);
    let token = first.token.clone().expect("first start prints the admin token");
    assert!(token.starts_with("dapi") && token.len() == 36);

    create_sp(&first.url, &token, "SURVIVOR_USER").await;
    first.kill9();

    let second = start(&data, &db, &[]);
    assert!(second.token.is_none(), "a restart never bootstraps again: {:?}", second.stdout());
    assert_eq!(list_names(&second.url, &token).await, ["SURVIVOR_USER"]);
    drop(second);

    let log = std::fs::read_to_string(data.with_extension("log")).expect("the server's log");
    assert!(!log.contains(&token), "the token must never reach the log");
    for file in db.sqlite_files().into_iter().chain(files_under(&data)) {
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            // SQLite removes its -wal and -shm files when the last connection closes.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("cannot read {}: {e}", file.display()),
        };
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "token value found in {}",
            file.display()
        );
    }
}

/// Every node of an installation needs its secret key, which the partners' passwords are sealed
/// with: the first start makes it in the data directory (its owner alone may read it), and a
/// start given another key file is refused before it serves, naming the flag. The data
/// directory's key still works afterwards, unchanged.
#[tokio::test]
async fn a_start_with_another_secret_key_is_refused() {
    let (tmp, db, data) = scratch().await;
    drop(start(&data, &db, &[]));
    let key_file = data.join("secret.key");
    let key = std::fs::read_to_string(&key_file).expect("the first start made the key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is its owner's alone");
    }
    let database_url = db.is_postgres().then_some(db.url.as_str());
    let out = serve_command("127.0.0.1:0", &data, database_url)
        .arg("--secret-key-file")
        .arg(tmp.path().join("other.key"))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sealed with another secret key") && stderr.contains("--secret-key-file"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"), "it never served");
    let again = start(&data, &db, &[]);
    assert!(again.token.is_none(), "the same installation");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key, "the key is kept");
}

/// The secret key is rotated with every node stopped: `admin rotate-secret-key` seals the
/// partners' passwords and the OAuth signing keys again with a new key and puts it in the key
/// file. What was sealed still opens (an access token signed before still verifies; the
/// partner is called with its password), and the old key starts no node. While a node serves,
/// the rotation is refused and changes nothing; one that stopped after the database changed is
/// finished by running it again.
#[tokio::test]
async fn the_secret_key_is_rotated_with_the_nodes_stopped() {
    let (tmp, db, data) = scratch().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // The partner checks the workspace's password; it does not call back (the public URL below
    // is a name only) nor run a workload.
    let sim_config = patchbay_partner::sim::SimConfig {
        verify_tokens: false,
        workload: patchbay_partner::sim::Workload::None,
        ..Default::default()
    };
    let sim = patchbay_partner::sim::spawn(listener, sim_config).unwrap();
    let http = client();
    // Access tokens name the server they were granted by; every start here is that one.
    const PUBLIC: &[&str] = &["--public-url", "http://patchbay.test"];
    let first = start(&data, &db, PUBLIC);
    let admin = first.token.clone().unwrap();
    point_rivery_at(&sim, &http, &first.url, &admin).await;
    let sp: Value = json_with(
        http.post(format!("{}{SCIM}/ServicePrincipals", first.url))
            .bearer_auth(&admin)
            .json(&json!({"displayName": "ROTATION_CHECK",
                          "entitlements": [{"value": "workspace-access"}]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let secret: Value = json_ok(
        http.post(format!(
            "{}/api/2.0/accounts/servicePrincipals/{}/credentials/secrets",
            first.url,
            sp["id"].as_str().unwrap()
        ))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    let granted: Value = json_ok(
        http.post(format!("{}/oidc/v1/token", first.url))
            .basic_auth(sp["applicationId"].as_str().unwrap(), secret["secret"].as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=all-apis")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let access = granted["access_token"].as_str().unwrap().to_owned();
    let key_file = data.join("secret.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let rotate = || admin_command(&["rotate-secret-key"], &data, &db).output().unwrap();

    let refused = rotate();
    assert!(!refused.status.success(), "refused while a node serves");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("stop every node first"), "{stderr}");
    get_ok(&http, &format!("{}{SCIM}/Me", first.url), &access).await;
    first.stop();

    let out = rotate();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert!(!data.join("secret.key.next").exists(), "the new key is in place");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the new key is its owner's alone");
    }

    let old_file = tmp.path().join("old.key");
    std::fs::write(&old_file, &old_key).unwrap();
    let database_url = db.is_postgres().then_some(db.url.as_str());
    let with_old = serve_command("127.0.0.1:0", &data, database_url)
        .arg("--secret-key-file")
        .arg(&old_file)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!with_old.status.success(), "the old key starts no node");
    let stderr = String::from_utf8_lossy(&with_old.stderr);
    assert!(stderr.contains("sealed with another secret key"), "{stderr}");

    let second = start(&data, &db, PUBLIC);
    get_ok(&http, &format!("{}{SCIM}/Me", second.url), &access).await;
    let connected = http
        .post(format!("{}/api/2.0/partner-connect/partners/rivery/connect", second.url))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(connected.status(), 200, "{}", connected.text().await.unwrap());
    let received = sim_state(&http, &sim.url).await["received"].clone();
    assert!(received.as_array().is_some_and(|r| !r.is_empty()), "{received}");
    second.stop();

    // A rotation that stopped after the database changed: the old key is still in the file,
    // the new one beside it. A start is refused, saying so; running the rotation again
    // finishes it.
    let out = rotate();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let newest = std::fs::read_to_string(&key_file).unwrap();
    std::fs::write(data.join("secret.key.next"), &newest).unwrap();
    std::fs::write(&key_file, &new_key).unwrap();
    let unfinished =
        serve_command("127.0.0.1:0", &data, database_url).stderr(Stdio::piped()).output().unwrap();
    assert!(!unfinished.status.success());
    let stderr = String::from_utf8_lossy(&unfinished.stderr);
    assert!(stderr.contains("rotate-secret-key` again"), "{stderr}");
    let out = rotate();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("is finished"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), newest);
    let third = start(&data, &db, PUBLIC);
    get_ok(&http, &format!("{}{SCIM}/Me", third.url), &access).await;
}

#[tokio::test]
async fn admin_token_create_works_beside_a_running_server() {
    let (_tmp, db, data) = scratch().await;
    let server = start(&data, &db, &["--admin-email", "ops@example.com"]);

    let out = succeeded(&mut admin_token_create("ops@example.com", &data, &db));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "only the token on stdout");
    let me: Value = get_ok(&client(), &format!("{}{SCIM}/Me", server.url), token).await;
    assert_eq!(me["userName"], "ops@example.com");

    let unknown = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["admin", "token", "create", "--user", "nobody@example.com", "--data-dir"])
        .arg(&data)
        .args(if db.is_postgres() { vec!["--database-url", db.url.as_str()] } else { vec![] })
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(unknown.stdout.is_empty());
}

#[test]
fn an_unrecognised_database_url_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "mysql://root@localhost/x",
            "--data-dir",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported database URL"), "{err}");
    assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none(), "no file was created");
}

#[tokio::test]
async fn settings_come_from_a_toml_file_and_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let config = tmp.path().join("patchbay.toml");
    std::fs::write(
        &config,
        "admin_email = \"file@example.com\"\npublic_url = \"http://pb.example.com\"\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    let server = start(&data, &db, &["--config", config.to_str().unwrap()]);
    assert!(
        server.stdout().iter().any(|l| l.contains("admin user: file@example.com")),
        "{:?}",
        server.stdout()
    );

    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "listen_typo = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["serve", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"));
}

/// The admin guide's commands, verbatim, with a `.netrc`, over HTTPS: list service principals,
/// then rotate a token (create-token.json, list, delete).
#[tokio::test]
async fn the_guides_curl_commands_work_verbatim_over_https() {
    for tool in ["curl", "jq"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success()),
            "{tool} is needed for this test and is not installed"
        );
    }
    let (tmp, db, data) = scratch().await;
    let server = start(&data, &db, &["--tls"]);
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let token = server.token.clone().unwrap();
    let cert = data.join("tls/ca.pem");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    install_crypto();
    let https = reqwest::Client::builder().tls_certs_only([ca]).build().unwrap();
    let r = https
        .post(format!("{}{SCIM}/ServicePrincipals", server.url))
        .bearer_auth(&token)
        .json(&json!({"displayName": "FIVETRAN_USER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let sp: Value = r.json().await.unwrap();

    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join(".netrc"),
        format!("machine 127.0.0.1\nlogin token\npassword {token}\n"),
    )
    .unwrap();
    let instance = server.url.trim_start_matches("https://");
    let guide = |script: String| {
        let out = Command::new("bash")
            .args(["-c", &script])
            .current_dir(&home)
            .env("HOME", &home)
            .env("CURL_CA_BUNDLE", &cert)
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("{script}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    let listed = guide(format!(
        "curl --netrc --request GET \\\nhttps://{instance}/api/2.0/preview/scim/v2/ServicePrincipals \\\n\
         | jq '[ .Resources[] | {{ displayName: .displayName, applicationId: .applicationId }} ]'"
    ));
    let app_id = sp["applicationId"].as_str().unwrap();
    assert_eq!(listed, json!([{"displayName": "FIVETRAN_USER", "applicationId": app_id}]));

    // The rotation procedure. The principal first needs CAN_USE on tokens, as a connection's has.
    let granted = https
        .patch(format!("{}/api/2.0/permissions/authorization/tokens", server.url))
        .bearer_auth(&token)
        .json(&json!({"access_control_list": [{"service_principal_name": app_id, "permission_level": "CAN_USE"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 200);
    std::fs::write(
        home.join("create-token.json"),
        format!("{{\n  \"application_id\": \"{app_id}\",\n  \"comment\": \"Partner Connect\",\n  \"lifetime_seconds\": 1209600\n}}\n"),
    )
    .unwrap();
    let created = guide(format!(
        "curl --netrc --request POST \\\nhttps://{instance}/api/2.0/token-management/on-behalf-of/tokens \\\n\
         --data @create-token.json \\\n| jq '[ . | {{ token_value: .token_value }} ]'"
    ));
    let new_token = created[0]["token_value"].as_str().expect("token_value").to_owned();
    let me: Value = get_ok(&https, &format!("{}{SCIM}/Me", server.url), &new_token).await;
    assert_eq!(me["userName"], app_id, "the new token is the service principal's");

    let tokens = guide(format!(
        "curl --netrc --request GET https://{instance}/api/2.0/token-management/tokens"
    ));
    let token_id = tokens["token_infos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["comment"] == "Partner Connect")
        .and_then(|t| t["token_id"].as_str())
        .unwrap()
        .to_owned();
    guide(format!(
        "curl --netrc --request DELETE https://{instance}/api/2.0/token-management/tokens/{token_id}"
    ));
    let refused =
        https.get(format!("{}{SCIM}/Me", server.url)).bearer_auth(&new_token).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the deleted token is refused at once");
}

/// `kill -9` in the middle of a connect, then a restart: the connection is undone completely.
#[tokio::test]
async fn a_connect_interrupted_by_kill_9_is_undone_after_restart() {
    let (_tmp, db, data) = scratch().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = patchbay_partner::sim::spawn(listener, patchbay_partner::sim::SimConfig::default())
        .unwrap();
    let first = start(&data, &db, &[]);
    let token = first.token.clone().unwrap();
    let http = client();
    point_rivery_at(&sim, &http, &first.url, &token).await;
    // The partner takes its time, so the connect is in flight when the server dies.
    http.post(format!("{}/_sim/faults", sim.url))
        .json(&json!({"delay_ms": 20_000}))
        .send()
        .await
        .unwrap();
    let connect_url = format!("{}/api/2.0/partner-connect/partners/rivery/connect", first.url);
    let (connect_http, connect_token) = (http.clone(), token.clone());
    tokio::spawn(async move {
        let _ =
            connect_http.post(connect_url).bearer_auth(connect_token).json(&json!({})).send().await;
    });
    for _ in 0..200 {
        let state = sim_state(&http, &sim.url).await;
        if !state["received"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sps = |url: String| {
        let http = http.clone();
        let token = token.clone();
        async move {
            let v: Value = get_ok(&http, &format!("{url}{SCIM}/ServicePrincipals"), &token).await;
            v["Resources"].as_array().expect("Resources").len()
        }
    };
    assert_eq!(sps(first.url.clone()).await, 1, "the connect had created its principal");
    first.kill9();

    let second = start(&data, &db, &["--stale-connect-after", "1s"]);
    let mut undone = false;
    for _ in 0..100 {
        let c: Value =
            get_ok(&http, &format!("{}/api/2.0/partner-connect/connections", second.url), &token)
                .await;
        if c["connections"].as_array().is_some_and(Vec::is_empty) {
            undone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(undone, "the interrupted connection was undone");
    assert_eq!(sps(second.url.clone()).await, 0, "no orphan principal");
    let warehouses: Value =
        get_ok(&http, &format!("{}/api/2.0/sql/warehouses", second.url), &token).await;
    assert!(
        warehouses["warehouses"].as_array().is_none_or(Vec::is_empty),
        "no orphan warehouse: {warehouses}"
    );
    let tokens: Value =
        get_ok(&http, &format!("{}/api/2.0/token-management/tokens", second.url), &token).await;
    assert_eq!(
        tokens["token_infos"].as_array().unwrap().len(),
        1,
        "only the admin's token is left"
    );
}

/// Two `patchbay serve` processes on one database: a token revoked on one node is refused by
/// the other at once, and concurrent connects through both nodes make one connection.
#[tokio::test]
async fn two_nodes_share_one_database() {
    let (_tmp, db, data) = scratch().await;
    let a = start(&data, &db, &[]);
    let token = a.token.clone().unwrap();
    let b = start(&data, &db, &[]);
    assert!(b.token.is_none(), "the second node joins the installation, it does not bootstrap");
    let http = client();

    let created: Value = json_ok(
        http.post(format!("{}/api/2.0/token/create", a.url))
            .bearer_auth(&token)
            .json(&json!({"comment": "shared"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let second = created["token_value"].as_str().unwrap().to_owned();
    let id = created["token_info"]["token_id"].as_str().unwrap().to_owned();
    let me = |url: String, t: String| {
        let http = http.clone();
        async move {
            http.get(format!("{url}{SCIM}/Me"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(me(b.url.clone(), second.clone()).await, 200);
    let revoked = http
        .post(format!("{}/api/2.0/token/delete", a.url))
        .bearer_auth(&token)
        .json(&json!({"token_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(me(b.url.clone(), second).await, 401, "node B refuses what node A revoked");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = patchbay_partner::sim::spawn(listener, patchbay_partner::sim::SimConfig::default())
        .unwrap();
    point_rivery_at(&sim, &http, &a.url, &token).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let url = if i % 2 == 0 { a.url.clone() } else { b.url.clone() };
        let (http, token) = (http.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            http.post(format!("{url}/api/2.0/partner-connect/partners/rivery/connect"))
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(status == 200 || status == 409, "{status}");
    }
    let sps: Value = get_ok(&http, &format!("{}{SCIM}/ServicePrincipals", b.url), &token).await;
    assert_eq!(
        sps["Resources"].as_array().unwrap().len(),
        1,
        "one connection's principal across both nodes"
    );
    let state = sim_state(&http, &sim.url).await;
    assert_eq!(state["connections"].as_array().unwrap().len(), 1);
}

/// Partners are called only where the installation allows: public addresses by default,
/// more with `--allow-outbound` (or `PATCHBAY_ALLOW_OUTBOUND`); metadata never.
#[tokio::test]
async fn partner_addresses_follow_the_outbound_setting() {
    let (_tmp, db, data) = scratch().await;
    let command = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(extra)
            .env_remove("PATCHBAY_ALLOW_OUTBOUND")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if db.is_postgres() {
            cmd.args(["--database-url", &db.url]);
        }
        cmd
    };
    let refused = command(&["--allow-outbound", "loopback,metadata"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("never calls"), "{err}");

    let point = async |url: &str, token: &str, base_url: &str| {
        let r = client()
            .put(format!("{url}/api/2.0/partner-connect/partners/rivery"))
            .bearer_auth(token)
            .json(&json!({"base_url": base_url, "hostnames": ["127.0.0.1"],
                "credentials": {"username": "databricks", "password": "secret"}}))
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let token = {
        let server = Server::spawn(command(&[]));
        let token = server.token.clone().expect("first start prints the token");
        let (status, body) = point(&server.url, &token, "http://127.0.0.1:9").await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains("--allow-outbound loopback"), "{body}");
        token
    };
    let mut allowing = command(&[]);
    allowing.env("PATCHBAY_ALLOW_OUTBOUND", "loopback");
    let server = Server::spawn(allowing);
    let (status, body) = point(&server.url, &token, "http://127.0.0.1:9").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = point(&server.url, &token, "http://169.254.169.254/").await;
    assert_eq!(status, 400, "{body}");
}
