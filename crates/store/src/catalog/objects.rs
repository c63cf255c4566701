//! What catalogs, schemas and tables share: one path for loading a row, listing the children
//! a caller may see, checking that a caller manages an object, updating and deleting, with
//! what differs per kind as data ([`Kind`]). Each kind's own rules live in `catalogs.rs`,
//! `schemas.rs` and `tables.rs`; every decision is `patchbay_core::catalog`'s, on facts
//! gathered in the same transaction. patchbay keeps metadata only: a table is a record and its
//! columns.

use super::{
    CatalogError, CatalogResult, Identity, Node, Resolved, caller_identity, exists_or, facts,
    find_principal, granted, node, resolve,
};
use crate::Store;
use crate::sql::{Bind, Sql};
use patchbay_core::PrincipalId;
use patchbay_core::access::Caller;
use patchbay_core::catalog::{self as rules, AccessFacts, LevelFacts, Securable, SecurableType};
use patchbay_core::time::EpochMillis;
use serde_json::{Map, Value};
use sqlx::{Any, Row, Transaction};

/// The kinds of object below a metastore. What the shared paths need to know about each is
/// here, so a path is written once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Catalog,
    Schema,
    Table,
}

/// Counts what a delete without `force` must not take with it (`$1` is the object's id), and
/// the error when there is some.
type Content = (&'static str, fn(String, i64) -> CatalogError);

impl Kind {
    /// The table its rows live in.
    fn table(self) -> &'static str {
        match self {
            Kind::Catalog => "catalogs",
            Kind::Schema => "catalog_schemas",
            Kind::Table => "catalog_tables",
        }
    }

    /// Its place in a resolved chain: catalog, schema, table.
    pub(crate) fn depth(self) -> usize {
        match self {
            Kind::Catalog => 0,
            Kind::Schema => 1,
            Kind::Table => 2,
        }
    }

    /// The grants column that names it.
    fn grant_column(self) -> &'static str {
        match self {
            Kind::Catalog => "catalog_id",
            Kind::Schema => "schema_id",
            Kind::Table => "table_id",
        }
    }

    /// The alias of its row in its `SELECT`.
    fn alias(self) -> &'static str {
        match self {
            Kind::Catalog => "c",
            Kind::Schema => "s",
            Kind::Table => "t",
        }
    }

    /// The column that names its parent: a catalog's metastore (catalogs are not listed as
    /// children: `hive_metastore` belongs to the workspace, see `list_catalogs`).
    fn parent_column(self) -> &'static str {
        match self {
            Kind::Catalog => "metastore_id",
            Kind::Schema => "catalog_id",
            Kind::Table => "schema_id",
        }
    }

    fn securable_type(self) -> SecurableType {
        match self {
            Kind::Catalog => SecurableType::Catalog,
            Kind::Schema => SecurableType::Schema,
            Kind::Table => SecurableType::Table,
        }
    }

    /// A rename onto a name that is taken.
    fn exists(self, name: String) -> CatalogError {
        match self {
            Kind::Catalog => CatalogError::CatalogExists { name },
            Kind::Schema => CatalogError::SchemaExists { name },
            Kind::Table => CatalogError::TableExists { name },
        }
    }

    /// What a delete without `force` must not take with it: a catalog's schemas (other than
    /// `default`) and tables, a schema's tables.
    fn content(self) -> Option<Content> {
        match self {
            Kind::Catalog => Some((
                "SELECT (SELECT COUNT(*) FROM catalog_schemas WHERE catalog_id = $1 AND name <> 'default') \
                      + (SELECT COUNT(*) FROM catalog_tables t JOIN catalog_schemas s ON s.id = t.schema_id \
                         WHERE s.catalog_id = $1) AS n",
                |name, _| CatalogError::CatalogNotEmpty { name },
            )),
            Kind::Schema => Some((
                "SELECT COUNT(*) AS n FROM catalog_tables WHERE schema_id = $1",
                |name, tables| CatalogError::SchemaNotEmpty { name, tables },
            )),
            Kind::Table => None,
        }
    }
}

/// What every catalog, schema and table has besides its name: its owner (by id and by name),
/// comment, properties, and who created and last changed it, when.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    /// `None` once the owning principal was deleted.
    pub owner_id: Option<PrincipalId>,
    pub owner: Option<String>,
    pub comment: Option<String>,
    pub properties: Map<String, Value>,
    pub created_at: EpochMillis,
    pub created_by: String,
    pub updated_at: EpochMillis,
    pub updated_by: String,
}

