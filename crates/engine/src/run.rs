//! Running a parsed statement against the tables its caller bound.

use crate::EngineError;
use crate::lookup::{Decision, HeldRows, PointQuery, TableMemory};
use crate::names::QualifiedName;
use crate::statement::{
    ALL_COLUMNS, AsOf, CastNames, Kind, Statement, drop_nested_sorts, has_nested_sorts,
    name_casts_of_columns,
};
use crate::storage::Storage;
use crate::types::Column;
use deltalake::DeltaTable;
use deltalake::arrow::array::{Int64Array, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider,
};
use deltalake::datafusion::datasource::ViewTable;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use deltalake::datafusion::execution::{SessionState, SessionStateBuilder};
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use deltalake::datafusion::sql::parser::Statement as DfStatement;
use deltalake::datafusion::sql::sqlparser::ast::{
    self, Assignment, AssignmentTarget, MergeAction, MergeClauseKind, MergeInsertKind,
    Statement as SqlStatement, TableFactor, visit_expressions_mut,
};
use deltalake::delta_datafusion::planner::DeltaPlanner;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::operations::merge::{DeleteBuilder as MergeDelete, UpdateBuilder as MergeUpdate};
use deltalake::protocol::SaveMode;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use std::collections::HashMap;
use std::sync::Arc;
use url::Url;

/// Limits on one statement's work.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Memory for operators that can run out of it (sorts, joins, aggregates), per engine.
    pub memory_bytes: usize,
    /// Rows a result may hold; a bigger result fails rather than filling memory.
    pub max_result_rows: usize,
    /// Bytes a result may hold (its Arrow buffers), likewise: a million rows of wide strings
    /// would otherwise fill the machine.
    pub max_result_bytes: usize,
    /// Threads a query spreads over.
    pub target_partitions: usize,
    /// Memory for tables' rows held for point lookups, shared by all tables (0: none held).
    pub table_memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 512 << 20,
            max_result_rows: 1_000_000,
            max_result_bytes: 1 << 30,
            target_partitions: 2,
            table_memory_bytes: 256 << 20,
        }
    }
}

/// Where a bound name's rows come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A Delta table stored at `<root>/<id>`.
    Table { id: String },
    /// A view: its query text, and the catalog and schema it was defined in (its bare names
    /// resolve there).
    View { text: String, catalog: String, schema: String },
    /// Rows the caller made (a read-only table, e.g. an `information_schema` view).
    Rows { schema: SchemaRef, batches: Vec<RecordBatch> },
}

/// A name the caller resolved and allowed for this statement.
#[derive(Debug, Clone)]
pub struct Binding {
    pub name: QualifiedName,
    pub source: Source,
}

/// What a statement produced: rows with their schema. Writes produce Databricks' counts
/// (`num_affected_rows`, …), DDL an empty result.
#[derive(Debug, Clone)]
pub struct Output {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// The columns of the view a `CREATE VIEW` defined, for its catalog entry; its own result
    /// stays empty, as Databricks' is.
    pub view_columns: Vec<Column>,
}

impl Output {
    fn empty() -> Output {
        Output::new(Arc::new(Schema::empty()), Vec::new())
    }

    /// These rows with the columns named `from` renamed `to`.
    fn renamed(self, names: &[(String, String)]) -> Result<Output, EngineError> {
        if names.is_empty() {
            return Ok(self);
        }
        let fields: Vec<_> = self
            .schema
            .fields()
            .iter()
            .map(|field| match names.iter().find(|(from, _)| from == field.name()) {
                Some((_, to)) => Arc::new(field.as_ref().clone().with_name(to)),
                None => field.clone(),
            })
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, self.schema.metadata().clone()));
        let batches = self
            .batches
            .into_iter()
            .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
            .collect::<Result<_, _>>()
            .map_err(deltalake::datafusion::error::DataFusionError::from)?;
        Ok(Output { schema, batches, view_columns: self.view_columns })
    }

    /// Rows with their schema.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Output {
        Output { schema, batches, view_columns: Vec::new() }
    }

    pub(crate) fn counts(columns: &[(&str, usize)]) -> Output {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(name, _)| Field::new(*name, DataType::Int64, false))
                .collect::<Vec<_>>(),
        ));
        let arrays =
            columns.iter().map(|(_, n)| Arc::new(Int64Array::from(vec![*n as i64])) as _).collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays).expect("one value per column");
        Output::new(schema, vec![batch])
    }

    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// One statement to run, and what it runs with.
#[derive(Debug, Clone)]
pub struct Job {
    /// Whom `current_user()` names.
    pub user: String,
    pub statement: Statement,
    /// The defaults for names written without catalog or schema.
    pub catalog: String,
    pub schema: String,
    /// The only tables and views that exist for the statement; views among them are planned in
    /// order, so a view may use the bindings before it.
    pub bindings: Vec<Binding>,
    /// Where a statement that creates a table (`CREATE TABLE`, `CREATE TABLE AS SELECT`) stores
    /// it.
    pub new_table_id: Option<String>,
}

/// The query engine: where tables live, and the limits every statement runs under.
pub struct Engine {
    storage: Storage,
    runtime: Arc<RuntimeEnv>,
    limits: Limits,
    /// Tables as last read, by id: a statement reads only the log entries committed since
    /// (another node's included), not the whole log again.
    tables: std::sync::Mutex<HashMap<String, DeltaTable>>,
    /// One writer at a time per table on this node, by id: concurrent writers would each read
    /// the same version and race to commit the next, and a commit that loses re-tries against
    /// the newer version a bounded number of times — twenty INSERTs at once would exhaust it.
    /// Writers on other nodes still race, one per node.
    writers: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The session state statements start from.
    base: std::sync::OnceLock<SessionState>,
    /// Tables' rows held in memory for point lookups.
    memory: Arc<TableMemory>,
}

