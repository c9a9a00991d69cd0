//! HTTPS with rustls (ring provider): the certificate pair loaded from PEM files and swapped in
//! when the files change (new handshakes get the new certificate; open connections keep
//! theirs), a self-signed pair made and kept when asked, ALPN for HTTP/2 and HTTP/1.1.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use osprey_base::{ErrorKind, Kinded};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

use crate::security::TlsConfig;

/// A certificate problem.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// Which.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The files do not hold a usable certificate and key.
    #[error("{0}")]
    Invalid(String),
}

impl Kinded for TlsError {
    fn kind(&self) -> ErrorKind {
        match self {
            TlsError::File { .. } | TlsError::Invalid(_) => ErrorKind::FailedPrecondition,
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // ring's provider (the one ureq uses too, so the binary carries one crypto library); its
    // key exchange lacks the post-quantum hybrid, which clients fall back from.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The SHA-256 fingerprint of a DER certificate, `AA:BB:…` (what clients pin).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

struct Loaded {
    key: Arc<CertifiedKey>,
    fingerprint: String,
    stamp: Option<(SystemTime, SystemTime)>,
}

/// Loads a PEM certificate chain and private key.
fn load(cert: &Path, key: &Path) -> Result<Loaded, TlsError> {
    let file_err = |path: &Path, e: &dyn std::fmt::Display| TlsError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err(cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(cert, &e))?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::Invalid(format!(
            "{}: no PEM certificate in the file",
            cert.display()
        )));
    };
    let fp = fingerprint(leaf.as_ref());
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, &e))?;
    let signing = provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| TlsError::Invalid(format!("{}: {e}", key.display())))?;
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match().map_err(|e| {
        TlsError::Invalid(format!(
            "{} and {} do not match: {e}",
            cert.display(),
            key.display()
        ))
    })?;
    Ok(Loaded {
        key: Arc::new(ck),
        fingerprint: fp,
        stamp: stamp(cert, key),
    })
}

fn stamp(cert: &Path, key: &Path) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(cert)?, m(key)?))
}

/// The current certificate, swapped when the files change.
pub struct CertResolver {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Loaded>,
}

impl std::fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertResolver")
            .field("cert", &self.cert)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&osprey_base::read_lock(&self.current).key))
    }
}

impl CertResolver {
    /// The served certificate's SHA-256 fingerprint.
    pub fn fingerprint(&self) -> String {
        osprey_base::read_lock(&self.current).fingerprint.clone()
    }

    /// Reloads the pair when either file changed; a pair that does not load is logged and the
    /// old one kept. Returns whether a new certificate is served.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamp(&self.cert, &self.key);
        if now.is_none() || now == osprey_base::read_lock(&self.current).stamp {
            return false;
        }
        match load(&self.cert, &self.key) {
            Ok(l) => {
                tracing::info!(cert = %self.cert.display(), sha256 = %l.fingerprint, "TLS certificate reloaded");
                *osprey_base::write_lock(&self.current) = l;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "new TLS certificate not loaded; still serving the previous one");
                osprey_base::write_lock(&self.current).stamp = now;
                false
            }
        }
    }
}

/// Makes a self-signed pair at `cert`/`key` for `names` unless both files exist.
pub fn ensure_self_signed(cert: &Path, key: &Path, names: Vec<String>) -> Result<(), TlsError> {
    if cert.exists() && key.exists() {
        return Ok(());
    }
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::Invalid(format!("making a self-signed certificate: {e}")))?;
    let write = |p: &Path, text: &str, mode: u32| {
        osprey_base::write_atomically(p, text.as_bytes(), mode).map_err(|e| TlsError::File {
            path: p.to_path_buf(),
            message: e.to_string(),
        })
    };
    write(key, &made.signing_key.serialize_pem(), 0o600)?;
    write(cert, &made.cert.pem(), 0o644)?;
    Ok(())
}

/// The names a self-signed certificate is made for: localhost, this host's name, loopback.
pub fn default_names() -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() && h != "localhost" {
            names.push(h.to_string());
        }
    }
    names
}

/// The acceptor and its resolver for `cfg` (making the self-signed pair first when asked).
pub fn acceptor(
    cfg: &TlsConfig,
) -> Result<(tokio_rustls::TlsAcceptor, Arc<CertResolver>), TlsError> {
    if cfg.self_signed {
        ensure_self_signed(&cfg.cert, &cfg.key, default_names())?;
    }
    let loaded = load(&cfg.cert, &cfg.key)?;
    let resolver = Arc::new(CertResolver {
        cert: cfg.cert.clone(),
        key: cfg.key.clone(),
        current: RwLock::new(loaded),
    });
    let mut sc = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(sc)), resolver))
}

/// Checks the files every `every`, for as long as the runtime runs.
pub async fn watch(resolver: Arc<CertResolver>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let r = Arc::clone(&resolver);
        let _ = tokio::task::spawn_blocking(move || r.reload_if_changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_pairs_load_and_reload() {
        let dir = std::env::temp_dir().join(format!("osprey-tls-{}", std::process::id()));
        let (cert, key) = (dir.join("a/cert.pem"), dir.join("a/key.pem"));
        ensure_self_signed(&cert, &key, vec!["localhost".into()]).expect("make");
        let cfg = TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
            self_signed: true,
            redirect_port: None,
            reload_every: Duration::from_secs(1),
        };
        let (_, r) = acceptor(&cfg).expect("acceptor");
        let fp = r.fingerprint();
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(!r.reload_if_changed());
        // A new pair on disk is picked up; a broken one is not.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::remove_file(&cert).expect("rm");
        ensure_self_signed(&cert, &key.with_extension("new"), vec!["localhost".into()])
            .expect("make");
        std::fs::rename(key.with_extension("new"), &key).expect("mv");
        assert!(r.reload_if_changed());
        assert_ne!(r.fingerprint(), fp);
        let fp2 = r.fingerprint();
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&cert, "not a certificate").expect("write");
        assert!(!r.reload_if_changed());
        assert_eq!(r.fingerprint(), fp2);
        assert!(load(&cert, &key).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
