//! The few SQL statements patchbay runs through the Statement Execution API: the ones that
//! manage catalog metadata and privileges (`GRANT`, `REVOKE`, `SHOW GRANTS`, `CREATE SCHEMA`,
//! `CREATE TABLE`, `DROP SCHEMA`, `DROP TABLE`). patchbay holds no data, so every other
//! statement is refused as unsupported rather than answered with a made-up result.

use crate::catalog::{self, HIVE_METASTORE, Securable};

/// Longest statement accepted, in bytes.
pub const MAX_STATEMENT_LEN: usize = 64 * 1024;

/// What the statement names a privilege target as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Catalog,
    /// `SCHEMA` or its synonym `DATABASE`.
    Schema,
    Table,
}

/// A securable as a statement names it: 0 to 3 dotted parts, not yet resolved against the
/// session's current catalog and schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    pub kind: ObjectKind,
    pub parts: Vec<String>,
}

/// One column of `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    /// The type as SQL writes it, lower case (`bigint`, `decimal(10,2)`, `array<string>`).
    pub type_text: String,
    pub nullable: bool,
    pub comment: Option<String>,
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    Grant {
        privileges: Vec<String>,
        object: ObjectName,
        principal: String,
    },
    Revoke {
        privileges: Vec<String>,
        object: ObjectName,
        principal: String,
    },
    ShowGrants {
        principal: Option<String>,
        object: ObjectName,
    },
    CreateSchema {
        name: ObjectName,
        if_not_exists: bool,
        comment: Option<String>,
    },
    CreateTable {
        name: ObjectName,
        if_not_exists: bool,
        columns: Vec<ColumnDef>,
        comment: Option<String>,
        /// `USING <format>`, upper case; `None` means Delta.
        format: Option<String>,
    },
    DropSchema {
        name: ObjectName,
        if_exists: bool,
        cascade: bool,
    },
    DropTable {
        name: ObjectName,
        if_exists: bool,
    },
}

/// Why a statement was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A statement (or clause) patchbay does not run; the message says what it does run.
    Unsupported(String),
    /// Not valid SQL for a supported statement.
    Syntax(String),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Unsupported(m) | ParseError::Syntax(m) => f.write_str(m),
        }
    }
}

const SUPPORTED: &str = "patchbay keeps catalog metadata only and runs GRANT, REVOKE, SHOW GRANTS, \
     CREATE SCHEMA, CREATE TABLE, DROP SCHEMA and DROP TABLE";

/// The first words of the statements patchbay runs.
const STATEMENTS: [&str; 5] = ["GRANT", "REVOKE", "SHOW", "CREATE", "DROP"];

fn unsupported(what: &str) -> ParseError {
    ParseError::Unsupported(format!("{what} is not supported: {SUPPORTED}."))
}

fn syntax(message: impl Into<String>) -> ParseError {
    ParseError::Syntax(message.into())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word: keyword, identifier or number.
    Word(String),
    /// A `backticked` identifier.
    Quoted(String),
    /// A 'string' literal.
    Str(String),
    Symbol(char),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("'{w}'"),
            Token::Quoted(q) => format!("`{q}`"),
            Token::Str(s) => format!("'{s}'"),
            Token::Symbol(c) => format!("'{c}'"),
        }
    }
}

