//! The client commands: `patchbay partners|connect|connections|service-principals|tokens|audit`
//! talk to a patchbay server over its REST API, configured like the Databricks CLI
//! (`DATABRICKS_HOST`/`DATABRICKS_TOKEN` or a profile in `~/.databrickscfg`).
//!
//! Exit codes: 0 done, 1 the server refused or could not be reached, 2 usage or configuration,
//! 3 not found.

mod audit;
mod connections;
mod output;
mod partners;
mod service_principals;
mod tokens;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Options every client command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The profile of ~/.databrickscfg to use (default: DATABRICKS_HOST and DATABRICKS_TOKEN,
    /// else the [DEFAULT] profile).
    #[arg(
        long,
        short = 'p',
        global = true,
        env = "DATABRICKS_CONFIG_PROFILE",
        help_heading = "Client options"
    )]
    pub profile: Option<String>,
    /// Output: aligned text for people, or the server's JSON for scripts.
    #[arg(
        long,
        short = 'o',
        global = true,
        value_enum,
        default_value_t = Output::Text,
        help_heading = "Client options"
    )]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

const CONFIG_HELP: &str = "\
Configuration, as for the Databricks CLI: DATABRICKS_HOST and DATABRICKS_TOKEN, or a profile in
~/.databrickscfg (DATABRICKS_CONFIG_FILE moves it) chosen with --profile, else its [DEFAULT].
Exit codes: 0 done, 1 the server refused or is unreachable, 2 usage or configuration, 3 not found.";

