//! Response bodies made fit for a snapshot: what changes from run to run — the ids the server
//! mints, the clock — is replaced by a placeholder that keeps the field present and says what it
//! was, and everything else stays as sent. A credential is never redacted by field name: a test
//! names the values it minted ([`redacted`]'s `known`), so a token value that appears where it
//! should not (in a list) shows up under its name, or as a random string, and the snapshot fails.

use serde_json::{Map, Value};

/// Fields that hold a minted id or a principal's or workspace's number: `"[id]"`, or
/// `"[id: number]"` for a JSON number.
const IDS: &[&str] = &[
    "ClusterId",
    "actor_id",
    "cluster_id",
    "created_by_id",
    "creator_id",
    "data_source_id",
    "endpoint_id",
    "id",
    "job_id",
    "number_in_job",
    "original_attempt_run_id",
    "owner_id",
    "run_id",
    "schema_id",
    "table_id",
    "token_id",
    "warehouse_id",
    "workspace_id",
];

/// Fields that hold a time or a duration: `"[time]"` when positive (`0` and `-1` mean "not
/// yet" and "never" and stay).
const TIMES: &[&str] = &[
    "create_time",
    "created_at",
    "created_time",
    "creation_time",
    "end_time",
    "expire_time",
    "expiry_time",
    "last_accessed_time",
    "last_updated_timestamp",
    "last_used_day",
    "start_time",
    "terminated_time",
    "time",
    "updated_at",
];

/// Fields that hold a duration, which depends on when the test looked: `"[duration]"`.
const DURATIONS: &[&str] =
    &["cleanup_duration", "execution_duration", "run_duration", "setup_duration"];

/// `body` with the values that change from run to run replaced. Each `(text, name)` of `known`
/// turns a value equal to `text` into `"[name]"` (`"[name: number]"` for a number), and `text`
/// inside a longer string into `[name]` (ids in URLs, paths and object ids); then the fields of
/// [`IDS`], [`TIMES`] and [`DURATIONS`] are replaced by kind.
pub fn redacted(body: &Value, known: &[(&str, &str)]) -> Value {
    redact(body, None, known)
}

fn redact(value: &Value, key: Option<&str>, known: &[(&str, &str)]) -> Value {
    let text = match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    if let Some(text) = &text
        && let Some((_, name)) = known.iter().find(|(k, _)| !k.is_empty() && k == text)
    {
        return placeholder(name, value);
    }
    match value {
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| (k.clone(), redact(v, Some(k), known))).collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact(v, key, known)).collect()),
        _ if key.is_some_and(|k| IDS.contains(&k)) && !value.is_null() => placeholder("id", value),
        Value::Number(n) if key.is_some_and(|k| TIMES.contains(&k)) && n.as_i64() > Some(0) => {
            "[time]".into()
        }
        Value::Number(_) if key.is_some_and(|k| DURATIONS.contains(&k)) => "[duration]".into(),
        Value::String(s) => Value::String(known.iter().fold(s.clone(), |s, (text, name)| {
            if text.is_empty() { s } else { s.replace(text, &format!("[{name}]")) }
        })),
        other => other.clone(),
    }
}

/// `"[name]"` for a string, `"[name: number]"` for a number: the JSON type stays visible.
fn placeholder(name: &str, value: &Value) -> Value {
    Value::String(if value.is_number() { format!("[{name}: number]") } else { format!("[{name}]") })
}

/// The body of the admin's GET of `path`, which must answer 200 with every object's keys in
/// byte order: the order the `json!` builders these answers replaced wrote them in, so the
/// bytes on the wire did not change. (Answers that pass a client's own fields through, the
/// cluster details and the task runs, put the server's fields after them.)
pub async fn get_sorted(app: &super::TestApp, path: &str) -> Value {
    let req = axum::http::Request::builder()
        .uri(path)
        .header(axum::http::header::AUTHORIZATION, format!("Bearer {}", app.admin_token))
        .body(axum::body::Body::empty())
        .expect("request");
    let response = tower::ServiceExt::oneshot(app.router.clone(), req).await.expect("infallible");
    assert_eq!(response.status(), axum::http::StatusCode::OK, "{path}");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    let body: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(String::from_utf8_lossy(&bytes), body.to_string(), "{path}: keys out of byte order");
    body
}

/// `body` with its list `list` sorted by each item's `key`: for lists whose order is by a
/// random id, so that a snapshot does not depend on it.
pub fn sorted_by(mut body: Value, list: &str, key: &str) -> Value {
    let items = match list {
        "" => body.as_array_mut(),
        _ => body[list].as_array_mut(),
    };
    items.unwrap_or_else(|| panic!("no list {list:?}")).sort_by_key(|item| item[key].to_string());
    body
}
