//! Point lookups from memory: `SELECT <columns> FROM <table> WHERE <column> = <literal>`, the
//! statement a serving application sends most, answered from the table's rows held in memory
//! with an index on the column, instead of planning a query and decoding Parquet pages.
//!
//! A table's rows are loaded after [`LOAD_AFTER`] point lookups read the same version of it (a
//! table written between its reads is never loaded), within a budget of bytes shared by all
//! tables; the table used longest ago goes first. The rows held are the ones DataFusion's scan
//! of the table gives, with its schema, so an answer from memory is the answer the query would
//! give. Every lookup first brings the table up to its latest version, as any statement does,
//! and rows of an older version are never used. Any other statement — another shape, a column
//! type the index does not cover, a literal that would need a cast, a table larger than its
//! share of the budget — is planned and run by DataFusion as before.

use crate::EngineError;
use crate::run::Output;
use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use deltalake::arrow::datatypes::{
    DataType, Int8Type, Int16Type, Int32Type, Int64Type, Schema, SchemaRef, UInt8Type, UInt16Type,
    UInt32Type,
};
use deltalake::datafusion::sql::parser::Statement as DfStatement;
use deltalake::datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Ident, SelectItem, SetExpr, Statement as SqlStatement, TableFactor,
    UnaryOperator, Value,
};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// How many point lookups read one version of a table before its rows are loaded into memory.
pub(crate) const LOAD_AFTER: u32 = 2;
/// How many tables' read counts are kept; past it, the counts (not the rows held) start over.
const COUNTED_TABLES: usize = 4096;

/// `SELECT * | <column>, … FROM <table> WHERE <column> = <literal>`, and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PointQuery {
    /// The columns asked for, or `None` for `*`.
    columns: Option<Vec<Ident>>,
    /// The column compared.
    column: Ident,
    value: Literal,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Integer(i64),
    Text(String),
}

impl PointQuery {
    /// The point lookup `statement` is, if it is one.
    pub(crate) fn of(statement: &DfStatement) -> Option<PointQuery> {
        let DfStatement::Statement(statement) = statement else {
            return None;
        };
        let SqlStatement::Query(query) = statement.as_ref() else {
            return None;
        };
        let SetExpr::Select(select) = query.body.as_ref() else {
            return None;
        };
        let [from] = select.from.as_slice() else {
            return None;
        };
        let TableFactor::Table { name, .. } = &from.relation else {
            return None;
        };
        let columns = match select.projection.as_slice() {
            [SelectItem::Wildcard(_)] => None,
            items => Some(
                items
                    .iter()
                    .map(|item| match item {
                        SelectItem::UnnamedExpr(Expr::Identifier(column)) => Some(column.clone()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?,
            ),
        };
        let Some(Expr::BinaryOp { left, op: BinaryOperator::Eq, right }) = &select.selection else {
            return None;
        };
        let Expr::Identifier(column) = left.as_ref() else {
            return None;
        };
        let value = literal(right)?;
        // Whatever else the statement holds (a join, an alias, DISTINCT, GROUP BY, ORDER BY,
        // LIMIT, a CTE, a hint) shows in its text, which then is not this one.
        let projection = match &columns {
            None => "*".to_owned(),
            Some(columns) => columns.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        };
        let plain = format!("SELECT {projection} FROM {name} WHERE {column} = {right}");
        (statement.to_string() == plain).then(|| PointQuery {
            columns,
            column: column.clone(),
            value,
        })
    }
}

/// A literal the index compares without a cast: an integer that fits 64 bits (not `5L`, not
/// `5.0`), or a single-quoted string.
fn literal(expr: &Expr) -> Option<Literal> {
    let number = |expr: &Expr, sign: &str| match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(digits, false) => format!("{sign}{digits}").parse().ok(),
            _ => None,
        },
        _ => None,
    };
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(..) => number(expr, "").map(Literal::Integer),
            Value::SingleQuotedString(text) => Some(Literal::Text(text.clone())),
            _ => None,
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => number(expr, "-").map(Literal::Integer),
        _ => None,
    }
}

