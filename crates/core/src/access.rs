//! Who is calling, and the proof that a caller may administer the workspace.
//!
//! Write paths that need a workspace admin take a [`WorkspaceAdmin`], which can only be obtained
//! from [`Caller::require_admin`]: an unchecked admin write does not compile.

use crate::principal::PrincipalKind;
use crate::{PrincipalId, WorkspaceId};

/// An authenticated principal, as established from its token on this request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub workspace_id: WorkspaceId,
    pub principal_id: PrincipalId,
    pub kind: PrincipalKind,
    /// `userName` for users, `applicationId` for service principals.
    pub name: String,
    pub is_admin: bool,
    /// The token this request authenticated with.
    pub token_id: String,
}

/// Proof that the caller is an admin of its workspace.
#[derive(Debug, Clone)]
pub struct WorkspaceAdmin(Caller);

/// The caller is authenticated but not allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbidden(pub String);

impl Caller {
    pub fn require_admin(self) -> Result<WorkspaceAdmin, Forbidden> {
        if self.is_admin {
            Ok(WorkspaceAdmin(self))
        } else {
            Err(Forbidden("Only workspace admins can perform this operation.".into()))
        }
    }
}

impl WorkspaceAdmin {
    pub fn caller(&self) -> &Caller {
        &self.0
    }

    pub fn workspace_id(&self) -> WorkspaceId {
        self.0.workspace_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(is_admin: bool) -> Caller {
        Caller {
            workspace_id: WorkspaceId::new(1),
            principal_id: PrincipalId::new(2),
            kind: PrincipalKind::User,
            name: "a@example.com".into(),
            is_admin,
            token_id: "t".into(),
        }
    }

    #[test]
    fn only_admins_get_the_admin_proof() {
        assert!(caller(true).require_admin().is_ok());
        assert!(caller(false).require_admin().is_err());
    }
}
