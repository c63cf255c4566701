//! Object permissions of warehouses, clusters and jobs: each type's levels (weakest first, each
//! implying the ones before it), what each action needs, and how a PUT or PATCH of an ACL
//! combines with the current one — including the rule that an object with an owner has exactly
//! one.

use crate::PrincipalId;

/// A kind of object that has its own ACL in the Permissions API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Warehouse,
    Cluster,
    Job,
}

/// A permission level, across all kinds; [`ObjectKind::levels`] says which a kind has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PermissionLevel {
    CanView,
    CanMonitor,
    CanUse,
    CanAttachTo,
    CanRestart,
    CanManageRun,
    CanManage,
    IsOwner,
}

/// What a caller wants to do to an object; each kind maps it to the level it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See it in lists, read it, read its ACL.
    View,
    /// Start it (a warehouse or a cluster) or run it (a job).
    Start,
    /// See what everyone does with it: every query a warehouse ran (CAN_MONITOR). What anyone
    /// does with a cluster or a job shows to whoever sees it.
    Monitor,
    /// Stop a warehouse, terminate or restart a cluster.
    Stop,
    /// Edit, delete, change the ACL.
    Manage,
}

impl PermissionLevel {
    const ALL: [PermissionLevel; 8] = [
        PermissionLevel::CanView,
        PermissionLevel::CanMonitor,
        PermissionLevel::CanUse,
        PermissionLevel::CanAttachTo,
        PermissionLevel::CanRestart,
        PermissionLevel::CanManageRun,
        PermissionLevel::CanManage,
        PermissionLevel::IsOwner,
    ];

    /// The level as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionLevel::CanView => "CAN_VIEW",
            PermissionLevel::CanMonitor => "CAN_MONITOR",
            PermissionLevel::CanUse => "CAN_USE",
            PermissionLevel::CanAttachTo => "CAN_ATTACH_TO",
            PermissionLevel::CanRestart => "CAN_RESTART",
            PermissionLevel::CanManageRun => "CAN_MANAGE_RUN",
            PermissionLevel::CanManage => "CAN_MANAGE",
            PermissionLevel::IsOwner => "IS_OWNER",
        }
    }

    /// Any known level, whatever the kind.
    pub fn parse(s: &str) -> Option<PermissionLevel> {
        PermissionLevel::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// The level as the API and the store spell it.
impl serde::Serialize for PermissionLevel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The levels of the token permission (`authorization/tokens`), which decides who may hold
/// personal access tokens: CAN_USE holds them, CAN_MANAGE also decides who may.
pub const TOKEN_LEVELS: [PermissionLevel; 2] =
    [PermissionLevel::CanUse, PermissionLevel::CanManage];

/// The one-line description the token permission's `permissionLevels` answers for a level.
pub fn describe_token_level(level: PermissionLevel) -> &'static str {
    match level {
        PermissionLevel::CanUse => "Can create and use personal access tokens",
        PermissionLevel::CanManage => "Can manage who may use personal access tokens",
        _ => "",
    }
}

impl std::fmt::Display for PermissionLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ObjectKind {
    /// Every kind.
    pub const ALL: [ObjectKind; 3] = [ObjectKind::Warehouse, ObjectKind::Cluster, ObjectKind::Job];