/// A table's rows at one version, with the indexes built on them so far.
pub(crate) struct HeldRows {
    version: u64,
    schema: SchemaRef,
    batch: RecordBatch,
    bytes: usize,
    /// One per column, built on the first lookup by that column; `None` for a column of a
    /// type the index does not cover.
    indexes: Vec<OnceLock<Option<Index>>>,
    last_used: AtomicU64,
}

impl HeldRows {
    pub(crate) fn new(version: u64, schema: SchemaRef, batch: RecordBatch) -> HeldRows {
        // Every column an index could cover counts as indexed from the start: 16 bytes a row.
        let indexable = batch.columns().iter().filter(|c| Index::covers(c.data_type())).count();
        HeldRows {
            version,
            bytes: batch.get_array_memory_size()
                + indexable * batch.num_rows() * std::mem::size_of::<(i64, u32)>(),
            indexes: (0..schema.fields().len()).map(|_| OnceLock::new()).collect(),
            schema,
            batch,
            last_used: AtomicU64::new(0),
        }
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The answer to `query`, or `None` when it is not one these rows can give exactly (the
    /// query then runs as any other).
    pub(crate) fn answer(
        &self,
        query: &PointQuery,
        max_rows: usize,
    ) -> Option<Result<Output, EngineError>> {
        let column = self.column(&query.column)?;
        let projection: Vec<usize> = match &query.columns {
            None => (0..self.schema.fields().len()).collect(),
            Some(columns) => columns.iter().map(|c| self.column(c)).collect::<Option<_>>()?,
        };
        // The same column twice: DataFusion refuses duplicate names; let it say so.
        let mut distinct = projection.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != projection.len() {
            return None;
        }
        let values = self.batch.column(column);
        let index = self.indexes[column].get_or_init(|| Index::build(values));
        let rows = index.as_ref()?.find(values, &query.value)?;
        if rows.len() > max_rows {
            return Some(Err(EngineError::ResultTooLarge(format!("{max_rows} rows"))));
        }
        let schema = Arc::new(Schema::new(
            projection.iter().map(|&i| self.schema.field(i).clone()).collect::<Vec<_>>(),
        ));
        if rows.is_empty() {
            return Some(Ok(Output::new(schema, Vec::new())));
        }
        let rows = UInt32Array::from(rows);
        let taken = projection
            .iter()
            .map(|&i| deltalake::arrow::compute::take(self.batch.column(i), &rows, None))
            .collect::<Result<Vec<_>, _>>();
        Some(
            taken
                .and_then(|columns| RecordBatch::try_new(schema.clone(), columns))
                .map(|batch| Output::new(schema, vec![batch]))
                .map_err(|e| EngineError::Storage(e.to_string())),
        )
    }

    /// The position of the column `ident` names, as DataFusion resolves it: an unquoted name in
    /// lower case, a quoted one as written, matching exactly one column.
    fn column(&self, ident: &Ident) -> Option<usize> {
        let name = match ident.quote_style {
            None => ident.value.to_lowercase(),
            Some(_) => ident.value.clone(),
        };
        let mut found = self
            .schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| *f.name() == name)
            .map(|(i, _)| i);
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }
}

/// A column's values as sorted (key, row) pairs: an integer column keyed by value, a string
/// column by a hash of its bytes (with a per-process random key, so nobody can make many
/// values collide), checked against the value itself.
pub(crate) struct Index {
    keys: Vec<(i64, u32)>,
    kind: IndexKind,
}

enum IndexKind {
    Integers,
    Text(RandomState),
}

impl Index {
    fn covers(data_type: &DataType) -> bool {
        matches!(
            data_type,
            DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
        )
    }

