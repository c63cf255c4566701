//! Users, service principals and groups: the SCIM resources of a workspace.

use crate::read::FromColumn;
use crate::read::Read;
use crate::scim_filter;
use crate::sql::{Bind, Sql};
use crate::{Missing, Rejected, Result, Store, StoreError, Taken, conflict_or};
use patchbay_core::access::WorkspaceAdmin;
use patchbay_core::principal::{BuiltinGroup, PrincipalKind};
use patchbay_core::scim::filter::{AttrPath, CompareOp, Filter};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;
use std::sync::Arc;

/// An e-mail address of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub value: String,
    pub kind: Option<String>,
    pub primary: bool,
}

/// A group a principal belongs to directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: PrincipalId,
    pub display_name: String,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub id: PrincipalId,
    pub kind: PrincipalKind,
    pub display: String,
}

/// A principal as stored: what the server assigns, and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRecord {
    pub id: PrincipalId,
    pub workspace_id: WorkspaceId,
    pub kind: PrincipalKind,
    pub attributes: PrincipalAttributes,
    pub builtin: Option<BuiltinGroup>,
    pub created_at: EpochMillis,
    pub updated_at: EpochMillis,
    pub groups: Vec<GroupRef>,
    pub members: Vec<MemberRef>,
}

/// What a client may write of a principal, single- and multi-valued; the same for a stored
/// record and for a create or a replace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalAttributes {
    pub user_name: Option<String>,
    pub application_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `None` when unset (a SCIM PATCH removed it); an unset principal counts as active.
    pub active: Option<bool>,
    pub external_id: Option<String>,
    pub entitlements: Vec<String>,
    pub roles: Vec<String>,
    pub emails: Vec<Email>,
}

/// The whole writable state of a principal, for a create or a replace. Validated by the caller.
#[derive(Debug, Clone, Default)]
pub struct PrincipalData {
    pub attributes: PrincipalAttributes,
    /// Group members by id; `None` leaves membership as it is.
    pub members: Option<Vec<PrincipalId>>,
}

/// A SCIM list request: filter, order and the 1-based page.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub start_index: i64,
    pub count: i64,
}

/// One page of a list, with the total number of matches.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub total: i64,
    pub items: Vec<PrincipalRecord>,
}

/// `SELECT` and a principal's columns, then `$rest`: one string at compile time.
macro_rules! select_principals {
    ($rest:literal) => {
        concat!(
            "SELECT p.id, p.workspace_id, p.kind, p.user_name, p.application_id, p.display_name, \
             p.given_name, p.family_name, p.active, p.external_id, p.builtin, p.created_at, \
             p.updated_at",
            $rest
        )
    };
}

impl Store {
    /// One principal of a workspace by SCIM id.
    pub async fn get_principal(
        &self,
        workspace_id: WorkspaceId,
        kind: PrincipalKind,
        id: PrincipalId,
    ) -> Result<Option<PrincipalRecord>> {
        let found = principal_in(&mut self.recall()?, workspace_id, kind, id).await?;
        Ok(found.map(Arc::unwrap_or_clone))
    }

    /// A service principal by its application id.
    pub async fn find_service_principal(
        &self,
        workspace_id: WorkspaceId,
        application_id: &str,
    ) -> Result<Option<PrincipalRecord>> {
        self.find_one(
            workspace_id,
            " AND p.kind = 'service_principal' AND p.application_id = ",
            application_id.to_lowercase(),
        )
        .await
    }

    /// A user by user name (case-insensitive).
    pub async fn find_user(
        &self,
        workspace_id: WorkspaceId,
        user_name: &str,
    ) -> Result<Option<PrincipalRecord>> {
        self.find_one(
            workspace_id,
            " AND p.kind = 'user' AND LOWER(p.user_name) = ",
            user_name.to_lowercase(),
        )
        .await
    }

    /// Whether a principal is a member of a group, directly or through nested groups.
    pub async fn is_member_of(
        &self,
        principal_id: PrincipalId,
        group_id: PrincipalId,
    ) -> Result<bool> {
        is_within(&self.pool, principal_id, group_id).await
    }

    /// A group by display name.
    pub async fn find_group(
        &self,
        workspace_id: WorkspaceId,
        name: &str,
    ) -> Result<Option<PrincipalRecord>> {
        self.find_one(workspace_id, " AND p.kind = 'group' AND p.display_name = ", name.to_owned())
            .await
    }

