//! Dynamic SQL with numbered `$N` placeholders, which both SQLite and PostgreSQL accept
//! (sqlx's `QueryBuilder<Any>` emits `?`, which PostgreSQL refuses). User data only ever goes
//! into binds.

use patchbay_core::{JobId, PrincipalId, RunId, WorkspaceId};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Int(i64),
    Text(String),
    /// NULL for a text column (PostgreSQL types every parameter).
    NullText,
    /// NULL for an integer column.
    NullInt,
}

impl From<i64> for Bind {
    fn from(v: i64) -> Bind {
        Bind::Int(v)
    }
}

/// Numeric ids bind as their integers.
macro_rules! id_binds {
    ($($id:ident),*) => {$(
        impl From<$id> for Bind {
            fn from(v: $id) -> Bind {
                Bind::Int(v.get())
            }
        }

        impl From<Option<$id>> for Bind {
            fn from(v: Option<$id>) -> Bind {
                v.map($id::get).into()
            }
        }
    )*};
}

id_binds!(WorkspaceId, PrincipalId, JobId, RunId);

impl From<String> for Bind {
    fn from(v: String) -> Bind {
        Bind::Text(v)
    }
}

impl From<&str> for Bind {
    fn from(v: &str) -> Bind {
        Bind::Text(v.to_owned())
    }
}

/// NULL typed as an integer: PostgreSQL types every parameter.
impl From<Option<i64>> for Bind {
    fn from(v: Option<i64>) -> Bind {
        v.map_or(Bind::NullInt, Bind::Int)
    }
}

/// NULL typed as text.
impl From<Option<&str>> for Bind {
    fn from(v: Option<&str>) -> Bind {
        v.map_or(Bind::NullText, Bind::from)
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Sql {
        Sql { text: text.to_owned(), binds: Vec::new() }
    }

    /// A fragment with its placeholders written in (`$1`, `$2`, …) and their values, in order.
    pub(crate) fn with(text: &str, binds: impl IntoIterator<Item = Bind>) -> Sql {
        Sql { text: text.to_owned(), binds: binds.into_iter().collect() }
    }

    pub(crate) fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        self.text.push('$');
        push_number(&mut self.text, self.binds.len());
        self
    }

    pub(crate) fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.bind(Bind::Text(value.into()))
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        self.bind(Bind::Int(value))
    }

    /// `$a, $b, …` for a `VALUES (…)` row or an `IN (…)` list: one placeholder a value.
    pub(crate) fn list(&mut self, values: impl IntoIterator<Item = Bind>) -> &mut Self {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self
    }

    /// `$a, $b, …` for an `IN (…)` list of integers.
    pub(crate) fn int_list<T: Copy + Into<Bind>>(&mut self, values: &[T]) -> &mut Self {
        self.list(values.iter().copied().map(Into::into))
    }

    /// Appends another fragment, renumbering its placeholders after ours.
    pub(crate) fn append(&mut self, other: Sql) -> &mut Self {
        let offset = self.binds.len();
        if offset == 0 {
            self.text.push_str(&other.text);
        } else {
            let mut rest = other.text.as_str();
            while let Some(at) = rest.find('$') {
                self.text.push_str(&rest[..=at]);
                rest = &rest[at + 1..];
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                if digits > 0 {
                    let n: usize = rest[..digits].parse().unwrap_or(0);
                    push_number(&mut self.text, n + offset);
                    rest = &rest[digits..];
                }
            }
            self.text.push_str(rest);
        }
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

/// Appends `n` in decimal: placeholders are numbered on every query, and `write!` costs more
/// than the query text around them.
fn push_number(text: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    text.extend(digits[at..].iter().map(|&d| char::from(d)));
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
        assert_eq!(a.as_str(), "SELECT * FROM t WHERE a = $1 AND b = $2 AND c IN ($3, $4)");
        assert_eq!(a.binds.len(), 4);
    }

    #[test]
    fn placeholders_count_past_nine() {
        let mut a = Sql::new("IN (");
        a.int_list(&(0..12).collect::<Vec<_>>()).push(")");
        assert_eq!(a.as_str(), "IN ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)");
        let mut b = Sql::new("x = ");
        b.int(1);
        b.append(a);
        assert!(b.as_str().ends_with("$12, $13)"), "{}", b.as_str());
        let mut c = Sql::new("");
        c.append(Sql::new("'$1 stays' AND $"));
        assert_eq!(c.as_str(), "'$1 stays' AND $");
    }
}
