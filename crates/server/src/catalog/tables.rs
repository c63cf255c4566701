//! Tables of a schema, their columns and the table summaries.

use super::*;

/// A column of a table (the API's `ColumnInfo`).
#[derive(Debug, Serialize)]
pub(super) struct TableColumn {
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    name: String,
    nullable: bool,
    position: i64,
    type_json: String,
    type_name: String,
    type_text: String,
}

impl From<ColumnRecord> for TableColumn {
    fn from(c: ColumnRecord) -> TableColumn {
        TableColumn {
            comment: c.comment,
            name: c.name,
            nullable: c.nullable,
            position: c.position,
            type_json: c.type_json,
            type_name: c.type_name,
            type_text: c.type_text,
        }
    }
}

/// A table; `columns` is left out when a list was asked without. A managed table's location is
/// where the warehouses store it, when this server runs SQL.
fn table_info(state: &AppState, t: TableRecord, with_columns: bool) -> SecurableInfo {
    let storage_location = match state.sql_engine() {
        Some(engine) => t.location(|id| engine.table_location(id)),
        None => t.storage_location.clone(),
    };
    securable_info!(t, "TABLE", t.full_name(), {
        catalog_name: Some(t.catalog_name),
        columns: with_columns.then(|| t.columns.into_iter().map(TableColumn::from).collect()),
        data_source_format: t.data_source_format,
        schema_name: Some(t.schema_name),
        storage_location: storage_location,
        table_id: Some(t.id),
        table_type: Some(t.table_type.as_str()),
        view_definition: t.view_definition,
    })
}

/// An entry of `table-summaries`.
#[derive(Debug, Serialize)]
pub(super) struct TableSummary {
    full_name: String,
    table_type: &'static str,
}

/// The answer of `tables/{full_name}/exists`.
#[derive(Debug, Serialize)]
pub(super) struct TableExists {
    table_exists: bool,
}

// ---- tables ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ColumnInfo {
    name: Option<String>,
    type_name: Option<String>,
    type_text: Option<String>,
    type_json: Option<String>,
    position: Option<i64>,
    nullable: Option<bool>,
    comment: Option<String>,
    /// Accepted and not kept: they describe storage, which patchbay does not have.
    #[serde(default, rename = "partition_index")]
    _partition_index: Option<i64>,
    #[serde(default, rename = "type_precision")]
    _type_precision: Option<i64>,
    #[serde(default, rename = "type_scale")]
    _type_scale: Option<i64>,
    #[serde(default, rename = "type_interval_type")]
    _type_interval_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateTable {
    name: Option<String>,
    catalog_name: Option<String>,
    schema_name: Option<String>,
    table_type: Option<String>,
    data_source_format: Option<String>,
    storage_location: Option<String>,
    columns: Option<Vec<ColumnInfo>>,
    properties: Option<Map<String, Value>>,
    comment: Option<String>,
}

fn column(i: usize, c: ColumnInfo) -> ApiResult<ColumnRecord> {
    let name = c
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("columns[{i}].name is required")))?;
    let type_name = match (c.type_name, c.type_text.as_deref()) {
        (Some(t), _) if !t.trim().is_empty() => t,
        (_, Some(text)) if !text.trim().is_empty() => {
            rules::column_type_name(text).map_err(ApiError::bad_request)?.to_owned()
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "columns[{i}] ('{name}') needs a type_name"
            )));
        }
    };
    Ok(ColumnRecord {
        name,
        position: c.position.unwrap_or(-1),
        type_name,
        type_text: c.type_text.unwrap_or_default(),
        type_json: c.type_json.unwrap_or_default(),
        nullable: c.nullable.unwrap_or(true),
        comment: c.comment,
    })
}