    /// The principal of the workspace whose unique name `condition` (ending in `= `) compares
    /// with `value`.
    async fn find_one(
        &self,
        workspace_id: WorkspaceId,
        condition: &str,
        value: String,
    ) -> Result<Option<PrincipalRecord>> {
        let mut sql = Sql::new(select_principals!(" FROM principals p WHERE p.workspace_id = "));
        sql.int(workspace_id.get()).push(condition).text(value);
        Ok(self.load(sql).await?.pop())
    }

    /// A filtered, sorted page of principals of one kind.
    pub async fn list_principals(
        &self,
        workspace_id: WorkspaceId,
        kind: PrincipalKind,
        query: &ListQuery,
    ) -> Result<ListPage> {
        let point_lookup = query.filter.as_ref().is_some_and(is_point_lookup);
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if self.reader.is_some() && !point_lookup && multi_thread {
            // The reads run inline on SQLite; one that may scan the workspace's principals
            // gives its worker's other requests to another thread while it does.
            return tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(self.list_page(
                    workspace_id,
                    kind,
                    query,
                    false,
                ))
            });
        }
        self.list_page(workspace_id, kind, query, point_lookup).await
    }

    async fn list_page(
        &self,
        workspace_id: WorkspaceId,
        kind: PrincipalKind,
        query: &ListQuery,
        point_lookup: bool,
    ) -> Result<ListPage> {
        let mut condition = Sql::new(" WHERE p.workspace_id = ");
        condition.int(workspace_id.get()).push(" AND p.kind = ").push(kind_literal(kind));
        if let Some(filter) = &query.filter {
            let fragment =
                scim_filter::translate(filter, kind).map_err(StoreError::InvalidFilter)?;
            condition.push(" AND ").append(fragment);
        }
        let order = match &query.sort_by {
            // A point lookup finds one row or none, so it needs no order; asking for one cost
            // SQLite a temporary b-tree per lookup.
            None if point_lookup => String::new(),
            Some(path) => {
                let col = scim_filter::sort_column(path, kind).map_err(StoreError::Rejected)?;
                let dir = if query.descending { "DESC" } else { "ASC" };
                format!(" ORDER BY ({col} IS NULL) {dir}, {col} {dir}, p.id {dir}")
            }
            None => " ORDER BY p.id".to_owned(),
        };

        // The total and the page come from one snapshot.
        let mut read = self.read();
        if point_lookup {
            // A unique attribute matches one row or none: read what matches, then count and
            // page it here, one statement fewer than a count and a page.
            let mut matching = Sql::new(select_principals!(" FROM principals p"));
            matching.append(condition).push(&order);
            let mut items = load(&mut read, matching).await?;
            if query.sort_by.is_none() {
                items.sort_by_key(|r| r.id);
            }
            let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let skip = usize::try_from(query.start_index - 1).unwrap_or(0);
            let take = usize::try_from(query.count).unwrap_or(0);
            let items = items.into_iter().skip(skip).take(take).collect();
            return Ok(ListPage { total, items });
        }
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM principals p");
        count.append(condition.clone());
        let mut total = 0;
        read.select(&count, |row| {
            total = row.int("n")?;
            Ok(())
        })
        .await?;

        let mut page = Sql::new(select_principals!(" FROM principals p"));
        page.append(condition)
            .push(&order)
            .push(" LIMIT ")
            .int(query.count.max(0))
            .push(" OFFSET ")
            .int((query.start_index - 1).max(0));
        let items = if query.count > 0 { load(&mut read, page).await? } else { Vec::new() };
        Ok(ListPage { total, items })
    }

    /// Creates a principal. New users join the built-in `users` group.
    pub async fn create_principal(
        &self,
        admin: &WorkspaceAdmin,
        kind: PrincipalKind,
        data: &PrincipalData,
    ) -> Result<PrincipalRecord> {
        let workspace_id = admin.workspace_id();
        let mut tx = self.begin_write().await?;
        check_unique(&mut tx, workspace_id, kind, data, None).await?;
        let id =
            insert_principal(&mut tx, self.now_millis(), workspace_id, kind, data, None).await?;
        if kind == PrincipalKind::User {
            let users = builtin_group_id(&mut tx, workspace_id, BuiltinGroup::Users).await?;
            add_member(&mut tx, users, id).await?;
        }
        tx.commit().await?;
        self.get_principal(workspace_id, kind, id)
            .await?
            .ok_or(StoreError::Missing(Missing::Vanished { kind, id }))
    }

    /// Replaces the writable state of a principal.
    pub async fn replace_principal(
        &self,
        admin: &WorkspaceAdmin,
        kind: PrincipalKind,
        id: PrincipalId,
        data: &PrincipalData,
    ) -> Result<PrincipalRecord> {
        let workspace_id = admin.workspace_id();
        let mut tx = self.begin_write().await?;
        let current =
            fetch_row(&mut tx, workspace_id, kind, id).await?.ok_or_else(|| not_found(kind, id))?;
        if let Some(builtin) = current.builtin
            && data.attributes.display_name.as_deref() != Some(builtin.name())
        {
            return Err(StoreError::Rejected(Rejected::BuiltinGroupRename {
                name: builtin.name(),
            }));
        }
        check_unique(&mut tx, workspace_id, kind, data, Some(id)).await?;
        let now = self.now_millis();
        let mut sql = Sql::new("UPDATE principals SET ");
        for (column, value) in replaced_columns(data) {
            sql.push(column).push(" = ").bind(value).push(", ");
        }
        sql.push("updated_at = ").int(now).push(" WHERE id = ").int(id.get());
        sql.query()
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, || duplicate(kind, data)))?;
        sqlx::query("DELETE FROM principal_values WHERE principal_id = $1")
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        insert_values(&mut tx, id, data).await?;
        if let Some(members) = &data.members {
            sqlx::query("DELETE FROM memberships WHERE group_id = $1")
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
            insert_members(&mut tx, workspace_id, id, current.builtin, members).await?;
            // Leaving a group can mean losing the token permission, and with it every token.
            crate::permissions::revoke_tokens_without_permission(&mut tx, workspace_id).await?;
        }
        tx.commit().await?;
        self.get_principal(workspace_id, kind, id).await?.ok_or_else(|| not_found(kind, id))
    }

    /// Deletes a principal, and with it its tokens, memberships and attributes.
    pub async fn delete_principal(
        &self,
        admin: &WorkspaceAdmin,
        kind: PrincipalKind,
        id: PrincipalId,
    ) -> Result<()> {
        let workspace_id = admin.workspace_id();
        let mut tx = self.begin_write().await?;
        let current =
            fetch_row(&mut tx, workspace_id, kind, id).await?.ok_or_else(|| not_found(kind, id))?;
        delete_principal_row(&mut tx, workspace_id, kind, id, current.builtin).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs a `select_principals!(…)` in a read session of its own.
    async fn load(&self, sql: Sql) -> Result<Vec<PrincipalRecord>> {
        load(&mut self.read(), sql).await
    }
}

