//! `patchbay certify`: a conformance run for a partner's Partner Connect endpoint.
//!
//! certify starts a patchbay of its own for each scenario (a temporary SQLite database on a
//! loopback port), registers the partner there as a custom partner whose base URL is a
//! recording proxy in front of the partner, and drives the protocol's scenario families through
//! patchbay's real connect, sign-in and delete paths. The proxy records every exchange; the
//! checks run over those exchanges (partner-protocol.md §1) and over patchbay's own results,
//! and the token the partner received is tried against the workspace. The partner is registered
//! with the permission profile it will ship with (`--profile`, see [`profile`]), which decides
//! what each connect creates and what the partner receives. After the first connect, certify
//! also reads the workspace's query history to see whether the partner used its warehouse
//! ([`usage`]; only when the caller gives certify's workspace a SQL engine).

pub mod checks;
pub mod cli;
pub mod profile;
pub mod proxy;
pub mod report;
mod scenarios;
pub mod usage;
pub mod workspace;

use anyhow::{Context, bail};
use serde::Serialize;
use std::time::{Duration, Instant};

pub use scenarios::{SCENARIOS, ScenarioInfo};

/// What the partner's second, new user gets on an existing connection (`new_user_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum NewUserAction {
    AutoAdd,
    Invite,
    NotFound,
    Error,
}

/// What to certify and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The partner's connect endpoint, e.g. `https://partner.example.com/databricks/connect`.
    pub partner_url: String,
    /// Basic credentials patchbay presents to the partner.
    pub username: String,
    pub password: String,
    /// Scenario names to run; empty runs them all.
    pub scenarios: Vec<String>,
    /// The partner's declared `new_user_action`; `None` accepts any of the four.
    pub new_user_action: Option<NewUserAction>,
    /// Hosts besides the partner's own that its redirects may go to.
    pub redirect_hosts: Vec<String>,
    /// The permission profile the partner is registered with: it decides what a connect
    /// creates and what the partner receives.
    pub profile: profile::Profile,
    /// How the partner authenticates to the workspace: what patchbay hands it on a connect.
    pub auth: AuthMode,
    pub workspace: workspace::WorkspaceOptions,
}

/// `certify --auth`: the partner registered with `auth_options` `AUTH_PAT` (a personal access
/// token) or `AUTH_OAUTH_M2M` (an OAuth secret of its service principal, which it exchanges at
/// the workspace's token endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuthMode {
    #[default]
    Pat,
    M2m,
}

/// A scenario's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
    Skipped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "PASS",
            Verdict::Failed => "FAIL",
            Verdict::Skipped => "SKIP",
        }
    }
}

/// One thing that was wrong, and the exchange that shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub message: String,
    /// The `seq` of the exchange, when one shows the problem.
    pub exchange: Option<usize>,
}

/// The outcome of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: &'static str,
    pub title: &'static str,
    pub verdict: Verdict,
    pub problems: Vec<Problem>,
    pub skip_reason: Option<String>,
    /// Observations that are not failures (e.g. which `new_user_action` the partner showed).
    pub notes: Vec<String>,
    /// What deserves a look without failing the scenario (a partner that never used its
    /// warehouse).
    pub warnings: Vec<String>,
    /// What the partner did on its warehouse after the connect, when certify could see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse_usage: Option<usage::WarehouseUsage>,
    pub millis: u128,
    /// Every exchange with the partner during the scenario, secrets redacted.
    pub exchanges: Vec<proxy::Exchange>,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub partner_url: String,
    pub profile: profile::Profile,
    pub scenarios: Vec<ScenarioResult>,
}

impl Run {
    pub fn count(&self, verdict: Verdict) -> usize {
        self.scenarios.iter().filter(|s| s.verdict == verdict).count()
    }

    pub fn warnings(&self) -> usize {
        self.scenarios.iter().map(|s| s.warnings.len()).sum()
    }
}

/// Where the partner's endpoints are, derived from its connect URL: the other endpoints sit
/// next to `/connect` (`…/delete-connection`, `…/test-connection`, `…/delete-account`,
/// `…/expire-account`).
#[derive(Debug, Clone)]
pub struct PartnerUrls {
    /// `scheme://host[:port]`.
    pub origin: String,
    pub host: String,
    pub paths: checks::Paths,
}