fn tokenize(sql: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            if i >= chars.len() {
                return Err(syntax("Unterminated comment."));
            }
            i += 2;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else if c == '`' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(syntax("Unterminated `quoted identifier`.")),
                    Some('`') if chars.get(i + 1) == Some(&'`') => {
                        text.push('`');
                        i += 2;
                    }
                    Some('`') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        text.push(*ch);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Quoted(text));
        } else if c == '\'' || c == '"' {
            let quote = c;
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(syntax("Unterminated string literal.")),
                    Some('\\') => {
                        if let Some(next) = chars.get(i + 1) {
                            text.push(*next);
                        }
                        i += 2;
                    }
                    Some(ch) if *ch == quote && chars.get(i + 1) == Some(&quote) => {
                        text.push(quote);
                        i += 2;
                    }
                    Some(ch) if *ch == quote => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        text.push(*ch);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Str(text));
        } else if ".,();<>:".contains(c) {
            tokens.push(Token::Symbol(c));
            i += 1;
        } else {
            return Err(syntax(format!("Unexpected character '{c}'.")));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens.get(self.pos + offset)
    }

    fn is_kw_at(&self, offset: usize, kw: &str) -> bool {
        matches!(self.peek_at(offset), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn is_kw(&self, kw: &str) -> bool {
        self.is_kw_at(0, kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn eat_kws(&mut self, kws: &[&str]) -> bool {
        let yes = kws.iter().enumerate().all(|(i, kw)| self.is_kw_at(i, kw));
        if yes {
            self.pos += kws.len();
        }
        yes
    }

    fn eat_symbol(&mut self, c: char) -> bool {
        let yes = self.peek() == Some(&Token::Symbol(c));
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "the end of the statement".to_owned(), Token::describe)
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(syntax(format!("Expected {kw} but found {}.", self.found())))
        }
    }

    fn expect_symbol(&mut self, c: char) -> Result<(), ParseError> {
        if self.eat_symbol(c) {
            Ok(())
        } else {
            Err(syntax(format!(
                "Expected '{c}' but found {}.",
                self.found()
            )))
        }
    }

    /// A bare or backticked identifier.
    fn ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().cloned() {
            Some(Token::Word(w) | Token::Quoted(w)) => {
                self.pos += 1;
                Ok(w)
            }
            _ => Err(syntax(format!(
                "Expected {what} but found {}.",
                self.found()
            ))),
        }
    }

    /// `a`, `a.b` or `a.b.c`.
    fn dotted(&mut self, what: &str) -> Result<Vec<String>, ParseError> {
        let mut parts = vec![self.ident(what)?];
        while self.eat_symbol('.') {
            parts.push(self.ident(what)?);
        }
        if parts.len() > 3 {
            return Err(syntax(format!(
                "'{}' has more than three parts.",
                parts.join(".")
            )));
        }
        Ok(parts)
    }

    fn string(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().cloned() {
            Some(Token::Str(s)) => {
                self.pos += 1;
                Ok(s)
            }
            _ => Err(syntax(format!(
                "Expected {what} but found {}.",
                self.found()
            ))),
        }
    }

    /// The end: nothing, or one `;`.
    fn end(&mut self) -> Result<(), ParseError> {
        if self.eat_symbol(';') && self.peek().is_some() {
            return Err(unsupported("Running several statements at once"));
        }
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(syntax(format!("Unexpected {}.", self.found()))),
        }
    }

    fn comment(&mut self) -> Result<Option<String>, ParseError> {
        if self.eat_kw("COMMENT") {
            Ok(Some(self.string("a comment string")?))
        } else {
            Ok(None)
        }
    }

    /// The privilege list of GRANT and REVOKE, up to `ON`.
    fn privileges(&mut self) -> Result<Vec<String>, ParseError> {
        let mut privileges = Vec::new();
        loop {
            let mut words = Vec::new();
            while let Some(Token::Word(w)) = self.peek().cloned() {
                if w.eq_ignore_ascii_case("ON") {
                    break;
                }
                words.push(w);
                self.pos += 1;
            }
            if words.is_empty() {
                return Err(syntax(format!(
                    "Expected a privilege but found {}.",
                    self.found()
                )));
            }
            privileges.push(catalog::normalize_privilege(&words.join(" ")));
            if !self.eat_symbol(',') {
                break;
            }
        }
        Ok(privileges)
    }

    /// The object of GRANT, REVOKE and SHOW GRANTS, after `ON`.
    fn object(&mut self) -> Result<ObjectName, ParseError> {
        let at_end = |p: &Parser| {
            p.peek().is_none()
                || p.is_kw("TO")
                || p.is_kw("FROM")
                || p.peek() == Some(&Token::Symbol(';'))
        };
        if self.eat_kw("CATALOG") {
            // The legacy form `ON CATALOG` (no name) is the Hive metastore.
            let parts = if at_end(self) {
                Vec::new()
            } else {
                vec![self.ident("a catalog name")?]
            };
            return Ok(ObjectName {
                kind: ObjectKind::Catalog,
                parts,
            });
        }
        if self.eat_kw("SCHEMA") || self.eat_kw("DATABASE") {
            return Ok(ObjectName {
                kind: ObjectKind::Schema,
                parts: self.dotted("a schema name")?,
            });
        }
        if self.eat_kw("TABLE") {
            return Ok(ObjectName {
                kind: ObjectKind::Table,
                parts: self.dotted("a table name")?,
            });
        }
        for (kws, what) in [
            (&["ANY", "FILE"][..], "ANY FILE"),
            (&["ANONYMOUS", "FUNCTION"][..], "ANONYMOUS FUNCTION"),
            (&["EXTERNAL", "LOCATION"][..], "EXTERNAL LOCATION"),
            (&["STORAGE", "CREDENTIAL"][..], "STORAGE CREDENTIAL"),
            (&["VIEW"][..], "VIEW"),
            (&["FUNCTION"][..], "FUNCTION"),
            (&["METASTORE"][..], "METASTORE"),
            (&["VOLUME"][..], "VOLUME"),
            (&["SHARE"][..], "SHARE"),
            (&["CONNECTION"][..], "CONNECTION"),
            (&["MODEL"][..], "MODEL"),
        ] {
            if kws.iter().enumerate().all(|(i, kw)| self.is_kw_at(i, kw)) {
                return Err(unsupported(&format!("A privilege on {what}")));
            }
        }
        // `ON name` without a keyword names a table.
        Ok(ObjectName {
            kind: ObjectKind::Table,
            parts: self.dotted("CATALOG, SCHEMA, TABLE or a table name")?,
        })
    }

    /// A principal: `backticked` (user e-mails, application ids) or a bare word (`users`).
    fn principal(&mut self) -> Result<String, ParseError> {
        let p = self.ident("a principal")?;
        if p.trim().is_empty() {
            return Err(syntax("The principal must not be empty."));
        }
        Ok(p)
    }

    fn grant_or_revoke(&mut self, grant: bool) -> Result<Statement, ParseError> {
        let privileges = self.privileges()?;
        self.expect_kw("ON")?;
        let object = self.object()?;
        self.expect_kw(if grant { "TO" } else { "FROM" })?;
        let principal = self.principal()?;
        if self.peek() == Some(&Token::Symbol(',')) {
            return Err(unsupported(
                "Granting to several principals in one statement",
            ));
        }
        self.end()?;
        Ok(if grant {
            Statement::Grant {
                privileges,
                object,
                principal,
            }
        } else {
            Statement::Revoke {
                privileges,
                object,
                principal,
            }
        })
    }

    fn show(&mut self) -> Result<Statement, ParseError> {
        if !(self.eat_kw("GRANTS") || self.eat_kw("GRANT")) {
            let what = self.peek().map_or_else(String::new, |t| {
                t.describe().trim_matches('\'').to_uppercase()
            });
            return Err(unsupported(&format!("SHOW {what}")));
        }
        let principal = if self.is_kw("ON") {
            None
        } else {
            Some(self.principal()?)
        };
        self.expect_kw("ON")?;
        let object = self.object()?;
        self.end()?;
        Ok(Statement::ShowGrants { principal, object })
    }

    fn create(&mut self) -> Result<Statement, ParseError> {
        if self.is_kw("OR") {
            return Err(unsupported("CREATE OR REPLACE"));
        }
        if self.eat_kw("SCHEMA") || self.eat_kw("DATABASE") {
            let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
            let name = ObjectName {
                kind: ObjectKind::Schema,
                parts: self.dotted("a schema name")?,
            };
            let comment = self.comment()?;
            if !matches!(self.peek(), None | Some(Token::Symbol(';'))) {
                return Err(unsupported(&format!(
                    "The CREATE SCHEMA clause {}",
                    self.found()
                )));
            }
            self.end()?;
            return Ok(Statement::CreateSchema {
                name,
                if_not_exists,
                comment,
            });
        }
        if self.eat_kw("TABLE") {
            let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
            let name = ObjectName {
                kind: ObjectKind::Table,
                parts: self.dotted("a table name")?,
            };
            if self.is_kw("AS") {
                return Err(unsupported("CREATE TABLE … AS SELECT"));
            }
            if self.peek() != Some(&Token::Symbol('(')) {
                return Err(syntax(format!(
                    "Expected the column list '(name type, …)' but found {}.",
                    self.found()
                )));
            }
            let columns = self.columns()?;
            let mut format = None;
            let mut comment = None;
            loop {
                if format.is_none() && self.eat_kw("USING") {
                    format = Some(self.ident("a data source format")?.to_ascii_uppercase());
                } else if comment.is_none() && self.is_kw("COMMENT") {
                    comment = self.comment()?;
                } else {
                    break;
                }
            }
            if !matches!(self.peek(), None | Some(Token::Symbol(';'))) {
                return Err(unsupported(&format!(
                    "The CREATE TABLE clause {}",
                    self.found()
                )));
            }
            self.end()?;
            return Ok(Statement::CreateTable {
                name,
                if_not_exists,
                columns,
                comment,
                format,
            });
        }
        let what = self.peek().map_or_else(String::new, |t| match t {
            Token::Word(w) => w.to_uppercase(),
            other => other.describe(),
        });
        Err(unsupported(format!("CREATE {what}").trim_end()))
    }

    fn columns(&mut self) -> Result<Vec<ColumnDef>, ParseError> {
        self.expect_symbol('(')?;
        let mut columns = Vec::new();
        loop {
            let name = self.ident("a column name")?;
            let type_text = self.column_type()?;
            let mut nullable = true;
            let mut comment = None;
            loop {
                if self.eat_kws(&["NOT", "NULL"]) {
                    nullable = false;
                } else if self.eat_kw("NULL") {
                    nullable = true;
                } else if comment.is_none() && self.is_kw("COMMENT") {
                    comment = self.comment()?;
                } else {
                    break;
                }
            }
            if let Some(Token::Word(w)) = self.peek() {
                return Err(unsupported(&format!(
                    "The column clause {}",
                    w.to_uppercase()
                )));
            }
            columns.push(ColumnDef {
                name,
                type_text,
                nullable,
                comment,
            });
            if self.eat_symbol(',') {
                continue;
            }
            self.expect_symbol(')')?;
            break;
        }
        Ok(columns)
    }

    /// A column type, with its arguments (`decimal(10,2)`) or element types
    /// (`map<string,struct<a:int>>`), as lower-case text.
    fn column_type(&mut self) -> Result<String, ParseError> {
        let mut text = match self.peek().cloned() {
            Some(Token::Word(w)) => {
                self.pos += 1;
                w.to_ascii_lowercase()
            }
            _ => {
                return Err(syntax(format!(
                    "Expected a column type but found {}.",
                    self.found()
                )));
            }
        };
        catalog::column_type_name(&text).map_err(syntax)?;
        let mut depth = 0usize;
        if matches!(self.peek(), Some(Token::Symbol('(' | '<'))) {
            loop {
                let token = self
                    .peek()
                    .cloned()
                    .ok_or_else(|| syntax("Unterminated column type."))?;
                self.pos += 1;
                match token {
                    Token::Symbol(c @ ('(' | '<')) => {
                        depth += 1;
                        text.push(c);
                    }
                    Token::Symbol(c @ (')' | '>')) => {
                        depth = depth
                            .checked_sub(1)
                            .ok_or_else(|| syntax("Unbalanced column type."))?;
                        text.push(c);
                    }
                    Token::Symbol(c @ (',' | ':')) => text.push(c),
                    Token::Word(w) => text.push_str(&w.to_ascii_lowercase()),
                    Token::Quoted(q) => text.push_str(&format!("`{q}`")),
                    other => {
                        return Err(syntax(format!(
                            "Unexpected {} in a column type.",
                            other.describe()
                        )));
                    }
                }
                if depth == 0 {
                    break;
                }
            }
        }
        Ok(text)
    }

    fn drop(&mut self) -> Result<Statement, ParseError> {
        if self.eat_kw("SCHEMA") || self.eat_kw("DATABASE") {
            let if_exists = self.eat_kws(&["IF", "EXISTS"]);
            let name = ObjectName {
                kind: ObjectKind::Schema,
                parts: self.dotted("a schema name")?,
            };
            let cascade = if self.eat_kw("CASCADE") {
                true
            } else {
                self.eat_kw("RESTRICT");
                false
            };
            self.end()?;
            return Ok(Statement::DropSchema {
                name,
                if_exists,
                cascade,
            });
        }
        if self.eat_kw("TABLE") {
            let if_exists = self.eat_kws(&["IF", "EXISTS"]);
            let name = ObjectName {
                kind: ObjectKind::Table,
                parts: self.dotted("a table name")?,
            };
            self.end()?;
            return Ok(Statement::DropTable { name, if_exists });
        }
        let what = match self.peek() {
            Some(Token::Word(w)) => w.to_uppercase(),
            _ => String::new(),
        };
        Err(unsupported(format!("DROP {what}").trim_end()))
    }
}

