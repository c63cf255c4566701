//! Databricks commands answered from the catalog rather than run by the engine: `USE`,
//! `SHOW CATALOGS|SCHEMAS|TABLES|VIEWS|COLUMNS`, `DESCRIBE [TABLE] [EXTENDED]`. Every listing
//! shows only what the caller may see, as the catalog API does. The SQL connector's metadata
//! calls (`cursor.schemas()`, `tables()`, `columns()`) arrive as these commands, in its own
//! forms (`SHOW TABLES IN CATALOG c SCHEMA LIKE 's' LIKE 't'`, `… IN ALL CATALOGS`).

use crate::failure;
use crate::lexer::{Spanned, Token};
use crate::rows::ArrowRows;
use patchbay_core::access::Caller;
use patchbay_core::catalog::Securable;
use patchbay_engine::Engine;
use patchbay_server::statements::engine::SqlFailure;
use patchbay_store::{CatalogError, Store, TableRecord};

/// A command, its names as written (not yet resolved against the session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    UseCatalog(String),
    UseSchema(Vec<String>),
    ShowCatalogs {
        like: Option<String>,
    },
    ShowSchemas {
        /// `None`: the current catalog; `Some(None)`: all catalogs.
        catalog: Option<Option<String>>,
        like: Option<String>,
    },
    ShowTables {
        /// Where: a schema (`IN s`, `IN c.s`), or a catalog with a schema pattern (the
        /// connector's form), or every catalog.
        scope: TableScope,
        like: Option<String>,
        views_only: bool,
    },
    ShowColumns {
        table: Vec<String>,
        like: Option<String>,
    },
    ShowColumnsInCatalog {
        catalog: String,
        schema_like: Option<String>,
        table_like: Option<String>,
        like: Option<String>,
    },
    Describe {
        table: Vec<String>,
        extended: bool,
    },
    /// `DESCRIBE TABLE EXTENDED t AS JSON`.
    DescribeJson {
        table: Vec<String>,
    },
    /// `SHOW CREATE TABLE t`.
    ShowCreateTable {
        table: Vec<String>,
    },
    /// `DESCRIBE DETAIL t`.
    DescribeDetail {
        table: Vec<String>,
    },
    /// `DESCRIBE HISTORY t [LIMIT n]`.
    DescribeHistory {
        table: Vec<String>,
        limit: Option<usize>,
    },
    /// `SHOW TABLE EXTENDED [IN schema] LIKE 'pattern'`.
    ShowTableExtended {
        schema: Vec<String>,
        like: String,
    },
    /// `SHOW TBLPROPERTIES t [(key)]`.
    ShowProperties {
        table: Vec<String>,
        key: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableScope {
    Schema(Vec<String>),
    Catalog { catalog: Option<String>, schema_like: Option<String> },
}

/// Reads a command, or `None` when the statement is not one of these.
pub fn parse(tokens: &[Spanned]) -> Result<Option<Command>, SqlFailure> {
    let mut p = Parser::new(tokens);
    let command = if p.eat("USE") {
        if p.eat("CATALOG") {
            Command::UseCatalog(p.identifier()?)
        } else {
            let _ = p.eat("SCHEMA") || p.eat("DATABASE") || p.eat("NAMESPACE");
            Command::UseSchema(p.name()?)
        }
    } else if p.eat("SHOW") {
        if p.eat("CATALOGS") {
            Command::ShowCatalogs { like: p.like()? }
        } else if p.eat("SCHEMAS") || p.eat("DATABASES") || p.eat("NAMESPACES") {
            let catalog = if p.eat("IN") || p.eat("FROM") {
                if p.eat("ALL") {
                    p.expect("CATALOGS")?;
                    Some(None)
                } else {
                    Some(Some(p.identifier()?))
                }
            } else {
                None
            };
            Command::ShowSchemas { catalog, like: p.like()? }
        } else if p.eat("CREATE") {
            p.expect("TABLE")?;
            let table = p.name()?;
            if p.eat("AS") {
                return Err(failure::not_supported("SHOW CREATE TABLE … AS SERDE"));
            }
            Command::ShowCreateTable { table }
        } else if p.eat("TABLE") {
            // `SHOW TABLE EXTENDED [IN|FROM schema] LIKE 'pattern'`, which dbt lists relations
            // with.
            p.expect("EXTENDED")?;
            let schema = if p.eat("IN") || p.eat("FROM") { p.name()? } else { Vec::new() };
            let Some(like) = p.like()? else {
                return Err(failure::syntax("SHOW TABLE EXTENDED needs LIKE 'pattern'."));
            };
            if p.eat("PARTITION") {
                return Err(failure::not_supported("SHOW TABLE EXTENDED … PARTITION"));
            }
            Command::ShowTableExtended { schema, like }
        } else if p.peek_is("TABLES") || p.peek_is("VIEWS") {
            let views_only = p.eat("VIEWS");
            if !views_only {
                p.expect("TABLES")?;
            }
            let scope = if p.eat("IN") || p.eat("FROM") {
                if p.eat("ALL") {
                    p.expect("CATALOGS")?;
                    TableScope::Catalog { catalog: None, schema_like: p.prefixed_like("SCHEMA")? }
                } else if p.eat("CATALOG") {
                    TableScope::Catalog {
                        catalog: Some(p.identifier()?),
                        schema_like: p.prefixed_like("SCHEMA")?,
                    }
                } else {
                    TableScope::Schema(p.name()?)
                }
            } else {
                TableScope::Schema(Vec::new())
            };
            Command::ShowTables { scope, like: p.like()?, views_only }
        } else if p.eat("COLUMNS") {
            if !(p.eat("IN") || p.eat("FROM")) {
                return Err(failure::syntax("SHOW COLUMNS needs IN <table>."));
            }
            if p.eat("CATALOG") {
                Command::ShowColumnsInCatalog {
                    catalog: p.identifier()?,
                    schema_like: p.prefixed_like("SCHEMA")?,
                    table_like: p.prefixed_like("TABLE")?,
                    like: p.like()?,
                }
            } else {
                let mut table = p.name()?;
                if p.eat("IN") || p.eat("FROM") {
                    let mut schema = p.name()?;
                    schema.append(&mut table);
                    table = schema;
                }
                Command::ShowColumns { table, like: p.like()? }
            }
        } else if p.eat("TBLPROPERTIES") {
            let table = p.name()?;
            let key = if p.eat_symbol('(') {
                let key = p.property_key()?;
                p.expect_symbol(')')?;
                Some(key)
            } else {
                None
            };
            Command::ShowProperties { table, key }
        } else {
            // SHOW GRANTS and the rest are not commands of this module.
            return Ok(None);
        }
    } else if p.eat("DESCRIBE") || p.eat("DESC") {
        if p.peek_is("SCHEMA")
            || p.peek_is("DATABASE")
            || p.peek_is("CATALOG")
            || p.peek_is("QUERY")
            || p.peek_is("FUNCTION")
        {
            return Err(failure::not_supported(format!(
                "DESCRIBE {}",
                p.word().unwrap_or_default().to_ascii_uppercase()
            )));
        }
        if p.eat("DETAIL") {
            let table = p.name()?;
            return finished(p, Command::DescribeDetail { table });
        }
        if p.eat("HISTORY") {
            let table = p.name()?;
            let limit = if p.eat("LIMIT") {
                Some(p.number("LIMIT takes a number of commits.")?)
            } else {
                None
            };
            return finished(p, Command::DescribeHistory { table, limit });
        }
        let _ = p.eat("TABLE");
        let extended = p.eat("EXTENDED") || p.eat("FORMATTED");
        let table = p.name()?;
        if p.eat("AS") {
            if !(extended && p.eat("JSON")) {
                return Err(failure::syntax(
                    "DESCRIBE … AS JSON takes EXTENDED: DESCRIBE TABLE EXTENDED t AS JSON.",
                ));
            }
            return finished(p, Command::DescribeJson { table });
        }
        Command::Describe { table, extended }
    } else {
        return Ok(None);
    };
    finished(p, command)
}

/// `command`, if nothing is left to read after it.
fn finished(p: Parser<'_>, command: Command) -> Result<Option<Command>, SqlFailure> {
    if let Some(extra) = p.tokens.get(p.at) {
        return Err(failure::syntax(format!(
            "Unexpected {} at the end of the command.",
            extra.describe()
        )));
    }
    Ok(Some(command))
}

/// Reads a statement's tokens one by one (its closing `;` left out).
pub(crate) struct Parser<'a> {
    pub(crate) tokens: Vec<&'a Token>,
    pub(crate) at: usize,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(tokens: &'a [Spanned]) -> Parser<'a> {
        Parser {
            tokens: tokens.iter().map(|t| &t.token).filter(|t| **t != Token::Symbol(';')).collect(),
            at: 0,
        }
    }

    pub(crate) fn peek_is(&self, word: &str) -> bool {
        self.tokens.get(self.at).is_some_and(|t| t.is(word))
    }

    pub(crate) fn eat(&mut self, word: &str) -> bool {
        let found = self.peek_is(word);
        if found {
            self.at += 1;
        }
        found
    }

    pub(crate) fn word(&self) -> Option<String> {
        self.tokens.get(self.at).and_then(|t| match t {
            Token::Word(w) => Some(w.clone()),
            _ => None,
        })
    }

    pub(crate) fn expect(&mut self, word: &str) -> Result<(), SqlFailure> {
        if self.eat(word) { Ok(()) } else { Err(failure::syntax(format!("Expected {word}."))) }
    }

    pub(crate) fn identifier(&mut self) -> Result<String, SqlFailure> {
        match self.tokens.get(self.at).and_then(|t| t.identifier()) {
            Some(name) => {
                self.at += 1;
                Ok(name.to_owned())
            }
            None => Err(failure::syntax("Expected a name.")),
        }
    }

    pub(crate) fn eat_symbol(&mut self, symbol: char) -> bool {
        let found = self.tokens.get(self.at) == Some(&&Token::Symbol(symbol));
        if found {
            self.at += 1;
        }
        found
    }

    pub(crate) fn expect_symbol(&mut self, symbol: char) -> Result<(), SqlFailure> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            Err(failure::syntax(format!("Expected '{symbol}'.")))
        }
    }

    /// A whole number that is not negative; `wrong` says what was expected otherwise.
    pub(crate) fn number<N: std::str::FromStr>(&mut self, wrong: &str) -> Result<N, SqlFailure> {
        let n = self.word().and_then(|w| w.parse::<N>().ok());
        self.at += 1;
        n.ok_or_else(|| failure::syntax(wrong))
    }

    /// A quoted string.
    pub(crate) fn string(&mut self) -> Result<String, SqlFailure> {
        match self.tokens.get(self.at) {
            Some(Token::Str(s)) => {
                self.at += 1;
                Ok(s.clone())
            }
            _ => Err(failure::syntax("Expected a quoted string.")),
        }
    }

    /// A table property's key: quoted (`'delta.appendOnly'`) or dotted words
    /// (`delta.appendOnly`), as written.
    pub(crate) fn property_key(&mut self) -> Result<String, SqlFailure> {
        if let Some(Token::Str(s)) = self.tokens.get(self.at) {
            self.at += 1;
            return Ok(s.clone());
        }
        let mut key = self.identifier()?;
        while self.eat_symbol('.') {
            key.push('.');
            key.push_str(&self.identifier()?);
        }
        Ok(key)
    }

    /// Whether every token has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.at >= self.tokens.len()
    }

    /// `a`, `a.b` or `a.b.c`.
    pub(crate) fn name(&mut self) -> Result<Vec<String>, SqlFailure> {
        self.dotted(3)
    }

    /// Up to `most` names joined by dots.
    pub(crate) fn dotted(&mut self, most: usize) -> Result<Vec<String>, SqlFailure> {
        let mut parts = vec![self.identifier()?];
        while self.tokens.get(self.at) == Some(&&Token::Symbol('.')) {
            self.at += 1;
            parts.push(self.identifier()?);
        }
        if parts.len() > most {
            return Err(failure::invalid_name(&parts.join(".")));
        }
        Ok(parts)
    }

    /// `[LIKE] 'pattern'`, if there.
    fn like(&mut self) -> Result<Option<String>, SqlFailure> {
        let liked = self.eat("LIKE");
        match self.tokens.get(self.at) {
            Some(Token::Str(s)) => {
                self.at += 1;
                Ok(Some(s.clone()))
            }
            _ if liked => Err(failure::syntax("LIKE needs a quoted pattern.")),
            _ => Ok(None),
        }
    }

    /// `<keyword> LIKE 'pattern'`, if there.
    fn prefixed_like(&mut self, keyword: &str) -> Result<Option<String>, SqlFailure> {
        if !self.eat(keyword) {
            return Ok(None);
        }
        self.expect("LIKE")?;
        self.like_value()
    }

    fn like_value(&mut self) -> Result<Option<String>, SqlFailure> {
        match self.tokens.get(self.at) {
            Some(Token::Str(s)) => {
                self.at += 1;
                Ok(Some(s.clone()))
            }
            _ => Err(failure::syntax("LIKE needs a quoted pattern.")),
        }
    }
}