    fn build(values: &ArrayRef) -> Option<Index> {
        let rows = u32::try_from(values.len()).ok()?;
        let mut keys = Vec::with_capacity(values.len() - values.null_count());
        macro_rules! integers {
            ($t:ty) => {{
                let array = values.as_primitive::<$t>();
                for row in 0..rows {
                    if array.is_valid(row as usize) {
                        keys.push((i64::from(array.value(row as usize)), row));
                    }
                }
                IndexKind::Integers
            }};
        }
        macro_rules! text {
            ($array:expr) => {{
                let array = $array;
                let state = RandomState::new();
                for row in 0..rows {
                    if array.is_valid(row as usize) {
                        let key = state.hash_one(array.value(row as usize).as_bytes());
                        keys.push((key as i64, row));
                    }
                }
                IndexKind::Text(state)
            }};
        }
        let kind = match values.data_type() {
            DataType::Int8 => integers!(Int8Type),
            DataType::Int16 => integers!(Int16Type),
            DataType::Int32 => integers!(Int32Type),
            DataType::Int64 => integers!(Int64Type),
            DataType::UInt8 => integers!(UInt8Type),
            DataType::UInt16 => integers!(UInt16Type),
            DataType::UInt32 => integers!(UInt32Type),
            DataType::Utf8 => text!(values.as_string::<i32>()),
            DataType::LargeUtf8 => text!(values.as_string::<i64>()),
            DataType::Utf8View => text!(values.as_string_view()),
            _ => return None,
        };
        // Sorted by key, then row: the rows of one key come out in the table's order.
        keys.sort_unstable();
        Some(Index { keys, kind })
    }

    /// The rows whose value equals `literal`, in the table's order; `None` when comparing would
    /// need a cast (a string against an integer column, or the other way round).
    fn find(&self, values: &ArrayRef, literal: &Literal) -> Option<Vec<u32>> {
        let key = match (&self.kind, literal) {
            (IndexKind::Integers, Literal::Integer(n)) => *n,
            (IndexKind::Text(state), Literal::Text(text)) => state.hash_one(text.as_bytes()) as i64,
            _ => return None,
        };
        let start = self.keys.partition_point(|(k, _)| *k < key);
        let candidates =
            self.keys[start..].iter().take_while(|(k, _)| *k == key).map(|(_, row)| *row);
        let Literal::Text(text) = literal else {
            return Some(candidates.collect());
        };
        let equal = |row: u32| -> bool {
            let row = row as usize;
            match values.data_type() {
                DataType::Utf8 => values.as_string::<i32>().value(row) == text,
                DataType::LargeUtf8 => values.as_string::<i64>().value(row) == text,
                DataType::Utf8View => values.as_string_view().value(row) == text,
                _ => false,
            }
        };
        Some(candidates.filter(|&row| equal(row)).collect())
    }
}

/// What the engine should do with a point lookup on a table at a version.
pub(crate) enum Decision {
    /// Answer from these rows.
    Answer(Arc<HeldRows>),
    /// Load the table's rows, then answer from them; the ticket hands them over.
    Load(Ticket),
    /// Plan and run it as any query.
    Plan,
}

/// The rows held in memory, by table id, within a budget of bytes.
pub(crate) struct TableMemory {
    budget: usize,
    state: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    slots: HashMap<String, Slot>,
    used: usize,
    clock: u64,
}

enum Slot {
    /// Point lookups seen on this version.
    Counting {
        version: u64,
        reads: u32,
    },
    /// One statement is loading this version.
    Loading {
        version: u64,
    },
    /// This version is not held (too large, or loading it failed).
    NotHeld {
        version: u64,
    },
    Held(Arc<HeldRows>),
}

impl Slot {
    fn version(&self) -> u64 {
        match self {
            Slot::Counting { version, .. }
            | Slot::Loading { version }
            | Slot::NotHeld { version } => *version,
            Slot::Held(rows) => rows.version,
        }
    }
}

impl TableMemory {
    pub(crate) fn new(budget: usize) -> TableMemory {
        TableMemory { budget, state: Mutex::new(Held::default()) }
    }