impl ObjectMeta {
    /// Reads the columns every object row has, with its owner's name as `owner_name`.
    pub(crate) fn from_row(row: &dyn crate::read::Row) -> CatalogResult<ObjectMeta> {
        Ok(ObjectMeta {
            owner_id: row.get("owner_id")?,
            owner: row.get("owner_name")?,
            comment: row.get("comment")?,
            properties: properties(row)?,
            created_at: row.get("created_at")?,
            created_by: row.get("created_by")?,
            updated_at: row.get("updated_at")?,
            updated_by: row.get("updated_by")?,
        })
    }
}

/// A catalog, schema or table as the API shows it, read from its row.
pub(crate) trait Object: Sized + Send {
    const KIND: Kind;
    /// `SELECT … WHERE ` over the object's row (aliased as [`Kind::alias`]) and its owner.
    fn select() -> Sql;
    fn from_row(row: &dyn crate::read::Row) -> CatalogResult<Self>;
    fn id(&self) -> &str;
    fn owner_id(&self) -> Option<PrincipalId>;

    /// Reads what records hold besides their rows (a table's columns), in the same snapshot.
    async fn complete(
        _tx: &mut impl crate::read::Exec,
        _records: &mut [Self],
    ) -> CatalogResult<()> {
        Ok(())
    }
}

/// Implements [`Object`] for a kind's record: `$select` is its `SELECT … WHERE `, and a row
/// (`$row`) reads as the columns every catalog, schema and table has, then the kind's own
/// fields as given.
macro_rules! object {
    (
        $record:ident, $kind:expr, $select:expr,
        |$row:ident| { $($field:ident: $value:expr),* $(,)? }
        $(, $($extra:tt)+)?
    ) => {
        impl $crate::catalog::objects::Object for $record {
            const KIND: $crate::catalog::objects::Kind = $kind;

            fn select() -> $crate::sql::Sql {
                $crate::sql::Sql::new(&$select)
            }

            fn from_row(
                $row: &dyn $crate::read::Row,
            ) -> $crate::catalog::CatalogResult<Self> {
                let workspace_id: Option<i64> = $row.get("workspace_id")?;
                Ok($record {
                    id: $row.get("id")?,
                    name: $row.get("name")?,
                    metastore_id: $row.get("metastore_id")?,
                    legacy: workspace_id.is_some(),
                    meta: $crate::catalog::objects::ObjectMeta::from_row($row)?,
                    $($field: $value,)*
                })
            }

            fn id(&self) -> &str {
                &self.id
            }

            fn owner_id(&self) -> Option<PrincipalId> {
                self.meta.owner_id
            }

            $($($extra)+)?
        }
    };
}
pub(crate) use object;

/// One object by id, whole ([`Object::complete`]).
pub(crate) async fn load<T: Object>(tx: &mut impl crate::read::Exec, id: &str) -> CatalogResult<T> {
    let mut sql = T::select();
    sql.push(&format!("{}.id = ", T::KIND.alias())).text(id);
    let mut found = None;
    tx.each(&sql, &mut |row| {
        if found.is_none() {
            found = Some(T::from_row(row).map_err(crate::StoreError::from)?);
        }
        Ok(())
    })
    .await?;
    let mut record = found.ok_or_else(|| crate::StoreError::from(sqlx::Error::RowNotFound))?;
    T::complete(tx, std::slice::from_mut(&mut record)).await?;
    Ok(record)
}

/// The children of a resolved parent that the identity may see, by name.
pub(crate) async fn visible_children<T: Object>(
    tx: &mut Transaction<'static, Any>,
    identity: &Identity,
    parent: &Resolved,
    parent_facts: &AccessFacts,
) -> CatalogResult<Vec<T>> {
    let kind = T::KIND;
    let mut sql = T::select();
    sql.push(&format!("{}.{} = ", kind.alias(), kind.parent_column()))
        .text(parent.chain[kind.depth() - 1].id.clone())
        .push(&format!(" ORDER BY {}.name", kind.alias()));
    let rows = sql
        .query()
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| T::from_row(row))
        .collect::<CatalogResult<Vec<T>>>()?;
    let children: Vec<(String, Option<PrincipalId>)> =
        rows.iter().map(|r| (r.id().to_owned(), r.owner_id())).collect();
    let each = child_facts(tx, identity, parent_facts, kind.grant_column(), &children).await?;
    Ok(rows
        .into_iter()
        .zip(each)
        .filter(|(_, f)| f.visible(kind.securable_type()))
        .map(|(r, _)| r)
        .collect())
}

/// The child of `parent_id` named `name`: a catalog of a metastore, a schema of a catalog, a
/// table of a schema; `None` if it has none of that name.
pub(crate) async fn child(
    tx: &mut Transaction<'static, Any>,
    kind: Kind,
    parent_id: &str,
    name: &str,
) -> CatalogResult<Option<Node>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, owner_id FROM {} WHERE {} = $1 AND name = $2",
        kind.table(),
        kind.parent_column()
    )))
    .bind(parent_id)
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(node).transpose()
}

