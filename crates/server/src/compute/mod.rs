//! Compute without compute: SQL warehouses (`/api/2.0/sql/warehouses`), clusters
//! (`/api/2.0/clusters`, `/api/2.1/clusters`), jobs and their runs (`/api/2.{0,1,2}/jobs`). Records move
//! through the states real compute goes through, by time, when read; their object permissions
//! are served by [`crate::permissions`].

mod clusters;
mod jobs;
mod runs;
mod warehouses;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::Router;
use patchbay_store::StoreError;
use serde::Deserialize;
use serde_json::Value;

/// Every compute route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(warehouses::routes())
        .merge(clusters::routes())
        .merge(jobs::routes())
        .merge(runs::routes())
}

/// Largest page a list answers.
const MAX_PAGE_SIZE: usize = 1000;

/// One page of a list ordered by `key`: the items after `page_token` (the key of the last item
/// of the previous page), at most `page_size` of them (all when unset or not positive), and the
/// token of the next page if more remain — none on the last page, so SDK loops stop.
fn page<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> &str,
    page_size: Option<i64>,
    page_token: Option<&str>,
) -> (Vec<T>, Option<String>) {
    let size = page_size
        .filter(|n| *n > 0)
        .map_or(MAX_PAGE_SIZE, |n| usize::try_from(n).unwrap_or(MAX_PAGE_SIZE))
        .min(MAX_PAGE_SIZE);
    // Sorted here, not by the database, whose collation may not be byte order.
    items.sort_by(|a, b| key(a).cmp(key(b)));
    let mut rest: Vec<T> = match page_token.filter(|t| !t.is_empty()) {
        Some(token) => items.into_iter().filter(|i| key(i) > token).collect(),
        None => items,
    };
    if rest.len() <= size {
        return (rest, None);
    }
    rest.truncate(size);
    let next = rest.last().map(|i| key(i).to_owned());
    (rest, next)
}

/// Clusters and jobs answer "does not exist" with 400 INVALID_PARAMETER_VALUE, the convention
/// both SDKs map to their not-found error.
fn legacy_not_found(err: StoreError) -> ApiError {
    match err {
        err if err.is_not_found() => ApiError::bad_request(ApiError::from(err).message),
        other => ApiError::from(other),
    }
}

/// A required field of a request body or query.
fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::bad_request(format!("{field} is required")))
}

/// A job or run id as clients send it: a JSON number (the SDKs) or a decimal string (the CLI,
/// and every query string). Another JSON type in a typed body is a malformed request.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SentId {
    Number(i64),
    Text(String),
}

impl SentId {
    /// An id given in a query string, where an empty value is no value.
    fn query(value: Option<String>) -> Option<SentId> {
        value.filter(|v| !v.is_empty()).map(SentId::Text)
    }

    /// The id in a body kept as JSON values (`run-now` keeps its parameters as sent), where a
    /// value of another type is refused as an invalid `field`.
    fn read_value<T: From<i64>>(value: Option<Value>, field: &str) -> ApiResult<T> {
        let sent = value
            .filter(|v| !v.is_null())
            .map(|v| {
                SentId::deserialize(&v).map_err(|_| {
                    ApiError::bad_request(format!("{field} must be a number, not {v}"))
                })
            })
            .transpose()?;
        SentId::read(sent, field)
    }

    /// The id (`{field} is required` when none was sent, `{field} must be a number` for text
    /// that is not one).
    fn read<T: From<i64>>(value: Option<SentId>, field: &str) -> ApiResult<T> {
        match required(value, field)? {
            SentId::Number(n) => Ok(T::from(n)),
            SentId::Text(s) => parse_number(&s, field).map(T::from),
        }
    }
}

/// A decimal number given as text (an id, or a query's `limit`, `offset`, …).
fn parse_number(s: &str, field: &str) -> ApiResult<i64> {
    s.trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{field} must be a number, not '{s}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_tokens_and_end_without_one() {
        let items = vec!["a", "b", "c", "d", "e"];
        let (first, token) = page(items.clone(), |s| *s, Some(2), None);
        assert_eq!((first, token.as_deref()), (vec!["a", "b"], Some("b")));
        let (second, token) = page(items.clone(), |s| *s, Some(2), Some("b"));
        assert_eq!((second, token.as_deref()), (vec!["c", "d"], Some("d")));
        let (last, token) = page(items.clone(), |s| *s, Some(2), Some("d"));
        assert_eq!((last, token), (vec!["e"], None));
        let (all, token) = page(items, |s| *s, None, None);
        assert_eq!((all.len(), token), (5, None));
    }

    #[test]
    fn an_id_is_a_json_number_or_a_decimal_string() {
        let read = |v: Value| SentId::read_value::<patchbay_core::JobId>(Some(v), "job_id");
        assert_eq!(read(serde_json::json!(42)).unwrap().get(), 42);
        assert_eq!(read(serde_json::json!(" 42")).unwrap().get(), 42);
        for (bad, needle) in [
            (serde_json::json!("4x"), "job_id must be a number, not '4x'"),
            (serde_json::json!(1.5), "job_id must be a number, not 1.5"),
            (serde_json::json!([1]), "job_id must be a number, not [1]"),
            (Value::Null, "job_id is required"),
        ] {
            assert_eq!(read(bad).unwrap_err().message, needle);
        }
        let empty =
            SentId::read::<patchbay_core::RunId>(SentId::query(Some(String::new())), "run_id");
        assert_eq!(empty.unwrap_err().message, "run_id is required");
    }
}
