//! Whether the partner uses what a connect gives it: after the connect scenario, certify reads
//! the workspace's query history for the connection's principal on the connection's warehouse
//! (as the workspace admin) and reports how many statements ran, how many succeeded and how
//! many were refused. A partner that ran none is "not exercised": a warning, not a failure —
//! the protocol does not require a partner to start working before certify stops looking.

use crate::workspace::{Installation, SCIM, Workspace};
use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Once statements appear, the partner counts as done after this long without a new one.
const QUIET: Duration = Duration::from_secs(2);
/// How long a partner may keep running statements before certify counts what it has.
const LONGEST: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

/// What the partner did on its warehouse, from the workspace's query history.
#[derive(Debug, Clone, Serialize)]
pub struct WarehouseUsage {
    pub warehouse_id: String,
    /// Who the statements ran as: the service principal's application id, or the connecting
    /// user's name for a partner without one.
    pub principal: String,
    pub statements: usize,
    pub succeeded: usize,
    /// Failed for want of a privilege (`INSUFFICIENT_PERMISSIONS`, SQLSTATE 42501).
    pub refused: usize,
    /// Failed for any other reason.
    pub failed: usize,
    pub canceled: usize,
    /// Each statement, oldest first.
    pub queries: Vec<UsedStatement>,
}

