//! `patchbay audit`: the audit trail, newest first, paged through up to `--limit` events.

use super::output::{self, Table, cell, time_ms};
use super::{Api, Output, PARTNER_CONNECT, Result};
use clap::Args;
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only events of this partner, e.g. dbt-cloud.
    #[arg(long)]
    partner: Option<String>,
    /// Only events by this user name or service principal.
    #[arg(long)]
    actor: Option<String>,
    /// At most this many events.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    limit: u32,
}

/// The server's largest page.
const PAGE: u32 = 1000;

pub async fn run(api: &Api, out: Output, args: AuditArgs) -> Result<()> {
    let mut events: Vec<Value> = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let want = (args.limit as usize - events.len()).min(PAGE as usize);
        let mut query = vec![("page_size", want.to_string())];
        if let Some(p) = &args.partner {
            query.push(("partner_id", p.clone()));
        }
        if let Some(a) = &args.actor {
            query.push(("actor", a.clone()));
        }
        if let Some(t) = &next {
            query.push(("page_token", t.clone()));
        }
        let mut page = api.get(&format!("{PARTNER_CONNECT}/audit"), &query).await?;
        if let Some(Value::Array(list)) = page.get_mut("events").map(Value::take) {
            events.extend(list);
        }
        next = page["next_page_token"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
        if next.is_none() || events.len() >= args.limit as usize {
            break;
        }
    }
    events.truncate(args.limit as usize);
    if out == Output::Json {
        let mut v = json!({"events": events});
        if let Some(t) = next {
            v["next_page_token"] = json!(t);
        }
        output::json(&v);
        return Ok(());
    }
    let mut table = Table::new(&["TIME", "ACTOR", "ACTION", "OBJECT", "PARTNER", "DETAIL"]);
    for e in &events {
        let detail = match &e["detail"] {
            Value::Object(m) if m.is_empty() => "-".into(),
            Value::Null => "-".into(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        table.row(vec![
            time_ms(&e["time"]),
            cell(&e["actor"]),
            cell(&e["action"]),
            format!("{} {}", cell(&e["object_type"]), cell(&e["object_id"])),
            cell(&e["partner_id"]),
            detail,
        ]);
    }
    table.print_or("No audit events.");
    if next.is_some() {
        eprintln!("patchbay: more events exist; raise --limit to see them.");
    }
    Ok(())
}
