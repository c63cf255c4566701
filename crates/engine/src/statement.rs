//! One statement, parsed with the Databricks dialect: what kind it is and which objects it
//! reads and writes, before anything runs.

use crate::EngineError;
use crate::names::QualifiedName;
use crate::types::{Column, arrow_type, databricks_type_name};
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::sql::parser::{DFParser, Statement as DfStatement};
use deltalake::datafusion::sql::resolve::resolve_table_references;
use deltalake::datafusion::sql::sqlparser::ast::{
    self, ObjectName, Query, SetExpr, Statement as SqlStatement, TableFactor, TableObject,
};
use std::collections::HashMap;
use std::ops::ControlFlow;

/// The longest statement text the engine parses.
pub const MAX_STATEMENT_BYTES: usize = 1 << 20;

/// A parsed statement.
#[derive(Debug, Clone)]
pub struct Statement {
    pub(crate) parsed: DfStatement,
    kind: Kind,
    /// A `CREATE TABLE|VIEW`'s clauses taken out of its text before parsing.
    clauses: TableClauses,
    /// The tables named in `FROM`s and `JOIN`s with the version each asks for, when any asks
    /// for one (empty otherwise): read once, at parse.
    past: Vec<(ObjectName, Option<AsOf>)>,
}

/// What a statement does, with the names it acts on as written (unresolved).
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `SELECT`, `VALUES`, `WITH … SELECT`.
    Query,
    /// `INSERT INTO|OVERWRITE t [BY NAME] …`.
    Insert {
        target: TableReference,
        overwrite: bool,
        /// `BY NAME`: the query's columns go to the table's columns of the same names.
        by_name: bool,
    },
    /// `UPDATE t SET … [WHERE …]`.
    Update { target: TableReference },
    /// `DELETE FROM t [WHERE …]`.
    Delete { target: TableReference },
    /// `MERGE INTO t USING s ON … WHEN …`.
    Merge { target: TableReference },
    /// `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] t (columns)`.
    CreateTable {
        name: TableReference,
        columns: Vec<Column>,
        or_replace: bool,
        if_not_exists: bool,
    },
    /// `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] t AS SELECT …`.
    CreateTableAs { name: TableReference, or_replace: bool, if_not_exists: bool },
    /// `CREATE [OR REPLACE] VIEW [IF NOT EXISTS] v AS SELECT …`; `text` is the query, to be
    /// kept as the view's definition.
    CreateView { name: TableReference, text: String, or_replace: bool, if_not_exists: bool },
    /// Anything else the parser understood (`GRANT`, `SHOW`, `USE`, `DROP`, `CREATE SCHEMA`, …):
    /// the caller handles it or refuses it.
    Other,
}

/// How a statement uses an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Reads rows (or the definition of a view).
    Read,
    /// Adds, changes or removes rows.
    Write,
    /// Creates the object (or replaces it).
    Create,
}

/// An object a statement names, resolved with the session's defaults, and how it is used.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectUse {
    pub name: QualifiedName,
    pub access: Access,
}

/// How deep expressions and subqueries may nest in a statement. Databricks' own limit is of
/// this order; generated SQL (a long `a OR b OR …`, a dbt model) stays far below it, and what is
/// below it is walked safely on any thread that runs statements.
pub const MAX_NESTING: usize = 1000;
/// A statement this short cannot nest much deeper than [`MAX_NESTING`]: each level takes a
/// character or two, and a tree this deep is walked safely on any thread.
const SHALLOW_STATEMENT_BYTES: usize = 2 * 1024;
/// The stack a longer statement is parsed on: enough to drop the deepest tree that
/// [`MAX_STATEMENT_BYTES`] can spell (a level for every two bytes). It is reserved, not used,
/// until a statement needs it.
const PARSE_STACK_BYTES: usize = 512 << 20;

/// Parses `sql` and refuses a tree nested deeper than [`MAX_NESTING`].
fn parse_bounded(sql: &str) -> Result<std::collections::VecDeque<DfStatement>, EngineError> {
    let statements = DFParser::parse_sql_with_dialect(sql, &crate::dialect::Databricks)
        .map_err(|e| EngineError::Syntax(e.to_string()))?;
    for statement in &statements {
        if nesting_exceeds(statement, MAX_NESTING) {
            return Err(EngineError::Unsupported(format!(
                "expressions or queries nested more than {MAX_NESTING} deep"
            )));
        }
    }
    Ok(statements)
}

/// Whether expressions and queries nest deeper than `limit` in `statement`. The walk stops at
/// the first level past the limit, so it never goes deeper than that itself.
fn nesting_exceeds(statement: &DfStatement, limit: usize) -> bool {
    use deltalake::datafusion::sql::sqlparser::ast::{Expr, Query, Visit, Visitor};

    struct Depth {
        now: usize,
        limit: usize,
    }
    impl Depth {
        fn enter(&mut self) -> ControlFlow<()> {
            self.now += 1;
            if self.now > self.limit { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        }
        fn leave(&mut self) -> ControlFlow<()> {
            self.now -= 1;
            ControlFlow::Continue(())
        }
    }
    impl Visitor for Depth {
        type Break = ();
        fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
            self.enter()
        }
        fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
            self.leave()
        }
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.enter()
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.leave()
        }
    }
    let mut depth = Depth { now: 0, limit };
    match statement {
        DfStatement::Statement(s) => s.visit(&mut depth).is_break(),
        // The engine's own statements (`EXPLAIN`, `COPY`, `CREATE EXTERNAL TABLE`) are refused
        // or hold a statement.
        DfStatement::Explain(explain) => nesting_exceeds(&explain.statement, limit),
        _ => false,
    }
}