/// One statement of the history.
#[derive(Debug, Clone, Serialize)]
pub struct UsedStatement {
    pub statement: String,
    /// `FINISHED`, `FAILED` or `CANCELED`.
    pub status: String,
    pub refused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl WarehouseUsage {
    /// Counts a principal's statements on a warehouse.
    pub fn tally(warehouse_id: &str, principal: &str, history: &[Value]) -> WarehouseUsage {
        let queries: Vec<UsedStatement> = history
            .iter()
            .map(|q| {
                let status = q["status"].as_str().unwrap_or_default().to_owned();
                let error = q["error_message"].as_str().map(str::to_owned);
                let refused = status == "FAILED"
                    && error.as_deref().is_some_and(|e| {
                        e.contains("INSUFFICIENT_PERMISSIONS") || e.contains("SQLSTATE: 42501")
                    });
                UsedStatement {
                    statement: q["query_text"].as_str().unwrap_or_default().to_owned(),
                    status,
                    refused,
                    error,
                }
            })
            .collect();
        let count = |f: &dyn Fn(&UsedStatement) -> bool| queries.iter().filter(|q| f(q)).count();
        WarehouseUsage {
            warehouse_id: warehouse_id.to_owned(),
            principal: principal.to_owned(),
            statements: queries.len(),
            succeeded: count(&|q| q.status == "FINISHED"),
            refused: count(&|q| q.refused),
            failed: count(&|q| q.status == "FAILED" && !q.refused),
            canceled: count(&|q| q.status == "CANCELED"),
            queries,
        }
    }

    /// One sentence for the reports.
    pub fn describe(&self) -> String {
        let mut counts =
            vec![format!("{} succeeded", self.succeeded), format!("{} refused", self.refused)];
        if self.failed > 0 {
            counts.push(format!("{} failed otherwise", self.failed));
        }
        if self.canceled > 0 {
            counts.push(format!("{} canceled", self.canceled));
        }
        format!(
            "SQL on the warehouse: the partner ran {} statement{} as {} on warehouse {}: {}",
            self.statements,
            if self.statements == 1 { "" } else { "s" },
            self.principal,
            self.warehouse_id,
            counts.join(", ")
        )
    }
}

/// What certify could see of the partner's use of its warehouse.
#[derive(Debug)]
pub enum Usage {
    /// certify's workspace runs no SQL, so there is nothing to see.
    NoEngine,
    /// The connection has no SQL warehouse (the profile gives a cluster, or a token only).
    NoWarehouse,
    Ran(WarehouseUsage),
    /// No statement within the wait.
    NotExercised {
        warehouse_id: String,
        principal: String,
        waited: Duration,
    },
}

impl Usage {
    /// The sentence for a note (`Ok`) or a warning (`Err`).
    pub fn describe(&self) -> Result<String, String> {
        match self {
            Usage::NoEngine => {
                Ok("SQL on the warehouse not checked: certify's workspace runs no SQL".to_owned())
            }
            Usage::NoWarehouse => {
                Ok("SQL on the warehouse: not applicable, the connection has no SQL warehouse"
                    .to_owned())
            }
            Usage::Ran(usage) => Ok(usage.describe()),
            Usage::NotExercised { warehouse_id, principal, waited } => Err(format!(
                "SQL on the warehouse not exercised: the partner ran no statement as {principal} \
                 on warehouse {warehouse_id} within {} s of the connect (--workload-wait gives \
                 it longer)",
                waited.as_secs()
            )),
        }
    }
}

/// Waits for the partner's statements on the connection's warehouse and counts them: until
/// none came within `wait`, or, once some did, until `QUIET` passed without another.
pub async fn observe(
    install: &Installation,
    ws: &Workspace,
    connection: &Value,
    wait: Duration,
) -> anyhow::Result<Usage> {
    if !install.runs_sql() {
        return Ok(Usage::NoEngine);
    }
    let Some(warehouse_id) = connection["warehouse_id"].as_str() else {
        return Ok(Usage::NoWarehouse);
    };
    // The statements run as the service principal, or, for a partner without one, as the
    // user who connected (the workspace's admin here), whose token it was given.
    let (principal_id, principal) = match connection["service_principal"]["id"].as_str() {
        Some(id) => (
            id.to_owned(),
            connection["service_principal"]["application_id"].as_str().unwrap_or(id).to_owned(),
        ),
        None => {
            let me = install.call("GET", &format!("{SCIM}/Me"), &ws.admin_token, None).await?;
            let id = me.body["id"]
                .as_str()
                .filter(|_| me.ok())
                .with_context(|| format!("cannot read the admin's own id: {}", me.message()))?;
            (id.to_owned(), ws.admin_email.clone())
        }
    };
    let started = Instant::now();
    let mut seen = 0;
    let mut last_new = started;
    loop {
        let history = install.queries(&ws.admin_token, &principal_id, warehouse_id).await?;
        let now = Instant::now();
        if history.len() != seen {
            seen = history.len();
            last_new = now;
        }
        let done = if seen == 0 {
            now.duration_since(started) >= wait
        } else {
            now.duration_since(last_new) >= QUIET || now.duration_since(started) >= wait + LONGEST
        };
        if done {
            return Ok(if seen == 0 {
                Usage::NotExercised {
                    warehouse_id: warehouse_id.to_owned(),
                    principal,
                    waited: wait,
                }
            } else {
                Usage::Ran(WarehouseUsage::tally(warehouse_id, &principal, &history))
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_are_told_from_other_failures() {
        let history = [
            json!({"query_text": "CREATE TABLE t (a INT)", "status": "FINISHED"}),
            json!({"query_text": "SELECT * FROM other", "status": "FAILED",
                   "error_message": "[INSUFFICIENT_PERMISSIONS] User does not have SELECT on Table 'other'. SQLSTATE: 42501"}),
            json!({"query_text": "SELECT * FROM nowhere", "status": "FAILED",
                   "error_message": "[TABLE_OR_VIEW_NOT_FOUND] The table or view `nowhere` cannot be found. SQLSTATE: 42P01"}),
            json!({"query_text": "SELECT sleep()", "status": "CANCELED"}),
        ];
        let usage = WarehouseUsage::tally("w1", "sp-1", &history);
        assert_eq!(
            (usage.statements, usage.succeeded, usage.refused, usage.failed, usage.canceled),
            (4, 1, 1, 1, 1)
        );
        assert!(usage.queries[1].refused && !usage.queries[2].refused);
        assert_eq!(
            usage.describe(),
            "SQL on the warehouse: the partner ran 4 statements as sp-1 on warehouse w1: \
             1 succeeded, 1 refused, 1 failed otherwise, 1 canceled"
        );
        let one = WarehouseUsage::tally("w1", "sp-1", &history[..1]);
        assert_eq!(
            one.describe(),
            "SQL on the warehouse: the partner ran 1 statement as sp-1 on warehouse w1: \
             1 succeeded, 0 refused"
        );
        let none = Usage::NotExercised {
            warehouse_id: "w1".into(),
            principal: "sp-1".into(),
            waited: Duration::from_secs(10),
        };
        assert!(none.describe().unwrap_err().contains("not exercised"));
    }
}
