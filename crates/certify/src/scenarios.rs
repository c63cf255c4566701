//! The scenarios: each drives patchbay's real connect, sign-in and delete paths against the
//! partner and then judges what the proxy recorded. Names are stable (CI selects them with
//! `--scenario`); the P-numbers are the protocol's test-case numbers.

use crate::checks::{self, Kind, parsed_connection, parsed_error, reason};
use crate::profile::{Compute, Setup};
use crate::proxy::{Exchange, Proxy};
use crate::usage::{self, Usage, WarehouseUsage};
use crate::workspace::{Installation, PC, Reply, SCIM, Workspace};
use crate::{AuthMode, NewUserAction, Options, Problem, ScenarioResult, Verdict};
use patchbay_partner::protocol::{
    AccountStatus, Connection, ConnectionTestResult, DeleteConnectionResponse, ErrorReason,
    RedirectValue, TestStatus, UserStatus,
};
use serde_json::{Value, json};

/// The id patchbay gives the partner registered by certify.
const PARTNER_ID: &str = "certify-partner";
const PARTNER_NAME: &str = "Certify Partner";
/// The protocol's test-only endpoints accept only these domains.
const TEST_DOMAIN: &str = "databricks-test.com";
/// What an admin creates for the partner to be given, when its profile selects them.
const SELECTED_WAREHOUSE: &str = "Certify Shared Warehouse";
const SELECTED_CATALOG: &str = "hive_metastore";
const SELECTED_SCHEMA: &str = "certify";

/// A scenario's name and what it shows.
#[derive(Debug)]
pub struct ScenarioInfo {
    pub name: &'static str,
    pub title: &'static str,
}

pub const SCENARIOS: &[ScenarioInfo] = &[
    ScenarioInfo { name: "create-new-account", title: "P100 first connect: new user, new account" },
    ScenarioInfo {
        name: "create-existing-user",
        title: "P101 first connect from another workspace by a user the partner knows",
    },
    ScenarioInfo { name: "signin-creator", title: "P300 the connection's creator signs in" },
    ScenarioInfo {
        name: "signin-existing-user",
        title: "P301 a second user the partner knows signs in",
    },
    ScenarioInfo {
        name: "signin-new-user",
        title: "P302 a second user new to the partner signs in (new_user_action)",
    },
    ScenarioInfo {
        name: "recreate-after-workspace-delete",
        title: "P400 delete in the workspace, then connect again",
    },
    ScenarioInfo {
        name: "signin-after-partner-delete",
        title: "P402 sign-in after the partner deleted the account: 404 connection_not_found; P405",
    },
    ScenarioInfo {
        name: "expired-account",
        title: "P500 sign-in and first connect on an expired account",
    },
    ScenarioInfo {
        name: "multiple-workspaces",
        title: "P600 one admin connects two workspaces of one organization",
    },
    ScenarioInfo { name: "demo", title: "P700 a demo connect always gets the create-trial flow" },
    ScenarioInfo {
        name: "test-connection",
        title: "P800 test-connection passes, and fails once the token is revoked",
    },
    ScenarioInfo {
        name: "unauthorized-after-rotation",
        title: "401 unauthorized when patchbay presents rotated (wrong) credentials",
    },
    ScenarioInfo {
        name: "retries-on-500",
        title: "500s are retried and the partner's eventual answer is used",
    },
];

/// What every scenario shares.
pub struct Env<'a> {
    pub options: &'a Options,
    pub proxy: Proxy,
    pub paths: checks::Paths,
    /// The redirect allow-list.
    pub hostnames: Vec<String>,
    /// Makes this run's e-mail domains its own.
    pub run_id: String,
}

/// The exchanges one patchbay call caused, and patchbay's answer.
struct Step {
    reply: Reply,
    exchanges: Vec<Exchange>,
    /// The body of the tile click: what the admin selected.
    selection: Value,
}

impl Step {
    /// The last exchange of a kind that reached the partner.
    fn last(&self, env: &Env, kind: Kind) -> Option<&Exchange> {
        self.exchanges.iter().rev().find(|e| !e.injected && env.paths.kind(e) == kind)
    }
}

/// What a `/connect` answer must say.
#[derive(Default)]
struct Want<'w> {
    redirect: &'w [RedirectValue],
    user: &'w [UserStatus],
    account: &'w [AccountStatus],
    configured: Option<bool>,
}

struct Ctx<'a> {
    env: &'a Env<'a>,
    name: &'static str,
    /// How the partner is registered and connected, from its profile.
    setup: Setup,
    /// What each workspace's admin selects on a first connect, by the admin's token.
    selections: Vec<(String, Value)>,
    install: Option<Installation>,
    problems: Vec<Problem>,
    notes: Vec<String>,
    warnings: Vec<String>,
    usage: Option<WarehouseUsage>,
    skip: Option<String>,
    /// Exchanges the general rules do not apply to (probes of endpoints the partner lacks).
    ignored: Vec<usize>,
    /// With `--auth m2m`: the access token certify got for the secret of a first connect,
    /// by exchange (memory only), to try again after a delete.
    access_tokens: Vec<(usize, String)>,
}

/// Why a scenario stopped early: a failure already recorded, a skip, or certify's own error.
enum Stop {
    Done,
    Setup(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Setup(e)
    }
}

type Flow = Result<(), Stop>;