impl Statement {
    /// Parse exactly one statement. Statements that would read or write a location of their own
    /// choosing are refused here, before any name is resolved.
    pub fn parse(sql: &str) -> Result<Statement, EngineError> {
        if sql.len() > MAX_STATEMENT_BYTES {
            return Err(EngineError::Unsupported(format!(
                "a statement longer than {MAX_STATEMENT_BYTES} bytes"
            )));
        }
        let sql = spell_out_merge_stars(sql)?;
        let (sql, clauses) = match take_table_clauses(&sql)? {
            (std::borrow::Cow::Borrowed(_), clauses) => (sql, clauses),
            (std::borrow::Cow::Owned(text), clauses) => (text.into(), clauses),
        };
        let (sql, inserts_by_name) = match take_by_name(&sql) {
            Some(text) => (text.into(), true),
            None => (sql, false),
        };
        let statements = if sql.len() <= SHALLOW_STATEMENT_BYTES {
            parse_bounded(&sql)?
        } else {
            // A longer text can nest deep enough that walking its tree (to check it, copy it or
            // drop it) overflows a worker's stack, which aborts the process: the tree is built,
            // checked and, if refused, dropped on a thread with room for the deepest 1 MiB holds.
            std::thread::scope(|scope| {
                std::thread::Builder::new()
                    .name("parse".into())
                    .stack_size(PARSE_STACK_BYTES)
                    .spawn_scoped(scope, || parse_bounded(&sql))
                    .map_err(|e| EngineError::Storage(format!("no thread to parse on: {e}")))?
                    .join()
                    .unwrap_or_else(|_| {
                        Err(EngineError::Syntax("the statement could not be parsed".into()))
                    })
            })?
        };
        let mut statements = statements;
        let parsed = match (statements.pop_front(), statements.is_empty()) {
            (Some(one), true) => one,
            (None, _) => return Err(EngineError::Syntax("the statement is empty".into())),
            (Some(_), false) => {
                return Err(EngineError::Unsupported(
                    "more than one statement in a request".into(),
                ));
            }
        };
        let mut parsed = parsed;
        lower_case_relations(&mut parsed);
        name_casts_in_queries(&mut parsed);
        let mut kind = classify(&parsed)?;
        if let Kind::Insert { by_name, .. } = &mut kind {
            *by_name = inserts_by_name;
        }
        let mut past = table_versions(&parsed)?;
        if past.iter().all(|(_, v)| v.is_none()) {
            past.clear();
        }
        Ok(Statement { parsed, kind, clauses, past })
    }

    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The SQL statement under DataFusion's wrapper: every kind the engine runs was classified
    /// from one.
    pub(crate) fn sql(&self) -> &SqlStatement {
        match &self.parsed {
            DfStatement::Statement(s) => s,
            _ => unreachable!("a statement the engine runs is a SQL statement"),
        }
    }

    /// What a `CREATE TABLE` or `CREATE VIEW` says of the object besides its columns: its
    /// comment and its properties (`TBLPROPERTIES`), for the catalog to keep. A property's
    /// value is its text (`true` and `'true'` alike).
    pub fn description(&self) -> (Option<String>, Vec<(String, String)>) {
        (self.clauses.comment.clone(), self.clauses.properties.clone())
    }

    /// Whether the statement reads any table at a version of its past.
    pub fn reads_the_past(&self) -> bool {
        !self.past.is_empty()
    }

    /// The tables the statement reads at a version of their past, resolved against
    /// `catalog`.`schema`. A table named at two versions (or at one and at its present) in one
    /// statement, or at a version where the statement writes it, is refused.
    pub fn versions(
        &self,
        catalog: &str,
        schema: &str,
    ) -> Result<HashMap<QualifiedName, AsOf>, EngineError> {
        let named = &self.past;
        let resolve = |name: &ObjectName| {
            reference(name).map(|r| QualifiedName::resolve(&r, catalog, schema))
        };
        let mut versions = HashMap::new();
        for (name, as_of) in named {
            let Some(as_of) = as_of else { continue };
            let resolved = resolve(name)?;
            let twice = named.iter().any(|(other, v)| {
                v.as_ref() != Some(as_of) && resolve(other).is_ok_and(|o| o == resolved)
            });
            if twice {
                return Err(EngineError::Unsupported(format!(
                    "reading {resolved} at two versions in one statement"
                )));
            }
            versions.insert(resolved, as_of.clone());
        }
        let written = match &self.kind {
            Kind::Insert { target, .. }
            | Kind::Update { target }
            | Kind::Delete { target }
            | Kind::Merge { target } => Some(QualifiedName::resolve(target, catalog, schema)),
            _ => None,
        };
        if let Some(target) = written
            && versions.contains_key(&target)
        {
            return Err(EngineError::Unsupported(format!(
                "writing {target} at a version of its past"
            )));
        }
        Ok(versions)
    }

    /// Every table or view the statement names, resolved against `catalog`.`schema`, with how it
    /// uses each. Names of common table expressions are not objects and are left out. An object
    /// that is both read and written appears twice.
    pub fn objects(&self, catalog: &str, schema: &str) -> Result<Vec<ObjectUse>, EngineError> {
        let resolve = |r: &TableReference| QualifiedName::resolve(r, catalog, schema);
        let reads_of = |statement: &DfStatement| -> Result<Vec<QualifiedName>, EngineError> {
            let (tables, _ctes) = resolve_table_references(statement, true)?;
            // Table functions (`generate_series(…)`, `UNNEST(…)`) are not objects; the engine
            // has only its built-in generators, so no function can name a file.
            let functions = table_functions(statement);
            Ok(tables
                .iter()
                .filter(|t| !matches!(t, TableReference::Bare { table } if functions.contains(table.as_ref())))
                .map(resolve)
                .collect())
        };
        let mut uses = Vec::new();
        let mut add = |name: QualifiedName, access| uses.push(ObjectUse { name, access });
        match &self.kind {
            Kind::Insert { target, .. } => {
                add(resolve(target), Access::Write);
                self.add_reads_of_source(&reads_of, &mut add)?;
            }
            Kind::CreateTableAs { name, .. } | Kind::CreateView { name, .. } => {
                add(resolve(name), Access::Create);
                self.add_reads_of_source(&reads_of, &mut add)?;
            }
            Kind::CreateTable { name, .. } => add(resolve(name), Access::Create),
            Kind::Update { target } | Kind::Delete { target } | Kind::Merge { target } => {
                let target = resolve(target);
                for read in reads_of(&self.parsed)? {
                    if read != target {
                        add(read, Access::Read);
                    }
                }
                if let Some(source) = self.merge_source_table(catalog, schema)
                    && source == target
                {
                    add(source, Access::Read);
                }
                add(target, Access::Write);
            }
            Kind::Query => {
                for read in reads_of(&self.parsed)? {
                    add(read, Access::Read);
                }
            }
            Kind::Other => {}
        }
        uses.sort();
        uses.dedup();
        Ok(uses)
    }

    /// Adds what the query whose rows an INSERT, a CREATE TABLE AS or a CREATE VIEW takes
    /// reads.
    fn add_reads_of_source(
        &self,
        reads_of: &impl Fn(&DfStatement) -> Result<Vec<QualifiedName>, EngineError>,
        add: &mut impl FnMut(QualifiedName, Access),
    ) -> Result<(), EngineError> {
        let source = match self.sql() {
            SqlStatement::Insert(insert) => insert.source.as_deref(),
            SqlStatement::CreateTable(create) => create.query.as_deref(),
            SqlStatement::CreateView(view) => Some(view.query.as_ref()),
            _ => None,
        };
        for read in source.map(|q| reads_of(&query_statement(q))).transpose()?.into_iter().flatten()
        {
            add(read, Access::Read);
        }
        Ok(())
    }

