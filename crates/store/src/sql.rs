//! Dynamic SQL with numbered `$N` placeholders, which both SQLite and PostgreSQL accept
//! (sqlx's `QueryBuilder<Any>` emits `?`, which PostgreSQL refuses). User data only ever goes
//! into binds.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};
use std::fmt::Write as _;

#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Int(i64),
    Text(String),
    /// NULL for a text column (PostgreSQL types every parameter).
    NullText,
    /// NULL for an integer column.
    NullInt,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            binds: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        let n = self.binds.len();
        let _ = write!(self.text, "${n}");
        self
    }

    pub(crate) fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.bind(Bind::Text(value.into()))
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        self.bind(Bind::Int(value))
    }

    /// `$a, $b, …` for an `IN (…)` list.
    pub(crate) fn int_list(&mut self, values: &[i64]) -> &mut Self {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.int(*v);
        }
        self
    }

    /// Appends another fragment, renumbering its placeholders after ours.
    pub(crate) fn append(&mut self, other: Sql) -> &mut Self {
        let offset = self.binds.len();
        let mut out = String::with_capacity(other.text.len());
        let mut chars = other.text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                let n: usize = n.parse().unwrap_or(0);
                let _ = write!(out, "${}", n + offset);
            } else {
                out.push(c);
            }
        }
        self.text.push_str(&out);
        self.binds.extend(other.binds);
        self
    }

    pub(crate) fn query(&self) -> Query<'_, Any, AnyArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text.clone()));
        for b in &self.binds {
            q = match b {
                Bind::Int(v) => q.bind(*v),
                Bind::Text(v) => q.bind(v.as_str()),
                Bind::NullText => q.bind(None::<String>),
                Bind::NullInt => q.bind(None::<i64>),
            };
        }
        q
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn binds(&self) -> &[Bind] {
        &self.binds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_renumbers_placeholders() {
        let mut a = Sql::new("SELECT * FROM t WHERE a = ");
        a.int(1);
        let mut b = Sql::new(" AND b = ");
        b.text("x").push(" AND c IN (").int_list(&[1, 2]).push(")");
        a.append(b);
        assert_eq!(
            a.as_str(),
            "SELECT * FROM t WHERE a = $1 AND b = $2 AND c IN ($3, $4)"
        );
        assert_eq!(a.binds.len(), 4);
    }
}
