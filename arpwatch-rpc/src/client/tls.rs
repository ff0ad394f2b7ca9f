//! What the client trusts and shows on an `https://` link, and the HTTP
//! basic credentials it sends: loaded from files once, when the client is
//! configured, never per request.
//!
//! Secrets (the private key, the password) never appear in `Debug` output
//! or in an error message: those name files, never their contents.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use hyper::header::HeaderValue;
use hyper_rustls::ConfigBuilderExt;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// Largest PEM file read. Debian's whole CA bundle is about 220 KiB.
const MAX_PEM_BYTES: u64 = 4 << 20;

/// Why TLS settings or credentials could not be made. The text names the
/// file and says what is wrong with it, never what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SetupError {
    /// A file that cannot be read, or does not hold what it should.
    #[error("the {what} {path}: {problem}")]
    File {
        /// "CA file", "client certificate", "client key".
        what: &'static str,
        path: PathBuf,
        problem: String,
    },
    /// No CA file was given and the system's CA store is empty or unreadable.
    #[error(
        "cannot use the system's CA store ({reason}); install ca-certificates or name a CA file"
    )]
    SystemRoots { reason: String },
    /// The client certificate and key do not go together.
    #[error(
        "the client key {key} does not belong to the client certificate {cert} ({reason}); give the key the certificate was issued for"
    )]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    /// A user or password HTTP basic authentication cannot carry.
    #[error("unusable credentials: {problem}")]
    Credentials { problem: &'static str },
}

/// The TLS side of a client for `https://` URLs: the CAs it trusts (a CA
/// file, or the system's store) and the certificate it presents, if any.
/// The server's certificate is always verified, host name included.
///
/// Cheap to clone: clones share the loaded configuration. Two are equal when
/// loaded from the same files.
#[derive(Clone)]
pub struct TlsConfig {
    rustls: Arc<rustls::ClientConfig>,
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
}

impl TlsConfig {
    /// Trusts the system's CA store (on Debian `/etc/ssl/certs`, from
    /// `ca-certificates`); presents no client certificate.
    pub fn system() -> Result<TlsConfig, SetupError> {
        TlsConfig::from_files(None, None)
    }

    /// Trusts the CAs in `ca_file` (a PEM bundle; it replaces the system's
    /// store), or the system's store when `None`, and presents the PEM
    /// certificate chain and private key of `client` (`(cert, key)`), if
    /// given. Reads every file now.
    pub fn from_files(
        ca_file: Option<&Path>,
        client: Option<(&Path, &Path)>,
    ) -> Result<TlsConfig, SetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports rustls' default protocol versions");
        let builder = match ca_file {
            Some(path) => builder.with_root_certificates(read_roots(path)?),
            None => builder
                .with_native_roots()
                .map_err(|e| SetupError::SystemRoots {
                    reason: e.to_string(),
                })?,
        };
        let rustls = match client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = read_chain(cert)?;
                let key_der = read_key(key)?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    SetupError::KeyMismatch {
                        cert: cert.to_owned(),
                        key: key.to_owned(),
                        reason: e.to_string(),
                    }
                })?
            }
        };
        Ok(TlsConfig {
            rustls: Arc::new(rustls),
            ca_file: ca_file.map(Path::to_owned),
            client_cert: client.map(|(c, k)| (c.to_owned(), k.to_owned())),
        })
    }

    /// The CA file trusted instead of the system's store.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The client certificate and key files.
    pub fn client_cert(&self) -> Option<(&Path, &Path)> {
        self.client_cert
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path()))
    }

    pub(crate) fn rustls(&self) -> Arc<rustls::ClientConfig> {
        self.rustls.clone()
    }

    /// Trusts nothing: for a client whose URL is `http://`, which never
    /// makes a TLS connection but whose connector wants a configuration.
    pub(crate) fn unused() -> Arc<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports rustls' default protocol versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &TlsConfig) -> bool {
        self.ca_file == other.ca_file && self.client_cert == other.client_cert
    }
}

impl Eq for TlsConfig {}

/// The files, never what they hold.
impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .finish_non_exhaustive()
    }
}

/// For log lines: `CA file /etc/x.pem, client certificate /etc/y.pem`.
impl fmt::Display for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ca_file {
            Some(path) => write!(f, "CA file {}", path.display())?,
            None => f.write_str("the system's CA store")?,
        }
        if let Some((cert, _)) = &self.client_cert {
            write!(f, ", client certificate {}", cert.display())?;
        }
        Ok(())
    }
}

/// HTTP basic credentials (RFC 7617), sent as `Authorization: Basic` with
/// every request. The password shows nowhere: not in `Debug`, not in errors.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    header: HeaderValue,
}

