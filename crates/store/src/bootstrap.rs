//! First start: the organization, its workspace, the built-in groups, and an admin with a token.
//! Runs once per database, even with several nodes starting at the same moment.

use crate::principals::{
    PrincipalAttributes, PrincipalData, add_member, builtin_group_id, insert_principal,
};
use crate::read::FromColumn;
use crate::tokens::{NewToken, insert_token};
use crate::{Missing, Result, Store, StoreError};
use patchbay_core::WorkspaceId;
use patchbay_core::principal::{BuiltinGroup, Entitlement, PrincipalKind};
use patchbay_core::time::EpochMillis;
use patchbay_core::token::TokenValue;
use sqlx::Row;

/// What a first start creates.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub organization: String,
    pub workspace_name: String,
    pub public_url: String,
    pub admin_email: String,
}

/// The result of [`Store::bootstrap`].
#[derive(Debug)]
pub enum BootstrapOutcome {
    /// This call set the installation up; the admin's token value is shown this once.
    Created { workspace_id: WorkspaceId, admin_token: TokenValue },
    /// The installation existed already; nothing was changed.
    AlreadyDone { workspace_id: WorkspaceId },
}

impl Store {
    /// Sets up the installation if this database has never been set up.
    pub async fn bootstrap(&self, setup: &Bootstrap) -> Result<BootstrapOutcome> {
        let now = self.now_millis();
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "INSERT INTO installation (singleton, bootstrapped_at) VALUES (1, $1) ON CONFLICT DO NOTHING",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(BootstrapOutcome::AlreadyDone {
                workspace_id: self.default_workspace_id().await?,
            });
        }

        let account_id = uuid::Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(account_id.as_str())
            .bind(setup.organization.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let (workspace_id, admin_token) = setup_workspace(
            &mut tx,
            self.now_millis(),
            self.creation_millis(),
            &account_id,
            &setup.workspace_name,
            &setup.public_url,
            &setup.admin_email,
        )
        .await?;
        tx.commit().await?;
        Ok(BootstrapOutcome::Created { workspace_id, admin_token })
    }

