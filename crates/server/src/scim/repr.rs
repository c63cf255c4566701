//! SCIM resources on the wire: a stored principal as JSON, and a client's JSON as the data to
//! store. Input is checked strictly: an unknown attribute or schema, or a value of the wrong
//! type, is a 400 that names it.

use crate::error::ApiError;
use patchbay_core::PrincipalId;
use patchbay_core::ids::{new_application_id, parse_application_id};
use patchbay_core::principal::{
    Entitlement, PrincipalKind, validate_display_name, validate_user_name,
};
use patchbay_store::{Email, PrincipalData, PrincipalRecord};
use serde::Serialize;
use serde_json::{Map, Value};
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

/// A stored principal as its SCIM resource; `base` is the absolute URL of the SCIM API
/// (see [`Resource::of`]).
pub fn to_json(record: &PrincipalRecord, base: &str) -> Value {
    serde_json::to_value(Resource::of(record, base)).unwrap_or(Value::Null)
}

/// A stored principal as its SCIM resource, ready to serialize: what [`to_json`] returns, and
/// what a response that keeps every attribute writes directly, without a `Value` in between.
/// Fields are in alphabetical order, as a `Value` object's keys are, so both write the same
/// bytes.
#[derive(Serialize)]
pub struct Resource<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    active: Option<bool>,
    #[serde(rename = "applicationId", skip_serializing_if = "Option::is_none")]
    application_id: Option<&'a str>,
    #[serde(rename = "displayName", skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    emails: Vec<EmailOut<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    entitlements: Vec<ValueOut<'a>>,
    #[serde(rename = "externalId", skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    groups: Vec<RefOut<'a>>,
    id: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    members: Vec<RefOut<'a>>,
    meta: Meta,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<NameOut<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    roles: Vec<ValueOut<'a>>,
    schemas: [&'static str; 1],
    #[serde(rename = "userName", skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
}

#[derive(Serialize)]
struct EmailOut<'a> {
    primary: bool,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    value: &'a str,
}

#[derive(Serialize)]
struct ValueOut<'a> {
    value: &'a str,
}

/// A group the principal is in, or a member of a group.
#[derive(Serialize)]
struct RefOut<'a> {
    #[serde(rename = "$ref")]
    reference: String,
    display: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    value: String,
}

#[derive(Serialize)]
struct Meta {
    created: String,
    #[serde(rename = "lastModified")]
    last_modified: String,
    location: String,
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
}

#[derive(Serialize)]
struct NameOut<'a> {
    #[serde(rename = "familyName", skip_serializing_if = "Option::is_none")]
    family_name: Option<&'a str>,
    #[serde(rename = "givenName", skip_serializing_if = "Option::is_none")]
    given_name: Option<&'a str>,
}