pub async fn run_one(env: &Env<'_>, info: &ScenarioInfo) -> ScenarioResult {
    env.proxy.inject_connect_500(0);
    env.proxy.set_demo(false);
    let mark = env.proxy.mark();
    let mut ctx = Ctx {
        env,
        name: info.name,
        setup: Setup::of(env.options.profile),
        selections: Vec::new(),
        install: None,
        problems: Vec::new(),
        notes: Vec::new(),
        warnings: Vec::new(),
        usage: None,
        skip: None,
        ignored: Vec::new(),
        access_tokens: Vec::new(),
    };
    let flow = match info.name {
        "create-new-account" => create_new_account(&mut ctx).await,
        "create-existing-user" => create_existing_user(&mut ctx).await,
        "signin-creator" => signin_creator(&mut ctx).await,
        "signin-existing-user" => signin_existing_user(&mut ctx).await,
        "signin-new-user" => signin_new_user(&mut ctx).await,
        "recreate-after-workspace-delete" => recreate_after_workspace_delete(&mut ctx).await,
        "signin-after-partner-delete" => signin_after_partner_delete(&mut ctx).await,
        "expired-account" => expired_account(&mut ctx).await,
        "multiple-workspaces" => multiple_workspaces(&mut ctx).await,
        "demo" => demo(&mut ctx).await,
        "test-connection" => test_connection(&mut ctx).await,
        "unauthorized-after-rotation" => unauthorized_after_rotation(&mut ctx).await,
        "retries-on-500" => retries_on_500(&mut ctx).await,
        other => Err(Stop::Setup(anyhow::anyhow!("unknown scenario {other}"))),
    };
    env.proxy.inject_connect_500(0);
    env.proxy.set_demo(false);
    if let Err(Stop::Setup(e)) = flow {
        ctx.problems.insert(
            0,
            Problem {
                message: format!("certify could not run the scenario: {e:#}"),
                exchange: None,
            },
        );
    }
    // The rules every answer follows, on every exchange of the scenario.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut general = Vec::new();
    for ex in env.proxy.since(mark) {
        if ctx.ignored.contains(&ex.seq) {
            continue;
        }
        for message in checks::general(&ex, env.paths.kind(&ex), &env.hostnames) {
            general.push(Problem { message, exchange: Some(ex.seq) });
        }
    }
    for p in general {
        if !ctx.problems.iter().any(|q| q.message == p.message && q.exchange == p.exchange) {
            ctx.problems.push(p);
        }
    }
    if let Some(install) = ctx.install.take() {
        install.close().await;
    }
    let verdict = if !ctx.problems.is_empty() {
        Verdict::Failed
    } else if ctx.skip.is_some() {
        Verdict::Skipped
    } else {
        Verdict::Passed
    };
    ScenarioResult {
        name: info.name,
        title: info.title,
        verdict,
        problems: ctx.problems,
        skip_reason: ctx.skip,
        notes: ctx.notes,
        warnings: ctx.warnings,
        warehouse_usage: ctx.usage,
        millis: 0,
        exchanges: Vec::new(),
    }
}

