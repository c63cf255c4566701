//! `patchbay partners list|show` and `patchbay connect`: the tiles and a click on one.

use super::output::{self, Spinner, cell, fields, grants, yes_no};
use super::{Api, Failure, Output, PARTNER_CONNECT, Result, connections, segment};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum PartnersCommand {
    /// List the partner tiles and which are connected.
    #[command(after_help = "Example:\n  patchbay partners list")]
    List,
    /// Show a partner and what connecting it would create and grant.
    #[command(after_help = "Example:\n  patchbay partners show dbt-cloud")]
    Show {
        /// The partner's id, e.g. dbt-cloud (see `patchbay partners list`).
        partner: String,
    },
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The partner's id, e.g. dbt-cloud (see `patchbay partners list`).
    partner: String,
    /// The catalog the partner uses: hive_metastore, or a Unity Catalog catalog you own.
    #[arg(long)]
    catalog: Option<String>,
    /// A schema the partner may read (repeat, or separate with commas); read partners need one.
    #[arg(long = "schema", value_name = "SCHEMA", value_delimiter = ',')]
    schemas: Vec<String>,
    /// The id of an existing SQL warehouse to use instead of creating one.
    #[arg(long, value_name = "ID")]
    warehouse: Option<String>,
    /// Show what would be created and granted, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where to save a desktop tool's connection file (default: its own name, in the
    /// current directory).
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
}

pub async fn run(api: &Api, out: Output, command: PartnersCommand) -> Result<()> {
    match command {
        PartnersCommand::List => {
            let v = api.get(&format!("{PARTNER_CONNECT}/partners"), &[]).await?;
            let headers = ["ID", "NAME", "CATEGORY", "PROFILE", "UNITY CATALOG", "CONNECTION"];
            output::list(out, &v, "partners", &headers, "No partners.", |p| {
                let connection = match (&p["connected"], &p["connection_state"]) {
                    (Value::Bool(true), Value::String(state)) => state.clone(),
                    (Value::Bool(true), _) => "connected".into(),
                    _ => "-".into(),
                };
                vec![
                    cell(&p["id"]),
                    cell(&p["name"]),
                    cell(&p["category"]),
                    cell(&p["profile"]),
                    yes_no(&p["supports_unity_catalog"]),
                    connection,
                ]
            });
            Ok(())
        }
        PartnersCommand::Show { partner } => {
            let v =
                api.get(&format!("{PARTNER_CONNECT}/partners/{}", segment(&partner)), &[]).await?;
            if out == Output::Json {
                output::json(&v);
                return Ok(());
            }
            print!("{}", show(&v["partner"]));
            Ok(())
        }
    }
}

fn show(p: &Value) -> String {
    let connection = match (&p["connected"], &p["connection_state"]) {
        (Value::Bool(true), Value::String(state)) => state.clone(),
        (Value::Bool(true), _) => "connected".into(),
        _ => "not connected".into(),
    };
    let endpoint = match (&p["endpoint_configured"], p["hostnames"].as_array()) {
        (Value::Bool(true), Some(hosts)) if !hosts.is_empty() => {
            format!("configured (redirects to {})", cell(&p["hostnames"]))
        }
        (Value::Bool(true), _) => "configured".into(),
        (Value::Bool(false), _) if p["provisions"] == "connection_file" => {
            "not needed (a desktop tool: connect downloads a connection file)".into()
        }
        (Value::Bool(false), _) => {
            "not configured: an admin sets it before anyone can connect".into()
        }
        _ => "-".into(),
    };
    let mut text = format!("{} ({})\n", cell(&p["name"]), cell(&p["id"]));
    text.push_str(&fields(&[
        ("Category", cell(&p["category"])),
        ("Profile", cell(&p["profile"])),
        ("Provisions", cell(&p["provisions"])),
        ("Unity Catalog", yes_no(&p["supports_unity_catalog"])),
        ("Sign in through Partner Connect", yes_no(&p["sign_in_through_partner_connect"])),
        ("Built in", yes_no(&p["builtin"])),
        ("Endpoint", endpoint),
        ("Connection", connection),
    ]));
    let w = &p["would_create"];
    if w.is_object() {
        text.push_str("Connecting would create:\n");
        text.push_str(&fields(&[
            ("Service principal", none_if_null(&w["service_principal"])),
            ("Entitlements", none_if_null(&w["entitlements"])),
            ("Token permission", none_if_null(&w["token_permission"])),
            ("Warehouse permission", none_if_null(&w["warehouse_permission"])),
            ("Compute", compute(&w["compute"])),
            ("Chooses schemas", yes_no(&w["chooses_schemas"])),
            ("Unity Catalog grants", grants(&w["unity_catalog_grants"])),
            ("Hive metastore grants", grants(&w["hive_metastore_grants"])),
        ]));
    }
    text
}