    /// The most one table may take: half the budget, so that two tables in use take turns
    /// less.
    pub(crate) fn table_budget(&self) -> usize {
        self.budget / 2
    }

    /// Notes a point lookup on table `id` at `version`, and says how to answer it.
    pub(crate) fn consult(self: &Arc<Self>, id: &str, version: u64) -> Decision {
        if self.budget == 0 {
            return Decision::Plan;
        }
        let mut held = self.state.lock().expect("lock");
        held.clock += 1;
        let now = held.clock;
        let current = held.slots.get_mut(id).filter(|s| s.version() == version);
        match current {
            Some(Slot::Held(rows)) => {
                rows.last_used.store(now, Ordering::Relaxed);
                return Decision::Answer(rows.clone());
            }
            Some(Slot::Counting { reads, .. }) => {
                *reads += 1;
                if *reads < LOAD_AFTER {
                    return Decision::Plan;
                }
            }
            Some(Slot::Loading { .. } | Slot::NotHeld { .. }) => return Decision::Plan,
            None => {
                // Unknown, or another version: what was held of it is stale.
                if let Some(Slot::Held(old)) = held.slots.remove(id) {
                    held.used -= old.bytes;
                }
                if held.slots.len() >= COUNTED_TABLES {
                    held.slots.retain(|_, s| matches!(s, Slot::Held(_) | Slot::Loading { .. }));
                }
                held.slots.insert(id.to_owned(), Slot::Counting { version, reads: 1 });
                if LOAD_AFTER > 1 {
                    return Decision::Plan;
                }
            }
        }
        held.slots.insert(id.to_owned(), Slot::Loading { version });
        Decision::Load(Ticket { memory: self.clone(), id: id.to_owned(), version, settled: false })
    }

    /// Forgets table `id` (it was dropped).
    pub(crate) fn forget(&self, id: &str) {
        let mut held = self.state.lock().expect("lock");
        if let Some(Slot::Held(old)) = held.slots.remove(id) {
            held.used -= old.bytes;
        }
    }

    /// Bytes held.
    pub(crate) fn used(&self) -> usize {
        self.state.lock().expect("lock").used
    }

