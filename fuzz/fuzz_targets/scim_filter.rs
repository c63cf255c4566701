//! The SCIM filter parser and evaluator never panic, whatever a client sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay_core::scim::filter::{matches, parse_filter};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(filter) = parse_filter(text)
    {
        let resource = serde_json::json!({"userName": "a@b.c", "emails": [{"value": "x", "type": "work"}],
                                          "active": true, "name": {"givenName": "G"}});
        let _ = matches(&filter, &resource);
    }
});