    /// The `object_type` the Permissions API answers; Terraform checks it exactly.
    pub fn object_type(self) -> &'static str {
        match self {
            ObjectKind::Warehouse => "warehouses",
            ObjectKind::Cluster => "cluster",
            ObjectKind::Job => "job",
        }
    }

    /// The `object_type` of this kind's rows in the store's ACL table.
    pub fn storage_type(self) -> &'static str {
        match self {
            ObjectKind::Warehouse => "warehouses",
            ObjectKind::Cluster => "clusters",
            ObjectKind::Job => "jobs",
        }
    }

    /// The `object_id` the Permissions API answers for an object of this kind.
    pub fn object_id(self, id: &str) -> String {
        match self {
            ObjectKind::Warehouse => format!("warehouses/{id}"),
            ObjectKind::Cluster => format!("/clusters/{id}"),
            ObjectKind::Job => format!("/jobs/{id}"),
        }
    }

    /// Where the admins' implicit CAN_MANAGE comes from, as `inherited_from_object` shows it.
    pub fn root_object(self) -> &'static str {
        match self {
            ObjectKind::Warehouse => "/sql/warehouses/",
            ObjectKind::Cluster => "/clusters/",
            ObjectKind::Job => "/jobs/",
        }
    }

    /// The object's name in messages.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Warehouse => "SQL warehouse",
            ObjectKind::Cluster => "cluster",
            ObjectKind::Job => "job",
        }
    }

    /// This kind's levels, weakest first; every level implies all the ones before it.
    /// Warehouses: CAN_MONITOR (view every query) is placed above CAN_USE, as in the current
    /// Databricks documentation where monitoring includes using.
    pub fn levels(self) -> &'static [PermissionLevel] {
        use PermissionLevel::*;
        match self {
            ObjectKind::Warehouse => &[CanView, CanUse, CanMonitor, CanManage, IsOwner],
            ObjectKind::Cluster => &[CanAttachTo, CanRestart, CanManage],
            ObjectKind::Job => &[CanView, CanManageRun, CanManage, IsOwner],
        }
    }

    /// A level of this kind, or `None` for anything else (another kind's level included).
    pub fn parse_level(self, s: &str) -> Option<PermissionLevel> {
        PermissionLevel::parse(s).filter(|l| self.levels().contains(l))
    }

    /// The levels for an error message: "A, B or C".
    pub fn expected_levels(self) -> String {
        let names: Vec<&str> = self.levels().iter().map(|l| l.as_str()).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }

    /// Whether objects of this kind have exactly one IS_OWNER.
    pub fn has_owner(self) -> bool {
        self.levels().contains(&PermissionLevel::IsOwner)
    }

    /// What the creator of an object gets: IS_OWNER where the kind has it, else CAN_MANAGE.
    pub fn creator_level(self) -> PermissionLevel {
        if self.has_owner() { PermissionLevel::IsOwner } else { PermissionLevel::CanManage }
    }

    /// The one-line description `permissionLevels` answers.
    pub fn describe(self, level: PermissionLevel) -> &'static str {
        use PermissionLevel::*;
        match (self, level) {
            (ObjectKind::Warehouse, CanView) => "Can view the SQL warehouse",
            (ObjectKind::Warehouse, CanUse) => "Can use and start the SQL warehouse",
            (ObjectKind::Warehouse, CanMonitor) => {
                "Can use the SQL warehouse and monitor all its queries"
            }
            (ObjectKind::Warehouse, CanManage) => "Can manage the SQL warehouse",
            (ObjectKind::Warehouse, IsOwner) => "Is the owner of the SQL warehouse",
            (ObjectKind::Cluster, CanAttachTo) => "Can attach to the cluster",
            (ObjectKind::Cluster, CanRestart) => "Can start, restart and terminate the cluster",
            (ObjectKind::Cluster, CanManage) => "Can manage the cluster",
            (ObjectKind::Job, CanView) => "Can view the job",
            (ObjectKind::Job, CanManageRun) => "Can run the job and manage its runs",
            (ObjectKind::Job, CanManage) => "Can manage the job",
            (ObjectKind::Job, IsOwner) => "Is the owner of the job",
            _ => "",
        }
    }

    /// The weakest level that allows `action` on this kind.
    pub fn required(self, action: Action) -> PermissionLevel {
        use PermissionLevel::*;
        match (self, action) {
            (ObjectKind::Warehouse, Action::View) => CanView,
            (ObjectKind::Warehouse, Action::Start) => CanUse,
            (ObjectKind::Warehouse, Action::Monitor) => CanMonitor,
            (ObjectKind::Warehouse, Action::Stop | Action::Manage) => CanManage,
            (ObjectKind::Cluster, Action::View | Action::Monitor) => CanAttachTo,
            (ObjectKind::Cluster, Action::Start | Action::Stop) => CanRestart,
            (ObjectKind::Cluster, Action::Manage) => CanManage,
            (ObjectKind::Job, Action::View | Action::Monitor) => CanView,
            (ObjectKind::Job, Action::Start | Action::Stop) => CanManageRun,
            (ObjectKind::Job, Action::Manage) => CanManage,
        }
    }

    fn rank(self, level: PermissionLevel) -> Option<usize> {
        self.levels().iter().position(|l| *l == level)
    }

    /// Whether holding `held` gives everything `required` gives.
    pub fn implies(self, held: PermissionLevel, required: PermissionLevel) -> bool {
        match (self.rank(held), self.rank(required)) {
            (Some(h), Some(r)) => h >= r,
            _ => false,
        }
    }

    /// The levels of this kind that allow `action`, weakest first.
    pub fn levels_allowing(self, action: Action) -> &'static [PermissionLevel] {
        let levels = self.levels();
        let from = self.rank(self.required(action)).unwrap_or(levels.len());
        &levels[from..]
    }

    /// Whether any of the levels a principal holds (directly or through groups) allows
    /// `action`.
    pub fn allows(self, held: &[PermissionLevel], action: Action) -> bool {
        let required = self.required(action);
        held.iter().any(|l| self.implies(*l, required))
    }

    /// The stronger of two levels of this kind (the first if neither belongs to it).
    pub fn stronger(self, a: PermissionLevel, b: PermissionLevel) -> PermissionLevel {
        if self.rank(b) > self.rank(a) { b } else { a }
    }
}