/// How many tables' states the engine keeps between statements.
const CACHED_TABLES: usize = 1024;

impl Engine {
    /// An engine whose tables live under `root`, a `file://` directory URL or an `s3://`
    /// bucket URL. The directory is created if it does not exist; [`Engine::check_storage`]
    /// makes sure a bucket can be written to.
    pub fn new(root: Url, limits: Limits) -> Result<Engine, EngineError> {
        let storage = Storage::new(root)?;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(limits.memory_bytes)))
            .build_arc()?;
        Ok(Engine {
            storage,
            runtime,
            tables: std::sync::Mutex::new(HashMap::new()),
            writers: std::sync::Mutex::new(HashMap::new()),
            base: std::sync::OnceLock::new(),
            memory: Arc::new(TableMemory::new(limits.table_memory_bytes)),
            limits,
        })
    }

    /// Where the table with this id is stored, as a Delta reader opens it; `None` for what is
    /// not a table id.
    pub fn table_location(&self, id: &str) -> Option<String> {
        let location = self.location(id).ok()?;
        Some(location.as_str().trim_end_matches('/').to_owned())
    }

    /// Makes sure tables can be stored where this engine stores them; for a bucket, that it
    /// answers, takes writes and honours conditional writes, which commits rely on.
    pub async fn check_storage(&self) -> Result<(), EngineError> {
        self.storage.check().await
    }

    /// Where the table with this id lives. Ids come from patchbay's catalog; anything that is not
    /// a plain id (letters, digits, `-`, `_`) is refused, so no id can point outside the root.
    fn location(&self, id: &str) -> Result<Url, EngineError> {
        let plain = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !plain {
            return Err(EngineError::Storage(format!("{id:?} is not a table id")));
        }
        self.storage.root().join(&format!("{id}/")).map_err(|e| EngineError::Storage(e.to_string()))
    }

    /// Creates an empty Delta table for `id` with these columns (replacing its contents when
    /// `replace` is set), its commit made by `user`.
    pub async fn create_table(
        &self,
        id: &str,
        columns: &[Column],
        replace: bool,
        user: &str,
    ) -> Result<(), EngineError> {
        let mode = if replace { SaveMode::Overwrite } else { SaveMode::ErrorIfExists };
        self.create_with_columns(id, columns, mode, Some(user)).await
    }

    /// Creates an empty Delta table for `id` unless one is there: for a table whose metadata
    /// was made through the catalog API, which writes no files.
    pub async fn ensure_table(&self, id: &str, columns: &[Column]) -> Result<(), EngineError> {
        self.create_with_columns(id, columns, SaveMode::Ignore, None).await
    }

    async fn create_with_columns(
        &self,
        id: &str,
        columns: &[Column],
        mode: SaveMode,
        user: Option<&str>,
    ) -> Result<(), EngineError> {
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| Ok(Field::new(&c.name, crate::types::arrow_type(&c.type_name)?, c.nullable)))
            .collect::<Result<_, EngineError>>()?;
        self.create_with_schema(id, &Schema::new(fields), mode, user).await?;
        Ok(())
    }

    async fn create_with_schema(
        &self,
        id: &str,
        schema: &Schema,
        mode: SaveMode,
        user: Option<&str>,
    ) -> Result<DeltaTable, EngineError> {
        let structure: StructType = schema
            .try_into_kernel()
            .map_err(|e| EngineError::Unsupported(format!("a column type: {e}")))?;
        let location = self.location(id)?;
        if let Ok(dir) = location.to_file_path() {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| EngineError::Storage(e.to_string()))?;
        }
        let table = DeltaTable::try_from_url(location).await?;
        let mut create =
            table.create().with_columns(structure.fields().cloned()).with_save_mode(mode);
        if let Some(user) = user {
            create = create.with_commit_properties(made_by(user));
        }
        Ok(create.await?)
    }

    /// The columns of the table stored under `id`, in Databricks' type names.
    pub async fn columns(&self, id: &str) -> Result<Vec<Column>, EngineError> {
        let table = self.open(id).await?;
        let schema = table.snapshot()?.snapshot().arrow_schema();
        Ok(crate::types::columns(&schema))
    }

    /// Adds columns after the last of the table stored under `id`, nullable, as Delta adds
    /// them to a table with rows. A column already there with the same type is left as it is:
    /// a change that stopped after its commit, made again, finishes. One there with another
    /// type is an error. The commit is made by `user`.
    pub async fn add_columns(
        &self,
        id: &str,
        columns: &[Column],
        user: &str,
    ) -> Result<(), EngineError> {
        let _writing = self.writer(id).lock_owned().await;
        let table = self.open(id).await?;
        let schema = table.snapshot()?.snapshot().arrow_schema();
        let mut fields = Vec::new();
        for c in columns {
            let data_type = crate::types::arrow_type(&c.type_name)?;
            match schema.field_with_name(&c.name) {
                Ok(there) if there.data_type() == &data_type => {}
                Ok(there) => {
                    return Err(EngineError::Analysis(format!(
                        "Column {} exists as {}.",
                        c.name,
                        crate::types::databricks_type_name(there.data_type())
                    )));
                }
                Err(_) => fields.push(Field::new(&c.name, data_type, true)),
            }
        }
        if fields.is_empty() {
            return Ok(());
        }
        let structure: StructType = (&Schema::new(fields))
            .try_into_kernel()
            .map_err(|e| EngineError::Unsupported(format!("a column type: {e}")))?;
        let added: Vec<_> = structure.fields().cloned().collect();
        let table =
            table.add_columns().with_fields(added).with_commit_properties(made_by(user)).await?;
        self.committed(id, table);
        Ok(())
    }

    /// Keeps `table`, which this node just committed, as the state of `id`; rows held in
    /// memory for it are of an older version and go.
    pub(crate) fn committed(&self, id: &str, table: DeltaTable) {
        self.memory.forget(id);
        self.tables.lock().expect("lock").insert(id.to_owned(), table);
    }

    /// Removes a table's files. Removing a table that has none is not an error.
    pub async fn drop_table(&self, id: &str) -> Result<(), EngineError> {
        let location = self.location(id)?;
        self.tables.lock().expect("lock").remove(id);
        self.memory.forget(id);
        if location.scheme() == "file" {
            let dir = location
                .to_file_path()
                .map_err(|()| EngineError::Storage(format!("{location} is not a directory")))?;
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(EngineError::Storage(e.to_string())),
            }
        } else {
            // The table's own store, rooted at its location: listing it lists the table's
            // files and no one else's.
            let store = deltalake::DeltaTableBuilder::from_url(location)?.build()?.object_store();
            // Deleted as they are listed, in batches where the store has them (S3 takes a
            // thousand keys a request).
            let listed = store.list(None).map_ok(|meta| meta.location).boxed();
            let mut deleted = store.delete_stream(listed);
            while let Some(gone) = deleted.next().await {
                gone.map_err(|e| EngineError::Storage(e.to_string()))?;
            }
            Ok(())
        }
    }

    /// The id of the stored table `statement` writes into, if it writes into one that exists.
    fn write_target<'a>(
        &self,
        statement: &Statement,
        catalog: &str,
        schema: &str,
        bindings: &'a [Binding],
    ) -> Option<&'a str> {
        let target = match statement.kind() {
            Kind::Insert { target, .. }
            | Kind::Update { target }
            | Kind::Delete { target }
            | Kind::Merge { target } => QualifiedName::resolve(target, catalog, schema),
            _ => return None,
        };
        bindings.iter().find_map(|b| match &b.source {
            Source::Table { id } if b.name == target => Some(id.as_str()),
            _ => None,
        })
    }

    /// The lock a writer of table `id` holds on this node.
    pub(crate) fn writer(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut writers = self.writers.lock().expect("lock");
        // Locks nobody holds or waits for go, so the map holds only tables being written.
        writers.retain(|_, lock| Arc::strong_count(lock) > 1);
        writers.entry(id.to_owned()).or_default().clone()
    }

    /// Runs `job`: a point lookup whose rows are held in memory is answered from them, anything
    /// else is planned and run.
    pub async fn run(&self, job: &Job) -> Result<Output, EngineError> {
        if let Some(output) = self.answer_from_memory(job).await? {
            return Ok(output);
        }
        self.run_planned(job).await
    }

    /// The answer to a point lookup (`SELECT … FROM t WHERE id = 5`) from the table's rows held
    /// in memory, if the statement is one and they are held: microseconds, where planning it
    /// takes milliseconds. `None`: the statement is to be planned ([`Engine::run_planned`]).
    pub async fn answer_from_memory(&self, job: &Job) -> Result<Option<Output>, EngineError> {
        if job.statement.kind() == &Kind::Query
            && !job.statement.reads_the_past()
            && let [Binding { source: Source::Table { id }, .. }] = job.bindings.as_slice()
            && let Some(point) = PointQuery::of(&job.statement.parsed)
        {
            return self.lookup_in_memory(id, &point).await;
        }
        Ok(None)
    }

    /// [`Engine::run`] without looking for the answer in memory: plans the statement and runs
    /// it.
    pub async fn run_planned(&self, job: &Job) -> Result<Output, EngineError> {
        let Job { user, statement, catalog, schema, bindings, new_table_id } = job;
        let new_table_id = new_table_id.as_deref();
        // Held until the statement ends: its table is read after the lock is taken, so the
        // commit it makes is the next version unless another node's came first.
        let _writing = match self.write_target(statement, catalog, schema, bindings) {
            Some(id) => Some(self.writer(id).lock_owned().await),
            None => None,
        };
        let versions = statement.versions(catalog, schema)?;
        let ctx = self.session(catalog, schema, user);
        let mut tables = HashMap::new();
        for binding in bindings {
            let provider = match &binding.source {
                Source::Table { id } => {
                    let table = match versions.get(&binding.name) {
                        Some(as_of) => self.open_as_of(id, as_of).await?,
                        None => self.open(id).await?,
                    };
                    let provider = table.table_provider().await?;
                    tables.insert(binding.name.clone(), table);
                    provider
                }
                Source::View { text, catalog, schema } => {
                    let mut state = ctx.state();
                    let options = state.config_mut().options_mut();
                    options.catalog.default_catalog = catalog.clone();
                    options.catalog.default_schema = schema.clone();
                    let view = Statement::parse(text)?;
                    if view.reads_the_past() {
                        return Err(EngineError::Unsupported(
                            "a view that reads a table at a version of its past".into(),
                        ));
                    }
                    if view.kind() != &Kind::Query {
                        return Err(EngineError::Unsupported("a view that is not a query".into()));
                    }
                    let plan = plan(&state, view.parsed.clone()).await?;
                    Arc::new(ViewTable::new(plan, Some(text.clone())))
                }
                Source::Rows { schema, batches } => {
                    Arc::new(deltalake::datafusion::datasource::MemTable::try_new(
                        schema.clone(),
                        vec![batches.clone()],
                    )?)
                }
            };
            register(&ctx, &binding.name, provider)?;
        }
        let state = ctx.state();
        match statement.kind() {
            Kind::Query => {
                let mut parsed = statement.parsed.clone();
                let renamed = if let DfStatement::Statement(s) = &mut parsed
                    && let SqlStatement::Query(query) = s.as_mut()
                {
                    name_casts_of_columns(query, CastNames::Planned)
                } else {
                    Vec::new()
                };
                let plan = plan(&state, parsed).await?;
                read_only().verify_plan(&plan)?;
                let output = self.collect(ctx.execute_logical_plan(plan).await?).await?;
                output.renamed(&renamed)
            }
            Kind::Insert { target, overwrite, by_name } => {
                let mut parsed = statement.parsed.clone();
                if *by_name {
                    name_inserted_columns(&state, &mut parsed).await?;
                }
                let plan = plan(&state, parsed).await?;
                dml_only().verify_plan(&plan)?;
                // The planner maps the rows onto the table's columns (order, casts, missing
                // ones as NULL); they are written as CREATE TABLE AS SELECT writes them.
                let LogicalPlan::Dml(insert) = plan else {
                    return Err(EngineError::Unsupported("this form of INSERT".into()));
                };
                let table = take(&mut tables, &QualifiedName::resolve(target, catalog, schema))?;
                let mode = if *overwrite { SaveMode::Overwrite } else { SaveMode::Append };
                let rows = DataFrame::new(state.clone(), insert.input.as_ref().clone());
                let (_, inserted) = write_rows(table, rows, &state, mode, user).await?;
                Ok(Output::counts(&[
                    ("num_affected_rows", inserted),
                    ("num_inserted_rows", inserted),
                ]))
            }
            Kind::CreateTable { columns, or_replace, .. } => {
                let id = new_table_id
                    .ok_or_else(|| EngineError::Storage("no id for the new table".into()))?;
                self.create_table(id, columns, *or_replace, user).await?;
                Ok(Output::empty())
            }
            Kind::CreateTableAs { or_replace, .. } => {
                let id = new_table_id
                    .ok_or_else(|| EngineError::Storage("no id for the new table".into()))?;
                let SqlStatement::CreateTable(create) = statement.sql() else { unreachable!() };
                let query = create.query.as_ref().expect("CREATE TABLE AS has a query");
                let plan = plan(
                    &state,
                    DfStatement::Statement(Box::new(SqlStatement::Query(query.clone()))),
                )
                .await?;
                read_only().verify_plan(&plan)?;
                let rows = ctx.execute_logical_plan(plan).await?;
                let schema = Schema::new(rows.schema().fields().clone());
                let mode = if *or_replace { SaveMode::Overwrite } else { SaveMode::ErrorIfExists };
                let table = self.create_with_schema(id, &schema, mode, Some(user)).await?;
                let (_, metrics) = write_rows(table, rows, &state, SaveMode::Append, user).await?;
                Ok(Output::counts(&[
                    ("num_affected_rows", metrics),
                    ("num_inserted_rows", metrics),
                ]))
            }
            Kind::CreateView { .. } => {
                // The caller keeps the definition; planning it here proves it reads only what
                // it was allowed to and that its columns resolve.
                let SqlStatement::CreateView(view) = statement.sql() else { unreachable!() };
                let plan = plan(
                    &state,
                    DfStatement::Statement(Box::new(SqlStatement::Query(view.query.clone()))),
                )
                .await?;
                read_only().verify_plan(&plan)?;
                Ok(Output {
                    view_columns: crate::types::columns(plan.schema().as_arrow()),
                    ..Output::empty()
                })
            }
            Kind::Update { target } => {
                let rewritten = crate::spark_syntax::rewritten(statement.sql());
                let SqlStatement::Update(update) = &rewritten else { unreachable!() };
                let table = take(&mut tables, &QualifiedName::resolve(target, catalog, schema))?;
                let mut builder = table
                    .update()
                    .with_session_state(Arc::new(state.clone()))
                    .with_writer_properties(writer_properties())
                    .with_commit_properties(made_by(user));
                if let Some(selection) = &update.selection {
                    builder = builder.with_predicate(selection.to_string());
                }
                for Assignment { target, value } in &update.assignments {
                    builder = builder.with_update(column_name(target)?, value.to_string());
                }
                let (_, metrics) = builder.await?;
                Ok(Output::counts(&[("num_affected_rows", metrics.num_updated_rows)]))
            }
            Kind::Delete { target } => {
                let rewritten = crate::spark_syntax::rewritten(statement.sql());
                let SqlStatement::Delete(delete) = &rewritten else { unreachable!() };
                let table = take(&mut tables, &QualifiedName::resolve(target, catalog, schema))?;
                let before = table.clone();
                let mut builder = table
                    .delete()
                    .with_session_state(Arc::new(state.clone()))
                    .with_writer_properties(writer_properties())
                    .with_commit_properties(made_by(user));
                if let Some(selection) = &delete.selection {
                    builder = builder.with_predicate(selection.to_string());
                }
                let (after, metrics) = builder.await?;
                let deleted = match metrics.num_deleted_rows {
                    Some(n) => n,
                    // Whole files went and their metadata held no count: the version the delete
                    // started from, less the version it made.
                    None => row_count(&ctx, &before).await? - row_count(&ctx, &after).await?,
                };
                Ok(Output::counts(&[("num_affected_rows", deleted)]))
            }
            Kind::Merge { target } => {
                let rewritten = crate::spark_syntax::rewritten(statement.sql());
                let SqlStatement::Merge(merge) = &rewritten else { unreachable!() };
                let target_name = QualifiedName::resolve(target, catalog, schema);
                let table = take(&mut tables, &target_name)?;
                self.merge(&ctx, &state, table, merge, user).await
            }
            Kind::Other => Err(EngineError::Unsupported("this statement".into())),
        }
    }

    async fn merge(
        &self,
        ctx: &SessionContext,
        state: &SessionState,
        table: DeltaTable,
        merge: &ast::Merge,
        user: &str,
    ) -> Result<Output, EngineError> {
        let TableFactor::Table { alias: target_alias, .. } = &merge.table else { unreachable!() };
        let target_alias =
            target_alias.as_ref().map(|a| a.name.value.clone()).unwrap_or_else(|| "target".into());
        let (source_query, source_alias) = match &merge.source {
            TableFactor::Table { name, alias, .. } => (
                format!("SELECT * FROM {name}"),
                alias.as_ref().map(|a| a.name.value.clone()).unwrap_or_else(|| "source".into()),
            ),
            TableFactor::Derived { subquery, alias, .. } => (
                crate::dialect::reparsable(&**subquery),
                alias.as_ref().map(|a| a.name.value.clone()).unwrap_or_else(|| "source".into()),
            ),
            _ => {
                return Err(EngineError::Unsupported(
                    "MERGE … USING anything but a table or a query".into(),
                ));
            }
        };
        let source = Statement::parse(&source_query)?;
        let plan = plan(state, source.parsed.clone()).await?;
        read_only().verify_plan(&plan)?;
        let source_frame: DataFrame = ctx.execute_logical_plan(plan).await?;
        let source_columns: Vec<String> =
            source_frame.schema().fields().iter().map(|f| f.name().clone()).collect();
        let target_columns: Vec<String> =
            table.snapshot()?.schema().fields().map(|f| f.name().clone()).collect();
        let mut builder = table
            .merge(source_frame, merge.on.to_string())
            .with_source_alias(&source_alias)
            .with_target_alias(&target_alias)
            .with_session_state(Arc::new(state.clone()))
            .with_writer_properties(writer_properties())
            .with_commit_properties(made_by(user));
        // Every row of the source, into the target's columns it has (`UPDATE SET *`, `INSERT *`).
        let star = || -> Vec<(String, String)> {
            target_columns
                .iter()
                .filter(|c| source_columns.contains(c))
                .map(|c| (c.clone(), format!("{source_alias}.{c}")))
                .collect()
        };
        for clause in &merge.clauses {
            // Where only one side's row exists, a bare column name is read from that side.
            let side = match clause.clause_kind {
                MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget => {
                    Some((source_alias.as_str(), source_columns.as_slice()))
                }
                MergeClauseKind::NotMatchedBySource => {
                    Some((target_alias.as_str(), target_columns.as_slice()))
                }
                MergeClauseKind::Matched => None,
            };
            let text = |expr: &ast::Expr| match side {
                Some((alias, columns)) => read_from(expr, alias, columns),
                None => expr.to_string(),
            };
            let predicate = clause.predicate.as_ref().map(text);
            builder = match (&clause.clause_kind, &clause.action) {
                (MergeClauseKind::Matched, MergeAction::Update(update)) => {
                    let pairs = assignments(&update.assignments, &target_columns, &source_alias)?;
                    builder.when_matched_update(updating(predicate, pairs))?
                }
                (MergeClauseKind::Matched, MergeAction::Delete { .. }) => {
                    builder.when_matched_delete(deleting(predicate))?
                }
                (
                    MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget,
                    MergeAction::Insert(insert),
                ) => {
                    let pairs: Vec<(String, String)> = match &insert.kind {
                        MergeInsertKind::Values(_) if matches!(insert.columns.as_slice(), [only] if only.to_string() == ALL_COLUMNS) => {
                            star()
                        }
                        MergeInsertKind::Row => star(),
                        MergeInsertKind::Values(values) => {
                            let [row] = values.rows.as_slice() else {
                                return Err(EngineError::Unsupported(
                                    "MERGE … INSERT of several rows".into(),
                                ));
                            };
                            let columns: Vec<String> = if insert.columns.is_empty() {
                                target_columns.clone()
                            } else {
                                insert
                                    .columns
                                    .iter()
                                    .map(|c| c.to_string().to_lowercase())
                                    .collect()
                            };
                            if columns.len() != row.len() {
                                return Err(EngineError::Analysis(
                                    "MERGE … INSERT names a different number of columns and values"
                                        .into(),
                                ));
                            }
                            columns.into_iter().zip(row.iter().map(text)).collect()
                        }
                    };
                    builder.when_not_matched_insert(|mut b| {
                        if let Some(p) = predicate {
                            b = b.predicate(p);
                        }
                        for (column, value) in pairs {
                            b = b.set(column, value);
                        }
                        b
                    })?
                }
                (MergeClauseKind::NotMatchedBySource, MergeAction::Update(update)) => {
                    // Only the target's row exists: no `SET *` from the source.
                    let pairs = update
                        .assignments
                        .iter()
                        .map(|a| Ok((column_name(&a.target)?, text(&a.value))))
                        .collect::<Result<Vec<_>, EngineError>>()?;
                    builder.when_not_matched_by_source_update(updating(predicate, pairs))?
                }
                (MergeClauseKind::NotMatchedBySource, MergeAction::Delete { .. }) => {
                    builder.when_not_matched_by_source_delete(deleting(predicate))?
                }
                _ => return Err(EngineError::Unsupported("this MERGE clause".into())),
            };
        }
        let (_, metrics) = builder.await?;
        let affected = metrics.num_target_rows_inserted
            + metrics.num_target_rows_updated
            + metrics.num_target_rows_deleted;
        Ok(Output::counts(&[
            ("num_affected_rows", affected),
            ("num_updated_rows", metrics.num_target_rows_updated),
            ("num_deleted_rows", metrics.num_target_rows_deleted),
            ("num_inserted_rows", metrics.num_target_rows_inserted),
        ]))
    }

    /// Bytes of tables' rows held in memory for point lookups.
    pub fn table_memory_used(&self) -> usize {
        self.memory.used()
    }

    /// The answer to a point lookup on table `id` from its rows in memory, loading them if
    /// this version has been read often enough; `None` when the query is to be planned.
    async fn lookup_in_memory(
        &self,
        id: &str,
        point: &PointQuery,
    ) -> Result<Option<Output>, EngineError> {
        let table = self.open(id).await?;
        let Some(version) = table.version() else {
            return Ok(None);
        };
        let rows = match self.memory.consult(id, version) {
            Decision::Answer(rows) => rows,
            Decision::Plan => return Ok(None),
            Decision::Load(ticket) => {
                let rows = self.load_rows(&table, version).await?;
                ticket.settle(rows.clone());
                match rows {
                    Some(rows) => rows,
                    None => return Ok(None),
                }
            }
        };
        rows.answer(point, self.limits.max_result_rows).transpose()
    }

    /// Table `table`'s rows at `version` as DataFusion scans them, or `None` when they take
    /// more than a table's share of the memory.
    async fn load_rows(
        &self,
        table: &DeltaTable,
        version: u64,
    ) -> Result<Option<Arc<HeldRows>>, EngineError> {
        let state = self.base.get_or_init(|| self.base_state()).clone();
        let frame =
            SessionContext::new_with_state(state).read_table(table.table_provider().await?)?;
        let schema: SchemaRef = Arc::new(Schema::new(frame.schema().fields().clone()));
        let mut stream = frame.execute_stream().await?;
        let (mut batches, mut bytes) = (Vec::new(), 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            bytes += batch.get_array_memory_size();
            if bytes > self.memory.table_budget() {
                return Ok(None);
            }
            batches.push(batch);
        }
        let batch = deltalake::arrow::compute::concat_batches(&schema, &batches)
            .map_err(deltalake::datafusion::error::DataFusionError::from)?;
        Ok(Some(Arc::new(HeldRows::new(version, schema, batch))))
    }

    /// The table stored under `id` as it was at a version of its past: the version asked
    /// for, or the last one committed at or before the timestamp asked for.
    pub(crate) async fn open_as_of(
        &self,
        id: &str,
        as_of: &AsOf,
    ) -> Result<DeltaTable, EngineError> {
        let builder = deltalake::DeltaTableBuilder::from_url(self.location(id)?)?;
        let none =
            |detail: String| EngineError::Analysis(format!("The table has no {as_of}: {detail}"));
        match as_of {
            AsOf::Version(version) => {
                // A version after the latest is the statement's mistake; a store that does not
                // answer is not.
                let latest = self.open(id).await?.version().unwrap_or(0);
                if *version > latest {
                    return Err(none(format!("its latest is version {latest}.")));
                }
                Ok(builder.with_version(*version).load().await?)
            }
            AsOf::Timestamp(text) => {
                let nanos =
                    deltalake::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(text)
                        .map_err(|_| {
                            EngineError::Analysis(format!("'{text}' is not a timestamp."))
                        })?;
                let at = deltalake::arrow::temporal_conversions::timestamp_ns_to_datetime(nanos)
                    .ok_or_else(|| EngineError::Analysis(format!("'{text}' is out of range.")))?;
                let table = builder.with_timestamp(at.and_utc()).load().await?;
                // Delta's search settles on the first version when the timestamp is earlier
                // still; then the table had no version at that time.
                let first =
                    table.version().and_then(|v| table.snapshot().ok()?.version_timestamp(v));
                if first.is_some_and(|committed| committed > nanos.div_euclid(1_000_000)) {
                    return Err(none("it was made after that.".into()));
                }
                Ok(table)
            }
        }
    }

    /// The table stored under `id`, its log not read.
    pub(crate) fn unopened(&self, id: &str) -> Result<DeltaTable, EngineError> {
        Ok(deltalake::DeltaTableBuilder::from_url(self.location(id)?)?.build()?)
    }

    pub(crate) async fn open(&self, id: &str) -> Result<DeltaTable, EngineError> {
        let cached = self.tables.lock().expect("lock").get(id).cloned();
        let mut table = match cached {
            Some(table) => {
                if !self.committed_since(id, &table).await? {
                    return Ok(table);
                }
                table
            }
            None => self.unopened(id)?,
        };
        // Reads what was committed since the cached state (everything, the first time).
        table.load().await?;
        let mut tables = self.tables.lock().expect("lock");
        if tables.len() >= CACHED_TABLES {
            tables.clear();
        }
        tables.insert(id.to_owned(), table.clone());
        Ok(table)
    }

    /// Whether a version after `table`'s may have been committed (by this node or another).
    /// Delta's versions follow one another, each committed by creating its own log file, so
    /// the next version's file not being there says the table is current. In a directory that
    /// is one `stat`, where bringing the table up to date lists its log on the blocking pool;
    /// in a bucket, one HEAD request where the update would list the log.
    async fn committed_since(&self, id: &str, table: &DeltaTable) -> Result<bool, EngineError> {
        let Some(version) = table.version() else {
            return Ok(true);
        };
        let next = format!("_delta_log/{:020}.json", version + 1);
        // An error other than "not found" (permissions, a flaky mount or network) is left to
        // the load.
        Ok(match self.location(id)?.to_file_path() {
            Ok(dir) => !matches!(
                std::fs::symlink_metadata(dir.join(&next)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound
            ),
            Err(()) => !matches!(
                table.object_store().head(&object_store::path::Path::from(next)).await,
                Err(object_store::Error::NotFound { .. })
            ),
        })
    }

    fn session(&self, catalog: &str, schema: &str, user: &str) -> SessionContext {
        // The state with its function registry is built once; a statement gets a copy with its
        // own defaults.
        let mut state = self.base.get_or_init(|| self.base_state()).clone();
        // A catalog list of its own: the tables one statement binds exist for it alone.
        state.register_catalog_list(Arc::new(
            deltalake::datafusion::catalog::MemoryCatalogProviderList::new(),
        ));
        let options = state.config_mut().options_mut();
        options.catalog.default_catalog = catalog.to_owned();
        options.catalog.default_schema = schema.to_owned();
        let ctx = SessionContext::new_with_state(state);
        // Databricks' session functions, constant for the statement.
        for (names, value) in [
            (&["current_user", "session_user", "user"][..], user),
            (&["current_catalog"][..], catalog),
            (&["current_schema", "current_database"][..], schema),
        ] {
            for name in names {
                ctx.register_udf(constant_udf(name, value));
            }
        }
        ctx
    }

    fn base_state(&self) -> SessionState {
        let mut config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false)
            .with_target_partitions(self.limits.target_partitions);
        let options = config.options_mut();
        options.sql_parser.dialect = deltalake::datafusion::config::Dialect::Databricks;
        // A warehouse's session time zone is UTC: `now()` and `current_timestamp()` are
        // TIMESTAMPs (instants, as Databricks' are), not TIMESTAMP_NTZs.
        options.execution.time_zone = Some("UTC".into());
        // Delta's planner too: UPDATE, DELETE and MERGE plan nodes of their own.
        let mut state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(self.runtime.clone())
            .with_query_planner(DeltaPlanner::new())
            .build();
        crate::bounded::bound_functions(&mut state)
            .expect("registering a function under its own name cannot fail");
        crate::spark::register(&mut state).expect("registering a function cannot fail");
        state
    }

    async fn collect(&self, frame: DataFrame) -> Result<Output, EngineError> {
        let schema: SchemaRef = Arc::new(Schema::new(frame.schema().fields().clone()));
        let mut stream = frame.execute_stream().await?;
        let mut batches = Vec::new();
        let (mut rows, mut bytes) = (0usize, 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows();
            bytes += result_bytes(&batch);
            if rows > self.limits.max_result_rows {
                let rows = self.limits.max_result_rows;
                return Err(EngineError::ResultTooLarge(format!("{rows} rows")));
            }
            if bytes > self.limits.max_result_bytes {
                let mib = self.limits.max_result_bytes >> 20;
                return Err(EngineError::ResultTooLarge(format!("{mib} MiB")));
            }
            batches.push(batch);
        }
        Ok(Output::new(schema, batches))
    }
}

