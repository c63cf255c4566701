//! Statements that change a table's or a view's definition after it is made, as loaders and
//! dbt send them: `ALTER TABLE|VIEW … ADD COLUMNS`, `RENAME TO`, `SET|UNSET TBLPROPERTIES`,
//! `[SET] OWNER TO`, `ALTER COLUMN … COMMENT`, and `COMMENT ON TABLE|COLUMN`. The catalog keeps
//! each change ([`Store::alter_table`], which decides the caller's right to it); adding columns
//! changes the stored Delta table first.

use crate::commands::{Parser, table_name};
use crate::failure;
use crate::lexer::{Spanned, Token};
use patchbay_engine::{AsOf, MIN_RETAIN_HOURS, Vacuum, backticked};
use patchbay_server::statements::engine::SqlFailure;
use patchbay_store::TableChange;
use serde_json::{Map, Value};

/// A change to one table or view, its name as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Alter {
    pub table: Vec<String>,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A change the catalog alone makes.
    Catalog(TableChange),
    /// `ADD COLUMN[S]`: the column definitions' text, as a `CREATE TABLE` lists them.
    AddColumns(String),
    /// `RENAME TO`: the new name as written, checked against the table's own schema.
    Rename(Vec<String>),
}

/// Reads an `ALTER TABLE|VIEW` or `COMMENT ON TABLE|COLUMN` statement; `None` for any other.
pub fn parse(tokens: &[Spanned], text: &str) -> Result<Option<Alter>, SqlFailure> {
    let mut p = Parser::new(tokens);
    let alter = if p.eat("ALTER") {
        if !(p.eat("TABLE") || p.eat("VIEW")) {
            return Ok(None);
        }
        let table = p.name()?;
        let change = alteration(&mut p, tokens, text)?;
        Alter { table, change }
    } else if p.eat("COMMENT") {
        p.expect("ON")?;
        if p.eat("TABLE") || p.eat("VIEW") {
            let table = p.name()?;
            Alter { table, change: Change::Catalog(TableChange::Comment(comment_is(&mut p)?)) }
        } else if p.eat("COLUMN") {
            let mut table = p.dotted(4)?;
            let Some(column) = table.pop().filter(|_| !table.is_empty()) else {
                return Err(failure::syntax("COMMENT ON COLUMN needs table.column."));
            };
            Alter {
                table,
                change: Change::Catalog(TableChange::ColumnComment {
                    column: column.to_lowercase(),
                    comment: comment_is(&mut p)?,
                }),
            }
        } else {
            return Err(failure::not_supported(format!(
                "COMMENT ON {}",
                p.word().unwrap_or_default().to_ascii_uppercase()
            )));
        }
    } else {
        return Ok(None);
    };
    if let Change::AddColumns(_) = alter.change {
        return Ok(Some(alter));
    }
    match p.tokens.get(p.at) {
        Some(extra) => Err(failure::syntax(format!(
            "Unexpected {} at the end of the statement.",
            extra.describe()
        ))),
        None => Ok(Some(alter)),
    }
}

