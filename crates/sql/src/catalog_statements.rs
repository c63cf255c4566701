//! The statements that manage catalog metadata and privileges: `GRANT`, `REVOKE`, `SHOW
//! GRANTS`, `CREATE SCHEMA`, `DROP SCHEMA`. They act on the same store as the Unity Catalog
//! API, so a SQL grant shows in the grants endpoint and the reverse.

use crate::catalog_syntax::{self, ObjectName, Statement};
use crate::failure;
use crate::rows::ArrowRows;
use patchbay_core::access::Caller;
use patchbay_core::catalog::{self as rules, Securable};
use patchbay_server::statements::engine::SqlFailure;
use patchbay_store::{CatalogError, GrantChange, NewSchema, Store};

/// Runs one of these statements.
pub async fn run(
    store: &Store,
    caller: &Caller,
    statement: Statement,
    catalog: &str,
    schema: &str,
    dropped_tables: &mut Vec<String>,
) -> Result<ArrowRows, SqlFailure> {
    let resolve = |name: &ObjectName| {
        catalog_syntax::resolve(name, catalog, schema)
            .map_err(|_| failure::invalid_name(&name.parts.join(".")))
    };
    let done =
        |r: Result<(), CatalogError>| r.map(|()| ArrowRows::empty()).map_err(failure::catalog);
    let granting = matches!(statement, Statement::Grant { .. });
    match statement {
        Statement::Grant { privileges, object, principal }
        | Statement::Revoke { privileges, object, principal } => {
            change_grants(store, caller, &resolve(&object)?, principal, privileges, granting).await
        }
        Statement::ShowGrants { principal, object } => {
            let securable = resolve(&object)?;
            let rows = store
                .show_grants(caller, &securable, principal.as_deref())
                .await
                .map_err(failure::catalog)?;
            Ok(ArrowRows::strings(
                &["principal", "action_type", "object_type", "object_key"],
                rows.into_iter()
                    .map(|r| {
                        let legacy = r.on.is_legacy();
                        vec![
                            Some(r.principal),
                            Some(r.privilege.map_or_else(
                                || "OWN".to_owned(),
                                |p| rules::sql_privilege(p, legacy),
                            )),
                            Some(object_type(&r.on).to_owned()),
                            Some(r.on.full_name()),
                        ]
                    })
                    .collect(),
            ))
        }
        Statement::CreateSchema { name, if_not_exists, comment } => {
            let Ok(Securable::Schema(catalog_name, schema)) = resolve(&name) else {
                return Err(failure::invalid_name(&name.parts.join(".")));
            };
            let created = store
                .create_schema(
                    caller,
                    &NewSchema {
                        catalog_name,
                        name: schema,
                        comment,
                        properties: serde_json::Map::new(),
                    },
                )
                .await;
            match created {
                Err(CatalogError::SchemaExists { .. }) if if_not_exists => Ok(ArrowRows::empty()),
                other => done(other.map(|_| ())),
            }
        }
        Statement::DropSchema { name, if_exists, cascade } => {
            let Ok(Securable::Schema(catalog_name, schema)) = resolve(&name) else {
                return Err(failure::invalid_name(&name.parts.join(".")));
            };
            match store.delete_schema(caller, &catalog_name, &schema, cascade).await {
                Err(CatalogError::SchemaNotFound { .. } | CatalogError::CatalogNotFound { .. })
                    if if_exists =>
                {
                    Ok(ArrowRows::empty())
                }
                other => done(other.map(|tables| dropped_tables.extend(tables))),
            }
        }
    }
}

/// `GRANT` (`add`) or `REVOKE` privileges on a securable.
async fn change_grants(
    store: &Store,
    caller: &Caller,
    securable: &Securable,
    principal: String,
    privileges: Vec<String>,
    add: bool,
) -> Result<ArrowRows, SqlFailure> {
    let (add, remove) = if add { (privileges, Vec::new()) } else { (Vec::new(), privileges) };
    let change = GrantChange { principal, add, remove };
    store
        .update_grants(caller, securable, &[change])
        .await
        .map(|_| ArrowRows::empty())
        .map_err(failure::catalog)
}

/// `SHOW GRANTS`' object type: legacy schemas are databases.
fn object_type(on: &Securable) -> &'static str {
    match on {
        Securable::Metastore => "METASTORE",
        Securable::Catalog(_) => "CATALOG",
        Securable::Schema(..) if on.is_legacy() => "DATABASE",
        Securable::Schema(..) => "SCHEMA",
        Securable::Table(..) => "TABLE",
    }
}