impl Ctx<'_> {
    fn install(&self) -> &Installation {
        self.install.as_ref().expect("a scenario starts its installation first")
    }

    /// An address of this scenario's own domain, so partner accounts never carry over.
    fn email(&self, local: &str) -> String {
        format!("{local}@{}.{}.example.com", self.name, self.env.run_id)
    }

    /// An address on the protocol's test domain, unique to this run.
    fn test_email(&self, local: &str) -> String {
        format!("{local}.{}@{TEST_DOMAIN}", self.env.run_id)
    }

    fn fail(&mut self, message: impl Into<String>, exchange: Option<&Exchange>) {
        self.problems.push(Problem { message: message.into(), exchange: exchange.map(|e| e.seq) });
    }

    /// Starts the scenario's patchbay; its first workspace's admin is `admin_email`.
    async fn start(&mut self, admin_email: &str) -> Result<Workspace, Stop> {
        let (install, ws) = Installation::start(&self.env.options.workspace, admin_email).await?;
        self.install = Some(install);
        self.register(&ws, &self.env.options.password.clone(), true).await?;
        self.prepare(&ws).await?;
        Ok(ws)
    }

    async fn workspace(&mut self, admin_email: &str) -> Result<Workspace, Stop> {
        let n = rand_suffix();
        let ws = self.install().add_workspace(&format!("certify-{n}"), admin_email).await?;
        self.register(&ws, &self.env.options.password.clone(), true).await?;
        self.prepare(&ws).await?;
        Ok(ws)
    }

    /// Creates, as the workspace's admin would, what the profile has the admin select on the
    /// connect (a SQL warehouse, a schema), and remembers the selection for the tile click.
    async fn prepare(&mut self, ws: &Workspace) -> Result<(), Stop> {
        let mut selection = json!({});
        if self.setup.selects_warehouse {
            let body = json!({"name": SELECTED_WAREHOUSE, "cluster_size": "2X-Small",
                              "max_num_clusters": 1, "auto_stop_mins": 10});
            let r = self.install().call("POST", WAREHOUSES, &ws.admin_token, Some(body)).await?;
            let Some(id) = r.body["id"].as_str().filter(|_| r.ok()) else {
                return Err(Stop::Setup(anyhow::anyhow!(
                    "cannot create the SQL warehouse the admin selects: {}",
                    r.message()
                )));
            };
            selection["warehouse_id"] = json!(id);
        }
        if self.setup.selects_schemas {
            let body = json!({"name": SELECTED_SCHEMA, "catalog_name": SELECTED_CATALOG,
                              "comment": "selected for the partner by patchbay certify"});
            let r = self
                .install()
                .call("POST", "/api/2.1/unity-catalog/schemas", &ws.admin_token, Some(body))
                .await?;
            if !r.ok() {
                return Err(Stop::Setup(anyhow::anyhow!(
                    "cannot create the schema {SELECTED_CATALOG}.{SELECTED_SCHEMA} the admin selects: {}",
                    r.message()
                )));
            }
            selection["catalog_name"] = json!(SELECTED_CATALOG);
            selection["schemas"] = json!([SELECTED_SCHEMA]);
        }
        self.selections.push((ws.admin_token.clone(), selection));
        Ok(())
    }

    /// Registers (or re-registers) the partner in a workspace, pointed at the proxy.
    async fn register(&self, ws: &Workspace, password: &str, create: bool) -> Result<(), Stop> {
        let p = &self.env.paths;
        let mut body = json!({
            "auth_options": match self.env.options.auth {
                AuthMode::Pat => json!(["AUTH_PAT"]),
                AuthMode::M2m => json!(["AUTH_OAUTH_M2M"]),
            },
            "base_url": self.env.proxy.url,
            "endpoints": {"connect_path": p.connect, "delete_connection_path": p.delete_connection,
                          "test_connection_path": p.test_connection},
            "credentials": {"username": self.env.options.username, "password": password},
            "hostnames": self.env.hostnames,
        });
        let r = if create {
            body["name"] = json!(PARTNER_NAME);
            body["category"] = json!(self.setup.category);
            body["profile"] = json!(self.setup.profile);
            body["provisions"] = json!(self.setup.provision);
            self.install()
                .call("POST", &format!("{PC}/partners"), &ws.admin_token, Some(body))
                .await?
        } else {
            self.install()
                .call("PUT", &format!("{PC}/partners/{PARTNER_ID}"), &ws.admin_token, Some(body))
                .await?
        };
        if !r.ok() {
            return Err(Stop::Setup(anyhow::anyhow!(
                "patchbay refused to register the partner: {}",
                r.message()
            )));
        }
        Ok(())
    }

    /// A tile click through patchbay: a first connect, or a sign-in on a connected tile.
    /// A workspace admin's click carries what that admin selected (see `prepare`); a sign-in
    /// needs no selection.
    async fn click(&mut self, token: &str) -> Result<Step, Stop> {
        let selection = self
            .selections
            .iter()
            .find(|(t, _)| t == token)
            .map_or_else(|| json!({}), |(_, s)| s.clone());
        let mark = self.env.proxy.mark();
        let reply = self
            .install()
            .call(
                "POST",
                &format!("{PC}/partners/{PARTNER_ID}/connect"),
                token,
                Some(selection.clone()),
            )
            .await?;
        Ok(Step { reply, exchanges: self.env.proxy.since(mark), selection })
    }

    async fn delete(&mut self, ws: &Workspace) -> Result<Step, Stop> {
        let mark = self.env.proxy.mark();
        let reply = self
            .install()
            .call("DELETE", &format!("{PC}/connections/{PARTNER_ID}"), &ws.admin_token, None)
            .await?;
        Ok(Step { reply, exchanges: self.env.proxy.since(mark), selection: json!({}) })
    }

    /// The `/connect` answer of a step, checked against `want`. `None` (with the failure
    /// recorded) when there is no usable answer.
    fn answer(&mut self, step: &Step, what: &str, want: &Want) -> Option<(Connection, Exchange)> {
        let Some(ex) = step.last(self.env, Kind::Connect).cloned() else {
            self.fail(
                format!(
                    "{what}: the partner's /connect was never reached; patchbay answered HTTP {}: {}",
                    step.reply.status,
                    step.reply.message()
                ),
                None,
            );
            return None;
        };
        let Some(answer) = parsed_connection(&ex) else {
            let got = match (ex.status, parsed_error(&ex)) {
                (Some(s), Some(e)) => format!(
                    "HTTP {s} {}{}",
                    reason(e.error_reason),
                    e.display_message.map(|m| format!(" ({m})")).unwrap_or_default()
                ),
                (Some(s), None) if (200..300).contains(&s) => {
                    format!("HTTP {s} without a valid Connection")
                }
                (Some(s), None) => format!("HTTP {s}: {}", checks::excerpt(&ex.response_text)),
                (None, _) => format!(
                    "no answer ({})",
                    ex.error.as_deref().unwrap_or("the partner did not respond")
                ),
            };
            self.fail(
                format!(
                    "{what}: expected 200 with a Connection, got {got}; patchbay answered HTTP {}: {}",
                    step.reply.status,
                    step.reply.message()
                ),
                Some(&ex),
            );
            return None;
        };
        let mut wrong = Vec::new();
        if !want.redirect.is_empty() && !want.redirect.contains(&answer.redirect_value) {
            wrong.push(format!(
                "redirect_value {} (expected {})",
                wire(&answer.redirect_value),
                alternatives(want.redirect)
            ));
        }
        if !want.user.is_empty() && !want.user.contains(&answer.user_status) {
            wrong.push(format!(
                "user_status {} (expected {})",
                wire(&answer.user_status),
                alternatives(want.user)
            ));
        }
        if !want.account.is_empty() && !want.account.contains(&answer.account_status) {
            wrong.push(format!(
                "account_status {} (expected {})",
                wire(&answer.account_status),
                alternatives(want.account)
            ));
        }
        if let Some(c) = want.configured
            && answer.configured_resources != c
        {
            wrong.push(format!("configured_resources {} (expected {c})", !c));
        }
        if !wrong.is_empty() {
            self.fail(format!("{what}: {}", wrong.join(", ")), Some(&ex));
        }
        Some((answer, ex))
    }

    /// patchbay kept the connection and stored the partner's `connection_id`.
    fn connected(&mut self, step: &Step, answer: &Connection, what: &str, ex: &Exchange) -> bool {
        if !step.reply.ok() {
            self.fail(
                format!(
                    "{what}: patchbay did not accept the partner's answer: {}",
                    step.reply.message()
                ),
                Some(ex),
            );
            return false;
        }
        let c = &step.reply.body["connection"];
        if c["state"] != "CONNECTED" {
            self.fail(
                format!("{what}: patchbay did not keep the connection (state {})", c["state"]),
                Some(ex),
            );
            return false;
        }
        if answer.connection_id.is_some()
            && c["partner_connection_id"].as_str() != answer.connection_id.as_deref()
        {
            self.fail(
                format!(
                    "{what}: patchbay stored connection_id {} but the partner sent {:?}",
                    c["partner_connection_id"], answer.connection_id
                ),
                Some(ex),
            );
            return false;
        }
        if ex.established() == Some(false) {
            self.request_fits(step, ex, what);
        }
        true
    }

    /// A first connect's request carries what the profile gives the partner: the token's
    /// owner in `service_principal_id` (none without a service principal), the warehouse or
    /// cluster the connection uses (and the one the admin selected), the selected catalog.
    fn request_fits(&mut self, step: &Step, ex: &Exchange, what: &str) {
        let wrong = checks::profile_request(
            &self.setup,
            &ex.request_body,
            &step.reply.body["connection"],
            &step.selection,
        );
        if !wrong.is_empty() {
            self.fail(
                format!(
                    "{what}: patchbay's connect request does not carry what profile {} gives the partner (a problem of certify's patchbay, not of the partner): {}",
                    self.setup.profile.name(),
                    wrong.join("; ")
                ),
                Some(ex),
            );
        }
    }

    /// A first connect that must succeed; the exchange and the partner's connection id.
    async fn connect_ok(
        &mut self,
        ws_token: &str,
        what: &str,
        want: &Want<'_>,
    ) -> Result<(Exchange, String), Stop> {
        let step = self.click(ws_token).await?;
        let Some((answer, ex)) = self.answer(&step, what, want) else {
            return Err(Stop::Done);
        };
        if !self.connected(&step, &answer, what, &ex) {
            return Err(Stop::Done);
        }
        let id = answer.connection_id.clone().unwrap_or_default();
        Ok((ex, id))
    }

    /// The token the partner received works on the workspace, as the service principal
    /// patchbay named in `service_principal_id` (profile `none`: as the connecting user), and
    /// reaches the warehouse or cluster the request names.
    async fn token_works(&mut self, ex: &Exchange, what: &str) -> Result<(), Stop> {
        let Some(token) = self.env.proxy.token_of(ex.seq) else {
            self.fail(
                format!(
                    "{what}: the first connect carried no {}",
                    match self.env.options.auth {
                        AuthMode::Pat => "personal access token",
                        AuthMode::M2m => "service_principal_oauth_secret",
                    }
                ),
                Some(ex),
            );
            return Ok(());
        };
        let token = match self.env.options.auth {
            AuthMode::Pat => token,
            AuthMode::M2m => match self.secret_works(ex, what, &token).await? {
                Some(access) => access,
                None => return Ok(()),
            },
        };
        let r = self.install().call("GET", &format!("{SCIM}/Me"), &token, None).await?;
        let (owner, whom) = if self.setup.service_principal {
            (ex.request_body["service_principal_id"].as_str(), "the service principal")
        } else {
            (ex.request_body["user_info"]["email"].as_str(), "the connecting user")
        };
        if r.status != 200 {
            self.fail(
                format!(
                    "{what}: the token the partner received does not work on the workspace (HTTP {})",
                    r.status
                ),
                Some(ex),
            );
            return Ok(());
        } else if r.body["userName"].as_str() != owner {
            self.fail(
                format!(
                    "{what}: the token authenticates as {}, not as {whom} {owner:?}",
                    r.body["userName"]
                ),
                Some(ex),
            );
        }
        let Some(id) = ex.request_body["cluster_id"].as_str() else {
            return Ok(());
        };
        let (kind, path) = match self.setup.compute() {
            Compute::Warehouse => ("SQL warehouse", format!("{WAREHOUSES}/{id}")),
            Compute::Cluster => ("cluster", format!("/api/2.0/clusters/get?cluster_id={id}")),
            Compute::None => return Ok(()),
        };
        let r = self.install().call("GET", &path, &token, None).await?;
        if r.status != 200 {
            self.fail(
                format!(
                    "{what}: the token the partner received cannot see the {kind} {id} the request names (HTTP {}: {})",
                    r.status,
                    r.message()
                ),
                Some(ex),
            );
        }
        Ok(())
    }

    /// With `--auth m2m`: the first connect carried an OAuth secret and no token, the partner
    /// exchanged the secret at the token endpoint before it answered, and the secret works for
    /// certify too. The access token certify got, to use as the partner would.
    async fn secret_works(
        &mut self,
        ex: &Exchange,
        what: &str,
        secret: &str,
    ) -> Result<Option<String>, Stop> {
        if !ex.request_body["user_info"]["auth"]["personal_access_token"].is_null() {
            self.fail(
                format!("{what}: an AUTH_OAUTH_M2M connect carried a personal access token"),
                Some(ex),
            );
        }
        let client_id =
            ex.request_body["service_principal_id"].as_str().unwrap_or_default().to_owned();
        if self.install().exchanged_secrets_of(&client_id).await? == 0 {
            self.fail(
                format!(
                    "{what}: the partner answered without exchanging its OAuth secret at the token endpoint"
                ),
                Some(ex),
            );
        }
        let r = self.install().exchange(&client_id, secret).await?;
        match r.body["access_token"].as_str() {
            Some(access) if r.status == 200 => {
                self.access_tokens.push((ex.seq, access.to_owned()));
                Ok(Some(access.to_owned()))
            }
            _ => {
                self.fail(
                    format!(
                        "{what}: the OAuth secret the partner received gets no access token (HTTP {}: {})",
                        r.status, r.body
                    ),
                    Some(ex),
                );
                Ok(None)
            }
        }
    }

    async fn token_revoked(&mut self, ex: &Exchange, what: &str) -> Result<(), Stop> {
        if self.env.options.auth == AuthMode::M2m {
            if let Some(secret) = self.env.proxy.token_of(ex.seq) {
                let client_id =
                    ex.request_body["service_principal_id"].as_str().unwrap_or_default().to_owned();
                if self.install().exchange(&client_id, &secret).await?.status == 200 {
                    self.fail(
                        format!("{what}: the partner's OAuth secret still gets access tokens after the delete"),
                        Some(ex),
                    );
                }
            }
            let held: Vec<String> = self
                .access_tokens
                .iter()
                .filter(|(seq, _)| *seq == ex.seq)
                .map(|(_, t)| t.clone())
                .collect();
            for access in held {
                let r = self.install().call("GET", &format!("{SCIM}/Me"), &access, None).await?;
                if r.ok() {
                    self.fail(
                        format!("{what}: an access token of the partner's secret still works after the delete"),
                        Some(ex),
                    );
                }
            }
            return Ok(());
        }
        if let Some(token) = self.env.proxy.token_of(ex.seq) {
            let r = self.install().call("GET", &format!("{SCIM}/Me"), &token, None).await?;
            if r.ok() {
                self.fail(
                    format!("{what}: the partner's old token still works after the delete"),
                    Some(ex),
                );
            }
        }
        Ok(())
    }

    /// Whether the partner used its warehouse after the connect: the statements it ran there,
    /// from the workspace's query history. A partner that ran none gets a warning.
    async fn warehouse_usage(&mut self, ws: &Workspace) -> Flow {
        let r = self
            .install()
            .call("GET", &format!("{PC}/connections/{PARTNER_ID}"), &ws.admin_token, None)
            .await?;
        if !r.ok() {
            return Err(Stop::Setup(anyhow::anyhow!(
                "cannot read the connection: {}",
                r.message()
            )));
        }
        let wait = self.env.options.workspace.workload_wait;
        let usage = usage::observe(self.install(), ws, &r.body["connection"], wait).await?;
        match usage.describe() {
            Ok(note) => self.notes.push(note),
            Err(warning) => self.warnings.push(warning),
        }
        if let Usage::Ran(u) = usage {
            self.usage = Some(u);
        }
        Ok(())
    }

    /// Calls one of the protocol's test-only endpoints through the proxy. `None` (and the
    /// scenario marked skipped) when the partner does not offer it.
    async fn test_only(
        &mut self,
        kind: Kind,
        email: &str,
    ) -> Result<Option<(u16, Exchange)>, Stop> {
        let (method, path, label) = match kind {
            Kind::DeleteAccount => {
                (axum::http::Method::DELETE, self.env.paths.delete_account.clone(), "DELETE")
            }
            _ => (axum::http::Method::PUT, self.env.paths.expire_account.clone(), "PUT"),
        };
        let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
        let body = json!({"email": email, "domain": domain});
        let mark = self.env.proxy.mark();
        let o = &self.env.options;
        if let Err(e) = self.env.proxy.call(method, &path, &o.username, &o.password, &body).await {
            return Err(Stop::Setup(anyhow::anyhow!("{label} {path}: {e}")));
        }
        let Some(ex) = self.env.proxy.since(mark).pop() else {
            return Err(Stop::Setup(anyhow::anyhow!("{label} {path} was not recorded")));
        };
        let status = ex.status.unwrap_or(0);
        let offered = !(matches!(status, 404 | 405 | 501) && parsed_error(&ex).is_none());
        if !offered {
            self.ignored.push(ex.seq);
            self.skip = Some(format!(
                "the partner does not offer the test-only endpoint {label} {path} (HTTP {status} without an ErrorResponse), so certify cannot cause this partner-side change"
            ));
            return Ok(None);
        }
        Ok(Some((status, ex)))
    }

    /// [`Ctx::test_only`] for the account the scenario goes on with: `true` when the partner
    /// answered 200; `false` when it does not offer the endpoint (the scenario is skipped) or
    /// answered otherwise (the scenario fails).
    async fn test_only_ok(&mut self, kind: Kind, email: &str) -> Result<bool, Stop> {
        let Some((status, ex)) = self.test_only(kind, email).await? else {
            return Ok(false);
        };
        if status == 200 {
            return Ok(true);
        }
        let call = match kind {
            Kind::DeleteAccount => "DELETE delete-account",
            _ => "PUT expire-account",
        };
        self.fail(
            format!(
                "{call} for {email} must answer 200, got HTTP {status}: {}",
                checks::excerpt(&ex.response_text)
            ),
            Some(&ex),
        );
        Ok(false)
    }
}

