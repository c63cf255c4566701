//! Changes to a table's or a view's definition after it is made: what `ALTER TABLE`,
//! `ALTER VIEW` and `COMMENT ON` change in the catalog. Whether the caller may is core's rule
//! ([`AccessFacts::check_alteration`](patchbay_core::catalog::AccessFacts::check_alteration)),
//! decided in the transaction that makes the change.

use super::objects::{CatalogUpdate, Kind, denied, for_caller, load, name, update_row};
use super::tables::{checked_columns, insert_columns};
use super::{CatalogError, CatalogResult, ColumnRecord, TableRecord};
use crate::Store;
use patchbay_core::access::Caller;
use patchbay_core::catalog::{Alteration, Securable};
use serde_json::{Map, Value};

/// One change to a table or view.
#[derive(Debug, Clone, PartialEq)]
pub enum TableChange {
    /// Sets or (`None`) removes its comment.
    Comment(Option<String>),
    /// Sets or removes one column's comment.
    ColumnComment { column: String, comment: Option<String> },
    /// Sets these properties, keeping the others.
    SetProperties(Map<String, Value>),
    /// Removes these properties; one that is not set is an error unless `if_exists`.
    UnsetProperties { keys: Vec<String>, if_exists: bool },
    /// Renames it within its schema.
    Rename(String),
    /// Gives it to another principal (user e-mail, group name or application id).
    Owner(String),
    /// Adds columns after the last one. A column of that name already in the catalog is an
    /// error: the caller learns that its change was made before (or by someone else).
    AddColumns(Vec<ColumnRecord>),
}

impl TableChange {
    fn alteration(&self) -> Alteration {
        match self {
            TableChange::Rename(_) | TableChange::Owner(_) => Alteration::Ownership,
            _ => Alteration::Definition,
        }
    }
}

impl Store {
    /// Makes one change to a table or view, and returns it as it is now. The caller's right to
    /// it is decided in the same transaction (core's rule), so a grant revoked or an owner
    /// changed meanwhile counts.
    pub async fn alter_table(
        &self,
        caller: &Caller,
        securable: &Securable,
        change: &TableChange,
    ) -> CatalogResult<TableRecord> {
        let mut tx = self.begin_write().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, securable).await?;
        let id = resolved.chain[Kind::Table.depth()].id.clone();
        // Changes to one table take turns: each reads the columns and properties the one
        // before it left.
        self.lock_object(&mut tx, Kind::Table, &id).await?;
        let record: TableRecord = load(&mut tx, &id).await?;
        facts
            .check_alteration(change.alteration(), record.table_type.is_view(), securable)
            .map_err(|refused| match refused {
                Some(missing) => denied(missing),
                None => CatalogError::NotOwner { on: securable.clone() },
            })?;
        let mut update = CatalogUpdate::default();
        let mut new_name = None;
        match change {
            TableChange::Comment(comment) => {
                sqlx::query("UPDATE catalog_tables SET comment = $1 WHERE id = $2")
                    .bind(comment.as_deref())
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            TableChange::ColumnComment { column, comment } => {
                let changed = sqlx::query(
                    "UPDATE catalog_columns SET comment = $1 WHERE table_id = $2 AND name = $3",
                )
                .bind(comment.as_deref())
                .bind(id.as_str())
                .bind(name(column)?)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Err(CatalogError::ColumnNotFound {
                        table: securable.full_name(),
                        name: column.clone(),
                    });
                }
            }
            TableChange::SetProperties(set) => {
                let mut properties = record.meta.properties.clone();
                properties.extend(set.clone());
                update.properties = Some(properties);
            }
            TableChange::UnsetProperties { keys, if_exists } => {
                let mut properties = record.meta.properties.clone();
                for key in keys {
                    if properties.remove(key).is_none() && !if_exists {
                        return Err(CatalogError::PropertyNotSet {
                            table: securable.full_name(),
                            key: key.clone(),
                        });
                    }
                }
                update.properties = Some(properties);
            }
            TableChange::Rename(to) => new_name = Some(name(to)?),
            TableChange::Owner(owner) => update.owner = Some(owner.clone()),
            TableChange::AddColumns(columns) => {
                let next = record.columns.iter().map(|c| c.position + 1).max();
                let first = next.unwrap_or(0);
                let numbered: Vec<ColumnRecord> = columns
                    .iter()
                    .zip(first..)
                    .map(|(c, position)| ColumnRecord { position, ..c.clone() })
                    .collect();
                let added = checked_columns(&numbered)?;
                if let Some(taken) =
                    added.iter().find(|c| record.columns.iter().any(|old| old.name == c.name))
                {
                    return Err(CatalogError::ColumnExists {
                        table: securable.full_name(),
                        name: taken.name.clone(),
                    });
                }
                insert_columns(&mut tx, &id, &added).await?;
            }
        }
        update_row(
            &mut tx,
            self.now_millis(),
            caller,
            Kind::Table,
            &id,
            new_name.as_deref(),
            &update,
        )
        .await?;
        let record = load(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(record)
    }
}
