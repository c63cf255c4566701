//! The `patchbay` client commands as a user runs them: the real binary, in a clean environment,
//! against a real `patchbay serve` on `127.0.0.1:0`.

use patchbay_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const SCIM: &str = "/api/2.0/preview/scim/v2";
const PARTNER_CONNECT: &str = "/api/2.0/partner-connect";

/// A running process that announced its URL on stdout.
struct Process {
    child: Child,
    url: String,
    stdout: Vec<String>,
}

impl Process {
    /// Spawns `cmd` and waits for the line starting with `ready` (followed by the URL).
    fn start(mut cmd: Command, ready: &str, log: &Path) -> Process {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(
            std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file"),
        ));
        let mut child = cmd.spawn().expect("spawn patchbay");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no '{ready}' line within 60 s: {lines:?}"));
            let done = line.starts_with(ready);
            lines.push(line);
            if done {
                break;
            }
        }
        let url = lines.last().and_then(|l| l.strip_prefix(ready)).expect("url").to_owned();
        Process { child, url, stdout: lines }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server with its own database, and a home directory for the client.
struct Workspace {
    server: Process,
    token: String,
    home: PathBuf,
    _db: TestDatabase,
    tmp: tempfile::TempDir,
}

/// What one run of the client did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Fails the test, showing the output `name` (`stdout`, `stderr`), unless `output` contains
/// `text`.
#[track_caller]
fn contains(name: &str, output: &str, text: &str) {
    assert!(output.contains(text), "no {text:?} in {name}: {output}");
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Fails the test, showing stdout, unless stdout contains `text`.
    #[track_caller]
    fn stdout_has(&self, text: &str) {
        contains("stdout", &self.stdout, text);
    }

    /// Fails the test, showing stderr, unless stderr contains `text`.
    #[track_caller]
    fn stderr_has(&self, text: &str) {
        contains("stderr", &self.stderr, text);
    }

    /// The first line of stdout that contains `text`; none fails the test and shows stdout.
    #[track_caller]
    fn line_with(&self, text: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no line with {text}: {}", self.stdout))
    }

    /// The run, which must have succeeded (exit 0).
    #[track_caller]
    fn ok(self) -> Run {
        self.exited(0)
    }

    /// The run, which must have failed with the exit code `code`.
    #[track_caller]
    fn fails(self, code: i32) -> Run {
        self.exited(code)
    }

    /// The run, which must have exited with `code`; any other code fails the test, showing the
    /// run's output.
    #[track_caller]
    fn exited(self, code: i32) -> Run {
        assert_eq!(self.code, code, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }
}

impl Workspace {
    async fn start() -> Workspace {
        Workspace::start_with(&[]).await
    }

    async fn start_with(extra: &[&str]) -> Workspace {
        let tmp = tempfile::tempdir().unwrap();
        let db = TestDatabase::create().await.unwrap();
        let data = tmp.path().join("data");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--allow-outbound", "loopback"])
            .arg("--data-dir")
            .arg(&data)
            .args(extra)
            .env("PATCHBAY_LOG", "info");
        if db.is_postgres() {
            cmd.args(["--database-url", &db.url]);
        }
        let server = Process::start(cmd, "patchbay: listening on ", &data.with_extension("log"));
        let token = server
            .stdout
            .iter()
            .find_map(|l| l.strip_prefix("patchbay: admin token (shown once, keep it safe): "))
            .expect("first start prints the admin token")
            .to_owned();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        Workspace { server, token, home, _db: db, tmp }
    }

    fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    fn url(&self) -> &str {
        &self.server.url
    }

    /// Runs `patchbay ARGS` with only PATH, HOME and `env` set, and no terminal on stdin.
    fn run_with(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null());
        let out = cmd.output().expect("run patchbay");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
        }
    }

    /// Runs `patchbay ARGS` configured with DATABRICKS_HOST and DATABRICKS_TOKEN.
    fn run(&self, args: &[&str]) -> Run {
        self.run_with(&[("DATABRICKS_HOST", self.url()), ("DATABRICKS_TOKEN", &self.token)], args)
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        patchbay_partner::install_crypto_provider();
        let mut r = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url()))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            r = r.json(&body);
        }
        let r = r.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates a service principal over SCIM; returns (SCIM id, application id).
    async fn create_sp(&self, name: &str) -> (String, String) {
        let (status, sp) = self
            .request(
                reqwest::Method::POST,
                &format!("{SCIM}/ServicePrincipals"),
                Some(json!({"displayName": name})),
            )
            .await;
        assert_eq!(status, 201, "{sp}");
        (sp["id"].as_str().unwrap().to_owned(), sp["applicationId"].as_str().unwrap().to_owned())
    }

    /// A workspace with a service principal `name` that may use tokens; its application id.
    async fn with_token_user(name: &str) -> (Workspace, String) {
        let ws = Workspace::start().await;
        let (_, app_id) = ws.create_sp(name).await;
        ws.grant_token_use(&app_id).await;
        (ws, app_id)
    }

    async fn grant_token_use(&self, application_id: &str) {
        let (status, body) = self
            .request(
                reqwest::Method::PATCH,
                "/api/2.0/permissions/authorization/tokens",
                Some(json!({"access_control_list": [
                    {"service_principal_name": application_id, "permission_level": "CAN_USE"}
                ]})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

async fn me(url: &str, token: &str) -> reqwest::Response {
    patchbay_partner::install_crypto_provider();
    reqwest::Client::new()
        .get(format!("{url}{SCIM}/Me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// The arguments of `tokens create-obo` for the principal `app_id`: the client's own options
/// `global` first, the command's further `options` last.
fn create_obo<'a>(global: &[&'a str], app_id: &'a str, options: &[&'a str]) -> Vec<&'a str> {
    let command: &[&str] = &["tokens", "create-obo", "--application-id", app_id];
    [global, command, options].concat()
}

#[tokio::test]
async fn service_principals_list_and_delete_by_application_id() {
    let ws = Workspace::start().await;
    let (id, app_id) = ws.create_sp("FIVETRAN_USER").await;
    ws.create_sp("RIVERY_USER").await;

    let listed = ws.run(&["service-principals", "list"]).ok();
    let header = listed.stdout.lines().next().unwrap();
    assert!(
        header.starts_with("ID")
            && header.contains("APPLICATION ID")
            && header.contains("DISPLAY NAME"),
        "{}",
        listed.stdout
    );
    let row = listed.line_with("FIVETRAN_USER");
    assert!(row.starts_with(&id) && row.contains(&app_id), "{row}");
    // Columns line up: every application id starts at the header's column.
    let column = header.find("APPLICATION ID").unwrap();
    assert_eq!(row.find(&app_id), Some(column), "{}", listed.stdout);

    let filtered = ws
        .run(&["service-principals", "list", "--filter", "displayName sw FIVE", "--output", "json"])
        .ok()
        .json();
    let names: Vec<&str> = filtered["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["FIVETRAN_USER"]);

    // Without a terminal and without --yes nothing is deleted.
    let refused = ws.run(&["service-principals", "delete", &app_id]).fails(2);
    refused.stderr_has("--yes");
    assert!(refused.stdout.is_empty());
    let still = ws.run(&["-o", "json", "service-principals", "list"]).ok().json();
    assert_eq!(still["Resources"].as_array().unwrap().len(), 2);

    let deleted = ws.run(&["service-principals", "delete", &app_id, "--yes"]).ok();
    deleted.stdout_has(&app_id);
    let after = ws.run(&["service-principals", "list"]).ok();
    assert!(!after.stdout.contains("FIVETRAN_USER"), "{}", after.stdout);
    after.stdout_has("RIVERY_USER");

    let again = ws.run(&["service-principals", "delete", &app_id, "--yes"]).fails(3);
    assert!(!again.stderr.is_empty());
}

/// A service principal's OAuth secrets with the client: the value printed once, the listing
/// without it, delete only when confirmed.
#[tokio::test]
async fn service_principal_secrets_create_list_and_delete() {
    let ws = Workspace::start().await;
    let (id, app_id) = ws.create_sp("ETL_USER").await;

    let created =
        ws.run(&["service-principals", "secrets", "create", &app_id, "--lifetime", "86400s"]).ok();
    let secret = created.stdout.trim().to_owned();
    assert!(secret.starts_with("dose") && secret.len() == 36, "{}", created.stdout);
    created.stderr_has(&app_id);
    // The secret authenticates its client (the principal has no workspace access, so no token).
    patchbay_partner::install_crypto_provider();
    let grant = reqwest::Client::new()
        .post(format!("{}/oidc/v1/token", ws.url()))
        .basic_auth(&app_id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let body: Value = grant.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client", "{body}");

    let listed = ws.run(&["service-principals", "secrets", "list", &id]).ok();
    assert!(listed.stdout.starts_with("SECRET ID"), "{}", listed.stdout);
    assert!(!listed.stdout.contains(&secret), "{}", listed.stdout);
    let json =
        ws.run(&["-o", "json", "service-principals", "secrets", "list", &app_id]).ok().json();
    let secret_id = json["secrets"][0]["id"].as_str().unwrap().to_owned();
    listed.stdout_has(&secret_id);

    let delete = ["service-principals", "secrets", "delete", &id, &secret_id, "--yes"];
    let without_yes = &delete[..delete.len() - 1];
    let refused = ws.run(without_yes).fails(2);
    refused.stderr_has("--yes");
    ws.run(&delete).ok();
    let after = ws.run(&["service-principals", "secrets", "list", &id]).ok();
    assert!(!after.stdout.contains(&secret_id), "{}", after.stdout);
    ws.run(&delete).fails(3);
}

/// The guide's rotation procedure with the client: create a token on behalf of the principal,
/// find it in the list, delete it.
#[tokio::test]
async fn tokens_create_obo_list_and_delete() {
    let (ws, app_id) = Workspace::with_token_user("HEVO_DATA_USER").await;

    let created = ws
        .run(&create_obo(
            &[],
            &app_id,
            &["--comment", "Partner Connect", "--lifetime-seconds", "1209600"],
        ))
        .ok();
    assert_eq!(created.stdout.lines().count(), 1, "only the value on stdout: {}", created.stdout);
    let value = created.stdout.trim().to_owned();
    assert!(value.starts_with("dapi") && value.len() == 36, "{value}");
    created.stderr_has("shown only now");
    let who = me(ws.url(), &value).await;
    assert_eq!(who.status(), 200);
    let who: Value = who.json().await.expect("JSON");
    assert_eq!(who["userName"], app_id.as_str(), "the token is the principal's");

    let listed = ws.run(&["tokens", "list"]).ok();
    assert!(listed.stdout.lines().next().unwrap().starts_with("TOKEN ID"), "{}", listed.stdout);
    let row = listed.line_with("Partner Connect");
    let token_id = row.split_whitespace().next().unwrap().to_owned();
    assert_eq!(token_id.len(), 64, "{row}");

    let by_admin = ws
        .run(&["tokens", "list", "--created-by", "admin@example.com", "--output", "json"])
        .ok()
        .json();
    assert!(
        by_admin["token_infos"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["token_id"] == token_id.as_str()),
        "{by_admin}"
    );
    let by_nobody = ws
        .run(&["tokens", "list", "--created-by", "nobody@example.com", "--output", "json"])
        .ok()
        .json();
    assert!(by_nobody["token_infos"].as_array().is_none_or(Vec::is_empty), "{by_nobody}");

    let refused = ws.run(&["tokens", "delete", &token_id]).fails(2);
    refused.stderr_has("--yes");
    assert_eq!(me(ws.url(), &value).await.status(), 200, "a refused delete deletes nothing");

    ws.run(&["tokens", "delete", &token_id, "--yes"]).ok();
    assert_eq!(me(ws.url(), &value).await.status(), 401, "the deleted token is refused at once");
    ws.run(&["tokens", "delete", &token_id, "--yes"]).fails(3);
}

#[tokio::test]
async fn create_obo_in_json_prints_the_servers_answer() {
    let (ws, app_id) = Workspace::with_token_user("LABELBOX_USER").await;
    let created = ws.run(&create_obo(&["--output", "json"], &app_id, &[])).ok().json();
    let value = created["token_value"].as_str().expect("token_value");
    assert!(value.starts_with("dapi"));
    assert_eq!(created["token_info"]["comment"], "");
    assert_eq!(me(ws.url(), value).await.status(), 200);
}

#[tokio::test]
async fn server_errors_are_shown_as_sent_with_exit_1() {
    let ws = Workspace::start().await;

    // The Databricks envelope.
    let (status, body) = ws
        .request(
            reqwest::Method::POST,
            "/api/2.0/token-management/on-behalf-of/tokens",
            Some(json!({"application_id": "not-a-uuid"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    let run = ws.run(&["tokens", "create-obo", "--application-id", "not-a-uuid"]).fails(1);
    run.stderr_has(message);
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    // A principal without CAN_USE on tokens may hold none.
    let (_, app_id) = ws.create_sp("NO_TOKENS_USER").await;
    let run = ws.run(&["tokens", "create-obo", "--application-id", &app_id]).fails(1);
    run.stderr_has("PERMISSION_DENIED");

    // The SCIM envelope.
    let (status, body) = ws
        .request(
            reqwest::Method::GET,
            &format!("{SCIM}/ServicePrincipals?filter=displayName%20zz%20x"),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let detail = body["detail"].as_str().unwrap();
    let run = ws.run(&["service-principals", "list", "--filter", "displayName zz x"]).fails(1);
    run.stderr_has(detail);

    // A bad token says where it came from.
    let run = ws
        .run_with(
            &[
                ("DATABRICKS_HOST", ws.url()),
                ("DATABRICKS_TOKEN", "dapi00000000000000000000000000000000"),
            ],
            &["tokens", "list"],
        )
        .fails(1);
    run.stderr_has("Invalid access token");
    run.stderr_has("DATABRICKS_TOKEN");

    // Nobody listening.
    let run = ws
        .run_with(
            &[("DATABRICKS_HOST", "http://127.0.0.1:9"), ("DATABRICKS_TOKEN", &ws.token)],
            &["tokens", "list"],
        )
        .fails(1);
    run.stderr_has("cannot reach http://127.0.0.1:9");
}

#[tokio::test]
async fn missing_configuration_exits_2() {
    let ws = Workspace::start().await;
    let run = ws.run_with(&[], &["service-principals", "list"]).fails(2);
    run.stderr_has("no workspace is configured");
    run.stderr_has("DATABRICKS_HOST");

    let run =
        ws.run_with(&[("DATABRICKS_HOST", ws.url())], &["service-principals", "list"]).fails(2);
    run.stderr_has("DATABRICKS_TOKEN");

    let run = ws.run_with(&[], &["--profile", "staging", "tokens", "list"]).fails(2);
    run.stderr_has("staging");

    // A usage error is 2 as well, and comes from clap.
    ws.run(&["tokens", "create-obo"]).fails(2);
    ws.run(&["audit", "--limit", "0"]).fails(2);
}

#[tokio::test]
async fn a_databrickscfg_profile_configures_the_client() {
    let ws = Workspace::start().await;
    ws.create_sp("PROFILED_USER").await;
    let wrong = "dapi00000000000000000000000000000000";
    std::fs::write(
        ws.home.join(".databrickscfg"),
        format!(
            "; written by the test\n[DEFAULT]\nhost = {url}\ntoken = {wrong}\n\n[patchbay]\nhost = {url}/\ntoken = {token}\n",
            url = ws.url(),
            token = ws.token
        ),
    )
    .unwrap();

    let run = ws.run_with(&[], &["--profile", "patchbay", "service-principals", "list"]).ok();
    run.stdout_has("PROFILED_USER");
    // The flag may come after the subcommand too.
    ws.run_with(&[], &["service-principals", "list", "-p", "patchbay"]).ok();

    // [DEFAULT] is used when nothing else is configured (here with the wrong token).
    let run = ws.run_with(&[], &["service-principals", "list"]).fails(1);
    run.stderr_has("profile [DEFAULT]");

    // The environment wins over [DEFAULT] …
    let env = [("DATABRICKS_HOST", ws.url()), ("DATABRICKS_TOKEN", ws.token.as_str())];
    ws.run_with(&env, &["service-principals", "list"]).ok();
    // … and an explicit profile over the environment.
    let wrong_env = [("DATABRICKS_HOST", ws.url()), ("DATABRICKS_TOKEN", wrong)];
    ws.run_with(&wrong_env, &["--profile", "patchbay", "service-principals", "list"]).ok();

    // DATABRICKS_CONFIG_FILE moves the file.
    let moved = ws.home.join("elsewhere.cfg");
    std::fs::write(&moved, format!("[DEFAULT]\nhost = {}\ntoken = {}\n", ws.url(), ws.token))
        .unwrap();
    let moved_env = [("DATABRICKS_CONFIG_FILE", moved.to_str().unwrap())];
    ws.run_with(&moved_env, &["service-principals", "list"]).ok();
    let run =
        ws.run_with(&moved_env, &["--profile", "patchbay", "service-principals", "list"]).fails(2);
    run.stderr_has("no profile [patchbay]");
}

#[test]
fn completion_scripts_and_help_with_examples() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_patchbay"))
            .args(["completion", shell])
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("service-principals") && script.contains("create-obo"), "{shell}");
    }
    let commands: &[&[&str]] = &[
        &["partners"],
        &["partners", "list"],
        &["partners", "show"],
        &["connect"],
        &["connections"],
        &["connections", "list"],
        &["connections", "show"],
        &["connections", "delete"],
        &["connections", "rotate-token"],
        &["service-principals"],
        &["service-principals", "list"],
        &["service-principals", "delete"],
        &["tokens"],
        &["tokens", "list"],
        &["tokens", "create-obo"],
        &["tokens", "delete"],
        &["audit"],
        &["completion"],
    ];
    for args in commands {
        let out = Command::new(env!("CARGO_BIN_EXE_patchbay"))
            .args(*args)
            .arg("--help")
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Example"), "{args:?} --help has no example:\n{help}");
        assert!(help.contains("patchbay "), "{args:?}");
    }
}

#[tokio::test]
async fn partners_list_shows_the_builtin_partners() {
    let ws = Workspace::start().await;
    let listed = ws.run(&["partners", "list"]).ok();
    let header = listed.stdout.lines().next().unwrap();
    assert!(header.starts_with("ID") && header.contains("PROFILE"), "{}", listed.stdout);
    for id in
        ["fivetran", "dbt-cloud", "power-bi", "erwin-data-modeler", "john-snow-labs", "dataiku"]
    {
        assert!(
            listed.stdout.lines().any(|l| l.starts_with(&format!("{id} "))),
            "{id} missing:\n{}",
            listed.stdout
        );
    }
    let json = ws.run(&["partners", "list", "-o", "json"]).ok().json();
    assert!(json["partners"].as_array().unwrap().len() >= 29, "{json}");

    let shown = ws.run(&["partners", "show", "dbt-cloud"]).ok();
    shown.stdout_has("DBT_CLOUD_USER");
    shown.stdout_has("not connected");
    ws.run(&["partners", "show", "no-such-partner"]).fails(3);

    let none = ws.run(&["connections", "list"]).ok();
    assert_eq!(none.stdout.trim(), "No connections.");
    ws.run(&["connections", "show", "dbt-cloud"]).fails(3);

    let plan = ws.run(&["connect", "john-snow-labs", "--dry-run"]).ok();
    plan.stdout_has("JOHN_SNOW_LABS_USER");
    plan.stdout_has("Nothing was changed.");
    let plan = ws.run(&["connect", "john-snow-labs", "--dry-run", "-o", "json"]).ok().json();
    assert_eq!(plan["plan"]["service_principal"]["display_name"], "JOHN_SNOW_LABS_USER");
    let none = ws.run(&["-o", "json", "connections", "list"]).ok().json();
    assert_eq!(none["connections"], json!([]), "a dry run changes nothing");
}

/// Connect, inspect, rotate, audit and delete against partner-sim, all from the command line.
#[tokio::test]
async fn a_connection_from_connect_to_delete() {
    let ws = Workspace::start().await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.args(["partner-sim", "--listen", "127.0.0.1:0"]);
    let sim = Process::start(cmd, "partner-sim: listening on ", &ws.home.join("sim.log"));
    let (status, body) = ws
        .request(
            reqwest::Method::PUT,
            &format!("{PARTNER_CONNECT}/partners/john-snow-labs"),
            Some(json!({
                "base_url": sim.url,
                "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                              "rotate_token_path": "/rotate-token"},
                "credentials": {"username": "databricks", "password": "partner-sim-secret"},
                "hostnames": ["127.0.0.1"],
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let connected = ws.run(&["connect", "john-snow-labs"]).ok();
    connected.stdout_has("JOHN_SNOW_LABS_USER");
    connected.stdout_has("Next: open http://127.0.0.1");

    let listed = ws.run(&["connections", "list"]).ok();
    let row = listed
        .stdout
        .lines()
        .find(|l| l.starts_with("john-snow-labs"))
        .unwrap_or_else(|| panic!("{}", listed.stdout));
    assert!(row.contains("CONNECTED") && row.contains("JOHN_SNOW_LABS_USER"), "{row}");
    let shown = ws.run(&["connections", "show", "john-snow-labs", "-o", "json"]).ok().json();
    let old_token = shown["connection"]["token_id"].as_str().unwrap().to_owned();
    let app_id =
        shown["connection"]["service_principal"]["application_id"].as_str().unwrap().to_owned();

    let rotated = ws.run(&["connections", "rotate-token", "john-snow-labs"]).ok();
    rotated.stdout_has("Delivered to the partner  yes");
    assert!(
        !rotated.stdout.contains("dapi"),
        "no value when the partner got it: {}",
        rotated.stdout
    );
    let shown = ws.run(&["connections", "show", "john-snow-labs", "-o", "json"]).ok().json();
    assert_ne!(shown["connection"]["token_id"], old_token.as_str());

    let audit = ws.run(&["audit", "--partner", "john-snow-labs"]).ok();
    assert!(audit.stdout.lines().next().unwrap().starts_with("TIME"), "{}", audit.stdout);
    assert!(audit.stdout.lines().count() > 2, "{}", audit.stdout);
    let audit =
        ws.run(&["audit", "--partner", "john-snow-labs", "--limit", "1", "-o", "json"]).ok().json();
    assert_eq!(audit["events"].as_array().unwrap().len(), 1, "{audit}");

    ws.run(&["connections", "delete", "john-snow-labs"]).fails(2);
    let deleted = ws.run(&["connections", "delete", "john-snow-labs", "--yes"]).ok();
    deleted.stdout_has("JOHN_SNOW_LABS_USER");
    ws.run(&["connections", "show", "john-snow-labs"]).fails(3);
    let sps = ws.run(&["service-principals", "list"]).ok();
    assert!(!sps.stdout.contains(&app_id), "{}", sps.stdout);
}

/// Over HTTPS with the self-signed certificate of `serve --tls`, trusted through SSL_CERT_FILE.
#[tokio::test]
async fn https_with_a_self_signed_certificate() {
    let ws = Workspace::start_with(&["--tls"]).await;
    assert!(ws.url().starts_with("https://"), "{}", ws.url());
    let env = [("DATABRICKS_HOST", ws.url()), ("DATABRICKS_TOKEN", ws.token.as_str())];
    let run = ws.run_with(&env, &["tokens", "list"]).fails(1);
    run.stderr_has("SSL_CERT_FILE");

    let cert = ws.data_dir().join("tls/cert.pem");
    let mut env = env.to_vec();
    env.push(("SSL_CERT_FILE", cert.to_str().unwrap()));
    let run = ws.run_with(&env, &["tokens", "list"]).ok();
    run.stdout_has("bootstrap admin token");
}