/// A new statement id: a random UUID, as the Statement Execution API gives.
pub fn new_statement_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Parses one statement (a trailing `;` is fine).
pub fn parse(sql: &str) -> Result<Statement, ParseError> {
    if sql.len() > MAX_STATEMENT_LEN {
        return Err(syntax(format!(
            "The statement is longer than {MAX_STATEMENT_LEN} bytes."
        )));
    }
    // Decide on the first word before tokenizing, so that any other statement is reported as
    // unsupported whatever characters follow.
    let first_word: String = sql
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase();
    if !first_word.is_empty() && !STATEMENTS.contains(&first_word.as_str()) {
        return Err(unsupported(&format!("{first_word} statement")));
    }
    let tokens = tokenize(sql)?;
    let mut p = Parser { tokens, pos: 0 };
    let first = match p.peek().cloned() {
        None => return Err(syntax("The statement is empty.")),
        Some(Token::Word(w)) => w.to_ascii_uppercase(),
        Some(other) => {
            return Err(syntax(format!(
                "Unexpected {} at the start of the statement.",
                other.describe()
            )));
        }
    };
    p.pos += 1;
    match first.as_str() {
        "GRANT" => p.grant_or_revoke(true),
        "REVOKE" => p.grant_or_revoke(false),
        "SHOW" => p.show(),
        "CREATE" => p.create(),
        "DROP" => p.drop(),
        other => Err(unsupported(&format!("{other} statement"))),
    }
}

