//! The protocol's rules (partner-protocol.md §1), checked on one recorded exchange at a time.
//! Each rule that fails yields a sentence naming the field and what was wrong.

use crate::profile::{Compute, Setup};
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
            allowed.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        ));
    }
    let empty_ok = matches!(kind, Kind::DeleteAccount | Kind::ExpireAccount) && status == 200;
    if ex.response_bytes == 0 && empty_ok {
        return problems;
    }
    let json_type = ex
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("application/json"));
    if !json_type {
        problems.push(format!(
            "the answer's Content-Type is {}, but every JSON answer must say application/json",
            ex.content_type.as_deref().map_or_else(|| "missing".to_owned(), |c| format!("'{c}'"))
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
    let has_id = answer.connection_id.as_deref().is_some_and(|s| !s.is_empty());
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
        404 => &[ErrorReason::ConnectionNotFound, ErrorReason::AccountNotFound],
        500 => &[ErrorReason::GeneralError],
        _ => return problems,
    };
    if !expected.contains(&error.error_reason) {
        problems.push(format!(
            "HTTP {status} must carry error_reason {}, not {}",
            expected.iter().map(|r| reason(*r)).collect::<Vec<_>>().join(" or "),
            reason(error.error_reason)
        ));
    }
    if kind == Kind::Connect && status == 404 && ex.established() == Some(false) {
        problems
            .push("404 is allowed on /connect only when is_connection_established is true".into());
    }
    problems
}

/// What a first connect's request must carry for the partner's profile, given the connection
/// patchbay recorded and what the admin selected: the token's owner in `service_principal_id`
/// (none without a service principal), the warehouse or cluster the connection uses (the one
/// the admin selected), the selected catalog. Each mismatch is a sentence.
pub fn profile_request(
    setup: &Setup,
    request: &Value,
    c: &Value,
    selection: &Value,
) -> Vec<String> {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let mut wrong = Vec::new();
    let sp = text(&request["service_principal_id"]);
    if setup.service_principal {
        let owner = text(&c["service_principal"]["application_id"]);
        if sp.is_none() || sp != owner {
            wrong.push(format!(
                "service_principal_id {} (expected the connection's service principal {})",
                request["service_principal_id"], c["service_principal"]["application_id"]
            ));
        }
    } else if let Some(sp) = sp {
        wrong.push(format!(
            "service_principal_id \"{sp}\" (expected none: the partner acts as the connecting user)"
        ));
    }
    let is_warehouse = request["is_sql_warehouse"].as_bool().unwrap_or(false);
    let cluster_id = text(&request["cluster_id"]);
    let http_path = text(&request["http_path"]);
    match setup.compute() {
        Compute::Warehouse => match text(&c["warehouse_id"]) {
            None => wrong.push("patchbay recorded no SQL warehouse for the connection".into()),
            Some(id) => {
                let path = format!("/sql/1.0/warehouses/{id}");
                if !is_warehouse {
                    wrong.push(format!(
                        "is_sql_warehouse {} (expected true)",
                        request["is_sql_warehouse"]
                    ));
                }
                if cluster_id.as_deref() != Some(id.as_str()) {
                    wrong.push(format!(
                        "cluster_id {} (expected the warehouse {id})",
                        request["cluster_id"]
                    ));
                }
                if http_path.as_deref() != Some(path.as_str()) {
                    wrong.push(format!("http_path {} (expected {path})", request["http_path"]));
                }
                if !text(&request["jdbc_url"]).is_some_and(|u| u.contains(&path)) {
                    wrong.push(format!(
                        "jdbc_url {} (expected one with httpPath={path})",
                        request["jdbc_url"]
                    ));
                }
                if let Some(selected) = selection["warehouse_id"].as_str()
                    && selected != id
                {
                    wrong
                        .push(format!("the warehouse {id}, not the selected warehouse {selected}"));
                }
            }
        },
        Compute::Cluster => {
            let id = text(&c["cluster_id"]);
            if id.is_none() {
                wrong.push("patchbay recorded no cluster for the connection".into());
            } else if cluster_id != id {
                wrong.push(format!(
                    "cluster_id {} (expected the connection's cluster {})",
                    request["cluster_id"], c["cluster_id"]
                ));
            }
            if is_warehouse || http_path.is_some() {
                wrong.push(format!(
                    "is_sql_warehouse {} with http_path {} (expected a cluster, not a warehouse)",
                    request["is_sql_warehouse"], request["http_path"]
                ));
            }
        }
        Compute::None => {
            if is_warehouse || cluster_id.is_some() || http_path.is_some() {
                wrong.push(format!(
                        "is_sql_warehouse {}, cluster_id {}, http_path {} (expected no compute: the profile provisions none)",
                        request["is_sql_warehouse"], request["cluster_id"], request["http_path"]
                    ));
            }
        }
    }
    if let Some(catalog) = selection["catalog_name"].as_str()
        && request["catalog_name"].as_str() != Some(catalog)
    {
        wrong.push(format!(
            "catalog_name {} (expected the selected catalog {catalog})",
            request["catalog_name"]
        ));
    }
    wrong
}

pub fn reason(r: ErrorReason) -> String {
    serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A short piece of a body for a message.
pub fn excerpt(text: &str) -> String {
    let one_line: String = text.chars().take(160).collect::<String>().replace('\n', " ");
    if text.chars().count() > 160 { format!("{one_line}…") } else { one_line }
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

#[cfg(test)]
mod tests {
    use super::profile_request;
    use crate::profile::{Profile, Setup};
    use serde_json::json;

    const WH: &str = "/sql/1.0/warehouses/wh1";

    fn warehouse_request(sp: Option<&str>) -> serde_json::Value {
        json!({"service_principal_id": sp, "is_sql_warehouse": true, "cluster_id": "wh1",
               "http_path": WH, "jdbc_url": format!("jdbc:spark://h:443/default;httpPath={WH};"),
               "catalog_name": "hive_metastore"})
    }

    #[test]
    fn a_request_that_fits_its_profile_passes() {
        let sp = json!({"service_principal": {"application_id": "app-1"}});
        let mut with_wh = sp.clone();
        with_wh["warehouse_id"] = json!("wh1");
        let read = Setup::of(Profile::Read);
        let selected = json!({"warehouse_id": "wh1", "catalog_name": "hive_metastore", "schemas": ["certify"]});
        assert_eq!(
            profile_request(&read, &warehouse_request(Some("app-1")), &with_wh, &selected),
            Vec::<String>::new()
        );
        // none: no service principal, the user's own token; the new warehouse.
        let none = Setup::of(Profile::None);
        let c = json!({"warehouse_id": "wh1"});
        assert!(profile_request(&none, &warehouse_request(None), &c, &json!({})).is_empty());
        let mut cluster = sp.clone();
        cluster["cluster_id"] = json!("c-1");
        let request = json!({"service_principal_id": "app-1", "is_sql_warehouse": false, "cluster_id": "c-1"});
        assert!(
            profile_request(&Setup::of(Profile::Cluster), &request, &cluster, &json!({}))
                .is_empty()
        );
        let request = json!({"service_principal_id": "app-1", "is_sql_warehouse": false});
        assert!(profile_request(&Setup::of(Profile::Token), &request, &sp, &json!({})).is_empty());
    }

    #[test]
    fn a_request_that_does_not_fit_its_profile_is_named() {
        let c = json!({"service_principal": {"application_id": "app-1"}, "warehouse_id": "wh2"});
        let selected = json!({"warehouse_id": "wh1", "catalog_name": "main", "schemas": ["s"]});
        let problems = profile_request(
            &Setup::of(Profile::Read),
            &warehouse_request(Some("app-9")),
            &c,
            &selected,
        )
        .join("\n");
        for words in [
            "service_principal_id \"app-9\" (expected the connection's service principal \"app-1\")",
            "cluster_id \"wh1\" (expected the warehouse wh2)",
            "not the selected warehouse wh1",
            "catalog_name \"hive_metastore\" (expected the selected catalog main)",
        ] {
            assert!(problems.contains(words), "{words} in:\n{problems}");
        }
        // none carries no service principal; token carries no compute.
        let problems = profile_request(
            &Setup::of(Profile::None),
            &warehouse_request(Some("app-1")),
            &json!({"warehouse_id": "wh1"}),
            &json!({}),
        );
        assert!(problems[0].contains("expected none"), "{problems:?}");
        let problems = profile_request(
            &Setup::of(Profile::Token),
            &warehouse_request(Some("app-1")),
            &json!({"service_principal": {"application_id": "app-1"}}),
            &json!({}),
        );
        assert!(problems[0].contains("expected no compute"), "{problems:?}");
        // A cluster profile's request without the cluster.
        let problems = profile_request(
            &Setup::of(Profile::Cluster),
            &json!({"service_principal_id": "app-1", "is_sql_warehouse": false}),
            &json!({"service_principal": {"application_id": "app-1"}, "cluster_id": "c-1"}),
            &json!({}),
        );
        assert!(problems[0].contains("expected the connection's cluster"), "{problems:?}");
    }
}
