//! The reports: a table for the terminal, JSON and JUnit XML for CI. None of them ever holds a
//! token or the partner's password: exchanges are recorded redacted, and the run is scrubbed of
//! every secret seen once more before anything is written.

use crate::proxy::{Exchange, REDACTED};
use crate::{Run, ScenarioResult, Verdict};
use patchbay_core::markup::escape;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// Replaces every secret certify saw with `<redacted>`, wherever it appears.
pub fn scrub_run(run: &mut Run, secrets: &[String]) {
    let secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= 4).collect();
    if secrets.is_empty() {
        return;
    }
    let clean = |text: &mut String| {
        for s in &secrets {
            if text.contains(s.as_str()) {
                *text = text.replace(s.as_str(), REDACTED);
            }
        }
    };
    for scenario in &mut run.scenarios {
        for p in &mut scenario.problems {
            clean(&mut p.message);
        }
        for n in scenario.notes.iter_mut().chain(&mut scenario.warnings) {
            clean(n);
        }
        for q in scenario.warehouse_usage.iter_mut().flat_map(|u| &mut u.queries) {
            clean(&mut q.statement);
            if let Some(e) = &mut q.error {
                clean(e);
            }
        }
        for ex in &mut scenario.exchanges {
            clean(&mut ex.response_text);
            let mut body = ex.request_body.to_string();
            clean(&mut body);
            ex.request_body = serde_json::from_str(&body).unwrap_or(Value::Null);
            for (_, v) in &mut ex.request_headers {
                clean(v);
            }
        }
    }
}