/// Resolves a statement's name against the session's current catalog and schema: `t` is
/// `current_catalog.current_schema.t`, `s.t` is `current_catalog.s.t`. `ON CATALOG` without a
/// name is `hive_metastore`.
pub fn resolve(
    object: &ObjectName,
    current_catalog: &str,
    current_schema: &str,
) -> Result<Securable, String> {
    let names = object
        .parts
        .iter()
        .map(|p| catalog::normalize_name(p))
        .collect::<Result<Vec<_>, _>>()?;
    let c = || catalog::normalize_name(current_catalog);
    let s = || catalog::normalize_name(current_schema);
    let shown = object.parts.join(".");
    Ok(match (object.kind, names.as_slice()) {
        (ObjectKind::Catalog, []) => Securable::Catalog(HIVE_METASTORE.to_owned()),
        (ObjectKind::Catalog, [name]) => Securable::Catalog(name.clone()),
        (ObjectKind::Schema, [schema]) => Securable::Schema(c()?, schema.clone()),
        (ObjectKind::Schema, [cat, schema]) => Securable::Schema(cat.clone(), schema.clone()),
        (ObjectKind::Table, [table]) => Securable::Table(c()?, s()?, table.clone()),
        (ObjectKind::Table, [schema, table]) => {
            Securable::Table(c()?, schema.clone(), table.clone())
        }
        (ObjectKind::Table, [cat, schema, table]) => {
            Securable::Table(cat.clone(), schema.clone(), table.clone())
        }
        (kind, _) => {
            let what = match kind {
                ObjectKind::Catalog => "catalog",
                ObjectKind::Schema => "schema",
                ObjectKind::Table => "table",
            };
            return Err(format!("'{shown}' is not a valid {what} name."));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(kind: ObjectKind, parts: &[&str]) -> ObjectName {
        ObjectName {
            kind,
            parts: parts.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn grant_with_multi_word_privileges_and_backticked_principal() {
        assert_eq!(
            parse("GRANT USE CATALOG, create schema ON CATALOG main TO `a@example.com`;"),
            Ok(Statement::Grant {
                privileges: vec!["USE_CATALOG".into(), "CREATE_SCHEMA".into()],
                object: name(ObjectKind::Catalog, &["main"]),
                principal: "a@example.com".into(),
            })
        );
        assert_eq!(
            parse("grant usage, read_metadata on database `default` to users"),
            Ok(Statement::Grant {
                privileges: vec!["USAGE".into(), "READ_METADATA".into()],
                object: name(ObjectKind::Schema, &["default"]),
                principal: "users".into(),
            })
        );
        // ucx's spelling: backticked parts and the DATABASE synonym.
        assert!(matches!(
            parse("GRANT USE SCHEMA ON DATABASE `catalog`.`schema` TO `users`"),
            Ok(Statement::Grant { object, .. }) if object.parts == ["catalog", "schema"]
        ));
    }

    #[test]
    fn revoke_show_and_the_legacy_catalog_form() {
        assert_eq!(
            parse("REVOKE ALL PRIVILEGES ON CATALOG FROM `x`"),
            Ok(Statement::Revoke {
                privileges: vec!["ALL_PRIVILEGES".into()],
                object: name(ObjectKind::Catalog, &[]),
                principal: "x".into(),
            })
        );
        assert_eq!(
            parse("SHOW GRANTS ON TABLE main.s.t"),
            Ok(Statement::ShowGrants {
                principal: None,
                object: name(ObjectKind::Table, &["main", "s", "t"]),
            })
        );
        assert_eq!(
            parse("SHOW GRANT `a@b.c` ON s.t"),
            Ok(Statement::ShowGrants {
                principal: Some("a@b.c".into()),
                object: name(ObjectKind::Table, &["s", "t"]),
            })
        );
    }

    #[test]
    fn create_and_drop() {
        assert_eq!(
            parse("CREATE DATABASE IF NOT EXISTS sales COMMENT 'it''s ours'"),
            Ok(Statement::CreateSchema {
                name: name(ObjectKind::Schema, &["sales"]),
                if_not_exists: true,
                comment: Some("it's ours".into()),
            })
        );
        let Ok(Statement::CreateTable {
            columns, format, ..
        }) = parse(
            "create table if not exists s.t (id BIGINT NOT NULL, amount decimal(10, 2) COMMENT 'eur', \
             tags map<string, array<int>>) USING delta",
        )
        else {
            panic!("create table");
        };
        assert_eq!(format.as_deref(), Some("DELTA"));
        assert_eq!(
            columns
                .iter()
                .map(|c| (c.name.as_str(), c.type_text.as_str(), c.nullable))
                .collect::<Vec<_>>(),
            vec![
                ("id", "bigint", false),
                ("amount", "decimal(10,2)", true),
                ("tags", "map<string,array<int>>", true)
            ]
        );
        assert_eq!(columns[1].comment.as_deref(), Some("eur"));
        assert_eq!(
            parse("DROP SCHEMA IF EXISTS s CASCADE"),
            Ok(Statement::DropSchema {
                name: name(ObjectKind::Schema, &["s"]),
                if_exists: true,
                cascade: true,
            })
        );
        assert_eq!(
            parse("drop table main.s.t"),
            Ok(Statement::DropTable {
                name: name(ObjectKind::Table, &["main", "s", "t"]),
                if_exists: false,
            })
        );
    }

    #[test]
    fn everything_else_is_unsupported_not_faked() {
        for sql in [
            "SELECT 1",
            "select * from main.s.t",
            "INSERT INTO t VALUES (1)",
            "USE CATALOG main",
            "SHOW TABLES",
            "CREATE VIEW v AS SELECT 1",
            "CREATE OR REPLACE TABLE t (a int)",
            "CREATE TABLE t AS SELECT 1",
            "CREATE TABLE t (a int) PARTITIONED BY (a)",
            "CREATE SCHEMA s LOCATION 's3://x'",
            "GRANT SELECT ON VIEW v TO `x`",
            "GRANT SELECT ON ANY FILE TO `x`",
            "DROP VIEW v",
            "GRANT SELECT ON t TO a, b",
            "DROP TABLE a; DROP TABLE b",
        ] {
            assert!(
                matches!(parse(sql), Err(ParseError::Unsupported(_))),
                "{sql}: {:?}",
                parse(sql)
            );
        }
        let Err(ParseError::Unsupported(m)) = parse("SELECT 1") else {
            panic!()
        };
        assert!(m.contains("SELECT") && m.contains("GRANT"), "{m}");
    }

    #[test]
    fn broken_sql_is_a_syntax_error() {
        for sql in [
            "",
            "GRANT ON t TO x",
            "GRANT SELECT t TO x",
            "GRANT SELECT ON TABLE t",
            "GRANT SELECT ON TABLE t TO `x",
            "CREATE TABLE t",
            "CREATE TABLE t (a)",
            "CREATE TABLE t (a geometry)",
            "CREATE TABLE t (a decimal(10,2)",
            "DROP TABLE a.b.c.d",
            "SHOW GRANTS ON",
            "'x'",
            "GRANT SELECT ON t TO x extra",
        ] {
            assert!(
                matches!(parse(sql), Err(ParseError::Syntax(_))),
                "{sql}: {:?}",
                parse(sql)
            );
        }
    }

    #[test]
    fn names_resolve_against_the_current_catalog_and_schema() {
        let t = |parts: &[&str]| resolve(&name(ObjectKind::Table, parts), "main", "default");
        assert_eq!(
            t(&["T"]),
            Ok(Securable::Table(
                "main".into(),
                "default".into(),
                "t".into()
            ))
        );
        assert_eq!(
            t(&["s", "t"]),
            Ok(Securable::Table("main".into(), "s".into(), "t".into()))
        );
        assert_eq!(
            t(&["c", "s", "t"]),
            Ok(Securable::Table("c".into(), "s".into(), "t".into()))
        );
        assert_eq!(
            resolve(
                &name(ObjectKind::Schema, &["s"]),
                "hive_metastore",
                "default"
            ),
            Ok(Securable::Schema("hive_metastore".into(), "s".into()))
        );
        assert_eq!(
            resolve(&name(ObjectKind::Catalog, &[]), "main", "default"),
            Ok(Securable::Catalog("hive_metastore".into()))
        );
        assert!(resolve(&name(ObjectKind::Schema, &["a", "b", "c"]), "main", "d").is_err());
        assert!(resolve(&name(ObjectKind::Catalog, &["a", "b"]), "main", "d").is_err());
    }
}