/// The `INSERT` of one object row made at `now` by `by`: `values` fill `columns` in order,
/// the audit columns follow.
pub(crate) fn insert_row(
    table: &str,
    columns: &str,
    values: impl IntoIterator<Item = Bind>,
    now: EpochMillis,
    by: &str,
) -> Sql {
    let mut sql = Sql::new(&format!("INSERT INTO {table} ({columns}, {AUDIT}) VALUES ("));
    sql.list(values.into_iter().chain([Bind::Int(now), by.into(), Bind::Int(now), by.into()]))
        .push(")");
    sql
}

/// Resolves a securable for a caller, with the facts about it.
pub(crate) async fn for_caller(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
    securable: &Securable,
) -> CatalogResult<(Identity, Resolved, AccessFacts)> {
    let resolved = resolve(tx, caller.workspace_id, securable).await?;
    let identity = caller_identity(tx, caller).await?;
    let facts = facts(tx, &identity, &resolved).await?;
    Ok((identity, resolved, facts))
}

/// Resolves an object the caller means to change (or whose grants it means to change): only
/// its owner, a parent's owner, a holder of `MANAGE` or an admin may. Returns the object's id.
pub(crate) async fn managed(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
    kind: Kind,
    securable: &Securable,
) -> CatalogResult<(Resolved, String)> {
    let (_, resolved, facts) = for_caller(tx, caller, securable).await?;
    if !facts.may_manage() {
        return Err(CatalogError::NotOwner { on: securable.clone() });
    }
    let id = resolved.chain[kind.depth()].id.clone();
    Ok((resolved, id))
}

/// Applies a [`CatalogUpdate`] to one object, renaming it to `new_name` (already checked).
pub(super) async fn update_row(
    tx: &mut Transaction<'static, Any>,
    now: EpochMillis,
    caller: &Caller,
    kind: Kind,
    id: &str,
    new_name: Option<&str>,
    update: &CatalogUpdate,
) -> CatalogResult<()> {
    let mut sql = Sql::new(&format!("UPDATE {} SET updated_at = ", kind.table()));
    sql.int(now).push(", updated_by = ").text(caller.name.clone());
    if let Some(n) = new_name {
        sql.push(", name = ").text(n);
    }
    if let Some(owner) = &update.owner {
        let (owner_id, _) = find_principal(tx, caller.workspace_id, owner).await?;
        sql.push(", owner_id = ").int(owner_id.get());
    }
    if let Some(comment) = &update.comment {
        sql.push(", comment = ").text(comment.clone());
    }
    if let Some(p) = &update.properties {
        sql.push(", properties = ").text(properties_text(p));
    }
    sql.push(" WHERE id = ").text(id);
    sql.query()
        .execute(&mut **tx)
        .await
        .map_err(|e| exists_or(e, || kind.exists(new_name.unwrap_or_default().to_owned())))?;
    Ok(())
}

impl Store {
    /// An object the caller may see, read whole in the snapshot that decided: `visible` says
    /// whether it may, with its refusal.
    pub(crate) async fn get_object<T: Object>(
        &self,
        caller: &Caller,
        securable: &Securable,
        visible: impl FnOnce(&Resolved, &AccessFacts) -> CatalogResult<()>,
    ) -> CatalogResult<T> {
        let mut tx = self.begin_read().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, securable).await?;
        visible(&resolved, &facts)?;
        let record = load(&mut tx, &resolved.chain[T::KIND.depth()].id).await?;
        tx.rollback().await?;
        Ok(record)
    }

    /// Applies an update to an object the caller manages, and returns the object as it is
    /// now. `new_name` checks the rename the update asks for (the object is resolved).
    pub(crate) async fn update_object<T: Object>(
        &self,
        caller: &Caller,
        securable: &Securable,
        update: &CatalogUpdate,
        new_name: impl FnOnce(&Resolved) -> CatalogResult<Option<String>>,
    ) -> CatalogResult<T> {
        let mut tx = self.begin_write().await?;
        let (resolved, id) = managed(&mut tx, caller, T::KIND, securable).await?;
        let new_name = new_name(&resolved)?;
        update_row(&mut tx, self.now_millis(), caller, T::KIND, &id, new_name.as_deref(), update)
            .await?;
        let record = load(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// [`Store::update_object`] for a schema or a table, whose new name needs only to be a
    /// valid name.
    pub(crate) async fn update_renamed<T: Object>(
        &self,
        caller: &Caller,
        securable: &Securable,
        update: &CatalogUpdate,
    ) -> CatalogResult<T> {
        self.update_object(caller, securable, update, |_| {
            update.new_name.as_deref().map(name).transpose()
        })
        .await
    }

    /// Locks object `id` for the rest of the transaction (on PostgreSQL; SQLite's writers
    /// always take turns): writers of one object then take turns, each seeing what the one
    /// before it left.
    pub(crate) async fn lock_object(
        &self,
        tx: &mut Transaction<'static, Any>,
        kind: Kind,
        id: &str,
    ) -> CatalogResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM {} WHERE id = $1{}",
            kind.table(),
            self.lock_clause()
        )))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
        Ok(())
    }

    /// Deletes a catalog, schema or table the caller manages, with what is below it and every
    /// grant on them (foreign keys). One with content needs `force`.
    pub(crate) async fn delete_object(
        &self,
        caller: &Caller,
        kind: Kind,
        securable: &Securable,
        force: bool,
    ) -> CatalogResult<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let (_, id) = managed(&mut tx, caller, kind, securable).await?;
        if let Some((count, not_empty)) = kind.content() {
            let content = sqlx::query(count)
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await?
                .try_get::<i64, _>("n")?;
            if content > 0 && !force {
                return Err(not_empty(securable.full_name(), content));
            }
        }
        let tables = match kind {
            Kind::Table => vec![id.clone()],
            Kind::Schema => tables_under(&mut tx, "s.id", &id).await?,
            Kind::Catalog => tables_under(&mut tx, "s.catalog_id", &id).await?,
        };
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {} WHERE id = $1", kind.table())))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(tables)
    }
}

