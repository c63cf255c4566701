//! SQL warehouses: what a valid specification is, the defaults Partner Connect uses, the state
//! machine, and the JDBC/ODBC coordinates clients connect with.

use super::{settled, wire_enum};
use crate::time::EpochMillis;

wire_enum! {
    /// The size of each of a warehouse's clusters.
    ClusterSize {
        XxSmall = "2X-Small",
        XSmall = "X-Small",
        Small = "Small",
        Medium = "Medium",
        Large = "Large",
        XLarge = "X-Large",
        XxLarge = "2X-Large",
        XxxLarge = "3X-Large",
        XxxxLarge = "4X-Large",
        XxxxxLarge = "5X-Large",
    }
}

wire_enum! {
    /// Classic or Pro; serverless compute needs Pro.
    WarehouseType {
        Classic = "CLASSIC",
        Pro = "PRO",
    }
}

wire_enum! {
    /// Whether a classic warehouse may use spot instances.
    SpotInstancePolicy {
        CostOptimized = "COST_OPTIMIZED",
        ReliabilityOptimized = "RELIABILITY_OPTIMIZED",
        PolicyUnspecified = "POLICY_UNSPECIFIED",
    }
}

wire_enum! {
    /// Which Databricks SQL release a warehouse follows.
    ChannelName {
        Current = "CHANNEL_NAME_CURRENT",
        Preview = "CHANNEL_NAME_PREVIEW",
        Previous = "CHANNEL_NAME_PREVIOUS",
        Custom = "CHANNEL_NAME_CUSTOM",
    }
}

wire_enum! {
    /// A warehouse's state, as `GET /api/2.0/sql/warehouses/{id}` reports it.
    WarehouseState {
        Starting = "STARTING",
        Running = "RUNNING",
        Stopping = "STOPPING",
        Stopped = "STOPPED",
        Deleting = "DELETING",
        Deleted = "DELETED",
    }
}

/// The release channel of a warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: ChannelName,
    pub dbsql_version: Option<String>,
}

/// Everything a client chooses about a warehouse. Built from a create or edit request (or by
/// Partner Connect from a name) and checked with [`WarehouseSpec::validate`] before it is
/// stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseSpec {
    pub name: String,
    pub cluster_size: ClusterSize,
    pub min_num_clusters: i64,
    pub max_num_clusters: i64,
    /// Idle minutes before the warehouse stops; 0 never stops it.
    pub auto_stop_mins: i64,
    pub enable_photon: bool,
    pub enable_serverless_compute: bool,
    pub warehouse_type: WarehouseType,
    pub spot_instance_policy: SpotInstancePolicy,
    pub channel: Channel,
    /// `tags.custom_tags`, in the client's order.
    pub custom_tags: Vec<(String, String)>,
    pub instance_profile_arn: Option<String>,
    pub statement_timeout: Option<i64>,
    pub max_dbu: Option<i64>,
}

/// Auto-stop when a create request does not say (the API's documented default).
pub const API_DEFAULT_AUTO_STOP_MINS: i64 = 120;
/// Longest warehouse name: names must be shorter than 100 characters.
pub const MAX_NAME_CHARS: usize = 99;
/// Most clusters a warehouse may scale to.
pub const MAX_NUM_CLUSTERS: i64 = 40;
/// Most clusters a warehouse may keep running at its minimum.
pub const MAX_MIN_NUM_CLUSTERS: i64 = 30;
/// Fewer than 45 custom tags.
pub const MAX_CUSTOM_TAGS: usize = 44;

impl Default for WarehouseSpec {
    /// What Partner Connect creates for a partner: 2X-Small, one cluster, auto-stop after ten
    /// minutes. Only the name is missing.
    fn default() -> WarehouseSpec {
        WarehouseSpec {
            name: String::new(),
            cluster_size: ClusterSize::XxSmall,
            min_num_clusters: 1,
            max_num_clusters: 1,
            auto_stop_mins: 10,
            enable_photon: true,
            enable_serverless_compute: false,
            warehouse_type: WarehouseType::Classic,
            spot_instance_policy: SpotInstancePolicy::CostOptimized,
            channel: Channel { name: ChannelName::Current, dbsql_version: None },
            custom_tags: Vec::new(),
            instance_profile_arn: None,
            statement_timeout: None,
            max_dbu: None,
        }
    }
}

impl WarehouseSpec {
    /// The Partner Connect defaults with a name, e.g. `FIVETRAN_ENDPOINT`.
    pub fn partner_connect(name: impl Into<String>) -> WarehouseSpec {
        WarehouseSpec { name: name.into(), ..WarehouseSpec::default() }
    }

