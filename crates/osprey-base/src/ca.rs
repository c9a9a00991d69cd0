//! The CA certificates outgoing HTTPS trusts: the system's bundle plus an optional file.

use std::path::Path;

/// Where Linux distributions keep the system CA bundle (`SSL_CERT_FILE` first).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The PEM text of the system's CA bundle followed by `extra` (a CA file the user names, e.g. a
/// home-lab CA). A missing system bundle is no error; a named `extra` that cannot be read is.
pub fn ca_bundle_pem(extra: Option<&Path>) -> std::io::Result<Vec<u8>> {
    let mut pem = Vec::new();
    let env = std::env::var_os("SSL_CERT_FILE");
    let system = env
        .iter()
        .map(|p| Path::new(p.as_os_str()).to_path_buf())
        .chain(SYSTEM_BUNDLES.iter().map(|p| Path::new(p).to_path_buf()))
        .find(|p| p.is_file());
    if let Some(p) = system {
        if let Ok(b) = std::fs::read(p) {
            pem.extend_from_slice(&b);
            pem.push(b'\n');
        }
    }
    if let Some(p) = extra {
        let b = std::fs::read(p)
            .map_err(|e| std::io::Error::new(e.kind(), format!("CA file {}: {e}", p.display())))?;
        pem.extend_from_slice(&b);
    }
    Ok(pem)
}

/// The DER certificates of [`ca_bundle_pem`] (system bundle + `extra`); an error when none is
/// found, since no HTTPS server could then be verified.
pub fn ca_certificates(extra: Option<&Path>) -> std::io::Result<Vec<Vec<u8>>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let pem = ca_bundle_pem(extra)?;
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .map(|c| c.as_ref().to_vec())
        .collect();
    if certs.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no CA certificates: install ca-certificates or name a CA file",
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_named_file_that_does_not_exist_is_an_error() {
        assert!(super::ca_bundle_pem(Some(std::path::Path::new("/nonexistent/ca.pem"))).is_err());
    }
}