impl<'a> Resource<'a> {
    /// The resource of `record`. `base` is the absolute URL of the SCIM API
    /// (`{public URL}/api/2.0/preview/scim/v2`): `meta.location` is the resource's URI under
    /// it, the same URI a create answers in `Location` (RFC 7644 §3.1).
    ///
    /// A member's `$ref` is that same absolute URI of the member: members are written by
    /// clients, who take the URI from the member's `meta.location`, and what they write must
    /// read back unchanged (scim2-tester checks exactly that). `groups[].$ref` is read-only
    /// and stays relative (`Groups/111`), as Databricks shows it.
    pub fn of(record: &'a PrincipalRecord, base: &str) -> Resource<'a> {
        let is_user = record.kind == PrincipalKind::User;
        let a = &record.attributes;
        let values = |vs: &'a [String]| vs.iter().map(|v| ValueOut { value: v }).collect();
        let has_name = a.given_name.is_some() || a.family_name.is_some();
        let name = (is_user && has_name).then_some(NameOut {
            family_name: a.family_name.as_deref(),
            given_name: a.given_name.as_deref(),
        });
        Resource {
            active: a.active,
            application_id: a.application_id.as_deref(),
            display_name: a.display_name.as_deref(),
            emails: if is_user {
                a.emails
                    .iter()
                    .map(|e| EmailOut {
                        primary: e.primary,
                        kind: e.kind.as_deref(),
                        value: &e.value,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            entitlements: values(&a.entitlements),
            external_id: a.external_id.as_deref(),
            groups: record
                .groups
                .iter()
                .map(|g| RefOut {
                    reference: format!("Groups/{}", g.id),
                    display: &g.display_name,
                    kind: "direct",
                    value: g.id.to_string(),
                })
                .collect(),
            id: record.id.to_string(),
            members: if record.kind == PrincipalKind::Group {
                record
                    .members
                    .iter()
                    .map(|m| RefOut {
                        reference: location(base, m.kind, m.id),
                        display: &m.display,
                        kind: m.kind.resource_type(),
                        value: m.id.to_string(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            meta: Meta {
                created: rfc3339(record.created_at),
                last_modified: rfc3339(record.updated_at),
                location: location(base, record.kind, record.id),
                resource_type: record.kind.resource_type(),
            },
            name,
            roles: values(&a.roles),
            schemas: [core_schema(record.kind)],
            user_name: a.user_name.as_deref(),
        }
    }

    /// `/Me` of a service principal: shown as a user named by its application id.
    pub fn shown_as_user(mut self, user_name: &'a str) -> Resource<'a> {
        self.application_id = None;
        self.user_name = Some(user_name);
        self.schemas = [USER_SCHEMA];
        self
    }
}

/// The absolute URI of a resource: `{base}/{Users|ServicePrincipals|Groups}/{id}`.
pub fn location(base: &str, kind: PrincipalKind, id: PrincipalId) -> String {
    format!("{base}/{}/{id}", kind.endpoint())
}

pub(crate) fn rfc3339(millis: i64) -> String {
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
            ("username", PrincipalKind::User) => data.attributes.user_name = string(key, value)?,
            ("applicationid", PrincipalKind::ServicePrincipal) => {
                data.attributes.application_id = string(key, value)?
                    .map(|s| {
                        parse_application_id(&s).ok_or_else(|| {
                            invalid(format!("applicationId '{s}' is not a valid UUID"))
                        })
                    })
                    .transpose()?;
            }
            ("displayname", _) => data.attributes.display_name = string(key, value)?,
            ("externalid", _) => data.attributes.external_id = string(key, value)?,
            ("active", PrincipalKind::User | PrincipalKind::ServicePrincipal) => {
                data.attributes.active = boolean(key, value)?;
            }
            ("name", PrincipalKind::User) => read_name(value, &mut data)?,
            ("emails", PrincipalKind::User) => data.attributes.emails = read_emails(value)?,
            ("entitlements", _) => {
                data.attributes.entitlements = read_values(key, value)?;
                if let Some(bad) =
                    data.attributes.entitlements.iter().find(|e| Entitlement::parse(e).is_none())
                {
                    let known: Vec<&str> = Entitlement::ALL.iter().map(|e| e.as_str()).collect();
                    return Err(invalid(format!(
                        "Unknown entitlement '{bad}'; known entitlements are {}",
                        known.join(", ")
                    )));
                }
            }
            ("roles", _) => data.attributes.roles = read_values(key, value)?,
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
        && data.attributes.active.is_none()
        && !matches!(intent, Intent::Patched(_))
    {
        data.attributes.active = Some(true);
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
            let user_name =
                data.attributes.user_name.clone().ok_or_else(|| invalid("userName is required"))?;
            validate_user_name(&user_name).map_err(invalid)?;
            if existing.is_none() {
                // Databricks names a new user after its user name unless told otherwise.
                data.attributes.display_name.get_or_insert(user_name);
            }
        }
        PrincipalKind::ServicePrincipal => {
            match (existing, &data.attributes.application_id) {
                (None, None) => data.attributes.application_id = Some(new_application_id()),
                (None, Some(_)) => {}
                (Some(old), None) => {
                    data.attributes.application_id = old.attributes.application_id.clone()
                }
                (Some(old), Some(new)) => {
                    if old.attributes.application_id.as_ref() != Some(new) {
                        return Err(ApiError::bad_request("applicationId cannot be changed")
                            .scim_type("mutability"));
                    }
                }
            }
            // Always shown, so never empty: a nameless principal goes by its application id.
            if data.attributes.display_name.is_none() {
                data.attributes.display_name = data.attributes.application_id.clone();
            }
        }
        PrincipalKind::Group => {
            if data.attributes.display_name.is_none() {
                return Err(invalid("displayName is required"));
            }
            // The representation is the whole resource: no members listed means none.
            data.members.get_or_insert_with(Vec::new);
        }
    }
    if let Some(name) = &data.attributes.display_name {
        validate_display_name("displayName", name).map_err(invalid)?;
    }
    if let Some(ext) = &data.attributes.external_id {
        validate_display_name("externalId", ext).map_err(invalid)?;
    }
    Ok(())
}

fn check_schemas(kind: PrincipalKind, value: &Value) -> Result<(), ApiError> {
    let list = value.as_array().ok_or_else(|| invalid("schemas must be a list of schema URNs"))?;
    for schema in list {
        let s = schema.as_str().ok_or_else(|| invalid("schemas must be a list of schema URNs"))?;
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
            Value::Object(o) => {
                boolean(key, o.get("value").unwrap_or(&Value::Null))?.map(Some).ok_or_else(bad)
            }
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
            "givenname" => data.attributes.given_name = string(key, v)?,
            "familyname" => data.attributes.family_name = string(key, v)?,
            // Derived from the parts; accepted and not stored.
            "formatted" => {
                string(key, v)?;
            }
            _ => {
                return Err(ApiError::bad_request(format!("Unknown attribute 'name.{key}'"))
                    .scim_type("invalidSyntax"));
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
            return Err(invalid(format!("Attribute '{key}' must be a list of objects")));
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
                return Err(ApiError::bad_request(format!("Unknown attribute '{key}.{sub}'"))
                    .scim_type("invalidSyntax"));
            }
        }
        let v = element.iter().find(|(k, _)| k.eq_ignore_ascii_case("value"));
        if let Some(v) = string(&format!("{key}.value"), v.map(|(_, v)| v).unwrap_or(&Value::Null))?
        {
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
        let mut email = Email { value: String::new(), kind: None, primary: false };
        for (sub, v) in element {
            match sub.to_ascii_lowercase().as_str() {
                "value" => email.value = string("emails.value", v)?.unwrap_or_default(),
                "type" => email.kind = string("emails.type", v)?,
                "primary" => email.primary = boolean("emails.primary", v)?.unwrap_or(false),
                "display" => {}
                _ => {
                    return Err(ApiError::bad_request(format!("Unknown attribute 'emails.{sub}'"))
                        .scim_type("invalidSyntax"));
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

/// Members by id. A member's `value` is the SCIM `id` of a user, service principal or group:
/// a decimal number (as a string or a number). A value that cannot be one is refused here,
/// saying what it is; one that is a number but names no principal of the workspace is
/// refused by the store.
fn read_members(value: &Value) -> Result<Vec<PrincipalId>, ApiError> {
    let mut out = Vec::new();
    for element in elements("members", value)? {
        let v = element.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")).map(|(_, v)| v);
        let id = match v {
            None | Some(Value::Null) => {
                return Err(invalid(
                    "A member has no 'value': give the SCIM id of the user, service principal \
                     or group to add.",
                ));
            }
            Some(Value::String(s)) => PrincipalId::parse(s).ok_or_else(|| {
                invalid(format!(
                    "Member value '{s}' is not a member id: the value is the SCIM id (a decimal \
                     number, e.g. \"7535194597985784\") of a user, service principal or group \
                     of this workspace, not a name, e-mail or application id."
                ))
            })?,
            Some(Value::Number(n)) => {
                n.as_i64().filter(|n| *n > 0).map(PrincipalId::new).ok_or_else(|| {
                    invalid(format!(
                        "Member value {n} is not a member id: ids are positive whole numbers."
                    ))
                })?
            }
            Some(other) => {
                return Err(invalid(format!(
                    "Member value {other} is not a member id: give the id as a string, e.g. \
                     {{\"value\": \"7535194597985784\"}}."
                )));
            }
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use patchbay_store::{GroupRef, MemberRef, PrincipalAttributes};

    pub(in crate::scim) const BASE: &str = "https://patchbay.example.com/api/2.0/preview/scim/v2";

    /// A principal with every attribute set.
    pub(in crate::scim) fn record(kind: PrincipalKind) -> PrincipalRecord {
        PrincipalRecord {
            id: PrincipalId::new(42),
            workspace_id: patchbay_core::WorkspaceId::new(7),
            kind,
            attributes: PrincipalAttributes {
                user_name: Some("ana@example.com".into()),
                application_id: Some("9f0c5e2a-1b7d-4c3e-8a6f-2d4b1c0e9a77".into()),
                display_name: Some("Ana \"Q\" Li".into()),
                given_name: Some("Ana".into()),
                family_name: None,
                active: Some(true),
                external_id: Some("ext-1".into()),
                entitlements: vec!["workspace-access".into(), "databricks-sql-access".into()],
                roles: vec!["role/x".into()],
                emails: vec![Email {
                    value: "ana@example.com".into(),
                    kind: Some("work".into()),
                    primary: true,
                }],
            },
            builtin: None,
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_123_456,
            groups: vec![GroupRef { id: PrincipalId::new(3), display_name: "admins".into() }],
            members: vec![MemberRef {
                id: PrincipalId::new(9),
                kind: PrincipalKind::ServicePrincipal,
                display: "FIVETRAN_USER".into(),
            }],
        }
    }

    /// A response that keeps every attribute writes the resource directly; one that projects
    /// goes through `to_json`. Both must be the same document, byte for byte.
    #[test]
    fn direct_and_value_writes_are_identical() {
        for kind in [PrincipalKind::User, PrincipalKind::ServicePrincipal, PrincipalKind::Group] {
            let record = record(kind);
            let direct = serde_json::to_string(&Resource::of(&record, BASE)).unwrap();
            let via_value = serde_json::to_string(&to_json(&record, BASE)).unwrap();
            assert_eq!(direct, via_value, "{kind:?}");
        }
        let record = record(PrincipalKind::ServicePrincipal);
        let me = serde_json::to_value(Resource::of(&record, BASE).shown_as_user("app-id")).unwrap();
        assert_eq!(me["userName"], "app-id");
        assert_eq!(me["schemas"], serde_json::json!([USER_SCHEMA]));
        assert!(me.get("applicationId").is_none());
    }

    #[test]
    fn kinds_carry_only_their_attributes() {
        let sp = to_json(&record(PrincipalKind::ServicePrincipal), BASE);
        assert!(sp.get("emails").is_none() && sp.get("name").is_none());
        assert!(sp.get("members").is_none());
        let group = to_json(&record(PrincipalKind::Group), BASE);
        assert_eq!(group["members"][0]["$ref"], format!("{BASE}/ServicePrincipals/9"));
        assert_eq!(group["members"][0]["type"], "ServicePrincipal");
        let user = to_json(&record(PrincipalKind::User), BASE);
        assert_eq!(user["name"], serde_json::json!({"givenName": "Ana"}));
        assert_eq!(user["groups"][0]["$ref"], "Groups/3");
        assert_eq!(user["meta"]["location"], format!("{BASE}/Users/42"));
        assert_eq!(sp["meta"]["location"], format!("{BASE}/ServicePrincipals/42"));
        assert_eq!(group["meta"]["location"], format!("{BASE}/Groups/42"));
    }
}