const WAREHOUSES: &str = "/api/2.0/sql/warehouses";

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..6].to_owned()
}

fn wire<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn alternatives<T: serde::Serialize>(vs: &[T]) -> String {
    vs.iter().map(wire).collect::<Vec<_>>().join(" or ")
}

const CREATED: Want<'static> =
    Want { redirect: &[], user: &[], account: &[], configured: Some(true) };

/// Wraps a scenario body so an early `Stop::Done` is not an error.
fn done(flow: Flow) -> Flow {
    match flow {
        Err(Stop::Done) => Ok(()),
        other => other,
    }
}

async fn create_new_account(ctx: &mut Ctx<'_>) -> Flow {
    done(
        async {
            let ws = ctx.start(&ctx.email("ada")).await?;
            let want = Want {
                redirect: &[RedirectValue::CreateTrial],
                user: &[UserStatus::New],
                account: &[AccountStatus::New],
                configured: Some(true),
            };
            let (ex, _) = ctx.connect_ok(&ws.admin_token, "first connect", &want).await?;
            ctx.token_works(&ex, "first connect").await?;
            ctx.warehouse_usage(&ws).await
        }
        .await,
    )
}

async fn create_existing_user(ctx: &mut Ctx<'_>) -> Flow {
    done(async {
        let email = ctx.email("ada");
        let ws1 = ctx.start(&email).await?;
        let (_, first_id) = ctx
            .connect_ok(&ws1.admin_token, "first connect in workspace 1", &CREATED)
            .await?;
        let ws2 = ctx.workspace(&email).await?;
        let want = Want {
            redirect: &[RedirectValue::SignIn],
            user: &[UserStatus::Existing],
            account: &[AccountStatus::Active],
            configured: Some(true),
        };
        let what = "first connect in workspace 2 by the same user";
        let (ex, second_id) = ctx.connect_ok(&ws2.admin_token, what, &want).await?;
        if second_id == first_id {
            ctx.fail(
                format!("{what}: the partner returned workspace 1's connection_id {first_id} for a new connection"),
                Some(&ex),
            );
        }
        ctx.token_works(&ex, what).await
    }
    .await)
}

