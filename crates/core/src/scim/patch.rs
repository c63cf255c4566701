//! SCIM PATCH (RFC 7644 §3.5.2): parsing a `PatchOp` request body into operations, and applying
//! them to a resource held as JSON.
//!
//! Applying is all-or-nothing and knows nothing of mutability or types: which attributes are
//! multi-valued comes from a [`PatchSchema`]; refusing changes to read-only attributes and
//! interpreting values (e.g. Terraform's `"active": [{"value": "false"}]`) is the caller's job,
//! before or after. Nothing here panics, whatever the input.

use serde_json::{Map, Value};

use super::filter::{self, AttrPath, Filter, get_ci, is_core_schema_urn, starts_with_ci};

/// The URN every PATCH request body declares in `schemas`.
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Most operations in one PATCH request: bounds the work one request can ask for.
pub const MAX_PATCH_OPERATIONS: usize = 1000;

const INVALID_PATH: &str = "invalidPath";
const NO_TARGET: &str = "noTarget";
const INVALID_VALUE: &str = "invalidValue";
const INVALID_SYNTAX: &str = "invalidSyntax";

/// Where a PATCH operation applies: `members`, `name.givenName`, `members[value eq "42"]`,
/// `emails[type eq "work"].value`, or any of these behind a schema URN.
///
/// `attr` is always the attribute itself (its `sub` is `None`); the sub-attribute, whether
/// written `name.givenName` or `emails[type eq "work"].value`, is in `sub`, so that each path
/// has exactly one representation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its schema URN, if written), without sub-attribute.
    pub attr: AttrPath,
    /// The condition selecting elements of a multi-valued attribute, from `attr[...]`.
    pub value_filter: Option<Filter>,
    /// The sub-attribute the operation targets, inside the attribute or its selected elements.
    pub sub: Option<String>,
}

/// Parses a PATCH `path`; errors carry scimType `invalidPath`.
pub fn parse_path(s: &str) -> Result<PatchPath, PatchError> {
    let (mut attr, value_filter, sub_after_filter) =
        filter::parse_patch_path(s).map_err(|e| PatchError::new(INVALID_PATH, e.message))?;
    let sub = match value_filter {
        Some(_) => sub_after_filter,
        None => attr.sub.take(),
    };
    Ok(PatchPath { attr, value_filter, sub })
}

/// The three PATCH operations of RFC 7644 §3.5.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchOpKind {
    /// Add a value, appending to multi-valued attributes.
    Add,
    /// Remove an attribute, some of its elements, or a sub-attribute.
    Remove,
    /// Replace a value.
    Replace,
}

impl PatchOpKind {
    /// The operation named by `op`, in any case ("add", "Add", "ADD"): Azure AD capitalizes.
    pub fn parse(op: &str) -> Option<PatchOpKind> {
        [PatchOpKind::Add, PatchOpKind::Remove, PatchOpKind::Replace]
            .into_iter()
            .find(|kind| op.eq_ignore_ascii_case(kind.as_str()))
    }

    /// The operation's name in lower case, as the RFC writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Remove => "remove",
            PatchOpKind::Replace => "replace",
        }
    }
}

/// One element of a PATCH request's `Operations`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// What to do.
    pub op: PatchOpKind,
    /// Where; `None` means the resource itself (for add and replace).
    pub path: Option<PatchPath>,
    /// The value to add or replace with; for remove, optionally the elements to remove.
    pub value: Option<Value>,
}

/// Why a PATCH request was refused: the RFC 7644 `scimType` and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PatchError {
    /// `invalidPath`, `noTarget`, `invalidValue`, `invalidSyntax` or `mutability`.
    pub scim_type: &'static str,
    /// The whole message, ready for a SCIM error's `detail`.
    pub message: String,
}

impl PatchError {
    fn new(scim_type: &'static str, message: impl Into<String>) -> Self {
        PatchError { scim_type, message: message.into() }
    }

    /// The same error, saying which operation it is about.
    fn in_operation(self, index: usize) -> Self {
        PatchError {
            scim_type: self.scim_type,
            message: format!("Operations[{index}]: {}", self.message),
        }
    }
}

/// Which attributes are multi-valued, so `add` appends instead of replacing even when the
/// resource lacks the attribute.
pub trait PatchSchema {
    /// Whether the attribute (never with a sub-attribute) holds an array of values.
    fn is_multi_valued(&self, attr: &AttrPath) -> bool;
}

/// Any `Fn(&AttrPath) -> bool` is a schema, so that callers and tests can pass a closure.
impl<F: Fn(&AttrPath) -> bool> PatchSchema for F {
    fn is_multi_valued(&self, attr: &AttrPath) -> bool {
        self(attr)
    }
}

/// Parse the PatchOp request body: {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
/// "Operations":[{op, path?, value?}]}.
///
/// Keys are matched case-insensitively (`Operations`/`operations`, `op`/`Op`). A `schemas`
/// member, if present, must contain the PatchOp URN; a missing one is accepted (the Databricks
/// SDK always sends it, other clients may not). An empty `path` counts as no path, and a `value`
/// of `null` as no value. Errors: unknown `op` or a malformed body → `invalidSyntax`; add or
/// replace without a value → `invalidValue`; remove without a path → `noTarget`; a path that is
/// not a string or does not parse → `invalidPath`.
pub fn parse_patch_request(body: &Value) -> Result<Vec<PatchOperation>, PatchError> {
    let Value::Object(body) = body else {
        return Err(PatchError::new(
            INVALID_SYNTAX,
            "The PATCH request body must be a JSON object",
        ));
    };
    if let Some(schemas) = get_ci(body, "schemas") {
        let is_patch_op =
            |v: &Value| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_URN));
        let declared = match schemas {
            Value::Array(items) => items.iter().any(is_patch_op),
            other => is_patch_op(other),
        };
        if !declared {
            return Err(PatchError::new(
                INVALID_SYNTAX,
                format!("The PATCH request's 'schemas' must contain \"{PATCH_OP_URN}\""),
            ));
        }
    }
    let operations = match get_ci(body, "Operations") {
        Some(Value::Array(ops)) => ops,
        Some(_) => {
            return Err(PatchError::new(
                INVALID_SYNTAX,
                "The PATCH request's 'Operations' must be an array",
            ));
        }
        None => {
            return Err(PatchError::new(
                INVALID_SYNTAX,
                "The PATCH request has no 'Operations' array",
            ));
        }
    };
    if operations.len() > MAX_PATCH_OPERATIONS {
        return Err(PatchError::new(
            INVALID_SYNTAX,
            format!(
                "A PATCH request may have at most {MAX_PATCH_OPERATIONS} operations; this one \
                 has {}",
                operations.len()
            ),
        ));
    }
    operations
        .iter()
        .enumerate()
        .map(|(i, op)| parse_operation(op).map_err(|e| e.in_operation(i)))
        .collect()
}

