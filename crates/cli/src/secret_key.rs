//! The installation's secret key file (`--secret-key-file`, by default `secret.key` in the data
//! directory): what the credentials patchbay keeps to send again are sealed with (see the
//! store's `sealed.rs`). Made on the first start, readable by its owner only; every node of an
//! installation is given the same file.

use anyhow::Context;
use patchbay_store::{Resealed, SecretKey, Store};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The key file's name in a data directory, when no `--secret-key-file` names another.
pub const DEFAULT_FILE: &str = "secret.key";

/// The key in `path`, made there first if there is no file yet. Two starts making it at once
/// both end up with the one that was linked into place first: a made key is written whole to a
/// file of its own, then linked to `path`, which fails if `path` exists.
pub fn load_or_make(path: &Path) -> anyhow::Result<SecretKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => return parse(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the secret key {}", path.display()));
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let made = path.with_extension(format!("{}.new", std::process::id()));
    let _ = std::fs::remove_file(&made);
    let written =
        write_new(&made, SecretKey::generate().file_text().as_bytes(), true).and_then(|()| {
            match std::fs::hard_link(&made, path) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
                _ => Ok(()),
            }
        });
    let _ = std::fs::remove_file(&made);
    let written = written.and_then(|()| sync_dir(path));
    written.with_context(|| format!("cannot write the secret key {}", path.display()))?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the secret key {}", path.display()))?;
    parse(path, &text)
}

/// Where a rotation keeps the new key until the database's credentials are sealed with it:
/// `secret.key.next` beside `secret.key`.
pub fn next_file(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".next");
    path.with_file_name(name)
}

/// `patchbay admin rotate-secret-key`: seals every credential of `store` again with a new key,
/// then puts the new key in `path`. The new key is written to [`next_file`] first, so that a
/// rotation that stops anywhere is finished by running it again: before the database changed,
/// it goes on with the same new key; after, it only moves the file into place.
pub async fn rotate(
    store: &Store,
    path: &Path,
    gone_after_millis: i64,
) -> anyhow::Result<Resealed> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text)?,
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the secret key {}", path.display()));
        }
    };
    let next = next_file(path);
    let new = match std::fs::read_to_string(&next) {
        Ok(text) => parse(&next, &text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let new = SecretKey::generate();
            write_new(&next, new.file_text().as_bytes(), true)
                .and_then(|()| sync_dir(&next))
                .with_context(|| format!("cannot write the new secret key {}", next.display()))?;
            new
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the new secret key {}", next.display()));
        }
    };
    let resealed = store
        .reseal(&old, &new, gone_after_millis)
        .await
        .with_context(|| format!("cannot rotate the secret key {}", path.display()))?;
    std::fs::rename(&next, path)
        .and_then(|()| sync_dir(path))
        .with_context(|| format!("cannot move {} to {}", next.display(), path.display()))?;
    Ok(resealed)
}

fn parse(path: &Path, text: &str) -> anyhow::Result<SecretKey> {
    SecretKey::from_file_text(text)
        .map_err(|e| anyhow::anyhow!("the secret key {} is not a key: {e}", path.display()))
}

/// A file that must not exist yet, written whole and synced; a `private` one is readable by its
/// owner only. (Also the TLS files' writer.)
pub fn write_new(path: &Path, contents: &[u8], private: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Makes the entries of `path`'s directory durable: a file linked or renamed into place is
/// lost with a power cut until its directory is synced, even when the file itself was.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_start_makes_the_key_and_later_ones_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/secret.key");
        load_or_make(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        load_or_make(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "kept");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["secret.key"], "no temporary file is left");
    }

    #[test]
    fn a_file_that_holds_no_key_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        std::fs::write(&path, "not a key\n").unwrap();
        let error = format!("{:#}", load_or_make(&path).unwrap_err());
        assert!(error.contains("secret.key is not a key"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key\n");
    }
}