/// Whether `name` matches a `SHOW … LIKE` pattern: `*` and `%` stand for any characters, `_`
/// for one, `|` separates alternatives; case does not matter.
pub fn matches(pattern: Option<&str>, name: &str) -> bool {
    let Some(pattern) = pattern else {
        return true;
    };
    fn here(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*' | '%'), _) => here(&p[1..], n) || (!n.is_empty() && here(p, &n[1..])),
            (Some('_'), Some(_)) => here(&p[1..], &n[1..]),
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b) && here(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let name: Vec<char> = name.chars().collect();
    pattern.split('|').any(|alternative| {
        let p: Vec<char> = alternative.trim().chars().collect();
        here(&p, &name)
    })
}

/// What a command changes in the session, with its rows.
pub struct Answer {
    pub rows: ArrowRows,
    pub use_catalog: Option<String>,
    pub use_schema: Option<String>,
}

impl Answer {
    fn rows(rows: ArrowRows) -> Answer {
        Answer { rows, use_catalog: None, use_schema: None }
    }
}

fn lower(parts: &[String]) -> Vec<String> {
    parts.iter().map(|p| p.to_lowercase()).collect()
}

/// `[catalog.]schema` (or nothing: the session's schema) with the session's defaults.
fn schema_name(
    parts: &[String],
    catalog: &str,
    schema: &str,
) -> Result<(String, String), SqlFailure> {
    let parts = lower(parts);
    Ok(match parts.as_slice() {
        [] => (catalog.to_owned(), schema.to_owned()),
        [s] => (catalog.to_owned(), s.clone()),
        [c, s] => (c.clone(), s.clone()),
        _ => return Err(failure::invalid_name(&parts.join("."))),
    })
}

/// `[[catalog.]schema.]table` with the session's defaults.
pub(crate) fn table_name(
    parts: &[String],
    catalog: &str,
    schema: &str,
) -> Result<Securable, SqlFailure> {
    let parts = lower(parts);
    Ok(match parts.as_slice() {
        [t] => Securable::Table(catalog.into(), schema.into(), t.clone()),
        [s, t] => Securable::Table(catalog.into(), s.clone(), t.clone()),
        [c, s, t] => Securable::Table(c.clone(), s.clone(), t.clone()),
        _ => return Err(failure::invalid_name(&parts.join("."))),
    })
}

/// The table a command names, as `caller` may see it.
async fn table_record(
    store: &Store,
    caller: &Caller,
    parts: &[String],
    catalog: &str,
    schema: &str,
) -> Result<TableRecord, SqlFailure> {
    let securable = table_name(parts, catalog, schema)?;
    store.get_table(caller, &securable).await.map_err(failure::catalog)
}

fn some(s: impl Into<String>) -> Option<String> {
    Some(s.into())
}

/// Runs a command for `caller` in the session's `catalog` and `schema`; `engine` says where
/// managed tables are stored.
pub async fn run(
    store: &Store,
    caller: &Caller,
    command: Command,
    catalog: &str,
    schema: &str,
    engine: &Engine,
) -> Result<Answer, SqlFailure> {
    match command {
        Command::UseCatalog(name) => {
            let name = name.to_lowercase();
            store.list_schemas_for(caller, &name).await.map_err(failure::catalog)?;
            Ok(Answer { rows: ArrowRows::empty(), use_catalog: Some(name), use_schema: None })
        }
        Command::UseSchema(parts) => {
            let parts = lower(&parts);
            let (c, s) = match parts.as_slice() {
                [s] => (catalog.to_owned(), s.clone()),
                [c, s] => (c.clone(), s.clone()),
                _ => return Err(failure::invalid_name(&parts.join("."))),
            };
            store.get_schema(caller, &c, &s).await.map_err(failure::catalog)?;
            Ok(Answer {
                rows: ArrowRows::empty(),
                use_catalog: (c != catalog).then_some(c),
                use_schema: Some(s),
            })
        }
        Command::ShowCatalogs { like } => {
            let catalogs = store.list_catalogs_for(caller).await.map_err(|e| failure::store(&e))?;
            Ok(names_like("catalog", catalogs.into_iter().map(|c| c.name), like.as_deref()))
        }
        Command::ShowSchemas { catalog: which, like } => {
            let every_catalog = matches!(which, Some(None));
            let catalogs = match which {
                None => vec![catalog.to_owned()],
                Some(Some(c)) => vec![c.to_lowercase()],
                Some(None) => visible_catalogs(store, caller).await?,
            };
            let all = catalogs.len() > 1 || every_catalog;
            let mut rows = Vec::new();
            for c in catalogs {
                let schemas = store.list_schemas_for(caller, &c).await.map_err(failure::catalog)?;
                for s in schemas.into_iter().filter(|s| matches(like.as_deref(), &s.name)) {
                    let mut row = vec![Some(s.name)];
                    if all {
                        row.push(Some(s.catalog_name));
                    }
                    rows.push(row);
                }
            }
            let columns: &[&str] =
                if all { &["databaseName", "catalog"] } else { &["databaseName"] };
            Ok(Answer::rows(ArrowRows::strings(columns, rows)))
        }
        Command::ShowTables { scope, like, views_only } => match scope {
            TableScope::Schema(parts) => {
                let (c, s) = schema_name(&parts, catalog, schema)?;
                let tables =
                    store.list_tables_for(caller, &c, &s, true).await.map_err(failure::catalog)?;
                Ok(Answer::rows(ArrowRows::strings(
                    &["database", "tableName", "isTemporary"],
                    tables
                        .into_iter()
                        .filter(|t| !views_only || t.table_type.is_view())
                        .filter(|t| matches(like.as_deref(), &t.name))
                        .map(|t| vec![Some(t.schema_name), Some(t.name), some("false")])
                        .collect(),
                )))
            }
            TableScope::Catalog { catalog: which, schema_like } => {
                let tables =
                    tables_in(store, caller, which, schema_like.as_deref(), like.as_deref(), false)
                        .await?;
                Ok(Answer::rows(ArrowRows::strings(
                    &[
                        "namespace",
                        "tableName",
                        "isTemporary",
                        "information",
                        "catalogName",
                        "tableType",
                        "remarks",
                    ],
                    tables
                        .into_iter()
                        .filter(|t| !views_only || t.table_type.is_view())
                        .map(|t| {
                            let table_type = if t.table_type.is_view() { "VIEW" } else { "TABLE" };
                            vec![
                                Some(t.schema_name),
                                Some(t.name),
                                some("false"),
                                None,
                                Some(t.catalog_name),
                                some(table_type),
                                t.meta.comment,
                            ]
                        })
                        .collect(),
                )))
            }
        },
        Command::ShowColumns { table, like } => {
            let record = table_record(store, caller, &table, catalog, schema).await?;
            Ok(names_like("col_name", record.columns.into_iter().map(|c| c.name), like.as_deref()))
        }
        Command::ShowColumnsInCatalog { catalog: which, schema_like, table_like, like } => {
            // The listing brings the columns: no second read per table.
            let tables = tables_in(
                store,
                caller,
                Some(which),
                schema_like.as_deref(),
                table_like.as_deref(),
                true,
            )
            .await?;
            let mut rows = Vec::new();
            for t in tables {
                for c in t.columns {
                    if !matches(like.as_deref(), &c.name) {
                        continue;
                    }
                    rows.push(vec![
                        Some(c.name),
                        Some(t.catalog_name.clone()),
                        Some(t.schema_name.clone()),
                        Some(t.name.clone()),
                        Some(c.type_text.to_ascii_uppercase()),
                        None,
                        None,
                        None,
                        some(if c.nullable { "true" } else { "false" }),
                        c.comment,
                        Some((c.position + 1).to_string()),
                        some("false"),
                        some("false"),
                    ]);
                }
            }
            Ok(Answer::rows(ArrowRows::strings(
                &[
                    "col_name",
                    "catalogName",
                    "namespace",
                    "tableName",
                    "columnType",
                    "columnSize",
                    "decimalDigits",
                    "radix",
                    "isNullable",
                    "remarks",
                    "ordinalPosition",
                    "isAutoIncrement",
                    "isGenerated",
                ],
                rows,
            )))
        }
        Command::ShowTableExtended { schema: parts, like } => {
            let (c, s) = schema_name(&parts, catalog, schema)?;
            let tables =
                store.list_tables_for(caller, &c, &s, false).await.map_err(failure::catalog)?;
            Ok(Answer::rows(ArrowRows::strings(
                &["database", "tableName", "isTemporary", "information"],
                tables
                    .iter()
                    .filter(|t| matches(Some(&like), &t.name))
                    .map(|t| {
                        vec![
                            Some(t.schema_name.clone()),
                            Some(t.name.clone()),
                            some("false"),
                            Some(information(t, engine)),
                        ]
                    })
                    .collect(),
            )))
        }
        Command::DescribeDetail { table } => {
            let record = table_record(store, caller, &table, catalog, schema).await?;
            if record.table_type.is_view() {
                return Err(failure::not_supported(format!(
                    "DESCRIBE DETAIL of a view ({})",
                    record.full_name()
                )));
            }
            let detail = engine.detail(&record.id).await.map_err(failure::engine)?;
            Ok(Answer::rows(ArrowRows::new(detail_row(&record, detail, engine)?)))
        }
        Command::DescribeHistory { table, limit } => {
            let record = table_record(store, caller, &table, catalog, schema).await?;
            if record.table_type.is_view() {
                return Err(failure::not_supported(format!(
                    "DESCRIBE HISTORY of a view ({})",
                    record.full_name()
                )));
            }
            let history = engine.history(&record.id, limit).await.map_err(failure::engine)?;
            Ok(Answer::rows(ArrowRows::new(history)))
        }
        Command::ShowProperties { table, key } => {
            let record = table_record(store, caller, &table, catalog, schema).await?;
            let rows = match key {
                Some(key) => {
                    let shown = record.meta.properties.get(&key).map_or_else(
                        || format!("Table {} does not have property: {key}", record.full_name()),
                        property_text,
                    );
                    vec![vec![Some(key), Some(shown)]]
                }
                None => record
                    .meta
                    .properties
                    .iter()
                    .map(|(k, v)| vec![Some(k.clone()), Some(property_text(v))])
                    .collect(),
            };
            Ok(Answer::rows(ArrowRows::strings(&["key", "value"], rows)))
        }
        Command::Describe { table, extended } => {
            let record = table_record(store, caller, &table, catalog, schema).await?;
            Ok(Answer::rows(ArrowRows::strings(
                &["col_name", "data_type", "comment"],
                describe_rows(record, extended, engine),
            )))
        }
        Command::ShowCreateTable { table } => {
            let record = table_record(store, caller, &table, catalog, schema).await?;
            Ok(Answer::rows(ArrowRows::strings(
                &["createtab_stmt"],
                vec![vec![Some(crate::show_create::statement(&record))]],
            )))
        }
        Command::DescribeJson { table } => {
            let record = table_record(store, caller, &table, catalog, schema).await?;
            let location = record.location(|id| engine.table_location(id));
            Ok(Answer::rows(ArrowRows::strings(
                &["json_metadata"],
                vec![vec![Some(crate::describe_json::document(&record, location))]],
            )))
        }
    }
}

/// A one-column answer: the names that match a `LIKE` pattern (all of them without one).
fn names_like(column: &str, names: impl Iterator<Item = String>, like: Option<&str>) -> Answer {
    Answer::rows(ArrowRows::strings(
        &[column],
        names.filter(|name| matches(like, name)).map(|name| vec![Some(name)]).collect(),
    ))
}

fn describe_rows(record: TableRecord, extended: bool, engine: &Engine) -> Vec<Vec<Option<String>>> {
    let mut rows: Vec<Vec<Option<String>>> = record
        .columns
        .iter()
        .map(|c| vec![Some(c.name.clone()), Some(c.type_text.clone()), c.comment.clone()])
        .collect();
    if extended {
        rows.push(vec![some(""), some(""), some("")]);
        rows.push(vec![some("# Detailed Table Information"), some(""), some("")]);
        for (name, value) in details(&record, engine) {
            rows.push(vec![some(name), Some(value), some("")]);
        }
    }
    rows
}

/// `DESCRIBE DETAIL`'s one row, typed as Databricks types it: the catalog's facts and the
/// Delta log's (a table never written has no files and the protocol a new one gets).
fn detail_row(
    record: &TableRecord,
    detail: Option<patchbay_engine::TableDetail>,
    engine: &Engine,
) -> Result<patchbay_engine::Output, SqlFailure> {
    use patchbay_engine::arrow::array::{
        ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use patchbay_engine::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let detail = detail.unwrap_or(patchbay_engine::TableDetail {
        num_files: 0,
        size_in_bytes: 0,
        last_modified: None,
        min_reader_version: 1,
        min_writer_version: 2,
    });
    let text = |v: Option<String>| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let time = |ms: i64| {
        Arc::new(
            TimestampMicrosecondArray::from(vec![ms.saturating_mul(1000)]).with_timezone("UTC"),
        ) as ArrayRef
    };
    let timestamp = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let properties = serde_json::Value::Object(record.meta.properties.clone()).to_string();
    let columns: Vec<(&str, DataType, ArrayRef)> = vec![
        ("format", DataType::Utf8, text(Some("delta".into()))),
        ("id", DataType::Utf8, text(Some(record.id.clone()))),
        ("name", DataType::Utf8, text(Some(record.full_name()))),
        ("description", DataType::Utf8, text(record.meta.comment.clone())),
        ("location", DataType::Utf8, text(record.location(|id| engine.table_location(id)))),
        ("createdAt", timestamp.clone(), time(record.meta.created_at)),
        ("lastModified", timestamp, time(detail.last_modified.unwrap_or(record.meta.updated_at))),
        ("partitionColumns", DataType::Utf8, text(Some("[]".into()))),
        ("numFiles", DataType::Int64, Arc::new(Int64Array::from(vec![detail.num_files]))),
        ("sizeInBytes", DataType::Int64, Arc::new(Int64Array::from(vec![detail.size_in_bytes]))),
        ("properties", DataType::Utf8, text(Some(properties))),
        (
            "minReaderVersion",
            DataType::Int32,
            Arc::new(Int32Array::from(vec![detail.min_reader_version])),
        ),
        (
            "minWriterVersion",
            DataType::Int32,
            Arc::new(Int32Array::from(vec![detail.min_writer_version])),
        ),
    ];
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, data_type, _)| Field::new(*name, data_type.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, _, array)| array).collect(),
    )
    .map_err(|e| failure::engine(patchbay_engine::EngineError::Analysis(e.to_string())))?;
    Ok(patchbay_engine::Output::new(schema, vec![batch]))
}