impl Credentials {
    /// Refuses a user that is empty or holds a colon (the separator), and a
    /// user or password with control characters.
    pub fn new(user: &str, password: &str) -> Result<Credentials, SetupError> {
        let bad = |problem| Err(SetupError::Credentials { problem });
        if user.is_empty() {
            return bad("the user is empty");
        }
        if user.contains(':') {
            return bad("the user contains a colon, which separates it from the password");
        }
        if user.chars().any(char::is_control) {
            return bad("the user contains control characters");
        }
        if password.chars().any(char::is_control) {
            return bad("the password contains control characters");
        }
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut header = HeaderValue::try_from(format!("Basic {token}"))
            .expect("base64 is a valid header value");
        // Kept out of hyper's Debug output and of HPACK tables.
        header.set_sensitive(true);
        Ok(Credentials {
            user: user.to_owned(),
            header,
        })
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub(crate) fn header(&self) -> HeaderValue {
        self.header.clone()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The bytes of a PEM file, refusing what is not a regular file of
/// reasonable size (a FIFO would block, a device would never end).
fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, SetupError> {
    let problem = |problem: String| SetupError::File {
        what,
        path: path.to_owned(),
        problem,
    };
    let meta = std::fs::metadata(path).map_err(|e| problem(format!("cannot read it ({e})")))?;
    if !meta.is_file() {
        return Err(problem("is not a regular file".into()));
    }
    if meta.len() > MAX_PEM_BYTES {
        return Err(problem(format!(
            "is {} bytes, more than the {MAX_PEM_BYTES} a PEM file is allowed",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES).read_to_end(&mut bytes))
        .map_err(|e| problem(format!("cannot read it ({e})")))?;
    Ok(bytes)
}

fn pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line".into(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".into(),
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64".into(),
        other => format!("is not valid PEM ({other})"),
    }
}

/// Every certificate in a PEM file; at least one.
fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, SetupError> {
    let bytes = read_file(what, path)?;
    let problem = |problem: String| SetupError::File {
        what,
        path: path.to_owned(),
        problem,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(pem_problem(&e)))?;
    if certs.is_empty() {
        return Err(problem(
            "holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certs)
}

fn read_roots(path: &Path) -> Result<rustls::RootCertStore, SetupError> {
    const WHAT: &str = "CA file";
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in read_certs(WHAT, path)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| SetupError::File {
            what: WHAT,
            path: path.to_owned(),
            problem: format!("certificate {} in it is not usable as a CA ({e})", i + 1),
        })?;
    }
    Ok(roots)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, SetupError> {
    read_certs("client certificate", path)
}

/// The first private key in a PEM file. Problems are told without any of
/// the file's text.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, SetupError> {
    const WHAT: &str = "client key";
    let bytes = read_file(WHAT, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| SetupError::File {
        what: WHAT,
        path: path.to_owned(),
        problem: match e {
            pem::Error::NoItemsFound => "holds no private key (expected PEM: -----BEGIN \
                                         PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)"
                .into(),
            other => pem_problem(&other),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_hide_the_password() {
        let c = Credentials::new("aae", "s3cret:with colon").unwrap();
        assert_eq!(c.user(), "aae");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(c.header().is_sensitive());
        // RFC 7617's example: Aladdin / open sesame.
        let c = Credentials::new("Aladdin", "open sesame").unwrap();
        assert_eq!(c.header(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        for (user, password, why) in [
            ("", "p", "empty"),
            ("a:b", "p", "colon"),
            ("a\n", "p", "control"),
            ("a", "p\r\n", "password contains control"),
        ] {
            let e = Credentials::new(user, password).unwrap_err().to_string();
            assert!(e.contains(why), "{user:?}: {e}");
        }
    }

    #[test]
    fn file_problems_name_the_file_and_what_is_wrong() {
        let dir = std::env::temp_dir().join(format!("arpwatch-rpc-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let missing = dir.join("missing.pem");
        let e = TlsConfig::from_files(Some(&missing), None).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "the CA file {}: cannot read it (",
                missing.display()
            )),
            "{e}"
        );
        let e = TlsConfig::from_files(Some(&dir), None).unwrap_err();
        assert!(e.to_string().ends_with("is not a regular file"), "{e}");
        let empty = write("empty.pem", "not pem at all\n");
        let e = TlsConfig::from_files(Some(&empty), None).unwrap_err();
        assert!(e.to_string().contains("holds no certificate"), "{e}");
        let cut = write("cut.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
        let e = TlsConfig::from_files(Some(&cut), None).unwrap_err();
        assert!(e.to_string().contains("no END line"), "{e}");
        let junk = write(
            "junk.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let e = TlsConfig::from_files(Some(&junk), None).unwrap_err();
        assert!(
            e.to_string().contains("certificate 1 in it is not usable"),
            "{e}"
        );
        // A key file that holds a secret-looking line that is no key: the
        // message does not quote it.
        let key = write("key.pem", "hunter2\n");
        // The chain is junk only as a CA; as a chain it parses, so the key
        // is what fails.
        let e = TlsConfig::from_files(None, Some((&junk, &key))).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains("the client key") && shown.contains("holds no private key"),
            "{shown}"
        );
        assert!(!shown.contains("hunter2") && !format!("{e:?}").contains("hunter2"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
