//! Compute without compute: SQL warehouses, clusters and jobs as records with the lifecycle and
//! the access rules of the real ones. Which permission level implies which, how an ACL update
//! combines with the current ACL, how states move with time, what a valid warehouse or cluster
//! specification is, and how job settings are updated — all pure functions.

pub mod cluster;
pub mod job;
pub mod permissions;
pub mod run;
pub mod runtimes;
pub mod warehouse;

pub use cluster::{AutoScale, ClusterSpec, ClusterState};
pub use permissions::{
    AclGrant, AclPlan, Action, ObjectKind, PermissionLevel, TOKEN_LEVELS, describe_token_level,
    plan_acl,
};
pub use warehouse::{
    Channel, ChannelName, ClusterSize, SpotInstancePolicy, WarehouseSpec, WarehouseState,
    WarehouseType,
};

use crate::time::EpochMillis;

/// Whether a transitional state entered at `since` has reached its end state at `now`. States
/// move lazily, on read, so no background worker has to run for them and every node of a
/// cluster agrees on the state at any instant.
fn settled(since: EpochMillis, now: EpochMillis, delay_millis: i64) -> bool {
    now.saturating_sub(since) >= delay_millis.max(0)
}

/// Declares a closed set of wire strings as an enum with `ALL`, `as_str` and `parse`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in the order the API documents them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The value a client sent, if it is one of ours (exact match).
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            /// The accepted values, for error messages.
            pub fn expected() -> String {
                $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;

/// A new SQL warehouse id: 16 lowercase hex digits, like the real ones.
pub fn new_warehouse_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A new cluster id, `MMDD-HHMMSS-xxxxxxxx` (UTC creation time and eight random lowercase
/// letters and digits), the shape clients and people recognise.
pub fn new_cluster_id(now: EpochMillis) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let suffix: String =
        (0..8).map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())])).collect();
    let secs = now.div_euclid(1000);
    let (_, month, day) = crate::time::civil_date(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{month:02}{day:02}-{:02}{:02}{:02}-{suffix}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warehouse_ids_are_sixteen_hex_digits() {
        for _ in 0..100 {
            let id = new_warehouse_id();
            assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
    }

    #[test]
    fn cluster_ids_carry_the_creation_time() {
        // 2020-01-29 02:30:20 UTC
        let id = new_cluster_id(1_580_265_020_299);
        assert!(id.starts_with("0129-023020-"), "{id}");
        assert_eq!(id.len(), 20);
        let suffix = &id[12..];
        assert!(suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    }

    #[test]
    fn settling_takes_the_delay() {
        assert!(!settled(1000, 1999, 1000));
        assert!(settled(1000, 2000, 1000));
        assert!(settled(1000, 1000, 0));
        assert!(settled(1000, 1000, -5), "a negative delay counts as none");
    }
}