impl PartnerUrls {
    pub fn parse(url: &str) -> anyhow::Result<PartnerUrls> {
        let parsed = reqwest::Url::parse(url).with_context(|| format!("'{url}' is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("--partner-url must be an http:// or https:// URL, not '{url}'");
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            bail!("--partner-url must not carry credentials; use --user and --password");
        }
        let host = parsed
            .host_str()
            .context("--partner-url has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let origin = match parsed.port() {
            Some(p) => format!("{}://{}:{p}", parsed.scheme(), parsed.host_str().unwrap_or("")),
            None => format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or("")),
        };
        let path = parsed.path().trim_end_matches('/');
        let prefix = path.strip_suffix("/connect").unwrap_or(path).to_owned();
        let at = |name: &str| format!("{prefix}/{name}");
        Ok(PartnerUrls {
            origin,
            host,
            paths: checks::Paths {
                connect: at("connect"),
                delete_connection: at("delete-connection"),
                test_connection: at("test-connection"),
                delete_account: at("delete-account"),
                expire_account: at("expire-account"),
            },
        })
    }
}

/// Runs the selected scenarios, one after the other, each on a fresh patchbay.
pub async fn run(options: &Options) -> anyhow::Result<Run> {
    let urls = PartnerUrls::parse(&options.partner_url)?;
    let selected: Vec<&ScenarioInfo> = if options.scenarios.is_empty() {
        SCENARIOS.iter().collect()
    } else {
        let mut out = Vec::new();
        for name in &options.scenarios {
            let s = SCENARIOS.iter().find(|s| s.name == name).with_context(|| {
                format!(
                    "no scenario '{name}'; the scenarios are: {}",
                    SCENARIOS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                )
            })?;
            if !out.iter().any(|o: &&ScenarioInfo| o.name == s.name) {
                out.push(s);
            }
        }
        out
    };
    // The proxy waits longer than patchbay does, so that patchbay decides what is too slow.
    let (proxy, proxy_task) = proxy::Proxy::start(
        &urls.origin,
        &urls.paths.connect,
        options.workspace.partner_timeout + Duration::from_secs(30),
    )
    .await
    .context("cannot start the recording proxy")?;
    proxy.add_secret(&options.password);
    let mut hostnames = vec![urls.host.clone()];
    hostnames.extend(options.redirect_hosts.iter().map(|h| h.to_ascii_lowercase()));
    let env = scenarios::Env {
        options,
        proxy: proxy.clone(),
        paths: urls.paths.clone(),
        hostnames,
        run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
    };
    let mut results = Vec::new();
    for info in selected {
        let started = Instant::now();
        let mark = proxy.mark();
        let mut result = scenarios::run_one(&env, info).await;
        result.millis = started.elapsed().as_millis();
        // A late answer (after patchbay stopped waiting) still belongs to this scenario.
        tokio::time::sleep(Duration::from_millis(50)).await;
        result.exchanges = proxy.since(mark);
        results.push(result);
    }
    proxy_task.abort();
    let mut run = Run {
        partner_url: options.partner_url.clone(),
        profile: options.profile,
        scenarios: results,
    };
    report::scrub_run(&mut run, &proxy.secrets());
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::PartnerUrls;

    #[test]
    fn the_other_endpoints_sit_next_to_connect() {
        let u = PartnerUrls::parse("https://P.example.com:8443/databricks/v1/connect").unwrap();
        assert_eq!(u.origin, "https://P.example.com:8443".to_ascii_lowercase());
        assert_eq!(u.host, "p.example.com");
        assert_eq!(u.paths.connect, "/databricks/v1/connect");
        assert_eq!(u.paths.delete_connection, "/databricks/v1/delete-connection");
        assert_eq!(u.paths.expire_account, "/databricks/v1/expire-account");
        // A base URL without /connect gets it appended.
        let u = PartnerUrls::parse("http://127.0.0.1:9090/").unwrap();
        assert_eq!(u.paths.connect, "/connect");
        assert_eq!(u.paths.test_connection, "/test-connection");
        for bad in ["ftp://x/connect", "https://u:p@x/connect", "not a url"] {
            assert!(PartnerUrls::parse(bad).is_err(), "{bad}");
        }
    }
}