/// One requested ACL entry with its principal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclGrant {
    pub principal_id: PrincipalId,
    /// Groups can hold any level but IS_OWNER.
    pub is_group: bool,
    pub level: PermissionLevel,
}

/// The direct ACL an update leads to, and who owns the object before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclPlan {
    /// One level per principal.
    pub entries: Vec<(PrincipalId, PermissionLevel)>,
    pub previous_owner: Option<PrincipalId>,
    pub owner: Option<PrincipalId>,
}

impl AclPlan {
    /// Whether the update moves ownership, which only an admin or the current owner may do.
    pub fn changes_owner(&self) -> bool {
        self.previous_owner.is_some() && self.previous_owner != self.owner
            || self.previous_owner.is_none() && self.owner.is_some()
    }
}

/// Combines a requested ACL with the current direct one.
///
/// `replace` (PUT): the request becomes the ACL; if it names no owner, the current owner stays
/// owner. Otherwise (PATCH): each requested entry sets that principal's level; a new owner
/// moves ownership and the previous owner keeps CAN_MANAGE, as when a Databricks admin
/// transfers ownership. A principal named twice gets the stronger level (Terraform sends the
/// current user with both CAN_MANAGE and IS_OWNER). Errors are messages for the client.
pub fn plan_acl(
    kind: ObjectKind,
    current: &[(PrincipalId, PermissionLevel)],
    requested: &[AclGrant],
    replace: bool,
) -> Result<AclPlan, String> {
    let noun = kind.noun();
    let mut wanted: Vec<(PrincipalId, PermissionLevel)> = Vec::new();
    for grant in requested {
        if !kind.levels().contains(&grant.level) {
            return Err(format!(
                "Permission level {} is not valid for a {noun}; use {}.",
                grant.level,
                kind.expected_levels()
            ));
        }
        if grant.level == PermissionLevel::IsOwner && grant.is_group {
            return Err(format!(
                "A group cannot own a {noun}; give IS_OWNER to a user or a service principal."
            ));
        }
        set_level(&mut wanted, grant.principal_id, grant.level, |old, new| kind.stronger(old, new));
    }
    let owners: Vec<PrincipalId> = owners_of(&wanted);
    if owners.len() > 1 {
        return Err(format!(
            "A {noun} has exactly one owner, but the request gives IS_OWNER to {} principals.",
            owners.len()
        ));
    }
    let new_owner = owners.first().copied();
    let previous_owner = owners_of(current).first().copied();

    let entries = if replace {
        let mut entries = wanted;
        if let (None, Some(owner)) = (new_owner, previous_owner) {
            set_level(&mut entries, owner, PermissionLevel::IsOwner, |_, new| new);
        }
        entries
    } else {
        let mut entries = current.to_vec();
        for (principal, level) in &wanted {
            set_level(&mut entries, *principal, *level, |_, new| new);
        }
        match (previous_owner, new_owner) {
            (Some(old), Some(new)) if old != new => {
                set_level(&mut entries, old, PermissionLevel::CanManage, |_, new| new);
            }
            (Some(old), None) if !owners_of(&entries).contains(&old) => {
                return Err(format!(
                    "The owner of a {noun} keeps IS_OWNER until another user or service \
                     principal is given IS_OWNER."
                ));
            }
            _ => {}
        }
        entries
    };
    let owner = owners_of(&entries).first().copied();
    Ok(AclPlan { entries, previous_owner, owner })
}

fn owners_of(entries: &[(PrincipalId, PermissionLevel)]) -> Vec<PrincipalId> {
    entries.iter().filter(|(_, l)| *l == PermissionLevel::IsOwner).map(|(p, _)| *p).collect()
}

/// Sets a principal's level, combining with an existing one through `combine(old, new)`.
fn set_level(
    entries: &mut Vec<(PrincipalId, PermissionLevel)>,
    principal: PrincipalId,
    level: PermissionLevel,
    combine: impl Fn(PermissionLevel, PermissionLevel) -> PermissionLevel,
) {
    match entries.iter_mut().find(|(p, _)| *p == principal) {
        Some(entry) => entry.1 = combine(entry.1, level),
        None => entries.push((principal, level)),
    }
}