fn parse_operation(op: &Value) -> Result<PatchOperation, PatchError> {
    let Value::Object(op) = op else {
        return Err(PatchError::new(
            INVALID_SYNTAX,
            "an operation must be a JSON object with 'op', 'path' and 'value'",
        ));
    };
    let kind = match get_ci(op, "op") {
        Some(Value::String(name)) => PatchOpKind::parse(name).ok_or_else(|| {
            PatchError::new(
                INVALID_SYNTAX,
                format!("unknown op '{name}'; expected add, remove or replace"),
            )
        })?,
        Some(_) => {
            return Err(PatchError::new(
                INVALID_SYNTAX,
                "'op' must be a string: add, remove or replace",
            ));
        }
        None => {
            return Err(PatchError::new(
                INVALID_SYNTAX,
                "missing 'op'; expected add, remove or replace",
            ));
        }
    };
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(parse_path(s)?),
        Some(_) => {
            return Err(PatchError::new(INVALID_PATH, "'path' must be a string"));
        }
    };
    let value = match get_ci(op, "value") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.clone()),
    };
    match kind {
        PatchOpKind::Add | PatchOpKind::Replace if value.is_none() => {
            Err(PatchError::new(INVALID_VALUE, format!("'{}' requires a 'value'", kind.as_str())))
        }
        PatchOpKind::Remove if path.is_none() => {
            Err(PatchError::new(NO_TARGET, "'remove' requires a 'path' naming what to remove"))
        }
        _ => Ok(PatchOperation { op: kind, path, value }),
    }
}

/// Apply operations in order to a resource's JSON representation (an object). All-or-nothing:
/// on error the resource is unchanged (work on a clone).
///
/// Attribute keys match case-insensitively; an existing key keeps its spelling, a new one takes
/// the path's. Paths with a core-schema URN address the top level, other URNs the extension
/// object under that URN (created when something is added to it). Errors name the operation by
/// its index in `ops`.
pub fn apply(
    resource: &mut Value,
    ops: &[PatchOperation],
    schema: &dyn PatchSchema,
) -> Result<(), PatchError> {
    let mut work = resource.clone();
    let Value::Object(root) = &mut work else {
        return Err(PatchError::new(INVALID_VALUE, "The resource to patch is not a JSON object"));
    };
    for (i, op) in ops.iter().enumerate() {
        apply_one(root, op, schema).map_err(|e| e.in_operation(i))?;
    }
    *resource = work;
    Ok(())
}

/// Add and replace differ only in what happens to multi-valued attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Add,
    Replace,
}

fn apply_one(
    root: &mut Map<String, Value>,
    op: &PatchOperation,
    schema: &dyn PatchSchema,
) -> Result<(), PatchError> {
    let mode = match op.op {
        PatchOpKind::Remove => {
            let Some(path) = &op.path else {
                return Err(PatchError::new(
                    NO_TARGET,
                    "'remove' requires a 'path' naming what to remove",
                ));
            };
            return remove(root, path, op.value.as_ref());
        }
        PatchOpKind::Add => Mode::Add,
        PatchOpKind::Replace => Mode::Replace,
    };
    let Some(value) = op.value.as_ref().filter(|v| !v.is_null()) else {
        return Err(PatchError::new(
            INVALID_VALUE,
            format!("'{}' requires a 'value'", op.op.as_str()),
        ));
    };
    match &op.path {
        Some(path) => set(root, path, value, mode, schema),
        None => {
            for (path, value) in expand_resource_value(root, value)? {
                set(root, &path, value, mode, schema)?;
            }
            Ok(())
        }
    }
}

/// Splits the value of an add or replace without `path` into one (path, value) per attribute.
///
/// A key naming a schema (`"urn:...:enterprise:2.0:User": {...}`) holds an object whose members
/// are attributes of that schema. Any other key is parsed as a path, so that the dotted keys
/// Azure AD sends (`"name.givenName"`, `"urn:...:User:manager"`) work too. A URN key is taken for
/// a schema when the resource already has that key or its last segment is capitalized (`User`,
/// `Group`), as schema names are and attribute names are not.
fn expand_resource_value<'v>(
    root: &Map<String, Value>,
    value: &'v Value,
) -> Result<Vec<(PatchPath, &'v Value)>, PatchError> {
    let Value::Object(members) = value else {
        return Err(PatchError::new(
            INVALID_VALUE,
            "Without a 'path', the 'value' must be a JSON object of attributes",
        ));
    };
    let mut out = Vec::with_capacity(members.len());
    for (key, v) in members {
        if is_schema_key(root, key) {
            let Value::Object(extension) = v else {
                return Err(PatchError::new(
                    INVALID_VALUE,
                    format!("The value of '{key}' must be a JSON object of its attributes"),
                ));
            };
            for (inner_key, inner_value) in extension {
                let mut path = key_path(inner_key)?;
                if path.attr.urn.is_none() {
                    path.attr.urn = Some(key.clone());
                }
                out.push((path, inner_value));
            }
        } else {
            out.push((key_path(key)?, v));
        }
    }
    Ok(out)
}

fn is_schema_key(root: &Map<String, Value>, key: &str) -> bool {
    if !starts_with_ci(key, "urn:") {
        return false;
    }
    let last_segment = key.rsplit(':').next().unwrap_or("");
    last_segment.starts_with(|c: char| c.is_ascii_uppercase()) || get_ci(root, key).is_some()
}

fn key_path(key: &str) -> Result<PatchPath, PatchError> {
    parse_path(key).map_err(|e| {
        PatchError::new(
            INVALID_PATH,
            format!("'{key}' in the 'value' is not an attribute: {}", e.message),
        )
    })
}

