//! HTTPS for the SCIM listener, with rustls: IdPs require it, and a small deployment should
//! not need a proxy for it. warp 0.4 has no TLS of its own; `api::server`'s accept loop
//! handshakes each connection with the configuration made here.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The listener's certificate, replaceable while it serves (SIGHUP): handshakes after a
/// replacement use the new certificate; connections already open keep theirs.
#[derive(Debug)]
pub struct Certificate(RwLock<Arc<CertifiedKey>>);

impl Certificate {
    /// Reads a PEM certificate chain and private key.
    pub fn load(certificate: &Path, key: &Path) -> Result<Self, String> {
        Ok(Self(RwLock::new(Arc::new(certified_key(
            certificate,
            key,
        )?))))
    }

    /// Replaces the certificate with the one in these files; on error the old one stays.
    pub fn reload(&self, certificate: &Path, key: &Path) -> Result<(), String> {
        let new = Arc::new(certified_key(certificate, key)?);
        if let Ok(mut current) = self.0.write() {
            *current = new;
        }
        Ok(())
    }

    /// The server configuration that serves this certificate (TLS 1.2 and 1.3, ALPN for
    /// HTTP/2 and HTTP/1.1).
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, String> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|key| key.clone())
    }
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn certified_key(certificate: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| {
            format!(
                "cannot read the TLS certificate {}: {e}",
                certificate.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate",
            certificate.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the TLS private key {}: {e}", key.display()))?;
    CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| format!("the TLS certificate and key do not fit together: {e}"))
}
