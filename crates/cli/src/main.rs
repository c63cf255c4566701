//! `patchbay`: one binary that serves the workspace API and administers its database.

mod client;
mod config;
mod log_line;
mod secret_key;
mod serve;
mod tls;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use patchbay_store::Resealed;
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: the server allocates many small, short-lived objects
/// per request on every worker thread (see the README's Performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "patchbay",
    version,
    about = "A self-hosted Partner Connect that speaks the Databricks workspace API."
)]
struct Cli {
    #[command(flatten)]
    client: client::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: the workspace API, on SQLite in the data directory by default.
    ///
    /// Example: patchbay serve --listen 127.0.0.1:8080 --data-dir ./patchbay-data
    Serve(config::ServeArgs),
    /// Run partner-sim, a reference Partner Connect partner, for demos and tests.
    ///
    /// Example: patchbay partner-sim --listen 127.0.0.1:9090 --config sim.toml
    PartnerSim {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: std::net::SocketAddr,
        /// A TOML file: username, password, new_user_action (auto_add|invite|not_found|error),
        /// require_manual_signup, expired_domains, verify_tokens, public_url.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
    /// Certify a partner's Partner Connect endpoint: the protocol's scenarios, pass or fail.
    ///
    /// Runs each scenario through an in-process patchbay and a recording proxy in front of the
    /// partner, and reports per scenario what was wrong and the exchange that shows it.
    ///
    /// Example: patchbay certify --partner-url https://partner.example.com/databricks/connect --password … --report certify.xml
    Certify(patchbay_certify::cli::CertifyArgs),
    /// Administer the database directly (works while the server runs).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The client commands, which talk to a server over its REST API.
    #[command(flatten)]
    Client(client::Command),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Personal access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Workspaces of the organization.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Copy a whole installation into an empty database of either kind, e.g. from the SQLite
    /// file of one node to the PostgreSQL database several nodes share. Stop the server first.
    ///
    /// Example: patchbay admin migrate-db --from-data-dir ./patchbay-data --to postgres://pb@db/pb
    MigrateDb {
        /// The database to copy: `sqlite://PATH` or `postgres://…`.
        #[arg(long, required_unless_present = "from_data_dir")]
        from: Option<String>,
        /// The data directory whose SQLite database to copy (instead of --from).
        #[arg(long, conflicts_with = "from")]
        from_data_dir: Option<std::path::PathBuf>,
        /// The empty database to copy into: `sqlite://PATH` (created) or `postgres://…`.
        #[arg(long)]
        to: String,
    },
    /// Check Partner Connect's invariants on a database, live or not, and print every
    /// violation: what Partner Connect made that outlived its connection (a principal, a
    /// warehouse or cluster, a live token nobody tracks), connects and rotations stuck for
    /// longer than a connect may take, connected tiles missing what they use, deletes the
    /// partner was never told of. Exit code 1 when anything is reported.
    ///
    /// Example: patchbay admin check --data-dir ./patchbay-data --repair
    Check {
        /// Remove what is left behind (orphans, stuck connects), each in its own transaction,
        /// then report what remains.
        #[arg(long)]
        repair: bool,
        /// How long a connect or rotation may run before it counts as stuck (`90s`, `3m`).
        #[arg(long, default_value = "3m", value_parser = config::parse_duration)]
        stale_after: i64,
        /// How long a delete notification may wait for delivery before it is reported.
        #[arg(long, default_value = "1m", value_parser = config::parse_duration)]
        undelivered_after: i64,
        #[command(flatten)]
        database: config::DatabaseArgs,
    },
    /// Start signing OAuth access tokens with a new key, on every node at once, and print its
    /// id. Tokens signed with older keys keep working until they expire (one hour).
    ///
    /// Example: patchbay admin rotate-oauth-key --data-dir ./patchbay-data
    RotateOauthKey {
        #[command(flatten)]
        database: config::DatabaseArgs,
    },
    /// Seal the partners' passwords and the OAuth signing keys with a new secret key, and put
    /// it in the key file (`--secret-key-file`, by default `secret.key` in the data directory).
    /// Stop every node first; then give them all the new file. A rotation that stopped midway
    /// is finished by running the command again.
    ///
    /// Example: patchbay admin rotate-secret-key --data-dir ./patchbay-data
    RotateSecretKey {
        #[command(flatten)]
        database: config::DatabaseArgs,
    },
    /// Insert N service principals in bulk and print their application ids (for benchmarks).
    #[command(hide = true)]
    SeedServicePrincipals {
        count: usize,
        #[command(flatten)]
        database: config::DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum WorkspaceCommand {
    /// Add a workspace to the organization, with its own admin; prints the workspace id and,
    /// once, the admin's token. Its workspaces share the organization's partner accounts.
    ///
    /// Example: patchbay admin workspace create --name analytics --admin-email lead@example.com
    Create {
        #[arg(long)]
        name: String,
        /// The new workspace's first admin.
        #[arg(long)]
        admin_email: String,
        /// Its public URL (default: the first workspace's).
        #[arg(long)]
        public_url: Option<String>,
        #[command(flatten)]
        database: config::DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a new non-expiring token for a user and print only its value.
    ///
    /// Example: patchbay admin token create --user admin@example.com --data-dir ./patchbay-data
    Create {
        /// The user's e-mail (userName).
        #[arg(long)]
        user: String,
        /// A comment stored with the token.
        #[arg(long, default_value = "issued by patchbay admin")]
        comment: String,
        #[command(flatten)]
        database: config::DatabaseArgs,
    },
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.command = match cli.command {
        Command::Client(command) => return client::main(command, cli.client, Cli::command),
        Command::Certify(mut args) => {
            // certify's --profile is the partner's permission profile. clap hands it the
            // client's DATABRICKS_CONFIG_PROFILE too (a ~/.databrickscfg profile, one id):
            // that one does not apply here.
            let from_env =
                matches.subcommand_matches("certify").and_then(|m| m.value_source("profile"))
                    == Some(clap::parser::ValueSource::EnvVariable);
            if from_env {
                args.profile = None;
            }
            return patchbay_certify::cli::main(args, Some(certify_sql()));
        }
        other => other,
    };
    // Statements nest up to the engine's limit (a thousand levels), and copying or
    // dropping such a tree recurses once a level: workers get the room for it (reserved, and
    // used only when needed).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("patchbay: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("patchbay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(config::ServeConfig::resolve(args)?).await,
        Command::PartnerSim { listen, config } => partner_sim(listen, config).await,
        Command::Client(_) => unreachable!("client commands run in client::main"),
        Command::Certify(_) => unreachable!("certify runs in patchbay_certify::cli::main"),
        Command::Admin {
            command:
                AdminCommand::Token { command: TokenCommand::Create { user, comment, database } },
        } => {
            let store = database.open().await?;
            let token = store
                .issue_token_for_user(&user, &comment)
                .await
                .map_err(in_words)
                .context("cannot issue the token")?;
            println!("{}", token.expose());
            store.close().await;
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Workspace {
                    command: WorkspaceCommand::Create { name, admin_email, public_url, database },
                },
        } => {
            patchbay_core::principal::validate_user_name(&admin_email)
                .map_err(|e| anyhow::anyhow!("--admin-email: {e}"))?;
            let store = database.open().await?;
            let first = store.default_workspace_id().await?;
            let url = match public_url {
                Some(u) => u,
                None => store.workspace_public_url(first).await?,
            };
            let (workspace_id, token) = store
                .add_workspace(first, &name, &url, &admin_email)
                .await
                .map_err(in_words)
                .context("cannot create the workspace")?;
            println!("workspace_id: {workspace_id}");
            println!("admin token (shown once, keep it safe): {}", token.expose());
            store.close().await;
            Ok(())
        }
        Command::Admin { command: AdminCommand::MigrateDb { from, from_data_dir, to } } => {
            migrate_db(from, from_data_dir, to).await
        }
        Command::Admin {
            command: AdminCommand::Check { repair, stale_after, undelivered_after, database },
        } => {
            let store = database.open().await?;
            let result = check(
                &store,
                repair,
                stale_after.saturating_mul(1000),
                undelivered_after.saturating_mul(1000),
            )
            .await;
            store.close().await;
            result
        }
        Command::Admin { command: AdminCommand::RotateOauthKey { database } } => {
            let store = database.open_sealing().await?;
            let kid = store.rotate_signing_key().await?;
            store.close().await;
            println!("{kid}");
            Ok(())
        }
        Command::Admin { command: AdminCommand::RotateSecretKey { database } } => {
            let store = database.open().await?;
            let key_file = database.secret_key_file();
            let result = secret_key::rotate(
                &store,
                &key_file,
                patchbay_server::statements::relay::NODE_GONE_MILLIS,
            )
            .await;
            store.close().await;
            match result? {
                Resealed::Now { values } => println!(
                    "sealed {values} credential(s) with the new secret key in {}; give every \
                     node this file before starting it",
                    key_file.display()
                ),
                Resealed::Already => println!(
                    "the rotation that had stopped is finished: the new secret key is in {}",
                    key_file.display()
                ),
            }
            Ok(())
        }
        Command::Admin { command: AdminCommand::SeedServicePrincipals { count, database } } => {
            let store = database.open().await?;
            let ids = store.seed_service_principals(count).await?;
            store.close().await;
            println!("{}", ids.join("\n"));
            Ok(())
        }
    }
}

/// `patchbay admin migrate-db`: opens both databases (bringing both to this version's schema),
/// then copies everything in one transaction on the target.
async fn migrate_db(
    from: Option<String>,
    from_data_dir: Option<std::path::PathBuf>,
    to: String,
) -> anyhow::Result<()> {
    use patchbay_store::{Store, redact_url};
    let from = match (from, from_data_dir) {
        (Some(url), _) => url,
        (None, Some(dir)) => {
            let file = dir.join("patchbay.db");
            anyhow::ensure!(file.is_file(), "no patchbay database in {}", dir.display());
            format!("sqlite://{}", file.display())
        }
        (None, None) => anyhow::bail!("--from or --from-data-dir is required"),
    };
    // A new SQLite target file is created; the source must exist.
    let to = match to.strip_prefix("sqlite://") {
        Some(path) if !to.contains('?') => patchbay_store::sqlite_url(std::path::Path::new(path)),
        _ => to,
    };
    let source = Store::connect(&from)
        .await
        .with_context(|| format!("cannot open the source database {}", redact_url(&from)))?;
    let target = Store::connect(&to)
        .await
        .with_context(|| format!("cannot open the target database {}", redact_url(&to)))?;
    let report = patchbay_store::migrate_db(&source, &target)
        .await
        .context("migration failed; the target is unchanged")?;
    source.close().await;
    target.close().await;
    for (table, rows) in &report.tables {
        println!("{table:24} {rows:>10} rows");
    }
    println!("patchbay: copied the installation from {} to {}", redact_url(&from), redact_url(&to));
    Ok(())
}

/// certify's workspaces run SQL as `serve` does, their tables in each installation's own
/// temporary directory.
fn certify_sql() -> patchbay_certify::workspace::SqlEngineFactory {
    patchbay_certify::workspace::SqlEngineFactory::new(|store, tables| {
        let root = url::Url::from_directory_path(tables)
            .map_err(|()| anyhow::anyhow!("{} is not an absolute path", tables.display()))?;
        let warehouses =
            patchbay_sql::Warehouses::new(store, root, patchbay_sql::EngineLimits::default())?;
        Ok(std::sync::Arc::new(warehouses))
    })
}

async fn partner_sim(
    listen: std::net::SocketAddr,
    config: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let config: patchbay_partner::sim::SimConfig = match config {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("invalid partner-sim configuration {}", path.display()))?
        }
        None => patchbay_partner::sim::SimConfig::default(),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    println!("partner-sim: listening on http://{addr}");
    println!(
        "partner-sim: Basic credentials {}:<password from the configuration>",
        config.username
    );
    axum::serve(listener, patchbay_partner::sim::router(config, url)).await?;
    Ok(())
}

/// `patchbay admin check`: prints the violations (and, with `--repair`, what it removed); an
/// error when any remain.
async fn check(
    store: &patchbay_store::Store,
    repair: bool,
    stale_millis: i64,
    undelivered_millis: i64,
) -> anyhow::Result<()> {
    let print = |v: &patchbay_store::Violation| {
        println!(
            "{:<11} workspace {} partner {} {} {}: {}",
            v.kind.as_str(),
            v.workspace_id,
            v.partner_id,
            v.object_type,
            v.object_id,
            v.detail
        );
    };
    if repair {
        let repairs = store.repair_integrity(stale_millis).await?;
        for v in &repairs.removed {
            print!("removed     ");
            print(v);
        }
    }
    let remaining = store.check_integrity(stale_millis, undelivered_millis).await?;
    for v in &remaining {
        print(v);
    }
    if remaining.is_empty() {
        println!("ok: every connection is complete or gone, and nothing outlived its connection");
        Ok(())
    } else {
        anyhow::bail!("{} violation(s) of Partner Connect's invariants", remaining.len())
    }
}

/// A store failure the operator caused (a user or workspace that does not exist, a name that
/// is taken) in the words the API uses; anything else as it is.
fn in_words(e: patchbay_store::StoreError) -> anyhow::Error {
    use patchbay_store::StoreError;
    match e {
        StoreError::Missing(_) | StoreError::Taken(_) | StoreError::Rejected(_) => {
            anyhow::anyhow!(patchbay_server::error::ApiError::from(e).message)
        }
        other => other.into(),
    }
}