    /// The rules the API documents; the message names the field and the rule.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("name is required and must not be blank.".into());
        }
        if self.name.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "name must be less than 100 characters; '{}…' has {}.",
                self.name.chars().take(20).collect::<String>(),
                self.name.chars().count()
            ));
        }
        if self.name.chars().any(char::is_control) {
            return Err("name must not contain control characters.".into());
        }
        if self.min_num_clusters < 1 || self.min_num_clusters > MAX_MIN_NUM_CLUSTERS {
            return Err(format!(
                "min_num_clusters must be between 1 and {MAX_MIN_NUM_CLUSTERS}, not {}.",
                self.min_num_clusters
            ));
        }
        if self.max_num_clusters < self.min_num_clusters || self.max_num_clusters > MAX_NUM_CLUSTERS
        {
            return Err(format!(
                "max_num_clusters must be between min_num_clusters ({}) and {MAX_NUM_CLUSTERS}, not {}.",
                self.min_num_clusters, self.max_num_clusters
            ));
        }
        if self.auto_stop_mins != 0 && self.auto_stop_mins < 10 {
            return Err(format!(
                "auto_stop_mins must be 0 (never stop) or at least 10, not {}.",
                self.auto_stop_mins
            ));
        }
        if self.enable_serverless_compute && self.warehouse_type != WarehouseType::Pro {
            return Err(
                "Serverless compute needs warehouse_type PRO; set warehouse_type to PRO or enable_serverless_compute to false."
                    .into(),
            );
        }
        if self.custom_tags.len() > MAX_CUSTOM_TAGS {
            return Err(format!(
                "tags.custom_tags must have fewer than 45 tags, not {}.",
                self.custom_tags.len()
            ));
        }
        if let Some((key, _)) = self.custom_tags.iter().find(|(k, _)| k.trim().is_empty()) {
            return Err(format!(
                "tags.custom_tags needs a non-blank key for every tag, not '{key}'."
            ));
        }
        if let Some(t) = self.statement_timeout.filter(|t| *t < 0) {
            return Err(format!("statement_timeout must not be negative, not {t}."));
        }
        if let Some(d) = self.max_dbu.filter(|d| *d < 0) {
            return Err(format!("max_dbu must not be negative, not {d}."));
        }
        Ok(())
    }
}

impl WarehouseState {
    /// The state `now`, for a state entered at `since`: STARTING becomes RUNNING and STOPPING
    /// becomes STOPPED once `delay_millis` has passed; DELETING becomes DELETED.
    pub fn at(self, since: EpochMillis, now: EpochMillis, delay_millis: i64) -> WarehouseState {
        let target = match self {
            WarehouseState::Starting => WarehouseState::Running,
            WarehouseState::Stopping => WarehouseState::Stopped,
            WarehouseState::Deleting => WarehouseState::Deleted,
            settled_state => return settled_state,
        };
        if settled(since, now, delay_millis) { target } else { self }
    }

    /// The state a start moves to, or `None` when the warehouse is already starting or
    /// running. Works on the stored state: a start leads to the same place whether or not a
    /// transition has settled yet.
    pub fn start(self) -> Option<WarehouseState> {
        match self {
            WarehouseState::Stopping | WarehouseState::Stopped => Some(WarehouseState::Starting),
            _ => None,
        }
    }

    /// The state a stop moves to, or `None` when the warehouse is already stopping or stopped.
    pub fn stop(self) -> Option<WarehouseState> {
        match self {
            WarehouseState::Starting | WarehouseState::Running => Some(WarehouseState::Stopping),
            _ => None,
        }
    }
}

/// Where clients reach a warehouse: the workspace's host and port, and its HTTP path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlEndpoint {
    pub protocol: String,
    pub hostname: String,
    pub port: i64,
    pub path: String,
}