/// The client commands, flattened into the top-level command list.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The partner tiles: what the workspace can connect and what a connection would create.
    #[command(after_help = format!("Examples:\n  patchbay partners list\n  patchbay partners show dbt-cloud\n  patchbay partners list --output json | jq '.partners[] | select(.connected)'\n\n{CONFIG_HELP}"))]
    Partners {
        #[command(subcommand)]
        command: partners::PartnersCommand,
    },
    /// Connect the workspace to a partner (click its tile); on a connected tile, sign in.
    ///
    /// Creates the partner's service principal, its token, compute and grants, and hands the
    /// token to the partner; all or nothing. Use --dry-run to see the plan first.
    #[command(after_help = format!("Examples:\n  patchbay connect dbt-cloud --schema default --dry-run\n  patchbay connect dbt-cloud --catalog main --schema sales --schema marketing --warehouse 1234567890abcdef\n  patchbay connect rivery\n  patchbay connect tableau --warehouse 1234567890abcdef --file tableau.tds\n\nExits 1 when the partner did not set the connection up (nothing is kept).\n\n{CONFIG_HELP}"))]
    Connect(partners::ConnectArgs),
    /// The workspace's partner connections: list, inspect, delete, rotate their token.
    #[command(after_help = format!("Examples:\n  patchbay connections list\n  patchbay connections show dbt-cloud\n  patchbay connections rotate-token dbt-cloud\n  patchbay connections delete dbt-cloud --yes\n\n{CONFIG_HELP}"))]
    Connections {
        #[command(subcommand)]
        command: connections::ConnectionsCommand,
    },
    /// Service principals (SCIM): list them, delete one by id or application id.
    #[command(after_help = format!("Examples:\n  patchbay service-principals list\n  patchbay service-principals list --filter 'displayName sw FIVE'\n  patchbay service-principals delete 123456a7-8901-2b3c-45de-f678a901b2c3\n\n{CONFIG_HELP}"))]
    ServicePrincipals {
        #[command(subcommand)]
        command: service_principals::ServicePrincipalsCommand,
    },
    /// Personal access tokens of the workspace (token management): list, create on behalf of
    /// a service principal, delete.
    #[command(after_help = format!("Examples:\n  patchbay tokens list\n  patchbay tokens list --created-by admin@example.com\n  patchbay tokens create-obo --application-id 123456a7-8901-2b3c-45de-f678a901b2c3 --comment 'Partner Connect' --lifetime-seconds 1209600\n  patchbay tokens delete 5684c955…816c --yes\n\n{CONFIG_HELP}"))]
    Tokens {
        #[command(subcommand)]
        command: tokens::TokensCommand,
    },
    /// The audit trail: who connected, deleted, rotated what, newest first.
    #[command(after_help = format!("Examples:\n  patchbay audit\n  patchbay audit --partner dbt-cloud --limit 20\n  patchbay audit --actor admin@example.com --output json\n\n{CONFIG_HELP}"))]
    Audit(audit::AuditArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  patchbay completion bash > ~/.local/share/bash-completion/completions/patchbay\n  patchbay completion zsh > \"${fpath[1]}/_patchbay\"\n  patchbay completion fish > ~/.config/fish/completions/patchbay.fish"
    )]
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Runs a client command to its exit code. `cli` builds the whole command line, for completion.
pub fn main(command: Command, global: GlobalArgs, cli: fn() -> clap::Command) -> ExitCode {
    if let Command::Completion { shell } = command {
        clap_complete::generate(shell, &mut cli(), "patchbay", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("patchbay: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let workspace = Workspace::resolve(global.profile.as_deref(), &|name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })?;
        let api = Api::new(workspace)?;
        let out = global.output;
        match command {
            Command::Partners { command } => partners::run(&api, out, command).await,
            Command::Connect(args) => partners::connect(&api, out, args).await,
            Command::Connections { command } => connections::run(&api, out, command).await,
            Command::ServicePrincipals { command } => {
                service_principals::run(&api, out, command).await
            }
            Command::Tokens { command } => tokens::run(&api, out, command).await,
            Command::Audit(args) => audit::run(&api, out, args).await,
            Command::Completion { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("patchbay: {}", failure.message());
            ExitCode::from(failure.exit_code())
        }
    }
}

/// Why a client command did not do what it was asked.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or configuration, or the user did not confirm: exit 2.
    Usage(String),
    /// The server answered 404: exit 3.
    NotFound(String),
    /// The server refused, failed or could not be reached: exit 1.
    Api(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::NotFound(m) | Failure::Api(m) => m,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Api(_) => 1,
            Failure::Usage(_) => 2,
            Failure::NotFound(_) => 3,
        }
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// The workspace to talk to and the token to talk with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub host: String,
    pub token: String,
    /// Where the settings came from, for error messages.
    pub source: String,
}

impl Workspace {
    /// An explicit profile wins over the environment, which wins over the file's `[DEFAULT]`.
    /// `env` reads an environment variable (injected so tests need not touch the process's).
    pub fn resolve(
        profile: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Workspace> {
        let path = config_path(env);
        if let Some(name) = profile {
            let file = read_config(&path)?.ok_or_else(|| {
                Failure::Usage(format!(
                    "profile '{name}' was asked for, but {} does not exist",
                    path.display()
                ))
            })?;
            let section = file.get(name).ok_or_else(|| {
                let mut names: Vec<&str> = file.keys().map(String::as_str).collect();
                names.sort_unstable();
                Failure::Usage(format!(
                    "{} has no profile [{name}] (profiles: {})",
                    path.display(),
                    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                ))
            })?;
            return from_section(section, &format!("profile [{name}] of {}", path.display()));
        }
        let host = env("DATABRICKS_HOST");
        let token = env("DATABRICKS_TOKEN");
        match (host, token) {
            (Some(host), Some(token)) => {
                return Ok(Workspace {
                    host: normalize_host(&host, "DATABRICKS_HOST")?,
                    token,
                    source: "DATABRICKS_HOST and DATABRICKS_TOKEN".into(),
                });
            }
            (Some(_), None) => {
                return Err(Failure::Usage(
                    "DATABRICKS_HOST is set but DATABRICKS_TOKEN is not: set both, or use a profile \
                     of ~/.databrickscfg with --profile"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(Failure::Usage(
                    "DATABRICKS_TOKEN is set but DATABRICKS_HOST is not: set both, or use a profile \
                     of ~/.databrickscfg with --profile"
                        .into(),
                ));
            }
            (None, None) => {}
        }
        if let Some(file) = read_config(&path)?
            && let Some(section) = file.get("DEFAULT")
        {
            return from_section(section, &format!("profile [DEFAULT] of {}", path.display()));
        }
        Err(Failure::Usage(format!(
            "no workspace is configured: set DATABRICKS_HOST and DATABRICKS_TOKEN, or add a profile \
             to {} ([DEFAULT] with host = … and token = …, or pick one with --profile)",
            path.display()
        )))
    }
}

/// `DATABRICKS_CONFIG_FILE`, else `~/.databrickscfg`.
fn config_path(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let home = env("HOME").map(PathBuf::from);
    match env("DATABRICKS_CONFIG_FILE") {
        Some(p) => match (p.strip_prefix("~/"), &home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(p),
        },
        None => home.unwrap_or_default().join(".databrickscfg"),
    }
}

type Sections = HashMap<String, HashMap<String, String>>;

/// The file's profiles, or `None` when it does not exist.
fn read_config(path: &Path) -> Result<Option<Sections>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(parse_ini(&text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Usage(format!("cannot read {}: {e}", path.display()))),
    }
}

/// The INI dialect of `~/.databrickscfg`: `[name]` sections, `key = value` lines (keys are
/// case-insensitive), `#` and `;` comment lines.
fn parse_ini(text: &str) -> Sections {
    let mut sections = Sections::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_owned();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let Some(section) = &current else { continue };
        if let Some((key, value)) = line.split_once('=').or_else(|| line.split_once(':')) {
            sections
                .entry(section.clone())
                .or_default()
                .insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    sections
}

fn from_section(section: &HashMap<String, String>, source: &str) -> Result<Workspace> {
    let get = |key: &str| section.get(key).filter(|v| !v.is_empty()).cloned();
    let host = get("host").ok_or_else(|| Failure::Usage(format!("{source} has no host")))?;
    let token = get("token").ok_or_else(|| {
        Failure::Usage(format!(
            "{source} has no token (patchbay authenticates with personal access tokens only)"
        ))
    })?;
    Ok(Workspace { host: normalize_host(&host, source)?, token, source: source.to_owned() })
}

/// As the Databricks SDKs do: `https://` when no scheme is given, no trailing `/`.
fn normalize_host(host: &str, source: &str) -> Result<String> {
    let host = host.trim().trim_end_matches('/');
    let host = if host.contains("://") { host.to_owned() } else { format!("https://{host}") };
    match reqwest::Url::parse(&host) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(host),
        _ => Err(Failure::Usage(format!(
            "the host '{host}' from {source} is not an http:// or https:// URL"
        ))),
    }
}

/// Percent-encodes one path segment.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub const PARTNER_CONNECT: &str = "/api/2.0/partner-connect";
pub const SCIM: &str = "/api/2.0/preview/scim/v2";

/// The workspace's REST API.
pub struct Api {
    http: reqwest::Client,
    workspace: Workspace,
}

impl Api {
    pub fn new(workspace: Workspace) -> Result<Api> {
        patchbay_partner::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("patchbay-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // A connect may wait on a slow partner with retries; never forever.
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| Failure::Api(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Api { http, workspace })
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        self.send(reqwest::Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::POST, path, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.send(reqwest::Method::DELETE, path, &[], None).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.workspace.host))
            .map_err(|e| Failure::Usage(format!("cannot make a URL of {path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request = self.http.request(method.clone(), url).bearer_auth(&self.workspace.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            let why = error_chain(&e);
            let hint = if why.contains("certificate") {
                "\npatchbay: for a self-signed certificate (patchbay serve --tls), set SSL_CERT_FILE \
                 to its PEM file, e.g. patchbay-data/tls/cert.pem"
            } else {
                ""
            };
            Failure::Api(format!("cannot reach {}: {why}{hint}", self.workspace.host))
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            Failure::Api(format!(
                "the answer from {} broke off: {}",
                self.workspace.host,
                error_chain(&e)
            ))
        })?;
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Object(Default::default()));
            }
            return serde_json::from_slice(&bytes).map_err(|e| {
                Failure::Api(format!("{method} {path}: the server's answer is not JSON ({e})"))
            });
        }
        let (mut message, code) = error_message(status, &bytes, &method, path);
        // Databricks answers a bad token with 403 "Invalid access token."; patchbay with 401.
        if status.as_u16() == 401 || message.contains("Invalid access token") {
            message
                .push_str(&format!("\npatchbay: the token comes from {}", self.workspace.source));
        }
        Err(if code.as_deref() == Some("ENDPOINT_NOT_FOUND") {
            // The server lacks the API itself: not a missing object.
            message.push_str(
                "\npatchbay: this server does not have that API; is it an older patchbay?",
            );
            Failure::Api(message)
        } else if status == reqwest::StatusCode::NOT_FOUND {
            Failure::NotFound(message)
        } else {
            Failure::Api(message)
        })
    }
}

/// The server's message as it sent it (the Databricks envelope, the SCIM one, or the body), and
/// its error code if it gave one.
fn error_message(
    status: reqwest::StatusCode,
    body: &[u8],
    method: &reqwest::Method,
    path: &str,
) -> (String, Option<String>) {
    let code = status.as_u16();
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let text = |k: &str| match &v[k] {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        if let Some(message) = text("message") {
            return match text("error_code") {
                Some(error_code) => {
                    (format!("{message} (HTTP {code} {error_code})"), Some(error_code))
                }
                None => (format!("{message} (HTTP {code})"), None),
            };
        }
        if let Some(detail) = text("detail") {
            return (format!("{detail} (HTTP {code})"), None);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if text.is_empty() || text.len() > 500 {
        format!("{method} {path}: HTTP {code} {}", status.canonical_reason().unwrap_or_default())
    } else {
        format!("{text} (HTTP {code})")
    };
    (message, None)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.get(name).cloned()
    }

    fn config_file(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".databrickscfg"), text).unwrap();
        dir
    }

    const CFG: &str = "; profiles\n[DEFAULT]\nhost = https://default.example.com/\ntoken = dapi-default\n\n\
                       [staging]\nHOST=staging.example.com\n  token =  dapi-staging  \n# done\n[broken]\nhost = x.example.com\n";

    #[test]
    fn an_explicit_profile_wins_over_the_environment() {
        let dir = config_file(CFG);
        let home = dir.path().to_str().unwrap();
        let env = env_of(&[
            ("HOME", home),
            ("DATABRICKS_HOST", "http://env.example.com"),
            ("DATABRICKS_TOKEN", "dapi-env"),
        ]);
        let w = Workspace::resolve(Some("staging"), &env).unwrap();
        assert_eq!(w.host, "https://staging.example.com");
        assert_eq!(w.token, "dapi-staging");
        let w = Workspace::resolve(None, &env).unwrap();
        assert_eq!((w.host.as_str(), w.token.as_str()), ("http://env.example.com", "dapi-env"));
    }

    #[test]
    fn the_default_profile_comes_last() {
        let dir = config_file(CFG);
        let env = env_of(&[("HOME", dir.path().to_str().unwrap())]);
        let w = Workspace::resolve(None, &env).unwrap();
        assert_eq!(w.host, "https://default.example.com");
        assert_eq!(w.token, "dapi-default");
    }

    #[test]
    fn the_config_file_can_move() {
        let dir = config_file(CFG);
        let moved = dir.path().join("other.cfg");
        std::fs::write(&moved, "[DEFAULT]\nhost = http://127.0.0.1:8080\ntoken = dapi-moved\n")
            .unwrap();
        let env = env_of(&[
            ("HOME", "/nonexistent"),
            ("DATABRICKS_CONFIG_FILE", moved.to_str().unwrap()),
        ]);
        assert_eq!(Workspace::resolve(None, &env).unwrap().token, "dapi-moved");
    }

    #[test]
    fn configuration_errors_say_what_is_missing() {
        let dir = config_file(CFG);
        let home = dir.path().to_str().unwrap();
        let err = |profile: Option<&str>, vars: &[(&str, &str)]| {
            let mut all = vec![("HOME", home)];
            all.extend_from_slice(vars);
            match Workspace::resolve(profile, &env_of(&all)) {
                Err(f) => {
                    assert_eq!(f.exit_code(), 2);
                    f.message().to_owned()
                }
                Ok(w) => panic!("resolved {w:?}"),
            }
        };
        assert!(
            err(Some("nope"), &[])
                .contains("no profile [nope] (profiles: DEFAULT, broken, staging)")
        );
        assert!(err(Some("broken"), &[]).contains("has no token"));
        assert!(err(None, &[("DATABRICKS_HOST", "h")]).contains("DATABRICKS_TOKEN is not"));
        assert!(
            err(None, &[("DATABRICKS_HOST", "ftp://x"), ("DATABRICKS_TOKEN", "t")])
                .contains("not an http")
        );
        let empty = env_of(&[("HOME", "/nonexistent")]);
        let f = Workspace::resolve(None, &empty).unwrap_err();
        assert!(f.message().contains("no workspace is configured"), "{}", f.message());
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("dbt-cloud"), "dbt-cloud");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn error_messages_come_from_either_envelope() {
        let get = reqwest::Method::GET;
        let (m, code) = error_message(
            reqwest::StatusCode::NOT_FOUND,
            br#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"No such thing."}"#,
            &get,
            "/x",
        );
        assert_eq!(m, "No such thing. (HTTP 404 RESOURCE_DOES_NOT_EXIST)");
        assert_eq!(code.as_deref(), Some("RESOURCE_DOES_NOT_EXIST"));
        let (m, _) = error_message(
            reqwest::StatusCode::NOT_FOUND,
            br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"Gone.","status":"404"}"#,
            &get,
            "/x",
        );
        assert_eq!(m, "Gone. (HTTP 404)");
        let (m, _) = error_message(reqwest::StatusCode::BAD_GATEWAY, b"", &get, "/x");
        assert_eq!(m, "GET /x: HTTP 502 Bad Gateway");
    }
}
