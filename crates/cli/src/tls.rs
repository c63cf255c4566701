//! HTTPS: a self-signed certificate, made in the data directory and reused on every start
//! while it names every host the node is reached at, or the operator's own PEM files.

use anyhow::Context;
use rcgen::PublicKeyData as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};

/// Paths of the self-signed certificate and key in `data_dir`. The certificate names
/// `localhost`, `127.0.0.1`, `::1` and `hosts` (the public host, and the host other nodes
/// reach this one at). It is made on first use and reused while it names all of them; when a
/// start names a host it lacks (a new `--public-url` or `--node-url`), a new one is made,
/// signed by the same CA, so that clients trusting `ca.pem` go on trusting it.
pub fn self_signed(data_dir: &Path, hosts: &[&str]) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    let ca = dir.join("ca.pem");
    let ca_key = dir.join("ca-key.pem");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let names = names(hosts);
    let unnamed = not_served(&cert, &key, &names);
    if ca.exists() && unnamed.is_empty() {
        return Ok((cert, key));
    }
    if cert.exists() {
        tracing::info!(hosts = ?unnamed, "the self-signed certificate cannot serve these hosts; making a new one");
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // A CA of this data directory and a server certificate it signs: clients trust `ca.pem`
    // (strict verifiers, Python's among them, refuse a bare self-signed server certificate as
    // its own trust anchor).
    let (ca_pem, ca_signing_key) = local_ca(&ca, &ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params()?, ca_signing_key);
    let server_key = rcgen::KeyPair::generate().context("cannot generate a TLS key")?;
    let mut server_params = rcgen::CertificateParams::new(names)?;
    server_params.distinguished_name.push(rcgen::DnType::CommonName, "patchbay");
    server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    server_params.key_usages =
        vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::KeyEncipherment];
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .context("cannot generate a TLS certificate")?;
    // `cert.pem` holds the server certificate and then the CA, so a client told to trust
    // `cert.pem` trusts the CA too.
    write_file(&key, server_key.serialize_pem().as_bytes(), true)?;
    write_file(&cert, format!("{}{ca_pem}", server_cert.pem()).as_bytes(), false)?;
    Ok((cert, key))
}

/// The local CA (its certificate's PEM and its key), kept while its key is in `ca_key`; made
/// anew and written otherwise (a first start, or a data directory from before the key was kept).
fn local_ca(ca: &Path, ca_key: &Path) -> anyhow::Result<(String, rcgen::KeyPair)> {
    if let (Ok(ca_pem), Ok(key_pem)) =
        (std::fs::read_to_string(ca), std::fs::read_to_string(ca_key))
    {
        let key = rcgen::KeyPair::from_pem(&key_pem)
            .with_context(|| format!("cannot read {}", ca_key.display()))?;
        return Ok((ca_pem, key));
    }
    if ca.exists() {
        tracing::warn!(ca = %ca.display(), "the local CA's key is not kept here; making a new CA, which clients must trust in place of the old one");
    }
    let key = rcgen::KeyPair::generate().context("cannot generate a TLS key")?;
    let ca_cert = ca_params()?.self_signed(&key).context("cannot generate a TLS certificate")?;
    write_file(ca_key, key.serialize_pem().as_bytes(), true)?;
    write_file(ca, ca_cert.pem().as_bytes(), false)?;
    Ok((ca_cert.pem(), key))
}

/// The names a node's certificate must hold: the loopback names, then `hosts`, each once.
fn names(hosts: &[&str]) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    for host in hosts {
        if !names.iter().any(|n| n == host) {
            names.push((*host).to_owned());
        }
    }
    names
}

/// Of `names`, those the server certificate in `cert`, with the key in `key`, cannot serve:
/// all of them when either is missing or unreadable, or when they do not belong together (a
/// start that died between writing the one and the other).
fn not_served(cert: &Path, key: &Path, names: &[String]) -> Vec<String> {
    let pem = std::fs::read(cert).unwrap_or_default();
    let Some(Ok(der)) = CertificateDer::pem_slice_iter(&pem).next() else {
        return names.to_vec();
    };
    let Ok(parsed) = rustls::server::ParsedCertificate::try_from(&der) else {
        return names.to_vec();
    };
    let key_matches = std::fs::read_to_string(key)
        .ok()
        .and_then(|pem| rcgen::KeyPair::from_pem(&pem).ok())
        .is_some_and(|k| k.subject_public_key_info() == parsed.subject_public_key_info().as_ref());
    if !key_matches {
        return names.to_vec();
    }
    names
        .iter()
        .filter(|name| match ServerName::try_from(name.as_str()) {
            Ok(name) => rustls::client::verify_server_name(&parsed, &name).is_err(),
            // A name no TLS client can ask for is not looked for.
            Err(_) => false,
        })
        .cloned()
        .collect()
}

/// The local CA's parameters: the same on every start, so that a certificate signed with the
/// kept key names the CA that `ca.pem` holds.
fn ca_params() -> anyhow::Result<rcgen::CertificateParams> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "patchbay local CA");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// The certificates in a PEM file, and nothing else: a certificate file may also hold its key,
/// which must not go where the certificates go (other nodes read them from the database).
pub fn certificates_only(pem: &str) -> String {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = String::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        out.push_str(&rest[start..end]);
        out.push('\n');
        rest = &rest[end..];
    }
    out
}

