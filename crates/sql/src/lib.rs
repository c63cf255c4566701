//! SQL on patchbay's warehouses: what runs a statement for a caller.
//!
//! A statement goes one of three ways, decided by its first words:
//! - `GRANT`, `REVOKE`, `SHOW GRANTS`, `CREATE|DROP SCHEMA` change catalog metadata and
//!   privileges through the store ([`catalog_statements`]);
//! - `USE`, `SHOW CATALOGS|SCHEMAS|TABLES|VIEWS|COLUMNS`, `DESCRIBE` are answered from the
//!   catalog, showing what the caller may see ([`commands`]);
//! - everything else is parsed by the engine, which names every table and view the statement
//!   reads, writes or creates. Each is resolved in the catalog and checked against the caller's
//!   privileges (a view's own reads against its owner's, as Unity Catalog does) before anything
//!   runs; the engine then runs the statement over exactly the tables that passed.
//!
//! A table's data is a Delta table stored under its catalog id. A new table's files are written
//! before its metadata, so a crash between the two leaves unreferenced files, never a table
//! without data; dropping goes the other way round.

mod alter;
mod catalog_statements;
mod catalog_syntax;
mod commands;
mod describe_json;
mod failure;
mod information_schema;
mod lexer;
mod literals;
mod params;
#[cfg(test)]
mod properties;
mod rows;
mod show_create;
mod threads;

use patchbay_core::access::Caller;
use patchbay_core::catalog::{self as rules, Action, Securable};
use patchbay_core::{PrincipalId, WorkspaceId};
use patchbay_engine::{
    Access, Binding, Column, Engine, Job, Kind, Limits, ObjectUse, QualifiedName, Source, Statement,
};
use patchbay_server::statements::engine::{Executed, Execution, SqlEngine, SqlFailure};
use patchbay_store::{CatalogError, ColumnRecord, NewTable, Store, TableChange, TableRecord};
use rows::ArrowRows;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use url::Url;

pub use patchbay_engine::Limits as EngineLimits;
pub use patchbay_engine::{BUCKET_SCHEMES, EngineError};

/// How deep views may nest (a view over a view over …).
const MAX_VIEW_DEPTH: usize = 16;

/// Runs statements against the store's catalog and the tables under one storage root.
pub struct Warehouses {
    store: Store,
    engine: std::sync::Arc<Engine>,
    /// Where statements that are planned run, away from the threads that answer requests.
    threads: threads::EngineThreads,
    /// Tables known to have their Delta files (tables made through the catalog API get them on
    /// first use).
    materialized: Mutex<HashSet<String>>,
}

impl Warehouses {
    /// Warehouses whose tables live under `root` (a `file://` directory or an object store URL).
    pub fn new(store: Store, root: Url, limits: Limits) -> Result<Warehouses, EngineError> {
        Ok(Warehouses {
            store,
            engine: std::sync::Arc::new(Engine::new(root, limits)?),
            threads: threads::EngineThreads::new()?,
            materialized: Mutex::new(HashSet::new()),
        })
    }

    /// Makes sure the table storage can be written to (for a bucket: that it answers and
    /// honours the conditional writes commits rely on).
    pub async fn check_storage(&self) -> Result<(), EngineError> {
        self.engine.check_storage().await
    }

