//! TLS for aai's listeners: the PEM files named by `tls-cert`, `tls-key`
//! and `tls-client-ca`, read into a rustls [`ServerConfig`] (ring provider,
//! TLS 1.2 and 1.3, HTTP/1.1 only). Read once at start, where a bad file is
//! a configuration error, and again on SIGHUP (`crate::reload`), where a bad
//! file keeps the configuration in use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The files a TLS listener is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// `tls-cert`: the server's certificate, then any intermediates.
    pub cert: PathBuf,
    /// `tls-key`: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// `tls-client-ca`: when set, a client must present a certificate that
    /// chains to one of these.
    pub client_ca: Option<PathBuf>,
}

/// What is wrong with one of the files; names the key and the path.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsError {
    /// The configuration key that named the file.
    pub key: &'static str,
    pub path: PathBuf,
    pub message: String,
}

impl TlsFiles {
    /// Reads the files and builds the configuration new handshakes use.
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = read_certs("tls-cert", &self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| {
            fail(
                "tls-key",
                &self.key,
                match e {
                    rustls_pki_types::pem::Error::NoItemsFound => {
                        "holds no PRIVATE KEY block (PEM, PKCS#8, RSA or EC)".to_owned()
                    }
                    e => pem_message(e),
                },
            )
        })?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| fail("tls-cert", &self.cert, e.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in read_certs("tls-client-ca", ca)? {
                    roots.add(c).map_err(|e| {
                        fail(
                            "tls-client-ca",
                            ca,
                            format!("holds a certificate that is not a usable CA: {e}"),
                        )
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| fail("tls-client-ca", ca, e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| {
            let message = match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "the private key in {} does not belong to this certificate",
                    self.key.display()
                ),
                e => format!(
                    "cannot use this certificate with {}: {e}",
                    self.key.display()
                ),
            };
            fail("tls-cert", &self.cert, message)
        })?;
        // hyper serves HTTP/1.1 only; a client that insists on h2 is told
        // so in the handshake instead of failing later.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// One line for logs and `--check-config`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "tls cert {} key {}",
            self.cert.display(),
            self.key.display()
        );
        match &self.client_ca {
            Some(ca) => s.push_str(&format!(", client certificates from CA {}", ca.display())),
            None => s.push_str(", no client certificates"),
        }
        s
    }
}

fn read_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(key, path, pem_message(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(key, path, pem_message(e)))?;
    if certs.is_empty() {
        return Err(fail(key, path, "holds no CERTIFICATE block (PEM)".into()));
    }
    Ok(certs)
}

fn pem_message(e: rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(e) => format!("cannot read it: {e}"),
        e => format!("is not a valid PEM file: {e}"),
    }
}

fn fail(key: &'static str, path: &Path, message: String) -> TlsError {
    TlsError {
        key,
        path: path.to_owned(),
        message,
    }
}

/// What a failed handshake's error says, for the log line: rustls's own
/// reason when there is one ("invalid peer certificate: Expired").
pub fn handshake_error(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::NoCertificatesPresented) => {
            "the client sent no certificate (tls-client-ca requires one)".to_owned()
        }
        Some(r) => r.to_string(),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the client closed the connection".to_owned()
        }
        None => e.to_string(),
    }
}

/// `tls-*` as configured, with the configuration read from the files.
#[derive(Clone, Debug)]
pub struct Tls {
    pub files: TlsFiles,
    pub config: Arc<ServerConfig>,
}
