//! Where tables are stored: a directory, or a bucket of an S3-compatible object store that
//! several nodes share.
//!
//! A bucket is reached as the AWS tools reach it, configured from the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` for a store
//! that is not AWS, `AWS_ALLOW_HTTP`, …), with one client per bucket for every table in it.
//!
//! Delta commits a version by creating its log file, and two writers of one version must not
//! both succeed. In a bucket, that is a conditional write (`If-None-Match: *`), which S3 and
//! the S3-compatible stores of note honour; [`Storage::check`] makes sure the store at hand
//! does before the engine writes to it, since one that ignores the condition would let two
//! nodes overwrite each other's commits silently.

use crate::EngineError;
use deltalake::DeltaResult;
use deltalake::logstore::{
    DeltaIOStorageBackend, LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef,
    StorageConfig, default_logstore, logstore_factories, object_store_factories,
};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{
    ClientConfigKey, DynObjectStore, ObjectStoreExt, ObjectStoreScheme, PutMode, PutOptions,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use url::Url;

/// The URL schemes of buckets tables may be stored in (besides `file`).
pub const BUCKET_SCHEMES: [&str; 2] = ["s3", "s3a"];

/// The root tables live under, `file://…/` or `s3://bucket/prefix/`.
pub(crate) struct Storage {
    root: Url,
}

impl Storage {
    /// Storage under `root`, which must be a `file://` URL or a bucket URL; a directory is
    /// created if it does not exist.
    pub(crate) fn new(mut root: Url) -> Result<Storage, EngineError> {
        if !root.path().ends_with('/') {
            let path = format!("{}/", root.path());
            root.set_path(&path);
        }
        match root.scheme() {
            "file" => {
                let dir = root
                    .to_file_path()
                    .map_err(|()| EngineError::Storage(format!("{root} is not a directory")))?;
                std::fs::create_dir_all(&dir).map_err(|e| EngineError::Storage(e.to_string()))?;
            }
            scheme if BUCKET_SCHEMES.contains(&scheme) => {
                if root.host_str().is_none_or(str::is_empty) {
                    return Err(EngineError::Storage(format!("{root} names no bucket")));
                }
                register_buckets();
            }
            scheme => {
                return Err(EngineError::Storage(format!(
                    "{scheme}:// is not a table storage: give a directory, a file:// URL or an s3:// URL"
                )));
            }
        }
        Ok(Storage { root })
    }

    pub(crate) fn root(&self) -> &Url {
        &self.root
    }

    /// Makes sure tables can be stored here: the store answers, takes a write, and refuses a
    /// second creation of the same object. Leaves nothing behind.
    pub(crate) async fn check(&self) -> Result<(), EngineError> {
        if self.root.scheme() == "file" {
            // A local filesystem creates files exclusively; the directory was made in `new`.
            return Ok(());
        }
        let failed =
            |what: &str, e: object_store::Error| EngineError::Storage(format!("{what}: {e}"));
        let (store, prefix) = Buckets::store(&self.root).map_err(|e| failed("cannot open", e))?;
        let probe = prefix.join("_patchbay_probe").join(format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let create = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        store
            .put_opts(&probe, "1".into(), create.clone())
            .await
            .map_err(|e| failed("cannot write", e))?;
        let second = store.put_opts(&probe, "2".into(), create).await;
        let removed = store.delete(&probe).await;
        match second {
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Ok(_) => {
                return Err(EngineError::Storage(
                    "the store does not honour conditional writes (If-None-Match), so \
                     concurrent commits could overwrite each other"
                        .into(),
                ));
            }
            Err(e) => return Err(failed("a conditional write failed", e)),
        }
        removed.map_err(|e| failed("cannot delete", e))
    }
}

/// Opens bucket URLs for Delta: one client per bucket, built from the environment the first
/// time a table in it is opened, shared by every table in it.
struct Buckets;

impl Buckets {
    /// The client of the bucket `url` is in, and the path `url` names in it.
    fn store(url: &Url) -> Result<(Arc<DynObjectStore>, Path), object_store::Error> {
        static CLIENTS: OnceLock<Mutex<HashMap<String, Arc<DynObjectStore>>>> = OnceLock::new();
        let (scheme, path) = ObjectStoreScheme::parse(url)?;
        if scheme != ObjectStoreScheme::AmazonS3 {
            return Err(object_store::Error::NotSupported {
                source: format!("{url} is not in an S3 bucket").into(),
            });
        }
        let bucket = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        let mut clients = CLIENTS.get_or_init(Mutex::default).lock().expect("lock");
        if let Some(client) = clients.get(&bucket) {
            return Ok((client.clone(), path));
        }
        let builder = AmazonS3Builder::from_env().with_url(bucket.as_str());
        let plain_http = builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .is_some_and(|e| e.starts_with("http://"));
        let allow_http = builder
            .get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if plain_http && !allow_http {
            // object_store would refuse each request with a bare "builder error".
            return Err(object_store::Error::Generic {
                store: "S3",
                source: "the endpoint (AWS_ENDPOINT_URL) speaks plain HTTP: set \
                         AWS_ALLOW_HTTP=true to use it"
                    .into(),
            });
        }
        let client: Arc<DynObjectStore> = Arc::new(builder.build()?);
        clients.insert(bucket, client.clone());
        Ok((client, path))
    }
}

impl ObjectStoreFactory for Buckets {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        let (store, path) = Buckets::store(url)?;
        // Delta's IO runtime, when one is configured, as its own stores do.
        let store = match &config.runtime {
            Some(runtime) => Arc::new(DeltaIOStorageBackend::new(store, runtime.clone())),
            None => store,
        };
        Ok((store, path))
    }
}

/// Delta's own log store, which commits a version by creating its log file with a conditional
/// write.
struct ConditionalCommits;

impl LogStoreFactory for ConditionalCommits {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}

/// Tells Delta to open bucket URLs with [`Buckets`] and commit to them with
/// [`ConditionalCommits`]. Once per process.
fn register_buckets() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        for scheme in BUCKET_SCHEMES {
            let key = Url::parse(&format!("{scheme}://")).expect("a scheme URL");
            object_store_factories().insert(key.clone(), Arc::new(Buckets));
            logstore_factories().insert(key, Arc::new(ConditionalCommits));
        }
    });
}