    async fn run(&self, execution: Execution) -> Result<Executed, SqlFailure> {
        let text = params::bind(&execution.statement, &execution.parameters)?;
        let mut tokens = lexer::tokens(&text).map_err(|e| failure::syntax(e.0))?;
        let text = match literals::write_as_casts(&text, &tokens) {
            Some(written) => {
                tokens = lexer::tokens(&written).map_err(|e| failure::syntax(e.0))?;
                written
            }
            None => text,
        };
        let caller = &execution.caller;
        let (catalog, schema) = (execution.catalog.to_lowercase(), execution.schema.to_lowercase());
        let done = |rows: ArrowRows| Executed {
            rows: Box::new(rows),
            use_catalog: None,
            use_schema: None,
        };
        if let Some(command) = commands::parse(&tokens)? {
            let answer =
                commands::run(&self.store, caller, command, &catalog, &schema, &self.engine)
                    .await?;
            return Ok(Executed {
                rows: Box::new(answer.rows),
                use_catalog: answer.use_catalog,
                use_schema: answer.use_schema,
            });
        }
        let words = lexer::leading_words(&tokens, 3);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["ALTER", "TABLE" | "VIEW", ..] | ["COMMENT", "ON", ..] => {
                if let Some(alter) = alter::parse(&tokens, &text)? {
                    return self.alter(caller, alter, &catalog, &schema).await.map(done);
                }
            }
            ["GRANT", ..]
            | ["REVOKE", ..]
            | ["SHOW", "GRANTS", ..]
            | ["CREATE", "SCHEMA" | "DATABASE", ..]
            | ["DROP", "SCHEMA" | "DATABASE", ..] => {
                return self.catalog_statement(caller, &tokens, &catalog, &schema).await.map(done);
            }
            ["OPTIMIZE", ..] => {
                let (table, zorder) = alter::optimized(&tokens)?;
                return self.optimize(caller, &table, &zorder, &catalog, &schema).await.map(done);
            }
            ["VACUUM", ..] => {
                let (table, vacuum) = alter::vacuumed(&tokens)?;
                let record = self
                    .files_to_change(caller, &table, (&catalog, &schema), "it has no files")
                    .await?;
                let output = self
                    .engine
                    .vacuum(&record.id, vacuum, &caller.name)
                    .await
                    .map_err(failure::engine)?;
                return Ok(done(ArrowRows::new(output)));
            }
            ["RESTORE", ..] => {
                return self.restore(caller, &tokens, (&catalog, &schema)).await.map(done);
            }
            ["TRUNCATE", "TABLE", ..] => {
                // Every row goes, as a `DELETE` without a condition takes them: with the same
                // privilege (`MODIFY`) and as one commit.
                let statement =
                    Statement::parse(&alter::truncated(&tokens)?).map_err(failure::engine)?;
                return self
                    .run_engine(caller, statement, catalog, schema)
                    .await
                    .map(|_| done(ArrowRows::empty()));
            }
            ["DROP", "TABLE" | "VIEW", ..] => {
                return self.drop(caller, &tokens, &catalog, &schema).await.map(done);
            }
            _ => {}
        }
        let statement = Statement::parse(&text).map_err(failure::engine)?;
        if statement.kind() == &Kind::Other {
            return Err(failure::not_supported(format!("The statement '{}'", words.join(" "))));
        }
        self.run_engine(caller, statement, catalog, schema).await.map(done)
    }

    async fn catalog_statement(
        &self,
        caller: &Caller,
        tokens: &[lexer::Spanned],
        catalog: &str,
        schema: &str,
    ) -> Result<ArrowRows, SqlFailure> {
        let parsed = catalog_syntax::parse(tokens).map_err(|e| match e {
            catalog_syntax::ParseError::Unsupported(m) => failure::not_supported(m),
            catalog_syntax::ParseError::Syntax(m) => failure::syntax(m),
        })?;
        // `DROP SCHEMA … CASCADE` names the tables its delete removed: their data goes after.
        let mut dropped = Vec::new();
        let rows =
            catalog_statements::run(&self.store, caller, parsed, catalog, schema, &mut dropped)
                .await?;
        for id in dropped {
            self.forget_data(&id).await;
        }
        Ok(rows)
    }

    /// `DROP TABLE|VIEW [IF EXISTS] name`: the metadata (the caller must own or manage it),
    /// then the data.
    async fn drop(
        &self,
        caller: &Caller,
        tokens: &[lexer::Spanned],
        catalog: &str,
        schema: &str,
    ) -> Result<ArrowRows, SqlFailure> {
        let (parts, if_exists) = drop_target(tokens)?;
        let securable = commands::table_name(&parts, catalog, schema)?;
        let found = self
            .store
            .table_access(caller.workspace_id, caller.principal_id, caller.is_admin, &securable)
            .await;
        match found {
            Ok(_) => {}
            Err(e) if e.is_not_found() && if_exists => return Ok(ArrowRows::empty()),
            Err(e) => return Err(failure::catalog(e)),
        }
        // The id the delete removed, not the one read before it: a replacement in between
        // would have made them differ. A view has no files; removing none is not an error.
        let removed = match self.store.delete_table(caller, &securable).await {
            Ok(ids) => ids,
            Err(e) if e.is_not_found() && if_exists => return Ok(ArrowRows::empty()),
            Err(e) => return Err(failure::catalog(e)),
        };
        for id in removed {
            self.forget_data(&id).await;
        }
        Ok(ArrowRows::empty())
    }

    /// Runs a bound statement: a point lookup whose rows are held in memory is answered here
    /// and now; anything else is planned and run on the engine's own threads.
    async fn run_bound(&self, job: Job) -> Result<patchbay_engine::Output, EngineError> {
        if let Some(output) = self.engine.answer_from_memory(&job).await? {
            return Ok(output);
        }
        let engine = self.engine.clone();
        self.threads.run(async move { engine.run_planned(&job).await }).await
    }

    async fn forget_data(&self, id: &str) {
        self.materialized.lock().expect("lock").remove(id);
        if let Err(e) = self.engine.drop_table(id).await {
            tracing::warn!(table_id = %id, error = %e, "a dropped table's files were not removed");
        }
    }

    /// Checks every object the statement uses, binds the ones it may use, and runs it.
    async fn run_engine(
        &self,
        caller: &Caller,
        statement: Statement,
        catalog: String,
        schema: String,
    ) -> Result<ArrowRows, SqlFailure> {
        let objects = statement.objects(&catalog, &schema).map_err(failure::engine)?;
        let mut bindings = Vec::new();
        let mut bound = HashSet::new();
        let mut created = None;
        for ObjectUse { name, access } in &objects {
            match access {
                Access::Create => created = Some(name.clone()),
                Access::Read if name.schema == information_schema::SCHEMA => {
                    if bound.insert(name.clone()) {
                        let (schema, batches) = information_schema::view(
                            &self.store,
                            caller,
                            &name.catalog,
                            &name.table,
                        )
                        .await?;
                        bindings.push(Binding {
                            name: name.clone(),
                            source: Source::Rows { schema, batches },
                        });
                    }
                }
                Access::Read => {
                    let who = Principal::caller(caller);
                    self.bind_read(&who, name, &mut bindings, &mut bound, 0).await?;
                }
                Access::Write => self.bind_write(caller, name, &mut bindings, &mut bound).await?,
            }
        }
        let Some(target) = created else {
            let output = self
                .run_bound(Job {
                    user: caller.name.clone(),
                    statement,
                    catalog,
                    schema,
                    bindings,
                    new_table_id: None,
                })
                .await
                .map_err(failure::engine)?;
            return Ok(ArrowRows::new(output));
        };
        self.create(caller, &statement, &catalog, &schema, &target, bindings).await
    }

    /// `CREATE [OR REPLACE] TABLE|VIEW [IF NOT EXISTS] … [AS SELECT …]`.
    async fn create(
        &self,
        caller: &Caller,
        statement: &Statement,
        catalog: &str,
        schema: &str,
        target: &QualifiedName,
        bindings: Vec<Binding>,
    ) -> Result<ArrowRows, SqlFailure> {
        let (or_replace, if_not_exists, view) = match statement.kind() {
            Kind::CreateTable { or_replace, if_not_exists, .. }
            | Kind::CreateTableAs { or_replace, if_not_exists, .. } => {
                (*or_replace, *if_not_exists, None)
            }
            Kind::CreateView { or_replace, if_not_exists, text, .. } => {
                (*or_replace, *if_not_exists, Some(text.clone()))
            }
            _ => return Err(failure::not_supported("this statement")),
        };
        let securable =
            Securable::Table(target.catalog.clone(), target.schema.clone(), target.table.clone());
        match self.store.check_new_table(caller, &securable).await {
            Ok(()) => {}
            Err(CatalogError::TableExists { .. }) if if_not_exists => {
                return Ok(ArrowRows::empty());
            }
            Err(CatalogError::TableExists { .. }) if or_replace => {
                // Replacing needs what dropping needs: the owner, or MANAGE. Checked here
                // before any data is written, and again where the swap happens.
                let (_, facts) = self
                    .store
                    .table_access(
                        caller.workspace_id,
                        caller.principal_id,
                        caller.is_admin,
                        &securable,
                    )
                    .await
                    .map_err(failure::catalog)?;
                if !facts.may_manage() {
                    return Err(failure::catalog(CatalogError::NotOwner { on: securable }));
                }
                // The old table stays until the new one's data is written: a replacement
                // that fails (a bad query, a full disk) leaves it as it was.
            }
            Err(e) => return Err(failure::catalog(e)),
        }
        let id = uuid::Uuid::new_v4().to_string();
        let output = self
            .run_bound(Job {
                user: caller.name.clone(),
                statement: statement.clone(),
                catalog: catalog.to_owned(),
                schema: schema.to_owned(),
                bindings,
                new_table_id: Some(id.clone()),
            })
            .await
            .map_err(failure::engine)?;
        let mut columns = match &view {
            Some(_) => output.view_columns.clone(),
            None => self.engine.columns(&id).await.map_err(failure::engine)?,
        };
        // What the statement said of its columns, its comment and its properties, the data
        // does not keep: the catalog does.
        if let Kind::CreateTable { columns: said, .. } = statement.kind() {
            for column in &mut columns {
                column.comment =
                    said.iter().find(|c| c.name == column.name).and_then(|c| c.comment.clone());
            }
        }
        let (comment, properties) = statement.description();
        let new = NewTable {
            comment,
            properties: properties
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
            catalog_name: target.catalog.clone(),
            schema_name: target.schema.clone(),
            name: target.table.clone(),
            table_type: if view.is_some() { "VIEW" } else { "MANAGED" }.into(),
            data_source_format: view.is_none().then(|| "DELTA".to_owned()),
            columns: column_records(&columns)?,
            view_definition: view.clone(),
            id: Some(id.clone()),
            ..NewTable::default()
        };
        // One transaction swaps the old table for the new one: readers see either.
        let stored = if or_replace {
            self.store.replace_table(caller, &new).await
        } else {
            self.store.create_table(caller, &new).await.map(|t| (t, None))
        };
        let replaced = match stored {
            Ok((_, replaced)) => replaced,
            Err(e) => {
                if view.is_none() {
                    self.forget_data(&id).await;
                }
                return Err(failure::catalog(e));
            }
        };
        if view.is_none() {
            self.materialized.lock().expect("lock").insert(id);
        }
        if let Some(old) = replaced
            && !old.table_type.is_view()
        {
            self.forget_data(&old.id).await;
        }
        Ok(ArrowRows::new(output))
    }

    /// Binds a table or view the statement reads, after checking `who` may select from it. A
    /// view's own reads are checked against the view's owner and bound before it.
    fn bind_read<'a>(
        &'a self,
        who: &'a Principal,
        name: &'a QualifiedName,
        bindings: &'a mut Vec<Binding>,
        bound: &'a mut HashSet<QualifiedName>,
        depth: usize,
    ) -> Pin<Box<dyn Future<Output = Result<(), SqlFailure>> + Send + 'a>> {
        Box::pin(async move {
            let record = self.checked(who, name, Action::SelectTable).await?;
            if bound.contains(name) {
                return Ok(());
            }
            if record.table_type.is_view() {
                if depth >= MAX_VIEW_DEPTH {
                    return Err(failure::not_supported(format!(
                        "Views nested more than {MAX_VIEW_DEPTH} deep"
                    )));
                }
                let text = record.view_definition.clone().unwrap_or_default();
                let view = Statement::parse(&text).map_err(failure::engine)?;
                let owner = Principal::owner(who, &record).ok_or_else(|| {
                    failure::denied(format!(
                        "View {} has no owner, so what it reads cannot be checked.",
                        record.full_name()
                    ))
                })?;
                let uses = view
                    .objects(&record.catalog_name, &record.schema_name)
                    .map_err(failure::engine)?;
                for inner in uses {
                    if inner.access != Access::Read {
                        return Err(failure::not_supported("A view that writes"));
                    }
                    self.bind_read(&owner, &inner.name, bindings, bound, depth + 1).await?;
                }
                bound.insert(name.clone());
                bindings.push(Binding {
                    name: name.clone(),
                    source: Source::View {
                        text,
                        catalog: record.catalog_name.clone(),
                        schema: record.schema_name.clone(),
                    },
                });
            } else {
                self.materialize(&record).await?;
                bound.insert(name.clone());
                bindings
                    .push(Binding { name: name.clone(), source: Source::Table { id: record.id } });
            }
            Ok(())
        })
    }

    /// Binds the table a statement writes, after checking the caller may modify it.
    async fn bind_write(
        &self,
        caller: &Caller,
        name: &QualifiedName,
        bindings: &mut Vec<Binding>,
        bound: &mut HashSet<QualifiedName>,
    ) -> Result<(), SqlFailure> {
        let record = self.checked(&Principal::caller(caller), name, Action::ModifyTable).await?;
        not_a_view(&record, "rows are written to tables")?;
        self.materialize(&record).await?;
        if bound.insert(name.clone()) {
            bindings.push(Binding { name: name.clone(), source: Source::Table { id: record.id } });
        }
        Ok(())
    }

    /// `ALTER TABLE|VIEW`, `COMMENT ON TABLE|COLUMN`.
    async fn alter(
        &self,
        caller: &Caller,
        alter: alter::Alter,
        catalog: &str,
        schema: &str,
    ) -> Result<ArrowRows, SqlFailure> {
        let securable = commands::table_name(&alter.table, catalog, schema)?;
        let change = match alter.change {
            alter::Change::Catalog(change) => change,
            alter::Change::Rename(to) => TableChange::Rename(alter::new_name(&to, &securable)?),
            alter::Change::AddColumns(columns) => {
                return self.add_columns(caller, &securable, &columns).await;
            }
        };
        self.change_catalog(caller, &securable, &change).await
    }

    /// Makes one change to a table in the catalog; the statement answers no rows.
    async fn change_catalog(
        &self,
        caller: &Caller,
        securable: &Securable,
        change: &TableChange,
    ) -> Result<ArrowRows, SqlFailure> {
        self.store.alter_table(caller, securable, change).await.map_err(failure::catalog)?;
        Ok(ArrowRows::empty())
    }

    /// The table `table` names, for a change to its files that MODIFY allows (a view has no
    /// files: `why` says what it cannot have), its Delta table made if it never was written.
    async fn files_to_change(
        &self,
        caller: &Caller,
        table: &[String],
        (catalog, schema): (&str, &str),
        why: &str,
    ) -> Result<TableRecord, SqlFailure> {
        let Securable::Table(c, s, t) = commands::table_name(table, catalog, schema)? else {
            return Err(failure::invalid_name(&table.join(".")));
        };
        let name = QualifiedName { catalog: c, schema: s, table: t };
        let record = self.checked(&Principal::caller(caller), &name, Action::ModifyTable).await?;
        not_a_view(&record, why)?;
        self.materialize(&record).await?;
        Ok(record)
    }

    /// `RESTORE TABLE`: the table's rows as they were at a version, as a new commit; a write,
    /// and so MODIFY's.
    async fn restore(
        &self,
        caller: &Caller,
        tokens: &[lexer::Spanned],
        current: (&str, &str),
    ) -> Result<ArrowRows, SqlFailure> {
        let (table, as_of) = alter::restored(tokens)?;
        let record =
            self.files_to_change(caller, &table, current, "it has no versions to restore").await?;
        let output =
            self.engine.restore(&record.id, &as_of, &caller.name).await.map_err(failure::engine)?;
        Ok(ArrowRows::new(output))
    }

    /// `OPTIMIZE`: a change to the table's files, not its rows, and so MODIFY's.
    async fn optimize(
        &self,
        caller: &Caller,
        table: &[String],
        zorder: &[String],
        catalog: &str,
        schema: &str,
    ) -> Result<ArrowRows, SqlFailure> {
        let record = self
            .files_to_change(caller, table, (catalog, schema), "there are no files to optimize")
            .await?;
        if let Some(unknown) = zorder.iter().find(|z| !record.columns.iter().any(|c| &c.name == *z))
        {
            return Err(failure::catalog(CatalogError::ColumnNotFound {
                table: record.full_name(),
                name: unknown.clone(),
            }));
        }
        let output = self
            .engine
            .optimize(&record.id, zorder, &caller.name)
            .await
            .map_err(failure::engine)?;
        Ok(ArrowRows::new(output))
    }

    /// `ALTER TABLE … ADD COLUMNS`: the Delta table first, then the catalog, which decides
    /// the caller's right again as it records them. A change that stopped between the two is
    /// finished by making it again (the Delta table keeps columns it already has).
    async fn add_columns(
        &self,
        caller: &Caller,
        securable: &Securable,
        definitions: &str,
    ) -> Result<ArrowRows, SqlFailure> {
        let parsed = Statement::parse(&format!("CREATE TABLE added ({definitions})"))
            .map_err(failure::engine)?;
        let Kind::CreateTable { columns, .. } = parsed.kind() else {
            return Err(failure::syntax("ADD COLUMNS takes column definitions."));
        };
        if let Some(c) = columns.iter().find(|c| !c.nullable) {
            return Err(failure::not_supported(format!(
                "Adding a NOT NULL column ({}) to a table",
                c.name
            )));
        }
        let (record, facts) = self.table_and_facts(&Principal::caller(caller), securable).await?;
        not_a_view(&record, "columns are added to tables")?;
        facts.check_alteration(rules::Alteration::Definition, false, securable).map_err(
            |refused| {
                failure::denied(refused.map_or_else(
                    || format!("User is not an owner of {securable}."),
                    |missing| missing.0,
                ))
            },
        )?;
        let added = column_records(columns)?;
        if let Some(taken) =
            added.iter().find(|c| record.columns.iter().any(|old| old.name == c.name))
        {
            return Err(failure::catalog(CatalogError::ColumnExists {
                table: securable.full_name(),
                name: taken.name.clone(),
            }));
        }
        self.materialize(&record).await?;
        self.engine
            .add_columns(&record.id, columns, &caller.name)
            .await
            .map_err(failure::engine)?;
        self.change_catalog(caller, securable, &TableChange::AddColumns(added)).await
    }

    /// The table or view `name`, if `who` may do `action` with it.
    async fn checked(
        &self,
        who: &Principal,
        name: &QualifiedName,
        action: Action,
    ) -> Result<TableRecord, SqlFailure> {
        let securable =
            Securable::Table(name.catalog.clone(), name.schema.clone(), name.table.clone());
        let (record, facts) = self.table_and_facts(who, &securable).await?;
        facts.check(action, &securable).map_err(|denied| failure::denied(denied.0))?;
        Ok(record)
    }

    /// The table or view `securable`, and the facts that decide what `who` may do with it.
    async fn table_and_facts(
        &self,
        who: &Principal,
        securable: &Securable,
    ) -> Result<(TableRecord, rules::AccessFacts), SqlFailure> {
        self.store
            .table_access(who.workspace_id, who.principal_id, who.is_admin, securable)
            .await
            .map_err(|e| match e {
                CatalogError::TableNotFound { .. }
                | CatalogError::SchemaNotFound { .. }
                | CatalogError::CatalogNotFound { .. }
                | CatalogError::NoMetastore => failure::table_not_found(securable.full_name()),
                other => failure::catalog(other),
            })
    }

    /// Gives a table made through the catalog API (metadata only) its empty Delta table.
    async fn materialize(&self, record: &TableRecord) -> Result<(), SqlFailure> {
        if self.materialized.lock().expect("lock").contains(&record.id) {
            return Ok(());
        }
        let columns: Vec<Column> = record
            .columns
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                type_name: c.type_text.to_ascii_uppercase(),
                nullable: c.nullable,
                comment: c.comment.clone(),
            })
            .collect();
        self.engine.ensure_table(&record.id, &columns).await.map_err(failure::engine)?;
        self.materialized.lock().expect("lock").insert(record.id.clone());
        Ok(())
    }
}

