//! `patchbay connections list|show|delete|rotate-token`: what each partner connection uses.

use super::output::{self, Spinner, cell, fields, grants, time_ms};
use super::{Api, Output, PARTNER_CONNECT, Result, segment};
use clap::Subcommand;
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// List the workspace's connections and their state (CONNECTED, BROKEN, …).
    #[command(after_help = "Example:\n  patchbay connections list")]
    List,
    /// Show one connection: its service principal, token id, compute and grants, and why it
    /// is broken if it is.
    #[command(after_help = "Example:\n  patchbay connections show dbt-cloud")]
    Show {
        /// The partner's id, e.g. dbt-cloud.
        partner: String,
    },
    /// Delete a connection (reset the tile): its service principal and tokens, the compute it
    /// created, then tell the partner. The partner account stays. Cannot be undone.
    #[command(
        after_help = "Examples:\n  patchbay connections delete dbt-cloud\n  patchbay connections delete dbt-cloud --yes\n\n\
                            Without --yes it asks on a terminal, and refuses (exit 2) when standard input is not one."
    )]
    Delete {
        /// The partner's id, e.g. dbt-cloud.
        partner: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Give the connection's service principal a new token and hand it to the partner; the
    /// old token is revoked once the partner has the new one.
    ///
    /// A partner that cannot receive tokens automatically gets none: the new value is printed
    /// once for you to enter at the partner, and the old token stays until you revoke it with
    /// --revoke-token-id.
    #[command(
        after_help = "Examples:\n  patchbay connections rotate-token dbt-cloud\n  patchbay connections rotate-token dbt-cloud --revoke-token-id 5684c955…816c"
    )]
    RotateToken {
        /// The partner's id, e.g. dbt-cloud.
        partner: String,
        /// Finish a manual rotation: revoke the old token once the partner uses the new one.
        #[arg(long, value_name = "TOKEN_ID")]
        revoke_token_id: Option<String>,
    },
}

