//! Parameters of a GET or DELETE, taken from the query string and from a JSON body alike.
//!
//! The Databricks REST API names the parameters of a read or a delete, and clients disagree on
//! where to put them: the SDKs and Terraform use the query string, the legacy `databricks-cli`
//! sends a JSON body (`Content-Type: text/json`), e.g. `DELETE …/metastores/{id}` with
//! `{"force": true}`. Both are read, merged into one set of parameters and deserialized into
//! the handler's type exactly as a query string would be, so a handler neither knows nor cares
//! where a parameter came from.
//!
//! A body's scalars become their text (`true`, `10`), `null` counts as absent, nested objects
//! are flattened the way the SDKs flatten them into a query string (`filter_by.cluster_states`)
//! and lists repeat their key. A parameter given in both places must say the same thing, or
//! the request is refused: silently preferring one would act on something the client did not
//! mean.

use crate::body::JsonBody;
use crate::error::{ApiError, Envelope};
use axum::body::HttpBody;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parameters of type `T` from the query string and the JSON body (which may be absent or
/// empty). Extracts the body, so it comes last among a handler's arguments.
pub struct Params<T>(pub T);

impl<S, T> FromRequest<S> for Params<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let envelope = Envelope::for_request(req.uri(), req.extensions());
        let reject = |e: ApiError| e.scim_type("invalidValue").in_envelope(envelope);
        if req.body().is_end_stream() {
            // No body, as from most clients: the query string alone, read directly (the hot
            // reads, `/Me` among them, pay nothing for the merge).
            return serde_urlencoded::from_str(req.uri().query().unwrap_or_default())
                .map(Params)
                .map_err(|e| reject(ApiError::bad_request(format!("Invalid parameters: {e}"))));
        }
        let query = req.uri().query().unwrap_or_default().to_owned();
        // The body's size limit and JSON errors are JsonBody's, in the same envelope.
        let JsonBody(body) = JsonBody::<Value>::from_request(req, state).await?;
        let query = query_pairs(&query).map_err(reject)?;
        let merged = merge(query, body_pairs(&body).map_err(reject)?).map_err(reject)?;
        deserialize(&merged).map(Params).map_err(reject)
    }
}

/// The query string's `key=value` pairs, decoded (`+` is a space), in order. Also how the
/// legacy Groups API reads its query string ([`crate::groups`]).
pub(crate) fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query)
        .map_err(|e| ApiError::bad_request(format!("Invalid query parameters: {e}")))
}

/// A parameter or body field that must be given and not be empty: `{field} is required`
/// otherwise.
pub(crate) fn required(value: Option<String>, field: &str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{field} is required")))
}

/// A JSON body as parameters: an object of scalars, lists and nested objects.
fn body_pairs(body: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    match body {
        Value::Null => {}
        Value::Object(fields) => {
            for (key, value) in fields {
                flatten(key, value, &mut pairs);
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "The request body must be a JSON object of parameters.",
            ));
        }
    }
    Ok(pairs)
}

/// One body field as `key=value` pairs: `{"a": {"b": [1, 2]}}` gives `a.b=1` and `a.b=2`.
fn flatten(key: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((key.to_owned(), b.to_string())),
        Value::Number(n) => out.push((key.to_owned(), n.to_string())),
        Value::String(s) => out.push((key.to_owned(), s.clone())),
        Value::Array(items) => {
            for item in items {
                flatten(key, item, out);
            }
        }
        Value::Object(fields) => {
            for (sub, value) in fields {
                flatten(&format!("{key}.{sub}"), value, out);
            }
        }
    }
}

/// Whether two values of one parameter say the same thing. Booleans are compared without
/// regard to case (`force=True` in a query string and `true` in a body agree).
fn same_value(a: &str, b: &str) -> bool {
    a == b
        || (["true", "false"].iter().any(|v| a.eq_ignore_ascii_case(v))
            && a.eq_ignore_ascii_case(b))
}