/// The bytes of a result's batch: of the rows it holds. A batch cut from a larger one (a sort's
/// or a limit's output) shares that one's buffers, and counting them whole would count them
/// once for every cut.
fn result_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|column| {
            column
                .to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| column.get_array_memory_size())
        })
        .sum()
}

async fn row_count(ctx: &SessionContext, table: &DeltaTable) -> Result<usize, EngineError> {
    let frame = ctx.read_table(table.table_provider().await?)?;
    Ok(frame.count().await?)
}

/// Registers `provider` under its three-part name, making the catalog and schema as needed.
fn register(
    ctx: &SessionContext,
    name: &QualifiedName,
    provider: Arc<dyn deltalake::datafusion::catalog::TableProvider>,
) -> Result<(), EngineError> {
    let catalog = match ctx.catalog(&name.catalog) {
        Some(c) => c,
        None => {
            let c: Arc<dyn CatalogProvider> = Arc::new(MemoryCatalogProvider::new());
            ctx.register_catalog(name.catalog.as_str(), c.clone());
            c
        }
    };
    let schema = match catalog.schema(&name.schema) {
        Some(s) => s,
        None => {
            let s: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
            catalog.register_schema(&name.schema, s.clone())?;
            s
        }
    };
    schema.register_table(name.table.clone(), provider)?;
    Ok(())
}