    fn merge_source_table(&self, catalog: &str, schema: &str) -> Option<QualifiedName> {
        let DfStatement::Statement(s) = &self.parsed else {
            return None;
        };
        let SqlStatement::Merge(merge) = s.as_ref() else {
            return None;
        };
        let TableFactor::Table { name, .. } = &merge.source else {
            return None;
        };
        Some(QualifiedName::resolve(&reference(name).ok()?, catalog, schema))
    }
}

/// The column that stands for "every column" in a MERGE's `UPDATE SET *` and `INSERT *`, which
/// the parser does not read: they are spelled `UPDATE SET ALL_COLUMNS = ALL_COLUMNS` and
/// `INSERT (ALL_COLUMNS) VALUES (ALL_COLUMNS)` before parsing, and expanded against the target's
/// columns when the statement runs.
pub(crate) const ALL_COLUMNS: &str = "__all_columns__";

/// The tokens of `sql` when its text holds `word` (in any case); `None` otherwise, or when it
/// does not tokenize (the parser then reports the error). A statement a rewrite cannot concern
/// is not tokenized twice.
fn tokens_if_it_says(
    sql: &str,
    words: &[&str],
) -> Option<Vec<deltalake::datafusion::sql::sqlparser::tokenizer::Token>> {
    use deltalake::datafusion::sql::sqlparser::tokenizer::Tokenizer;
    words
        .iter()
        .any(|word| {
            sql.as_bytes().windows(word.len()).any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
        })
        .then(|| {
            // As written: the text put back together from these tokens must be the same text.
            Tokenizer::new(&crate::dialect::Databricks, sql).with_unescape(false).tokenize().ok()
        })
        .flatten()
}

/// `INSERT INTO|OVERWRITE t BY NAME query` without its `BY NAME`, which the engine's parser does
/// not read (the columns are then named from the query's, see [`Kind::Insert`]); `None` for
/// any other statement.
fn take_by_name(sql: &str) -> Option<String> {
    use deltalake::datafusion::sql::sqlparser::keywords::Keyword;
    use deltalake::datafusion::sql::sqlparser::tokenizer::Token;
    // Most statements have a `BY` (`GROUP BY`, `ORDER BY`): only an insert's are read again.
    if !sql.as_bytes().windows(6).any(|w| w.eq_ignore_ascii_case(b"insert")) {
        return None;
    }
    let tokens = tokens_if_it_says(sql, &["by"])?;
    let words: Vec<(usize, &Token)> =
        tokens.iter().enumerate().filter(|(_, t)| !matches!(t, Token::Whitespace(_))).collect();
    let is = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    if !words.first().is_some_and(|(_, t)| is(t, Keyword::INSERT)) {
        return None;
    }
    // Between the table's name and the query: before any parenthesis or query word.
    let by = words
        .iter()
        .take_while(|(_, t)| {
            !matches!(t, Token::LParen)
                && ![Keyword::SELECT, Keyword::VALUES, Keyword::WITH, Keyword::FROM]
                    .iter()
                    .any(|k| is(t, *k))
        })
        .position(|(_, t)| is(t, Keyword::BY))?;
    let name = words.get(by + 1).filter(|(_, t)| is(t, Keyword::NAME))?;
    let (from, to) = (words[by].0, name.0);
    Some(
        tokens
            .iter()
            .enumerate()
            .filter(|(n, _)| !(from..=to).contains(n))
            .map(|(_, t)| t.to_string())
            .collect(),
    )
}

/// The value of a string token of [`tokens_if_it_says`], its quotes and escapes read.
fn string_value(token: &deltalake::datafusion::sql::sqlparser::tokenizer::Token) -> Option<String> {
    use deltalake::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let (quote, raw) = match token {
        Token::SingleQuotedString(s) => ('\'', s),
        Token::DoubleQuotedString(s) => ('"', s),
        _ => return None,
    };
    let text = format!("{quote}{raw}{quote}");
    match Tokenizer::new(&crate::dialect::Databricks, &text).tokenize().ok()?.as_slice() {
        [Token::SingleQuotedString(s) | Token::DoubleQuotedString(s)] => Some(s.clone()),
        _ => None,
    }
}

/// Which of its versions a table is read at: Delta's time travel (`VERSION AS OF 3`,
/// `TIMESTAMP AS OF '2026-12-01 10:00:00'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsOf {
    Version(u64),
    /// A timestamp as written; the engine reads it in UTC.
    Timestamp(String),
}

impl std::fmt::Display for AsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AsOf::Version(v) => write!(f, "version {v}"),
            AsOf::Timestamp(t) => write!(f, "timestamp {t}"),
        }
    }
}

/// Every table the statement names in a `FROM` or `JOIN`, with the version it asks for.
fn table_versions(statement: &DfStatement) -> Result<Vec<(ObjectName, Option<AsOf>)>, EngineError> {
    use deltalake::datafusion::sql::sqlparser::ast::{Visit, Visitor};
    struct Tables(Vec<(ObjectName, Option<AsOf>)>, Option<EngineError>);
    impl Visitor for Tables {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, version, .. } = factor {
                let as_of = match version {
                    None => None,
                    Some(ast::TableVersion::VersionAsOf(expr)) => match expr {
                        ast::Expr::Value(v) => match &v.value {
                            ast::Value::Number(n, _) => n.parse().ok().map(AsOf::Version),
                            _ => None,
                        },
                        _ => None,
                    }
                    .or_else(|| {
                        self.1 = Some(EngineError::Syntax(format!(
                            "VERSION AS OF takes a version number, not {expr}"
                        )));
                        None
                    }),
                    Some(ast::TableVersion::TimestampAsOf(expr)) => match expr {
                        ast::Expr::Value(v) => match &v.value {
                            ast::Value::SingleQuotedString(s) => Some(AsOf::Timestamp(s.clone())),
                            _ => None,
                        },
                        ast::Expr::TypedString(typed) => match &typed.value.value {
                            ast::Value::SingleQuotedString(s) => Some(AsOf::Timestamp(s.clone())),
                            _ => None,
                        },
                        _ => None,
                    }
                    .or_else(|| {
                        self.1 = Some(EngineError::Unsupported(format!(
                            "TIMESTAMP AS OF an expression ({expr}); give the timestamp itself"
                        )));
                        None
                    }),
                    Some(other) => {
                        self.1 =
                            Some(EngineError::Unsupported(format!("the table version {other}")));
                        None
                    }
                };
                if self.1.is_some() {
                    return ControlFlow::Break(());
                }
                self.0.push((name.clone(), as_of));
            }
            ControlFlow::Continue(())
        }
    }
    let mut tables = Tables(Vec::new(), None);
    if let DfStatement::Statement(s) = statement {
        let _ = s.visit(&mut tables);
    }
    match tables.1 {
        Some(e) => Err(e),
        None => Ok(tables.0),
    }
}

