//! SCIM resources on the wire: a stored principal as JSON, and a client's JSON as the data to
//! store. Input is checked strictly: an unknown attribute or schema, or a value of the wrong
//! type, is a 400 that names it.

use crate::error::ApiError;
use patchbay_core::ids::{new_application_id, parse_application_id, parse_numeric_id};
use patchbay_core::principal::{
    Entitlement, PrincipalKind, validate_display_name, validate_user_name,
};
use patchbay_store::{Email, PrincipalData, PrincipalRecord};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const SP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal";
/// Databricks' workspace extension of User; accepted in `schemas`, carries nothing.
pub const WORKSPACE_USER_EXTENSION: &str =
    "urn:ietf:params:scim:schemas:extension:workspace:2.0:User";

pub fn core_schema(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => USER_SCHEMA,
        PrincipalKind::Group => GROUP_SCHEMA,
        PrincipalKind::ServicePrincipal => SP_SCHEMA,
    }
}

/// A stored principal as its SCIM resource.
pub fn to_json(record: &PrincipalRecord) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([core_schema(record.kind)]));
    out.insert("id".into(), json!(record.id.to_string()));
    let mut put = |key: &str, value: Option<&String>| {
        if let Some(v) = value {
            out.insert(key.into(), json!(v));
        }
    };
    put("userName", record.user_name.as_ref());
    put("applicationId", record.application_id.as_ref());
    put("displayName", record.display_name.as_ref());
    put("externalId", record.external_id.as_ref());
    if record.kind == PrincipalKind::User {
        let mut name = Map::new();
        if let Some(g) = &record.given_name {
            name.insert("givenName".into(), json!(g));
        }
        if let Some(f) = &record.family_name {
            name.insert("familyName".into(), json!(f));
        }
        if !name.is_empty() {
            out.insert("name".into(), Value::Object(name));
        }
        if !record.emails.is_empty() {
            let emails: Vec<Value> = record
                .emails
                .iter()
                .map(|e| {
                    let mut m = json!({"value": e.value, "primary": e.primary});
                    if let Some(t) = &e.kind {
                        m["type"] = json!(t);
                    }
                    m
                })
                .collect();
            out.insert("emails".into(), Value::Array(emails));
        }
    }
    if let Some(active) = record.active {
        out.insert("active".into(), json!(active));
    }
    let values = |vs: &[String]| -> Value { vs.iter().map(|v| json!({"value": v})).collect() };
    if !record.entitlements.is_empty() {
        out.insert("entitlements".into(), values(&record.entitlements));
    }
    if !record.roles.is_empty() {
        out.insert("roles".into(), values(&record.roles));
    }
    if !record.groups.is_empty() {
        let groups: Vec<Value> = record
            .groups
            .iter()
            .map(|g| {
                json!({"display": g.display_name, "type": "direct", "value": g.id.to_string(),
                       "$ref": format!("Groups/{}", g.id)})
            })
            .collect();
        out.insert("groups".into(), Value::Array(groups));
    }
    if record.kind == PrincipalKind::Group && !record.members.is_empty() {
        let members: Vec<Value> = record
            .members
            .iter()
            .map(|m| {
                json!({"value": m.id.to_string(), "type": m.kind.resource_type(),
                       "$ref": format!("{}/{}", m.kind.endpoint(), m.id), "display": m.display})
            })
            .collect();
        out.insert("members".into(), Value::Array(members));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": record.kind.resource_type(),
            "created": rfc3339(record.created_at),
            "lastModified": rfc3339(record.updated_at),
            "location": format!("{}/{}", record.kind.endpoint(), record.id),
        }),
    );
    Value::Object(out)
}

fn rfc3339(millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message).scim_type("invalidValue")
}

