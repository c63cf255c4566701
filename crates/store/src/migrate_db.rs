//! `patchbay admin migrate-db`: copies a whole installation from one database into another, empty
//! one, of either kind (SQLite → PostgreSQL when a single node grows into several, or back).
//!
//! Both stores are opened with [`Store::connect`], so both have the same schema. The copy is
//! generic: every table the schema has, in an order where a row's references are copied before
//! it, column by column, all in one transaction on the target. Tokens are stored as digests, so
//! they keep working after the move.

use crate::{Backend, MigrateRefusal, Result, Store, StoreError};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

/// Every table of the schema, each after the tables it references (read off the migrations; a
/// unit test checks the order against their `REFERENCES` clauses). `installation` goes first: a
/// server started on the target during the copy waits on that row, then finds it.
pub const TABLE_ORDER: &[&str] = &[
    "installation",
    "accounts",
    "workspaces",
    "principals",
    "principal_values",
    "memberships",
    "tokens",
    "object_permissions",
    "warehouses",
    "clusters",
    "jobs",
    "metastores",
    "metastore_assignments",
    "catalogs",
    "catalog_schemas",
    "catalog_tables",
    "catalog_columns",
    "catalog_grants",
    "secret_key_check",
    "partner_settings",
    "connections",
    "partner_accounts",
    "audit_events",
    "partner_notifications",
    "ui_sessions",
    "job_runs",
    "secret_scopes",
    "secrets",
    "secret_acls",
    "oauth_secrets",
    "oauth_grants",
    "oauth_codes",
    "oauth_signing_keys",
    "oauth_apps",
    "oauth_consents",
    "query_history",
    "nodes",
    "sql_sessions",
];

/// The bookkeeping table of sqlx's migrator: each store keeps its own.
const MIGRATOR_TABLE: &str = "_sqlx_migrations";

/// At most this many values per INSERT statement (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_BINDS: usize = 10_000;

/// How many rows of each table were copied, in copy order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    pub tables: Vec<(String, u64)>,
}

/// How a column's values are read and bound: the schema only uses these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
}

struct Column {
    name: String,
    kind: Kind,
}

/// Copies everything in `from` into `to`, which must hold no installation yet. Either all rows
/// arrive or none do.
pub async fn migrate_db(from: &Store, to: &Store) -> Result<MigrateReport> {
    if !has_installation(from).await? {
        return Err(StoreError::Migrate(MigrateRefusal::EmptySource));
    }
    if has_installation(to).await? {
        return Err(StoreError::Migrate(MigrateRefusal::TargetInstalled));
    }
    let source_tables = ordered_tables(&list_tables(from).await?)?;
    let target_tables = ordered_tables(&list_tables(to).await?)?;
    if source_tables != target_tables {
        return Err(StoreError::Config(format!(
            "the two databases have different tables ({source_tables:?} and {target_tables:?}); \
             are both at the same schema version?"
        )));
    }

    // A consistent snapshot of the source, whatever else reads it meanwhile.
    let mut source = from
        .pool
        .begin_with(match from.backend {
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        })
        .await?;
    let mut target = to.begin_write().await?;
    let mut report = MigrateReport { tables: Vec::new() };
    for table in source_tables {
        let columns = columns(to, table).await?;
        let select = format!(
            "SELECT {} FROM {table}",
            columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        );
        let rows = sqlx::query(AssertSqlSafe(select)).fetch_all(&mut *source).await?;
        let per_statement = (MAX_BINDS / columns.len().max(1)).max(1);
        for chunk in rows.chunks(per_statement) {
            insert_rows(&mut target, table, &columns, chunk).await?;
        }
        report.tables.push((table.to_owned(), rows.len() as u64));
    }
    if to.backend == Backend::Postgres {
        reset_sequences(&mut target).await?;
    }
    target.commit().await?;
    source.rollback().await?;
    Ok(report)
}

async fn has_installation(store: &Store) -> Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM installation").fetch_one(&store.pool).await?;
    Ok(n > 0)
}

