//! What partner-sim does with a connection once it has one, as a real partner would: after a
//! first connect that carried a credential (a token, or an OAuth secret it exchanges) and a SQL
//! warehouse, it runs the workload of its kind in the background, through the Statement
//! Execution API of the workspace the request names, with exactly the credential and warehouse
//! it received. Every step is recorded — the statement, what should happen, what did, pass or
//! fail — for `/_sim/state` and the sim's page, so a demo shows what the profile's grants allow
//! and refuse.
//!
//! Names are qualified with the request's `catalog_name`; a connect without one (a partner
//! acting as the connecting user) works in the session's default catalog, as a client told
//! nothing more would.
//!
//! - **ingest** (Hevo, Rivery, …): a schema of its own in the connection's catalog, a table in
//!   it, rows inserted, read back and compared; then a read of a table it did not create (the
//!   operator names one, `probe_table`), which must be refused. Without `probe_table` that last
//!   step is reported "not probed": a table that does not exist would prove nothing.
//! - **read** (BI, data quality, …): the schemas it may see in the catalog (or the
//!   `database_name` it was given), the tables of each, ten rows of each table; then a table
//!   created in the first schema, which must be refused.

use super::{Credential, Sim, exchange};
use crate::protocol::{ConnectRequest, Secret};
use patchbay_core::markup::escape;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::time::Duration;

/// Which workload partner-sim runs after a connect (`workload` in its configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// By the request: `read` when it names a `database_name`, `ingest` otherwise.
    #[default]
    Auto,
    Ingest,
    Read,
    /// Run nothing.
    None,
}

/// The kind of workload a connection got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Ingest,
    Read,
}

/// Where a connection's workload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Not started, for the reason in `note`.
    NotRun,
    Running,
    /// Every step did what it should (a refusal not probed counts as neither).
    Passed,
    Failed,
}

/// What a step should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    Success,
    /// Fail with `PERMISSION_DENIED`: the principal's grants do not reach that far.
    Refusal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepResult {
    Pass,
    Fail,
    /// The refusal step had nothing honest to try (no `probe_table` configured).
    NotProbed,
}

/// One statement of a workload and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The statement sent; `None` when nothing was (a refusal not probed).
    pub statement: Option<String>,
    pub expected: Expected,
    /// What the workspace answered (`SUCCEEDED, 3 rows`, `FAILED PERMISSION_DENIED: …`,
    /// `HTTP 401 …`), or why nothing was sent.
    pub actual: String,
    pub result: StepResult,
}

/// A connection's workload: what ran on which warehouse, step by step.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadRun {
    pub kind: Option<Kind>,
    pub state: RunState,
    pub warehouse_id: Option<String>,
    /// The request's `catalog_name`; none: the workspace's default catalog.
    pub catalog: Option<String>,
    /// Why it did not run, or why it stopped before its last step.
    pub note: Option<String>,
    pub steps: Vec<Step>,
}

impl WorkloadRun {
    pub(super) fn not_run(why: String) -> WorkloadRun {
        WorkloadRun {
            kind: None,
            state: RunState::NotRun,
            warehouse_id: None,
            catalog: None,
            note: Some(why),
            steps: Vec::new(),
        }
    }

    pub(super) fn starting(plan: &Plan) -> WorkloadRun {
        WorkloadRun {
            kind: Some(plan.kind),
            state: RunState::Running,
            warehouse_id: Some(plan.warehouse_id.clone()),
            catalog: plan.catalog.clone(),
            note: None,
            steps: Vec::new(),
        }
    }
}

/// What a connection's workload will do, decided from the connect request alone.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    kind: Kind,
    workspace_url: String,
    warehouse_id: String,
    catalog: Option<String>,
    /// The request's `database_name`, read instead of the schemas listed.
    database: Option<String>,
    probe_table: Option<String>,
    /// Makes the names this connection creates its own.
    tag: String,
}