/// `DROP TABLE|VIEW [IF EXISTS] name [PURGE]`: the name's parts and whether `IF EXISTS` was
/// given.
fn drop_target(tokens: &[lexer::Spanned]) -> Result<(Vec<String>, bool), SqlFailure> {
    let tokens: Vec<&lexer::Token> = tokens.iter().map(|t| &t.token).skip(2).collect();
    let mut rest = tokens.into_iter().peekable();
    let mut if_exists = false;
    if rest.peek().is_some_and(|t| t.is("IF")) {
        rest.next();
        if !rest.next().is_some_and(|t| t.is("EXISTS")) {
            return Err(failure::syntax("Expected IF EXISTS."));
        }
        if_exists = true;
    }
    let mut parts = Vec::new();
    loop {
        match rest.next().and_then(lexer::Token::identifier) {
            Some(part) => parts.push(part.to_lowercase()),
            None => return Err(failure::syntax("DROP needs the name of a table or view.")),
        }
        match rest.next() {
            Some(lexer::Token::Symbol('.')) => continue,
            None | Some(lexer::Token::Symbol(';')) => break,
            Some(t) if t.is("PURGE") => break,
            Some(_) => return Err(failure::syntax("Unexpected text after the name.")),
        }
    }
    Ok((parts, if_exists))
}