pub async fn run(api: &Api, out: Output, command: ConnectionsCommand) -> Result<()> {
    match command {
        ConnectionsCommand::List => {
            let v = api.get(&format!("{PARTNER_CONNECT}/connections"), &[]).await?;
            let headers = [
                "PARTNER",
                "STATE",
                "SERVICE PRINCIPAL",
                "COMPUTE",
                "CATALOG",
                "CREATED BY",
                "CREATED",
            ];
            output::list(out, &v, "connections", &headers, "No connections.", |c| {
                vec![
                    cell(&c["partner_id"]),
                    cell(&c["state"]),
                    cell(&c["service_principal"]["display_name"]),
                    compute(c),
                    cell(&c["catalog_name"]),
                    cell(&c["created_by"]),
                    time_ms(&c["created_at"]),
                ]
            });
            Ok(())
        }
        ConnectionsCommand::Show { partner } => {
            let v = api.get(&connection_path(&partner), &[]).await?;
            if out == Output::Json {
                output::json(&v);
                return Ok(());
            }
            let c = &v["connection"];
            println!(
                "{} ({})",
                c["partner_name"].as_str().unwrap_or(&partner),
                cell(&c["partner_id"])
            );
            print!("{}", fields(&details(c)));
            Ok(())
        }
        ConnectionsCommand::Delete { partner, yes } => {
            let what = format!("delete the connection to {partner}");
            if output::refuse_unconfirmed(yes, &what)? {
                let v = api.get(&connection_path(&partner), &[]).await?;
                output::ask(&format!(
                    "Delete the connection to {}? {} This cannot be undone.",
                    v["connection"]["partner_name"].as_str().unwrap_or(&partner),
                    consequences(&v["connection"])
                ))?;
            }
            let v = {
                let _spinner = Spinner::start(&format!("Deleting the connection to {partner}…"));
                api.delete(&connection_path(&partner)).await?
            };
            if out == Output::Json {
                output::json(&v);
                return Ok(());
            }
            let d = &v["deleted"];
            let mut removed = Vec::new();
            if let Some(sp) = d["service_principal"].as_str() {
                removed.push(format!("service principal {sp} and its tokens"));
            }
            if let Some(w) = d["warehouse_id"].as_str() {
                removed.push(format!("SQL warehouse {w}"));
            }
            if let Some(c) = d["cluster_id"].as_str() {
                removed.push(format!("cluster {c}"));
            }
            println!("Deleted the connection to {partner}.");
            let mut pairs = vec![(
                "Removed",
                if removed.is_empty() { "nothing else".into() } else { removed.join("\n") },
            )];
            pairs.push(("Partner", partner_status(&v["partner_status"])));
            print!("{}", fields(&pairs));
            Ok(())
        }
        ConnectionsCommand::RotateToken { partner, revoke_token_id } => {
            let body = match &revoke_token_id {
                Some(id) => json!({"revoke_token_id": id}),
                None => json!({}),
            };
            let v = {
                let _spinner = Spinner::start(&format!("Rotating the token of {partner}…"));
                api.post(&format!("{}/rotate-token", connection_path(&partner)), &body).await?
            };
            if out == Output::Json {
                output::json(&v);
                return Ok(());
            }
            if let Some(old) = v["revoked_token_id"].as_str().filter(|_| revoke_token_id.is_some())
            {
                println!("Revoked the old token {old}.");
                return Ok(());
            }
            match v["token_value"].as_str() {
                Some(value) => {
                    // Only the value on stdout, so that `$(…)` captures it.
                    println!("{value}");
                    eprintln!(
                        "patchbay: new token {} for {partner}; its value above is shown only now: \
                         enter it in the partner's settings.",
                        cell(&v["token_id"])
                    );
                    if let Some(old) = v["old_token_id"].as_str() {
                        eprintln!(
                            "patchbay: the old token {old} still works; once the partner uses the new one, run\n  \
                             patchbay connections rotate-token {partner} --revoke-token-id {old}"
                        );
                    }
                }
                None => {
                    println!("Rotated the token of {partner}.");
                    let mut pairs = vec![
                        ("New token", cell(&v["token_id"])),
                        ("Delivered to the partner", output::yes_no(&v["delivered"])),
                    ];
                    if let Some(old) = v["revoked_token_id"].as_str() {
                        pairs.push(("Revoked", old.to_owned()));
                    }
                    print!("{}", fields(&pairs));
                }
            }
            Ok(())
        }
    }
}

fn connection_path(partner: &str) -> String {
    format!("{PARTNER_CONNECT}/connections/{}", segment(partner))
}

/// The connection's compute, short.
fn compute(c: &Value) -> String {
    match (c["warehouse_id"].as_str(), c["cluster_id"].as_str()) {
        (Some(w), _) => format!("warehouse {w}"),
        (None, Some(id)) => format!("cluster {id}"),
        _ => "-".into(),
    }
}

/// What a delete would remove, in a sentence.
fn consequences(c: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(sp) = c["service_principal"]["display_name"].as_str() {
        parts.push(format!("the service principal {sp} and its tokens"));
    }
    if let (Some(w), Some(true)) =
        (c["warehouse_id"].as_str(), c["warehouse_created_by_connection"].as_bool())
    {
        parts.push(format!("the SQL warehouse {w}"));
    }
    if let Some(id) = c["cluster_id"].as_str() {
        parts.push(format!("the cluster {id}"));
    }
    if parts.is_empty() {
        "This clears the tile and tells the partner; the partner account stays.".into()
    } else {
        format!(
            "This deletes {}, clears the tile and tells the partner; the partner account stays.",
            parts.join(", ")
        )
    }
}

fn partner_status(v: &Value) -> String {
    match v.as_str() {
        Some("not_notified") => "not notified (it never confirmed the connection)".into(),
        Some("queued") => "notification queued; patchbay retries until the partner confirms".into(),
        Some("no_endpoint") => "not notified (no delete-connection endpoint)".into(),
        Some("connection_not_found") => "had already deleted the connection".into(),
        Some(s) if s.starts_with("failed") => format!("{s}; patchbay retries"),
        Some(s) => format!("notified ({s})"),
        None => cell(v),
    }
}

