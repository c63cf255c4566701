//! `patchbay tokens list|create-obo|delete`: token management, as in the admin guide's rotation
//! procedure.

use super::output::{self, cell, time_ms};
use super::{Api, Output, Result, segment};
use clap::Subcommand;
use serde_json::{Map, Value, json};

const TOKENS: &str = "/api/2.0/token-management/tokens";
const OBO: &str = "/api/2.0/token-management/on-behalf-of/tokens";

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// List every token of the workspace (ids, owners, comments; never values).
    #[command(
        after_help = "Examples:\n  patchbay tokens list\n  patchbay tokens list --created-by admin@example.com"
    )]
    List {
        /// Only tokens created by this user name (or numeric user id).
        #[arg(long, value_name = "USER")]
        created_by: Option<String>,
    },
    /// Create a token on behalf of a service principal and print its value, once.
    ///
    /// The principal needs the CAN_USE token permission (a Partner Connect principal has it).
    /// Only the value goes to stdout, so `TOKEN=$(patchbay tokens create-obo …)` captures it.
    #[command(
        after_help = "Example:\n  patchbay tokens create-obo --application-id 123456a7-8901-2b3c-45de-f678a901b2c3 \\\n    --comment 'Partner Connect' --lifetime-seconds 1209600"
    )]
    CreateObo {
        /// The service principal's application id.
        #[arg(long, value_name = "ID")]
        application_id: String,
        /// A comment stored with the token.
        #[arg(long)]
        comment: Option<String>,
        /// Seconds until the token expires (default: the workspace's policy).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
        lifetime_seconds: Option<i64>,
    },
    /// Delete a token by its id; whoever uses it is refused at once. Cannot be undone.
    #[command(
        after_help = "Examples:\n  patchbay tokens delete 5684c955…816c\n  patchbay tokens delete 5684c955…816c --yes\n\n\
                            Without --yes it asks on a terminal, and refuses (exit 2) when standard input is not one."
    )]
    Delete {
        /// The token id (from `patchbay tokens list`).
        token_id: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

pub async fn run(api: &Api, out: Output, command: TokensCommand) -> Result<()> {
    match command {
        TokensCommand::List { created_by } => {
            let query: Vec<(&str, String)> = match created_by {
                Some(u) if !u.is_empty() && u.bytes().all(|b| b.is_ascii_digit()) => {
                    vec![("created_by_id", u)]
                }
                Some(u) => vec![("created_by_username", u)],
                None => Vec::new(),
            };
            let v = api.get(TOKENS, &query).await?;
            let headers = ["TOKEN ID", "OWNER ID", "CREATED BY", "COMMENT", "CREATED", "EXPIRES"];
            output::list(out, &v, "token_infos", &headers, "No tokens.", |t| {
                vec![
                    cell(&t["token_id"]),
                    cell(&t["owner_id"]),
                    cell(&t["created_by_username"]),
                    cell(&t["comment"]),
                    time_ms(&t["creation_time"]),
                    time_ms(&t["expiry_time"]),
                ]
            });
            Ok(())
        }
        TokensCommand::CreateObo { application_id, comment, lifetime_seconds } => {
            let mut body = Map::new();
            body.insert("application_id".into(), json!(application_id));
            if let Some(c) = comment {
                body.insert("comment".into(), json!(c));
            }
            if let Some(l) = lifetime_seconds {
                body.insert("lifetime_seconds".into(), json!(l));
            }
            let v = api.post(OBO, &Value::Object(body)).await?;
            if out == Output::Json {
                output::json(&v);
            } else {
                println!("{}", cell(&v["token_value"]));
            }
            let info = &v["token_info"];
            eprintln!(
                "patchbay: created token {} for {application_id} (expires: {}). Its value is shown \
                 only now: store it safely, nobody can read it back.",
                cell(&info["token_id"]),
                time_ms(&info["expiry_time"])
            );
            Ok(())
        }
        TokensCommand::Delete { token_id, yes } => {
            let path = format!("{TOKENS}/{}", segment(&token_id));
            if output::refuse_unconfirmed(yes, &format!("delete token {token_id}"))? {
                let v = api.get(&path, &[]).await?;
                let t = &v["token_info"];
                output::ask(&format!(
                    "Delete token {token_id} (comment \"{}\", owner id {}, created by {})? Whoever \
                     uses it is refused at once. This cannot be undone.",
                    cell(&t["comment"]),
                    cell(&t["owner_id"]),
                    cell(&t["created_by_username"])
                ))?;
            }
            let v = api.delete(&path).await?;
            if out == Output::Json {
                output::json(&v);
            } else {
                println!("Deleted token {token_id}.");
            }
            Ok(())
        }
    }
}