/// What a representation read by [`from_json`] is for.
#[derive(Debug, Clone, Copy)]
pub enum Intent<'a> {
    /// A POST: absent `active` means active.
    Create,
    /// A PUT of this resource: absent `active` means active; immutable attributes must match.
    Replace(&'a PrincipalRecord),
    /// This resource after PATCH operations: an absent `active` was removed and stays unset.
    Patched(&'a PrincipalRecord),
}

/// Reads a resource sent by a client (or patched by one) into the data to store.
pub fn from_json(
    kind: PrincipalKind,
    body: &Value,
    intent: Intent<'_>,
) -> Result<PrincipalData, ApiError> {
    let existing = match intent {
        Intent::Create => None,
        Intent::Replace(r) | Intent::Patched(r) => Some(r),
    };
    let obj = body.as_object().ok_or_else(|| {
        invalid("The request body must be a JSON object").scim_type("invalidSyntax")
    })?;
    let mut data = PrincipalData::default();
    for (key, value) in obj {
        let k = key.to_ascii_lowercase();
        match (k.as_str(), kind) {
            ("schemas", _) => check_schemas(kind, value)?,
            // Server-assigned or read-only: accepted (clients echo them back) and ignored.
            ("id" | "meta" | "groups", _) => {}
            ("username", PrincipalKind::User) => data.user_name = string(key, value)?,
            ("applicationid", PrincipalKind::ServicePrincipal) => {
                data.application_id = string(key, value)?
                    .map(|s| {
                        parse_application_id(&s).ok_or_else(|| {
                            invalid(format!("applicationId '{s}' is not a valid UUID"))
                        })
                    })
                    .transpose()?;
            }
            ("displayname", _) => data.display_name = string(key, value)?,
            ("externalid", _) => data.external_id = string(key, value)?,
            ("active", PrincipalKind::User | PrincipalKind::ServicePrincipal) => {
                data.active = boolean(key, value)?;
            }
            ("name", PrincipalKind::User) => read_name(value, &mut data)?,
            ("emails", PrincipalKind::User) => data.emails = read_emails(value)?,
            ("entitlements", _) => {
                data.entitlements = read_values(key, value)?;
                if let Some(bad) = data
                    .entitlements
                    .iter()
                    .find(|e| Entitlement::parse(e).is_none())
                {
                    let known: Vec<&str> = Entitlement::ALL.iter().map(|e| e.as_str()).collect();
                    return Err(invalid(format!(
                        "Unknown entitlement '{bad}'; known entitlements are {}",
                        known.join(", ")
                    )));
                }
            }
            ("roles", _) => data.roles = read_values(key, value)?,
            ("members", PrincipalKind::Group) => data.members = Some(read_members(value)?),
            (ext, PrincipalKind::User) if ext == WORKSPACE_USER_EXTENSION.to_ascii_lowercase() => {}
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Unknown attribute '{key}' for resource type {}",
                    kind.resource_type()
                ))
                .scim_type("invalidSyntax"));
            }
        }
    }
    if kind != PrincipalKind::Group
        && data.active.is_none()
        && !matches!(intent, Intent::Patched(_))
    {
        data.active = Some(true);
    }
    finish(kind, &mut data, existing)?;
    Ok(data)
}

/// Required attributes, generated ones, immutability, and name rules.
fn finish(
    kind: PrincipalKind,
    data: &mut PrincipalData,
    existing: Option<&PrincipalRecord>,
) -> Result<(), ApiError> {
    match kind {
        PrincipalKind::User => {
            let user_name = data
                .user_name
                .clone()
                .ok_or_else(|| invalid("userName is required"))?;
            validate_user_name(&user_name).map_err(invalid)?;
            if existing.is_none() {
                // Databricks names a new user after its user name unless told otherwise.
                data.display_name.get_or_insert(user_name);
            }
        }
        PrincipalKind::ServicePrincipal => {
            match (existing, &data.application_id) {
                (None, None) => data.application_id = Some(new_application_id()),
                (None, Some(_)) => {}
                (Some(old), None) => data.application_id = old.application_id.clone(),
                (Some(old), Some(new)) => {
                    if old.application_id.as_ref() != Some(new) {
                        return Err(ApiError::bad_request("applicationId cannot be changed")
                            .scim_type("mutability"));
                    }
                }
            }
            // Always shown, so never empty: a nameless principal goes by its application id.
            if data.display_name.is_none() {
                data.display_name = data.application_id.clone();
            }
        }
        PrincipalKind::Group => {
            if data.display_name.is_none() {
                return Err(invalid("displayName is required"));
            }
            // The representation is the whole resource: no members listed means none.
            data.members.get_or_insert_with(Vec::new);
        }
    }
    if let Some(name) = &data.display_name {
        validate_display_name("displayName", name).map_err(invalid)?;
    }
    if let Some(ext) = &data.external_id {
        validate_display_name("externalId", ext).map_err(invalid)?;
    }
    Ok(())
}

fn check_schemas(kind: PrincipalKind, value: &Value) -> Result<(), ApiError> {
    let list = value
        .as_array()
        .ok_or_else(|| invalid("schemas must be a list of schema URNs"))?;
    for schema in list {
        let s = schema
            .as_str()
            .ok_or_else(|| invalid("schemas must be a list of schema URNs"))?;
        let known = s.eq_ignore_ascii_case(core_schema(kind))
            || (kind == PrincipalKind::User && s.eq_ignore_ascii_case(WORKSPACE_USER_EXTENSION));
        if !known {
            return Err(invalid(format!(
                "Unknown schema '{s}' for resource type {}",
                kind.resource_type()
            )));
        }
    }
    Ok(())
}

