//! `patchbay certify`'s command line: the arguments, the run, the reports and the exit code.

use crate::{
    AuthMode, NewUserAction, Options, SCENARIOS, Verdict, profile, report,
    workspace::{SqlEngineFactory, WorkspaceOptions},
};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `patchbay certify` arguments.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Scenarios (default: all): create-new-account, create-existing-user, signin-creator,
signin-existing-user, signin-new-user, recreate-after-workspace-delete,
signin-after-partner-delete, expired-account, multiple-workspaces, demo, test-connection,
unauthorized-after-rotation, retries-on-500.

Profiles (--profile, default ingest): the permission profile your partner is registered with,
which decides what a connect creates and what your /connect receives. none: a token of the
connecting user and a new SQL warehouse, no service principal; ingest, dataiku: a service
principal's token and a new SQL warehouse (dataiku: with selected schemas); cluster: a new
cluster; token: the token only; read: a SQL warehouse and schemas the admin selected.

SQL: certify's workspace runs SQL on its warehouses. After the first connect it reads the
query history: how many statements the partner ran on its warehouse with what it was given,
how many succeeded and how many were refused; none within --workload-wait is a warning.

Reports: --report FILE.json writes JSON, --report FILE.xml writes JUnit XML; repeat --report
for both. Tokens and the password never appear in them.

Exit codes: 0 every selected scenario passed (skipped ones are shown, and fail the run only with
--require-all); 1 a scenario failed; 2 usage or setup error.

Example: patchbay certify --partner-url http://127.0.0.1:9090/connect --password partner-sim-secret --report certify.xml")]
pub struct CertifyArgs {
    /// The partner's connect endpoint; delete-connection, test-connection, delete-account and
    /// expire-account are expected next to it.
    #[arg(
        long,
        value_name = "URL",
        required_unless_present = "list",
        default_value = "",
        hide_default_value = true
    )]
    pub partner_url: String,
    /// The Basic user name the partner gave Databricks.
    #[arg(long, env = "PATCHBAY_CERTIFY_USER", default_value = "databricks")]
    pub user: String,
    /// The Basic password the partner gave Databricks.
    #[arg(
        long,
        env = "PATCHBAY_CERTIFY_PASSWORD",
        hide_env_values = true,
        required_unless_present = "list",
        default_value = "",
        hide_default_value = true
    )]
    pub password: String,
    /// Run only this scenario (repeat, or separate with commas).
    #[arg(long = "scenario", value_name = "NAME", value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Write a report: JSON, or JUnit XML when FILE ends in .xml (repeatable).
    #[arg(long = "report", value_name = "FILE")]
    pub reports: Vec<PathBuf>,
    /// The partner's declared new_user_action; without it any of the four is accepted.
    #[arg(long, value_enum)]
    pub new_user_action: Option<NewUserAction>,
    /// The partner's permission profile, which decides what a connect creates and what the
    /// partner receives [default: ingest].
    // The id `profile` shadows the client commands' global `--profile` (a ~/.databrickscfg
    // profile, which means nothing here); clap allows one id per name.
    #[arg(
        long,
        value_name = "PROFILE",
        value_parser = clap::builder::PossibleValuesParser::new(profile::names())
    )]
    pub profile: Option<String>,
    /// How the partner authenticates: `pat` (a personal access token) or `m2m` (an OAuth
    /// secret, `auth_options: ["AUTH_OAUTH_M2M"]`).
    #[arg(long, value_enum, default_value = "pat")]
    pub auth: AuthMode,
    /// Another host the partner's redirects may go to (its own host always may).
    #[arg(long = "redirect-host", value_name = "HOST")]
    pub redirect_hosts: Vec<String>,
    /// Seconds patchbay waits for one partner call.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Seconds the partner has after the first connect to run a statement on its warehouse.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub workload_wait: u64,
    /// Retry 500s without the protocol's 1/2/4 s backoff (faster local runs).
    #[arg(long)]
    pub fast_retries: bool,
    /// Where certify's patchbay listens (the partner calls it back with the token).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// The URL the partner is told to reach the workspace at, if not the listening address.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Count skipped scenarios as failures.
    #[arg(long)]
    pub require_all: bool,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
}

impl CertifyArgs {
    /// The run's options; an error names what is wrong with the arguments.
    pub fn options(&self) -> Result<Options, String> {
        let profile = match &self.profile {
            Some(name) => profile::parse(name)?,
            None => profile::DEFAULT_PROFILE,
        };
        if self.auth == AuthMode::M2m && !profile.rules().service_principal {
            return Err("--auth m2m needs a profile that creates a service principal".into());
        }
        Ok(Options {
            auth: self.auth,
            partner_url: self.partner_url.clone(),
            username: self.user.clone(),
            password: self.password.clone(),
            scenarios: self.scenarios.clone(),
            new_user_action: self.new_user_action,
            redirect_hosts: self.redirect_hosts.clone(),
            profile,
            workspace: WorkspaceOptions {
                retry_delays: if self.fast_retries {
                    vec![Duration::ZERO; 3]
                } else {
                    WorkspaceOptions::default().retry_delays
                },
                partner_timeout: Duration::from_secs(self.timeout.max(1)),
                listen: self.listen,
                public_url: self.public_url.clone(),
                sql: None,
                workload_wait: Duration::from_secs(self.workload_wait),
            },
        })
    }
}

/// Writes to stdout. A reader that went away (`certify … | head`) is not an error: the exit code
/// and the report files still say how the partner did.
fn say(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Runs `patchbay certify` to completion; the exit code says whether the partner passed.
/// `sql` runs SQL on the warehouses of certify's workspace (the binary gives it one).
pub fn main(args: CertifyArgs, sql: Option<SqlEngineFactory>) -> ExitCode {
    if args.list {
        for s in SCENARIOS {
            say(&format!("{:32} {}\n", s.name, s.title));
        }
        return ExitCode::SUCCESS;
    }
    let mut options = match args.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("patchbay certify: {e}");
            return ExitCode::from(2);
        }
    };
    options.workspace.sql = sql;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("patchbay certify: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let run = match runtime.block_on(crate::run(&options)) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("patchbay certify: {e:#}");
            return ExitCode::from(2);
        }
    };
    say(&report::table(&run));
    for path in &args.reports {
        let is_xml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml"));
        let text = if is_xml {
            report::junit(&run)
        } else {
            serde_json::to_string_pretty(&report::json(&run)).unwrap_or_default()
        };
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("patchbay certify: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
        say(&format!("report written to {}\n", path.display()));
    }
    let failed =
        run.count(Verdict::Failed) > 0 || (args.require_all && run.count(Verdict::Skipped) > 0);
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