const SIGNED_IN: Want<'static> = Want {
    redirect: &[RedirectValue::SignIn],
    user: &[UserStatus::Existing],
    account: &[AccountStatus::Active],
    configured: None,
};

/// A sign-in that must succeed with `want`.
async fn sign_in_ok(ctx: &mut Ctx<'_>, token: &str, what: &str, want: &Want<'_>) -> Flow {
    let step = ctx.click(token).await?;
    if let Some((_, ex)) = ctx.answer(&step, what, want) {
        if ex.established() != Some(true) {
            ctx.fail(
                format!("{what}: patchbay did not send a sign-in (is_connection_established true)"),
                Some(&ex),
            );
        }
        if !step.reply.ok() {
            ctx.fail(
                format!(
                    "{what}: patchbay did not accept the partner's answer: {}",
                    step.reply.message()
                ),
                Some(&ex),
            );
        }
    }
    Ok(())
}

async fn signin_creator(ctx: &mut Ctx<'_>) -> Flow {
    done(
        async {
            let ws = ctx.start(&ctx.email("ada")).await?;
            ctx.connect_ok(&ws.admin_token, "first connect", &CREATED).await?;
            sign_in_ok(ctx, &ws.admin_token, "the creator signs in", &SIGNED_IN).await
        }
        .await,
    )
}

async fn signin_existing_user(ctx: &mut Ctx<'_>) -> Flow {
    done(
        async {
            let ws1 = ctx.start(&ctx.email("ada")).await?;
            ctx.connect_ok(&ws1.admin_token, "first connect by ada in workspace 1", &CREATED)
                .await?;
            // bob becomes known to the partner through a connection of his own elsewhere.
            let bob = ctx.email("bob");
            let ws2 = ctx.workspace(&bob).await?;
            ctx.connect_ok(&ws2.admin_token, "first connect by bob in workspace 2", &CREATED)
                .await?;
            let bob_token = ctx.install().add_user(&ws1, &bob).await?;
            sign_in_ok(
                ctx,
                &bob_token,
                "bob, known to the partner, signs in to workspace 1's connection",
                &SIGNED_IN,
            )
            .await
        }
        .await,
    )
}

