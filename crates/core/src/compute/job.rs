//! Job settings: what is checked, the defaults the Jobs API fills in, and how `jobs/update`
//! merges new settings into the current ones.

use serde_json::{Map, Value, json};

/// Arrays of job settings that `jobs/update` merges element by element, and the key that
/// identifies an element.
pub const KEYED_ARRAYS: [(&str, &str); 4] = [
    ("tasks", "task_key"),
    ("job_clusters", "job_cluster_key"),
    ("environments", "environment_key"),
    ("parameters", "name"),
];

/// Longest job name.
pub const MAX_NAME_CHARS: usize = 4096;
/// Most tasks, job clusters, environments or parameters a job may have.
pub const MAX_ARRAY_LEN: usize = 1000;
/// Most tags a job may have.
pub const MAX_TAGS: usize = 25;

/// Job settings as the API shows them: the given ones plus the defaults a real workspace fills
/// in, so that clients read back what they would read from Databricks.
pub fn with_defaults(mut settings: Map<String, Value>) -> Map<String, Value> {
    let defaults = [
        ("name", json!("Untitled")),
        ("max_concurrent_runs", json!(1)),
        ("timeout_seconds", json!(0)),
        ("format", json!("MULTI_TASK")),
        ("email_notifications", json!({})),
        ("webhook_notifications", json!({})),
    ];
    for (key, value) in defaults {
        settings.entry(key).or_insert(value);
    }
    settings
}

/// The job's name, for listings and the name filter.
pub fn name_of(settings: &Map<String, Value>) -> &str {
    settings.get("name").and_then(Value::as_str).unwrap_or("Untitled")
}

/// The job parameters of a run, as `runs/get` shows them: each parameter the job defines, with
/// its default and the value `run-now` gave it (or the default), then any further parameter
/// `run-now` passed.
pub fn run_parameters(
    settings: &Map<String, Value>,
    overrides: Option<&Map<String, Value>>,
) -> Vec<Value> {
    let empty = Map::new();
    let overrides = overrides.unwrap_or(&empty);
    let defined: Vec<(&str, &Value)> = settings
        .get("parameters")
        .and_then(Value::as_array)
        .map(|params| {
            params
                .iter()
                .filter_map(|p| Some((p.get("name")?.as_str()?, p.get("default")?)))
                .collect()
        })
        .unwrap_or_default();
    let mut out: Vec<Value> = defined
        .iter()
        .map(|(name, default)| {
            let value = overrides.get(*name).unwrap_or(default);
            json!({"name": name, "default": default, "value": value})
        })
        .collect();
    for (name, value) in overrides {
        if !defined.iter().any(|(n, _)| n == name) {
            out.push(json!({"name": name, "value": value}));
        }
    }
    out
}

/// Checks the settings patchbay reads or that clients rely on being well-formed; everything
/// else is kept as sent. The message names the field.
pub fn validate(settings: &Map<String, Value>) -> Result<(), String> {
    if let Some(name) = settings.get("name") {
        let name = name.as_str().ok_or("settings.name must be a string.")?;
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!("settings.name must be at most {MAX_NAME_CHARS} characters."));
        }
    }
    for (field, range) in [("max_concurrent_runs", 0..=1000), ("timeout_seconds", 0..=i64::MAX)] {
        if let Some(v) = settings.get(field) {
            match v.as_i64() {
                Some(n) if range.contains(&n) => {}
                _ => {
                    return Err(format!(
                        "settings.{field} must be an integer between {} and {}, not {v}.",
                        range.start(),
                        range.end()
                    ));
                }
            }
        }
    }
    if let Some(format) = settings.get("format")
        && !matches!(format.as_str(), Some("SINGLE_TASK" | "MULTI_TASK"))
    {
        return Err(format!("settings.format must be SINGLE_TASK or MULTI_TASK, not {format}."));
    }
    if let Some(tags) = settings.get("tags") {
        let tags = tags.as_object().ok_or("settings.tags must be an object of strings.")?;
        if tags.len() > MAX_TAGS {
            return Err(format!("settings.tags may have at most {MAX_TAGS} tags."));
        }
        if let Some((k, _)) = tags.iter().find(|(_, v)| !v.is_string()) {
            return Err(format!("settings.tags.{k} must be a string."));
        }
    }
    for (field, key) in KEYED_ARRAYS {
        let Some(value) = settings.get(field) else {
            continue;
        };
        let items =
            value.as_array().ok_or_else(|| format!("settings.{field} must be an array."))?;
        if items.len() > MAX_ARRAY_LEN {
            return Err(format!("settings.{field} may have at most {MAX_ARRAY_LEN} elements."));
        }
        let mut seen = std::collections::HashSet::new();
        for item in items {
            let k = item
                .as_object()
                .and_then(|o| o.get(key))
                .and_then(Value::as_str)
                .filter(|k| !k.trim().is_empty())
                .ok_or_else(|| {
                    format!("Every element of settings.{field} needs a non-empty {key}.")
                })?;
            if !seen.insert(k) {
                return Err(format!(
                    "settings.{field} has {key} '{k}' more than once; {key} must be unique."
                ));
            }
        }
    }
    Ok(())
}