/// The tables the database has, apart from the migrator's.
async fn list_tables(store: &Store) -> Result<Vec<String>> {
    let sql = match store.backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
    };
    let names: Vec<String> = sqlx::query_scalar(sql).fetch_all(&store.pool).await?;
    Ok(names.into_iter().filter(|n| n != MIGRATOR_TABLE).collect())
}

/// `tables` in copy order; a table this code does not know is an error, never skipped: its
/// rows would silently stay behind.
fn ordered_tables(tables: &[String]) -> Result<Vec<&'static str>> {
    if let Some(unknown) = tables.iter().find(|t| !TABLE_ORDER.contains(&t.as_str())) {
        return Err(StoreError::Config(format!(
            "migrate-db does not know where table '{unknown}' goes in the copy order; add it to \
             TABLE_ORDER in crates/store/src/migrate_db.rs"
        )));
    }
    Ok(TABLE_ORDER.iter().copied().filter(|t| tables.iter().any(|have| have == t)).collect())
}

/// The columns of `table` with the kind of value each holds, as the target declares them.
async fn columns(store: &Store, table: &str) -> Result<Vec<Column>> {
    let described: Vec<(String, String)> = match store.backend {
        Backend::Sqlite => sqlx::query(AssertSqlSafe(format!(
            "SELECT name, type FROM pragma_table_info('{table}') ORDER BY cid"
        )))
        .fetch_all(&store.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?,
        Backend::Postgres => sqlx::query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&store.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?,
    };
    described
        .into_iter()
        .map(|(name, declared)| {
            let kind = kind_of(&declared).ok_or_else(|| {
                StoreError::Config(format!(
                    "migrate-db cannot copy column {table}.{name} of type '{declared}'"
                ))
            })?;
            Ok(Column { name, kind })
        })
        .collect()
}

/// The kind of a declared column type: `BIGINT`/`INTEGER` (SQLite), `bigint`/`integer`
/// (PostgreSQL), `TEXT`/`text`.
fn kind_of(declared: &str) -> Option<Kind> {
    let declared = declared.to_ascii_lowercase();
    if declared.contains("int") {
        Some(Kind::Int)
    } else if declared == "text" || declared.starts_with("character varying") {
        Some(Kind::Text)
    } else {
        None
    }
}

async fn insert_rows(
    target: &mut sqlx::Transaction<'static, sqlx::Any>,
    table: &str,
    columns: &[Column],
    rows: &[AnyRow],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let names = columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    let mut sql = format!("INSERT INTO {table} ({names}) VALUES ");
    let mut n = 0;
    for (i, _) in rows.iter().enumerate() {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for j in 0..columns.len() {
            n += 1;
            sql.push_str(&format!("{}${n}", if j == 0 { "" } else { ", " }));
        }
        sql.push(')');
    }
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for row in rows {
        for (j, column) in columns.iter().enumerate() {
            query = match column.kind {
                Kind::Int => query.bind(row.try_get::<Option<i64>, _>(j)?),
                Kind::Text => query.bind(row.try_get::<Option<String>, _>(j)?),
            };
        }
    }
    query.execute(&mut **target).await.map_err(|e| {
        tracing::warn!(table, error = %e, "copying rows failed");
        StoreError::from(e)
    })?;
    Ok(())
}

/// Moves every serial sequence (`audit_events.id`, `partner_notifications.id`, and any other
/// column whose default is `nextval(…)`) past the ids just copied, so new rows do not collide.
async fn reset_sequences(target: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<()> {
    let serials: Vec<(String, String)> = sqlx::query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'",
    )
    .fetch_all(&mut **target)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_, sqlx::Error>>()?;
    for (table, column) in serials {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
             COALESCE(MAX({column}), 0) + 1, false)::bigint FROM {table}"
        )))
        .execute(&mut **target)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `CREATE TABLE name (… REFERENCES other …);` → (name, [other, …]), from migration text.
    fn tables_and_references(sql: &str) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for statement in sql.split(';') {
            let lower = statement
                .lines()
                .map(|l| l.split("--").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase();
            let Some(rest) = lower.split("create table ").nth(1) else {
                continue;
            };
            let name = rest
                .split(|c: char| c.is_whitespace() || c == '(')
                .next()
                .unwrap_or_default()
                .to_owned();
            let references = lower
                .split(" references ")
                .skip(1)
                .map(|r| {
                    r.split(|c: char| c.is_whitespace() || c == '(')
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            out.push((name, references));
        }
        out
    }

    #[test]
    fn the_copy_order_puts_every_table_after_the_tables_it_references() {
        for dialect in [Backend::Sqlite, Backend::Postgres] {
            let mut seen = Vec::new();
            let sql_of = |m: &crate::migrations::SchemaChange| m.sql(dialect);
            // A table a later migration drops is not copied.
            let dropped: Vec<String> = crate::MIGRATIONS
                .iter()
                .flat_map(|m| {
                    sql_of(m)
                        .lines()
                        .filter_map(|l| l.trim().strip_prefix("DROP TABLE "))
                        .map(|t| t.trim_end_matches(';').trim().to_owned())
                        .collect::<Vec<_>>()
                })
                .collect();
            for m in crate::MIGRATIONS {
                for (table, references) in tables_and_references(&sql_of(m)) {
                    if dropped.contains(&table) {
                        continue;
                    }
                    let at = TABLE_ORDER
                        .iter()
                        .position(|t| *t == table)
                        .unwrap_or_else(|| panic!("{table} is missing from TABLE_ORDER"));
                    for r in references {
                        let before = TABLE_ORDER.iter().position(|t| *t == r);
                        assert!(
                            before.is_some_and(|b| b < at),
                            "{table} references {r}, which must come before it"
                        );
                    }
                    seen.push(table);
                }
            }
            seen.sort();
            let mut all: Vec<_> = TABLE_ORDER.iter().map(|t| t.to_string()).collect();
            all.sort();
            assert_eq!(seen, all, "TABLE_ORDER names exactly the migrations' tables");
        }
    }

    #[test]
    fn an_unknown_table_is_refused() {
        let err = ordered_tables(&["principals".into(), "surprise".into()]).unwrap_err();
        assert!(err.to_string().contains("'surprise'"), "{err}");
        assert_eq!(
            ordered_tables(&["tokens".into(), "accounts".into()]).unwrap(),
            ["accounts", "tokens"]
        );
    }

    #[test]
    fn declared_types() {
        assert_eq!(kind_of("BIGINT"), Some(Kind::Int));
        assert_eq!(kind_of("INTEGER"), Some(Kind::Int));
        assert_eq!(kind_of("bigint"), Some(Kind::Int));
        assert_eq!(kind_of("TEXT"), Some(Kind::Text));
        assert_eq!(kind_of("bytea"), None);
    }

    async fn sqlite_store(dir: &std::path::Path, name: &str) -> Store {
        Store::connect(&crate::sqlite_url(&dir.join(name))).await.unwrap()
    }

    #[tokio::test]
    async fn copies_everything_and_refuses_a_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let from = sqlite_store(dir.path(), "from.db").await;
        let to = sqlite_store(dir.path(), "to.db").await;
        let outcome = from
            .bootstrap(&crate::Bootstrap {
                organization: "org".into(),
                workspace_name: "ws".into(),
                public_url: "http://127.0.0.1:1".into(),
                admin_email: "admin@example.com".into(),
            })
            .await
            .unwrap();
        let crate::BootstrapOutcome::Created { admin_token, .. } = outcome else {
            panic!("fresh database");
        };

        let report = migrate_db(&from, &to).await.unwrap();
        let rows = |t: &str| report.tables.iter().find(|(name, _)| name == t).map(|(_, n)| *n);
        assert_eq!(rows("installation"), Some(1));
        assert_eq!(rows("tokens"), Some(1));
        assert!(rows("principals").unwrap() >= 3, "{report:?}");
        assert!(
            to.authenticate(&admin_token.digest()).await.unwrap().is_some(),
            "the admin token works on the copy"
        );

        let again = migrate_db(&from, &to).await.unwrap_err();
        assert!(again.to_string().contains("already holds"), "refused: {again}");
        let empty = sqlite_store(dir.path(), "empty.db").await;
        assert!(migrate_db(&empty, &to).await.is_err(), "nothing to copy");
    }
}