async fn signin_new_user(ctx: &mut Ctx<'_>) -> Flow {
    done(async {
        let ws = ctx.start(&ctx.email("ada")).await?;
        ctx.connect_ok(&ws.admin_token, "first connect", &CREATED)
            .await?;
        let carol = ctx.email("carol");
        let token = ctx.install().add_user(&ws, &carol).await?;
        let step = ctx.click(&token).await?;
        let what = "carol, new to the partner, signs in";
        let Some(ex) = step.last(ctx.env, Kind::Connect).cloned() else {
            ctx.fail(
                format!(
                    "{what}: the partner's /connect was never reached; patchbay answered HTTP {}: {}",
                    step.reply.status,
                    step.reply.message()
                ),
                None,
            );
            return Ok(());
        };
        let observed = match (parsed_connection(&ex), parsed_error(&ex)) {
            (Some(c), _) => match (c.user_status, c.redirect_value) {
                (UserStatus::New, RedirectValue::SignIn) => Some(NewUserAction::AutoAdd),
                (UserStatus::NotApplicable, RedirectValue::ContactAdmin) => {
                    Some(NewUserAction::Invite)
                }
                (u, r) => {
                    ctx.fail(
                        format!(
                            "{what}: user_status {} with redirect_value {} matches no new_user_action (auto_add: new + sign_in; invite: not_applicable + contact_admin; not_found: 404 account_not_found; error: 500 general_error)",
                            wire(&u),
                            wire(&r)
                        ),
                        Some(&ex),
                    );
                    None
                }
            },
            (None, Some(e)) if ex.status == Some(404) && e.error_reason == ErrorReason::AccountNotFound => {
                Some(NewUserAction::NotFound)
            }
            (None, Some(e)) if ex.status == Some(500) && e.error_reason == ErrorReason::GeneralError => {
                Some(NewUserAction::Error)
            }
            _ => {
                ctx.fail(
                    format!(
                        "{what}: HTTP {} {} matches no new_user_action",
                        ex.status.map_or_else(|| "-".into(), |s| s.to_string()),
                        checks::excerpt(&ex.response_text)
                    ),
                    Some(&ex),
                );
                None
            }
        };
        if let Some(action) = observed {
            ctx.notes
                .push(format!("the partner behaves as new_user_action = {}", wire(&action)));
            if let Some(declared) = ctx.env.options.new_user_action
                && declared != action
            {
                ctx.fail(
                    format!(
                        "{what}: the partner declared new_user_action {} but behaved as {}",
                        wire(&declared),
                        wire(&action)
                    ),
                    Some(&ex),
                );
            }
        }
        Ok(())
    }
    .await)
}

/// Checks the `/delete-connection` exchange of a workspace-side delete.
fn deleted(ctx: &mut Ctx<'_>, step: &Step, what: &str, allow_not_found: bool) {
    if !step.reply.ok() {
        ctx.fail(
            format!("{what}: patchbay could not delete the connection: {}", step.reply.message()),
            None,
        );
        return;
    }
    let Some(ex) = step.last(ctx.env, Kind::DeleteConnection).cloned() else {
        ctx.fail(
            format!("{what}: patchbay's delete never reached the partner's delete-connection"),
            None,
        );
        return;
    };
    let ok = match ex.status {
        Some(200) => ex
            .response_json
            .clone()
            .is_some_and(|v| serde_json::from_value::<DeleteConnectionResponse>(v).is_ok()),
        Some(404) => {
            allow_not_found
                && parsed_error(&ex)
                    .is_some_and(|e| e.error_reason == ErrorReason::ConnectionNotFound)
        }
        _ => false,
    };
    if !ok {
        ctx.fail(
            format!(
                "{what}: delete-connection must answer 200 with a resource_status{}, got HTTP {}: {}",
                if allow_not_found { " (or 404 connection_not_found)" } else { "" },
                ex.status.map_or_else(|| "-".into(), |s| s.to_string()),
                checks::excerpt(&ex.response_text)
            ),
            Some(&ex),
        );
    }
}

async fn recreate_after_workspace_delete(ctx: &mut Ctx<'_>) -> Flow {
    done(async {
        let ws = ctx.start(&ctx.email("ada")).await?;
        let (first, first_id) = ctx
            .connect_ok(&ws.admin_token, "first connect", &CREATED)
            .await?;
        let step = ctx.delete(&ws).await?;
        deleted(ctx, &step, "delete in the workspace", false);
        ctx.token_revoked(&first, "delete in the workspace").await?;
        let want = Want {
            redirect: &[],
            user: &[UserStatus::Existing],
            account: &[AccountStatus::Active],
            configured: Some(true),
        };
        let what = "connect again after the delete";
        let (ex, second_id) = ctx.connect_ok(&ws.admin_token, what, &want).await?;
        if second_id == first_id {
            ctx.fail(
                format!("{what}: the partner answered the deleted connection's id {first_id}; a new connection needs a new id"),
                Some(&ex),
            );
        }
        ctx.token_works(&ex, what).await?;
        sign_in_ok(ctx, &ws.admin_token, "sign in on the new connection", &SIGNED_IN).await
    }
    .await)
}

async fn signin_after_partner_delete(ctx: &mut Ctx<'_>) -> Flow {
    done(async {
        let email = ctx.test_email("pat");
        let ws = ctx.start(&email).await?;
        ctx.connect_ok(&ws.admin_token, "first connect", &CREATED)
            .await?;
        if !ctx.test_only_ok(Kind::DeleteAccount, &email).await? {
            return Ok(());
        }
        // P405: the test-only endpoint refuses accounts outside the test domains.
        let outside = ctx.email("pat");
        if let Some((status, ex)) = ctx.test_only(Kind::DeleteAccount, &outside).await?
            && !(status == 400
                && parsed_error(&ex).is_some_and(|e| e.error_reason == ErrorReason::BadRequest))
        {
            ctx.fail(
                format!(
                    "DELETE delete-account for {outside}, outside the test domains, must answer 400 bad_request, got HTTP {status}"
                ),
                Some(&ex),
            );
        }
        let step = ctx.click(&ws.admin_token).await?;
        let what = "sign-in after the partner deleted the account";
        match step.last(ctx.env, Kind::Connect).cloned() {
            None => ctx.fail(
                format!("{what}: the partner's /connect was never reached: {}", step.reply.message()),
                None,
            ),
            Some(ex) => {
                let right = ex.status == Some(404)
                    && parsed_error(&ex)
                        .is_some_and(|e| e.error_reason == ErrorReason::ConnectionNotFound);
                if !right {
                    ctx.fail(
                        format!(
                            "{what}: expected 404 with error_reason connection_not_found, got HTTP {}: {}",
                            ex.status.map_or_else(|| "-".into(), |s| s.to_string()),
                            checks::excerpt(&ex.response_text)
                        ),
                        Some(&ex),
                    );
                } else if step.reply.body["error_code"] != "CONNECTION_NOT_FOUND" {
                    ctx.fail(
                        format!("{what}: patchbay did not tell the user to delete and re-create the connection: {}", step.reply.message()),
                        Some(&ex),
                    );
                }
            }
        }
        // Both sides deleted (P401): patchbay's notice may meet 404 connection_not_found.
        let step = ctx.delete(&ws).await?;
        deleted(ctx, &step, "delete in the workspace afterwards", true);
        Ok(())
    }
    .await)
}

