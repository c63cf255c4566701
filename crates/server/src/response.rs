//! What the API families' response types share. Each family declares its answers as
//! `Serialize` structs next to its handlers; fields are declared in the order they go on the
//! wire (alphabetical where an answer was first written as a `json!` map, so its bytes stayed
//! the same), and an optional field is left out rather than sent as `null` unless the API
//! says otherwise.

use serde::Serialize;

/// `{}`: the answer of a call that changes something and has nothing to report.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Empty {}

/// The `{}` answer, ready to return from a handler.
pub(crate) fn empty() -> axum::Json<Empty> {
    axum::Json(Empty {})
}
