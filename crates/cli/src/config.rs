//! Settings, layered: defaults, then a TOML file, then `PATCHBAY_*` environment variables,
//! then command-line flags. Validated once at start.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use patchbay_partner::outbound::OutboundPolicy;
use patchbay_server::{CloudProvider, RateLimits};
use patchbay_store::Store;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DATA_DIR: &str = "./patchbay-data";
const DEFAULT_ADMIN_EMAIL: &str = "admin@example.com";

/// Where the database is: a SQLite file in a data directory, or a database URL.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Directory for the SQLite database (and the TLS certificate).
    #[arg(long, env = "PATCHBAY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` (several nodes may share it) or `sqlite://PATH`.
    #[arg(long, env = "PATCHBAY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The installation's secret key, which the partners' passwords and the OAuth signing keys
    /// are kept sealed with: 64 hex digits, made on the first start if the file does not
    /// exist. Every node of an installation is given the same file. Default: `secret.key` in
    /// the data directory.
    #[arg(long, env = "PATCHBAY_SECRET_KEY_FILE", value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,
}

impl DatabaseArgs {
    fn data_dir(&self) -> &Path {
        self.data_dir.as_deref().unwrap_or(Path::new(DEFAULT_DATA_DIR))
    }

    /// The store, for a command that needs no sealed credential.
    pub async fn open(&self) -> anyhow::Result<Store> {
        open_store(self.database_url.as_deref(), self.data_dir()).await
    }

    /// The store with the installation's secret key, for a command that seals or opens
    /// credentials.
    pub async fn open_sealing(&self) -> anyhow::Result<Store> {
        with_secret_key(self.open().await?, &self.secret_key_file()).await
    }

    /// The installation's secret key file.
    pub fn secret_key_file(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir().join(crate::secret_key::DEFAULT_FILE))
    }
}

/// `store` with the key of `key_file` (made there if there is none yet). The database is opened
/// first, so that a database that is refused leaves no key file behind.
async fn with_secret_key(store: Store, key_file: &Path) -> anyhow::Result<Store> {
    let key = crate::secret_key::load_or_make(key_file)?;
    let unfinished = crate::secret_key::next_file(key_file);
    store.with_secret_key(key).await.with_context(|| {
        let mut context = format!("cannot use the secret key {}", key_file.display());
        if unfinished.exists() {
            context.push_str(&format!(
                " ({} is there: if a rotation of the key stopped midway, run `patchbay admin \
                 rotate-secret-key` again to finish it)",
                unfinished.display()
            ));
        }
        context
    })
}