/// What a `CREATE TABLE` (or `VIEW`) says of it between its columns and its query. Databricks
/// reads these clauses in any order; the engine's parser reads `USING` not at all and
/// `COMMENT` and `TBLPROPERTIES` in one order only, so they are taken out of the text and kept
/// here.
#[derive(Debug, Clone, Default, PartialEq)]
struct TableClauses {
    comment: Option<String>,
    properties: Vec<(String, String)>,
}

/// `CREATE TABLE … USING DELTA COMMENT '…' TBLPROPERTIES (…) [AS …]`, as dbt and most loaders
/// write it, without those clauses (see [`TableClauses`]): every table here is a Delta table,
/// and a table of another format (`USING PARQUET`) is refused. Any other statement is left as
/// it is.
fn take_table_clauses(sql: &str) -> Result<(std::borrow::Cow<'_, str>, TableClauses), EngineError> {
    use deltalake::datafusion::sql::sqlparser::keywords::Keyword;
    use deltalake::datafusion::sql::sqlparser::tokenizer::Token;
    let mut clauses = TableClauses::default();
    let Some(tokens) = tokens_if_it_says(sql, &["using", "comment", "tblproperties"]) else {
        return Ok((sql.into(), clauses));
    };
    let is = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    let words: Vec<(usize, &Token)> =
        tokens.iter().enumerate().filter(|(_, t)| !matches!(t, Token::Whitespace(_))).collect();
    let object =
        words.iter().take(4).position(|(_, t)| is(t, Keyword::TABLE) || is(t, Keyword::VIEW));
    let Some(object) =
        object.filter(|_| words.first().is_some_and(|(_, t)| is(t, Keyword::CREATE)))
    else {
        return Ok((sql.into(), clauses));
    };
    // The clauses come after the name, which may itself be a word such as `comment`.
    let mut n = object + 1;
    if words.get(n).is_some_and(|(_, t)| is(t, Keyword::IF)) {
        n += 3;
    }
    n += 1;
    while words.get(n).is_some_and(|(_, t)| *t == &Token::Period) {
        n += 2;
    }
    let syntax = |what: &str| EngineError::Syntax(format!("{what} in CREATE TABLE"));
    // The table's own clauses: outside parentheses, before the query of a CREATE … AS. Each
    // taken is a range of token positions left out of the text.
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut depth = 0usize;
    while let Some((at, token)) = words.get(n) {
        let next = words.get(n + 1).map(|(_, t)| *t);
        match token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            t if is(t, Keyword::AS) || is(t, Keyword::SELECT) => break,
            t if is(t, Keyword::USING) => {
                match next {
                    Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("delta") => {}
                    other => {
                        return Err(EngineError::Unsupported(format!(
                            "tables stored as {}: every table here is a Delta table (USING DELTA)",
                            other.map_or_else(String::new, ToString::to_string)
                        )));
                    }
                }
                taken.push((*at, words[n + 1].0));
                n += 1;
            }
            t if is(t, Keyword::COMMENT) => {
                let comment = next
                    .and_then(string_value)
                    .ok_or_else(|| syntax("COMMENT without a string"))?;
                clauses.comment = Some(comment);
                taken.push((*at, words[n + 1].0));
                n += 1;
            }
            t if is(t, Keyword::TBLPROPERTIES) => {
                let (properties, end) = table_properties(&words[n + 1..])
                    .ok_or_else(|| syntax("TBLPROPERTIES not as ('key' = 'value', …)"))?;
                clauses.properties.extend(properties);
                taken.push((*at, words[n + 1 + end].0));
                n += 1 + end;
            }
            _ => {}
        }
        n += 1;
    }
    if taken.is_empty() {
        return Ok((sql.into(), clauses));
    }
    let mut out = String::with_capacity(sql.len());
    for (n, token) in tokens.iter().enumerate() {
        if !taken.iter().any(|(from, to)| (*from..=*to).contains(&n)) {
            out.push_str(&token.to_string());
        }
    }
    Ok((out.into(), clauses))
}

/// `('key' = 'value', key.part = true, …)` at the start of `words`: the pairs, values as text,
/// and the position of the closing parenthesis. `None` if they are not written so.
fn table_properties(
    words: &[(usize, &deltalake::datafusion::sql::sqlparser::tokenizer::Token)],
) -> Option<(Vec<(String, String)>, usize)> {
    use deltalake::datafusion::sql::sqlparser::tokenizer::Token;
    let mut n = 0;
    let mut next = || {
        let token = words.get(n).map(|(_, t)| *t);
        n += 1;
        token
    };
    if next()? != &Token::LParen {
        return None;
    }
    let mut properties = Vec::new();
    loop {
        let mut key = match next()? {
            t @ (Token::SingleQuotedString(_) | Token::DoubleQuotedString(_)) => string_value(t)?,
            Token::Word(w) => w.value.clone(),
            _ => return None,
        };
        let value = loop {
            match next()? {
                Token::Period => match next()? {
                    Token::Word(w) => {
                        key.push('.');
                        key.push_str(&w.value);
                    }
                    _ => return None,
                },
                Token::Eq => {}
                t @ (Token::SingleQuotedString(_) | Token::DoubleQuotedString(_)) => {
                    break string_value(t)?;
                }
                Token::Word(w) => break w.value.clone(),
                Token::Number(number, _) => break number.clone(),
                _ => return None,
            }
        };
        properties.push((key, value));
        match next()? {
            Token::Comma => {}
            Token::RParen => return Some((properties, n - 1)),
            _ => return None,
        }
    }
}