/// Whose privileges decide: the caller, or the owner of a view being read.
struct Principal {
    workspace_id: WorkspaceId,
    principal_id: PrincipalId,
    is_admin: bool,
}

impl Principal {
    fn caller(caller: &Caller) -> Principal {
        Principal {
            workspace_id: caller.workspace_id,
            principal_id: caller.principal_id,
            is_admin: caller.is_admin,
        }
    }

    /// A view's owner (its admin standing comes from its groups, not from any token).
    fn owner(of: &Principal, view: &TableRecord) -> Option<Principal> {
        view.meta.owner_id.map(|principal_id| Principal {
            workspace_id: of.workspace_id,
            principal_id,
            is_admin: false,
        })
    }
}

/// Refuses a view where a table is needed, saying why.
fn not_a_view(record: &TableRecord, why: &str) -> Result<(), SqlFailure> {
    if !record.table_type.is_view() {
        return Ok(());
    }
    Err(SqlFailure::new(
        patchbay_server::statements::engine::FailureCode::BadRequest,
        "EXPECT_TABLE_NOT_VIEW",
        format!("{} is a view: {why}.", record.full_name()),
    )
    .with_sql_state("42809"))
}

/// The catalog's columns for a new table's engine columns.
fn column_records(columns: &[Column]) -> Result<Vec<ColumnRecord>, SqlFailure> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let type_text = c.type_name.to_ascii_lowercase();
            let type_name = rules::column_type_name(&type_text).map_err(|m| {
                SqlFailure::new(
                    patchbay_server::statements::engine::FailureCode::BadRequest,
                    "UNSUPPORTED_DATATYPE",
                    m,
                )
                .with_sql_state("0A000")
            })?;
            Ok(ColumnRecord {
                name: c.name.clone(),
                position: i64::try_from(i).unwrap_or(i64::MAX),
                type_name: type_name.to_owned(),
                type_text,
                type_json: String::new(),
                nullable: c.nullable,
                comment: c.comment.clone(),
            })
        })
        .collect()
}

impl SqlEngine for Warehouses {
    fn execute(
        &self,
        execution: Execution,
    ) -> Pin<Box<dyn Future<Output = Result<Executed, SqlFailure>> + Send + '_>> {
        Box::pin(self.run(execution))
    }

    fn forget_tables(&self, ids: Vec<String>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            for id in ids {
                self.forget_data(&id).await;
            }
        })
    }

    fn table_location(&self, table_id: &str) -> Option<String> {
        self.engine.table_location(table_id)
    }
}