/// `jobs/update`: top-level fields of `new` replace the current ones, except the keyed arrays
/// (tasks, job clusters, environments, parameters), whose elements are replaced or added by key.
/// `fields_to_remove` removes top-level fields (`libraries`) or keyed elements (`tasks/ingest`).
pub fn update(
    current: &Map<String, Value>,
    new: &Map<String, Value>,
    fields_to_remove: &[String],
) -> Result<Map<String, Value>, String> {
    let mut settings = current.clone();
    for field in fields_to_remove {
        match field.split_once('/') {
            None => {
                settings.remove(field);
            }
            Some((array, element)) => {
                let (_, key) = KEYED_ARRAYS
                    .iter()
                    .find(|(a, _)| *a == array)
                    .ok_or_else(|| {
                        format!(
                            "fields_to_remove: '{field}' is not a top-level field or an element of tasks, job_clusters, environments or parameters."
                        )
                    })?;
                if let Some(items) = settings.get_mut(array).and_then(Value::as_array_mut) {
                    items.retain(|item| item.get(key).and_then(Value::as_str) != Some(element));
                }
            }
        }
    }
    for (field, value) in new {
        let keyed = KEYED_ARRAYS.iter().find(|(a, _)| a == field);
        match (keyed, settings.get_mut(field), value.as_array()) {
            (Some((_, key)), Some(Value::Array(items)), Some(additions)) => {
                for addition in additions {
                    let k = addition.get(*key);
                    match items.iter_mut().find(|i| k.is_some() && i.get(*key) == k) {
                        Some(existing) => *existing = addition.clone(),
                        None => items.push(addition.clone()),
                    }
                }
            }
            _ => {
                settings.insert(field.clone(), value.clone());
            }
        }
    }
    validate(&settings)?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let s = with_defaults(obj(json!({"name": "nightly", "max_concurrent_runs": 3})));
        assert_eq!(s["name"], "nightly");
        assert_eq!(s["max_concurrent_runs"], 3);
        assert_eq!(s["format"], "MULTI_TASK");
        assert_eq!(name_of(&with_defaults(Map::new())), "Untitled");
    }

    #[test]
    fn validation_names_the_field() {
        let bad = [
            (json!({"name": 5}), "settings.name"),
            (json!({"max_concurrent_runs": -1}), "max_concurrent_runs"),
            (json!({"max_concurrent_runs": "1"}), "max_concurrent_runs"),
            (json!({"tags": {"a": 1}}), "settings.tags.a"),
            (json!({"tasks": {}}), "settings.tasks must be an array"),
            (json!({"tasks": [{"notebook_task": {}}]}), "task_key"),
            (json!({"tasks": [{"task_key": "a"}, {"task_key": "a"}]}), "unique"),
            (json!({"format": "WEIRD"}), "settings.format"),
        ];
        for (settings, needle) in bad {
            let err = validate(&obj(settings.clone())).unwrap_err();
            assert!(err.contains(needle), "{settings}: {err}");
        }
        assert_eq!(
            validate(&obj(json!({"name": "ok", "tasks": [{"task_key": "a"}], "x": [1]}))),
            Ok(())
        );
    }

    #[test]
    fn update_merges_tasks_by_key_and_removes_fields() {
        let current = obj(json!({
            "name": "etl", "schedule": {"quartz_cron_expression": "0 0 * * * ?"},
            "tasks": [{"task_key": "a", "v": 1}, {"task_key": "b", "v": 1}]
        }));
        let new =
            obj(json!({"name": "etl2", "tasks": [{"task_key": "b", "v": 2}, {"task_key": "c"}]}));
        let removed = ["schedule".to_owned(), "tasks/a".to_owned()];
        let s = update(&current, &new, &removed).unwrap();
        assert_eq!(s["name"], "etl2");
        assert!(s.get("schedule").is_none());
        assert_eq!(s["tasks"], json!([{"task_key": "b", "v": 2}, {"task_key": "c"}]));
        let err = update(&current, &Map::new(), &["runs/x".to_owned()]).unwrap_err();
        assert!(err.contains("fields_to_remove"), "{err}");
        let err = update(&current, &obj(json!({"name": 1})), &[]).unwrap_err();
        assert!(err.contains("settings.name"), "{err}");
    }

    #[test]
    fn run_parameters_take_run_now_values_over_defaults() {
        let settings = json!({"parameters": [{"name": "env", "default": "dev"},
                                              {"name": "day", "default": "today"}]});
        let overrides = json!({"env": "prod", "extra": "x"});
        let params = run_parameters(settings.as_object().unwrap(), overrides.as_object());
        assert_eq!(
            params,
            vec![
                json!({"name": "env", "default": "dev", "value": "prod"}),
                json!({"name": "day", "default": "today", "value": "today"}),
                json!({"name": "extra", "value": "x"}),
            ]
        );
        assert!(run_parameters(&Map::new(), None).is_empty());
    }
}