fn take(
    tables: &mut HashMap<QualifiedName, DeltaTable>,
    name: &QualifiedName,
) -> Result<DeltaTable, EngineError> {
    tables.remove(name).ok_or_else(|| EngineError::TableNotFound(name.to_string()))
}

fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

fn dml_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(true).with_allow_statements(false)
}

async fn write_rows(
    table: DeltaTable,
    rows: DataFrame,
    state: &SessionState,
    mode: SaveMode,
    user: &str,
) -> Result<(DeltaTable, usize), EngineError> {
    // The rows go to the file in the order the query made them: partition after partition
    // (not interleaved as they finish, as `collect` would), and written from one stream (the
    // writer interleaves its input's partitions as they come). Neighbouring rows then share
    // pages, so a page's statistics span a narrow range and a point lookup reads a few pages
    // instead of most of the column.
    let batches: Vec<RecordBatch> =
        rows.collect_partitioned().await?.into_iter().flatten().collect();
    let n = batches.iter().map(RecordBatch::num_rows).sum();
    let mut one_stream = state.clone();
    one_stream.config_mut().options_mut().execution.target_partitions = 1;
    let table = table
        .write(batches)
        .with_session_state(Arc::new(one_stream))
        .with_writer_properties(writer_properties())
        .with_commit_properties(made_by(user))
        .with_save_mode(mode)
        .await?;
    Ok((table, n))
}