/// What `DESCRIBE TABLE EXTENDED` and `SHOW TABLE EXTENDED` tell of a table besides its
/// columns, as Databricks names each line.
fn details(record: &TableRecord, engine: &Engine) -> Vec<(&'static str, String)> {
    let mut detail = vec![
        ("Catalog", Some(record.catalog_name.clone())),
        ("Database", Some(record.schema_name.clone())),
        ("Table", Some(record.name.clone())),
        ("Created Time", Some(record.meta.created_at.to_string())),
        ("Created By", Some(record.meta.created_by.clone())),
        ("Type", Some(record.table_type.to_string())),
        ("Owner", record.meta.owner.clone()),
        ("Comment", record.meta.comment.clone()),
    ];
    if record.table_type.is_view() {
        detail.push(("View Text", record.view_definition.clone()));
    } else {
        detail.push(("Location", record.location(|id| engine.table_location(id))));
        detail.push((
            "Provider",
            Some(record.data_source_format.clone().unwrap_or_default().to_lowercase()),
        ));
    }
    if !record.meta.properties.is_empty() {
        let listed: Vec<String> = record
            .meta
            .properties
            .iter()
            .map(|(k, v)| format!("{k}={}", property_text(v)))
            .collect();
        detail.push(("Table Properties", Some(format!("[{}]", listed.join(",")))));
    }
    detail.into_iter().filter_map(|(name, value)| Some((name, value?))).collect()
}