async fn expired_account(ctx: &mut Ctx<'_>) -> Flow {
    done(async {
        let email = ctx.test_email("eve");
        let ws1 = ctx.start(&email).await?;
        ctx.connect_ok(&ws1.admin_token, "first connect", &CREATED)
            .await?;
        if !ctx.test_only_ok(Kind::ExpireAccount, &email).await? {
            return Ok(());
        }
        let expired = Want {
            redirect: &[RedirectValue::PurchaseProduct, RedirectValue::CreateTrial],
            user: &[],
            account: &[AccountStatus::Expired],
            configured: None,
        };
        let step = ctx.click(&ws1.admin_token).await?;
        ctx.answer(&step, "sign-in on an expired account", &expired);
        let ws2 = ctx.workspace(&email).await?;
        let step = ctx.click(&ws2.admin_token).await?;
        let what = "first connect from another workspace on an expired account";
        if let Some((answer, ex)) = ctx.answer(&step, what, &expired)
            && answer.redirect_value == RedirectValue::PurchaseProduct
            && answer.configured_resources
        {
            ctx.fail(
                format!("{what}: purchase_product means nothing was set up, so configured_resources must be false"),
                Some(&ex),
            );
        }
        // Leave the test domain clean; not judged (delete-account is another scenario's).
        let o = ctx.env.options;
        let mark = ctx.env.proxy.mark();
        let body = json!({"email": email, "domain": TEST_DOMAIN});
        let path = ctx.env.paths.delete_account.clone();
        let _ = ctx
            .env
            .proxy
            .call(axum::http::Method::DELETE, &path, &o.username, &o.password, &body)
            .await;
        let cleanup: Vec<usize> = ctx.env.proxy.since(mark).iter().map(|e| e.seq).collect();
        ctx.ignored.extend(cleanup);
        Ok(())
    }
    .await)
}

async fn multiple_workspaces(ctx: &mut Ctx<'_>) -> Flow {
    done(async {
        let email = ctx.email("ada");
        let ws1 = ctx.start(&email).await?;
        let ws2 = ctx.workspace(&email).await?;
        let (ex1, id1) = ctx
            .connect_ok(&ws1.admin_token, "first connect in workspace 1", &CREATED)
            .await?;
        let (ex2, id2) = ctx
            .connect_ok(&ws2.admin_token, "first connect in workspace 2", &CREATED)
            .await?;
        if id1 == id2 {
            ctx.fail(
                format!("workspace 2 got workspace 1's connection_id {id1}: each workspace needs its own connection"),
                Some(&ex2),
            );
        }
        ctx.token_works(&ex1, "workspace 1").await?;
        ctx.token_works(&ex2, "workspace 2").await?;
        sign_in_ok(ctx, &ws1.admin_token, "sign in to workspace 1", &SIGNED_IN).await?;
        sign_in_ok(ctx, &ws2.admin_token, "sign in to workspace 2", &SIGNED_IN).await?;
        let step = ctx.delete(&ws2).await?;
        deleted(ctx, &step, "delete workspace 2's connection", false);
        sign_in_ok(
            ctx,
            &ws1.admin_token,
            "sign in to workspace 1 after workspace 2's connection was deleted",
            &SIGNED_IN,
        )
        .await?;
        ctx.token_works(&ex1, "workspace 1 after workspace 2's delete")
            .await
    }
    .await)
}

async fn demo(ctx: &mut Ctx<'_>) -> Flow {
    done(
        async {
            let email = ctx.email("ada");
            let ws1 = ctx.start(&email).await?;
            ctx.connect_ok(&ws1.admin_token, "first connect (not a demo)", &CREATED).await?;
            let ws2 = ctx.workspace(&email).await?;
            ctx.notes.push(
            "certify's proxy set demo: true on the demo connect (patchbay has no demo workspaces)"
                .into(),
        );
            ctx.env.proxy.set_demo(true);
            let want = Want {
                redirect: &[RedirectValue::CreateTrial],
                user: &[],
                account: &[],
                configured: Some(true),
            };
            let result =
                ctx.connect_ok(&ws2.admin_token, "demo connect by a known user", &want).await;
            ctx.env.proxy.set_demo(false);
            result.map(|_| ())
        }
        .await,
    )
}

/// An admin tests the connection in patchbay, which asks the partner's test-connection.
async fn partner_test(
    ctx: &mut Ctx<'_>,
    ws: &Workspace,
) -> Result<(Reply, Option<Exchange>), Stop> {
    let mark = ctx.env.proxy.mark();
    let reply = ctx
        .install()
        .call(
            "POST",
            &format!("{PC}/connections/{PARTNER_ID}/test"),
            &ws.admin_token,
            Some(serde_json::json!({})),
        )
        .await?;
    let ex = ctx
        .env
        .proxy
        .since(mark)
        .into_iter()
        .rev()
        .find(|e| ctx.env.paths.kind(e) == Kind::TestConnection);
    Ok((reply, ex))
}

