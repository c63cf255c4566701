//! Clusters: the specification clients send (checked fields plus everything else kept as sent),
//! and the state machine.

use super::{settled, wire_enum};
use crate::time::EpochMillis;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

wire_enum! {
    /// A cluster's state, as `clusters/get` reports it.
    ClusterState {
        Pending = "PENDING",
        Running = "RUNNING",
        Restarting = "RESTARTING",
        Resizing = "RESIZING",
        Terminating = "TERMINATING",
        Terminated = "TERMINATED",
        Error = "ERROR",
        Unknown = "UNKNOWN",
    }
}

/// The access modes a cluster may be created with.
pub const DATA_SECURITY_MODES: [&str; 10] = [
    "NONE",
    "SINGLE_USER",
    "USER_ISOLATION",
    "LEGACY_TABLE_ACL",
    "LEGACY_PASSTHROUGH",
    "LEGACY_SINGLE_USER",
    "LEGACY_SINGLE_USER_STANDARD",
    "DATA_SECURITY_MODE_AUTO",
    "DATA_SECURITY_MODE_STANDARD",
    "DATA_SECURITY_MODE_DEDICATED",
];

/// The Databricks Runtime a cluster gets when its creator does not choose (Partner Connect).
pub const DEFAULT_SPARK_VERSION: &str = "15.4.x-scala2.12";
/// The node type a cluster gets when its creator does not choose (Partner Connect).
pub const DEFAULT_NODE_TYPE_ID: &str = "i3.xlarge";
/// Longest cluster name.
pub const MAX_NAME_CHARS: usize = 100;

/// Autoscaling bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoScale {
    pub min_workers: i64,
    pub max_workers: i64,
}

/// A cluster as its creator describes it (`clusters/create` and `clusters/edit`). The fields
/// patchbay checks are typed; every other field the client sent (`aws_attributes`,
/// `runtime_engine`, …) is kept as sent in `other` and answered back, so clients see their own
/// settings again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSpec {
    #[serde(default)]
    pub cluster_name: String,
    #[serde(default)]
    pub spark_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_node_type_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_workers: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoScale>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autotermination_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spark_conf: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_security_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_user_name: Option<String>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl ClusterSpec {
    /// A small cluster with the default runtime and node type, e.g. `PROPHECY_CLUSTER` for
    /// Partner Connect: one worker, terminated after two idle hours.
    pub fn partner_connect(name: impl Into<String>) -> ClusterSpec {
        ClusterSpec {
            cluster_name: name.into(),
            spark_version: DEFAULT_SPARK_VERSION.into(),
            node_type_id: Some(DEFAULT_NODE_TYPE_ID.into()),
            driver_node_type_id: None,
            num_workers: Some(1),
            autoscale: None,
            autotermination_minutes: Some(120),
            spark_conf: BTreeMap::new(),
            custom_tags: BTreeMap::new(),
            data_security_mode: None,
            single_user_name: None,
            other: Map::new(),
        }
    }

    /// The rules the API documents; the message names the field and the rule.
    pub fn validate(&self) -> Result<(), String> {
        if self.spark_version.trim().is_empty() {
            return Err("spark_version is required.".into());
        }
        if self.cluster_name.chars().count() > MAX_NAME_CHARS {
            return Err(format!("cluster_name must be at most {MAX_NAME_CHARS} characters."));
        }
        if self.cluster_name.chars().any(char::is_control) {
            return Err("cluster_name must not contain control characters.".into());
        }
        if let Some(n) = self.num_workers.filter(|n| !(0..=100_000).contains(n)) {
            return Err(format!("num_workers must be between 0 and 100000, not {n}."));
        }
        if let Some(a) = self.autoscale
            && (a.min_workers < 0 || a.max_workers < 1 || a.max_workers < a.min_workers)
        {
            return Err(format!(
                "autoscale needs 0 <= min_workers <= max_workers and max_workers >= 1, not {}..{}.",
                a.min_workers, a.max_workers
            ));
        }
        if let Some(m) =
            self.autotermination_minutes.filter(|m| *m != 0 && !(10..=10_000).contains(m))
        {
            return Err(format!(
                "autotermination_minutes must be 0 (never) or between 10 and 10000, not {m}."
            ));
        }
        if let Some(mode) = &self.data_security_mode
            && !DATA_SECURITY_MODES.contains(&mode.as_str())
        {
            return Err(format!(
                "data_security_mode '{mode}' is not one of {}.",
                DATA_SECURITY_MODES.join(", ")
            ));
        }
        Ok(())
    }
}

impl ClusterState {
    /// Whether the cluster is up or on its way up.
    fn is_up(self) -> bool {
        matches!(
            self,
            ClusterState::Pending
                | ClusterState::Running
                | ClusterState::Restarting
                | ClusterState::Resizing
        )
    }

