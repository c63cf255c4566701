//! The SCIM 2.0 grammar patchbay accepts (RFC 7644): filters and PATCH operations.

pub mod filter;
pub mod patch;