/// Whether `inner` is a member of `outer`, directly or through nested groups.
pub(crate) async fn is_within<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    inner: PrincipalId,
    outer: PrincipalId,
) -> Result<bool> {
    let row = sqlx::query(
        "WITH RECURSIVE ancestors(id) AS (\
           SELECT group_id FROM memberships WHERE member_id = $1 \
           UNION SELECT m.group_id FROM memberships m JOIN ancestors a ON m.member_id = a.id) \
         SELECT 1 AS yes FROM ancestors WHERE id = $2",
    )
    .bind(inner.get())
    .bind(outer.get())
    .fetch_optional(executor)
    .await?;
    Ok(row.is_some())
}

/// Deletes a principal, never a built-in group. Deleting a group can cost its members the
/// token permission, and with it their tokens, at once.
pub(crate) async fn delete_principal_row(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    kind: PrincipalKind,
    id: PrincipalId,
    builtin: Option<BuiltinGroup>,
) -> Result<()> {
    if let Some(builtin) = builtin {
        return Err(StoreError::Rejected(Rejected::BuiltinGroupDelete { name: builtin.name() }));
    }
    sqlx::query("DELETE FROM principals WHERE id = $1").bind(id.get()).execute(&mut **tx).await?;
    if kind == PrincipalKind::Group {
        crate::permissions::revoke_tokens_without_permission(tx, workspace_id).await?;
    }
    Ok(())
}

