//! The domain of patchbay, free of IO: validated ids and names, secrets, who may do what, and the
//! SCIM grammar. Everything here is a pure function, unit-tested on its own.

pub mod access;
pub mod catalog;
pub mod compute;
pub mod ids;
pub mod jwt;
pub mod markup;
pub mod oauth;
pub mod partner;
pub mod principal;
pub mod scim;
pub mod secrets;
pub mod time;
pub mod token;

pub use ids::{JobId, PrincipalId, RunId, WorkspaceId};
