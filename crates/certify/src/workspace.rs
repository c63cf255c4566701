//! The workspace side: an in-process patchbay (its own temporary SQLite database, served on a
//! loopback port) per scenario, so that every scenario starts from clean workspaces, users and
//! partner accounts. Everything is done through patchbay's REST API, as an admin or a user
//! would, except creating workspaces and users' first tokens, which are operator tasks
//! (`patchbay admin workspace create`, `patchbay admin token create`).
//!
//! Its warehouses run SQL when the caller hands certify an engine ([`SqlEngineFactory`]; the
//! `patchbay` binary does): certify itself does not depend on the query engine.

use anyhow::{Context, bail};
use patchbay_core::WorkspaceId;
use patchbay_server::statements::engine::SqlEngine;
use patchbay_server::{AppState, Settings, router};
use patchbay_store::{Bootstrap, BootstrapOutcome, Store};
use serde_json::{Value, json};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What makes an installation's SQL engine, from its store and a directory for its tables.
pub type MakeSqlEngine = dyn Fn(Store, &Path) -> anyhow::Result<Arc<dyn SqlEngine>> + Send + Sync;

/// Makes the SQL engine of each installation, over its store and a directory for its tables
/// (inside the installation's temporary directory, gone with it).
#[derive(Clone)]
pub struct SqlEngineFactory(pub Arc<MakeSqlEngine>);

impl SqlEngineFactory {
    pub fn new(
        make: impl Fn(Store, &Path) -> anyhow::Result<Arc<dyn SqlEngine>> + Send + Sync + 'static,
    ) -> SqlEngineFactory {
        SqlEngineFactory(Arc::new(make))
    }
}

impl fmt::Debug for SqlEngineFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SqlEngineFactory")
    }
}

pub const PC: &str = "/api/2.0/partner-connect";
pub const SCIM: &str = "/api/2.0/preview/scim/v2";

/// How the in-process patchbay calls partners.
#[derive(Debug, Clone)]
pub struct WorkspaceOptions {
    /// Waits between retries of a 500 (the protocol's 1, 2 and 4 s by default).
    pub retry_delays: Vec<Duration>,
    /// How long one partner call may take.
    pub partner_timeout: Duration,
    /// Address the workspace listens on (port 0: any free port).
    pub listen: std::net::SocketAddr,
    /// The URL partners are told to call the workspace at (default: the listening address).
    pub public_url: Option<String>,
    /// What runs SQL on the warehouses; without it statements answer 501 and certify cannot
    /// see whether the partner uses its warehouse.
    pub sql: Option<SqlEngineFactory>,
    /// How long after the connect the partner has to run its first statement.
    pub workload_wait: Duration,
}

impl Default for WorkspaceOptions {
    fn default() -> Self {
        WorkspaceOptions {
            retry_delays: patchbay_partner::client::RetryPolicy::default().delays,
            partner_timeout: Duration::from_secs(30),
            listen: ([127, 0, 0, 1], 0).into(),
            public_url: None,
            sql: None,
            workload_wait: Duration::from_secs(10),
        }
    }
}

/// One running patchbay installation.
pub struct Installation {
    pub url: String,
    pub public_url: String,
    store: Store,
    /// Whether the warehouses run SQL.
    sql: bool,
    first_workspace: WorkspaceId,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// A workspace and its admin's token.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub admin_email: String,
    pub admin_token: String,
}

/// A patchbay API answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// patchbay's message, for reports.
    pub fn message(&self) -> String {
        self.body["message"].as_str().map_or_else(|| self.body.to_string(), str::to_owned)
    }
}

