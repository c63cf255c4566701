//! `patchbay`: one binary that serves the workspace API and administers its database.

mod config;
mod serve;
mod tls;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "patchbay",
    version,
    about = "A self-hosted Partner Connect that speaks the Databricks workspace API."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: the workspace API, on SQLite in the data directory by default.
    ///
    /// Example: patchbay serve --listen 127.0.0.1:8080 --data-dir ./patchbay-data
    Serve(config::ServeArgs),
    /// Administer the database directly (works while the server runs).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Personal access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
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
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
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
        Command::Admin {
            command:
                AdminCommand::Token {
                    command:
                        TokenCommand::Create {
                            user,
                            comment,
                            database,
                        },
                },
        } => {
            let store = database.open().await?;
            let token = store
                .issue_token_for_user(&user, &comment)
                .await
                .context("cannot issue the token")?;
            println!("{}", token.expose());
            store.close().await;
            Ok(())
        }
    }
}