/// What follows `ALTER TABLE name`.
fn alteration(p: &mut Parser<'_>, tokens: &[Spanned], text: &str) -> Result<Change, SqlFailure> {
    Ok(if p.eat("ADD") {
        if !(p.eat("COLUMNS") || p.eat("COLUMN")) {
            return Err(failure::not_supported(format!(
                "ALTER TABLE … ADD {}",
                p.word().unwrap_or_default().to_ascii_uppercase()
            )));
        }
        Change::AddColumns(column_list(tokens, p.at, text)?)
    } else if p.eat("RENAME") {
        if p.eat("COLUMN") {
            return Err(failure::not_supported("ALTER TABLE … RENAME COLUMN"));
        }
        p.expect("TO")?;
        Change::Rename(p.name()?)
    } else if p.eat("SET") {
        if p.eat("OWNER") {
            p.expect("TO")?;
            Change::Catalog(TableChange::Owner(principal(p)?))
        } else if p.eat("TBLPROPERTIES") {
            let mut set = Map::new();
            p.expect_symbol('(')?;
            loop {
                let key = p.property_key()?;
                let _ = p.eat_symbol('=');
                set.insert(key, Value::String(property_value(p)?));
                if !p.eat_symbol(',') {
                    break;
                }
            }
            p.expect_symbol(')')?;
            Change::Catalog(TableChange::SetProperties(set))
        } else {
            return Err(unsupported_alteration(p, "SET "));
        }
    } else if p.eat("UNSET") {
        p.expect("TBLPROPERTIES")?;
        let if_exists = p.eat("IF");
        if if_exists {
            p.expect("EXISTS")?;
        }
        p.expect_symbol('(')?;
        let mut keys = vec![p.property_key()?];
        while p.eat_symbol(',') {
            keys.push(p.property_key()?);
        }
        p.expect_symbol(')')?;
        Change::Catalog(TableChange::UnsetProperties { keys, if_exists })
    } else if p.eat("OWNER") {
        p.expect("TO")?;
        Change::Catalog(TableChange::Owner(principal(p)?))
    } else if p.eat("ALTER") || p.eat("CHANGE") {
        let _ = p.eat("COLUMN");
        let column = p.identifier()?.to_lowercase();
        if !p.eat("COMMENT") {
            return Err(unsupported_alteration(p, "ALTER COLUMN … "));
        }
        let comment = p.string()?;
        Change::Catalog(TableChange::ColumnComment { column, comment: Some(comment) })
    } else {
        return Err(unsupported_alteration(p, ""));
    })
}

fn unsupported_alteration(p: &Parser<'_>, after: &str) -> SqlFailure {
    failure::not_supported(format!(
        "ALTER TABLE … {after}{}",
        p.word().unwrap_or_default().to_ascii_uppercase()
    ))
}

/// `IS 'text'` or `IS NULL`.
fn comment_is(p: &mut Parser<'_>) -> Result<Option<String>, SqlFailure> {
    p.expect("IS")?;
    if p.eat("NULL") { Ok(None) } else { p.string().map(Some) }
}

/// A principal: a quoted or backticked name, or a bare word.
fn principal(p: &mut Parser<'_>) -> Result<String, SqlFailure> {
    match p.tokens.get(p.at) {
        Some(Token::Str(s)) => {
            p.at += 1;
            Ok(s.clone())
        }
        _ => p.identifier(),
    }
}

/// A property's value: a string, or a bare word or number (`true`, `5`), kept as text as
/// Databricks keeps it.
fn property_value(p: &mut Parser<'_>) -> Result<String, SqlFailure> {
    match p.tokens.get(p.at) {
        Some(Token::Str(s) | Token::Word(s)) => {
            p.at += 1;
            Ok(s.clone())
        }
        _ => Err(failure::syntax("A table property needs a value.")),
    }
}

/// The text of the column definitions that start at token `at` (of the statement's tokens
/// without its `;`), their enclosing parentheses taken off.
fn column_list(tokens: &[Spanned], at: usize, text: &str) -> Result<String, SqlFailure> {
    let tokens: Vec<&Spanned> = tokens.iter().filter(|t| t.token != Token::Symbol(';')).collect();
    let (Some(first), Some(last)) = (tokens.get(at), tokens.last()) else {
        return Err(failure::syntax("ADD COLUMNS needs the columns to add."));
    };
    let enclosed = first.token == Token::Symbol('(')
        && last.token == Token::Symbol(')')
        && closes_at(&tokens[at..]) == Some(tokens.len() - at - 1);
    let list = if enclosed { &text[first.end..last.start] } else { &text[first.start..last.end] };
    Ok(list.to_owned())
}