/// The ids of the tables under an object whose delete takes them with it (foreign keys
/// cascade), for their data: `column` names the object among the schema's columns
/// (`s.id`, `s.catalog_id`) or its catalog's (`c.metastore_id`).
pub(crate) async fn tables_under(
    tx: &mut Transaction<'static, Any>,
    column: &'static str,
    id: &str,
) -> CatalogResult<Vec<String>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT t.id FROM catalog_tables t JOIN catalog_schemas s ON s.id = t.schema_id \
         JOIN catalogs c ON c.id = s.catalog_id WHERE {column} = $1"
    )))
    .bind(id)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get("id").map_err(CatalogError::from))
    .collect()
}

/// A change to a catalog, schema or table; unset fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct CatalogUpdate {
    pub new_name: Option<String>,
    /// The new owner by name (user e-mail, group name or application id).
    pub owner: Option<String>,
    pub comment: Option<String>,
    pub properties: Option<Map<String, Value>>,
}

/// An object's stored properties, a JSON object; anything else is an error, never an object
/// with no properties.
pub(crate) fn properties(row: &dyn crate::read::Row) -> CatalogResult<Map<String, Value>> {
    let text: String = row.get("properties")?;
    serde_json::from_str(&text).map_err(|e| {
        CatalogError::Store(crate::StoreError::Internal(format!(
            "column properties holds invalid properties: {e}"
        )))
    })
}

pub(crate) fn properties_text(map: &Map<String, Value>) -> String {
    Value::Object(map.clone()).to_string()
}

/// The audit columns every object row has.
const AUDIT: &str = "created_at, created_by, updated_at, updated_by";

/// A name as the catalog keeps it: trimmed, lower case, checked by the rules.
pub(crate) fn name(raw: &str) -> CatalogResult<String> {
    rules::normalize_name(raw.trim()).map_err(CatalogError::Invalid)
}

/// A refusal by the rules.
pub(crate) fn denied(e: rules::Denied) -> CatalogError {
    CatalogError::Refused(e.0)
}

/// Per-object facts for the children of a resolved parent: the parent's levels plus one.
async fn child_facts(
    tx: &mut Transaction<'static, Any>,
    identity: &Identity,
    parent: &AccessFacts,
    column: &'static str,
    children: &[(String, Option<PrincipalId>)],
) -> CatalogResult<Vec<AccessFacts>> {
    let ids: Vec<&str> = children.iter().map(|(id, _)| id.as_str()).collect();
    let grants = granted(tx, &identity.ids, column, &ids).await?;
    Ok(children
        .iter()
        .map(|(id, owner)| {
            let mut facts = parent.clone();
            facts.levels.push(LevelFacts {
                owned: identity.holds(*owner),
                privileges: grants
                    .iter()
                    .filter(|(object, _)| object == id)
                    .map(|(_, p)| *p)
                    .collect(),
            });
            facts
        })
        .collect())
}

/// Whether the caller may read a securable's grants: whoever may manage it or see it.
pub(crate) fn may_read_grants(facts: &AccessFacts, securable: &Securable) -> bool {
    facts.may_manage() || facts.visible(securable.securable_type())
}