/// A commit that records who made it (`userName`, as Databricks' commits do), for
/// `DESCRIBE HISTORY`.
pub(crate) fn made_by(user: &str) -> deltalake::kernel::transaction::CommitProperties {
    deltalake::kernel::transaction::CommitProperties::default()
        .with_metadata([("userName".to_owned(), serde_json::Value::from(user))])
}

/// How a table's Parquet files are written, for point lookups as much as for scans: Snappy,
/// as Delta's default; pages of at most [`PAGE_ROWS`] rows (parquet's default is 20,000), so a
/// lookup the page index narrows to one page decodes a few thousand values per column; and
/// dictionaries of at most 64 KiB, so a column of mostly distinct values (an id) falls back to
/// plain encoding early instead of carrying a 1 MiB dictionary page that any read of any of its
/// pages must decompress and decode whole. Scans over whole columns cost the same.
pub(crate) fn writer_properties() -> deltalake::parquet::file::properties::WriterProperties {
    deltalake::parquet::file::properties::WriterProperties::builder()
        .set_compression(deltalake::parquet::basic::Compression::SNAPPY)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_dictionary_page_size_limit(64 * 1024)
        .build()
}

/// The most rows in one page of a column.
const PAGE_ROWS: usize = 4096;

/// A MERGE clause's update: `pairs` (column, value), where `predicate` holds if given.
fn updating(
    predicate: Option<String>,
    pairs: Vec<(String, String)>,
) -> impl FnOnce(MergeUpdate) -> MergeUpdate {
    move |mut b| {
        if let Some(p) = predicate {
            b = b.predicate(p);
        }
        for (column, value) in pairs {
            b = b.update(column, value);
        }
        b
    }
}

