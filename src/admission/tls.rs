//! The webhook's serving certificate: loaded from PEM files and reloaded when
//! their content changes (polled by path, so a Kubernetes Secret volume's
//! `..data` symlink swap is seen like any other change), or a generated
//! development certificate signed by a generated CA.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
    #[error("certificate {cert} and key {key} do not go together: {detail}")]
    Pair {
        cert: String,
        key: String,
        detail: String,
    },
    #[error("cannot generate the development certificate: {0}")]
    Generate(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses a PEM chain and key into a certified key, checking they match.
pub fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::File {
            path: cert_name.into(),
            detail: format!("not PEM certificates: {e}"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::File {
            path: cert_name.into(),
            detail: "no certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::File {
        path: key_name.into(),
        detail: format!("not a PEM private key: {e}"),
    })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Pair {
        cert: cert_name.into(),
        key: key_name.into(),
        detail: e.to_string(),
    })
}

/// The certificate the server presents, swappable while serving.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    files: Option<(PathBuf, PathBuf)>,
    fingerprint: RwLock<[u8; 32]>,
}

impl CertStore {
    pub fn from_files(cert: &Path, key: &Path) -> Result<CertStore, TlsError> {
        let (ck, fp) = read_pair(cert, key)?;
        Ok(CertStore {
            current: RwLock::new(Arc::new(ck)),
            files: Some((cert.to_owned(), key.to_owned())),
            fingerprint: RwLock::new(fp),
        })
    }

    pub fn fixed(key: CertifiedKey) -> CertStore {
        CertStore {
            current: RwLock::new(Arc::new(key)),
            files: None,
            fingerprint: RwLock::new([0; 32]),
        }
    }

    /// Re-reads the files; swaps the certificate when they changed and are
    /// valid. A broken pair keeps the current certificate and is reported.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let Some((cert, key)) = &self.files else {
            return Ok(false);
        };
        let (cert_bytes, key_bytes) = (read(cert)?, read(key)?);
        let fp = fingerprint(&cert_bytes, &key_bytes);
        if self.fingerprint.read().map(|f| *f == fp).unwrap_or(false) {
            return Ok(false);
        }
        let ck = certified_key(
            &cert_bytes,
            &key_bytes,
            &cert.display().to_string(),
            &key.display().to_string(),
        )?;
        if let Ok(mut c) = self.current.write() {
            *c = Arc::new(ck);
        }
        if let Ok(mut f) = self.fingerprint.write() {
            *f = fp;
        }
        Ok(true)
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn read(p: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(p).map_err(|e| TlsError::File {
        path: p.display().to_string(),
        detail: e.to_string(),
    })
}

fn fingerprint(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(cert);
    h.update([0]);
    h.update(key);
    h.finalize().into()
}

fn read_pair(cert: &Path, key: &Path) -> Result<(CertifiedKey, [u8; 32]), TlsError> {
    let (c, k) = (read(cert)?, read(key)?);
    let ck = certified_key(
        &c,
        &k,
        &cert.display().to_string(),
        &key.display().to_string(),
    )?;
    Ok((ck, fingerprint(&c, &k)))
}

/// The server's TLS configuration: TLS 1.2 and 1.3, ring, h2 and http/1.1.
pub fn server_config(certs: Arc<CertStore>) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Generate(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A generated development certificate and the CA that signed it (PEM).
pub struct DevCertificate {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A fresh CA and a serving certificate for `names` (DNS names or IPs).
pub fn generate_dev_certificate(names: &[String]) -> Result<DevCertificate, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "attestgate development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "attestgate");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    Ok(DevCertificate {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_certificate_loads_and_mismatches_are_refused() {
        let a = generate_dev_certificate(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(certified_key(a.cert_pem.as_bytes(), a.key_pem.as_bytes(), "a", "a").is_ok());
        let b = generate_dev_certificate(&["localhost".into()]).unwrap();
        let err = certified_key(
            a.cert_pem.as_bytes(),
            b.key_pem.as_bytes(),
            "cert.pem",
            "key.pem",
        )
        .unwrap_err();
        assert!(err.to_string().contains("do not go together"), "{err}");
        assert!(certified_key(b"garbage", a.key_pem.as_bytes(), "c", "k").is_err());
    }

    #[test]
    fn reload_swaps_only_on_valid_change() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let a = generate_dev_certificate(&["localhost".into()]).unwrap();
        std::fs::write(&cert, &a.cert_pem).unwrap();
        std::fs::write(&key, &a.key_pem).unwrap();
        let store = CertStore::from_files(&cert, &key).unwrap();
        let first = store.current();
        assert!(!store.reload_if_changed().unwrap());
        // Half-written rotation: new cert, old key. Keep serving the old pair.
        let b = generate_dev_certificate(&["localhost".into()]).unwrap();
        std::fs::write(&cert, &b.cert_pem).unwrap();
        assert!(store.reload_if_changed().is_err());
        assert_eq!(store.current().cert, first.cert);
        std::fs::write(&key, &b.key_pem).unwrap();
        assert!(store.reload_if_changed().unwrap());
        assert_ne!(store.current().cert, first.cert);
    }
}
