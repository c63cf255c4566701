//! The protocol's rules (partner-protocol.md §1), checked on one recorded exchange at a time.
//! Each rule that fails yields a sentence naming the field and what was wrong.

use crate::proxy::Exchange;
use patchbay_partner::client::redirect_allowed;
use patchbay_partner::protocol::{
    Connection, ConnectionTestResult, DeleteConnectionResponse, ErrorReason, ErrorResponse,
};
use serde_json::Value;

/// Which endpoint of the partner an exchange called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Connect,
    DeleteConnection,
    TestConnection,
    DeleteAccount,
    ExpireAccount,
    Other,
}

/// The partner's paths, to tell exchanges apart.
#[derive(Debug, Clone)]
pub struct Paths {
    pub connect: String,
    pub delete_connection: String,
    pub test_connection: String,
    pub delete_account: String,
    pub expire_account: String,
}

impl Paths {
    pub fn kind(&self, ex: &Exchange) -> Kind {
        let path = ex.path.split('?').next().unwrap_or_default();
        if path == self.connect {
            Kind::Connect
        } else if path == self.delete_connection {
            Kind::DeleteConnection
        } else if path == self.test_connection {
            Kind::TestConnection
        } else if path == self.delete_account {
            Kind::DeleteAccount
        } else if path == self.expire_account {
            Kind::ExpireAccount
        } else {
            Kind::Other
        }
    }
}

/// The rules every answer of the partner must follow, whatever the scenario.
pub fn general(ex: &Exchange, kind: Kind, hostnames: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if ex.injected {
        return problems;
    }
    let Some(status) = ex.status else {
        problems.push(format!(
            "the partner did not answer: {}",
            ex.error.as_deref().unwrap_or("no response")
        ));
        return problems;
    };
    let allowed: &[u16] = match kind {
        Kind::Connect => &[200, 201, 400, 401, 404, 500],
        Kind::DeleteConnection
        | Kind::TestConnection
        | Kind::DeleteAccount
        | Kind::ExpireAccount => &[200, 400, 401, 404, 500],
        Kind::Other => return problems,
    };
    if !allowed.contains(&status) {
        problems.push(format!(
            "HTTP {status} is not a status the protocol allows here (allowed: {})",
            allowed
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let empty_ok = matches!(kind, Kind::DeleteAccount | Kind::ExpireAccount) && status == 200;
    if ex.response_bytes == 0 && empty_ok {
        return problems;
    }
    let json_type = ex.content_type.as_deref().is_some_and(|ct| {
        ct.trim()
            .to_ascii_lowercase()
            .starts_with("application/json")
    });
    if !json_type {
        problems.push(format!(
            "the answer's Content-Type is {}, but every JSON answer must say application/json",
            ex.content_type
                .as_deref()
                .map_or_else(|| "missing".to_owned(), |c| format!("'{c}'"))
        ));
    }
    let Some(body) = &ex.response_json else {
        problems.push(format!(
            "the answer is not JSON ({} bytes): {}",
            ex.response_bytes,
            excerpt(&ex.response_text)
        ));
        return problems;
    };
    if (200..300).contains(&status) {
        match kind {
            Kind::Connect => problems.extend(connection(ex, body, hostnames)),
            Kind::DeleteConnection => {
                if let Err(e) = serde_json::from_value::<DeleteConnectionResponse>(body.clone()) {
                    problems.push(format!("the answer is not a DeleteConnectionResponse: {e}"));
                }
            }
            Kind::TestConnection => {
                if let Err(e) = serde_json::from_value::<ConnectionTestResult>(body.clone()) {
                    problems.push(format!("the answer is not a ConnectionTestResult: {e}"));
                }
            }
            _ => {}
        }
    } else {
        problems.extend(error_body(ex, kind, status, body));
    }
    problems
}

/// A `/connect` answer with status 2xx: the `Connection` schema and its rules.
fn connection(ex: &Exchange, body: &Value, hostnames: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let answer = match serde_json::from_value::<Connection>(body.clone()) {
        Ok(a) => a,
        Err(e) => {
            problems.push(format!("the answer is not a valid Connection: {e}"));
            return problems;
        }
    };
    let has_id = answer
        .connection_id
        .as_deref()
        .is_some_and(|s| !s.is_empty());
    match ex.established() {
        Some(true) if body.get("connection_id").is_some() => {
            problems.push(
                "connection_id must be omitted when is_connection_established is true (a sign-in)"
                    .into(),
            );
        }
        Some(false) => {
            if answer.configured_resources && !has_id {
                problems.push(
                    "configured_resources is true on a first connect, so connection_id is required, but it is missing or empty"
                        .into(),
                );
            }
            if !answer.configured_resources && body.get("connection_id").is_some() {
                problems.push(
                    "configured_resources is false on a first connect, so connection_id must be omitted"
                        .into(),
                );
            }
        }
        _ => {}
    }
    if !redirect_allowed(&answer.redirect_uri, hostnames) {
        problems.push(format!(
            "redirect_uri '{}' is not an http(s) URL on the allow-list ({})",
            answer.redirect_uri,
            hostnames.join(", ")
        ));
    }
    problems
}

/// An error answer: an `ErrorResponse` whose `error_reason` fits the status.
fn error_body(ex: &Exchange, kind: Kind, status: u16, body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let error = match serde_json::from_value::<ErrorResponse>(body.clone()) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!(
                "the HTTP {status} answer is not an ErrorResponse ({e}): {}",
                excerpt(&ex.response_text)
            ));
            return problems;
        }
    };
    let expected: &[ErrorReason] = match status {
        400 => &[ErrorReason::BadRequest],
        401 => &[ErrorReason::Unauthorized],
        404 => &[
            ErrorReason::ConnectionNotFound,
            ErrorReason::AccountNotFound,
        ],
        500 => &[ErrorReason::GeneralError],
        _ => return problems,
    };
    if !expected.contains(&error.error_reason) {
        problems.push(format!(
            "HTTP {status} must carry error_reason {}, not {}",
            expected
                .iter()
                .map(|r| reason(*r))
                .collect::<Vec<_>>()
                .join(" or "),
            reason(error.error_reason)
        ));
    }
    if kind == Kind::Connect && status == 404 && ex.established() == Some(false) {
        problems
            .push("404 is allowed on /connect only when is_connection_established is true".into());
    }
    problems
}

pub fn reason(r: ErrorReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A short piece of a body for a message.
pub fn excerpt(text: &str) -> String {
    let one_line: String = text
        .chars()
        .take(160)
        .collect::<String>()
        .replace('\n', " ");
    if text.chars().count() > 160 {
        format!("{one_line}…")
    } else {
        one_line
    }
}

/// The `Connection` of a 2xx `/connect` exchange, if it parses.
pub fn parsed_connection(ex: &Exchange) -> Option<Connection> {
    ex.status
        .filter(|s| (200..300).contains(s))
        .and(ex.response_json.clone())
        .and_then(|v| serde_json::from_value(v).ok())
}

/// The `ErrorResponse` of an error exchange, if it parses.
pub fn parsed_error(ex: &Exchange) -> Option<ErrorResponse> {
    ex.status
        .filter(|s| *s >= 400)
        .and(ex.response_json.clone())
        .and_then(|v| serde_json::from_value(v).ok())
}