/// A MERGE clause's delete, where `predicate` holds if given.
fn deleting(predicate: Option<String>) -> impl FnOnce(MergeDelete) -> MergeDelete {
    move |b| match predicate {
        Some(p) => b.predicate(p),
        None => b,
    }
}

fn column_name(target: &AssignmentTarget) -> Result<String, EngineError> {
    match target {
        AssignmentTarget::ColumnName(name) => match name.0.last().and_then(|p| p.as_ident()) {
            Some(ident) => Ok(ident.value.to_lowercase()),
            None => Err(EngineError::Unsupported(format!("the assignment to {name}"))),
        },
        AssignmentTarget::Tuple(_) => Err(EngineError::Unsupported("assigning a tuple".into())),
    }
}

/// `SET a = s.a, b = …` as (column, expression) pairs; `SET *` sets every target column from
/// the source column of the same name.
fn assignments(
    list: &[Assignment],
    target_columns: &[String],
    source_alias: &str,
) -> Result<Vec<(String, String)>, EngineError> {
    let star = matches!(list, [only] if column_name(&only.target).is_ok_and(|c| c == ALL_COLUMNS));
    if star {
        return Ok(target_columns
            .iter()
            .map(|c| (c.clone(), format!("{source_alias}.{c}")))
            .collect());
    }
    list.iter().map(|a| Ok((column_name(&a.target)?, a.value.to_string()))).collect()
}