/// Where the parenthesis that opens `tokens` is closed.
fn closes_at(tokens: &[&Spanned]) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        match t.token {
            Token::Symbol('(') => depth += 1,
            Token::Symbol(')') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `TRUNCATE TABLE t` as the statement that does it: `DELETE FROM t`.
pub fn truncated(tokens: &[Spanned]) -> Result<String, SqlFailure> {
    let mut p = Parser::new(tokens);
    p.expect("TRUNCATE")?;
    p.expect("TABLE")?;
    let name = p.name()?;
    if !p.at_end() {
        return Err(failure::not_supported("TRUNCATE TABLE … PARTITION"));
    }
    let quoted: Vec<String> = name.iter().map(|part| backticked(part)).collect();
    Ok(format!("DELETE FROM {}", quoted.join(".")))
}

/// `OPTIMIZE t [ZORDER BY (a, b)]`: the table's name and the columns to order by.
pub fn optimized(tokens: &[Spanned]) -> Result<(Vec<String>, Vec<String>), SqlFailure> {
    let mut p = Parser::new(tokens);
    p.expect("OPTIMIZE")?;
    let table = p.name()?;
    let mut zorder = Vec::new();
    if p.eat("WHERE") {
        return Err(failure::not_supported(
            "OPTIMIZE … WHERE (tables here have no partitions to choose)",
        ));
    }
    if p.eat("ZORDER") {
        p.expect("BY")?;
        let enclosed = p.eat_symbol('(');
        loop {
            zorder.push(p.identifier()?.to_lowercase());
            if !p.eat_symbol(',') {
                break;
            }
        }
        if enclosed {
            p.expect_symbol(')')?;
        }
    }
    if !p.at_end() {
        return Err(failure::syntax("Unexpected text after OPTIMIZE's table."));
    }
    Ok((table, zorder))
}

/// `RESTORE [TABLE] t [TO] {VERSION AS OF n | TIMESTAMP AS OF 'when'}`: the table's name as
/// written and the version to go back to.
pub fn restored(tokens: &[Spanned]) -> Result<(Vec<String>, AsOf), SqlFailure> {
    let mut p = Parser::new(tokens);
    p.expect("RESTORE")?;
    p.eat("TABLE");
    let table = p.name()?;
    p.eat("TO");
    let version = p.eat("VERSION");
    if !version {
        p.expect("TIMESTAMP")?;
    }
    p.expect("AS")?;
    p.expect("OF")?;
    let as_of = if version {
        AsOf::Version(p.number("VERSION AS OF takes a version's number.")?)
    } else {
        AsOf::Timestamp(p.string()?)
    };
    if !p.at_end() {
        return Err(failure::syntax("Unexpected text after RESTORE's version."));
    }
    Ok((table, as_of))
}

/// `VACUUM t [LITE|FULL] [RETAIN n HOURS] [DRY RUN]`: the table's name as written and what to
/// do (by default, the full mode with 7 days' retention).
pub fn vacuumed(tokens: &[Spanned]) -> Result<(Vec<String>, Vacuum), SqlFailure> {
    let mut p = Parser::new(tokens);
    p.expect("VACUUM")?;
    let table = p.name()?;
    let mut vacuum = Vacuum { retain_hours: MIN_RETAIN_HOURS, dry_run: false, lite: false };
    if p.eat("LITE") {
        vacuum.lite = true;
    } else {
        p.eat("FULL");
    }
    if p.peek_is("USING") {
        return Err(failure::not_supported("VACUUM … USING INVENTORY"));
    }
    if p.eat("RETAIN") {
        let wrong = "RETAIN takes a number of hours: RETAIN 168 HOURS.";
        let mut hours = p.word().ok_or_else(|| failure::syntax(wrong))?;
        p.at += 1;
        if p.eat_symbol('.') {
            hours.push('.');
            hours.push_str(&p.word().ok_or_else(|| failure::syntax(wrong))?);
            p.at += 1;
        }
        vacuum.retain_hours = hours
            .parse::<f64>()
            .ok()
            .filter(|h| h.is_finite() && hours.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
            .ok_or_else(|| failure::syntax(wrong))?;
        p.expect("HOURS")?;
    }
    if p.eat("DRY") {
        p.expect("RUN")?;
        vacuum.dry_run = true;
    }
    if !p.at_end() {
        return Err(failure::syntax("Unexpected text after VACUUM's options."));
    }
    Ok((table, vacuum))
}

/// The new name of a rename, resolved: a table keeps its catalog and schema (Unity Catalog
/// moves none), so a qualified name must name the same ones.
pub fn new_name(
    to: &[String],
    table: &patchbay_core::catalog::Securable,
) -> Result<String, SqlFailure> {
    let patchbay_core::catalog::Securable::Table(catalog, schema, _) = table else {
        return Err(failure::invalid_name(&table.full_name()));
    };
    let resolved = table_name(to, catalog, schema)?;
    match resolved {
        patchbay_core::catalog::Securable::Table(c, s, name) if c == *catalog && s == *schema => {
            Ok(name)
        }
        other => Err(failure::not_supported(format!(
            "Moving {} to another schema ({})",
            table.full_name(),
            other.full_name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::tokens;

    fn alter(sql: &str) -> Option<Alter> {
        parse(&tokens(sql).unwrap(), sql).unwrap()
    }

    fn change(sql: &str) -> Change {
        alter(sql).unwrap().change
    }

    #[test]
    fn the_forms_loaders_and_dbt_send() {
        assert_eq!(
            alter("ALTER TABLE main.s.t ADD COLUMNS (a INT COMMENT 'x', b DECIMAL(10,2));"),
            Some(Alter {
                table: vec!["main".into(), "s".into(), "t".into()],
                change: Change::AddColumns("a INT COMMENT 'x', b DECIMAL(10,2)".into()),
            })
        );
        assert_eq!(
            change("alter table t add column c string"),
            Change::AddColumns("c string".into())
        );
        assert_eq!(
            change("COMMENT ON TABLE `s`.`t` IS 'Orders, one a row'"),
            Change::Catalog(TableChange::Comment(Some("Orders, one a row".into())))
        );
        assert_eq!(
            change("COMMENT ON TABLE t IS NULL"),
            Change::Catalog(TableChange::Comment(None))
        );
        assert_eq!(
            alter("COMMENT ON COLUMN s.t.id IS 'key'"),
            Some(Alter {
                table: vec!["s".into(), "t".into()],
                change: Change::Catalog(TableChange::ColumnComment {
                    column: "id".into(),
                    comment: Some("key".into()),
                }),
            })
        );
        assert_eq!(
            change("ALTER TABLE t ALTER COLUMN ID COMMENT 'key'"),
            Change::Catalog(TableChange::ColumnComment {
                column: "id".into(),
                comment: Some("key".into()),
            })
        );
        let mut set = Map::new();
        set.insert("delta.appendOnly".into(), "true".into());
        set.insert("owner team".into(), "data".into());
        assert_eq!(
            change(
                "ALTER TABLE t SET TBLPROPERTIES (delta.appendOnly = true, 'owner team'='data')"
            ),
            Change::Catalog(TableChange::SetProperties(set))
        );
        assert_eq!(
            change("ALTER VIEW v UNSET TBLPROPERTIES IF EXISTS ('a', b.c)"),
            Change::Catalog(TableChange::UnsetProperties {
                keys: vec!["a".into(), "b.c".into()],
                if_exists: true,
            })
        );
        assert_eq!(
            change("ALTER TABLE t SET OWNER TO `data engineers`"),
            Change::Catalog(TableChange::Owner("data engineers".into()))
        );
        assert_eq!(
            change("ALTER TABLE t OWNER TO 'a@example.com'"),
            Change::Catalog(TableChange::Owner("a@example.com".into()))
        );
        assert_eq!(
            change("ALTER TABLE t RENAME TO s.u"),
            Change::Rename(vec!["s".into(), "u".into()])
        );
        assert_eq!(alter("SELECT 1"), None);
        assert_eq!(alter("ALTER SCHEMA s OWNER TO x"), None);
    }

    #[test]
    fn what_patchbay_does_not_do_is_refused_by_name() {
        for (sql, named) in [
            ("ALTER TABLE t DROP COLUMN a", "ALTER TABLE … DROP"),
            ("ALTER TABLE t RENAME COLUMN a TO b", "RENAME COLUMN"),
            ("ALTER TABLE t ALTER COLUMN a TYPE BIGINT", "ALTER COLUMN … TYPE"),
            ("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)", "ADD CONSTRAINT"),
            ("ALTER TABLE t SET LOCATION 's3://x'", "SET LOCATION"),
            ("COMMENT ON SCHEMA s IS 'x'", "COMMENT ON SCHEMA"),
        ] {
            let e = parse(&tokens(sql).unwrap(), sql).unwrap_err();
            assert!(e.message.contains(named), "{sql}: {e:?}");
        }
        for sql in [
            "ALTER TABLE t SET TBLPROPERTIES ('a' = 'b'",
            "COMMENT ON TABLE t 'x'",
            "COMMENT ON TABLE t IS 'x' extra",
            "COMMENT ON COLUMN c IS 'x'",
            "ALTER TABLE t ADD COLUMNS",
        ] {
            assert!(parse(&tokens(sql).unwrap(), sql).is_err(), "{sql}");
        }
    }

    #[test]
    fn truncate_is_a_delete_of_every_row() {
        let t = |sql: &str| truncated(&tokens(sql).unwrap());
        assert_eq!(t("TRUNCATE TABLE s.t;").unwrap(), "DELETE FROM `s`.`t`");
        assert_eq!(t("truncate table `we``ird`").unwrap(), "DELETE FROM `we``ird`");
        assert!(t("TRUNCATE TABLE t PARTITION (d = 1)").is_err());
    }

    #[test]
    fn optimize_and_its_zorder() {
        let o = |sql: &str| optimized(&tokens(sql).unwrap());
        assert_eq!(o("OPTIMIZE s.t").unwrap(), (vec!["s".into(), "t".into()], vec![]));
        assert_eq!(
            o("optimize t zorder by (A, b);").unwrap(),
            (vec!["t".into()], vec!["a".into(), "b".into()])
        );
        assert_eq!(o("OPTIMIZE t ZORDER BY a").unwrap(), (vec!["t".into()], vec!["a".into()]));
        assert!(o("OPTIMIZE t WHERE d > 1").is_err());
        assert!(o("OPTIMIZE t ZORDER BY (a").is_err());
        assert!(o("OPTIMIZE t FULL").is_err());
    }

    #[test]
    fn restore_names_a_version_or_a_timestamp() {
        let r = |sql: &str| restored(&tokens(sql).unwrap());
        assert_eq!(
            r("RESTORE TABLE s.t TO VERSION AS OF 3").unwrap(),
            (vec!["s".into(), "t".into()], AsOf::Version(3))
        );
        assert_eq!(
            r("restore t timestamp as of '2026-01-01 10:00:00';").unwrap(),
            (vec!["t".into()], AsOf::Timestamp("2026-01-01 10:00:00".into()))
        );
        assert!(r("RESTORE TABLE t").is_err());
        assert!(r("RESTORE TABLE t TO VERSION AS OF -1").is_err());
        assert!(r("RESTORE TABLE t TO VERSION AS OF x").is_err());
        assert!(r("RESTORE TABLE t TO VERSION AS OF 1 AND MORE").is_err());
    }

    #[test]
    fn vacuum_takes_a_mode_a_retention_and_a_dry_run() {
        let v = |sql: &str| vacuumed(&tokens(sql).unwrap());
        let options = |retain_hours, dry_run, lite| Vacuum { retain_hours, dry_run, lite };
        assert_eq!(
            v("VACUUM s.t").unwrap(),
            (vec!["s".into(), "t".into()], options(168.0, false, false))
        );
        assert_eq!(
            v("vacuum t lite retain 200 hours dry run;").unwrap(),
            (vec!["t".into()], options(200.0, true, true))
        );
        assert_eq!(v("VACUUM t FULL RETAIN 168.5 HOURS").unwrap().1, options(168.5, false, false));
        for wrong in [
            "VACUUM",
            "VACUUM '/tmp/table'",
            "VACUUM t RETAIN HOURS",
            "VACUUM t RETAIN -1 HOURS",
            "VACUUM t RETAIN 1e9 HOURS",
            "VACUUM t RETAIN 200",
            "VACUUM t DRY",
            "VACUUM t USING INVENTORY inv",
            "VACUUM t DRY RUN please",
        ] {
            assert!(v(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn a_rename_stays_in_its_schema() {
        use patchbay_core::catalog::Securable;
        let t = Securable::Table("main".into(), "s".into(), "t".into());
        assert_eq!(new_name(&["u".into()], &t).unwrap(), "u");
        assert_eq!(new_name(&["main".into(), "s".into(), "U".into()], &t).unwrap(), "u");
        assert!(new_name(&["other".into(), "u".into()], &t).is_err());
    }
}
