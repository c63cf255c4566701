//! The syntax of the catalog statements ([`crate::catalog_statements`]): `GRANT`, `REVOKE`,
//! `SHOW GRANTS`, `CREATE SCHEMA` and `DROP SCHEMA`, read from the tokens of [`crate::lexer`].
//!
//! Everything else goes to the engine's parser (sqlparser, Databricks dialect). These do not:
//! sqlparser 0.62 reads `GRANT SELECT, MODIFY ON TABLE …` but none of Unity Catalog's own
//! privileges (`USE CATALOG`, `USE SCHEMA`, `CREATE TABLE`, `READ_METADATA`), reads `SHOW
//! GRANTS … ON …` as `SHOW <variable>`, and refuses `CREATE SCHEMA … COMMENT '…'`.

use crate::lexer::{Spanned, Token};
use patchbay_core::catalog::{self, HIVE_METASTORE, Securable};

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

/// A catalog statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    Grant { privileges: Vec<String>, object: ObjectName, principal: String },
    Revoke { privileges: Vec<String>, object: ObjectName, principal: String },
    ShowGrants { principal: Option<String>, object: ObjectName },
    CreateSchema { name: ObjectName, if_not_exists: bool, comment: Option<String> },
    DropSchema { name: ObjectName, if_exists: bool, cascade: bool },
}

/// Why a statement was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A clause or form patchbay does not run; the message names it.
    Unsupported(String),
    /// Not valid SQL for the statement.
    Syntax(String),
}

fn syntax(message: impl Into<String>) -> ParseError {
    ParseError::Syntax(message.into())
}

fn unsupported(what: impl Into<String>) -> ParseError {
    ParseError::Unsupported(what.into())
}

/// Parses one catalog statement (a trailing `;` is fine).
pub fn parse(tokens: &[Spanned]) -> Result<Statement, ParseError> {
    let mut p = Parser { tokens, pos: 0 };
    let first = match p.peek() {
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
        other => Err(unsupported(format!("The statement {other} here"))),
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
    let names =
        object.parts.iter().map(|p| catalog::normalize_name(p)).collect::<Result<Vec<_>, _>>()?;
    let c = || catalog::normalize_name(current_catalog);
    let s = || catalog::normalize_name(current_schema);
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
            return Err(format!("'{}' is not a valid {what} name.", object.parts.join(".")));
        }
    })
}