/// The plan for a connection's workload and the credential it runs with, or why there is
/// none.
pub(super) fn plan(
    setting: Workload,
    probe_table: Option<&str>,
    request: &ConnectRequest,
    credential: Option<&Credential>,
    connection_id: &str,
) -> Result<(Plan, Credential), String> {
    if setting == Workload::None {
        return Err("workload = \"none\" in partner-sim's configuration".into());
    }
    let Some(credential) = credential else {
        return Err("the connect carried no token and no OAuth secret".into());
    };
    let Some(warehouse_id) = request.http_path.as_deref().and_then(warehouse_of) else {
        return Err(
            "the connect carried no SQL warehouse (http_path /sql/1.0/warehouses/{id})".into()
        );
    };
    let catalog = request.catalog_name.clone().filter(|c| !c.is_empty());
    let database = request.database_name.clone().filter(|d| !d.is_empty());
    let kind = match setting {
        Workload::Ingest => Kind::Ingest,
        Workload::Read => Kind::Read,
        _ if database.is_some() => Kind::Read,
        _ => Kind::Ingest,
    };
    let plan = Plan {
        kind,
        workspace_url: request.workspace_url.trim_end_matches('/').to_owned(),
        warehouse_id,
        catalog,
        database,
        probe_table: probe_table.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned),
        tag: connection_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect::<String>()
            .to_ascii_lowercase(),
    };
    Ok((plan, credential.clone()))
}

/// The warehouse id of an `http_path` (`/sql/1.0/warehouses/{id}`, or the older `endpoints`).
fn warehouse_of(http_path: &str) -> Option<String> {
    let path = http_path.trim().trim_start_matches('/');
    let id = path
        .strip_prefix("sql/1.0/warehouses/")
        .or_else(|| path.strip_prefix("sql/1.0/endpoints/"))?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then(|| id.to_owned())
}

/// A name as a SQL identifier.
fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The workspace's answer to one statement.
enum Answer {
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Option<String>>>,
    },
    /// The statement ran and failed (`status.state` FAILED or CANCELED).
    Failed {
        code: String,
        message: String,
    },
    /// No statement answer at all: an HTTP error, or no answer. Nothing further will run.
    Unusable(String),
}

impl Answer {
    fn describe(&self) -> String {
        match self {
            Answer::Rows { rows, .. } => {
                format!("SUCCEEDED, {} row{}", rows.len(), if rows.len() == 1 { "" } else { "s" })
            }
            Answer::Failed { code, message } => format!("FAILED {code}: {message}"),
            Answer::Unusable(why) => why.clone(),
        }
    }

    /// The values of a result column, by name (or position when it has no such name).
    fn column(&self, name: &str, position: usize) -> Vec<String> {
        let Answer::Rows { columns, rows } = self else {
            return Vec::new();
        };
        let at = columns.iter().position(|c| c == name).unwrap_or(position);
        rows.iter().filter_map(|r| r.get(at).cloned().flatten()).collect()
    }
}

/// The workload stopped: the workspace gave no statement answer, or a step others depend on
/// failed.
struct Halt(String);

/// One connection's workload in progress.
struct Session<'a> {
    sim: &'a Sim,
    connection_id: &'a str,
    plan: &'a Plan,
    token: Secret,
}

/// Runs a connection's workload to its end, recording each step on the connection.
pub(super) async fn run(sim: Sim, connection_id: String, plan: Plan, credential: Credential) {
    let token = match credential {
        Credential::Token(token) => token,
        Credential::OAuth { client_id, secret } => {
            match exchange(&sim, &plan.workspace_url, &client_id, &secret).await {
                Ok(access) => access,
                Err(e) => {
                    finish(&sim, &connection_id, Some(format!("cannot sign in: {e}")));
                    return;
                }
            }
        }
    };
    let session = Session { sim: &sim, connection_id: &connection_id, plan: &plan, token };
    let outcome = match plan.kind {
        Kind::Ingest => session.ingest().await,
        Kind::Read => session.read().await,
    };
    finish(&sim, &connection_id, outcome.err().map(|Halt(why)| why));
}