/// A principal as remembered or read in `read`'s snapshot.
pub(crate) async fn principal_in(
    read: &mut Read<'_>,
    workspace_id: WorkspaceId,
    kind: PrincipalKind,
    id: PrincipalId,
) -> Result<Option<Arc<PrincipalRecord>>> {
    let key = (workspace_id, id);
    if let Some(known) = read.memo().and_then(|m| m.principals.get(&key))
        && known.kind == kind
    {
        return Ok(Some(Arc::clone(known)));
    }
    let mut sql = Sql::new(select_principals!(" FROM principals p WHERE p.workspace_id = "));
    sql.int(workspace_id.get())
        .push(" AND p.kind = ")
        .push(kind_literal(kind))
        .push(" AND p.id = ")
        .int(id.get());
    let found = load(read, sql).await?.pop().map(Arc::new);
    if let (Some(memo), Some(record)) = (read.memo(), &found)
        && record.kind != PrincipalKind::Group
    {
        memo.principals.insert(key, Arc::clone(record));
    }
    Ok(found)
}

/// Runs a `select_principals!(…)` and attaches the multi-valued attributes of every row, all in
/// the read session's snapshot.
async fn load(read: &mut Read<'_>, sql: Sql) -> Result<Vec<PrincipalRecord>> {
    let mut records = Vec::new();
    read.select(&sql, |row| {
        records.push(record_from_row(row)?);
        Ok(())
    })
    .await?;
    if records.is_empty() {
        return Ok(records);
    }
    let ids: Vec<PrincipalId> = records.iter().map(|r| r.id).collect();
    let index: HashMap<PrincipalId, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();

    let mut values = Sql::new(
        "SELECT principal_id, attr, value, value_type, is_primary FROM principal_values \
             WHERE principal_id IN (",
    );
    values.int_list(&ids).push(") ORDER BY principal_id, attr, is_primary DESC, value");
    read.select(&values, |row| {
        let record = &mut records[index[&row.get::<PrincipalId>("principal_id")?]];
        let value = row.text("value")?;
        match row.text("attr")?.as_str() {
            "entitlements" => record.attributes.entitlements.push(value),
            "roles" => record.attributes.roles.push(value),
            _ => record.attributes.emails.push(Email {
                value,
                kind: row.opt_text("value_type")?,
                primary: row.int("is_primary")? != 0,
            }),
        }
        Ok(())
    })
    .await?;

    // By group name, then id: sorted here (bytewise, as SQLite's BINARY collation and
    // PostgreSQL's C collation order them); an ORDER BY made SQLite sort in a temporary b-tree
    // on every read, even of a principal in no group.
    let mut groups = Sql::new(
        "SELECT m.member_id, g.id, g.display_name FROM memberships m \
             JOIN principals g ON g.id = m.group_id WHERE m.member_id IN (",
    );
    groups.int_list(&ids).push(")");
    read.select(&groups, |row| {
        let record = &mut records[index[&row.get::<PrincipalId>("member_id")?]];
        record.groups.push(GroupRef {
            id: row.get("id")?,
            display_name: row.opt_text("display_name")?.unwrap_or_default(),
        });
        Ok(())
    })
    .await?;

    for record in &mut records {
        record
            .groups
            .sort_unstable_by(|a, b| (&a.display_name, a.id).cmp(&(&b.display_name, b.id)));
    }

    let group_ids: Vec<PrincipalId> =
        records.iter().filter(|r| r.kind == PrincipalKind::Group).map(|r| r.id).collect();
    if !group_ids.is_empty() {
        let mut members = Sql::new(
            "SELECT m.group_id, p.id, p.kind, COALESCE(p.display_name, p.user_name, p.application_id) AS display \
                 FROM memberships m JOIN principals p ON p.id = m.member_id WHERE m.group_id IN (",
        );
        members.int_list(&group_ids).push(") ORDER BY p.id");
        read.select(&members, |row| {
            let record = &mut records[index[&row.get::<PrincipalId>("group_id")?]];
            record.members.push(MemberRef {
                id: row.get("id")?,
                kind: PrincipalKind::from_db(&row.text("kind")?).unwrap_or(PrincipalKind::User),
                display: row.opt_text("display")?.unwrap_or_default(),
            });
            Ok(())
        })
        .await?;
    }
    Ok(records)
}

fn record_from_row(row: &dyn crate::read::Row) -> Result<PrincipalRecord> {
    let kind = row.text("kind")?;
    let builtin = row.opt_text("builtin")?;
    Ok(PrincipalRecord {
        id: row.get("id")?,
        workspace_id: row.get("workspace_id")?,
        kind: PrincipalKind::from_db(&kind)
            .ok_or_else(|| StoreError::Internal(format!("unknown principal kind {kind}")))?,
        attributes: PrincipalAttributes {
            user_name: row.opt_text("user_name")?,
            application_id: row.opt_text("application_id")?,
            display_name: row.opt_text("display_name")?,
            given_name: row.opt_text("given_name")?,
            family_name: row.opt_text("family_name")?,
            active: row.opt_int("active")?.map(|a| a != 0),
            external_id: row.opt_text("external_id")?,
            // Read with the record's other rows.
            entitlements: Vec::new(),
            roles: Vec::new(),
            emails: Vec::new(),
        },
        builtin: builtin.as_deref().and_then(BuiltinGroup::from_name),
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        groups: Vec::new(),
        members: Vec::new(),
    })
}

