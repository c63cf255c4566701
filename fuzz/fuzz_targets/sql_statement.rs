//! The SQL statements accepted on /api/2.0/sql/statements: the parser never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = patchbay_core::sql_statement::parse(text);
    }
});
