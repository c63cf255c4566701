//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5): which attributes a response
//! carries. Attributes that are always returned stay whatever is asked.

use super::repr::Resource;
use patchbay_core::principal::PrincipalKind;
use serde::Serialize;
use serde_json::{Map, Value};

/// A resource as a response shows it: typed when it is whole, a `Value` once projected.
/// A projection removes attributes and sub-attributes by the names a client gave, in any
/// case: it works on the resource as a document, not on the struct that writes it.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Shown<'a> {
    Whole(Box<Resource<'a>>),
    Projected(Value),
}

/// A parsed `attributes` or `excludedAttributes` list.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    only: Option<Vec<(String, Option<String>)>>,
    excluded: Vec<(String, Option<String>)>,
}

impl Projection {
    pub fn new(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        Projection {
            only: attributes.map(parse_list).filter(|l| !l.is_empty()),
            excluded: excluded.map(parse_list).unwrap_or_default(),
        }
    }

    /// Applies the projection to one resource, written as it is when the projection keeps
    /// everything (no `Value` built and taken apart again).
    pub fn show<'a>(&self, kind: PrincipalKind, resource: Resource<'a>) -> Shown<'a> {
        if self.keeps_whole(kind) {
            Shown::Whole(Box::new(resource))
        } else {
            let value = serde_json::to_value(resource).unwrap_or(Value::Null);
            Shown::Projected(self.apply(kind, value))
        }
    }

    /// Whether a resource of this kind is shown whole, exactly as [`Resource`] writes it.
    pub fn keeps_whole(&self, kind: PrincipalKind) -> bool {
        self.only.is_none() && self.excluded.is_empty() && kind != PrincipalKind::Group
    }

    /// Applies the projection to one resource.
    pub fn apply(&self, kind: PrincipalKind, resource: Value) -> Value {
        let Value::Object(obj) = resource else {
            return resource;
        };
        let always = always_returned(kind);
        let mut out = Map::new();
        for (key, value) in obj {
            let k = key.to_ascii_lowercase();
            if always.contains(&k.as_str()) {
                out.insert(key, value);
                continue;
            }
            let value = match &self.only {
                None => Some(value),
                Some(only) => keep_only(only, &k, value),
            };
            let value = value.and_then(|v| drop_excluded(&self.excluded, &k, v));
            if let Some(v) = value {
                out.insert(key, v);
            }
        }
        self.strip_returned_on_request(kind, &mut out);
        Value::Object(out)
    }

    /// Sub-attributes that are `returned: request` appear only when `attributes` names them:
    /// a group member's `display`, so that what a client sets is exactly what it reads back.
    fn strip_returned_on_request(&self, kind: PrincipalKind, out: &mut Map<String, Value>) {
        if kind != PrincipalKind::Group {
            return;
        }
        let asked = self.only.as_ref().is_some_and(|only| {
            only.iter().any(|(a, s)| a == "members" && s.as_deref() == Some("display"))
        });
        if asked {
            return;
        }
        if let Some(Value::Array(members)) = out.get_mut("members") {
            for member in members {
                if let Value::Object(m) = member {
                    m.remove("display");
                }
            }
        }
    }
}

fn always_returned(kind: PrincipalKind) -> &'static [&'static str] {
    match kind {
        PrincipalKind::User => &["id", "schemas", "username"],
        PrincipalKind::ServicePrincipal => &["id", "schemas", "applicationid", "displayname"],
        PrincipalKind::Group => &["id", "schemas", "displayname"],
    }
}

/// `name.givenName, urn:…:User:emails` → `[("name", Some("givenname")), ("emails", None)]`.
fn parse_list(s: &str) -> Vec<(String, Option<String>)> {
    s.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let a = a.to_ascii_lowercase();
            // Strip a core schema URN prefix: the attribute follows the last ':'.
            let a = if a.starts_with("urn:") {
                a.rsplit(':').next().unwrap_or_default().to_owned()
            } else {
                a
            };
            match a.split_once('.') {
                Some((attr, sub)) => (attr.to_owned(), Some(sub.to_owned())),
                None => (a, None),
            }
        })
        .collect()
}

/// The sub-attributes of attribute `key` that a parsed list names; `*` where it names the
/// whole attribute.
fn named_subs<'a>(list: &'a [(String, Option<String>)], key: &str) -> Vec<&'a str> {
    list.iter().filter(|(a, _)| a == key).map(|(_, s)| s.as_deref().unwrap_or("*")).collect()
}

fn keep_only(only: &[(String, Option<String>)], key: &str, value: Value) -> Option<Value> {
    let subs = named_subs(only, key);
    if subs.is_empty() {
        None
    } else if subs.contains(&"*") {
        Some(value)
    } else {
        Some(map_subs(value, |sub| subs.contains(&sub)))
    }
}

fn drop_excluded(excluded: &[(String, Option<String>)], key: &str, value: Value) -> Option<Value> {
    let subs = named_subs(excluded, key);
    if subs.contains(&"*") {
        None
    } else if subs.is_empty() {
        Some(value)
    } else {
        Some(map_subs(value, |sub| !subs.contains(&sub)))
    }
}

/// Keeps the sub-attributes for which `keep` holds, in an object or in each object of a list.
fn map_subs(value: Value, keep: impl Fn(&str) -> bool + Copy) -> Value {
    let filter = |obj: Map<String, Value>| -> Value {
        Value::Object(obj.into_iter().filter(|(k, _)| keep(&k.to_ascii_lowercase())).collect())
    };
    match value {
        Value::Object(obj) => filter(obj),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| match i {
                    Value::Object(o) => filter(o),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sp() -> Value {
        json!({"schemas": ["s"], "id": "1", "applicationId": "a", "displayName": "D",
               "active": true, "entitlements": [{"value": "x"}], "meta": {"resourceType": "ServicePrincipal"}})
    }

    #[test]
    fn attributes_keeps_asked_and_always_returned() {
        let p = Projection::new(Some("active"), None);
        let out = p.apply(PrincipalKind::ServicePrincipal, sp());
        assert_eq!(
            out,
            json!({"schemas": ["s"], "id": "1", "applicationId": "a", "displayName": "D", "active": true})
        );
    }

    #[test]
    fn excluded_attributes_drops_all_but_always_returned() {
        let p = Projection::new(None, Some("entitlements,applicationId,meta"));
        let out = p.apply(PrincipalKind::ServicePrincipal, sp());
        assert!(out.get("entitlements").is_none() && out.get("meta").is_none());
        assert_eq!(out["applicationId"], "a");
    }

    #[test]
    fn member_display_only_on_request() {
        let group =
            json!({"id": "1", "displayName": "g", "members": [{"value": "2", "display": "d"}]});
        let plain = Projection::new(None, None).apply(PrincipalKind::Group, group.clone());
        assert_eq!(plain["members"], json!([{"value": "2"}]));
        let asked = Projection::new(Some("members.display,members.value"), None)
            .apply(PrincipalKind::Group, group);
        assert_eq!(asked["members"], json!([{"value": "2", "display": "d"}]));
    }

    #[test]
    fn sub_attributes_and_urn_prefixes() {
        let user = json!({"id": "1", "userName": "u@x", "name": {"givenName": "G", "familyName": "F"},
                          "emails": [{"value": "u@x", "type": "work"}]});
        let p = Projection::new(
            Some("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName,emails.value"),
            None,
        );
        let out = p.apply(PrincipalKind::User, user);
        assert_eq!(
            out,
            json!({"id": "1", "userName": "u@x", "name": {"givenName": "G"}, "emails": [{"value": "u@x"}]})
        );
    }
}