/// The query's pairs followed by the body's; a key present in both must carry the same values,
/// and then counts once.
fn merge(
    query: Vec<(String, String)>,
    body: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, ApiError> {
    let values_of = |pairs: &[(String, String)], key: &str| -> Vec<String> {
        pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    };
    let mut merged = query.clone();
    for (key, value) in &body {
        let in_query = values_of(&query, key);
        if in_query.is_empty() {
            merged.push((key.clone(), value.clone()));
            continue;
        }
        let in_body = values_of(&body, key);
        let agree = in_query.len() == in_body.len()
            && in_query.iter().zip(&in_body).all(|(q, b)| same_value(q, b));
        if !agree {
            return Err(ApiError::bad_request(format!(
                "Parameter '{key}' is given in the query string ({}) and in the request body ({}) \
                 with different values; give it once.",
                in_query.join(", "),
                in_body.join(", "),
            )));
        }
    }
    Ok(merged)
}

/// The merged pairs as `T`, read exactly as a query string would be.
fn deserialize<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, ApiError> {
    let encoded = serde_urlencoded::to_string(pairs)
        .map_err(|e| ApiError::internal(format!("cannot re-encode parameters: {e}")))?;
    serde_urlencoded::from_str(&encoded)
        .map_err(|e| ApiError::bad_request(format!("Invalid parameters: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct P {
        force: Option<String>,
        max_results: Option<String>,
        metastore_id: Option<String>,
    }

    fn params<T: DeserializeOwned>(query: &str, body: Value) -> Result<T, ApiError> {
        let merged = merge(query_pairs(query)?, body_pairs(&body)?)?;
        deserialize(&merged)
    }

    #[test]
    fn the_body_gives_what_the_query_would() {
        let from_query: P = params("force=true&metastore_id=m1", Value::Null).unwrap();
        let from_body: P = params("", json!({"force": true, "metastore_id": "m1"})).unwrap();
        assert_eq!(from_query, from_body);
        assert_eq!(from_body.force.as_deref(), Some("true"));
        let number: P = params("", json!({"max_results": 10})).unwrap();
        assert_eq!(number.max_results.as_deref(), Some("10"));
        let null: P = params("", json!({"force": null})).unwrap();
        assert_eq!(null.force, None, "null counts as absent");
    }

    #[test]
    fn query_and_body_merge_and_must_agree() {
        let both: P = params("metastore_id=m1", json!({"force": true})).unwrap();
        assert_eq!(
            (both.force.as_deref(), both.metastore_id.as_deref()),
            (Some("true"), Some("m1"))
        );
        let same: P = params("force=True", json!({"force": true})).unwrap();
        assert_eq!(same.force.as_deref(), Some("True"));
        let err = params::<P>("metastore_id=m1", json!({"metastore_id": "m2"})).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(
            err.message.contains("metastore_id") && err.message.contains("m1"),
            "{}",
            err.message
        );
        assert!(params::<P>("force=false", json!({"force": true})).is_err());
    }

    #[test]
    fn nested_objects_flatten_and_lists_repeat() {
        let pairs: Vec<(String, String)> =
            params("page_size=5", json!({"filter_by": {"cluster_states": ["RUNNING", "PENDING"]}}))
                .unwrap();
        assert_eq!(
            pairs,
            vec![
                ("page_size".to_owned(), "5".to_owned()),
                ("filter_by.cluster_states".to_owned(), "RUNNING".to_owned()),
                ("filter_by.cluster_states".to_owned(), "PENDING".to_owned()),
            ]
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        for body in [json!([1]), json!("force"), json!(true)] {
            let err = params::<P>("", body).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn values_keep_their_characters() {
        let p: P = params("", json!({"metastore_id": "a&b=c d+e%"})).unwrap();
        assert_eq!(p.metastore_id.as_deref(), Some("a&b=c d+e%"));
    }
}