impl SqlEndpoint {
    /// The endpoint of warehouse `id` in the workspace published at `public_url`.
    pub fn of(public_url: &str, id: &str) -> SqlEndpoint {
        let (scheme, rest) = public_url.split_once("://").unwrap_or(("https", public_url));
        let protocol = scheme.to_ascii_lowercase();
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let default_port = if protocol == "http" { 80 } else { 443 };
        let (hostname, port) = match authority.rsplit_once(':') {
            Some((host, port))
                if !host.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                (host, port.parse().unwrap_or(default_port))
            }
            _ => (authority, default_port),
        };
        SqlEndpoint {
            protocol,
            hostname: hostname.to_owned(),
            port,
            path: format!("/sql/1.0/warehouses/{id}"),
        }
    }

    /// The JDBC URL of the Databricks JDBC driver for this endpoint.
    pub fn jdbc_url(&self) -> String {
        let ssl = u8::from(self.protocol == "https");
        format!(
            "jdbc:spark://{}:{}/default;transportMode=http;ssl={ssl};AuthMech=3;httpPath={};",
            self.hostname, self.port, self.path
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_connect_defaults() {
        let spec = WarehouseSpec::partner_connect("FIVETRAN_ENDPOINT");
        assert_eq!(spec.cluster_size, ClusterSize::XxSmall);
        assert_eq!((spec.min_num_clusters, spec.max_num_clusters), (1, 1));
        assert_eq!(spec.auto_stop_mins, 10);
        assert_eq!(spec.validate(), Ok(()));
        assert!(WarehouseSpec::default().validate().is_err(), "no name");
    }

    #[test]
    fn wire_values_round_trip() {
        assert_eq!(ClusterSize::parse("2X-Small"), Some(ClusterSize::XxSmall));
        assert_eq!(ClusterSize::parse("5X-Large"), Some(ClusterSize::XxxxxLarge));
        assert_eq!(ClusterSize::parse("2x-small"), None);
        assert_eq!(ClusterSize::ALL.len(), 10);
        assert_eq!(WarehouseType::expected(), "CLASSIC, PRO");
        assert_eq!(WarehouseState::parse("RUNNING"), Some(WarehouseState::Running));
    }

    fn invalid(change: impl FnOnce(&mut WarehouseSpec)) -> String {
        let mut spec = WarehouseSpec::partner_connect("w");
        change(&mut spec);
        spec.validate().unwrap_err()
    }

    #[test]
    fn validation_names_the_rule() {
        assert!(invalid(|s| s.name = " ".into()).contains("name is required"));
        assert!(invalid(|s| s.name = "x".repeat(100)).contains("less than 100"));
        let ok = WarehouseSpec::partner_connect("x".repeat(99));
        assert_eq!(ok.validate(), Ok(()));
        assert!(invalid(|s| s.min_num_clusters = 0).contains("min_num_clusters"));
        assert!(invalid(|s| s.max_num_clusters = 41).contains("max_num_clusters"));
        assert!(
            invalid(|s| {
                s.min_num_clusters = 3;
                s.max_num_clusters = 2;
            })
            .contains("max_num_clusters")
        );
        assert!(invalid(|s| s.auto_stop_mins = 5).contains("auto_stop_mins"));
        assert!(invalid(|s| s.enable_serverless_compute = true).contains("PRO"));
        assert!(invalid(|s| s.custom_tags = vec![("".into(), "v".into())]).contains("key"));
        let mut pro = WarehouseSpec::partner_connect("p");
        pro.warehouse_type = WarehouseType::Pro;
        pro.enable_serverless_compute = true;
        pro.auto_stop_mins = 0;
        assert_eq!(pro.validate(), Ok(()));
    }

    #[test]
    fn states_move_with_time_and_never_stop_on_their_own() {
        use WarehouseState::*;
        assert_eq!(Starting.at(1000, 1500, 1000), Starting);
        assert_eq!(Starting.at(1000, 2000, 1000), Running);
        assert_eq!(Stopping.at(1000, 2000, 1000), Stopped);
        assert_eq!(Running.at(0, i64::MAX, 0), Running);
        assert_eq!(Stopped.start(), Some(Starting));
        assert_eq!(Stopping.start(), Some(Starting));
        assert_eq!(Starting.start(), None);
        assert_eq!(Running.stop(), Some(Stopping));
        assert_eq!(Starting.stop(), Some(Stopping));
        assert_eq!(Stopped.stop(), None);
    }

    #[test]
    fn endpoints_come_from_the_public_url() {
        let e = SqlEndpoint::of("https://adb-1.example.net", "2b1613d995c81e7d");
        assert_eq!(
            e,
            SqlEndpoint {
                protocol: "https".into(),
                hostname: "adb-1.example.net".into(),
                port: 443,
                path: "/sql/1.0/warehouses/2b1613d995c81e7d".into(),
            }
        );
        assert_eq!(
            e.jdbc_url(),
            "jdbc:spark://adb-1.example.net:443/default;transportMode=http;ssl=1;AuthMech=3;httpPath=/sql/1.0/warehouses/2b1613d995c81e7d;"
        );
        let local = SqlEndpoint::of("http://127.0.0.1:8080/", "x");
        assert_eq!((local.hostname.as_str(), local.port), ("127.0.0.1", 8080));
        assert!(local.jdbc_url().contains("ssl=0"));
        let v6 = SqlEndpoint::of("https://[::1]:9443", "x");
        assert_eq!((v6.hostname.as_str(), v6.port), ("[::1]", 9443));
    }
}