struct Parser<'a> {
    tokens: &'a [Spanned],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.peek_at(0)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens.get(self.pos + offset).map(|s| &s.token)
    }

    fn is_kw_at(&self, offset: usize, kw: &str) -> bool {
        self.peek_at(offset).is_some_and(|t| t.is(kw))
    }

    fn is_kw(&self, kw: &str) -> bool {
        self.is_kw_at(0, kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        self.eat_kws(&[kw])
    }

    fn eat_kws(&mut self, kws: &[&str]) -> bool {
        let yes = kws.iter().enumerate().all(|(i, kw)| self.is_kw_at(i, kw));
        if yes {
            self.pos += kws.len();
        }
        yes
    }

    fn is_symbol(&self, c: char) -> bool {
        self.peek() == Some(&Token::Symbol(c))
    }

    fn eat_symbol(&mut self, c: char) -> bool {
        let yes = self.is_symbol(c);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn found(&self) -> String {
        self.peek().map_or_else(|| "the end of the statement".to_owned(), Token::describe)
    }

    fn expected(&self, what: &str) -> ParseError {
        syntax(format!("Expected {what} but found {}.", self.found()))
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.eat_kw(kw) { Ok(()) } else { Err(self.expected(kw)) }
    }

    /// A bare or backticked identifier.
    fn ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().and_then(Token::identifier) {
            Some(name) => {
                let name = name.to_owned();
                self.pos += 1;
                Ok(name)
            }
            None => Err(self.expected(what)),
        }
    }

    /// `a`, `a.b` or `a.b.c`.
    fn dotted(&mut self, what: &str) -> Result<Vec<String>, ParseError> {
        let mut parts = vec![self.ident(what)?];
        while self.eat_symbol('.') {
            parts.push(self.ident(what)?);
        }
        if parts.len() > 3 {
            return Err(syntax(format!("'{}' has more than three parts.", parts.join("."))));
        }
        Ok(parts)
    }

    fn dotted_name(&mut self, kind: ObjectKind, what: &str) -> Result<ObjectName, ParseError> {
        Ok(ObjectName { kind, parts: self.dotted(what)? })
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

    /// The privilege list of GRANT and REVOKE, up to `ON`.
    fn privileges(&mut self) -> Result<Vec<String>, ParseError> {
        let mut privileges = Vec::new();
        loop {
            let mut words = Vec::new();
            while let Some(Token::Word(w)) = self.peek() {
                if w.eq_ignore_ascii_case("ON") {
                    break;
                }
                words.push(w.clone());
                self.pos += 1;
            }
            if words.is_empty() {
                return Err(self.expected("a privilege"));
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
        if self.eat_kw("CATALOG") {
            // The legacy form `ON CATALOG` (no name) is the Hive metastore.
            let at_end = self.peek().is_none()
                || self.is_kw("TO")
                || self.is_kw("FROM")
                || self.is_symbol(';');
            let parts = if at_end { Vec::new() } else { vec![self.ident("a catalog name")?] };
            return Ok(ObjectName { kind: ObjectKind::Catalog, parts });
        }
        if self.eat_kw("SCHEMA") || self.eat_kw("DATABASE") {
            return self.dotted_name(ObjectKind::Schema, "a schema name");
        }
        if self.eat_kw("TABLE") {
            return self.dotted_name(ObjectKind::Table, "a table name");
        }
        for kws in [
            &["ANY", "FILE"][..],
            &["ANONYMOUS", "FUNCTION"],
            &["EXTERNAL", "LOCATION"],
            &["STORAGE", "CREDENTIAL"],
            &["VIEW"],
            &["FUNCTION"],
            &["METASTORE"],
            &["VOLUME"],
            &["SHARE"],
            &["CONNECTION"],
            &["MODEL"],
        ] {
            if kws.iter().enumerate().all(|(i, kw)| self.is_kw_at(i, kw)) {
                return Err(unsupported(format!("A privilege on {}", kws.join(" "))));
            }
        }
        // `ON name` without a keyword names a table.
        self.dotted_name(ObjectKind::Table, "CATALOG, SCHEMA, TABLE or a table name")
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
        if self.is_symbol(',') {
            return Err(unsupported("Granting to several principals in one statement"));
        }
        self.end()?;
        Ok(if grant {
            Statement::Grant { privileges, object, principal }
        } else {
            Statement::Revoke { privileges, object, principal }
        })
    }

    fn show(&mut self) -> Result<Statement, ParseError> {
        if !(self.eat_kw("GRANTS") || self.eat_kw("GRANT")) {
            return Err(unsupported(format!("SHOW {}", self.found())));
        }
        let principal = if self.is_kw("ON") { None } else { Some(self.principal()?) };
        self.expect_kw("ON")?;
        let object = self.object()?;
        self.end()?;
        Ok(Statement::ShowGrants { principal, object })
    }

    fn create(&mut self) -> Result<Statement, ParseError> {
        if !(self.eat_kw("SCHEMA") || self.eat_kw("DATABASE")) {
            return Err(unsupported(format!("CREATE {} here", self.found())));
        }
        let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
        let name = self.dotted_name(ObjectKind::Schema, "a schema name")?;
        let comment = if self.eat_kw("COMMENT") {
            match self.peek() {
                Some(Token::Str(s)) => {
                    let s = s.clone();
                    self.pos += 1;
                    Some(s)
                }
                _ => return Err(self.expected("a comment string")),
            }
        } else {
            None
        };
        if !matches!(self.peek(), None | Some(Token::Symbol(';'))) {
            return Err(unsupported(format!("The CREATE SCHEMA clause {}", self.found())));
        }
        self.end()?;
        Ok(Statement::CreateSchema { name, if_not_exists, comment })
    }

    fn drop(&mut self) -> Result<Statement, ParseError> {
        if !(self.eat_kw("SCHEMA") || self.eat_kw("DATABASE")) {
            return Err(unsupported(format!("DROP {} here", self.found())));
        }
        let if_exists = self.eat_kws(&["IF", "EXISTS"]);
        let name = self.dotted_name(ObjectKind::Schema, "a schema name")?;
        let cascade = if self.eat_kw("CASCADE") {
            true
        } else {
            self.eat_kw("RESTRICT");
            false
        };
        self.end()?;
        Ok(Statement::DropSchema { name, if_exists, cascade })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Result<Statement, ParseError> {
        super::parse(&crate::lexer::tokens(sql).expect("the text lexes"))
    }

    fn name(kind: ObjectKind, parts: &[&str]) -> ObjectName {
        ObjectName { kind, parts: parts.iter().map(|p| (*p).to_owned()).collect() }
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
    fn create_and_drop_schemas() {
        assert_eq!(
            parse("CREATE DATABASE IF NOT EXISTS sales COMMENT 'it''s ours'"),
            Ok(Statement::CreateSchema {
                name: name(ObjectKind::Schema, &["sales"]),
                if_not_exists: true,
                comment: Some("it's ours".into()),
            })
        );
        assert_eq!(
            parse("DROP SCHEMA IF EXISTS s CASCADE"),
            Ok(Statement::DropSchema {
                name: name(ObjectKind::Schema, &["s"]),
                if_exists: true,
                cascade: true,
            })
        );
        assert_eq!(
            parse("drop database main.s restrict;"),
            Ok(Statement::DropSchema {
                name: name(ObjectKind::Schema, &["main", "s"]),
                if_exists: false,
                cascade: false,
            })
        );
    }

    #[test]
    fn forms_patchbay_does_not_run_are_unsupported_not_faked() {
        for sql in [
            "CREATE SCHEMA s LOCATION 's3://x'",
            "CREATE SCHEMA s MANAGED LOCATION 's3://x'",
            "GRANT SELECT ON VIEW v TO `x`",
            "GRANT SELECT ON ANY FILE TO `x`",
            "GRANT SELECT ON t TO a, b",
            "DROP SCHEMA a; DROP SCHEMA b",
            "SHOW TABLES",
        ] {
            assert!(
                matches!(parse(sql), Err(ParseError::Unsupported(_))),
                "{sql}: {:?}",
                parse(sql)
            );
        }
        let Err(ParseError::Unsupported(m)) = parse("GRANT SELECT ON ANY FILE TO `x`") else {
            panic!()
        };
        assert_eq!(m, "A privilege on ANY FILE");
    }

    #[test]
    fn broken_sql_is_a_syntax_error() {
        for sql in [
            "",
            "GRANT ON t TO x",
            "GRANT SELECT t TO x",
            "GRANT SELECT ON TABLE t",
            "GRANT SELECT ON TABLE a.b.c.d TO x",
            "SHOW GRANTS ON",
            "'x'",
            "GRANT SELECT ON t TO x extra",
            "GRANT SELECT ON t TO :who",
            "CREATE SCHEMA s COMMENT",
            "DROP SCHEMA",
        ] {
            assert!(matches!(parse(sql), Err(ParseError::Syntax(_))), "{sql}: {:?}", parse(sql));
        }
    }

    #[test]
    fn names_resolve_against_the_current_catalog_and_schema() {
        let t = |parts: &[&str]| resolve(&name(ObjectKind::Table, parts), "main", "default");
        assert_eq!(t(&["T"]), Ok(Securable::Table("main".into(), "default".into(), "t".into())));
        assert_eq!(t(&["s", "t"]), Ok(Securable::Table("main".into(), "s".into(), "t".into())));
        assert_eq!(t(&["c", "s", "t"]), Ok(Securable::Table("c".into(), "s".into(), "t".into())));
        assert_eq!(
            resolve(&name(ObjectKind::Schema, &["s"]), "hive_metastore", "default"),
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
