//! The object ACLs of warehouses, clusters and jobs: one path for the three kinds.

use super::object;
use crate::permissions::{AclEntry, AclUpdate, direct_levels, write_acl};
use crate::{Denied, Rejected, Result, Store, StoreError};
use patchbay_core::access::Caller;
use patchbay_core::compute::{AclGrant, Action, ObjectKind, plan_acl};

impl Store {
    /// The direct ACL of an object the caller may see.
    pub async fn object_acl(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        id: &str,
    ) -> Result<Vec<AclEntry>> {
        let tx = self.begin_object_read(caller, kind, id).await?;
        tx.rollback().await?;
        self.acl(caller.workspace_id, object(kind, id)).await
    }

    /// PUT (`Replace`) or PATCH (`Merge`) of an object's ACL, by someone with CAN_MANAGE. The
    /// result follows [`plan_acl`]; moving ownership also needs an admin or the current owner.
    pub async fn update_object_acl(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        id: &str,
        grants: &[AclGrant],
        update: AclUpdate,
    ) -> Result<Vec<AclEntry>> {
        let mut tx = self.begin_object_write(caller, kind, id, Action::Manage).await?;
        let target = object(kind, id);
        let current = direct_levels(&mut tx, caller.workspace_id, target).await?;
        let plan = plan_acl(kind, &current, grants, update == AclUpdate::Replace)
            .map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?;
        if plan.changes_owner()
            && !caller.is_admin
            && plan.previous_owner.is_some_and(|owner| owner != caller.principal_id)
        {
            return Err(StoreError::Denied(Denied::ChangeOwner { kind, id: id.to_owned() }));
        }
        write_acl(&mut tx, caller.workspace_id, target, &plan.entries).await?;
        tx.commit().await?;
        self.acl(caller.workspace_id, target).await
    }
}