/// A property's value as SQL shows it: a string as it is, anything else as JSON.
pub(crate) fn property_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `SHOW TABLE EXTENDED`'s `information`: the details, a line each, then the columns as Spark
/// prints a schema.
fn information(record: &TableRecord, engine: &Engine) -> String {
    let mut text = String::new();
    for (name, value) in details(record, engine) {
        text.push_str(&format!("{name}: {value}\n"));
    }
    text.push_str("Schema: root\n");
    for c in &record.columns {
        text.push_str(&format!(" |-- {}: {} (nullable = {})\n", c.name, c.type_text, c.nullable));
    }
    text
}

async fn visible_catalogs(store: &Store, caller: &Caller) -> Result<Vec<String>, SqlFailure> {
    Ok(store
        .list_catalogs_for(caller)
        .await
        .map_err(|e| failure::store(&e))?
        .into_iter()
        .map(|c| c.name)
        .collect())
}

/// The schemas the caller may see in every catalog it sees (one whose schemas it may not list
/// adds nothing).
pub(crate) async fn schemas_in_every_catalog(
    store: &Store,
    caller: &Caller,
) -> Result<Vec<patchbay_store::SchemaRecord>, SqlFailure> {
    let mut out = Vec::new();
    for c in visible_catalogs(store, caller).await? {
        match store.list_schemas_for(caller, &c).await {
            Ok(schemas) => out.extend(schemas),
            Err(CatalogError::NoUseCatalog { .. }) => {}
            Err(e) => return Err(failure::catalog(e)),
        }
    }
    Ok(out)
}