/// Rewrites the stars of a `MERGE`'s `UPDATE SET *` and `INSERT *` (see [`ALL_COLUMNS`]); any
/// other text is returned as it was.
fn spell_out_merge_stars(sql: &str) -> Result<std::borrow::Cow<'_, str>, EngineError> {
    use deltalake::datafusion::sql::sqlparser::keywords::Keyword;
    use deltalake::datafusion::sql::sqlparser::tokenizer::Token;
    let Some(tokens) = tokens_if_it_says(sql, &["merge"]) else {
        return Ok(sql.into());
    };
    let words: Vec<&Token> = tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))).collect();
    let is = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    if !words.first().is_some_and(|t| is(t, Keyword::MERGE)) {
        return Ok(sql.into());
    }
    let mut out = String::with_capacity(sql.len() + 64);
    let mut previous: [Option<&Token>; 2] = [None, None];
    let mut changed = false;
    for token in &tokens {
        if matches!(token, Token::Mul) {
            match previous {
                [Some(a), Some(b)] if is(a, Keyword::UPDATE) && is(b, Keyword::SET) => {
                    out.push_str(&format!("{ALL_COLUMNS} = {ALL_COLUMNS}"));
                    changed = true;
                    continue;
                }
                [_, Some(b)] if is(b, Keyword::INSERT) => {
                    out.push_str(&format!("({ALL_COLUMNS}) VALUES ({ALL_COLUMNS})"));
                    changed = true;
                    continue;
                }
                _ => {}
            }
        }
        out.push_str(&token.to_string());
        if !matches!(token, Token::Whitespace(_)) {
            previous = [previous[1], Some(token)];
        }
    }
    Ok(if changed { out.into() } else { sql.into() })
}

/// Table and view names compare without case in Databricks, backticked or not: every part of
/// every relation name is lower-cased, as the catalog stores names and the bindings are named.
fn lower_case_relations(statement: &mut DfStatement) {
    use deltalake::datafusion::sql::sqlparser::ast::visit_relations_mut;
    if let DfStatement::Statement(s) = statement {
        let _ = visit_relations_mut(s.as_mut(), |name: &mut ObjectName| {
            for part in &mut name.0 {
                if let ast::ObjectNamePart::Identifier(ident) = part {
                    ident.value = ident.value.to_lowercase();
                }
            }
            ControlFlow::<()>::Continue(())
        });
    }
}

/// How [`name_casts_of_columns`] names a cast of a column.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CastNames {
    /// After the column itself (`CAST(id AS STRING) AS id`): for the columns of a table or
    /// view made from a query.
    Column,
    /// A name of its own to plan with (`__column_0__`), the result's column renamed after it
    /// ran: for a query's result, which may also sort on or project the column cast. Every
    /// other column the query does not name is planned so too, and named as Databricks names
    /// it ([`crate::result_names`]).
    Planned,
}

/// The result columns of a query that cast a column and have no name of their own
/// (`CAST(id AS STRING)`, `t.id::string`) are named after the column, as Databricks names them.
/// The engine would name such a cast after the column too, qualifier and all (`t.id`), which is
/// no name for a table's column, and refuse the query if it also sorts on or projects that
/// column (`… ORDER BY id`). This names the select of `query` itself (of a set operation, the
/// first), not its subqueries. Returns, for [`CastNames::Planned`], (the name planned with,
/// the column's name) for the renaming.
pub(crate) fn name_casts_of_columns(
    query: &mut ast::Query,
    how: CastNames,
) -> Vec<(String, String)> {
    use crate::result_names::{cast_column, spark_name};
    use deltalake::datafusion::sql::sqlparser::ast::{Expr, Ident, SelectItem, SetExpr};
    let mut renamed = Vec::new();
    let mut body = query.body.as_mut();
    // A set operation's columns are named by its first query.
    while let SetExpr::SetOperation { left, .. } = body {
        body = left.as_mut();
    }
    let SetExpr::Select(select) = body else {
        return renamed;
    };
    let distinct = select.distinct.is_some();
    for (position, item) in select.projection.iter_mut().enumerate() {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        let alias = match how {
            CastNames::Column => match cast_column(expr) {
                Some(column) => column.clone(),
                None => continue,
            },
            CastNames::Planned => {
                // A column keeps the engine's name, which is its own. `SELECT DISTINCT` sorts
                // only by what it selects, as written: only its casts of columns are renamed.
                let column = matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
                if column || (distinct && cast_column(expr).is_none()) {
                    continue;
                }
                let planned = format!("__column_{position}__");
                renamed.push((planned.clone(), spark_name(expr)));
                Ident::with_quote('`', planned)
            }
        };
        let expr = expr.clone();
        *item = SelectItem::ExprWithAlias { expr, alias };
    }
    renamed
}

/// Names the casts of columns ([`name_casts_of_columns`]) after their columns in every query
/// of `statement` but a plain query's outermost one, whose result is named when it runs
/// ([`CastNames::Planned`]).
fn name_casts_in_queries(statement: &mut DfStatement) {
    use deltalake::datafusion::sql::sqlparser::ast::{Query, VisitMut, VisitorMut};
    struct Casts {
        skip_next: bool,
    }
    impl VisitorMut for Casts {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            if !std::mem::take(&mut self.skip_next) {
                name_casts_of_columns(query, CastNames::Column);
            }
            ControlFlow::Continue(())
        }
    }
    if let DfStatement::Statement(s) = statement {
        let skip_next = matches!(s.as_ref(), SqlStatement::Query(_));
        let _ = s.as_mut().visit(&mut Casts { skip_next });
    }
}

/// Removes the `ORDER BY` of every query nested in `statement`'s outermost one that has no
/// `LIMIT`, `OFFSET` or `FETCH`: such a sort says nothing about the statement's result. The
/// engine refuses a nested query that sorts on a column it also casts under the column's name
/// (`(SELECT CAST(t.id AS INT) AS id FROM t ORDER BY t.id)`), which Databricks runs; without
/// the sort, it plans. Whether any was removed.
pub(crate) fn drop_nested_sorts(statement: &mut DfStatement) -> bool {
    use deltalake::datafusion::sql::sqlparser::ast::{VisitMut, VisitorMut};
    struct Sorts(NestedSorts);
    impl VisitorMut for Sorts {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            if self.0.nested_sort(query) {
                query.order_by = None;
            }
            ControlFlow::Continue(())
        }
    }
    let mut sorts = Sorts(NestedSorts::default());
    if let DfStatement::Statement(s) = statement {
        let _ = s.as_mut().visit(&mut sorts);
    }
    sorts.0.found
}

