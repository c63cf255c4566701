//! SCIM PATCH bodies: parsing and applying never panic, and a failed apply changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay_core::scim::filter::AttrPath;
use patchbay_core::scim::patch::{apply, parse_patch_request, parse_path};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_path(text);
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(ops) = parse_patch_request(&body) else {
        return;
    };
    let original = serde_json::json!({"id": "1", "displayName": "g", "members": [{"value": "2"}],
                                      "emails": [{"value": "a@b.c", "type": "work", "primary": true}]});
    let mut resource = original.clone();
    let multi = |a: &AttrPath| {
        matches!(
            a.name.to_ascii_lowercase().as_str(),
            "members" | "emails" | "entitlements" | "roles"
        )
    };
    if apply(&mut resource, &ops, &multi).is_err() {
        assert_eq!(resource, original, "a failed PATCH must leave the resource as it was");
    }
});
