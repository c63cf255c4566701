//! `patchbay service-principals list|delete`: the admin guide's SCIM calls.

use super::output::{self, Table, cell};
use super::{Api, Output, Result, SCIM, segment};
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
}

/// A page size well under the server's limit, so that large workspaces page.
const PAGE: usize = 1000;

pub async fn run(api: &Api, out: Output, command: ServicePrincipalsCommand) -> Result<()> {
    match command {
        ServicePrincipalsCommand::List { filter } => {
            let all = list(api, filter.as_deref()).await?;
            if out == Output::Json {
                output::json(&all);
                return Ok(());
            }
            let mut table = Table::new(&["ID", "APPLICATION ID", "DISPLAY NAME", "ACTIVE"]);
            for sp in all["Resources"].as_array().into_iter().flatten() {
                table.row(vec![
                    cell(&sp["id"]),
                    cell(&sp["applicationId"]),
                    cell(&sp["displayName"]),
                    output::yes_no(&sp["active"]),
                ]);
            }
            table.print_or("No service principals.");
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
    }
}

/// Every page of the list, as one SCIM ListResponse.
async fn list(api: &Api, filter: Option<&str>) -> Result<Value> {
    let mut resources: Vec<Value> = Vec::new();
    let mut first: Option<Value> = None;
    loop {
        let mut query = vec![
            ("startIndex", (resources.len() + 1).to_string()),
            ("count", PAGE.to_string()),
        ];
        if let Some(f) = filter {
            query.push(("filter", f.to_owned()));
        }
        let mut page = api
            .get(&format!("{SCIM}/ServicePrincipals"), &query)
            .await?;
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