fn string(key: &str, value: &Value) -> Result<Option<String>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(invalid(format!("Attribute '{key}' must be a string"))),
    }
}

/// A boolean as clients send it: `false`, `"false"`, or Terraform's `[{"value": "false"}]`.
fn boolean(key: &str, value: &Value) -> Result<Option<bool>, ApiError> {
    let bad = || invalid(format!("Attribute '{key}' must be true or false"));
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Value::Array(items) if items.len() == 1 => match &items[0] {
            Value::Object(o) => boolean(key, o.get("value").unwrap_or(&Value::Null))?
                .map(Some)
                .ok_or_else(bad),
            other => boolean(key, other),
        },
        _ => Err(bad()),
    }
}

fn read_name(value: &Value, data: &mut PrincipalData) -> Result<(), ApiError> {
    let Some(obj) = value.as_object() else {
        return match value {
            Value::Null => Ok(()),
            _ => Err(invalid("Attribute 'name' must be an object")),
        };
    };
    for (key, v) in obj {
        match key.to_ascii_lowercase().as_str() {
            "givenname" => data.given_name = string(key, v)?,
            "familyname" => data.family_name = string(key, v)?,
            // Derived from the parts; accepted and not stored.
            "formatted" => {
                string(key, v)?;
            }
            _ => {
                return Err(
                    ApiError::bad_request(format!("Unknown attribute 'name.{key}'"))
                        .scim_type("invalidSyntax"),
                );
            }
        }
    }
    Ok(())
}

/// The elements of a multi-valued attribute; a single object is read as a list of one.
fn elements<'a>(key: &str, value: &'a Value) -> Result<Vec<&'a Map<String, Value>>, ApiError> {
    let items: Vec<&Value> = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![value],
        _ => {
            return Err(invalid(format!(
                "Attribute '{key}' must be a list of objects"
            )));
        }
    };
    items
        .into_iter()
        .map(|item| {
            item.as_object()
                .ok_or_else(|| invalid(format!("Attribute '{key}' must be a list of objects")))
        })
        .collect()
}

/// `[{"value": "…"}]` lists (entitlements, roles). Entries without a value are skipped, as
/// Terraform sends `[{}]` for "none".
fn read_values(key: &str, value: &Value) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for element in elements(key, value)? {
        for sub in element.keys() {
            if !matches!(
                sub.to_ascii_lowercase().as_str(),
                "value" | "display" | "type" | "primary" | "$ref"
            ) {
                return Err(
                    ApiError::bad_request(format!("Unknown attribute '{key}.{sub}'"))
                        .scim_type("invalidSyntax"),
                );
            }
        }
        let v = element
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("value"));
        if let Some(v) = string(
            &format!("{key}.value"),
            v.map(|(_, v)| v).unwrap_or(&Value::Null),
        )? {
            validate_display_name(&format!("{key}.value"), &v).map_err(invalid)?;
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

fn read_emails(value: &Value) -> Result<Vec<Email>, ApiError> {
    let mut out: Vec<Email> = Vec::new();
    for element in elements("emails", value)? {
        let mut email = Email {
            value: String::new(),
            kind: None,
            primary: false,
        };
        for (sub, v) in element {
            match sub.to_ascii_lowercase().as_str() {
                "value" => email.value = string("emails.value", v)?.unwrap_or_default(),
                "type" => email.kind = string("emails.type", v)?,
                "primary" => email.primary = boolean("emails.primary", v)?.unwrap_or(false),
                "display" => {}
                _ => {
                    return Err(
                        ApiError::bad_request(format!("Unknown attribute 'emails.{sub}'"))
                            .scim_type("invalidSyntax"),
                    );
                }
            }
        }
        if email.value.is_empty() {
            continue;
        }
        validate_display_name("emails.value", &email.value).map_err(invalid)?;
        if !out.iter().any(|e| e.value == email.value) {
            out.push(email);
        }
    }
    if out.iter().filter(|e| e.primary).count() > 1 {
        return Err(invalid("At most one of the emails may be primary"));
    }
    Ok(out)
}

fn read_members(value: &Value) -> Result<Vec<i64>, ApiError> {
    let mut out = Vec::new();
    for element in elements("members", value)? {
        let v = element
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("value"))
            .map(|(_, v)| v);
        let id = match v {
            Some(Value::String(s)) => parse_numeric_id(s),
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        }
        .ok_or_else(|| invalid("Each member needs a 'value' holding the member's id"))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}
