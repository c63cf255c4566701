//! What a workspace offers to build clusters from: the Databricks Runtime versions
//! (`clusters/spark-versions`) and the node types (`clusters/list-node-types`). Static data: no
//! cloud is behind patchbay, so these are the runtimes and AWS instance types a workspace
//! typically lists, with every field the SDKs' `select_spark_version` and `select_node_type`
//! read. Cluster specifications accept every id listed here (and, as before, any other).

/// A Databricks Runtime version: `key` goes into `spark_version`, `name` is what people read
/// (and what the SDKs search for "LTS", "Beta" and "Apache Spark X.Y").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparkVersion {
    pub key: &'static str,
    pub name: &'static str,
}

const fn version(key: &'static str, name: &'static str) -> SparkVersion {
    SparkVersion { key, name }
}

/// The runtimes `clusters/spark-versions` lists: long-term-support and current releases, their
/// ML, GPU, Photon and Graviton variants, a beta and a legacy light runtime (which the SDKs skip).
pub const SPARK_VERSIONS: &[SparkVersion] = &[
    version("17.2.x-scala2.13", "17.2 Beta (includes Apache Spark 4.0.0, Scala 2.13)"),
    version("17.1.x-scala2.13", "17.1 (includes Apache Spark 4.0.0, Scala 2.13)"),
    version("17.0.x-scala2.13", "17.0 (includes Apache Spark 4.0.0, Scala 2.13)"),
    version("16.4.x-scala2.13", "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.13)"),
    version("16.4.x-scala2.12", "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)"),
    version("16.4.x-cpu-ml-scala2.12", "16.4 LTS ML (includes Apache Spark 3.5.2, Scala 2.12)"),
    version(
        "16.4.x-gpu-ml-scala2.12",
        "16.4 LTS ML (includes Apache Spark 3.5.2, GPU, Scala 2.12)",
    ),
    version(
        "16.4.x-aarch64-scala2.12",
        "16.4 LTS aarch64 (includes Apache Spark 3.5.2, Scala 2.12)",
    ),
    version("15.4.x-scala2.12", "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)"),
    version("15.4.x-cpu-ml-scala2.12", "15.4 LTS ML (includes Apache Spark 3.5.0, Scala 2.12)"),
    version("15.4.x-photon-scala2.12", "15.4 LTS Photon (includes Apache Spark 3.5.0, Scala 2.12)"),
    version("14.3.x-scala2.12", "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)"),
    version("13.3.x-scala2.12", "13.3 LTS (includes Apache Spark 3.4.1, Scala 2.12)"),
    version("apache-spark-2.4.x-scala2.11", "Light 2.4 (includes Apache Spark 2.4, Scala 2.11)"),
];

/// A node type: an instance type with what Spark gets of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeType {
    pub node_type_id: &'static str,
    pub category: &'static str,
    pub description: &'static str,
    pub memory_mb: i64,
    pub num_cores: f64,
    pub num_gpus: i64,
    /// Instance-store disks and their size each (what `select_node_type(local_disk=True)` wants).
    pub local_disks: i64,
    pub local_disk_size_gb: i64,
    pub is_graviton: bool,
    pub is_io_cache_enabled: bool,
    pub photon_capable: bool,
    pub is_deprecated: bool,
}

const GENERAL: &str = "General Purpose";
const MEMORY: &str = "Memory Optimized";
const STORAGE: &str = "Storage Optimized";
const COMPUTE: &str = "Compute Optimized";
const GPU: &str = "GPU Accelerated";

#[expect(clippy::too_many_arguments, reason = "one row of a table, in the table's column order")]
const fn node(
    node_type_id: &'static str,
    category: &'static str,
    description: &'static str,
    memory_mb: i64,
    num_cores: f64,
    num_gpus: i64,
    local_disks: i64,
    local_disk_size_gb: i64,
) -> NodeType {
    NodeType {
        node_type_id,
        category,
        description,
        memory_mb,
        num_cores,
        num_gpus,
        local_disks,
        local_disk_size_gb,
        is_graviton: false,
        is_io_cache_enabled: local_disks > 0,
        photon_capable: num_gpus == 0,
        is_deprecated: false,
    }
}