/// The tables the caller may see in one catalog (or all), by schema and table pattern, with
/// their columns when asked.
pub(crate) async fn tables_in(
    store: &Store,
    caller: &Caller,
    catalog: Option<String>,
    schema_like: Option<&str>,
    like: Option<&str>,
    with_columns: bool,
) -> Result<Vec<TableRecord>, SqlFailure> {
    let schemas = match catalog {
        Some(c) => match store.list_schemas_for(caller, &c.to_lowercase()).await {
            Ok(schemas) => schemas,
            // A catalog the caller sees but whose schemas it may not list adds nothing.
            Err(CatalogError::NoUseCatalog { .. }) => Vec::new(),
            Err(e) => return Err(failure::catalog(e)),
        },
        None => schemas_in_every_catalog(store, caller).await?,
    };
    let mut out = Vec::new();
    for s in schemas.into_iter().filter(|s| matches(schema_like, &s.name)) {
        let tables =
            match store.list_tables_for(caller, &s.catalog_name, &s.name, !with_columns).await {
                Ok(t) => t,
                Err(CatalogError::NoUseSchema { .. }) => continue,
                Err(e) => return Err(failure::catalog(e)),
            };
        out.extend(tables.into_iter().filter(|t| matches(like, &t.name)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::tokens;

    fn command(sql: &str) -> Option<Command> {
        parse(&tokens(sql).unwrap()).unwrap()
    }

    #[test]
    fn describe_history() {
        assert_eq!(
            command("DESCRIBE HISTORY s.t LIMIT 2"),
            Some(Command::DescribeHistory { table: vec!["s".into(), "t".into()], limit: Some(2) })
        );
        assert_eq!(
            command("desc history t;"),
            Some(Command::DescribeHistory { table: vec!["t".into()], limit: None })
        );
        assert!(parse(&tokens("DESCRIBE HISTORY t LIMIT x").unwrap()).is_err());
        assert_eq!(
            command("DESCRIBE DETAIL main.s.t"),
            Some(Command::DescribeDetail { table: vec!["main".into(), "s".into(), "t".into()] })
        );
        assert!(parse(&tokens("DESCRIBE HISTORY t extra").unwrap()).is_err());
    }

    #[test]
    fn show_table_extended_and_show_tblproperties() {
        assert_eq!(
            command("SHOW TABLE EXTENDED IN main.raw LIKE '*'"),
            Some(Command::ShowTableExtended {
                schema: vec!["main".into(), "raw".into()],
                like: "*".into(),
            })
        );
        assert_eq!(
            command("show table extended like 'a|b'"),
            Some(Command::ShowTableExtended { schema: Vec::new(), like: "a|b".into() })
        );
        assert!(parse(&tokens("SHOW TABLE EXTENDED IN s").unwrap()).is_err());
        assert_eq!(
            command("SHOW TBLPROPERTIES s.t ('delta.appendOnly')"),
            Some(Command::ShowProperties {
                table: vec!["s".into(), "t".into()],
                key: Some("delta.appendOnly".into()),
            })
        );
        assert_eq!(
            command("SHOW TBLPROPERTIES t"),
            Some(Command::ShowProperties { table: vec!["t".into()], key: None })
        );
    }

    #[test]
    fn the_connectors_metadata_commands() {
        assert_eq!(
            command("SHOW TABLES IN CATALOG main SCHEMA LIKE 'sales' LIKE 'ord%'"),
            Some(Command::ShowTables {
                scope: TableScope::Catalog {
                    catalog: Some("main".into()),
                    schema_like: Some("sales".into()),
                },
                like: Some("ord%".into()),
                views_only: false,
            })
        );
        assert_eq!(
            command("SHOW COLUMNS IN CATALOG main SCHEMA LIKE 's' TABLE LIKE 't' LIKE 'c'"),
            Some(Command::ShowColumnsInCatalog {
                catalog: "main".into(),
                schema_like: Some("s".into()),
                table_like: Some("t".into()),
                like: Some("c".into()),
            })
        );
        assert_eq!(
            command("SHOW SCHEMAS IN `main` LIKE 'x'"),
            Some(Command::ShowSchemas {
                catalog: Some(Some("main".into())),
                like: Some("x".into()),
            })
        );
        assert_eq!(
            command("show tables in all catalogs"),
            Some(Command::ShowTables {
                scope: TableScope::Catalog { catalog: None, schema_like: None },
                like: None,
                views_only: false,
            })
        );
    }

    #[test]
    fn use_and_describe_and_what_is_not_a_command() {
        assert_eq!(command("USE CATALOG main;"), Some(Command::UseCatalog("main".into())));
        assert_eq!(
            command("use main.sales"),
            Some(Command::UseSchema(vec!["main".into(), "sales".into()]))
        );
        assert_eq!(
            command("DESCRIBE TABLE EXTENDED `a`.b.c"),
            Some(Command::Describe {
                table: vec!["a".into(), "b".into(), "c".into()],
                extended: true,
            })
        );
        assert_eq!(
            command("DESCRIBE TABLE EXTENDED t AS JSON"),
            Some(Command::DescribeJson { table: vec!["t".into()] })
        );
        assert!(parse(&tokens("DESCRIBE TABLE t AS JSON").unwrap()).is_err());
        assert_eq!(command("SELECT 1"), None);
        assert_eq!(command("SHOW GRANTS ON TABLE t"), None);
        assert!(parse(&tokens("SHOW TABLES IN s extra").unwrap()).is_err());
    }

    #[test]
    fn patterns() {
        assert!(matches(Some("ord*"), "orders"));
        assert!(matches(Some("ORD%"), "orders"));
        assert!(matches(Some("x|orders"), "orders"));
        assert!(!matches(Some("ord"), "orders"));
        assert!(matches(Some("fivetran_user"), "fivetran_user"));
        assert!(matches(None, "anything"));
    }
}