fn none_if_null(v: &Value) -> String {
    match cell(v).as_str() {
        "-" => "none".into(),
        s => s.to_owned(),
    }
}

/// The compute of a profile (`would_create`) or of a plan, in words.
fn compute(v: &Value) -> String {
    let Some(obj) = v.as_object() else {
        return "none".into();
    };
    let name = |k: &str| obj.get(k).map(cell);
    if let Some(n) = name("new_warehouse") {
        return format!("a new SQL warehouse {n}");
    }
    if let Some(n) = name("selected_warehouse_or_new") {
        return format!("the SQL warehouse you select (--warehouse), or a new one {n}");
    }
    if let Some(n) = name("new_cluster") {
        return format!("a new cluster {n}");
    }
    if let Some(n) = name("connection_file") {
        return format!("a connection file {n}");
    }
    if let Some(n) = name("create_warehouse") {
        let mut s = format!("create SQL warehouse {n}");
        if let (Some(size), Some(stop)) = (obj.get("cluster_size"), obj.get("auto_stop_mins")) {
            s.push_str(&format!(" ({}, auto-stop {} min)", cell(size), cell(stop)));
        }
        return s;
    }
    if let Some(id) = name("use_warehouse") {
        return format!("use SQL warehouse {id}");
    }
    if let Some(n) = name("create_cluster") {
        return format!("create cluster {n}");
    }
    v.to_string()
}

pub async fn connect(api: &Api, out: Output, args: ConnectArgs) -> Result<()> {
    let mut body = Map::new();
    if let Some(c) = &args.catalog {
        body.insert("catalog_name".into(), json!(c));
    }
    let schemas: Vec<&str> =
        args.schemas.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    if !schemas.is_empty() {
        body.insert("schemas".into(), json!(schemas));
    }
    if let Some(w) = &args.warehouse {
        body.insert("warehouse_id".into(), json!(w));
    }
    if args.dry_run {
        body.insert("dry_run".into(), json!(true));
    }
    let path = format!("{PARTNER_CONNECT}/partners/{}/connect", segment(&args.partner));
    let v = {
        let _spinner = Spinner::start(&if args.dry_run {
            format!("Planning a connection to {}…", args.partner)
        } else {
            format!("Connecting to {}…", args.partner)
        });
        api.post(&path, &Value::Object(body)).await?
    };

    if let Some(file) = v.get("connection_file") {
        return save_connection_file(out, &v, file, args.file);
    }
    if out == Output::Json {
        output::json(&v);
    }
    if let Some(plan) = v.get("plan") {
        if out == Output::Text {
            print!("{}", plan_text(&args.partner, plan));
        }
        return Ok(());
    }
    let connection = &v["connection"];
    if connection.is_null() {
        // The partner did not set the connection up: nothing was kept.
        if out == Output::Text {
            print!("{}", fields(&statuses(&v)));
            // The message goes to stderr with the exit code.
            print!("{}", next_steps(&v, false));
        }
        return Err(Failure::Api(match v["message"].as_str() {
            Some(m) => m.to_owned(),
            None => format!("{} did not set up the connection; nothing was kept", args.partner),
        }));
    }
    if out == Output::Text {
        println!(
            "{}: connection {}",
            connection["partner_name"].as_str().unwrap_or(&args.partner),
            cell(&connection["state"])
        );
        let mut pairs = connections::details(connection);
        pairs.extend(statuses(&v));
        print!("{}", fields(&pairs));
        print!("{}", next_steps(&v, true));
    }
    Ok(())
}

/// The user's and the organization's standing at the partner.
fn statuses(v: &Value) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    if let Some(status) = v["user_status"].as_str() {
        pairs.push(("User at the partner", status.to_owned()));
    }
    if let Some(status) = v["account_status"].as_str() {
        pairs.push(("Partner account", status.to_owned()));
    }
    pairs
}