#[cfg(test)]
mod tests {
    use super::PermissionLevel::*;
    use super::*;

    fn p(id: i64) -> PrincipalId {
        PrincipalId::new(id)
    }

    fn grant(principal_id: i64, level: PermissionLevel) -> AclGrant {
        AclGrant { principal_id: p(principal_id), is_group: false, level }
    }

    #[test]
    fn every_level_reads_back_from_its_spelling_and_serializes_as_it() {
        for level in PermissionLevel::ALL {
            assert_eq!(PermissionLevel::parse(level.as_str()), Some(level));
            assert_eq!(serde_json::to_value(level).unwrap(), level.as_str());
        }
        assert_eq!(PermissionLevel::parse("can_use"), None, "levels are spelt in capitals");
    }

    #[test]
    fn wire_names_match_the_permissions_api() {
        assert_eq!(ObjectKind::Warehouse.object_type(), "warehouses");
        assert_eq!(ObjectKind::Cluster.object_type(), "cluster");
        assert_eq!(ObjectKind::Job.object_type(), "job");
        assert_eq!(ObjectKind::Warehouse.object_id("abc"), "warehouses/abc");
        assert_eq!(ObjectKind::Cluster.object_id("abc"), "/clusters/abc");
        assert_eq!(ObjectKind::Job.object_id("12"), "/jobs/12");
        for kind in ObjectKind::ALL {
            for level in kind.levels() {
                assert_eq!(kind.parse_level(level.as_str()), Some(*level));
                assert!(!kind.describe(*level).is_empty());
            }
        }
    }

    #[test]
    fn levels_belong_to_their_kind() {
        assert_eq!(ObjectKind::Cluster.parse_level("IS_OWNER"), None);
        assert_eq!(ObjectKind::Cluster.parse_level("CAN_USE"), None);
        assert_eq!(ObjectKind::Job.parse_level("CAN_ATTACH_TO"), None);
        assert_eq!(ObjectKind::Warehouse.parse_level("can_use"), None);
        assert_eq!(ObjectKind::Warehouse.parse_level("CAN_USE"), Some(CanUse));
        assert_eq!(
            ObjectKind::Cluster.expected_levels(),
            "CAN_ATTACH_TO, CAN_RESTART or CAN_MANAGE"
        );
    }

    #[test]
    fn stronger_levels_imply_weaker_ones() {
        let w = ObjectKind::Warehouse;
        assert!(w.implies(IsOwner, CanManage));
        assert!(w.implies(CanManage, CanUse));
        assert!(w.implies(CanMonitor, CanUse));
        assert!(w.implies(CanUse, CanView));
        assert!(!w.implies(CanUse, CanManage));
        assert!(!w.implies(CanView, CanUse));
        assert!(!w.implies(CanAttachTo, CanView), "not a warehouse level");
        let c = ObjectKind::Cluster;
        assert!(c.implies(CanManage, CanRestart));
        assert!(c.implies(CanRestart, CanAttachTo));
        assert!(!c.implies(CanAttachTo, CanRestart));
        let j = ObjectKind::Job;
        assert!(j.implies(IsOwner, CanManage));
        assert!(j.implies(CanManageRun, CanView));
        assert!(!j.implies(CanManageRun, CanManage));
        assert_eq!(j.stronger(CanView, IsOwner), IsOwner);
        assert_eq!(j.stronger(CanManage, CanView), CanManage);
    }

    #[test]
    fn actions_need_their_levels() {
        let w = ObjectKind::Warehouse;
        assert!(w.allows(&[CanUse], Action::Start));
        assert!(w.allows(&[CanView, CanUse], Action::View));
        assert!(!w.allows(&[CanUse], Action::Stop));
        assert!(!w.allows(&[CanView], Action::Start));
        assert!(w.allows(&[IsOwner], Action::Manage));
        assert!(!w.allows(&[], Action::View));
        assert!(!w.allows(&[CanUse], Action::Monitor), "using is not watching everyone");
        assert!(w.allows(&[CanMonitor], Action::Monitor) && w.allows(&[CanMonitor], Action::Start));
        assert!(w.allows(&[CanManage], Action::Monitor));
        assert_eq!(w.levels_allowing(Action::Monitor), [CanMonitor, CanManage, IsOwner]);
        assert_eq!(w.levels_allowing(Action::View), w.levels());
        for kind in ObjectKind::ALL {
            for action in
                [Action::View, Action::Start, Action::Stop, Action::Monitor, Action::Manage]
            {
                for level in kind.levels() {
                    let allowed = kind.levels_allowing(action).contains(level);
                    assert_eq!(
                        allowed,
                        kind.allows(&[*level], action),
                        "{kind:?} {action:?} {level}"
                    );
                }
            }
        }
        let c = ObjectKind::Cluster;
        assert!(c.allows(&[CanRestart], Action::Start));
        assert!(c.allows(&[CanRestart], Action::Stop));
        assert!(!c.allows(&[CanAttachTo], Action::Start));
        assert!(!c.allows(&[CanRestart], Action::Manage));
        let j = ObjectKind::Job;
        assert!(j.allows(&[CanView], Action::View));
        assert!(!j.allows(&[CanManageRun], Action::Manage));
        assert!(j.allows(&[CanView, CanManage], Action::Manage));
    }

