//! What the tests of the `patchbay` binary share: a running `patchbay serve`, an HTTP client
//! and the files of a data directory.
#![allow(dead_code, reason = "each test binary uses a part of it")]

pub mod s3;

use patchbay_store::testing::TestDatabase;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub const LISTENING_LINE: &str = "patchbay: listening on ";
pub const BOOTSTRAP_LINE: &str = "patchbay: admin token (shown once, keep it safe): ";

/// `patchbay serve` on `listen` with `data_dir`, and on `database_url` when given; stdout is
/// piped for [`Server::spawn`], stderr discarded unless the caller redirects it.
pub fn serve_command(listen: &str, data_dir: &Path, database_url: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    // The tests' partners (partner-sim) listen on 127.0.0.1.
    cmd.args(["serve", "--listen", listen, "--allow-outbound", "loopback", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    cmd
}

/// Where one test's `patchbay` keeps its state: a temporary directory (removed when dropped),
/// the test database (a SQLite file, or a schema of its own on PostgreSQL), and a data
/// directory path inside the temporary directory, not yet created.
pub async fn scratch() -> (tempfile::TempDir, TestDatabase, PathBuf) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let db = TestDatabase::create().await.expect("test database");
    let data = tmp.path().join("data");
    (tmp, db, data)
}

/// `patchbay admin token create --user USER` on the data directory `data_dir`, and on the test
/// database when it is PostgreSQL.
pub fn admin_token_create(user: &str, data_dir: &Path, db: &TestDatabase) -> Command {
    admin_command(&["token", "create", "--user", user], data_dir, db)
}

/// `patchbay admin ARGS…` on the data directory `data_dir`, and on the test database when it
/// is PostgreSQL.
pub fn admin_command(args: &[&str], data_dir: &Path, db: &TestDatabase) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.arg("admin").args(args).arg("--data-dir").arg(data_dir);
    if db.is_postgres() {
        cmd.args(["--database-url", &db.url]);
    }
    cmd
}

/// Runs `cmd` to its end, which must be a success; a failure fails the test, showing its stderr.
pub fn succeeded(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Stderr appended to the log next to `data_dir` (`DATA_DIR.log`), where a test reads it.
pub fn log_next_to(data_dir: &Path) -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.with_extension("log"))
            .expect("log file"),
    )
}

/// A running `patchbay serve`, killed when dropped. Its stdout is collected as it comes.
pub struct Server {
    child: Child,
    pub url: String,
    /// The bootstrap token, if this start printed one.
    pub token: Option<String>,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `cmd` (see [`serve_command`]) and waits until it reports its URL.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd.spawn().expect("spawn patchbay");
        let out = child.stdout.take().expect("stdout");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = stdout.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let url = line.strip_prefix(LISTENING_LINE).map(str::to_owned);
                lines.lock().expect("lock").push(line);
                if let Some(url) = url {
                    let _ = tx.send(url);
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("patchbay did not report listening within 60 s");
        let token = stdout
            .lock()
            .expect("lock")
            .iter()
            .find_map(|l| l.strip_prefix(BOOTSTRAP_LINE).map(str::to_owned));
        Server { child, url, token, stdout }
    }

    /// The lines printed so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("lock").clone()
    }

    /// Stops the server as an operator does (SIGTERM), and waits until it has.
    pub fn stop(mut self) {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(term.success());
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "a stopped server exits cleanly: {status}");
    }

    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The process-wide TLS crypto provider, installed once before any client is built.
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::new()
}

/// `token`'s `method` call of `url` through `http`, with `body` as JSON when given: the status
/// answered and the JSON body (`null` for a body that is not JSON; the status still tells).
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null))
}

/// The JSON body of an answer that must have `status`; any other status fails the test and
/// shows the body.
pub async fn json_with(r: reqwest::Response, status: u16) -> serde_json::Value {
    let got = r.status().as_u16();
    let text = r.text().await.expect("response body");
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The JSON of `token`'s GET of `url` through `http`, which must answer 200.
pub async fn get_ok(http: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let r = http.get(url).bearer_auth(token).send().await;
    json_ok(r.unwrap_or_else(|e| panic!("GET {url}: {e}"))).await
}

/// partner-sim's state (`/_sim/state`) at `sim_url`, fetched through `http`; it must answer 200
/// with JSON.
pub async fn sim_state(http: &reqwest::Client, sim_url: &str) -> serde_json::Value {
    let url = format!("{sim_url}/_sim/state");
    let r = http.get(&url).send().await;
    json_ok(r.unwrap_or_else(|e| panic!("GET {url}: {e}"))).await
}

/// The JSON body of an answer that must be a 200.
pub async fn json_ok(r: reqwest::Response) -> serde_json::Value {
    json_with(r, 200).await
}

/// Every file below `dir`, in subdirectories too; none when `dir` does not exist (a server on
/// PostgreSQL may never create its data directory). A directory that exists but cannot be read
/// fails the test: a scan of no files would find nothing and pass.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => panic!("cannot read {}: {e}", dir.display()),
    };
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}