/// Where the partner sends the user, and what it said.
fn next_steps(v: &Value, with_message: bool) -> String {
    let mut text = String::new();
    if let Some(m) = v["message"].as_str().filter(|m| with_message && !m.is_empty()) {
        text.push_str(m);
        text.push('\n');
    }
    if let Some(m) = v["partner_message"].as_str().filter(|m| !m.is_empty()) {
        text.push_str(&format!("The partner says: {m}\n"));
    }
    if let Some(uri) = v["redirect_uri"].as_str().filter(|u| !u.is_empty()) {
        match v["redirect_value"].as_str() {
            Some(what) if !what.is_empty() && what != "not_applicable" => {
                text.push_str(&format!("Next: open {uri} ({what})\n"))
            }
            _ => text.push_str(&format!("Next: open {uri}\n")),
        }
    }
    text
}

fn plan_text(partner: &str, plan: &Value) -> String {
    let mut pairs = Vec::new();
    match plan["service_principal"].as_object() {
        Some(sp) => {
            pairs.push(("Service principal", cell(&sp["display_name"])));
            pairs.push(("Entitlements", none_if_null(&sp["entitlements"])));
            pairs.push(("Token permission", none_if_null(&sp["token_permission"])));
        }
        None => {
            pairs.push(("Service principal", "none (the partner uses the connecting user)".into()))
        }
    }
    let token = &plan["token"];
    if token.is_object() {
        pairs.push((
            "Token",
            format!(
                "owned by {}, comment \"{}\", expires {}, {}",
                cell(&token["owner"]),
                cell(&token["comment"]),
                cell(&token["expires"]),
                if token["readable"] == json!(false) {
                    "nobody can read it back"
                } else {
                    "readable"
                }
            ),
        ));
    }
    pairs.push(("Compute", compute(&plan["compute"])));
    pairs.push(("Warehouse permission", none_if_null(&plan["warehouse_permission"])));
    pairs.push(("Catalog", cell(&plan["catalog_name"])));
    pairs.push(("Schemas", cell(&plan["schemas"])));
    pairs.push(("Grants", grants(&plan["grants"])));
    pairs.push(("Partner endpoint", cell(&plan["partner_endpoint"])));
    format!(
        "Dry run: connecting {} would\n{}Nothing was changed.\n",
        plan["partner_id"].as_str().unwrap_or(partner),
        fields(&pairs)
    )
}

/// A desktop tool's answer: a connection file (no token in it), saved without overwriting.
fn save_connection_file(out: Output, v: &Value, file: &Value, path: Option<PathBuf>) -> Result<()> {
    let content = file["content"].as_str().unwrap_or_default();
    let suggested = file["file_name"]
        .as_str()
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "connection.json".into());
    if out == Output::Json && path.is_none() {
        output::json(v);
        return Ok(());
    }
    let path = path.unwrap_or_else(|| PathBuf::from(&suggested));
    let mut f =
        std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| {
            Failure::Usage(format!(
                "cannot create {}: {e}; choose another path with --file",
                path.display()
            ))
        })?;
    std::io::Write::write_all(&mut f, content.as_bytes())
        .map_err(|e| Failure::Api(format!("cannot write {}: {e}", path.display())))?;
    if out == Output::Json {
        output::json(v);
    } else {
        println!(
            "Saved the connection file {} ({}). It holds no token: sign in with your own.",
            path.display(),
            cell(&file["content_type"])
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_reads_as_sentences() {
        let plan = json!({
            "partner_id": "dbt-cloud",
            "service_principal": {"display_name": "DBT_CLOUD_USER", "entitlements": ["workspace-access"], "token_permission": "CAN_USE"},
            "token": {"owner": "DBT_CLOUD_USER", "comment": "Partner Connect", "expires": "never", "readable": false},
            "compute": {"create_warehouse": "DBT_CLOUD_ENDPOINT", "cluster_size": "2X-Small", "auto_stop_mins": 10},
            "warehouse_permission": "CAN_USE",
            "catalog_name": "hive_metastore",
            "schemas": ["default"],
            "grants": [{"securable_type": "schema", "full_name": "hive_metastore.default", "privileges": ["USAGE", "READ_METADATA"]}],
            "partner_endpoint": null
        });
        let text = plan_text("dbt-cloud", &plan);
        assert!(text.starts_with("Dry run: connecting dbt-cloud would\n"), "{text}");
        assert!(text.contains("Compute               create SQL warehouse DBT_CLOUD_ENDPOINT (2X-Small, auto-stop 10 min)"), "{text}");
        assert!(text.contains("USAGE, READ_METADATA on schema hive_metastore.default"), "{text}");
        assert!(text.ends_with("Nothing was changed.\n"));
    }
}