/// The object holding `attr`: the resource for core attributes, the extension object for an
/// extension URN (created if `create`; `None` when absent and not created).
fn container<'m>(
    root: &'m mut Map<String, Value>,
    attr: &AttrPath,
    create: bool,
) -> Result<Option<&'m mut Map<String, Value>>, PatchError> {
    let urn = match &attr.urn {
        Some(urn) if !is_core_schema_urn(urn) => urn,
        _ => return Ok(Some(root)),
    };
    let key = match existing_key(root, urn) {
        Some(key) => key,
        None if create => {
            root.insert(urn.clone(), Value::Object(Map::new()));
            urn.clone()
        }
        None => return Ok(None),
    };
    let Some(slot) = root.get_mut(&key) else {
        return Ok(None);
    };
    if create && slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(extension) => Ok(Some(extension)),
        _ if !create => Ok(None),
        _ => Err(PatchError::new(
            INVALID_PATH,
            format!("'{urn}' in the resource is not an object of extension attributes"),
        )),
    }
}

/// The key under which `name` is stored, in its stored spelling.
fn existing_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_owned());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Sets `name` to `value`, keeping the spelling of an existing key.
fn set_key(map: &mut Map<String, Value>, name: &str, value: Value) {
    let key = existing_key(map, name).unwrap_or_else(|| name.to_owned());
    map.insert(key, value);
}

/// Sets each member of `from` in `into` (one level: sub-attributes not given are kept).
fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        set_key(into, k, v.clone());
    }
}

/// A singular attribute: complex values merge sub-attribute by sub-attribute (RFC 7644
/// §3.5.2.1 and §3.5.2.3), anything else is set.
fn set_singular(map: &mut Map<String, Value>, name: &str, value: &Value) {
    let key = existing_key(map, name);
    if let (Some(Value::Object(existing)), Value::Object(new)) =
        (key.as_deref().and_then(|k| map.get_mut(k)), value)
    {
        merge(existing, new);
        return;
    }
    set_key(map, name, value.clone());
}

/// Whether two elements of a multi-valued attribute are the same: by their `value` when both
/// have one, else by full equality.
fn same_element(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => match (get_ci(x, "value"), get_ci(y, "value")) {
            (Some(vx), Some(vy)) => vx == vy,
            _ => x == y,
        },
        _ => a == b,
    }
}

/// Whether an element of a multi-valued attribute meets a value filter; simple elements are
/// their own `value`.
fn element_matches(filter: &Filter, element: &Value) -> bool {
    match element {
        Value::Object(_) => filter::matches(filter, element),
        other => {
            let wrapped = Value::Object(Map::from_iter([("value".to_owned(), other.clone())]));
            filter::matches(filter, &wrapped)
        }
    }
}