async fn open_store(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Store> {
    match database_url {
        Some(url) => Store::connect(url).await.with_context(|| {
            format!("cannot open the database {}", patchbay_store::redact_url(url))
        }),
        None => Store::open_data_dir(data_dir)
            .await
            .with_context(|| format!("cannot open the database in {}", data_dir.display())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Compact lines for a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How each token's requests are limited (`RateLimits` of the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitsArg {
    /// Limits no ordinary client reaches: at most 64 requests in progress per token, and
    /// 2,000 writes (10,000 permission reads) a second.
    On,
    /// Databricks' published limits, to see a client honour 429 and Retry-After.
    Databricks,
    /// No limits.
    Off,
}

impl From<RateLimitsArg> for RateLimits {
    fn from(arg: RateLimitsArg) -> RateLimits {
        match arg {
            RateLimitsArg::On => RateLimits::On,
            RateLimitsArg::Databricks => RateLimits::Databricks,
            RateLimitsArg::Off => RateLimits::Off,
        }
    }
}

/// The cloud partners are told the workspace runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudProviderArg {
    Aws,
    Azure,
    Gcp,
}

impl From<CloudProviderArg> for CloudProvider {
    fn from(arg: CloudProviderArg) -> CloudProvider {
        match arg {
            CloudProviderArg::Aws => CloudProvider::Aws,
            CloudProviderArg::Azure => CloudProvider::Azure,
            CloudProviderArg::Gcp => CloudProvider::Gcp,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "PATCHBAY_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "PATCHBAY_LISTEN")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    database: DatabaseArgs,
    /// The URL clients use to reach this server (default: derived from --listen).
    #[arg(long, env = "PATCHBAY_PUBLIC_URL")]
    public_url: Option<String>,
    /// The first admin's e-mail, used on first start only.
    #[arg(long, env = "PATCHBAY_ADMIN_EMAIL")]
    admin_email: Option<String>,
    /// Serve HTTPS, with a self-signed certificate made once in the data directory unless
    /// --tls-cert and --tls-key are given.
    #[arg(long, env = "PATCHBAY_TLS")]
    tls: bool,
    /// PEM certificate chain for HTTPS.
    #[arg(long, env = "PATCHBAY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, env = "PATCHBAY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "PATCHBAY_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Longest lifetime of a new token, e.g. `90d`, `12h`, `3600` (seconds). Tokens asked for
    /// without a lifetime get this one.
    #[arg(long, env = "PATCHBAY_MAX_TOKEN_LIFETIME", value_parser = parse_duration)]
    max_token_lifetime: Option<i64>,
    /// A connect the partner has not confirmed after this long (e.g. because the server
    /// crashed) is undone, e.g. `3m` (the default). Keep it above the longest partner call.
    #[arg(long, env = "PATCHBAY_STALE_CONNECT_AFTER", value_parser = parse_duration)]
    stale_connect_after: Option<i64>,
    /// Per-token limits, counted per node; above them a request gets 429 with Retry-After.
    /// `on` (the default) protects the node without slowing ordinary clients; `databricks`
    /// applies Databricks' published limits (token management 40/s, permissions updates 30/s
    /// and reads 100/s, SCIM changes 5/s, bursts of 10 s' worth).
    #[arg(long, env = "PATCHBAY_RATE_LIMITS", value_enum)]
    rate_limits: Option<RateLimitsArg>,
    /// The cloud partners are told this workspace runs in (`cloud_provider`); default `aws`.
    #[arg(long, env = "PATCHBAY_CLOUD_PROVIDER", value_enum)]
    cloud_provider: Option<CloudProviderArg>,
    /// Addresses beyond public ones that partners may be called at, comma-separated: ranges
    /// (`loopback`, `private`, `link-local`, `cgnat`) or CIDRs (`10.1.0.0/16`). Default: none.
    /// Cloud metadata addresses are never called.
    #[arg(long, env = "PATCHBAY_ALLOW_OUTBOUND", value_name = "RANGES")]
    allow_outbound: Option<String>,
    /// Where the warehouses' tables are stored: a directory, a `file://` URL, or a bucket of an
    /// S3-compatible store (`s3://bucket/prefix`, configured by the usual `AWS_*` variables:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, …).
    /// Several nodes share tables through a shared directory or a bucket. Default: `tables` in
    /// the data directory.
    #[arg(long, env = "PATCHBAY_TABLE_STORAGE", value_name = "DIR_OR_URL")]
    table_storage: Option<String>,
    /// Where the other nodes of the installation reach this one: a poll or a result link of a
    /// statement this node ran, arriving at another node, is passed on here. Default: the
    /// address it listens on, unless that is 0.0.0.0 or [::] (then give one).
    #[arg(long, env = "PATCHBAY_NODE_URL", value_name = "URL")]
    node_url: Option<String>,
    /// Memory the query engine may use for sorts, joins and aggregates, in MiB (default 512);
    /// a query that needs more fails and the server goes on.
    #[arg(long, env = "PATCHBAY_QUERY_MEMORY_MB")]
    query_memory_mb: Option<usize>,
    /// Memory for tables' rows held to answer point lookups (`SELECT … WHERE id = 5`), in MiB,
    /// shared by all tables (default 256; 0 holds none).
    #[arg(long, env = "PATCHBAY_TABLE_MEMORY_MB")]
    table_memory_mb: Option<usize>,
    /// How many days query history keeps a statement (default 30, as Databricks; 0 keeps it
    /// forever).
    #[arg(long, env = "PATCHBAY_QUERY_HISTORY_DAYS")]
    query_history_days: Option<u64>,
}

/// The table storage URL: a `file://` or bucket URL as given, or a directory (relative ones from
/// the current directory); by default `tables` under the data directory.
fn table_storage(given: Option<&str>, data_dir: &Path) -> anyhow::Result<url::Url> {
    let dir = match given.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) if s.contains("://") => {
            let url = url::Url::parse(s).map_err(|e| anyhow::anyhow!("--table-storage: {e}"))?;
            if url.scheme() != "file" && !patchbay_sql::BUCKET_SCHEMES.contains(&url.scheme()) {
                bail!(
                    "--table-storage: only directories, file:// and s3:// URLs are supported, \
                     not {}://",
                    url.scheme()
                );
            }
            return Ok(url);
        }
        Some(s) => PathBuf::from(s),
        None => data_dir.join("tables"),
    };
    let dir = if dir.is_absolute() { dir } else { std::env::current_dir()?.join(dir) };
    url::Url::from_directory_path(&dir)
        .map_err(|()| anyhow::anyhow!("--table-storage: {} is not a directory path", dir.display()))
}

/// Seconds from `90d`, `12h`, `30m`, `45s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 90d, 12h, 30m or 3600"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit in '{s}': use s, m, h or d")),
    };
    match n.checked_mul(factor) {
        Some(secs) if secs > 0 => Ok(secs),
        _ => Err(format!("'{s}' must be a positive duration")),
    }
}

