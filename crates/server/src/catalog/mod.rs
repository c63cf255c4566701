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
use patchbay_core::time::EpochMillis;
use schemas::*;
use tables::*;

use crate::AppState;
use crate::auth::{Admin, Authenticated};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::response::{Empty, empty};
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::routing::{get, put};
use patchbay_core::catalog::{self as rules, Securable, SecurableType};
use patchbay_store::{
    CatalogErrorKind, CatalogRecord, CatalogUpdate, ColumnRecord, EffectiveAssignment,
    EffectivePrivilege, GrantChange, MetastoreRecord, NewCatalog, NewMetastore, NewSchema,
    NewTable, PrivilegeAssignment, SchemaRecord, TableRecord,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
        .route(&p("/metastores"), get(list_metastores).post(create_metastore))
        .route(
            &p("/metastores/{id}"),
            get(get_metastore).patch(update_metastore).delete(delete_metastore),
        )
        .route(
            &p("/workspaces/{workspace_id}/metastore"),
            put(assign).patch(update_assignment).delete(unassign),
        )
        .route(&p("/catalogs"), get(list_catalogs).post(create_catalog))
        .route(
            &p("/catalogs/{name}"),
            get(get_catalog).patch(update_catalog).delete(delete_catalog),
        )
        .route(&p("/schemas"), get(list_schemas).post(create_schema))
        .route(
            &p("/schemas/{full_name}"),
            get(get_schema).patch(update_schema).delete(delete_schema),
        )
        .route(&p("/tables"), get(list_tables).post(create_table))
        .route(&p("/tables/{full_name}"), get(get_table).patch(update_table).delete(delete_table))
        .route(&p("/tables/{full_name}/exists"), get(table_exists))
        .route(&p("/table-summaries"), get(table_summaries))
        .route(
            &p("/permissions/{securable_type}/{full_name}"),
            get(get_grants).patch(update_grants),
        )
        .route(&p("/effective-permissions/{securable_type}/{full_name}"), get(get_effective))
}

// ---- JSON shapes ----------------------------------------------------------------------------
//
// Each answer is a `Serialize` struct next to its handlers, fields in byte order: the order
// the `json!` maps they replaced wrote them in, so that the bytes stayed the same. An optional
// field is left out when it has no value, as it always was.

/// A catalog, schema or table (the API's `CatalogInfo`, `SchemaInfo`, `TableInfo`): one shape,
/// in which each kind sets the fields it has and leaves the others out.
#[derive(Debug, Default, Serialize)]
pub(super) struct SecurableInfo {
    browse_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    columns: Option<Vec<TableColumn>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    created_at: EpochMillis,
    created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_source_format: Option<String>,
    full_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    isolation_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metastore_id: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    properties: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_name: Option<String>,
    securable_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_root: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    table_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    table_type: Option<&'static str>,
    updated_at: EpochMillis,
    updated_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    view_definition: Option<String>,
}

/// The [`SecurableInfo`] of a catalog, schema or table record `$record` named `$full_name`:
/// the fields the three records share, under the same names, moved out of it, then the kind's
/// own `{ field: value }`. `$full_name` is read before any field is moved out.
/// (A macro: the records are three types of the store's, alike only by their field names.)
macro_rules! securable_info {
    (
        $record:ident, $securable_type:literal, $full_name:expr,
        { $($field:ident: $value:expr),* $(,)? }
    ) => {
        SecurableInfo {
            browse_only: false,
            full_name: $full_name,
            comment: $record.meta.comment,
            created_at: $record.meta.created_at,
            created_by: $record.meta.created_by,
            metastore_id: $record.metastore_id,
            name: $record.name,
            owner: $record.meta.owner,
            properties: $record.meta.properties,
            securable_type: $securable_type,
            updated_at: $record.meta.updated_at,
            updated_by: $record.meta.updated_by,
            $($field: $value,)*
            ..SecurableInfo::default()
        }
    };
}
use securable_info;

/// One page of a list: its items under the list's name (`catalogs`, `schemas`, …) and
/// `next_page_token` unless it is the last page. The two keys go in byte order, which puts the
/// token first for `schemas` and `tables`.
pub(super) struct Page<T> {
    key: &'static str,
    items: Vec<T>,
    next_page_token: Option<String>,
}

impl<T: Serialize> Serialize for Page<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let token = self.next_page_token.as_ref();
        let mut map = serializer.serialize_map(Some(1 + usize::from(token.is_some())))?;
        let items_first = self.key < "next_page_token";
        if items_first {
            map.serialize_entry(self.key, &self.items)?;
        }
        if let Some(token) = token {
            map.serialize_entry("next_page_token", token)?;
        }
        if !items_first {
            map.serialize_entry(self.key, &self.items)?;
        }
        map.end()
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
        Some(other) => {
            Err(ApiError::bad_request(format!("{name} must be true or false, not '{other}'")))
        }
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
    let mut rest: Vec<T> =
        items.into_iter().filter(|i| after.is_none_or(|a| key(i).as_str() > a)).collect();
    match size {
        Some(size) if rest.len() > size => {
            rest.truncate(size);
            let token = rest.last().map(&key);
            Ok((rest, token))
        }
        _ => Ok((rest, None)),
    }
}

/// The page of `items` under `key`, each shown as `show` shows it.
fn page_json<R, T: Serialize>(
    key: &'static str,
    items: Vec<R>,
    token: Option<String>,
    show: impl FnMut(R) -> T,
) -> Json<Page<T>> {
    Json(Page { key, items: items.into_iter().map(show).collect(), next_page_token: token })
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
        _ => Err(ApiError::bad_request(format!("'{full_name}' is not a schema name"))),
    }
}

fn table_name(full_name: &str) -> ApiResult<Securable> {
    securable("table", full_name)
}

// ---- updates, shared by catalogs, schemas and tables ----------------------------------------

fn string_properties(p: Option<Map<String, Value>>) -> ApiResult<Map<String, Value>> {
    let p = p.unwrap_or_default();
    if let Some((k, _)) = p.iter().find(|(_, v)| !v.is_string()) {
        return Err(ApiError::bad_request(format!("Property '{k}' must be a string.")));
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
    if req.isolation_mode.as_deref().is_some_and(|m| !m.eq_ignore_ascii_case("OPEN")) {
        return Err(ApiError::bad_request(
            "Only isolation_mode OPEN is supported: catalogs are not bound to workspaces.",
        ));
    }
    Ok(CatalogUpdate {
        owner: req.owner.filter(|o| !o.trim().is_empty()),
        new_name: req.new_name.filter(|n| !n.trim().is_empty()),
        comment: req.comment,
        properties: req.properties.map(Some).map(string_properties).transpose()?,
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
        assert_eq!((page, token.as_deref()), (vec!["a".into(), "b".into()], Some("b")));
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
