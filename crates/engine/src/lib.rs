//! SQL on patchbay's warehouses: Apache DataFusion executes, and every table is a Delta Lake
//! table stored under one root (a directory, or a bucket of an S3-compatible object store).
//!
//! The engine knows nothing of principals, grants or patchbay's store. A statement goes through
//! three steps, and the caller (the server) acts between them:
//!
//! 1. [`Statement::parse`] reads one statement with the Databricks dialect and says what kind it
//!    is and which objects it reads and writes ([`Statement::objects`]), CTE names excluded;
//! 2. the caller resolves those names in its catalog, checks the principal's privileges on each
//!    (views included: a view's own references are found with [`Statement::parse`] on its text),
//!    and refuses the statement before anything runs;
//! 3. [`Engine::run`] executes it against exactly the tables the caller bound, by id. A table
//!    the caller did not bind does not exist for the statement.
//!
//! Nothing a statement says can name a file: tables live at `<root>/<table id>`, and statements
//! that read or write locations of their own choosing are refused at parse time.

mod bounded;
mod dialect;
mod error;
mod history;
mod lookup;
mod names;
mod optimize;
mod restore;
mod result_names;
mod run;
mod spark;
mod spark_element;
mod spark_hash;
mod spark_operators;
mod spark_syntax;
mod spark_text;
mod spark_time;
mod statement;
mod storage;
mod types;
mod vacuum;

pub use error::EngineError;
pub use history::TableDetail;
pub use names::{QualifiedName, backticked};
pub use run::{Binding, Engine, Job, Limits, Output, Source};
pub use spark_text::json_texts;
pub use statement::{Access, AsOf, Kind, MAX_NESTING, ObjectUse, Statement};
pub use storage::BUCKET_SCHEMES;
pub use types::{Column, arrow_type, databricks_type_name};
pub use vacuum::{MIN_RETAIN_HOURS, Vacuum};

/// Arrow's record batches and schemas, as the engine's results carry them.
pub use deltalake::arrow;