/// A connection's details as label/value pairs.
pub fn details(c: &Value) -> Vec<(&'static str, String)> {
    let mut pairs = vec![("State", cell(&c["state"]))];
    if let Some(reasons) = c["reasons"].as_array().filter(|r| !r.is_empty()) {
        pairs.push(("Why broken", reasons.iter().map(cell).collect::<Vec<_>>().join("\n")));
    }
    if let Some(m) = c["message"].as_str() {
        pairs.push(("Message", m.to_owned()));
    }
    let sp = &c["service_principal"];
    if sp.is_object() {
        let mut s = cell(&sp["display_name"]);
        let mut ids = Vec::new();
        if let Some(id) = sp["id"].as_str() {
            ids.push(format!("id {id}"));
        } else {
            ids.push("deleted".into());
        }
        if let Some(app) = sp["application_id"].as_str() {
            ids.push(format!("application id {app}"));
        }
        s.push_str(&format!(" ({})", ids.join(", ")));
        pairs.push(("Service principal", s));
    }
    match c["oauth_secret"].as_object() {
        // An AUTH_OAUTH_M2M partner holds an OAuth secret: its id and dates, never its value.
        Some(secret) => pairs.push((
            "OAuth secret",
            format!(
                "{} (created {}, expires {})",
                cell(&secret["id"]),
                time_ms(&secret["create_time"]),
                time_ms(&secret["expire_time"])
            ),
        )),
        None => pairs.push(("Token id", cell(&c["token_id"]))),
    }
    if let Some(app) = c["oauth_u2m_app"].as_object() {
        // An AUTH_OAUTH_U2M partner's app: a public client, no secret.
        let redirect = app
            .get("redirect_uri")
            .and_then(Value::as_str)
            .unwrap_or("none (users cannot authorize it)");
        pairs.push(("OAuth U2M app", format!("{} (redirect {redirect})", cell(&app["client_id"]))));
    }
    if let Some(w) = c["warehouse_id"].as_str() {
        let how = match c["warehouse_created_by_connection"].as_bool() {
            Some(true) => " (created for this connection)",
            Some(false) => " (selected; kept when the connection is deleted)",
            None => "",
        };
        pairs.push(("SQL warehouse", format!("{w}{how}")));
    }
    if let Some(id) = c["cluster_id"].as_str() {
        pairs.push(("Cluster", id.to_owned()));
    }
    pairs.push(("Catalog", cell(&c["catalog_name"])));
    pairs.push(("Schemas", cell(&c["schemas"])));
    pairs.push(("Grants", grants(&c["grants"])));
    pairs.push(("Created by", cell(&c["created_by"])));
    pairs.push(("Created", time_ms(&c["created_at"])));
    if let Some(id) = c["partner_connection_id"].as_str() {
        pairs.push(("Partner connection id", id.to_owned()));
    }
    if let Some(admin) = c["partner_account_administrator"].as_str() {
        pairs.push(("Partner account administrator", admin.to_owned()));
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_connection_says_why() {
        let c = json!({
            "partner_id": "rivery", "state": "BROKEN",
            "reasons": ["The service principal RIVERY_USER was deleted, and with it the partner's token."],
            "service_principal": {"id": null, "application_id": "a-b", "display_name": "RIVERY_USER"},
            "warehouse_id": "abc", "warehouse_created_by_connection": true,
            "grants": [], "schemas": [], "catalog_name": "hive_metastore"
        });
        let text = fields(&details(&c));
        assert!(text.contains("Why broken"), "{text}");
        assert!(text.contains("RIVERY_USER (deleted, application id a-b)"), "{text}");
        assert!(text.contains("abc (created for this connection)"), "{text}");
        assert_eq!(
            consequences(&c),
            "This deletes the service principal RIVERY_USER and its tokens, the SQL warehouse abc, \
             clears the tile and tells the partner; the partner account stays."
        );
    }
}