async fn test_connection(ctx: &mut Ctx<'_>) -> Flow {
    done(async {
        let ws = ctx.start(&ctx.email("ada")).await?;
        ctx.connect_ok(&ws.admin_token, "first connect", &CREATED)
            .await?;
        let (reply, ex) = partner_test(ctx, &ws).await?;
        let Some(ex) = ex else {
            ctx.fail(
                format!("patchbay did not call test-connection: {}", reply.message()),
                None,
            );
            return Ok(());
        };
        if matches!(ex.status, Some(404 | 405 | 501)) && parsed_error(&ex).is_none() {
            ctx.ignored.push(ex.seq);
            ctx.skip = Some(format!(
                "the partner does not offer test-connection (HTTP {} at {})",
                ex.status.unwrap_or(0),
                ex.path
            ));
            return Ok(());
        }
        let results = |ex: &Exchange| -> Option<ConnectionTestResult> {
            (ex.status == Some(200))
                .then(|| ex.response_json.clone())
                .flatten()
                .and_then(|v| serde_json::from_value(v).ok())
        };
        let Some(first) = results(&ex) else {
            ctx.fail(
                format!(
                    "test-connection on a working connection must answer 200 with test_results, got HTTP {}: {}",
                    ex.status.map_or_else(|| "-".into(), |s| s.to_string()),
                    checks::excerpt(&ex.response_text)
                ),
                Some(&ex),
            );
            return Ok(());
        };
        if first.test_results.iter().any(|t| t.status == TestStatus::Fail) {
            ctx.fail(
                format!(
                    "test-connection reports FAIL on a working connection: {}",
                    checks::excerpt(&ex.response_text)
                ),
                Some(&ex),
            );
        }
        // Revoke the partner's token in the workspace: an honest test must notice.
        let token_id = reply.body["connection"]["token_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let r = ctx
            .install()
            .call(
                "DELETE",
                &format!("/api/2.0/token-management/tokens/{token_id}"),
                &ws.admin_token,
                None,
            )
            .await?;
        if !r.ok() {
            return Err(Stop::Setup(anyhow::anyhow!(
                "cannot revoke the connection's token {token_id}: {}",
                r.message()
            )));
        }
        let (_, ex) = partner_test(ctx, &ws).await?;
        let Some(ex) = ex else {
            ctx.fail("patchbay did not call test-connection the second time", None);
            return Ok(());
        };
        match results(&ex) {
            Some(r) if !r.test_results.iter().any(|t| t.status == TestStatus::Fail) => ctx.fail(
                "test-connection reports no FAIL although the workspace token it holds was revoked: the test does not use the token",
                Some(&ex),
            ),
            _ => {}
        }
        Ok(())
    }
    .await)
}

async fn unauthorized_after_rotation(ctx: &mut Ctx<'_>) -> Flow {
    done(async {
        let email = ctx.email("ada");
        let ws1 = ctx.start(&email).await?;
        ctx.connect_ok(&ws1.admin_token, "first connect", &CREATED)
            .await?;
        let wrong = format!("{}-rotated-{}", ctx.env.options.password, ctx.env.run_id);
        ctx.env.proxy.add_secret(&wrong);
        ctx.register(&ws1, &wrong, false).await?;
        let ws2 = ctx.workspace(&email).await?;
        ctx.register(&ws2, &wrong, false).await?;
        let steps = [
            ("sign-in with rotated credentials", ctx.click(&ws1.admin_token).await?),
            ("first connect with rotated credentials", ctx.click(&ws2.admin_token).await?),
        ];
        for (what, step) in &steps {
            let Some(ex) = step.last(ctx.env, Kind::Connect).cloned() else {
                ctx.fail(format!("{what}: the partner's /connect was never reached"), None);
                continue;
            };
            let right = ex.status == Some(401)
                && parsed_error(&ex).is_some_and(|e| e.error_reason == ErrorReason::Unauthorized);
            if !right {
                ctx.fail(
                    format!(
                        "{what}: expected 401 with error_reason unauthorized, got HTTP {}: {}",
                        ex.status.map_or_else(|| "-".into(), |s| s.to_string()),
                        checks::excerpt(&ex.response_text)
                    ),
                    Some(&ex),
                );
            }
        }
        // patchbay kept nothing for the refused first connect.
        let r = ctx
            .install()
            .call("GET", &format!("{PC}/connections/{PARTNER_ID}"), &ws2.admin_token, None)
            .await?;
        if r.status != 404 {
            ctx.fail(
                format!("patchbay kept a connection after the partner refused its credentials (HTTP {})", r.status),
                None,
            );
        }
        Ok(())
    }
    .await)
}

async fn retries_on_500(ctx: &mut Ctx<'_>) -> Flow {
    done(async {
        let ws = ctx.start(&ctx.email("ada")).await?;
        const INJECTED: usize = 2;
        ctx.env.proxy.inject_connect_500(INJECTED as u32);
        let step = ctx.click(&ws.admin_token).await?;
        ctx.env.proxy.inject_connect_500(0);
        let connects: Vec<Exchange> = step
            .exchanges
            .iter()
            .filter(|e| ctx.env.paths.kind(e) == Kind::Connect)
            .cloned()
            .collect();
        let injected = connects.iter().filter(|e| e.injected).count();
        let forwarded: Vec<&Exchange> = connects.iter().filter(|e| !e.injected).collect();
        if injected != INJECTED || forwarded.len() != 1 {
            ctx.fail(
                format!(
                    "after {INJECTED} injected 500s patchbay should have retried once more: {injected} injected and {} forwarded connect calls were seen",
                    forwarded.len()
                ),
                connects.last(),
            );
        }
        let keys: Vec<Option<&str>> = connects.iter().map(|e| e.header("idempotency-key")).collect();
        if keys.windows(2).any(|w| w[0] != w[1]) {
            ctx.fail("the retries carried different Idempotency-Keys", connects.last());
        }
        let delays = &ctx.env.options.workspace.retry_delays;
        for (i, pair) in connects.windows(2).enumerate() {
            let gap = pair[1].started.saturating_sub(pair[0].started);
            if let Some(d) = delays.get(i)
                && gap + std::time::Duration::from_millis(50) < *d
            {
                ctx.fail(
                    format!("retry {} came after {} ms, before the {} ms backoff", i + 1, gap.as_millis(), d.as_millis()),
                    Some(&pair[1]),
                );
            }
        }
        let Some((answer, ex)) = ctx.answer(&step, "first connect after two 500s", &CREATED) else {
            return Ok(());
        };
        if ctx.connected(&step, &answer, "first connect after two 500s", &ex) {
            ctx.token_works(&ex, "first connect after two 500s").await?;
        }
        Ok(())
    }
    .await)
}