impl Drop for Installation {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Installation {
    /// Starts a fresh installation whose first workspace's admin is `admin_email`.
    pub async fn start(
        options: &WorkspaceOptions,
        admin_email: &str,
    ) -> anyhow::Result<(Installation, Workspace)> {
        let dir = tempfile::tempdir().context("cannot create a temporary data directory")?;
        // The installation lives as long as the run: a key of its own, never written down.
        let store = Store::open_data_dir(dir.path())
            .await
            .context("cannot open the temporary database")?
            .with_secret_key(patchbay_store::SecretKey::generate())
            .await
            .context("cannot seal with the run's secret key")?;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let url = format!("http://{}", listener.local_addr()?);
        let public_url = options.public_url.clone().unwrap_or_else(|| url.clone());
        let BootstrapOutcome::Created { workspace_id, admin_token } = store
            .bootstrap(&Bootstrap {
                organization: "patchbay certify".into(),
                workspace_name: "certify-1".into(),
                public_url: public_url.clone(),
                admin_email: admin_email.into(),
            })
            .await
            .context("cannot set up the workspace")?
        else {
            bail!("a fresh database did not bootstrap");
        };
        let mut settings = Settings::new(workspace_id, &public_url);
        settings.partner_retry =
            patchbay_partner::client::RetryPolicy { delays: options.retry_delays.clone() };
        settings.partner_timeout = options.partner_timeout;
        settings.compute_transition_millis = 0;
        settings.rate_limits = patchbay_server::RateLimits::Off;
        // Patchbay calls the partner through certify's recording proxy, which listens on
        // loopback here; the proxy forwards to whatever address the user named.
        settings.outbound = patchbay_partner::outbound::OutboundPolicy::allowing(&[
            patchbay_partner::outbound::Range::Loopback,
        ]);
        let engine = match &options.sql {
            Some(SqlEngineFactory(make)) => {
                let tables = dir.path().join("tables");
                std::fs::create_dir_all(&tables)
                    .context("cannot create the temporary table directory")?;
                Some(make(store.clone(), &tables).context("cannot start the SQL engine")?)
            }
            None => None,
        };
        let sql = engine.is_some();
        let app = router(AppState::with_sql(store.clone(), settings, engine));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let workspace = Workspace {
            id: workspace_id,
            admin_email: admin_email.to_owned(),
            admin_token: admin_token.expose().to_owned(),
        };
        Ok((
            Installation {
                url,
                public_url,
                store,
                sql,
                first_workspace: workspace_id,
                http: reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?,
                task,
                _dir: dir,
            },
            workspace,
        ))
    }

    /// Another workspace of the same organization, with its own admin.
    pub async fn add_workspace(&self, name: &str, admin_email: &str) -> anyhow::Result<Workspace> {
        let (id, token) = self
            .store
            .add_workspace(self.first_workspace, name, &self.public_url, admin_email)
            .await
            .context("cannot add a workspace")?;
        Ok(Workspace {
            id,
            admin_email: admin_email.to_owned(),
            admin_token: token.expose().to_owned(),
        })
    }

    /// A plain (non-admin) user of the first workspace, and a token for it.
    pub async fn add_user(&self, admin: &Workspace, email: &str) -> anyhow::Result<String> {
        let (first, last) =
            email.split_once('@').map_or(("Certify", "User"), |(l, _)| (l, "Certify"));
        let r = self
            .call(
                "POST",
                &format!("{SCIM}/Users"),
                &admin.admin_token,
                Some(json!({"userName": email, "name": {"givenName": first, "familyName": last}})),
            )
            .await?;
        if r.status != 201 {
            bail!("cannot create the user {email}: {}", r.message());
        }
        let token = self
            .store
            .issue_token_for_user(email, "patchbay certify")
            .await
            .with_context(|| format!("cannot issue a token for {email}"))?;
        Ok(token.expose().to_owned())
    }

    /// The client-credentials grant at patchbay's token endpoint, as a partner makes it.
    pub async fn exchange(&self, client_id: &str, secret: &str) -> anyhow::Result<Reply> {
        let response = self
            .http
            .post(format!("{}/oidc/v1/token", self.url))
            .basic_auth(client_id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=all-apis")
            .send()
            .await
            .context("patchbay did not answer /oidc/v1/token")?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok(Reply { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
    }

    /// How many secrets of the principal with this application id were exchanged for a token.
    pub async fn exchanged_secrets_of(&self, application_id: &str) -> anyhow::Result<i64> {
        Ok(self.store.exchanged_secrets_of(application_id).await?)
    }

    /// Whether this installation's warehouses run SQL.
    pub fn runs_sql(&self) -> bool {
        self.sql
    }

    /// The query history of one principal (by id) on one warehouse, oldest first, as an admin
    /// reads it.
    pub async fn queries(
        &self,
        admin_token: &str,
        principal_id: &str,
        warehouse_id: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let r = self
            .call(
                "GET",
                &format!(
                    "/api/2.0/sql/history/queries?max_results=1000\
                     &filter_by.user_ids={principal_id}&filter_by.warehouse_ids={warehouse_id}"
                ),
                admin_token,
                None,
            )
            .await?;
        if !r.ok() {
            bail!("patchbay did not list the query history: {}", r.message());
        }
        let mut queries = r.body["res"].as_array().cloned().unwrap_or_default();
        queries.reverse();
        Ok(queries)
    }

    /// Calls patchbay's API with a bearer token.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut request =
            self.http.request(method, format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response =
            request.send().await.with_context(|| format!("patchbay did not answer {path}"))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok(Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or_else(
                |_| json!({"message": String::from_utf8_lossy(&bytes).into_owned()}),
            ),
        })
    }

    /// Stops serving and waits until the port is free again (a fixed `--listen` is reused by
    /// the next scenario), then closes the database.
    pub async fn close(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        self.store.close().await;
    }
}
