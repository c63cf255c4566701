//! What the client shows: aligned tables and fields, JSON for scripts, a spinner and the
//! confirmation of destructive commands.

use super::{Failure, Output, Result};
use serde_json::Value;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Prints a value as pretty JSON on stdout.
pub fn json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()));
}

/// Rows under headers, each column as wide as its widest cell.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table { headers: headers.to_vec(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let clean = |s: &str| s.replace(['\n', '\r', '\t'], " ");
        let rows: Vec<Vec<String>> =
            self.rows.iter().map(|r| r.iter().map(|c| clean(c)).collect()).collect();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        let headers: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&headers).chain(rows.iter()) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate().take(widths.len()) {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < widths.len() {
                    let pad = widths[i] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Prints the table, or `empty` when it has no rows.
    pub fn print_or(&self, empty: &str) {
        if self.is_empty() {
            println!("{empty}");
        } else {
            print!("{}", self.render());
        }
    }
}

/// Prints a list answer: the JSON as it came for `--output json`, else a table of its `key`
/// array with a row per item, or `empty` when the array is empty.
pub fn list(
    out: Output,
    v: &Value,
    key: &str,
    headers: &[&'static str],
    empty: &str,
    row: impl Fn(&Value) -> Vec<String>,
) {
    if out == Output::Json {
        json(v);
        return;
    }
    let mut table = Table::new(headers);
    for item in v[key].as_array().into_iter().flatten() {
        table.row(row(item));
    }
    table.print_or(empty);
}

/// `label  value` lines with the values aligned; a value's further lines are indented to match.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in pairs {
        let mut lines = value.lines();
        let first = lines.next().unwrap_or("");
        out.push_str(format!("  {label:<width$}  {first}").trim_end());
        out.push('\n');
        for more in lines {
            out.push_str(&format!("  {:width$}  {more}\n", ""));
        }
    }
    out
}

/// A cell: strings as they are, numbers and booleans as text, null or missing as `-`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

pub fn yes_no(v: &Value) -> String {
    match v.as_bool() {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => "-".into(),
    }
}

/// Epoch milliseconds as `2026-05-01 12:34:56 UTC`; `-1` and other non-positive values as
/// `never` or `-`.
pub fn time_ms(v: &Value) -> String {
    let Some(ms) = v.as_i64() else {
        return cell(v);
    };
    if ms == -1 {
        return "never".into();
    }
    if ms <= 0 {
        return "-".into();
    }
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => ms.to_string(),
    }
}

/// Grants as `PRIV, PRIV on securable name`, one per line.
pub fn grants(v: &Value) -> String {
    let Some(list) = v.as_array().filter(|l| !l.is_empty()) else {
        return "none".into();
    };
    list.iter()
        .map(|g| {
            format!(
                "{} on {} {}",
                cell(&g["privileges"]),
                g["securable_type"].as_str().unwrap_or("?"),
                g["full_name"].as_str().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A spinner on stderr while a slow call runs; nothing unless stderr is a terminal.
pub struct Spinner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    pub fn start(message: &str) -> Spinner {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let stop = stop.clone();
            let message = message.to_owned();
            std::thread::spawn(move || {
                let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    eprint!("\r{} {message}", frames[i % frames.len()]);
                    let _ = std::io::stderr().flush();
                    i += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                eprint!("\r\x1b[2K");
                let _ = std::io::stderr().flush();
            })
        });
        Spinner { stop, thread }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Refuses a destructive command unless it is confirmed: `--yes`, or `y` typed on a terminal.
/// Without a terminal on stdin and without `--yes`, it refuses before touching anything.
pub fn refuse_unconfirmed(yes: bool, what: &str) -> Result<bool> {
    if yes {
        return Ok(false);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "refusing to {what} without confirmation: standard input is not a terminal; pass --yes to confirm"
        )));
    }
    Ok(true)
}

/// Asks on the terminal; anything but `y` or `yes` declines (exit 2, nothing done).
pub fn ask(question: &str) -> Result<()> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Usage(format!("cannot read the answer: {e}")))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Failure::Usage("not confirmed; nothing was deleted".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_their_columns() {
        let mut t = Table::new(&["ID", "NAME", "STATE"]);
        t.row(vec!["dbt-cloud".into(), "dbt Cloud".into(), "CONNECTED".into()]);
        t.row(vec!["hex".into(), "Hex\nBI".into(), "-".into()]);
        assert_eq!(
            t.render(),
            "ID         NAME       STATE\n\
             dbt-cloud  dbt Cloud  CONNECTED\n\
             hex        Hex BI     -\n"
        );
    }

    #[test]
    fn fields_align_and_indent_further_lines() {
        let out = fields(&[
            ("State", "CONNECTED".into()),
            ("Grants", "A on x\nB on y".into()),
            ("Empty", String::new()),
        ]);
        assert_eq!(out, "  State   CONNECTED\n  Grants  A on x\n          B on y\n  Empty\n");
    }

    #[test]
    fn cells_and_times() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!(["a", "b"])), "a, b");
        assert_eq!(cell(&json!(42)), "42");
        assert_eq!(time_ms(&json!(-1)), "never");
        assert_eq!(time_ms(&json!(1_580_265_020_299_i64)), "2020-01-29 02:30:20 UTC");
        assert_eq!(
            grants(
                &json!([{"securable_type": "schema", "full_name": "main.sales", "privileges": ["USE_SCHEMA", "SELECT"]}])
            ),
            "USE_SCHEMA, SELECT on schema main.sales"
        );
    }
}
