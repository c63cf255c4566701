//! HTTPS: a self-signed certificate, made once in the data directory and reused on every
//! start, or the operator's own PEM files.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Paths of the self-signed certificate and key in `data_dir`, created on first use. The
/// certificate names `localhost`, `127.0.0.1`, `::1` and `hosts` (the public host, and the
/// host other nodes reach this one at).
pub fn self_signed(data_dir: &Path, hosts: &[&str]) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    let ca = dir.join("ca.pem");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if ca.exists() && cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    for host in hosts {
        if !names.iter().any(|n| n == host) {
            names.push((*host).to_owned());
        }
    }
    // A CA of this data directory and a server certificate it signs: clients trust `ca.pem`
    // (strict verifiers, Python's among them, refuse a bare self-signed server certificate as
    // its own trust anchor). `cert.pem` holds the server certificate and then the CA, so a
    // client told to trust `cert.pem` trusts the CA too.
    let ca_key = rcgen::KeyPair::generate().context("cannot generate a TLS key")?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "patchbay local CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .context("cannot generate a TLS certificate")?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().context("cannot generate a TLS key")?;
    let mut server_params = rcgen::CertificateParams::new(names)?;
    server_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "patchbay");
    server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    server_params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .context("cannot generate a TLS certificate")?;
    write_private(&key, server_key.serialize_pem().as_bytes())?;
    std::fs::write(&ca, ca_cert.pem()).with_context(|| format!("cannot write {}", ca.display()))?;
    std::fs::write(&cert, format!("{}{}", server_cert.pem(), ca_cert.pem()))
        .with_context(|| format!("cannot write {}", cert.display()))?;
    Ok((cert, key))
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

#[cfg(test)]
mod tests {
    use super::certificates_only;

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