    /// The state `now`, for a state entered at `since`: PENDING, RESTARTING and RESIZING become
    /// RUNNING, TERMINATING becomes TERMINATED once `delay_millis` has passed.
    pub fn at(self, since: EpochMillis, now: EpochMillis, delay_millis: i64) -> ClusterState {
        let target = match self {
            ClusterState::Pending | ClusterState::Restarting | ClusterState::Resizing => {
                ClusterState::Running
            }
            ClusterState::Terminating => ClusterState::Terminated,
            settled_state => return settled_state,
        };
        if settled(since, now, delay_millis) { target } else { self }
    }

    /// The state a start moves to, or `None` when the cluster is already up or coming up.
    pub fn start(self) -> Option<ClusterState> {
        (!self.is_up()).then_some(ClusterState::Pending)
    }

    /// The state a terminate (`clusters/delete`) moves to, or `None` when it is already
    /// terminating or terminated.
    pub fn terminate(self) -> Option<ClusterState> {
        self.is_up().then_some(ClusterState::Terminating)
    }

    /// The state a restart moves to; only a cluster that is up can restart.
    pub fn restart(self) -> Result<ClusterState, String> {
        if self.is_up() {
            Ok(ClusterState::Restarting)
        } else {
            Err("Restart needs a cluster that is up; start it instead.".into())
        }
    }

    /// The state an edit moves to: a cluster that is up restarts with its new settings, a
    /// terminated one stays terminated.
    pub fn edit(self) -> Option<ClusterState> {
        self.is_up().then_some(ClusterState::Restarting)
    }

    /// The `state_message` shown with a state.
    pub fn message(self) -> &'static str {
        match self {
            ClusterState::Pending => "Starting the cluster.",
            ClusterState::Restarting => "Restarting the cluster.",
            ClusterState::Resizing => "Resizing the cluster.",
            ClusterState::Terminating => "Terminating the cluster.",
            ClusterState::Terminated => "Terminated by a user request.",
            ClusterState::Running | ClusterState::Error | ClusterState::Unknown => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_kept_and_known_ones_typed() {
        let spec: ClusterSpec = serde_json::from_value(json!({
            "cluster_name": "c", "spark_version": "14.3.x-scala2.12", "num_workers": 2,
            "aws_attributes": {"availability": "SPOT"}, "spark_conf": {"a": "b"}
        }))
        .unwrap();
        assert_eq!(spec.num_workers, Some(2));
        assert_eq!(spec.other["aws_attributes"]["availability"], "SPOT");
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["aws_attributes"]["availability"], "SPOT");
        assert_eq!(back["spark_conf"]["a"], "b");
        assert!(back.get("custom_tags").is_none());
        let wrong: Result<ClusterSpec, _> = serde_json::from_value(json!({"num_workers": "two"}));
        assert!(wrong.is_err());
    }

    #[test]
    fn validation_names_the_rule() {
        assert_eq!(ClusterSpec::partner_connect("PROPHECY_CLUSTER").validate(), Ok(()));
        let mut spec = ClusterSpec::partner_connect("c");
        spec.spark_version = String::new();
        assert!(spec.validate().unwrap_err().contains("spark_version"));
        let mut spec = ClusterSpec::partner_connect("c");
        spec.autotermination_minutes = Some(5);
        assert!(spec.validate().unwrap_err().contains("autotermination_minutes"));
        let mut spec = ClusterSpec::partner_connect("c");
        spec.autoscale = Some(AutoScale { min_workers: 3, max_workers: 2 });
        assert!(spec.validate().unwrap_err().contains("autoscale"));
        let mut spec = ClusterSpec::partner_connect("c");
        spec.data_security_mode = Some("WIDE_OPEN".into());
        assert!(spec.validate().unwrap_err().contains("data_security_mode"));
        let mut spec = ClusterSpec::partner_connect("c");
        spec.num_workers = Some(-1);
        assert!(spec.validate().unwrap_err().contains("num_workers"));
    }

    #[test]
    fn states_move_like_a_real_cluster() {
        use ClusterState::*;
        assert_eq!(Pending.at(0, 10, 100), Pending);
        assert_eq!(Pending.at(0, 100, 100), Running);
        assert_eq!(Terminating.at(0, 100, 100), Terminated);
        assert_eq!(Terminated.at(0, 100, 100), Terminated);
        assert_eq!(Terminated.start(), Some(Pending));
        assert_eq!(Running.start(), None);
        assert_eq!(Pending.terminate(), Some(Terminating));
        assert_eq!(Terminated.terminate(), None);
        assert_eq!(Running.restart(), Ok(Restarting));
        assert!(Terminated.restart().is_err());
        assert_eq!(Running.edit(), Some(Restarting));
        assert_eq!(Terminated.edit(), None);
    }
}