pub(super) async fn list_tables(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Page<SecurableInfo>>> {
    let catalog = required("catalog_name", params.catalog_name.as_deref())?;
    let schema = required("schema_name", params.schema_name.as_deref())?;
    let omit_columns = flag("omit_columns", params.omit_columns.as_deref())?;
    let all = state.store.list_tables_for(&caller, catalog, schema, omit_columns).await?;
    let (page, token) = paginate(all, |t| t.name.clone(), &params)?;
    Ok(page_json("tables", page, token, |t| table_info(&state, t, !omit_columns)))
}

pub(super) async fn create_table(
    Authenticated { state, caller }: Authenticated,
    JsonBody(req): JsonBody<CreateTable>,
) -> ApiResult<Json<SecurableInfo>> {
    let name = required("name", req.name.as_deref())?.to_owned();
    let catalog_name = required("catalog_name", req.catalog_name.as_deref())?.to_owned();
    let schema_name = required("schema_name", req.schema_name.as_deref())?.to_owned();
    let columns = req
        .columns
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, c)| column(i, c))
        .collect::<ApiResult<Vec<_>>>()?;
    let t = state
        .store
        .create_table(
            &caller,
            &NewTable {
                catalog_name,
                schema_name,
                name,
                table_type: req.table_type.unwrap_or_else(|| "MANAGED".into()),
                data_source_format: req.data_source_format,
                storage_location: req.storage_location.filter(|s| !s.is_empty()),
                comment: req.comment,
                properties: string_properties(req.properties)?,
                columns,
                ..NewTable::default()
            },
        )
        .await?;
    tracing::info!(table = %t.full_name(), "table created");
    Ok(Json(table_info(&state, t, true)))
}

pub(super) async fn get_table(
    Authenticated { state, caller }: Authenticated,
    Path(full_name): Path<String>,
) -> ApiResult<Json<SecurableInfo>> {
    let t = state.store.get_table(&caller, &table_name(&full_name)?).await?;
    Ok(Json(table_info(&state, t, true)))
}

pub(super) async fn table_exists(
    Authenticated { state, caller }: Authenticated,
    Path(full_name): Path<String>,
) -> ApiResult<Json<TableExists>> {
    let exists = state.store.table_exists(&caller, &table_name(&full_name)?).await?;
    Ok(Json(TableExists { table_exists: exists }))
}

/// `table-summaries`: the full name and type of every table of a catalog the caller may see,
/// optionally only in schemas and of names matching SQL `LIKE` patterns (`%`, `_`). The
/// legacy CLI's `catalogs delete --purge` lists a catalog's tables this way.
pub(super) async fn table_summaries(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Page<TableSummary>>> {
    let catalog = required("catalog_name", params.catalog_name.as_deref())?;
    let matches = |pattern: Option<&str>, name: &str| pattern.is_none_or(|p| like(p, name));
    let mut all = Vec::new();
    for schema in state.store.list_schemas_for(&caller, catalog).await? {
        if !matches(params.schema_name_pattern.as_deref(), &schema.name) {
            continue;
        }
        match state.store.list_tables_for(&caller, catalog, &schema.name, true).await {
            Ok(tables) => all.extend(
                tables
                    .into_iter()
                    .filter(|t| matches(params.table_name_pattern.as_deref(), &t.name)),
            ),
            // A schema the caller sees but may not use shows no tables.
            Err(e) if e.kind() == Some(CatalogErrorKind::Denied) => {}
            Err(e) => return Err(e.into()),
        }
    }
    all.sort_by_key(TableRecord::full_name);
    let (page, token) = paginate(all, TableRecord::full_name, &params)?;
    Ok(page_json("tables", page, token, |t| TableSummary {
        full_name: t.full_name(),
        table_type: t.table_type.as_str(),
    }))
}

/// SQL `LIKE` without escapes: `%` is any run of characters, `_` any one character; case
/// matters as in a name.
pub(super) fn like(pattern: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('_', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    go(&p, &s)
}

pub(super) async fn update_table(
    Authenticated { state, caller }: Authenticated,
    Path(full_name): Path<String>,
    JsonBody(req): JsonBody<UpdateObject>,
) -> ApiResult<Json<SecurableInfo>> {
    let t =
        state.store.update_table(&caller, &table_name(&full_name)?, &object_update(req)?).await?;
    Ok(Json(table_info(&state, t, true)))
}

pub(super) async fn delete_table(
    Authenticated { state, caller }: Authenticated,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Empty>> {
    let tables = state.store.delete_table(&caller, &table_name(&full_name)?).await?;
    crate::statements::engine::forget_tables(&state, tables).await;
    tracing::info!(table = %full_name, "table deleted");
    Ok(empty())
}