/// Whether a filter finds its rows through a unique index (an id, application id or user name
/// equal to a value): a list with it is a point lookup.
fn is_point_lookup(filter: &Filter) -> bool {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, .. } => {
            path.sub.is_none()
                && ["id", "applicationId", "userName"]
                    .iter()
                    .any(|name| path.name.eq_ignore_ascii_case(name))
        }
        Filter::And(a, b) => is_point_lookup(a) || is_point_lookup(b),
        _ => false,
    }
}

/// `kind` as an SQL literal, not a bound value: the unique indexes are partial on the kind, and
/// a planner uses a partial index only when it sees the value as it plans (SQLite's reads plan
/// once per statement, PostgreSQL's prepared statements turn generic).
fn kind_literal(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "'user'",
        PrincipalKind::ServicePrincipal => "'service_principal'",
        PrincipalKind::Group => "'group'",
    }
}

/// The columns of a principal that a replace writes, with their values: all that its data
/// holds but the application id, which never changes.
fn replaced_columns(data: &PrincipalData) -> [(&'static str, Bind); 6] {
    [
        ("user_name", opt_text(&data.attributes.user_name)),
        ("display_name", opt_text(&data.attributes.display_name)),
        ("given_name", opt_text(&data.attributes.given_name)),
        ("family_name", opt_text(&data.attributes.family_name)),
        ("active", opt_flag(data.attributes.active)),
        ("external_id", opt_text(&data.attributes.external_id)),
    ]
}

fn opt_text(v: &Option<String>) -> Bind {
    v.as_deref().into()
}

fn opt_flag(v: Option<bool>) -> Bind {
    v.map(i64::from).into()
}

fn not_found(kind: PrincipalKind, id: PrincipalId) -> StoreError {
    StoreError::Missing(Missing::Principal { kind, id })
}

/// A principal's unique name is taken: its user name, application id or display name.
fn duplicate(kind: PrincipalKind, data: &PrincipalData) -> StoreError {
    let name = match kind {
        PrincipalKind::User => &data.attributes.user_name,
        PrincipalKind::ServicePrincipal => &data.attributes.application_id,
        PrincipalKind::Group => &data.attributes.display_name,
    };
    StoreError::Taken(Taken::Principal { kind, name: name.clone().unwrap_or_default() })
}

async fn check_unique(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    kind: PrincipalKind,
    data: &PrincipalData,
    except: Option<PrincipalId>,
) -> Result<()> {
    let mut sql = Sql::new("SELECT id FROM principals WHERE workspace_id = ");
    sql.int(workspace_id.get()).push(" AND kind = ").push(kind_literal(kind)).push(" AND ");
    match kind {
        PrincipalKind::User => {
            sql.push("LOWER(user_name) = ")
                .text(data.attributes.user_name.as_deref().unwrap_or_default().to_lowercase());
        }
        PrincipalKind::ServicePrincipal => {
            sql.push("application_id = ")
                .text(data.attributes.application_id.as_deref().unwrap_or_default());
        }
        PrincipalKind::Group => {
            sql.push("display_name = ")
                .text(data.attributes.display_name.as_deref().unwrap_or_default());
        }
    }
    if let Some(id) = except {
        sql.push(" AND id <> ").int(id.get());
    }
    match sql.query().fetch_optional(&mut **tx).await? {
        Some(_) => Err(duplicate(kind, data)),
        None => Ok(()),
    }
}

/// Inserts a principal row with its attributes and members; returns the new id.
pub(crate) async fn insert_principal(
    tx: &mut Transaction<'static, Any>,
    now: EpochMillis,
    workspace_id: WorkspaceId,
    kind: PrincipalKind,
    data: &PrincipalData,
    builtin: Option<BuiltinGroup>,
) -> Result<PrincipalId> {
    let id = PrincipalId::generate();
    let (columns, values): (Vec<&str>, Vec<Bind>) = [
        ("id", id.into()),
        ("workspace_id", workspace_id.into()),
        ("kind", kind.as_db().into()),
        ("application_id", opt_text(&data.attributes.application_id)),
        ("builtin", builtin.map(BuiltinGroup::name).into()),
        ("created_at", now.into()),
        ("updated_at", now.into()),
    ]
    .into_iter()
    .chain(replaced_columns(data))
    .unzip();
    let mut sql = Sql::new(&format!("INSERT INTO principals ({}) VALUES (", columns.join(", ")));
    sql.list(values).push(")");
    sql.query().execute(&mut **tx).await.map_err(|e| conflict_or(e, || duplicate(kind, data)))?;
    insert_values(tx, id, data).await?;
    if let Some(members) = &data.members {
        insert_members(tx, workspace_id, id, builtin, members).await?;
    }
    Ok(id)
}

async fn insert_values(
    tx: &mut Transaction<'static, Any>,
    id: PrincipalId,
    data: &PrincipalData,
) -> Result<()> {
    let plain = data
        .attributes
        .entitlements
        .iter()
        .map(|v| ("entitlements", v, None, false))
        .chain(data.attributes.roles.iter().map(|v| ("roles", v, None, false)))
        .chain(
            data.attributes.emails.iter().map(|e| ("emails", &e.value, e.kind.as_ref(), e.primary)),
        );
    for (attr, value, kind, primary) in plain {
        sqlx::query(
            "INSERT INTO principal_values (principal_id, attr, value, value_type, is_primary) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(id.get())
        .bind(attr)
        .bind(value.as_str())
        .bind(kind.map(String::as_str))
        .bind(i64::from(primary))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn insert_members(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    group_id: PrincipalId,
    builtin: Option<BuiltinGroup>,
    members: &[PrincipalId],
) -> Result<()> {
    for member in members {
        let row = sqlx::query("SELECT kind FROM principals WHERE workspace_id = $1 AND id = $2")
            .bind(workspace_id.get())
            .bind(member.get())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::Rejected(Rejected::UnknownMember { id: *member }))?;
        let kind: String = row.try_get("kind")?;
        if *member == group_id {
            return Err(StoreError::Rejected(Rejected::SelfMember));
        }
        if kind == "group" && builtin == Some(BuiltinGroup::Admins) {
            return Err(StoreError::Rejected(Rejected::GroupInAdmins));
        }
        add_member(tx, group_id, *member).await?;
    }
    Ok(())
}

pub(crate) async fn add_member(
    tx: &mut Transaction<'static, Any>,
    group_id: PrincipalId,
    member_id: PrincipalId,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO memberships (group_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(group_id.get())
    .bind(member_id.get())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn builtin_group_id(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    group: BuiltinGroup,
) -> Result<PrincipalId> {
    let row = sqlx::query("SELECT id FROM principals WHERE workspace_id = $1 AND builtin = $2")
        .bind(workspace_id.get())
        .bind(group.name())
        .fetch_one(&mut **tx)
        .await?;
    PrincipalId::from_column(&row, "id")
}

struct Current {
    builtin: Option<BuiltinGroup>,
}

async fn fetch_row(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    kind: PrincipalKind,
    id: PrincipalId,
) -> Result<Option<Current>> {
    let row = sqlx::query(
        "SELECT builtin FROM principals WHERE workspace_id = $1 AND kind = $2 AND id = $3",
    )
    .bind(workspace_id.get())
    .bind(kind.as_db())
    .bind(id.get())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        let builtin: Option<String> = r.try_get("builtin")?;
        Ok(Current { builtin: builtin.as_deref().and_then(BuiltinGroup::from_name) })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_lookups_are_equalities_on_unique_attributes() {
        let lookup =
            |f: &str| is_point_lookup(&patchbay_core::scim::filter::parse_filter(f).unwrap());
        assert!(lookup("applicationId eq \"x\""));
        assert!(lookup("userName eq \"a@b.c\" and active eq true"));
        assert!(!lookup("userName co \"a\""));
        assert!(!lookup("displayName eq \"x\""));
        assert!(!lookup("userName eq \"a\" or userName eq \"b\""));
        assert!(!lookup("name.givenName eq \"x\""));
    }

    #[test]
    fn kind_literals_are_the_stored_kinds() {
        for kind in [PrincipalKind::User, PrincipalKind::ServicePrincipal, PrincipalKind::Group] {
            assert_eq!(kind_literal(kind), format!("'{}'", kind.as_db()));
        }
    }
}
