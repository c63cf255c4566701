//! Unity Catalog under `/api/2.1/unity-catalog`: the metastore and its assignment, catalogs
//! (always `hive_metastore`), schemas, tables, and grants with their inheritance. Handlers
//! parse and shape; the store decides who may do what with the rules of
//! `patchbay_core::catalog`.

mod catalogs;
mod grants;
mod metastores;
mod schemas;
mod tables;

use catalogs::*;
use grants::*;
use metastores::*;
use schemas::*;
use tables::*;

use crate::AppState;
use crate::auth::{Admin, Authenticated};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use patchbay_core::catalog::{self as rules, Securable, SecurableType};
use patchbay_store::{
    CatalogErrorKind, CatalogRecord, CatalogUpdate, ColumnRecord, EffectiveAssignment, GrantChange,
    MetastoreRecord, NewCatalog, NewMetastore, NewSchema, NewTable, PrivilegeAssignment,
    SchemaRecord, TableRecord,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Where the Unity Catalog API lives.
pub const PREFIX: &str = "/api/2.1/unity-catalog";

/// Page length when a client asks for the server's (`max_results=0`), and the longest page.
pub const PAGE_SIZE: usize = 1000;

/// The routes of the Unity Catalog API.
pub fn routes() -> Router<AppState> {
    let p = |path: &str| format!("{PREFIX}{path}");
    Router::new()
        .route(&p("/metastore_summary"), get(metastore_summary))
        .route(&p("/current-metastore-assignment"), get(current_assignment))
        .route(
            &p("/metastores"),
            get(list_metastores).post(create_metastore),
        )
        .route(
            &p("/metastores/{id}"),
            get(get_metastore)
                .patch(update_metastore)
                .delete(delete_metastore),
        )
        .route(
            &p("/workspaces/{workspace_id}/metastore"),
            put(assign).patch(update_assignment).delete(unassign),
        )
        .route(&p("/catalogs"), get(list_catalogs).post(create_catalog))
        .route(
            &p("/catalogs/{name}"),
            get(get_catalog)
                .patch(update_catalog)
                .delete(delete_catalog),
        )
        .route(&p("/schemas"), get(list_schemas).post(create_schema))
        .route(
            &p("/schemas/{full_name}"),
            get(get_schema).patch(update_schema).delete(delete_schema),
        )
        .route(&p("/tables"), get(list_tables).post(create_table))
        .route(
            &p("/tables/{full_name}"),
            get(get_table).patch(update_table).delete(delete_table),
        )
        .route(&p("/tables/{full_name}/exists"), get(table_exists))
        .route(&p("/table-summaries"), get(table_summaries))
        .route(
            &p("/permissions/{securable_type}/{full_name}"),
            get(get_grants).patch(update_grants),
        )
        .route(
            &p("/effective-permissions/{securable_type}/{full_name}"),
            get(get_effective),
        )
}

// ---- JSON shapes ----------------------------------------------------------------------------

/// Adds `key: value` when the value is present.
fn put_opt(v: &mut Value, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        v[key] = value.into();
    }
}

fn audit(v: &mut Value, created_at: i64, created_by: &str, updated_at: i64, updated_by: &str) {
    v["created_at"] = json!(created_at);
    v["created_by"] = json!(created_by);
    v["updated_at"] = json!(updated_at);
    v["updated_by"] = json!(updated_by);
}

fn properties(v: &mut Value, p: &Map<String, Value>) {
    if !p.is_empty() {
        v["properties"] = Value::Object(p.clone());
    }
}

// ---- parameters -----------------------------------------------------------------------------

/// Pagination parameters of the list calls.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListParams {
    max_results: Option<String>,
    page_token: Option<String>,
    catalog_name: Option<String>,
    schema_name: Option<String>,
    omit_columns: Option<String>,
    force: Option<String>,
    principal: Option<String>,
    metastore_id: Option<String>,
    schema_name_pattern: Option<String>,
    table_name_pattern: Option<String>,
}

fn flag(name: &str, value: Option<&str>) -> ApiResult<bool> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("" | "false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "{name} must be true or false, not '{other}'"
        ))),
    }
}

/// `max_results`: absent means everything, 0 the server's page length, more is capped by it.
fn page_size(max_results: Option<&str>) -> ApiResult<Option<usize>> {
    let Some(raw) = max_results.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let n: i64 = raw
        .parse()
        .map_err(|_| ApiError::bad_request(format!("max_results must be a number, not '{raw}'")))?;
    match n {
        n if n < 0 => Err(ApiError::bad_request(
            "max_results must not be negative (0 asks for the server's page length).",
        )),
        0 => Ok(Some(PAGE_SIZE)),
        n => Ok(Some(usize::try_from(n).unwrap_or(PAGE_SIZE).min(PAGE_SIZE))),
    }
}

