//! Whole SCIM resources as last written, by principal. Reading a user or service principal
//! again (every SDK client asks `/Me` who it is) finds the same record more often than not; its
//! JSON is then a copy of the bytes already made rather than a new rendering. An entry serves
//! only a record equal to the one it was made from, so a change shows at once.

use super::repr::Resource;
use axum::body::Bytes;
use patchbay_core::PrincipalId;
use patchbay_store::PrincipalRecord;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug)]
pub struct Renderings {
    /// The absolute URL of the SCIM API, which every `meta.location` starts with.
    base: String,
    /// By principal id and whether it is shown as a user (a service principal's `/Me`).
    entries: Mutex<HashMap<(PrincipalId, bool), Rendering>>,
}

#[derive(Debug)]
struct Rendering {
    record: PrincipalRecord,
    as_user: Option<String>,
    body: Bytes,
}

/// Entries kept; when full, the map starts over.
const KEPT: usize = 1024;

impl Renderings {
    /// Renderings of resources whose locations are under `base` (see [`Resource::of`]).
    pub fn new(base: String) -> Renderings {
        Renderings { base, entries: Mutex::default() }
    }

    /// The absolute URL of the SCIM API.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The JSON of `record`'s whole resource, shown as a user named `as_user` if given.
    pub fn whole(&self, record: &PrincipalRecord, as_user: Option<&str>) -> Bytes {
        let key = (record.id, as_user.is_some());
        if let Some(made) = self.lock().get(&key)
            && made.record == *record
            && made.as_user.as_deref() == as_user
        {
            return made.body.clone();
        }
        let mut resource = Resource::of(record, &self.base);
        if let Some(name) = as_user {
            resource = resource.shown_as_user(name);
        }
        let mut body = Vec::with_capacity(1024);
        serde_json::to_writer(&mut body, &resource).expect("a resource serializes");
        let body = Bytes::from(body);
        let mut entries = self.lock();
        if entries.len() >= KEPT {
            entries.clear();
        }
        let made = Rendering {
            record: record.clone(),
            as_user: as_user.map(str::to_owned),
            body: body.clone(),
        };
        entries.insert(key, made);
        body
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(PrincipalId, bool), Rendering>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::repr::tests::{BASE, record};
    use patchbay_core::principal::PrincipalKind;

    #[test]
    fn an_unchanged_record_gets_the_same_bytes_and_a_changed_one_new_bytes() {
        let renderings = Renderings::new(BASE.to_owned());
        let mut ana = record(PrincipalKind::User);
        let first = renderings.whole(&ana, None);
        assert_eq!(
            first,
            serde_json::to_vec(&Resource::of(&ana, BASE)).unwrap(),
            "the resource as written directly"
        );
        let again = renderings.whole(&ana, None);
        assert_eq!(again.as_ptr(), first.as_ptr(), "a copy of the same bytes");

        ana.attributes.display_name = Some("Ana Renamed".into());
        let renamed = renderings.whole(&ana, None);
        assert_eq!(renamed, serde_json::to_vec(&Resource::of(&ana, BASE)).unwrap());
        assert_ne!(renamed, first);
    }

    #[test]
    fn a_service_principal_shown_as_a_user_is_kept_apart() {
        let renderings = Renderings::new(BASE.to_owned());
        let sp = record(PrincipalKind::ServicePrincipal);
        let plain = renderings.whole(&sp, None);
        let as_user = renderings.whole(&sp, Some("app-id"));
        let as_user: serde_json::Value = serde_json::from_slice(&as_user).unwrap();
        assert_eq!(as_user["userName"], "app-id");
        let plain: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert!(plain.get("userName").is_none() || plain["userName"] != "app-id");
        assert_eq!(plain["applicationId"], sp.attributes.application_id.as_deref().unwrap());
        let other_name = renderings.whole(&sp, Some("other"));
        let other_name: serde_json::Value = serde_json::from_slice(&other_name).unwrap();
        assert_eq!(other_name["userName"], "other");
    }
}
