//! `patchbay serve`: open the store, set the installation up on first start, serve the API.

use crate::config::{LogFormat, ServeConfig, Tls};
use anyhow::Context;
use patchbay_server::{AppState, Settings, router};
use patchbay_store::{Bootstrap, BootstrapOutcome};
use std::io::Write;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// This node's name, kept in the data directory so that it is the same after a restart (see
/// `Settings::node_id`); made on the first start.
fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let file = data_dir.join("node-id");
    match std::fs::read_to_string(&file) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    std::fs::write(&file, format!("{id}\n"))
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(id)
}

pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    // Held to the end: dropping it writes out the lines still waiting.
    let _log = init_tracing(config.log_format);
    let store = config.open_store().await?;

    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}"));

    let node_url = config.node_url.clone().or_else(|| {
        // An unspecified address is where to listen, not where to be reached.
        (!addr.ip().is_unspecified()).then(|| format!("{scheme}://{addr}"))
    });
    let tls_files = match &config.tls {
        None => None,
        Some(Tls::Files { cert, key }) => Some((cert.clone(), key.clone())),
        Some(Tls::SelfSigned) => {
            let hosts: Vec<&str> = [host_of(&public_url), node_url.as_deref().and_then(host_of)]
                .into_iter()
                .flatten()
                .collect();
            Some(crate::tls::self_signed(&config.data_dir, &hosts)?)
        }
    };
    // Registered for the other nodes, which pass requests on to this one.
    let node_certificates = match &tls_files {
        None => None,
        Some((cert, _)) => Some(crate::tls::certificates_only(
            &std::fs::read_to_string(cert)
                .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?,
        )),
    };

    // The table storage is checked before the first start sets anything up, so that a
    // storage that cannot be used stops it before the admin token is shown.
    let warehouses = async {
        let warehouses = patchbay_sql::Warehouses::new(
            store.clone(),
            config.table_storage.clone(),
            patchbay_sql::EngineLimits {
                memory_bytes: config.query_memory_bytes,
                table_memory_bytes: config.table_memory_bytes,
                ..patchbay_sql::EngineLimits::default()
            },
        )?;
        warehouses.check_storage().await?;
        Ok::<_, patchbay_sql::EngineError>(warehouses)
    }
    .await
    .with_context(|| format!("cannot use the table storage {}", config.table_storage))?;

    let outcome = store
        .bootstrap(&Bootstrap {
            organization: "patchbay".into(),
            workspace_name: "patchbay".into(),
            public_url: public_url.clone(),
            admin_email: config.admin_email.clone(),
        })
        .await
        .context("cannot set up the installation")?;
    let workspace_id = match outcome {
        BootstrapOutcome::Created { workspace_id, admin_token } => {
            // The one place the bootstrap token is ever shown: stdout, never the log.
            println!("patchbay: first start; workspace {workspace_id} is ready.");
            println!("patchbay: admin user: {}", config.admin_email);
            println!("patchbay: admin token (shown once, keep it safe): {}", admin_token.expose());
            workspace_id
        }
        BootstrapOutcome::AlreadyDone { workspace_id } => workspace_id,
    };

    let state = AppState::with_sql(
        store.clone(),
        Settings {
            max_token_lifetime_seconds: config.max_token_lifetime_seconds,
            stale_connect_millis: config
                .stale_connect_seconds
                .map_or(3 * 60 * 1000, |s| s.saturating_mul(1000)),
            rate_limits: config.rate_limits,
            node_id: node_id(&config.data_dir)?,
            node_url,
            node_certificates,
            cloud_provider: config.cloud_provider,
            outbound: config.outbound.clone(),
            query_history_retention: config.query_history_retention,
            ..Settings::new(workspace_id, &public_url)
        },
        Some(std::sync::Arc::new(warehouses)),
    );
    // Delivers what partners are owed and undoes interrupted connects, also after a crash.
    let every = Duration::from_millis(
        u64::try_from(state.settings().stale_connect_millis / 2).unwrap_or(5000).clamp(500, 5000),
    );
    let worker = patchbay_server::partner_connect::worker::spawn(state.clone(), every);
    // Other nodes pass on what is asked of the statements this one runs.
    let heartbeat = patchbay_server::statements::relay::join(&state)
        .await
        .map_err(|e| anyhow::anyhow!("cannot register this node: {}", e.message))?;
    // A rotation of the secret key that committed while this node started would leave it
    // holding a key that opens nothing; registered, it is seen by any later rotation.
    if let Err(e) = store.check_secret_key().await {
        heartbeat.abort();
        patchbay_server::statements::relay::leave(&state).await;
        return Err(anyhow::Error::from(e).context(
            "the secret key was rotated while this node started: start it again with the new \
             key file",
        ));
    }
    let app = router(state.clone());
    // Certificates are ready before the server says it listens.
    let rustls = match &tls_files {
        None => None,
        Some((cert, key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| format!("cannot load the TLS certificate {}", cert.display()))?,
        ),
    };
    println!("patchbay: listening on {scheme}://{addr}");
    std::io::stdout().flush()?;
    tracing::info!(%addr, %public_url, workspace_id = workspace_id.get(), outbound = %config.outbound.describe(), "serving");

    match rustls {
        None => {
            // A make-service hands each connection a cheap clone of the router; serving the
            // router itself would deep-copy its route table for every new connection.
            axum::serve(tokio::net::TcpListener::from_std(listener)?, app.into_make_service())
                .with_graceful_shutdown(shutdown_signal())
                .await?;
        }
        Some(rustls) => {
            let handle = axum_server::Handle::new();
            let shutdown = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            axum_server::from_tcp_rustls(listener, rustls)?
                .handle(handle)
                .serve(app.into_make_service())
                .await?;
        }
    }
    worker.abort();
    heartbeat.abort();
    patchbay_server::statements::relay::leave(&state).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    Some(host.trim_start_matches('[').trim_end_matches(']'))
}

/// Logs go to stderr in batches ([`crate::log_line::Batched`]), in
/// [`crate::log_line::Line`]'s format or as JSON. The guard writes out the last lines.
fn init_tracing(format: LogFormat) -> crate::log_line::Flush {
    // patchbay's own events at info; its dependencies' only from warn. The SQL engine's Delta
    // Lake kernel logs two info lines per statement (a snapshot, a scan), which would outnumber
    // the one line per request the log is for.
    let filter = EnvFilter::try_from_env("PATCHBAY_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,patchbay=info"));
    let (writer, flush) = crate::log_line::Batched::start();
    // Plain text, also on a terminal: the same line a log file or a collector gets.
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.event_format(crate::log_line::Line).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    flush
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_of_public_urls() {
        assert_eq!(host_of("https://pb.example.com:8443/x"), Some("pb.example.com"));
        assert_eq!(host_of("http://127.0.0.1:8080"), Some("127.0.0.1"));
        assert_eq!(host_of("https://[::1]:8443"), Some("::1"));
    }
}