/// One page of a list sorted by `key`; the token is the key of the page's last item, and
/// there is none after the last page.
fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    params: &ListParams,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let size = page_size(params.max_results.as_deref())?;
    let after = params.page_token.as_deref().filter(|t| !t.is_empty());
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| after.is_none_or(|a| key(i).as_str() > a))
        .collect();
    match size {
        Some(size) if rest.len() > size => {
            rest.truncate(size);
            let token = rest.last().map(&key);
            Ok((rest, token))
        }
        _ => Ok((rest, None)),
    }
}

fn page_json(key: &str, items: Vec<Value>, token: Option<String>) -> Json<Value> {
    let mut v = json!({ key: items });
    if let Some(t) = token {
        v["next_page_token"] = json!(t);
    }
    Json(v)
}

fn required<'a>(name: &str, value: Option<&'a str>) -> ApiResult<&'a str> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
}

fn securable(securable_type: &str, full_name: &str) -> ApiResult<Securable> {
    Securable::parse(securable_type, full_name).map_err(ApiError::bad_request)
}

fn schema_name(full_name: &str) -> ApiResult<(String, String)> {
    match securable("schema", full_name)? {
        Securable::Schema(c, s) => Ok((c, s)),
        _ => Err(ApiError::bad_request(format!(
            "'{full_name}' is not a schema name"
        ))),
    }
}

fn table_name(full_name: &str) -> ApiResult<Securable> {
    securable("table", full_name)
}

// ---- updates, shared by catalogs, schemas and tables ----------------------------------------

fn string_properties(p: Option<Map<String, Value>>) -> ApiResult<Map<String, Value>> {
    let p = p.unwrap_or_default();
    if let Some((k, _)) = p.iter().find(|(_, v)| !v.is_string()) {
        return Err(ApiError::bad_request(format!(
            "Property '{k}' must be a string."
        )));
    }
    Ok(p)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateObject {
    owner: Option<String>,
    new_name: Option<String>,
    comment: Option<String>,
    properties: Option<Map<String, Value>>,
    isolation_mode: Option<String>,
    /// Some clients repeat the path's name in the body; the path decides.
    #[serde(default, rename = "name")]
    _name: Option<String>,
    #[serde(default, rename = "full_name")]
    _full_name: Option<String>,
}

fn object_update(req: UpdateObject) -> ApiResult<CatalogUpdate> {
    if req
        .isolation_mode
        .as_deref()
        .is_some_and(|m| !m.eq_ignore_ascii_case("OPEN"))
    {
        return Err(ApiError::bad_request(
            "Only isolation_mode OPEN is supported: catalogs are not bound to workspaces.",
        ));
    }
    Ok(CatalogUpdate {
        owner: req.owner.filter(|o| !o.trim().is_empty()),
        new_name: req.new_name.filter(|n| !n.trim().is_empty()),
        comment: req.comment,
        properties: req
            .properties
            .map(Some)
            .map(string_properties)
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(max: Option<&str>, token: Option<&str>) -> ListParams {
        ListParams {
            max_results: max.map(str::to_owned),
            page_token: token.map(str::to_owned),
            ..ListParams::default()
        }
    }

    #[test]
    fn pages_follow_names_and_end_without_a_token() {
        let names = || vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let (page, token) = paginate(names(), Clone::clone, &params(Some("2"), None)).unwrap();
        assert_eq!(
            (page, token.as_deref()),
            (vec!["a".into(), "b".into()], Some("b"))
        );
        let (page, token) = paginate(names(), Clone::clone, &params(Some("2"), Some("b"))).unwrap();
        assert_eq!((page, token), (vec!["c".to_owned()], None));
        let (page, token) = paginate(names(), Clone::clone, &params(Some("0"), None)).unwrap();
        assert_eq!((page.len(), token), (3, None));
        assert!(paginate(names(), Clone::clone, &params(Some("-1"), None)).is_err());
        assert!(paginate(names(), Clone::clone, &params(Some("x"), None)).is_err());
    }

    #[test]
    fn like_patterns() {
        assert!(like("%", ""));
        assert!(like("sales%", "sales_2024"));
        assert!(like("s_les", "sales"));
        assert!(like("%or%", "orders"));
        assert!(!like("sales", "Sales"));
        assert!(!like("s_", "s"));
        assert!(!like("a%b", "ac"));
    }

    #[test]
    fn grants_pages_refuse_small_and_negative_sizes() {
        assert!(check_grants_page(None).is_ok());
        assert!(check_grants_page(Some("0")).is_ok());
        assert!(check_grants_page(Some("150")).is_ok());
        assert!(check_grants_page(Some("10")).is_err());
        assert!(check_grants_page(Some("-1")).is_err());
    }
}