/// Writes a file whole or not at all: a new file, renamed over the old one, so that a start
/// that dies midway leaves the old file or the new, never half of one. A `private` file is
/// readable by its owner only.
fn write_file(path: &Path, contents: &[u8], private: bool) -> anyhow::Result<()> {
    let new = path.with_extension("new");
    let _ = std::fs::remove_file(&new);
    crate::secret_key::write_new(&new, contents, private)
        .with_context(|| format!("cannot write {}", new.display()))?;
    std::fs::rename(&new, path)
        .and_then(|()| crate::secret_key::sync_dir(path))
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::UnixTime;

    /// The files of the data directory's TLS folder, in order: CA, CA key, certificate, key.
    fn files(data: &Path) -> [Vec<u8>; 4] {
        ["ca.pem", "ca-key.pem", "cert.pem", "key.pem"]
            .map(|f| std::fs::read(data.join("tls").join(f)).unwrap())
    }

    /// Whether the certificate in `cert.pem` is signed by the CA in `ca.pem` and names `host`.
    fn serves(data: &Path, host: &str) -> bool {
        let [ca, _, cert, _] = files(data);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(&ca).unwrap()).unwrap();
        let der = CertificateDer::pem_slice_iter(&cert).next().unwrap().unwrap();
        let parsed = rustls::server::ParsedCertificate::try_from(&der).unwrap();
        let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &roots,
            &[],
            UnixTime::now(),
            algorithms.all,
        )
        .is_ok()
            && rustls::client::verify_server_name(&parsed, &ServerName::try_from(host).unwrap())
                .is_ok()
    }

    #[test]
    fn the_certificate_is_kept_while_it_names_every_host() {
        let data = tempfile::tempdir().unwrap();
        self_signed(data.path(), &["a.example"]).unwrap();
        let first = files(data.path());
        assert!(serves(data.path(), "a.example"));
        assert!(serves(data.path(), "localhost"));
        assert!(serves(data.path(), "127.0.0.1"));
        assert!(!serves(data.path(), "b.example"));
        self_signed(data.path(), &["a.example"]).unwrap();
        self_signed(data.path(), &[]).unwrap();
        assert_eq!(files(data.path()), first, "nothing was made again");
    }

    #[test]
    fn a_new_host_gets_a_new_certificate_from_the_same_ca() {
        let data = tempfile::tempdir().unwrap();
        self_signed(data.path(), &["a.example"]).unwrap();
        let [ca, ca_key, cert, key] = files(data.path());
        self_signed(data.path(), &["a.example", "b.example"]).unwrap();
        let now = files(data.path());
        assert_eq!((&now[0], &now[1]), (&ca, &ca_key), "the CA is kept");
        assert_ne!((&now[2], &now[3]), (&cert, &key), "a new certificate and key");
        for host in ["a.example", "b.example", "localhost"] {
            assert!(serves(data.path(), host), "{host}");
        }
        let names = names(&["a.example", "b.example"]);
        let tls = data.path().join("tls");
        assert!(not_served(&tls.join("cert.pem"), &tls.join("key.pem"), &names).is_empty());
    }

    #[test]
    fn a_data_directory_without_the_ca_key_gets_a_new_ca() {
        let data = tempfile::tempdir().unwrap();
        self_signed(data.path(), &["a.example"]).unwrap();
        let [ca, ..] = files(data.path());
        std::fs::remove_file(data.path().join("tls/ca-key.pem")).unwrap();
        self_signed(data.path(), &["b.example"]).unwrap();
        assert_ne!(files(data.path())[0], ca, "a new CA");
        assert!(serves(data.path(), "b.example"));
    }

    #[test]
    fn a_certificate_that_is_not_its_keys_is_made_again() {
        let data = tempfile::tempdir().unwrap();
        self_signed(data.path(), &["a.example"]).unwrap();
        let [_, _, cert, _] = files(data.path());
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(data.path().join("tls/key.pem"), other.serialize_pem()).unwrap();
        self_signed(data.path(), &["a.example"]).unwrap();
        let [_, _, now, key] = files(data.path());
        assert_ne!(now, cert);
        assert_ne!(key, other.serialize_pem().into_bytes());
        let names = names(&["a.example"]);
        let tls = data.path().join("tls");
        assert!(not_served(&tls.join("cert.pem"), &tls.join("key.pem"), &names).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let data = tempfile::tempdir().unwrap();
        self_signed(data.path(), &[]).unwrap();
        for key in ["ca-key.pem", "key.pem"] {
            let mode =
                std::fs::metadata(data.path().join("tls").join(key)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
    }

    #[test]
    fn only_certificates_are_kept_from_a_pem_file() {
        let pem = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n\
                   -----BEGIN CERTIFICATE-----\nbGVhZg==\n-----END CERTIFICATE-----\n\
                   junk\n-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n\
                   -----BEGIN EC PRIVATE KEY-----\nc2VjcmV0\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(
            certificates_only(pem),
            "-----BEGIN CERTIFICATE-----\nbGVhZg==\n-----END CERTIFICATE-----\n\
             -----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(certificates_only("-----BEGIN CERTIFICATE-----\ncut"), "");
    }
}