/// Marks the workload done: passed when every step passed (or was not probed).
fn finish(sim: &Sim, connection_id: &str, note: Option<String>) {
    let mut state = sim.lock();
    if let Some(run) = state.connections.get_mut(connection_id).map(|c| &mut c.workload) {
        let failed = note.is_some() || run.steps.iter().any(|s| s.result == StepResult::Fail);
        run.state = if failed { RunState::Failed } else { RunState::Passed };
        if note.is_some() {
            run.note = note;
        }
    }
}

impl Session<'_> {
    fn record(&self, step: Step) {
        if let Some(c) = self.sim.lock().connections.get_mut(self.connection_id) {
            c.workload.steps.push(step);
        }
    }

    /// Sends one statement and records it, judged against `expected` and, for a success,
    /// `check` on its rows. The answer, and whether the step passed; `Halt` when the
    /// workspace gave no statement answer.
    async fn step(
        &self,
        statement: String,
        expected: Expected,
        check: impl FnOnce(&Answer) -> Result<(), String>,
    ) -> Result<(Answer, bool), Halt> {
        let answer = self.execute(&statement).await;
        let actual = answer.describe();
        let (passed, actual) = match (&answer, expected) {
            (Answer::Rows { .. }, Expected::Success) => match check(&answer) {
                Ok(()) => (true, actual),
                Err(why) => (false, format!("{actual}, but {why}")),
            },
            (Answer::Failed { code, .. }, Expected::Refusal) if code == "PERMISSION_DENIED" => {
                (true, actual)
            }
            (Answer::Rows { .. }, Expected::Refusal) => {
                (false, format!("{actual}: the principal's grants should not allow it"))
            }
            _ => (false, actual),
        };
        let halt = match &answer {
            Answer::Unusable(why) => {
                Some(Halt(format!("stopped: the workspace did not run a statement ({why})")))
            }
            _ => None,
        };
        self.record(Step {
            statement: Some(statement),
            expected,
            actual,
            result: if passed { StepResult::Pass } else { StepResult::Fail },
        });
        match halt {
            Some(h) => Err(h),
            None => Ok((answer, passed)),
        }
    }

    /// A step the next ones depend on: the workload stops when it fails.
    async fn must(&self, statement: String) -> Result<Answer, Halt> {
        match self.step(statement, Expected::Success, |_| Ok(())).await? {
            (answer, true) => Ok(answer),
            (_, false) => Err(Halt("stopped: a step the next ones need failed".into())),
        }
    }

    async fn ingest(&self) -> Result<(), Halt> {
        let schema = self.name(&[&format!("partner_sim_{}", self.plan.tag)]);
        let table = self.name(&[&format!("partner_sim_{}", self.plan.tag), "events"]);
        self.must(format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await?;
        self.must(format!("CREATE TABLE {table} (id BIGINT, kind STRING)")).await?;
        self.must(format!("INSERT INTO {table} VALUES (1, 'connect'), (2, 'sync'), (3, 'check')"))
            .await?;
        let written = [["1", "connect"], ["2", "sync"], ["3", "check"]];
        self.step(
            format!("SELECT id, kind FROM {table} ORDER BY id"),
            Expected::Success,
            |answer| {
                let Answer::Rows { rows, .. } = answer else {
                    return Ok(());
                };
                let same = rows.len() == written.len()
                    && rows.iter().zip(&written).all(|(got, want)| {
                        got.len() == want.len()
                            && got.iter().zip(want).all(|(g, w)| g.as_deref() == Some(*w))
                    });
                if same {
                    Ok(())
                } else {
                    Err(format!("the rows read back are not the rows written: {}", json!(rows)))
                }
            },
        )
        .await?;
        match &self.plan.probe_table {
            Some(other) => {
                self.step(format!("SELECT * FROM {other} LIMIT 1"), Expected::Refusal, |_| Ok(()))
                    .await?;
            }
            None => self.record(Step {
                statement: None,
                expected: Expected::Refusal,
                actual: "not probed: no probe_table is configured (a table of the workspace \
                         this partner did not create)"
                    .into(),
                result: StepResult::NotProbed,
            }),
        }
        Ok(())
    }

    async fn read(&self) -> Result<(), Halt> {
        /// Enough to show the grants at work, bounded for a workspace with many objects.
        const MAX_SCHEMAS: usize = 10;
        const MAX_TABLES: usize = 25;
        let schemas = match &self.plan.database {
            Some(database) => vec![database.clone()],
            None => {
                let (answer, _) = self
                    .step(
                        match &self.plan.catalog {
                            Some(catalog) => format!("SHOW SCHEMAS IN {}", quoted(catalog)),
                            None => "SHOW SCHEMAS".to_owned(),
                        },
                        Expected::Success,
                        |answer| {
                            if readable(answer.column("databaseName", 0)).is_empty() {
                                Err("it lists no schema to read".into())
                            } else {
                                Ok(())
                            }
                        },
                    )
                    .await?;
                readable(answer.column("databaseName", 0))
            }
        };
        let Some(first) = schemas.first() else {
            return Err(Halt("stopped: no schema to read".into()));
        };
        for schema in schemas.iter().take(MAX_SCHEMAS) {
            let (answer, _) = self
                .step(format!("SHOW TABLES IN {}", self.name(&[schema])), Expected::Success, |_| {
                    Ok(())
                })
                .await?;
            for table in answer.column("tableName", 1).iter().take(MAX_TABLES) {
                self.step(
                    format!("SELECT * FROM {} LIMIT 10", self.name(&[schema, table])),
                    Expected::Success,
                    |_| Ok(()),
                )
                .await?;
            }
        }
        self.step(
            format!(
                "CREATE TABLE {} (id INT)",
                self.name(&[first, &format!("partner_sim_probe_{}", self.plan.tag)])
            ),
            Expected::Refusal,
            |_| Ok(()),
        )
        .await?;
        Ok(())
    }

    /// A schema or table name, in the connection's catalog when the request named one.
    fn name(&self, parts: &[&str]) -> String {
        self.plan
            .catalog
            .iter()
            .map(String::as_str)
            .chain(parts.iter().copied())
            .map(quoted)
            .collect::<Vec<_>>()
            .join(".")
    }

    /// `POST /api/2.0/sql/statements`, waiting up to 30 s and cancelling beyond.
    async fn execute(&self, statement: &str) -> Answer {
        let url = format!("{}/api/2.0/sql/statements", self.plan.workspace_url);
        let body = json!({"warehouse_id": self.plan.warehouse_id, "statement": statement,
                          "wait_timeout": "30s", "on_wait_timeout": "CANCEL"});
        let sent = self
            .sim
            .http
            .post(&url)
            .bearer_auth(&self.token.0)
            .json(&body)
            .timeout(Duration::from_secs(45))
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Answer::Unusable(format!("no answer from the workspace: {e}")),
        };
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Answer::Unusable(format!(
                "HTTP {} {}: {}",
                status.as_u16(),
                body["error_code"].as_str().unwrap_or_default(),
                body["message"].as_str().unwrap_or_default()
            ));
        }
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        match body["status"]["state"].as_str() {
            Some("SUCCEEDED") => Answer::Rows {
                columns: body["manifest"]["schema"]["columns"]
                    .as_array()
                    .map(|cs| cs.iter().map(|c| text(&c["name"])).collect())
                    .unwrap_or_default(),
                rows: body["result"]["data_array"]
                    .as_array()
                    .map(|rows| {
                        rows.iter()
                            .map(|row| {
                                row.as_array()
                                    .map(|vs| {
                                        vs.iter().map(|v| v.as_str().map(str::to_owned)).collect()
                                    })
                                    .unwrap_or_default()
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            Some(state @ ("FAILED" | "CANCELED" | "CLOSED")) => Answer::Failed {
                code: body["status"]["error"]["error_code"].as_str().unwrap_or(state).to_owned(),
                message: text(&body["status"]["error"]["message"]),
            },
            other => Answer::Unusable(format!(
                "the statement is {} after 30 s",
                other.unwrap_or("in no known state")
            )),
        }
    }
}

/// The schemas worth reading: not the catalog's own `information_schema`.
fn readable(schemas: Vec<String>) -> Vec<String> {
    schemas.into_iter().filter(|s| !s.eq_ignore_ascii_case("information_schema")).collect()
}

/// A workload as a few lines of HTML for the sim's page; every value escaped.
pub(super) fn html(run: &WorkloadRun) -> String {
    let mut out = String::new();
    let kind = match run.kind {
        Some(Kind::Ingest) => "ingest",
        Some(Kind::Read) => "read",
        None => "none",
    };
    let state = match run.state {
        RunState::NotRun => "not run",
        RunState::Running => "running",
        RunState::Passed => "passed",
        RunState::Failed => "failed",
    };
    let _ = write!(out, "<p>workload: {kind}, <strong>{state}</strong>");
    if let Some(w) = &run.warehouse_id {
        let catalog = match &run.catalog {
            Some(c) => format!("catalog <code>{}</code>", escape(c)),
            None => "the default catalog".to_owned(),
        };
        let _ = write!(out, " — warehouse <code>{}</code>, {catalog}", escape(w));
    }
    if let Some(note) = &run.note {
        let _ = write!(out, " — {}", escape(note));
    }
    out.push_str("</p>\n");
    if run.steps.is_empty() {
        return out;
    }
    out.push_str(
        "<table><tr><th>statement</th><th>expected</th><th>actual</th><th>result</th></tr>\n",
    );
    for step in &run.steps {
        let expected = match step.expected {
            Expected::Success => "success",
            Expected::Refusal => "refusal",
        };
        let result = match step.result {
            StepResult::Pass => "pass",
            StepResult::Fail => "FAIL",
            StepResult::NotProbed => "not probed",
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{expected}</td><td>{}</td><td>{result}</td></tr>",
            escape(step.statement.as_deref().unwrap_or("—")),
            escape(&step.actual)
        );
    }
    out.push_str("</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warehouse_comes_from_the_http_path() {
        assert_eq!(warehouse_of("/sql/1.0/warehouses/abc123").as_deref(), Some("abc123"));
        assert_eq!(
            warehouse_of("sql/1.0/endpoints/44a1419108002906").as_deref(),
            Some("44a1419108002906")
        );
        for not_one in [
            "",
            "/sql/1.0/warehouses/",
            "/sql/protocolv1/o/0/0222-185802-deny427",
            "/sql/1.0/warehouses/a/b",
        ] {
            assert_eq!(warehouse_of(not_one), None, "{not_one}");
        }
    }

    #[test]
    fn names_are_quoted_and_pages_escaped() {
        assert_eq!(quoted("we`ird"), "`we``ird`");
        let run = WorkloadRun {
            kind: Some(Kind::Ingest),
            state: RunState::Failed,
            warehouse_id: Some("w1".into()),
            catalog: Some("<main>".into()),
            note: None,
            steps: vec![Step {
                statement: Some("SELECT '<b>'".into()),
                expected: Expected::Success,
                actual: "FAILED X: <i>".into(),
                result: StepResult::Fail,
            }],
        };
        let page = html(&run);
        assert!(!page.contains("<b>") && !page.contains("<i>") && !page.contains("<main>"));
        assert!(page.contains("&lt;main&gt;") && page.contains("FAIL"), "{page}");
    }
}