/// The keys a configuration file may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    admin_email: Option<String>,
    tls: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    log_format: Option<LogFormat>,
    max_token_lifetime: Option<String>,
    stale_connect_after: Option<String>,
    rate_limits: Option<RateLimitsArg>,
    cloud_provider: Option<CloudProviderArg>,
    allow_outbound: Option<StringOrList>,
    table_storage: Option<String>,
    node_url: Option<String>,
    query_memory_mb: Option<usize>,
    table_memory_mb: Option<usize>,
    query_history_days: Option<u64>,
    secret_key_file: Option<PathBuf>,
}

/// A list in a TOML file, written as an array or as one comma-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn items(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s],
            StringOrList::Many(v) => v,
        }
    }
}

/// The validated settings of `patchbay serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub admin_email: String,
    pub tls: Option<Tls>,
    pub log_format: LogFormat,
    pub max_token_lifetime_seconds: Option<i64>,
    pub stale_connect_seconds: Option<i64>,
    pub rate_limits: RateLimits,
    pub cloud_provider: CloudProvider,
    /// Where partners may be called beyond public addresses.
    pub outbound: OutboundPolicy,
    /// Where tables are stored (a `file://` or object store URL).
    pub table_storage: url::Url,
    /// Where the other nodes reach this one, if given (`serve` derives one otherwise).
    pub node_url: Option<String>,
    /// The query engine's memory, in bytes.
    pub query_memory_bytes: usize,
    /// Memory for tables' rows held for point lookups, in bytes.
    pub table_memory_bytes: usize,
    /// How long query history keeps a statement; `None`: forever.
    pub query_history_retention: Option<std::time::Duration>,
    /// The file holding the installation's secret key.
    pub secret_key_file: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::{OutboundPolicy, ServeArgs, ServeConfig, parse_duration};
    use clap::Parser;
    use patchbay_partner::outbound::Range;
    use patchbay_server::{CloudProvider, RateLimits};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    /// The settings `patchbay serve ARGS` would run with (the environment aside).
    fn resolve(args: &[&str]) -> anyhow::Result<ServeConfig> {
        let cli = Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))?;
        ServeConfig::resolve(cli.serve)
    }

    #[test]
    fn rate_limits_and_cloud_provider_from_flags_and_file() {
        let config = resolve(&[]).unwrap();
        assert_eq!(config.rate_limits, RateLimits::On);
        assert_eq!(config.cloud_provider, CloudProvider::Aws);
        for (flag, limits) in [
            ("on", RateLimits::On),
            ("databricks", RateLimits::Databricks),
            ("off", RateLimits::Off),
        ] {
            assert_eq!(resolve(&["--rate-limits", flag]).unwrap().rate_limits, limits);
        }
        for (flag, cloud) in [
            ("aws", CloudProvider::Aws),
            ("azure", CloudProvider::Azure),
            ("gcp", CloudProvider::Gcp),
        ] {
            assert_eq!(resolve(&["--cloud-provider", flag]).unwrap().cloud_provider, cloud);
        }
        assert!(resolve(&["--rate-limits", "true"]).is_err());
        assert!(resolve(&["--cloud-provider", "gpc"]).is_err());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("patchbay.toml");
        std::fs::write(&file, "rate_limits = \"databricks\"\ncloud_provider = \"azure\"\n")
            .unwrap();
        let path = file.to_str().unwrap();
        let config = resolve(&["--config", path]).unwrap();
        assert_eq!(config.rate_limits, RateLimits::Databricks);
        assert_eq!(config.cloud_provider, CloudProvider::Azure);
        let config = resolve(&["--config", path, "--rate-limits", "off"]).unwrap();
        assert_eq!(config.rate_limits, RateLimits::Off, "a flag wins over the file");
        std::fs::write(&file, "cloud_provider = \"mars\"\n").unwrap();
        assert!(resolve(&["--config", path]).is_err());
    }

    #[test]
    fn outbound_addresses_come_from_the_flag_or_the_file() {
        assert_eq!(resolve(&[]).unwrap().outbound, OutboundPolicy::public_only());
        assert_eq!(
            resolve(&["--allow-outbound", "loopback,10.1.0.0/16"]).unwrap().outbound,
            OutboundPolicy::parse(&["loopback", "10.1.0.0/16"]).unwrap()
        );
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("list.toml");
        std::fs::write(&list, "allow_outbound = [\"private\", \"loopback\"]\n").unwrap();
        let list = list.to_str().unwrap();
        assert_eq!(
            resolve(&["--config", list]).unwrap().outbound,
            OutboundPolicy::allowing(&[Range::Private, Range::Loopback])
        );
        let one = dir.path().join("one.toml");
        std::fs::write(&one, "allow_outbound = \"link-local\"\n").unwrap();
        assert_eq!(
            resolve(&["--config", one.to_str().unwrap()]).unwrap().outbound,
            OutboundPolicy::allowing(&[Range::LinkLocal])
        );
        // The flag wins over the file.
        assert_eq!(
            resolve(&["--config", list, "--allow-outbound", "loopback"]).unwrap().outbound,
            OutboundPolicy::allowing(&[Range::Loopback])
        );
        for bad in ["metadata", "internet", "10.0.0.0/40"] {
            let e = resolve(&["--allow-outbound", bad]).unwrap_err().to_string();
            assert!(e.starts_with("--allow-outbound: "), "{bad}: {e}");
        }
    }

    #[test]
    fn table_storage_is_a_directory_a_file_url_or_a_bucket() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = resolve(&["--data-dir", data.to_str().unwrap()]).unwrap();
        assert_eq!(
            config.table_storage,
            url::Url::from_directory_path(data.join("tables")).unwrap(),
            "by default, in the data directory"
        );
        let shared = dir.path().join("shared");
        let config = resolve(&["--table-storage", shared.to_str().unwrap()]).unwrap();
        assert_eq!(config.table_storage, url::Url::from_directory_path(&shared).unwrap());
        for url in ["file:///srv/tables/", "s3://bucket/tables", "s3a://bucket"] {
            let config = resolve(&["--table-storage", url]).unwrap();
            assert_eq!(config.table_storage.as_str(), url);
        }
        for bad in ["gs://bucket/tables", "https://example.com/tables", "ftp://host/x"] {
            let e = resolve(&["--table-storage", bad]).unwrap_err().to_string();
            assert!(
                e.starts_with("--table-storage: only directories, file:// and s3:// URLs"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("3600"), Ok(3600));
        for bad in ["", "0", "-5", "5w", "d", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

#[derive(Debug, Clone)]
pub enum Tls {
    /// Made once in the data directory.
    SelfSigned,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
}

impl ServeConfig {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<ServeConfig> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the configuration file {}", path.display())
                })?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("invalid configuration file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let listen = match args.listen.or(file.listen) {
            Some(l) => l,
            None => DEFAULT_LISTEN.parse()?,
        };
        let cert = args.tls_cert.or(file.tls_cert);
        let key = args.tls_key.or(file.tls_key);
        let tls = match (args.tls || file.tls.unwrap_or(false), cert, key) {
            (_, Some(cert), Some(key)) => Some(Tls::Files { cert, key }),
            (_, Some(_), None) | (_, None, Some(_)) => {
                bail!("--tls-cert and --tls-key go together")
            }
            (true, None, None) => Some(Tls::SelfSigned),
            (false, None, None) => None,
        };
        let admin_email =
            args.admin_email.or(file.admin_email).unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_owned());
        patchbay_core::principal::validate_user_name(&admin_email)
            .map_err(|e| anyhow::anyhow!("--admin-email: {e}"))?;
        let public_url = args.public_url.or(file.public_url);
        if let Some(url) = &public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("--public-url must start with http:// or https://, not '{url}'");
        }
        let node_url = args.node_url.or(file.node_url);
        if let Some(url) = &node_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("--node-url must start with http:// or https://, not '{url}'");
        }
        let data_dir = args
            .database
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let table_storage =
            table_storage(args.table_storage.or(file.table_storage).as_deref(), &data_dir)?;
        let query_memory_mb = args.query_memory_mb.or(file.query_memory_mb).unwrap_or(512);
        if query_memory_mb == 0 {
            bail!("--query-memory-mb must be at least 1");
        }
        Ok(ServeConfig {
            listen,
            table_storage,
            node_url,
            query_memory_bytes: query_memory_mb.saturating_mul(1 << 20),
            table_memory_bytes: args
                .table_memory_mb
                .or(file.table_memory_mb)
                .unwrap_or(256)
                .saturating_mul(1 << 20),
            query_history_retention: match args
                .query_history_days
                .or(file.query_history_days)
                .unwrap_or(30)
            {
                0 => None,
                days => Some(std::time::Duration::from_secs(days.saturating_mul(24 * 60 * 60))),
            },
            secret_key_file: args
                .database
                .secret_key_file
                .or(file.secret_key_file)
                .unwrap_or_else(|| data_dir.join(crate::secret_key::DEFAULT_FILE)),
            data_dir,
            database_url: args.database.database_url.or(file.database_url),
            public_url,
            admin_email,
            tls,
            log_format: args.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            max_token_lifetime_seconds: match args.max_token_lifetime {
                Some(secs) => Some(secs),
                None => file
                    .max_token_lifetime
                    .as_deref()
                    .map(parse_duration)
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("max_token_lifetime: {e}"))?,
            },
            stale_connect_seconds: match args.stale_connect_after {
                Some(secs) => Some(secs),
                None => file
                    .stale_connect_after
                    .as_deref()
                    .map(parse_duration)
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("stale_connect_after: {e}"))?,
            },
            rate_limits: args
                .rate_limits
                .or(file.rate_limits)
                .map_or(RateLimits::default(), RateLimits::from),
            cloud_provider: args
                .cloud_provider
                .or(file.cloud_provider)
                .map_or(CloudProvider::default(), CloudProvider::from),
            outbound: match args.allow_outbound {
                Some(flag) => OutboundPolicy::parse(&[flag])
                    .map_err(|e| anyhow::anyhow!("--allow-outbound: {e}"))?,
                None => OutboundPolicy::parse(
                    &file.allow_outbound.map(StringOrList::items).unwrap_or_default(),
                )
                .map_err(|e| anyhow::anyhow!("allow_outbound: {e}"))?,
            },
        })
    }

    /// The store, with the installation's secret key (made on the first start).
    pub async fn open_store(&self) -> anyhow::Result<Store> {
        let store = open_store(self.database_url.as_deref(), &self.data_dir).await?;
        with_secret_key(store, &self.secret_key_file).await
    }
}
