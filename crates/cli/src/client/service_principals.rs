//! `patchbay service-principals list|delete`: the admin guide's SCIM calls; and
//! `service-principals secrets create|list|delete`: their OAuth secrets.

use super::output::{self, cell};
use super::{Api, Failure, Output, Result, SCIM, segment};
use clap::Subcommand;
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum ServicePrincipalsCommand {
    /// List service principals: id, application id and display name.
    #[command(
        after_help = "Examples:\n  patchbay service-principals list\n  patchbay service-principals list --filter 'displayName eq \"FIVETRAN_USER\"'"
    )]
    List {
        /// A SCIM filter, e.g. 'displayName sw FIVE' or 'applicationId eq "…"'.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Delete a service principal by SCIM id or application id; its tokens die with it, and a
    /// partner connection that uses it stops working (it shows as BROKEN). Cannot be undone.
    #[command(
        after_help = "Examples:\n  patchbay service-principals delete 123456a7-8901-2b3c-45de-f678a901b2c3\n  patchbay service-principals delete 7535194597985784 --yes\n\n\
                            Without --yes it asks on a terminal, and refuses (exit 2) when standard input is not one."
    )]
    Delete {
        /// The SCIM id or the application id.
        id: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// A service principal's OAuth secrets: what it exchanges for access tokens
    /// (`auth_type="oauth-m2m"` in the SDKs).
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create a secret; its value is printed once, on standard output.
    #[command(
        after_help = "Examples:\n  patchbay service-principals secrets create 7535194597985784\n  patchbay service-principals secrets create 123456a7-8901-2b3c-45de-f678a901b2c3 --lifetime 31536000s"
    )]
    Create {
        /// The SCIM id or the application id.
        id: String,
        /// How long the secret lives, in seconds followed by s (default 730 days).
        #[arg(long)]
        lifetime: Option<String>,
    },
    /// List the secrets: id, status, creation and expiry. Never a value.
    #[command(
        after_help = "Examples:\n  patchbay service-principals secrets list 7535194597985784"
    )]
    List {
        /// The SCIM id or the application id.
        id: String,
    },
    /// Delete a secret; the access tokens it was exchanged for stop working at once.
    #[command(
        after_help = "Examples:\n  patchbay service-principals secrets delete 7535194597985784 0f1e2d3c4b5a69788796a5b4c3d2e1f0 --yes"
    )]
    Delete {
        /// The SCIM id or the application id.
        id: String,
        /// The secret's id, as `secrets list` shows it.
        secret_id: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// A page size well under the server's limit, so that large workspaces page.
const PAGE: usize = 1000;

pub async fn run(api: &Api, out: Output, command: ServicePrincipalsCommand) -> Result<()> {
    match command {
        ServicePrincipalsCommand::List { filter } => {
            let all = list(api, filter.as_deref()).await?;
            let headers = ["ID", "APPLICATION ID", "DISPLAY NAME", "ACTIVE"];
            output::list(out, &all, "Resources", &headers, "No service principals.", |sp| {
                vec![
                    cell(&sp["id"]),
                    cell(&sp["applicationId"]),
                    cell(&sp["displayName"]),
                    output::yes_no(&sp["active"]),
                ]
            });
            Ok(())
        }
        ServicePrincipalsCommand::Delete { id, yes } => {
            let path = format!("{SCIM}/ServicePrincipals/{}", segment(&id));
            if output::refuse_unconfirmed(yes, &format!("delete service principal {id}"))? {
                let sp = api.get(&path, &[]).await?;
                output::ask(&format!(
                    "Delete service principal {} (id {}, application id {})? Its tokens are deleted \
                     with it, and a partner connection that uses it stops working. This cannot be undone.",
                    cell(&sp["displayName"]),
                    cell(&sp["id"]),
                    cell(&sp["applicationId"])
                ))?;
            }
            let v = api.delete(&path).await?;
            if out == Output::Json {
                output::json(&v);
            } else {
                println!("Deleted service principal {id}.");
            }
            Ok(())
        }
        ServicePrincipalsCommand::Secrets { command } => secrets(api, out, command).await,
    }
}

fn secrets_path(scim_id: &str) -> String {
    format!("/api/2.0/accounts/servicePrincipals/{}/credentials/secrets", segment(scim_id))
}

/// The SCIM id and application id of a service principal named by either.
async fn resolve(api: &Api, id: &str) -> Result<(String, String)> {
    let sp = if id.bytes().all(|b| b.is_ascii_digit()) {
        api.get(&format!("{SCIM}/ServicePrincipals/{}", segment(id)), &[]).await?
    } else {
        let filter = format!("applicationId eq \"{}\"", id.replace('"', ""));
        let found = list(api, Some(&filter)).await?;
        found["Resources"]
            .get(0)
            .cloned()
            .ok_or_else(|| Failure::NotFound(format!("No service principal {id}.")))?
    };
    Ok((cell(&sp["id"]), cell(&sp["applicationId"])))
}

async fn secrets(api: &Api, out: Output, command: SecretsCommand) -> Result<()> {
    match command {
        SecretsCommand::Create { id, lifetime } => {
            let (scim_id, application_id) = resolve(api, &id).await?;
            let body = match lifetime {
                Some(l) => json!({"lifetime": l}),
                None => json!({}),
            };
            let v = api.post(&secrets_path(&scim_id), &body).await?;
            if out == Output::Json {
                output::json(&v);
            } else {
                println!("{}", cell(&v["secret"]));
            }
            eprintln!(
                "patchbay: created secret {} for client id {application_id} (expires {}). Its value \
                 is shown only now: store it safely, nobody can read it back.",
                cell(&v["id"]),
                cell(&v["expire_time"])
            );
            Ok(())
        }
        SecretsCommand::List { id } => {
            let (scim_id, _) = resolve(api, &id).await?;
            let v = api.get(&secrets_path(&scim_id), &[]).await?;
            let headers = ["SECRET ID", "STATUS", "CREATED", "EXPIRES"];
            output::list(out, &v, "secrets", &headers, "No secrets.", |s| {
                vec![
                    cell(&s["id"]),
                    cell(&s["status"]),
                    cell(&s["create_time"]),
                    cell(&s["expire_time"]),
                ]
            });
            Ok(())
        }
        SecretsCommand::Delete { id, secret_id, yes } => {
            if output::refuse_unconfirmed(yes, &format!("delete secret {secret_id}"))? {
                output::ask(&format!(
                    "Delete secret {secret_id} of service principal {id}? Whoever uses it, and \
                     every access token it was exchanged for, is refused at once. This cannot be undone."
                ))?;
            }
            let (scim_id, _) = resolve(api, &id).await?;
            let v =
                api.delete(&format!("{}/{}", secrets_path(&scim_id), segment(&secret_id))).await?;
            if out == Output::Json {
                output::json(&v);
            } else {
                println!("Deleted secret {secret_id}.");
            }
            Ok(())
        }
    }
}

/// Every page of the list, as one SCIM ListResponse.
async fn list(api: &Api, filter: Option<&str>) -> Result<Value> {
    let mut resources: Vec<Value> = Vec::new();
    let mut first: Option<Value> = None;
    loop {
        let mut query =
            vec![("startIndex", (resources.len() + 1).to_string()), ("count", PAGE.to_string())];
        if let Some(f) = filter {
            query.push(("filter", f.to_owned()));
        }
        let mut page = api.get(&format!("{SCIM}/ServicePrincipals"), &query).await?;
        let got = match page.get_mut("Resources").map(Value::take) {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        };
        let total = page["totalResults"].as_u64().unwrap_or(0) as usize;
        let n = got.len();
        resources.extend(got);
        first.get_or_insert(page);
        if n == 0 || resources.len() >= total {
            break;
        }
    }
    let mut all = first.unwrap_or_else(|| json!({}));
    all["totalResults"] = json!(resources.len());
    all["startIndex"] = json!(1);
    all["itemsPerPage"] = json!(resources.len());
    all["Resources"] = Value::Array(resources);
    Ok(all)
}