/// `expr` as text, with each bare name of one of `columns` read from `alias`. In a MERGE's
/// `WHEN NOT MATCHED` clause only the source's row exists (in `WHEN NOT MATCHED BY SOURCE`, only
/// the target's), so Spark reads a bare name there from that side; delta-rs, which sees both
/// sides' columns, would find a name the two share ambiguous.
fn read_from(expr: &ast::Expr, alias: &str, columns: &[String]) -> String {
    let mut expr = expr.clone();
    let _ = visit_expressions_mut(&mut expr, |e| {
        if let ast::Expr::Identifier(name) = e
            && columns.iter().any(|c| c.eq_ignore_ascii_case(&name.value))
        {
            *e = ast::Expr::CompoundIdentifier(vec![ast::Ident::new(alias), name.clone()]);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    expr.to_string()
}

/// A function of no arguments that returns `value`.
fn constant_udf(name: &str, value: &str) -> deltalake::datafusion::logical_expr::ScalarUDF {
    use deltalake::datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    use deltalake::datafusion::scalar::ScalarValue;
    let value = value.to_owned();
    create_udf(
        name,
        Vec::new(),
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(value.clone()))))),
    )
}

/// `INSERT … BY NAME`: the insert's column list becomes the names of its query's columns, so
/// that each goes to the table's column of that name (in any case, as Spark matches them).
async fn name_inserted_columns(
    state: &SessionState,
    parsed: &mut DfStatement,
) -> Result<(), EngineError> {
    let DfStatement::Statement(s) = parsed else {
        return Ok(());
    };
    let SqlStatement::Insert(insert) = s.as_mut() else {
        return Ok(());
    };
    let Some(query) = insert.source.clone() else {
        return Ok(());
    };
    let source = plan(state, DfStatement::Statement(Box::new(SqlStatement::Query(query)))).await?;
    insert.columns = source
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let name = f.name().to_lowercase();
            ast::ObjectName::from(vec![if name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                ast::Ident::new(name)
            } else {
                ast::Ident::with_quote('`', f.name())
            }])
        })
        .collect();
    Ok(())
}

/// Plans `parsed`, once more without the sorts of its nested queries ([`drop_nested_sorts`])
/// if DataFusion finds a nested query's columns ambiguous.
async fn plan(state: &SessionState, parsed: DfStatement) -> Result<LogicalPlan, EngineError> {
    let parsed = crate::spark_syntax::rewrite(parsed);
    let planned = if !has_nested_sorts(&parsed) {
        state.statement_to_plan(parsed).await?
    } else {
        let mut unsorted = parsed.clone();
        match state.statement_to_plan(parsed).await {
            Err(e) if e.to_string().contains("would be ambiguous") => {
                drop_nested_sorts(&mut unsorted);
                state.statement_to_plan(unsorted).await?
            }
            planned => planned?,
        }
    };
    // Analyzed now, so that the plan's types are those it runs with: Spark's operators
    // (`crate::spark_operators`) change them (`7 / 2` is a DOUBLE), and a result's, a view's or
    // a new table's columns are read off this plan.
    Ok(state.analyzer().execute_and_check(planned, state.config_options(), |_, _| {})?)
}
