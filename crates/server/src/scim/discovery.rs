//! The discovery documents (RFC 7644 §4): what this server supports, exactly.

use super::{LIST_SCHEMA, ListResponse, PREFIX, ScimResult, scim_json};
use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::Value;
use std::sync::LazyLock;

// The documents are data, written as the RFC writes them and served as they are: they stay
// `Value`s, parsed once.
static SERVICE_PROVIDER_CONFIG: LazyLock<Value> =
    LazyLock::new(|| parse(include_str!("discovery/service_provider_config.json")));
static RESOURCE_TYPES: LazyLock<Vec<Value>> =
    LazyLock::new(|| list(include_str!("discovery/resource_types.json")));
static SCHEMAS: LazyLock<Vec<Value>> =
    LazyLock::new(|| list(include_str!("discovery/schemas.json")));

fn parse(text: &str) -> Value {
    // The documents are part of the binary and covered by tests; a broken one is a build bug.
    serde_json::from_str(text).unwrap_or_else(|e| panic!("invalid embedded SCIM document: {e}"))
}

fn list(text: &str) -> Vec<Value> {
    match parse(text) {
        Value::Array(items) => items,
        other => vec![other],
    }
}

pub(super) fn routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route(&super::at("/ServiceProviderConfig"), get(service_provider_config))
        .route(&super::at("/ResourceTypes"), get(resource_types))
        .route(&super::at("/ResourceTypes/{name}"), get(resource_type))
        .route(&super::at("/Schemas"), get(schemas))
        .route(&super::at("/Schemas/{id}"), get(schema))
}

/// All the documents of a kind, as one page.
fn list_response(items: &[Value]) -> ListResponse<&Value> {
    ListResponse {
        resources: items.iter().collect(),
        items_per_page: items.len(),
        schemas: [LIST_SCHEMA],
        start_index: 1,
        total_results: i64::try_from(items.len()).unwrap_or(i64::MAX),
    }
}

async fn service_provider_config(_: Authenticated) -> ScimResult {
    Ok(scim_json(StatusCode::OK, &*SERVICE_PROVIDER_CONFIG))
}

async fn resource_types(_: Authenticated) -> ScimResult {
    Ok(scim_json(StatusCode::OK, list_response(&RESOURCE_TYPES)))
}

async fn schemas(_: Authenticated) -> ScimResult {
    Ok(scim_json(StatusCode::OK, list_response(&SCHEMAS)))
}

async fn resource_type(_: Authenticated, Path(name): Path<String>) -> ScimResult {
    find(&RESOURCE_TYPES, &name, "Resource type")
}

async fn schema(_: Authenticated, Path(id): Path<String>) -> ScimResult {
    find(&SCHEMAS, &id, "Schema")
}

fn find(items: &[Value], id: &str, noun: &str) -> ScimResult {
    items
        .iter()
        .find(|i| i["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(id)))
        .map(|i| scim_json(StatusCode::OK, i))
        .ok_or_else(|| ApiError::not_found(format!("{noun} {id} not found under {PREFIX}.")).into())
}