const fn graviton(n: NodeType) -> NodeType {
    NodeType { is_graviton: true, ..n }
}

const fn deprecated(n: NodeType) -> NodeType {
    NodeType { is_deprecated: true, ..n }
}

/// The node types `clusters/list-node-types` lists (AWS instance types).
pub const NODE_TYPES: &[NodeType] = &[
    node("m5.large", GENERAL, "m5.large", 8192, 2.0, 0, 0, 0),
    node("m5.xlarge", GENERAL, "m5.xlarge", 16384, 4.0, 0, 0, 0),
    node("m5.2xlarge", GENERAL, "m5.2xlarge", 32768, 8.0, 0, 0, 0),
    node("m5d.large", GENERAL, "m5d.large", 8192, 2.0, 0, 1, 75),
    node("m5d.xlarge", GENERAL, "m5d.xlarge", 16384, 4.0, 0, 1, 150),
    node("m5d.2xlarge", GENERAL, "m5d.2xlarge", 32768, 8.0, 0, 1, 300),
    graviton(node("m6gd.large", GENERAL, "m6gd.large", 8192, 2.0, 0, 1, 118)),
    graviton(node("m6gd.xlarge", GENERAL, "m6gd.xlarge", 16384, 4.0, 0, 1, 237)),
    node("r5d.large", MEMORY, "r5d.large", 16384, 2.0, 0, 1, 75),
    node("r5d.xlarge", MEMORY, "r5d.xlarge", 32768, 4.0, 0, 1, 150),
    node("i3.xlarge", STORAGE, "i3.xlarge", 31232, 4.0, 0, 1, 950),
    node("i3.2xlarge", STORAGE, "i3.2xlarge", 62464, 8.0, 0, 1, 1900),
    node("c5.xlarge", COMPUTE, "c5.xlarge", 8192, 4.0, 0, 0, 0),
    node("c5d.xlarge", COMPUTE, "c5d.xlarge", 8192, 4.0, 0, 1, 100),
    node("g4dn.xlarge", GPU, "g4dn.xlarge", 16384, 4.0, 1, 1, 125),
    node("g5.xlarge", GPU, "g5.xlarge", 16384, 4.0, 1, 1, 250),
    deprecated(node("m4.large", GENERAL, "m4.large", 8192, 2.0, 0, 0, 0)),
];

/// A runtime of the list, by key.
pub fn spark_version(key: &str) -> Option<&'static SparkVersion> {
    SPARK_VERSIONS.iter().find(|v| v.key == key)
}

/// A node type of the list, by id.
pub fn node_type(id: &str) -> Option<&'static NodeType> {
    NODE_TYPES.iter().find(|n| n.node_type_id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::ClusterSpec;
    use crate::compute::cluster::{DEFAULT_NODE_TYPE_ID, DEFAULT_SPARK_VERSION};

    #[test]
    fn the_defaults_partner_connect_uses_are_listed() {
        assert!(spark_version(DEFAULT_SPARK_VERSION).is_some());
        assert!(node_type(DEFAULT_NODE_TYPE_ID).is_some());
    }

    #[test]
    fn ids_are_unique_and_every_listed_id_makes_a_valid_cluster() {
        for (i, v) in SPARK_VERSIONS.iter().enumerate() {
            assert!(SPARK_VERSIONS[..i].iter().all(|w| w.key != v.key), "{}", v.key);
            let mut spec = ClusterSpec::partner_connect("c");
            spec.spark_version = v.key.into();
            assert_eq!(spec.validate(), Ok(()), "{}", v.key);
        }
        for (i, n) in NODE_TYPES.iter().enumerate() {
            assert!(NODE_TYPES[..i].iter().all(|m| m.node_type_id != n.node_type_id));
            let mut spec = ClusterSpec::partner_connect("c");
            spec.node_type_id = Some(n.node_type_id.into());
            assert_eq!(spec.validate(), Ok(()), "{}", n.node_type_id);
        }
    }

    #[test]
    fn there_is_a_long_term_support_runtime_for_each_scala() {
        for scala in ["-scala2.12", "-scala2.13"] {
            assert!(
                SPARK_VERSIONS.iter().any(|v| v.key.ends_with(scala) && v.name.contains(" LTS ")),
                "{scala}"
            );
        }
    }
}