    /// Adds a workspace to the organization of an existing one, with its own admin (who gets a
    /// token, returned once). Workspaces of one organization share their partner accounts.
    pub async fn add_workspace(
        &self,
        organization_of: WorkspaceId,
        workspace_name: &str,
        public_url: &str,
        admin_email: &str,
    ) -> Result<(WorkspaceId, TokenValue)> {
        let mut tx = self.begin_write().await?;
        let account_id: String = sqlx::query("SELECT account_id FROM workspaces WHERE id = $1")
            .bind(organization_of.get())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::Missing(Missing::Workspace { id: organization_of }))?
            .try_get("account_id")?;
        let created = setup_workspace(
            &mut tx,
            self.now_millis(),
            self.creation_millis(),
            &account_id,
            workspace_name,
            public_url,
            admin_email,
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// The workspace of a single-workspace installation.
    pub async fn default_workspace_id(&self) -> Result<WorkspaceId> {
        let row = sqlx::query("SELECT id FROM workspaces ORDER BY created_at, id LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::Config("the database has no workspace yet".into()))?;
        WorkspaceId::from_column(&row, "id")
    }

    /// A workspace's public URL, as set at bootstrap.
    pub async fn workspace_public_url(&self, workspace_id: WorkspaceId) -> Result<String> {
        let row = sqlx::query("SELECT public_url FROM workspaces WHERE id = $1")
            .bind(workspace_id.get())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("public_url")?)
    }

    /// Issues a new token for a user, for the operator at the machine (`patchbay admin token
    /// create`). Whoever can open the database already holds every power, so this is not
    /// an API path and takes no caller.
    pub async fn issue_token_for_user(&self, user_name: &str, comment: &str) -> Result<TokenValue> {
        let workspace_id = self.default_workspace_id().await?;
        let user = self
            .find_user(workspace_id, user_name)
            .await?
            .ok_or_else(|| StoreError::Missing(Missing::Operator { name: user_name.to_owned() }))?;
        let mut tx = self.begin_write().await?;
        let (value, _) = insert_token(
            &mut tx,
            self.creation_millis(),
            workspace_id,
            &NewToken {
                owner_id: user.id,
                created_by_id: user.id,
                created_by_username: user.attributes.user_name.clone().unwrap_or_default(),
                comment: comment.to_owned(),
                lifetime_millis: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(value)
    }
}

/// Creates a workspace with its built-in groups, default ACLs, the legacy catalog and an admin
/// user with a token.
async fn setup_workspace(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    now: EpochMillis,
    token_created: EpochMillis,
    account_id: &str,
    workspace_name: &str,
    public_url: &str,
    admin_email: &str,
) -> Result<(WorkspaceId, TokenValue)> {
    let workspace_id = WorkspaceId::generate();
    sqlx::query(
        "INSERT INTO workspaces (id, account_id, name, public_url, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(workspace_id.get())
    .bind(account_id)
    .bind(workspace_name)
    .bind(public_url)
    .bind(now)
    .execute(&mut **tx)
    .await?;

    for group in [BuiltinGroup::Admins, BuiltinGroup::Users] {
        let data = PrincipalData {
            attributes: PrincipalAttributes {
                display_name: Some(group.name().to_owned()),
                entitlements: match group {
                    // Every user may use the workspace and Databricks SQL by default.
                    BuiltinGroup::Users => vec![
                        Entitlement::WorkspaceAccess.as_str().to_owned(),
                        Entitlement::DatabricksSqlAccess.as_str().to_owned(),
                    ],
                    BuiltinGroup::Admins => Vec::new(),
                },
                ..PrincipalAttributes::default()
            },
            members: None,
        };
        insert_principal(tx, now, workspace_id, PrincipalKind::Group, &data, Some(group)).await?;
    }

    crate::permissions::default_token_acl(tx, workspace_id).await?;
    crate::catalog::create_legacy_catalog(tx, now, workspace_id).await?;

    let admin = PrincipalData {
        attributes: PrincipalAttributes {
            user_name: Some(admin_email.to_owned()),
            display_name: Some(admin_email.to_owned()),
            active: Some(true),
            entitlements: Entitlement::ALL
                .iter()
                .filter(|e| **e != Entitlement::WorkspaceConsume)
                .map(|e| e.as_str().to_owned())
                .collect(),
            emails: vec![crate::Email {
                value: admin_email.to_owned(),
                kind: Some("work".into()),
                primary: true,
            }],
            ..PrincipalAttributes::default()
        },
        members: None,
    };
    let admin_id =
        insert_principal(tx, now, workspace_id, PrincipalKind::User, &admin, None).await?;
    for group in [BuiltinGroup::Admins, BuiltinGroup::Users] {
        let group_id = builtin_group_id(tx, workspace_id, group).await?;
        add_member(tx, group_id, admin_id).await?;
    }
    let (admin_token, _) = insert_token(
        tx,
        token_created,
        workspace_id,
        &NewToken {
            owner_id: admin_id,
            created_by_id: admin_id,
            created_by_username: admin_email.to_owned(),
            comment: "bootstrap admin token".into(),
            lifetime_millis: None,
        },
    )
    .await?;
    Ok((workspace_id, admin_token))
}

/// A store on a new SQLite file in `dir`, set up with one workspace whose admin is
/// `admin@example.com`, and the workspace's id: for unit tests.
#[cfg(test)]
pub(crate) async fn fresh_store(dir: &std::path::Path) -> (Store, WorkspaceId) {
    let store = Store::connect(&crate::sqlite_url(&dir.join("t.db")))
        .await
        .unwrap()
        .with_secret_key(crate::SecretKey::generate())
        .await
        .unwrap();
    let BootstrapOutcome::Created { workspace_id, .. } = store
        .bootstrap(&Bootstrap {
            organization: "o".into(),
            workspace_name: "w".into(),
            public_url: "http://127.0.0.1:1".into(),
            admin_email: "admin@example.com".into(),
        })
        .await
        .unwrap()
    else {
        panic!("fresh database");
    };
    (store, workspace_id)
}

/// The workspace admin of a [`fresh_store`] as a caller: for unit tests.
#[cfg(test)]
pub(crate) async fn admin_caller(
    store: &Store,
    workspace_id: WorkspaceId,
) -> patchbay_core::access::Caller {
    let admin =
        store.find_user(workspace_id, "admin@example.com").await.unwrap().expect("the admin");
    patchbay_core::access::Caller {
        workspace_id,
        principal_id: admin.id,
        kind: patchbay_core::principal::PrincipalKind::User,
        name: "admin@example.com".into(),
        is_admin: true,
        token_id: String::new(),
    }
}