/// The terminal report: one row per scenario, then what was wrong in each failed one, with the
/// exchanges that show it.
pub fn table(run: &Run) -> String {
    let mut out = String::new();
    let width = run.scenarios.iter().map(|s| s.name.len()).max().unwrap_or(8).max(8);
    let _ = writeln!(out, "patchbay certify: {}", run.partner_url);
    let _ = writeln!(out, "registered as {}", crate::profile::Setup::of(run.profile).describe());
    let _ = writeln!(out);
    let _ = writeln!(out, "{:width$}  RESULT  DETAIL", "SCENARIO");
    for s in &run.scenarios {
        let detail = match s.verdict {
            Verdict::Passed => s.title.to_owned(),
            Verdict::Skipped => s.skip_reason.clone().unwrap_or_default(),
            Verdict::Failed => s.problems.first().map(|p| p.message.clone()).unwrap_or_default(),
        };
        let _ = writeln!(
            out,
            "{:width$}  {:6}  {}",
            s.name,
            s.verdict.as_str(),
            one_line(&detail, 110)
        );
    }
    for s in run.scenarios.iter().filter(|s| s.verdict == Verdict::Failed) {
        let _ = writeln!(out);
        let _ = writeln!(out, "── {} FAILED ({})", s.name, s.title);
        for p in &s.problems {
            let _ = writeln!(out, "  ✗ {}", p.message);
            if let Some(ex) = p.exchange.and_then(|seq| find(s, seq)) {
                for line in exchange_lines(ex) {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
    }
    for s in &run.scenarios {
        for n in &s.notes {
            let _ = writeln!(out, "note: {}: {n}", s.name);
        }
        for w in &s.warnings {
            let _ = writeln!(out, "warning: {}: {w}", s.name);
        }
    }
    let _ = writeln!(out);
    let warnings = match run.warnings() {
        0 => String::new(),
        1 => ", 1 warning".to_owned(),
        n => format!(", {n} warnings"),
    };
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped{warnings}",
        run.count(Verdict::Passed),
        run.count(Verdict::Failed),
        run.count(Verdict::Skipped)
    );
    out
}

fn find(s: &ScenarioResult, seq: usize) -> Option<&Exchange> {
    s.exchanges.iter().find(|e| e.seq == seq)
}

fn one_line(text: &str, max: usize) -> String {
    let flat = text.replace('\n', " ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// The exchange as a few lines: request line, request body, answer.
fn exchange_lines(ex: &Exchange) -> Vec<String> {
    let mut lines = vec![ex.summary()];
    lines.push(format!("  request: {}", request_summary(&ex.request_body)));
    if ex.status.is_some() {
        lines.push(format!(
            "  answer ({}): {}",
            ex.content_type.as_deref().unwrap_or("no Content-Type"),
            one_line(&ex.response_text, 300)
        ));
    }
    lines
}

/// The fields of a request that tell exchanges apart; the JSON report has the whole body.
fn request_summary(body: &Value) -> String {
    let Some(info) = body.get("user_info") else {
        return one_line(&body.to_string(), 300);
    };
    let mut short = json!({
        "user_info": {
            "email": info["email"],
            "is_connection_established": info["is_connection_established"],
        },
    });
    if let Some(auth) = info.get("auth") {
        short["user_info"]["auth"] = auth.clone();
    }
    for key in [
        "connection_id",
        "workspace_id",
        "demo",
        "service_principal_id",
        "is_sql_warehouse",
        "cluster_id",
        "http_path",
    ] {
        if let Some(v) = body.get(key) {
            short[key] = v.clone();
        }
    }
    format!("{} (whole body in the JSON report)", one_line(&short.to_string(), 400))
}

/// The JSON report.
pub fn json(run: &Run) -> Value {
    json!({
        "partner_url": run.partner_url,
        "profile": run.profile,
        "summary": {
            "passed": run.count(Verdict::Passed),
            "failed": run.count(Verdict::Failed),
            "skipped": run.count(Verdict::Skipped),
            "warnings": run.warnings(),
        },
        "scenarios": run.scenarios,
    })
}

/// The JUnit XML report: one test case per scenario; skipped scenarios are `<skipped>`.
pub fn junit(run: &Run) -> String {
    let total: u128 = run.scenarios.iter().map(|s| s.millis).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!(
        "tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\"",
        run.scenarios.len(),
        run.count(Verdict::Failed),
        run.count(Verdict::Skipped),
        total as f64 / 1000.0
    );
    let _ = writeln!(out, "<testsuites name=\"patchbay certify\" {counts}>");
    let _ = writeln!(out, "  <testsuite name=\"partner-connect\" errors=\"0\" {counts}>");
    let _ = writeln!(
        out,
        "    <properties><property name=\"profile\" value=\"{}\"/></properties>",
        run.profile.name()
    );
    for s in &run.scenarios {
        let _ = write!(
            out,
            "    <testcase classname=\"partner-connect\" name=\"{}\" time=\"{:.3}\">",
            escape(s.name),
            s.millis as f64 / 1000.0
        );
        match s.verdict {
            Verdict::Passed => {}
            Verdict::Skipped => {
                let _ = write!(
                    out,
                    "<skipped message=\"{}\"/>",
                    escape(s.skip_reason.as_deref().unwrap_or(""))
                );
            }
            Verdict::Failed => {
                let mut detail = String::new();
                for p in &s.problems {
                    let _ = writeln!(detail, "{}", p.message);
                    if let Some(ex) = p.exchange.and_then(|seq| find(s, seq)) {
                        for line in exchange_lines(ex) {
                            let _ = writeln!(detail, "    {line}");
                        }
                    }
                }
                let _ = write!(
                    out,
                    "<failure message=\"{}\" type=\"protocol\">{}</failure>",
                    escape(&s.problems.first().map(|p| p.message.clone()).unwrap_or_default()),
                    escape(&detail)
                );
            }
        }
        // Notes and warnings are no verdict: they go with the test case's output.
        let said: Vec<String> = s
            .notes
            .iter()
            .map(|n| format!("note: {n}"))
            .chain(s.warnings.iter().map(|w| format!("warning: {w}")))
            .collect();
        if !said.is_empty() {
            let _ = write!(out, "<system-out>{}</system-out>", escape(&said.join("\n")));
        }
        let _ = writeln!(out, "</testcase>");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