    #[test]
    fn creators_own_where_the_kind_has_owners() {
        assert_eq!(ObjectKind::Warehouse.creator_level(), IsOwner);
        assert_eq!(ObjectKind::Job.creator_level(), IsOwner);
        assert_eq!(ObjectKind::Cluster.creator_level(), CanManage);
    }

    #[test]
    fn put_keeps_the_owner_unless_it_names_a_new_one() {
        let kind = ObjectKind::Warehouse;
        let current = [(p(1), IsOwner), (p(2), CanUse)];
        let plan = plan_acl(kind, &current, &[grant(3, CanView)], true).unwrap();
        assert_eq!(plan.entries, vec![(p(3), CanView), (p(1), IsOwner)]);
        assert!(!plan.changes_owner());

        let plan = plan_acl(kind, &current, &[grant(3, IsOwner)], true).unwrap();
        assert_eq!(plan.entries, vec![(p(3), IsOwner)]);
        assert_eq!((plan.previous_owner, plan.owner), (Some(p(1)), Some(p(3))));
        assert!(plan.changes_owner());

        let plan = plan_acl(kind, &current, &[], true).unwrap();
        assert_eq!(plan.entries, vec![(p(1), IsOwner)], "an empty PUT keeps the owner");
    }

    #[test]
    fn terraforms_put_names_the_current_user_twice() {
        let kind = ObjectKind::Job;
        let current = [(p(1), IsOwner)];
        let requested = [grant(1, CanManage), grant(1, IsOwner), grant(2, CanView)];
        let plan = plan_acl(kind, &current, &requested, true).unwrap();
        assert_eq!(plan.entries, vec![(p(1), IsOwner), (p(2), CanView)]);
        assert!(!plan.changes_owner());
    }

    #[test]
    fn patch_adds_and_moves_ownership() {
        let kind = ObjectKind::Job;
        let current = [(p(1), IsOwner), (p(2), CanView)];
        let plan = plan_acl(kind, &current, &[grant(2, CanManage)], false).unwrap();
        assert_eq!(plan.entries, vec![(p(1), IsOwner), (p(2), CanManage)]);
        let plan = plan_acl(kind, &current, &[grant(2, IsOwner)], false).unwrap();
        assert_eq!(plan.entries, vec![(p(1), CanManage), (p(2), IsOwner)]);
        assert!(plan.changes_owner());
        let err = plan_acl(kind, &current, &[grant(1, CanView)], false).unwrap_err();
        assert!(err.contains("keeps IS_OWNER"), "{err}");
    }

    #[test]
    fn bad_requests_are_refused() {
        let kind = ObjectKind::Warehouse;
        let err = plan_acl(kind, &[], &[grant(1, IsOwner), grant(2, IsOwner)], true).unwrap_err();
        assert!(err.contains("exactly one owner"), "{err}");
        let group = AclGrant { principal_id: p(5), is_group: true, level: IsOwner };
        let err = plan_acl(kind, &[], &[group], false).unwrap_err();
        assert!(err.contains("group cannot own"), "{err}");
        let err = plan_acl(ObjectKind::Cluster, &[], &[grant(1, IsOwner)], true).unwrap_err();
        assert!(err.contains("not valid for a cluster"), "{err}");
    }

    #[test]
    fn clusters_have_no_owner() {
        let kind = ObjectKind::Cluster;
        let current = [(p(1), CanManage)];
        let plan = plan_acl(kind, &current, &[], true).unwrap();
        assert!(plan.entries.is_empty(), "PUT [] empties a cluster's ACL");
        assert!(!plan.changes_owner());
    }
}
