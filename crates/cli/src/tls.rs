//! HTTPS: a self-signed certificate, made once in the data directory and reused on every
//! start, or the operator's own PEM files.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Paths of the self-signed certificate and key in `data_dir`, created on first use. The
/// certificate names `localhost`, `127.0.0.1`, `::1` and the public host.
pub fn self_signed(
    data_dir: &Path,
    public_host: Option<&str>,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = public_host
        && !names.iter().any(|n| n == host)
    {
        names.push(host.to_owned());
    }
    let generated =
        rcgen::generate_simple_self_signed(names).context("cannot generate a TLS certificate")?;
    write_private(&key, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert, generated.cert.pem())
        .with_context(|| format!("cannot write {}", cert.display()))?;
    Ok((cert, key))
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}