    fn settle(&self, id: &str, version: u64, rows: Option<Arc<HeldRows>>) {
        let mut held = self.state.lock().expect("lock");
        // Still this version's turn to load? A newer version may have replaced it meanwhile.
        if !matches!(held.slots.get(id), Some(Slot::Loading { version: v }) if *v == version) {
            return;
        }
        let Some(rows) = rows.filter(|r| r.bytes <= self.table_budget()) else {
            held.slots.insert(id.to_owned(), Slot::NotHeld { version });
            return;
        };
        // Room is made by letting go of the tables used longest ago.
        while held.used + rows.bytes > self.budget {
            let oldest = held
                .slots
                .iter()
                .filter_map(|(id, s)| match s {
                    Slot::Held(r) => Some((r.last_used.load(Ordering::Relaxed), id.clone())),
                    _ => None,
                })
                .min();
            let Some((_, oldest)) = oldest else { break };
            if let Some(Slot::Held(old)) = held.slots.remove(&oldest) {
                held.used -= old.bytes;
            }
        }
        held.clock += 1;
        rows.last_used.store(held.clock, Ordering::Relaxed);
        held.used += rows.bytes;
        held.slots.insert(id.to_owned(), Slot::Held(rows));
    }
}

/// The right to load one version of a table. Dropped without being used (the statement failed
/// or was cancelled), it gives the turn back.
pub(crate) struct Ticket {
    memory: Arc<TableMemory>,
    id: String,
    version: u64,
    settled: bool,
}

impl Ticket {
    /// Hands over the rows loaded, or `None` when the table is too large to hold.
    pub(crate) fn settle(mut self, rows: Option<Arc<HeldRows>>) {
        self.settled = true;
        self.memory.settle(&self.id, self.version, rows);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut held = self.memory.state.lock().expect("lock");
        if matches!(held.slots.get(&self.id), Some(Slot::Loading { version }) if *version == self.version)
        {
            held.slots.insert(self.id.clone(), Slot::Counting { version: self.version, reads: 0 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Statement;
    use deltalake::arrow::array::{Float64Array, Int32Array, Int64Array, StringArray};
    use deltalake::arrow::datatypes::Field;

    /// The point lookup `sql` is; `None` too when the dialect does not parse it.
    fn point(sql: &str) -> Option<PointQuery> {
        PointQuery::of(&Statement::parse(sql).ok()?.parsed)
    }

    #[test]
    fn only_the_plain_shape_is_a_point_lookup() {
        for sql in [
            "SELECT * FROM t WHERE id = 5",
            "select * from T where ID = -5",
            "SELECT id, v FROM s.t WHERE name = 'x'",
            "SELECT `Id` FROM c.s.t WHERE `Id` = 7",
        ] {
            assert!(point(sql).is_some(), "{sql}");
        }
        for sql in [
            "SELECT * FROM t WHERE id = 5 LIMIT 1",
            "SELECT * FROM t WHERE id = 5 ORDER BY v",
            "SELECT DISTINCT * FROM t WHERE id = 5",
            "SELECT * FROM t AS x WHERE id = 5",
            "SELECT * FROM t, u WHERE id = 5",
            "SELECT * FROM t JOIN u ON t.id = u.id WHERE id = 5",
            "SELECT * FROM t WHERE t.id = 5",
            "SELECT * FROM t WHERE id = 5 AND v = 1",
            "SELECT * FROM t WHERE id = 5.0",
            "SELECT * FROM t WHERE id = 5L",
            "SELECT * FROM t WHERE id = 99999999999999999999",
            "SELECT * FROM t WHERE id = \"5\"",
            "SELECT * FROM t WHERE 5 = id",
            "SELECT * FROM t WHERE id <> 5",
            "SELECT * FROM t WHERE id = NULL",
            "SELECT id + 1 FROM t WHERE id = 5",
            "SELECT id AS x FROM t WHERE id = 5",
            "SELECT * EXCEPT (v) FROM t WHERE id = 5",
            "SELECT * FROM t WHERE id = 5 GROUP BY id",
            "WITH u AS (SELECT 1) SELECT * FROM t WHERE id = 5",
            "SELECT * FROM t WHERE id = 5 UNION ALL SELECT * FROM t WHERE id = 5",
            "SELECT * FROM range(10) WHERE id = 5",
            "SELECT * FROM (SELECT * FROM t) WHERE id = 5",
        ] {
            assert_eq!(point(sql), None, "{sql}");
        }
    }

    fn rows() -> HeldRows {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("small", DataType::Int32, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("v", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(3), None, Some(1), Some(3)])),
                Arc::new(Int32Array::from(vec![7, 8, 9, 7])),
                Arc::new(StringArray::from(vec![Some("a"), Some("b"), None, Some("a")])),
                Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5, 3.5])),
            ],
        )
        .expect("batch");
        HeldRows::new(1, schema, batch)
    }

    fn answer(sql: &str) -> Option<Vec<String>> {
        let query = point(sql).expect("a point lookup");
        let output = rows().answer(&query, 100)?.expect("answers");
        let v = |b: &RecordBatch| -> Vec<String> {
            (0..b.num_rows())
                .map(|r| {
                    b.columns()
                        .iter()
                        .map(|c| {
                            deltalake::arrow::util::display::array_value_to_string(c, r)
                                .expect("shows")
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect()
        };
        Some(output.batches.iter().flat_map(v).collect())
    }

    #[test]
    fn lookups_give_every_matching_row_in_order_and_no_other() {
        assert_eq!(
            answer("SELECT * FROM t WHERE id = 3"),
            Some(vec!["3|7|a|0.5".into(), "3|7|a|3.5".into()])
        );
        assert_eq!(answer("SELECT v, id FROM t WHERE id = 1"), Some(vec!["2.5|1".into()]));
        assert_eq!(answer("SELECT v FROM t WHERE id = 2"), Some(vec![]));
        assert_eq!(answer("SELECT v FROM t WHERE small = 8"), Some(vec!["1.5".into()]));
        assert_eq!(
            answer("SELECT v FROM t WHERE name = 'a'"),
            Some(vec!["0.5".into(), "3.5".into()])
        );
        assert_eq!(answer("SELECT v FROM t WHERE name = 'c'"), Some(vec![]));
        assert_eq!(answer("SELECT v FROM t WHERE small = 4294967303"), Some(vec![]));
    }

    #[test]
    fn what_needs_a_cast_or_another_column_is_left_to_the_planner() {
        for sql in [
            "SELECT * FROM t WHERE name = 3",
            "SELECT * FROM t WHERE id = '3'",
            "SELECT * FROM t WHERE v = 1",
            "SELECT * FROM t WHERE nope = 1",
            "SELECT nope FROM t WHERE id = 1",
            "SELECT id, id FROM t WHERE id = 1",
            "SELECT * FROM t WHERE `ID` = 1",
        ] {
            assert_eq!(answer(sql), None, "{sql}");
        }
    }

    #[test]
    fn more_matches_than_a_result_may_hold_fail() {
        let query = point("SELECT * FROM t WHERE id = 3").expect("a point lookup");
        assert!(matches!(
            rows().answer(&query, 1),
            Some(Err(EngineError::ResultTooLarge(limit))) if limit == "1 rows"
        ));
    }

    #[test]
    fn a_version_is_loaded_after_repeated_reads_and_dropped_when_the_table_moves_on() {
        let memory = Arc::new(TableMemory::new(1 << 20));
        let held = |v| Some(Arc::new(HeldRows { version: v, ..rows() }));
        assert!(matches!(memory.consult("a", 1), Decision::Plan));
        let Decision::Load(ticket) = memory.consult("a", 1) else {
            panic!("the second read loads")
        };
        // Meanwhile the others plan.
        assert!(matches!(memory.consult("a", 1), Decision::Plan));
        ticket.settle(held(1));
        assert!(matches!(memory.consult("a", 1), Decision::Answer(_)));
        assert!(memory.used() > 0);
        // A write: version 2 is counted afresh and version 1's rows go.
        assert!(matches!(memory.consult("a", 2), Decision::Plan));
        assert_eq!(memory.used(), 0);
        // A load abandoned gives the turn back.
        let Decision::Load(ticket) = memory.consult("a", 2) else {
            panic!("the second read loads")
        };
        drop(ticket);
        assert!(matches!(memory.consult("a", 2), Decision::Plan));
        assert!(matches!(memory.consult("a", 2), Decision::Load(_)));
    }

    #[test]
    fn tables_over_the_budget_are_not_held_and_the_oldest_goes_first() {
        let one = rows().bytes();
        let memory = Arc::new(TableMemory::new(one * 2));
        let load = |id: &str| {
            memory.consult(id, 1);
            let Decision::Load(ticket) = memory.consult(id, 1) else { panic!("loads") };
            ticket.settle(Some(Arc::new(rows())));
        };
        load("a");
        load("b");
        assert!(matches!(memory.consult("a", 1), Decision::Answer(_)));
        load("c");
        // b was used longest ago.
        assert!(matches!(memory.consult("b", 1), Decision::Plan));
        assert!(matches!(memory.consult("a", 1), Decision::Answer(_)));
        assert!(matches!(memory.consult("c", 1), Decision::Answer(_)));
        assert_eq!(memory.used(), one * 2);

        let small = Arc::new(TableMemory::new(one));
        small.consult("a", 1);
        let Decision::Load(ticket) = small.consult("a", 1) else { panic!("loads") };
        ticket.settle(Some(Arc::new(rows())));
        assert!(matches!(small.consult("a", 1), Decision::Plan), "over half the budget");
        assert_eq!(small.used(), 0);
    }
}