/// Whether [`drop_nested_sorts`] would remove anything from `statement`.
pub(crate) fn has_nested_sorts(statement: &DfStatement) -> bool {
    use deltalake::datafusion::sql::sqlparser::ast::{Visit, Visitor};
    struct Sorts(NestedSorts);
    impl Visitor for Sorts {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            if self.0.nested_sort(query) {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut sorts = Sorts(NestedSorts::default());
    if let DfStatement::Statement(s) = statement {
        let _ = s.visit(&mut sorts);
    }
    sorts.0.found
}

/// The queries of a statement in the order a visitor meets them, the outermost first.
#[derive(Default)]
struct NestedSorts {
    past_outermost: bool,
    found: bool,
}

impl NestedSorts {
    /// Whether `query`, the next one met, is a nested query whose sort can go.
    fn nested_sort(&mut self, query: &Query) -> bool {
        let nested = std::mem::replace(&mut self.past_outermost, true);
        let sort = nested
            && query.order_by.is_some()
            && query.limit_clause.is_none()
            && query.fetch.is_none();
        self.found |= sort;
        sort
    }
}

/// The bare names a statement calls as table functions (`FROM generate_series(1, 10)`).
fn table_functions(statement: &DfStatement) -> std::collections::HashSet<String> {
    use deltalake::datafusion::sql::sqlparser::ast::{Visit, Visitor};
    struct Functions(std::collections::HashSet<String>);
    impl Visitor for Functions {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, args: Some(_), .. } = factor
                && let [part] = name.0.as_slice()
                && let Some(ident) = part.as_ident()
            {
                self.0.insert(ident.value.to_lowercase());
            }
            ControlFlow::Continue(())
        }
    }
    let mut functions = Functions(std::collections::HashSet::new());
    if let DfStatement::Statement(s) = statement {
        let _ = s.visit(&mut functions);
    }
    functions.0
}

/// A query on its own, as a statement whose references can be resolved.
fn query_statement(query: &Query) -> DfStatement {
    DfStatement::Statement(Box::new(SqlStatement::Query(Box::new(query.clone()))))
}

fn classify(parsed: &DfStatement) -> Result<Kind, EngineError> {
    let statement = match parsed {
        DfStatement::Statement(s) => s.as_ref(),
        DfStatement::CreateExternalTable(_) => {
            return Err(EngineError::LocationRefused("CREATE EXTERNAL TABLE"));
        }
        DfStatement::CopyTo(_) => return Err(EngineError::LocationRefused("COPY")),
        DfStatement::Explain(_) => return Err(EngineError::Unsupported("EXPLAIN".into())),
        _ => return Err(EngineError::Unsupported("this statement".into())),
    };
    Ok(match statement {
        SqlStatement::Query(query) => {
            refuse_locations_in_query(query)?;
            Kind::Query
        }
        SqlStatement::Insert(insert) => {
            let TableObject::TableName(name) = &insert.table else {
                return Err(EngineError::Unsupported("INSERT INTO a table function".into()));
            };
            if insert.source.is_none() {
                return Err(EngineError::Unsupported("INSERT without VALUES or a query".into()));
            }
            Kind::Insert { target: reference(name)?, overwrite: insert.overwrite, by_name: false }
        }
        SqlStatement::Update(update) => {
            let TableFactor::Table { name, .. } = &update.table.relation else {
                return Err(EngineError::Unsupported("UPDATE of anything but a table".into()));
            };
            if !update.table.joins.is_empty() || update.from.is_some() {
                return Err(EngineError::Unsupported("UPDATE … FROM (use MERGE INTO)".into()));
            }
            Kind::Update { target: reference(name)? }
        }
        SqlStatement::Delete(delete) => {
            let (ast::FromTable::WithFromKeyword(from) | ast::FromTable::WithoutKeyword(from)) =
                &delete.from;
            let [only] = from.as_slice() else {
                return Err(EngineError::Unsupported("DELETE from more than one table".into()));
            };
            let TableFactor::Table { name, .. } = &only.relation else {
                return Err(EngineError::Unsupported("DELETE from anything but a table".into()));
            };
            if delete.using.is_some() || !only.joins.is_empty() || !delete.tables.is_empty() {
                return Err(EngineError::Unsupported("DELETE … USING (use MERGE INTO)".into()));
            }
            Kind::Delete { target: reference(name)? }
        }
        SqlStatement::Merge(merge) => {
            let TableFactor::Table { name, .. } = &merge.table else {
                return Err(EngineError::Unsupported("MERGE INTO anything but a table".into()));
            };
            Kind::Merge { target: reference(name)? }
        }
        SqlStatement::CreateTable(create) => {
            if names_a_location(create) {
                return Err(EngineError::LocationRefused("CREATE TABLE … LOCATION"));
            }
            if create.temporary {
                return Err(EngineError::Unsupported("CREATE TEMPORARY TABLE".into()));
            }
            if create.like.is_some() || create.clone.is_some() {
                return Err(EngineError::Unsupported("CREATE TABLE … LIKE / CLONE".into()));
            }
            let name = reference(&create.name)?;
            match &create.query {
                Some(query) => {
                    refuse_locations_in_query(query)?;
                    Kind::CreateTableAs {
                        name,
                        or_replace: create.or_replace,
                        if_not_exists: create.if_not_exists,
                    }
                }
                None => Kind::CreateTable {
                    name,
                    columns: create.columns.iter().map(column).collect::<Result<_, _>>()?,
                    or_replace: create.or_replace,
                    if_not_exists: create.if_not_exists,
                },
            }
        }
        SqlStatement::CreateView(view) => {
            if view.materialized {
                return Err(EngineError::Unsupported("CREATE MATERIALIZED VIEW".into()));
            }
            refuse_locations_in_query(&view.query)?;
            Kind::CreateView {
                name: reference(&view.name)?,
                text: crate::dialect::reparsable(&*view.query),
                or_replace: view.or_replace,
                if_not_exists: view.if_not_exists,
            }
        }
        SqlStatement::Copy { .. }
        | SqlStatement::CopyIntoSnowflake { .. }
        | SqlStatement::Directory { .. }
        | SqlStatement::LoadData { .. }
        | SqlStatement::Unload { .. } => {
            return Err(EngineError::LocationRefused("reading or writing files"));
        }
        _ => Kind::Other,
    })
}

/// Whether a `CREATE TABLE` says where its files go, in any of the ways dialects spell it
/// (`EXTERNAL`, `LOCATION`, Hive's storage clause, `OPTIONS (path …)`, a base location or an
/// external volume): patchbay decides where every table lives.
fn names_a_location(create: &ast::CreateTable) -> bool {
    let options = match &create.table_options {
        ast::CreateTableOptions::None => &[][..],
        ast::CreateTableOptions::With(o)
        | ast::CreateTableOptions::Options(o)
        | ast::CreateTableOptions::Plain(o)
        | ast::CreateTableOptions::TableProperties(o) => o.as_slice(),
    };
    let option_names_a_place = options.iter().any(|option| match option {
        ast::SqlOption::KeyValue { key, .. } => {
            let key = key.value.to_ascii_lowercase();
            key == "path"
                || key == "location"
                || key.ends_with(".location")
                || key.ends_with(".path")
        }
        _ => false,
    });
    create.external
        || create.location.is_some()
        || create.base_location.is_some()
        || create.external_volume.is_some()
        || create.hive_formats.as_ref().is_some_and(|h| {
            h.location.is_some() || h.storage.is_some() || h.serde_properties.is_some()
        })
        || option_names_a_place
}