fn as_items(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// Add or replace at a path.
fn set(
    root: &mut Map<String, Value>,
    path: &PatchPath,
    value: &Value,
    mode: Mode,
    schema: &dyn PatchSchema,
) -> Result<(), PatchError> {
    let Some(map) = container(root, &path.attr, true)? else {
        return Err(PatchError::new(NO_TARGET, format!("'{}' cannot be created", path.attr)));
    };
    if let Some(filter) = &path.value_filter {
        return set_in_matching(map, path, filter, value);
    }
    let name = &path.attr.name;
    let key = existing_key(map, name);
    let current = key.as_deref().and_then(|k| map.get(k));
    let declared_multi = schema.is_multi_valued(&path.attr);
    let multi = declared_multi || current.is_some_and(Value::is_array);
    if let Some(sub) = &path.sub {
        if multi {
            return Err(PatchError::new(
                INVALID_PATH,
                format!(
                    "'{}' is multi-valued; select the elements to change with a filter, as in \
                     {name}[type eq \"work\"].{sub}",
                    path.attr
                ),
            ));
        }
        return match key.as_deref().and_then(|k| map.get_mut(k)) {
            None | Some(Value::Null) => {
                let object = Map::from_iter([(sub.clone(), value.clone())]);
                set_key(map, name, Value::Object(object));
                Ok(())
            }
            Some(Value::Object(complex)) => {
                set_key(complex, sub, value.clone());
                Ok(())
            }
            Some(_) => Err(PatchError::new(
                INVALID_PATH,
                format!(
                    "'{}' is not a complex attribute, so it has no sub-attribute '{sub}'",
                    path.attr
                ),
            )),
        };
    }
    if mode == Mode::Replace && declared_multi {
        set_key(map, name, Value::Array(as_items(value)));
        return Ok(());
    }
    if mode == Mode::Replace || !multi {
        set_singular(map, name, value);
        return Ok(());
    }
    let new_items = as_items(value);
    let slot = match key.as_deref().and_then(|k| map.get_mut(k)) {
        Some(slot) => slot,
        None if new_items.is_empty() => return Ok(()),
        None => map.entry(name.clone()).or_insert(Value::Null),
    };
    // Edited in place, so the key keeps its position and spelling.
    let items = match std::mem::take(slot) {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        single => vec![single],
    };
    *slot = Value::Array(items);
    let Value::Array(items) = slot else {
        return Ok(());
    };
    for item in new_items {
        if !items.iter().any(|existing| same_element(existing, &item)) {
            items.push(item);
        }
    }
    Ok(())
}

/// Add or replace through a value filter: set the sub-attribute of each matching element, or
/// merge the value into it. No match is `noTarget` (RFC 7644 §3.5.2.3).
fn set_in_matching(
    map: &mut Map<String, Value>,
    path: &PatchPath,
    filter: &Filter,
    value: &Value,
) -> Result<(), PatchError> {
    let slot = existing_key(map, &path.attr.name).and_then(|k| map.get_mut(&k));
    let mut elements: Vec<&mut Value> = match slot {
        Some(Value::Array(items)) => items.iter_mut().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => Vec::new(),
    };
    elements.retain(|e| element_matches(filter, e));
    if elements.is_empty() {
        return Err(PatchError::new(
            NO_TARGET,
            format!("No value of '{}' matches the filter", path.attr),
        ));
    }
    for element in elements {
        match (&path.sub, &mut *element, value) {
            (Some(sub), Value::Object(object), _) => set_key(object, sub, value.clone()),
            (Some(sub), _, _) => {
                return Err(PatchError::new(
                    INVALID_PATH,
                    format!(
                        "the values of '{}' are not complex, so they have no sub-attribute \
                         '{sub}'",
                        path.attr
                    ),
                ));
            }
            (None, Value::Object(object), Value::Object(new)) => merge(object, new),
            (None, Value::Object(_), _) => {
                return Err(PatchError::new(
                    INVALID_VALUE,
                    format!(
                        "the values of '{}' are complex: give an object of sub-attributes, or \
                         name the sub-attribute after the filter",
                        path.attr
                    ),
                ));
            }
            (None, element, value) => *element = value.clone(),
        }
    }
    Ok(())
}

/// Remove at a path. Removing what is not there is not an error.
///
/// Without a filter, a `value` given for a multi-valued attribute names the elements to remove
/// (as Azure AD sends `{"op":"remove","path":"members","value":[{"value":"42"}]}`), rather than
/// the whole attribute going.
fn remove(
    root: &mut Map<String, Value>,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    let Some(map) = container(root, &path.attr, false)? else {
        return Ok(());
    };
    let Some(key) = existing_key(map, &path.attr.name) else {
        return Ok(());
    };
    let Some(slot) = map.get_mut(&key) else {
        return Ok(());
    };
    let delete_key = match (&path.value_filter, &path.sub, slot) {
        (Some(filter), None, Value::Array(items)) => {
            items.retain(|e| !element_matches(filter, e));
            items.is_empty()
        }
        (Some(filter), None, single @ Value::Object(_)) => element_matches(filter, single),
        (Some(filter), Some(sub), Value::Array(items)) => {
            for item in items.iter_mut() {
                if element_matches(filter, item)
                    && let Value::Object(object) = item
                {
                    remove_key(object, sub);
                }
            }
            false
        }
        (Some(filter), Some(sub), single @ Value::Object(_)) => {
            if element_matches(filter, single)
                && let Value::Object(object) = single
            {
                remove_key(object, sub);
            }
            false
        }
        (Some(_), _, _) => false,
        (None, Some(sub), Value::Object(object)) => {
            remove_key(object, sub);
            false
        }
        (None, Some(sub), Value::Array(items)) => {
            for item in items.iter_mut() {
                if let Value::Object(object) = item {
                    remove_key(object, sub);
                }
            }
            false
        }
        (None, Some(_), _) => false,
        (None, None, Value::Array(items)) => match value.filter(|v| !v.is_null()) {
            Some(value) => {
                let doomed = as_items(value);
                items.retain(|e| !doomed.iter().any(|d| same_element(e, d)));
                items.is_empty()
            }
            None => true,
        },
        (None, None, _) => true,
    };
    if delete_key {
        map.remove(&key);
    }
    Ok(())
}

fn remove_key(map: &mut Map<String, Value>, name: &str) {
    if let Some(key) = existing_key(map, name) {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::{CompValue, CompareOp};
    use serde_json::json;

    /// The multi-valued attributes of Databricks' User, Group and ServicePrincipal.
    fn databricks_schema(attr: &AttrPath) -> bool {
        ["emails", "members", "groups", "entitlements", "roles", "schemas", "phoneNumbers"]
            .iter()
            .any(|n| attr.name.eq_ignore_ascii_case(n))
    }

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "7535194597985784",
            "userName": "bjensen@example.com",
            "displayName": "Babs Jensen",
            "active": true,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "entitlements": [{"value": "workspace-access"}],
            "groups": [{"value": "100", "display": "admins"}]
        })
    }

    fn group() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "100",
            "displayName": "admins",
            "members": [
                {"value": "42", "display": "a"},
                {"value": "43", "display": "b"}
            ]
        })
    }

    fn ops(operations: Value) -> Vec<PatchOperation> {
        parse_patch_request(&json!({
            "schemas": [PATCH_OP_URN],
            "Operations": operations
        }))
        .unwrap()
    }

    fn patched(mut resource: Value, operations: Value) -> Value {
        apply(&mut resource, &ops(operations), &databricks_schema).unwrap();
        resource
    }

    fn patch_err(resource: &Value, operations: Value) -> PatchError {
        let mut copy = resource.clone();
        let err = apply(&mut copy, &ops(operations), &databricks_schema).unwrap_err();
        assert_eq!(&copy, resource, "a failed PATCH changed the resource");
        err
    }

    fn request_err(body: Value) -> PatchError {
        parse_patch_request(&body).unwrap_err()
    }

    // --- paths ---

    #[test]
    fn paths_parse_into_attribute_filter_and_sub() {
        let path = parse_path("members").unwrap();
        assert_eq!(path.attr, AttrPath::simple("members"));
        assert_eq!((path.value_filter, path.sub), (None, None));

        let path = parse_path("name.givenName").unwrap();
        assert_eq!(path.attr, AttrPath::simple("name"));
        assert_eq!(path.sub.as_deref(), Some("givenName"));

        let path = parse_path(r#"members[value eq "42"]"#).unwrap();
        assert_eq!(path.attr, AttrPath::simple("members"));
        assert_eq!(
            path.value_filter,
            Some(Filter::Compare {
                path: AttrPath::simple("value"),
                op: CompareOp::Eq,
                value: CompValue::Str("42".into())
            })
        );
        assert_eq!(path.sub, None);

        let path = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(path.attr, AttrPath::simple("emails"));
        assert!(path.value_filter.is_some());
        assert_eq!(path.sub.as_deref(), Some("value"));

        let path = parse_path(&format!("{ENTERPRISE}:manager.value")).unwrap();
        assert_eq!(path.attr.urn.as_deref(), Some(ENTERPRISE));
        assert_eq!(path.attr.name, "manager");
        assert_eq!(path.attr.sub, None);
        assert_eq!(path.sub.as_deref(), Some("value"));

        let path = parse_path(" members[value eq 42] ").unwrap();
        assert!(path.value_filter.is_some());
    }

    #[test]
    fn bad_paths_are_invalid_path() {
        for (bad, why) in [
            ("", "the path is empty"),
            ("a.b.c", "at most one sub-attribute"),
            ("members[value eq \"42\"", "missing ']'"),
            ("members[value eq \"42\"].", "expected a sub-attribute name"),
            ("members[value eq \"42\"].value.x", "expected the end of the path"),
            ("members[value eq \"42\"]x", "expected the end of the path"),
            ("name.givenName[value pr]", "must follow an attribute"),
            ("members[value[x pr]]", "cannot be nested"),
            ("members[]", "expected an attribute name"),
            ("emails type", "expected the end of the path"),
        ] {
            let err = parse_path(bad).unwrap_err();
            assert_eq!(err.scim_type, "invalidPath", "{bad:?}");
            assert!(err.message.contains(why), "{bad:?}: {}", err.message);
            assert!(err.message.starts_with("Invalid"), "{}", err.message);
        }
        let long = format!("a[b eq \"{}\"]", "x".repeat(filter::MAX_FILTER_LEN));
        assert!(parse_path(&long).unwrap_err().message.contains("longer than"));
    }

    // --- request bodies ---

    #[test]
    fn request_bodies_parse() {
        let parsed = parse_patch_request(&json!({
            "schemas": [PATCH_OP_URN],
            "Operations": [
                {"op": "add", "path": "entitlements", "value": [{"value": "allow-cluster-create"}]},
                {"op": "Remove", "path": "members[value eq \"42\"]"},
                {"op": "REPLACE", "value": {"active": false}}
            ]
        }))
        .unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].op, PatchOpKind::Add);
        assert_eq!(parsed[0].path, Some(parse_path("entitlements").unwrap()));
        assert_eq!(parsed[0].value, Some(json!([{"value": "allow-cluster-create"}])));
        assert_eq!(parsed[1].op, PatchOpKind::Remove);
        assert_eq!(parsed[1].value, None);
        assert_eq!(parsed[2].op, PatchOpKind::Replace);
        assert_eq!(parsed[2].path, None);
    }

    #[test]
    fn request_keys_are_case_insensitive_and_schemas_optional() {
        let body = json!({"operations": [{"Op": "add", "Path": "displayName", "Value": "x"}]});
        let parsed = parse_patch_request(&body).unwrap();
        assert_eq!(parsed[0].path, Some(parse_path("displayName").unwrap()));
        assert_eq!(parsed[0].value, Some(json!("x")));
        let body = json!({"schemas": PATCH_OP_URN.to_uppercase(), "Operations": []});
        assert_eq!(parse_patch_request(&body).unwrap(), vec![]);
        // An empty path is no path.
        let body = json!({"Operations": [{"op": "replace", "path": "", "value": {"a": 1}}]});
        assert_eq!(parse_patch_request(&body).unwrap()[0].path, None);
    }

    #[test]
    fn bad_request_bodies_are_refused_with_the_right_scim_type() {
        let cases = [
            (json!([]), "invalidSyntax", "must be a JSON object"),
            (
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": []}),
                "invalidSyntax",
                "'schemas' must contain",
            ),
            (json!({"schemas": 3, "Operations": []}), "invalidSyntax", "'schemas'"),
            (json!({"schemas": [PATCH_OP_URN]}), "invalidSyntax", "no 'Operations'"),
            (json!({"Operations": {}}), "invalidSyntax", "must be an array"),
            (json!({"Operations": [1]}), "invalidSyntax", "Operations[0]: an operation must be"),
            (
                json!({"Operations": [{"op": "add", "path": "a", "value": 1}, {"op": "move", "path": "a"}]}),
                "invalidSyntax",
                "Operations[1]: unknown op 'move'; expected add, remove or replace",
            ),
            (json!({"Operations": [{"op": 1}]}), "invalidSyntax", "'op' must be a string"),
            (json!({"Operations": [{"path": "a"}]}), "invalidSyntax", "missing 'op'"),
            (
                json!({"Operations": [{"op": "add", "path": "a"}]}),
                "invalidValue",
                "'add' requires a 'value'",
            ),
            (
                json!({"Operations": [{"op": "replace", "path": "a", "value": null}]}),
                "invalidValue",
                "'replace' requires a 'value'",
            ),
            (json!({"Operations": [{"op": "remove"}]}), "noTarget", "'remove' requires a 'path'"),
            (
                json!({"Operations": [{"op": "remove", "path": 7}]}),
                "invalidPath",
                "'path' must be a string",
            ),
            (
                json!({"Operations": [{"op": "remove", "path": "a..b"}]}),
                "invalidPath",
                "Operations[0]: Invalid path 'a..b'",
            ),
        ];
        for (body, scim_type, message) in cases {
            let err = request_err(body.clone());
            assert_eq!(err.scim_type, scim_type, "{body}: {}", err.message);
            assert!(err.message.contains(message), "{body}: {}", err.message);
        }
    }

    #[test]
    fn at_most_a_thousand_operations() {
        let op = json!({"op": "add", "path": "a", "value": 1});
        let body = |n: usize| json!({"Operations": vec![op.clone(); n]});
        assert_eq!(parse_patch_request(&body(1000)).unwrap().len(), 1000);
        let err = request_err(body(1001));
        assert_eq!(err.scim_type, "invalidSyntax");
        assert!(err.message.contains("at most 1000 operations"), "{}", err.message);
    }

    // --- add ---

    #[test]
    fn add_entitlement_as_terraform_does() {
        let user = patched(
            user(),
            json!([{"op": "add", "path": "entitlements", "value": [{"value": "allow-cluster-create"}]}]),
        );
        assert_eq!(
            user["entitlements"],
            json!([{"value": "workspace-access"}, {"value": "allow-cluster-create"}])
        );
        // Adding it again changes nothing.
        let again = patched(
            user.clone(),
            json!([{"op": "add", "path": "entitlements", "value": [{"value": "allow-cluster-create"}]}]),
        );
        assert_eq!(again, user);
    }

    #[test]
    fn add_to_a_missing_multi_valued_attribute_creates_an_array() {
        let group = patched(
            json!({"displayName": "g"}),
            json!([{"op": "add", "path": "members", "value": {"value": "42"}}]),
        );
        assert_eq!(group["members"], json!([{"value": "42"}]));
        let group = patched(
            json!({"displayName": "g"}),
            json!([{"op": "add", "path": "members", "value": []}]),
        );
        assert_eq!(group, json!({"displayName": "g"}));
    }

    #[test]
    fn add_members_skips_duplicates_by_value() {
        let group = patched(
            group(),
            json!([{"op": "add", "path": "members", "value": [
                {"value": "42", "display": "other display"},
                {"value": "44"},
                {"value": "44"}
            ]}]),
        );
        let values: Vec<_> =
            group["members"].as_array().unwrap().iter().map(|m| m["value"].clone()).collect();
        assert_eq!(values, vec![json!("42"), json!("43"), json!("44")]);
        assert_eq!(group["members"][0]["display"], "a");
    }

    #[test]
    fn add_to_an_existing_array_appends_even_if_the_schema_does_not_say_so() {
        let resource = patched(
            json!({"tags": ["a"]}),
            json!([{"op": "add", "path": "tags", "value": ["b", "a"]}]),
        );
        assert_eq!(resource["tags"], json!(["a", "b"]));
    }

    #[test]
    fn add_singular_sets_or_replaces() {
        let user = patched(
            user(),
            json!([
                {"op": "add", "path": "displayName", "value": "Babs"},
                {"op": "add", "path": "title", "value": "Tour Guide"}
            ]),
        );
        assert_eq!(user["displayName"], "Babs");
        assert_eq!(user["title"], "Tour Guide");
    }

    #[test]
    fn add_sub_attribute_creates_the_complex_attribute() {
        let user =
            patched(user(), json!([{"op": "add", "path": "name.middleName", "value": "Jane"}]));
        assert_eq!(
            user["name"],
            json!({"givenName": "Barbara", "familyName": "Jensen", "middleName": "Jane"})
        );
        let resource =
            patched(json!({}), json!([{"op": "add", "path": "name.givenName", "value": "B"}]));
        assert_eq!(resource, json!({"name": {"givenName": "B"}}));
    }

    #[test]
    fn add_complex_value_merges_sub_attributes() {
        let user =
            patched(user(), json!([{"op": "add", "path": "name", "value": {"givenName": "Babs"}}]));
        assert_eq!(user["name"], json!({"givenName": "Babs", "familyName": "Jensen"}));
    }

    #[test]
    fn add_with_filter_and_sub_sets_matching_elements() {
        let user = patched(
            user(),
            json!([{"op": "add", "path": "emails[type eq \"work\"].display", "value": "Work"}]),
        );
        assert_eq!(user["emails"][0]["display"], "Work");
        assert!(user["emails"][1].get("display").is_none());
    }

    #[test]
    fn add_without_path_adds_each_attribute() {
        let user = patched(
            user(),
            json!([{"op": "add", "value": {
                "emails": [{"value": "new@example.com", "type": "other"}],
                "nickName": "Babs",
                ENTERPRISE: {"employeeNumber": "701984"}
            }}]),
        );
        assert_eq!(user["emails"].as_array().unwrap().len(), 3);
        assert_eq!(user["nickName"], "Babs");
        assert_eq!(user[ENTERPRISE], json!({"employeeNumber": "701984"}));
        // A second add merges into the extension.
        let user =
            patched(user, json!([{"op": "add", "value": {ENTERPRISE: {"department": "Tour"}}}]));
        assert_eq!(user[ENTERPRISE], json!({"employeeNumber": "701984", "department": "Tour"}));
    }

    #[test]
    fn add_without_path_needs_an_object() {
        let err = patch_err(&user(), json!([{"op": "add", "value": [1]}]));
        assert_eq!(err.scim_type, "invalidValue");
        assert!(err.message.starts_with("Operations[0]: Without a 'path'"), "{}", err.message);
        let err = patch_err(&user(), json!([{"op": "add", "value": {ENTERPRISE: 3}}]));
        assert_eq!(err.scim_type, "invalidValue");
        assert!(err.message.contains("must be a JSON object"), "{}", err.message);
    }

    #[test]
    fn extension_paths_create_the_extension_object() {
        let user = patched(
            user(),
            json!([
                {"op": "add", "path": format!("{ENTERPRISE}:manager.value"), "value": "26118915"},
                {"op": "add", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "7"}
            ]),
        );
        assert_eq!(
            user[ENTERPRISE],
            json!({"manager": {"value": "26118915"}, "employeeNumber": "7"})
        );
        let user = patched(
            user,
            json!([{"op": "replace", "path": format!("{}:employeeNumber", ENTERPRISE.to_uppercase()), "value": "8"}]),
        );
        assert_eq!(user[ENTERPRISE]["employeeNumber"], "8");
        assert_eq!(user.as_object().unwrap().len(), user_keys() + 1);
    }

    fn user_keys() -> usize {
        user().as_object().unwrap().len()
    }

    #[test]
    fn core_schema_urn_paths_address_the_top_level() {
        let user = patched(
            user(),
            json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:displayName", "value": "B"}]),
        );
        assert_eq!(user["displayName"], "B");
        assert_eq!(user.as_object().unwrap().len(), user_keys());
    }

    // --- replace ---

    #[test]
    fn replace_active_sets_the_value_as_given() {
        let user = patched(
            user(),
            json!([{"op": "replace", "path": "active", "value": [{"value": "false"}]}]),
        );
        assert_eq!(user["active"], json!([{"value": "false"}]));
        let user = patched(user, json!([{"op": "replace", "path": "active", "value": false}]));
        assert_eq!(user["active"], json!(false));
    }

    #[test]
    fn replace_without_path_replaces_each_attribute() {
        let user = patched(
            user(),
            json!([{"op": "replace", "value": {
                "active": false,
                "displayName": "B",
                "emails": [{"value": "only@example.com"}],
                "name": {"givenName": "Babs"}
            }}]),
        );
        assert_eq!(user["active"], false);
        assert_eq!(user["displayName"], "B");
        assert_eq!(user["emails"], json!([{"value": "only@example.com"}]));
        assert_eq!(user["name"], json!({"givenName": "Babs", "familyName": "Jensen"}));
    }

    #[test]
    fn replace_without_path_accepts_dotted_keys_as_azure_sends_them() {
        let user = patched(
            user(),
            json!([{"op": "Replace", "value": {
                "name.familyName": "Smith",
                "emails[type eq \"work\"].value": "b@work.example",
                format!("{ENTERPRISE}:department"): "Tours"
            }}]),
        );
        assert_eq!(user["name"]["familyName"], "Smith");
        assert_eq!(user["emails"][0]["value"], "b@work.example");
        assert_eq!(user[ENTERPRISE]["department"], "Tours");
        let err = patch_err(&user, json!([{"op": "replace", "value": {"not a name": 1}}]));
        assert_eq!(err.scim_type, "invalidPath");
    }

    #[test]
    fn replace_multi_valued_without_filter_replaces_the_array() {
        let group = patched(
            group(),
            json!([{"op": "replace", "path": "members", "value": {"value": "99"}}]),
        );
        assert_eq!(group["members"], json!([{"value": "99"}]));
        let group = patched(group, json!([{"op": "replace", "path": "members", "value": []}]));
        assert_eq!(group["members"], json!([]));
    }

    #[test]
    fn replace_with_filter_merges_into_matching_elements() {
        let user = patched(
            user(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": {"value": "b@new.example", "primary": false}}]),
        );
        assert_eq!(
            user["emails"][0],
            json!({"value": "b@new.example", "type": "work", "primary": false})
        );
        assert_eq!(user["emails"][1], user_emails()[1]);
        let user = patched(
            user,
            json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "h@new.example"}]),
        );
        assert_eq!(user["emails"][1]["value"], "h@new.example");
    }

    fn user_emails() -> Value {
        user()["emails"].clone()
    }

    #[test]
    fn replace_with_filter_needs_an_object_for_complex_elements() {
        let err = patch_err(
            &group(),
            json!([{"op": "replace", "path": "members[value eq \"42\"]", "value": "43"}]),
        );
        assert_eq!(err.scim_type, "invalidValue");
        assert!(err.message.contains("give an object"), "{}", err.message);
    }

    #[test]
    fn replace_with_filter_on_simple_values_replaces_them() {
        let resource = patched(
            json!({"tags": ["a", "b", "a"]}),
            json!([{"op": "replace", "path": "tags[value eq \"a\"]", "value": "z"}]),
        );
        assert_eq!(resource["tags"], json!(["z", "b", "z"]));
    }

    #[test]
    fn replace_singular_and_sub_attributes() {
        let user = patched(
            user(),
            json!([
                {"op": "replace", "path": "name.givenName", "value": "Babs"},
                {"op": "replace", "path": "userName", "value": "babs@example.com"},
                {"op": "replace", "path": "nickName", "value": "B"}
            ]),
        );
        assert_eq!(user["name"]["givenName"], "Babs");
        assert_eq!(user["userName"], "babs@example.com");
        assert_eq!(user["nickName"], "B");
    }

    // --- noTarget and other apply errors ---

    #[test]
    fn filters_that_match_nothing_are_no_target_for_add_and_replace() {
        for op in ["add", "replace"] {
            for path in [
                "emails[type eq \"other\"].value",
                "emails[type eq \"other\"]",
                "ims[type eq \"xmpp\"].value",
                "displayName[value eq \"x\"]",
            ] {
                let err = patch_err(&user(), json!([{"op": op, "path": path, "value": "x"}]));
                assert_eq!(err.scim_type, "noTarget", "{op} {path}");
                assert!(err.message.contains("matches the filter"), "{}", err.message);
            }
        }
    }

    #[test]
    fn sub_attributes_of_multi_valued_or_simple_attributes_are_invalid_paths() {
        let err =
            patch_err(&user(), json!([{"op": "replace", "path": "emails.value", "value": "x"}]));
        assert_eq!(err.scim_type, "invalidPath");
        assert!(err.message.contains(r#"as in emails[type eq "work"].value"#), "{}", err.message);
        let err = patch_err(&user(), json!([{"op": "add", "path": "userName.x", "value": "x"}]));
        assert_eq!(err.scim_type, "invalidPath");
        assert!(err.message.contains("not a complex attribute"), "{}", err.message);
        let err = patch_err(
            &json!({"tags": ["a"]}),
            json!([{"op": "add", "path": "tags[value eq \"a\"].x", "value": "x"}]),
        );
        assert_eq!(err.scim_type, "invalidPath");
        let err = patch_err(
            &json!({ENTERPRISE: "oops"}),
            json!([{"op": "add", "path": format!("{ENTERPRISE}:department"), "value": "x"}]),
        );
        assert_eq!(err.scim_type, "invalidPath");
    }

    #[test]
    fn failed_patches_change_nothing() {
        let err = patch_err(
            &user(),
            json!([
                {"op": "replace", "path": "displayName", "value": "changed"},
                {"op": "remove", "path": "emails"},
                {"op": "add", "path": "emails[type eq \"nope\"].value", "value": "x"}
            ]),
        );
        assert_eq!(err.scim_type, "noTarget");
        assert!(err.message.starts_with("Operations[2]: "), "{}", err.message);
        let mut not_object = json!([1]);
        let err = apply(&mut not_object, &[], &databricks_schema).unwrap_err();
        assert_eq!(err.scim_type, "invalidValue");
    }

    #[test]
    fn hand_built_operations_without_value_or_path_are_refused() {
        let mut user = user();
        let add = PatchOperation {
            op: PatchOpKind::Add,
            path: Some(parse_path("title").unwrap()),
            value: None,
        };
        let err = apply(&mut user, &[add], &databricks_schema).unwrap_err();
        assert_eq!(err.scim_type, "invalidValue");
        let remove = PatchOperation { op: PatchOpKind::Remove, path: None, value: None };
        let err = apply(&mut user, &[remove], &databricks_schema).unwrap_err();
        assert_eq!(err.scim_type, "noTarget");
    }

    // --- remove ---

    #[test]
    fn remove_member_by_filter_as_terraform_does() {
        let group = patched(group(), json!([{"op": "remove", "path": "members[value eq \"42\"]"}]));
        assert_eq!(group["members"], json!([{"value": "43", "display": "b"}]));
        // The last member going takes the attribute with it.
        let group = patched(group, json!([{"op": "remove", "path": "members[value eq \"43\"]"}]));
        assert!(group.get("members").is_none());
    }

    #[test]
    fn remove_with_a_filter_matching_nothing_succeeds() {
        let group = patched(
            group(),
            json!([
                {"op": "remove", "path": "members[value eq \"999\"]"},
                {"op": "remove", "path": "owners[value eq \"999\"]"}
            ]),
        );
        assert_eq!(group, self::group());
    }

    #[test]
    fn remove_whole_attributes_and_missing_ones() {
        let user = patched(
            user(),
            json!([
                {"op": "remove", "path": "emails"},
                {"op": "remove", "path": "DISPLAYNAME"},
                {"op": "remove", "path": "nickName"},
                {"op": "remove", "path": format!("{ENTERPRISE}:manager")},
                {"op": "remove", "path": "name.middleName"}
            ]),
        );
        assert!(user.get("emails").is_none());
        assert!(user.get("displayName").is_none());
        assert_eq!(user.as_object().unwrap().len(), user_keys() - 2);
    }

    #[test]
    fn remove_sub_attributes() {
        let user = patched(
            user(),
            json!([
                {"op": "remove", "path": "name.givenName"},
                {"op": "remove", "path": "emails[type eq \"work\"].primary"}
            ]),
        );
        assert_eq!(user["name"], json!({"familyName": "Jensen"}));
        assert_eq!(user["emails"][0], json!({"value": "bjensen@example.com", "type": "work"}));
        let user = patched(user, json!([{"op": "remove", "path": "emails.type"}]));
        assert_eq!(
            user["emails"],
            json!([{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}])
        );
    }

    #[test]
    fn remove_with_a_value_removes_those_elements_as_azure_sends_it() {
        let group = patched(
            group(),
            json!([{"op": "remove", "path": "members", "value": [{"value": "43"}]}]),
        );
        assert_eq!(group["members"], json!([{"value": "42", "display": "a"}]));
        let group =
            patched(group, json!([{"op": "remove", "path": "members", "value": {"value": "42"}}]));
        assert!(group.get("members").is_none());
    }

    #[test]
    fn remove_from_extension() {
        let resource = json!({ENTERPRISE: {"manager": {"value": "1"}, "department": "x"}});
        let resource = patched(
            resource,
            json!([
                {"op": "remove", "path": format!("{ENTERPRISE}:manager.value")},
                {"op": "remove", "path": format!("{ENTERPRISE}:department")}
            ]),
        );
        assert_eq!(resource, json!({ENTERPRISE: {"manager": {}}}));
    }

    // --- keys ---

    #[test]
    fn existing_keys_keep_their_spelling() {
        let resource = patched(
            json!({"DisplayName": "a", "Name": {"GivenName": "b"}, "Members": []}),
            json!([
                {"op": "replace", "path": "displayname", "value": "x"},
                {"op": "add", "path": "name.givenName", "value": "y"},
                {"op": "add", "path": "members", "value": [{"value": "1"}]},
                {"op": "add", "path": "newKey", "value": 1}
            ]),
        );
        assert_eq!(
            resource,
            json!({"DisplayName": "x", "Name": {"GivenName": "y"}, "Members": [{"value": "1"}], "newKey": 1})
        );
    }

    #[test]
    fn op_kinds_parse_in_any_case() {
        for (text, kind) in [
            ("add", PatchOpKind::Add),
            ("Add", PatchOpKind::Add),
            ("REMOVE", PatchOpKind::Remove),
            ("rePlace", PatchOpKind::Replace),
        ] {
            assert_eq!(PatchOpKind::parse(text), Some(kind));
        }
        assert_eq!(PatchOpKind::parse("move"), None);
        assert_eq!(PatchOpKind::parse(""), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i32>().prop_map(|n| json!(n)),
                "[a-z0-9\"]{0,6}".prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::btree_map("[a-cA-C]|value|type|urn:x:Y", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn path_text() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-cA-C]",
                "[a-c]\\.[a-c]",
                "[a-c]\\[(value|type|a) (eq|ne|co|pr) \"?[a-z0-9]{0,3}\"?\\](\\.[a-c])?",
                "urn:x:Y:[a-c](\\.value)?",
                ".{0,12}",
            ]
        }

        fn operation() -> impl Strategy<Value = Value> {
            (
                prop_oneof![Just("add"), Just("remove"), Just("replace"), Just("copy")],
                proptest::option::of(path_text()),
                proptest::option::of(json_value()),
            )
                .prop_map(|(op, path, value)| {
                    let mut o = Map::new();
                    o.insert("op".into(), json!(op));
                    if let Some(path) = path {
                        o.insert("path".into(), json!(path));
                    }
                    if let Some(value) = value {
                        o.insert("value".into(), value);
                    }
                    Value::Object(o)
                })
        }

        proptest! {
            #[test]
            fn parsing_and_applying_never_panic_and_failures_change_nothing(
                resource in json_value(),
                operations in proptest::collection::vec(operation(), 0..5),
                multi in any::<bool>(),
            ) {
                let body = json!({"schemas": [PATCH_OP_URN], "Operations": operations});
                if let Ok(ops) = parse_patch_request(&body) {
                    let mut target = resource.clone();
                    let schema = move |a: &AttrPath| multi && a.name.eq_ignore_ascii_case("a");
                    if apply(&mut target, &ops, &schema).is_err() {
                        prop_assert_eq!(target, resource);
                    }
                }
            }

            #[test]
            fn parse_path_never_panics(s in any::<String>()) {
                let _ = parse_path(&s);
            }

            #[test]
            fn add_then_remove_by_filter_leaves_no_such_member(
                values in proptest::collection::vec("[0-9]{1,3}", 0..5),
                id in "[0-9]{1,3}",
            ) {
                let members: Vec<Value> = values.iter().map(|v| json!({"value": v})).collect();
                let mut group = json!({"displayName": "g", "members": members});
                let add = ops(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]));
                apply(&mut group, &add, &databricks_schema).unwrap();
                let count = group["members"].as_array().unwrap().iter().filter(|m| m["value"] == id.as_str()).count();
                prop_assert!(count >= 1);
                let remove = ops(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]));
                apply(&mut group, &remove, &databricks_schema).unwrap();
                let left = group.get("members").and_then(Value::as_array).map_or(0, |m| m.iter().filter(|m| m["value"] == id.as_str()).count());
                prop_assert_eq!(left, 0);
            }
        }
    }
}
