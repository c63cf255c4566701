//! Three-part names: `catalog.schema.table`, with the session's defaults filling what a
//! statement leaves out.

use deltalake::datafusion::common::TableReference;
use std::fmt;

/// A table or view's full name, lower-cased as Unity Catalog stores names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedName {
    pub catalog: String,
    pub schema: String,
    pub table: String,
}

impl QualifiedName {
    pub fn new(catalog: &str, schema: &str, table: &str) -> QualifiedName {
        QualifiedName {
            catalog: catalog.to_lowercase(),
            schema: schema.to_lowercase(),
            table: table.to_lowercase(),
        }
    }

    /// The full name of `reference` as written in a statement run with these defaults.
    pub(crate) fn resolve(
        reference: &TableReference,
        catalog: &str,
        schema: &str,
    ) -> QualifiedName {
        match reference {
            TableReference::Bare { table } => QualifiedName::new(catalog, schema, table),
            TableReference::Partial { schema: s, table } => QualifiedName::new(catalog, s, table),
            TableReference::Full { catalog: c, schema: s, table } => {
                QualifiedName::new(c, s, table)
            }
        }
    }
}

impl fmt::Display for QualifiedName {
    /// Backticked, so that any name reads back as the same three parts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (catalog, schema, table) = (&self.catalog, &self.schema, &self.table);
        write!(f, "{}.{}.{}", backticked(catalog), backticked(schema), backticked(table))
    }
}

/// One part of a name in backticks (a backtick in it doubled), so that it reads back as
/// itself whatever it holds.
pub fn backticked(part: &str) -> String {
    format!("`{}`", part.replace('`', "``"))
}