/// `SELECT … INTO OUTFILE` and friends name a file: refused.
fn refuse_locations_in_query(query: &Query) -> Result<(), EngineError> {
    if let SetExpr::Select(select) = query.body.as_ref()
        && select.into.is_some()
    {
        return Err(EngineError::LocationRefused("SELECT … INTO"));
    }
    Ok(())
}

/// A table name of one to three parts. Unquoted parts are compared without case, as Unity
/// Catalog does; backticked ones keep what they say, lower-cased too, since every name is.
fn reference(name: &ObjectName) -> Result<TableReference, EngineError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| {
            part.as_ident()
                .map(|ident| ident.value.to_lowercase())
                .ok_or_else(|| EngineError::Unsupported(format!("the name {name}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(match parts.as_slice() {
        [table] => TableReference::bare(table.as_str()),
        [schema, table] => TableReference::partial(schema.as_str(), table.as_str()),
        [catalog, schema, table] => {
            TableReference::full(catalog.as_str(), schema.as_str(), table.as_str())
        }
        _ => return Err(EngineError::Syntax(format!("{name} is not a table name"))),
    })
}

fn column(def: &ast::ColumnDef) -> Result<Column, EngineError> {
    let declared = def.data_type.to_string();
    let arrow = arrow_type(&declared)?;
    let nullable = !def.options.iter().any(|o| matches!(o.option, ast::ColumnOption::NotNull));
    let comment = def.options.iter().find_map(|o| match &o.option {
        ast::ColumnOption::Comment(text) => Some(text.clone()),
        _ => None,
    });
    Ok(Column {
        name: def.name.value.to_lowercase(),
        type_name: databricks_type_name(&arrow),
        nullable,
        comment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_read_at_a_version_of_their_past() {
        let versions =
            |sql: &str| Statement::parse(sql).and_then(|s| s.versions("main", "default"));
        let name = |t: &str| QualifiedName {
            catalog: "main".into(),
            schema: "default".into(),
            table: t.into(),
        };
        assert!(versions("SELECT * FROM t").unwrap().is_empty());
        assert!(!Statement::parse("SELECT * FROM t").unwrap().reads_the_past());
        let found = versions("SELECT * FROM t VERSION AS OF 3 JOIN u ON t.a = u.a").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[&name("t")], AsOf::Version(3));
        let found =
            versions("SELECT * FROM (SELECT * FROM T TIMESTAMP AS OF '2026-12-01 10:00:00') AS x")
                .unwrap();
        assert_eq!(found[&name("t")], AsOf::Timestamp("2026-12-01 10:00:00".into()));
        let found = versions("SELECT * FROM t TIMESTAMP AS OF TIMESTAMP '2026-12-01'").unwrap();
        assert_eq!(found[&name("t")], AsOf::Timestamp("2026-12-01".into()));
        for refused in [
            "SELECT * FROM t VERSION AS OF 1 JOIN t AS u ON true",
            "SELECT * FROM t VERSION AS OF 1 UNION ALL SELECT * FROM default.t VERSION AS OF 2",
            "INSERT INTO t SELECT * FROM t VERSION AS OF 1",
            "SELECT * FROM t TIMESTAMP AS OF current_timestamp()",
            "SELECT * FROM t VERSION AS OF 'one'",
        ] {
            assert!(versions(refused).is_err(), "{refused}");
        }
        assert!(Statement::parse("SELECT * FROM t VERSION AS OF 1").unwrap().reads_the_past());
    }

    #[test]
    fn a_create_says_its_comment_and_its_properties() {
        let wanted = (
            Some("raw events".to_owned()),
            vec![
                ("quality".to_owned(), "bronze".to_owned()),
                ("delta.appendOnly".to_owned(), "true".to_owned()),
            ],
        );
        for sql in [
            "CREATE TABLE t (a INT COMMENT 'x') COMMENT 'raw events' \
             TBLPROPERTIES ('quality' = 'bronze', 'delta.appendOnly' = true)",
            "create or replace table t using delta comment 'raw events' \
             tblproperties ('quality' = 'bronze', 'delta.appendOnly' = 'true') as select 1 as a",
            "CREATE TABLE t (a INT) TBLPROPERTIES (quality = 'bronze', delta.appendOnly = true) \
             USING DELTA COMMENT \"raw events\"",
        ] {
            let statement = Statement::parse(sql).unwrap();
            assert_eq!(statement.description(), wanted, "{sql}");
        }
        let Kind::CreateTable { columns, .. } =
            Statement::parse("CREATE TABLE t (a INT COMMENT 'the key', b STRING)")
                .unwrap()
                .kind()
                .clone()
        else {
            panic!("not a CREATE TABLE")
        };
        assert_eq!(columns[0].comment.as_deref(), Some("the key"));
        assert_eq!(columns[1].comment, None);
        for broken in [
            "CREATE TABLE t (a INT) COMMENT",
            "CREATE TABLE t (a INT) TBLPROPERTIES ('a' = )",
            "CREATE TABLE t (a INT) TBLPROPERTIES 'a'",
        ] {
            assert!(matches!(Statement::parse(broken), Err(EngineError::Syntax(_))), "{broken}");
        }
        // Tables whose names are the clauses' keywords.
        for sql in [
            "CREATE TABLE comment (a INT)",
            "CREATE TABLE IF NOT EXISTS s.using (a INT) COMMENT 'raw events'",
            "CREATE OR REPLACE TABLE main.s.tblproperties AS SELECT 1 AS comment",
        ] {
            let statement = Statement::parse(sql).unwrap();
            assert!(
                matches!(statement.kind(), Kind::CreateTable { .. } | Kind::CreateTableAs { .. }),
                "{sql}"
            );
        }
        let plain = Statement::parse("SELECT 'comment' AS tblproperties").unwrap();
        assert_eq!(plain.description(), (None, Vec::new()));
        let view = Statement::parse("CREATE VIEW v COMMENT 'a view' AS SELECT 1").unwrap();
        assert_eq!(view.description(), (Some("a view".to_owned()), Vec::new()));
    }

    fn uses(sql: &str) -> Vec<(String, Access)> {
        Statement::parse(sql)
            .unwrap()
            .objects("main", "default")
            .unwrap()
            .into_iter()
            .map(|u| (format!("{}.{}.{}", u.name.catalog, u.name.schema, u.name.table), u.access))
            .collect()
    }

    #[test]
    fn a_query_reads_every_table_it_names_in_joins_subqueries_and_ctes_but_not_the_ctes() {
        let got = uses(
            "WITH recent AS (SELECT * FROM sales.orders WHERE d > 1) \
             SELECT * FROM recent r JOIN `Other`.crm.Customers c ON r.c = c.id \
             WHERE c.id IN (SELECT id FROM vip)",
        );
        assert_eq!(
            got,
            vec![
                ("main.default.vip".to_string(), Access::Read),
                ("main.sales.orders".to_string(), Access::Read),
                ("other.crm.customers".to_string(), Access::Read),
            ]
        );
    }

    #[test]
    fn nesting_past_the_limit_is_refused_and_never_overflows_the_stack() {
        let chain = |n: usize| format!("SELECT {}", vec!["1"; n].join("+"));
        let parens = |n: usize| format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n));
        let subqueries = |n: usize| {
            format!(
                "SELECT * FROM {}(SELECT 1 AS a) t{}",
                "(SELECT * FROM ".repeat(n),
                ") t".repeat(n)
            )
        };
        // Generated SQL well within the limit, on this (test) thread's ordinary stack.
        assert!(Statement::parse(&chain(MAX_NESTING - 100)).is_ok());
        assert!(
            Statement::parse(&format!("SELECT 1 WHERE {}", vec!["1 = 1"; 400].join(" OR ")))
                .is_ok()
        );
        // Deeper, up to what a whole statement can spell: refused, and the process lives.
        for sql in [
            chain(MAX_NESTING + 10),
            chain(20_000),
            chain(MAX_STATEMENT_BYTES / 2 - 10),
            parens(5_000),
            subqueries(5_000),
            format!("SELECT {}TRUE", "NOT ".repeat(100_000)),
        ] {
            match Statement::parse(&sql) {
                Err(EngineError::Unsupported(m)) => assert!(m.contains("nested"), "{m}"),
                Err(EngineError::Syntax(_)) => {} // sqlparser's own recursion limit
                Ok(_) => panic!("a statement {} bytes long was accepted", sql.len()),
                Err(other) => panic!("{other}"),
            }
        }
    }

    #[test]
    fn insert_select_writes_its_target_and_reads_its_sources_including_itself() {
        let got = uses("INSERT INTO s.t SELECT * FROM s.t UNION ALL SELECT * FROM s.u");
        assert_eq!(
            got,
            vec![
                ("main.s.t".to_string(), Access::Read),
                ("main.s.t".to_string(), Access::Write),
                ("main.s.u".to_string(), Access::Read),
            ]
        );
    }

    #[test]
    fn merge_writes_the_target_and_reads_the_source() {
        let got = uses(
            "MERGE INTO c.s.target t USING c.s.updates u ON t.id = u.id \
             WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
        );
        assert_eq!(
            got,
            vec![
                ("c.s.target".to_string(), Access::Write),
                ("c.s.updates".to_string(), Access::Read),
            ]
        );
    }

    #[test]
    fn create_table_as_select_and_views_create_their_name_and_read_their_query() {
        assert_eq!(
            uses("CREATE OR REPLACE TABLE s.copy AS SELECT a FROM s.orig"),
            vec![
                ("main.s.copy".to_string(), Access::Create),
                ("main.s.orig".to_string(), Access::Read),
            ]
        );
        let parsed = Statement::parse("CREATE VIEW v AS SELECT a FROM s.orig WHERE a > 1").unwrap();
        let Kind::CreateView { text, .. } = parsed.kind() else { panic!() };
        assert_eq!(text, "SELECT a FROM s.orig WHERE a > 1");
    }

    #[test]
    fn create_table_reads_databricks_column_types() {
        let parsed = Statement::parse(
            "CREATE TABLE IF NOT EXISTS t (id BIGINT NOT NULL, name string, amount DECIMAL(10,2))",
        )
        .unwrap();
        let Kind::CreateTable { columns, if_not_exists, .. } = parsed.kind() else { panic!() };
        assert!(if_not_exists);
        let described: Vec<_> =
            columns.iter().map(|c| (c.name.as_str(), c.type_name.as_str(), c.nullable)).collect();
        assert_eq!(
            described,
            vec![
                ("id", "BIGINT", false),
                ("name", "STRING", true),
                ("amount", "DECIMAL(10,2)", true)
            ]
        );
    }

    #[test]
    fn tables_created_using_delta_are_delta_tables_and_other_formats_are_refused() {
        let kind = |sql: &str| Statement::parse(sql).map(|s| s.kind().clone());
        assert!(matches!(
            kind("CREATE OR REPLACE TABLE t USING DELTA AS SELECT 1 AS a"),
            Ok(Kind::CreateTableAs { .. })
        ));
        assert!(matches!(
            kind("create table if not exists t (a INT, b STRING) using delta comment 'x'"),
            Ok(Kind::CreateTable { .. })
        ));
        assert!(matches!(
            kind("CREATE TABLE t AS SELECT * FROM a JOIN b USING (id)"),
            Ok(Kind::CreateTableAs { .. })
        ));
        assert!(matches!(kind("SELECT * FROM a JOIN b USING (id)"), Ok(Kind::Query)));
        let refused = kind("CREATE TABLE t (a INT) USING PARQUET").unwrap_err();
        assert!(refused.to_string().contains("Delta"), "{refused}");
    }

    #[test]
    fn statements_that_name_files_or_locations_are_refused() {
        for sql in [
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc/'",
            "CREATE TABLE t (a INT) LOCATION 's3://bucket/x'",
            "COPY (SELECT 1) TO '/tmp/out.csv'",
            "COPY INTO t FROM '/etc/passwd'",
            "INSERT OVERWRITE DIRECTORY '/tmp/x' SELECT 1",
        ] {
            match Statement::parse(sql) {
                Err(EngineError::LocationRefused(_)) | Err(EngineError::Syntax(_)) => {}
                other => panic!("{sql}: {other:?}"),
            }
        }
    }

    #[test]
    fn one_statement_per_request() {
        assert!(matches!(
            Statement::parse("SELECT 1; DROP TABLE t"),
            Err(EngineError::Unsupported(_))
        ));
        assert!(matches!(Statement::parse("  "), Err(EngineError::Syntax(_))));
    }

    #[test]
    fn grants_and_other_statements_are_left_to_the_caller() {
        for sql in
            ["GRANT SELECT ON TABLE t TO `a`", "SHOW TABLES", "USE CATALOG main", "DROP TABLE t"]
        {
            assert_eq!(Statement::parse(sql).unwrap().kind(), &Kind::Other, "{sql}");
        }
    }
}
