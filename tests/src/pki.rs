//! Certificates made at run time for the TLS tests: a CA of the test's own
//! and the server and client certificates it issues, written as PEM files
//! into a directory the Kea under test can read ([`crate::kea::shared_dir`]).
//! No key or certificate is ever committed.
//!
//! Keys are ECDSA P-256 (rcgen's default): fast to make, and spoken by
//! rustls and Python's OpenSSL alike.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};

/// A certificate and its key, as files.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What to issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Server,
    Client,
}

/// A CA and the directory its files go to. Files are removed on drop.
pub struct Pki {
    dir: tempfile::TempDir,
    name: String,
    issuer: Issuer<'static, KeyPair>,
    ca_file: PathBuf,
}

impl Pki {
    /// A new CA called `name` (its common name, and the prefix of its
    /// files); its certificate is written to [`Pki::ca_file`].
    pub fn new(name: &str) -> Pki {
        let dir = crate::kea::shared_dir("aae-pki-");
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-sign the CA");
        let ca_file = dir.path().join(format!("{name}-ca.pem"));
        write_file(&ca_file, &cert.pem(), 0o644);
        Pki {
            dir,
            name: name.to_owned(),
            issuer: Issuer::new(params, key),
            ca_file,
        }
    }

    /// The CA's certificate (PEM).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A certificate for `hosts` (DNS names or IP addresses), valid from
    /// 1975 to 4096, written as `<ca>-<file>.pem` and `<ca>-<file>.key`
    /// (mode 0600).
    pub fn issue(&self, file: &str, usage: Usage, hosts: &[&str]) -> CertFiles {
        self.issue_with(file, usage, hosts, |_| {})
    }

    /// A server certificate for `hosts` that expired in 2001.
    pub fn issue_expired(&self, file: &str, hosts: &[&str]) -> CertFiles {
        self.issue_with(file, Usage::Server, hosts, |p| {
            p.not_before = date_time_ymd(2000, 1, 1);
            p.not_after = date_time_ymd(2001, 1, 1);
        })
    }

    fn issue_with(
        &self,
        file: &str,
        usage: Usage,
        hosts: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> CertFiles {
        let key = KeyPair::generate().expect("a leaf key");
        let names: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{} {file}", self.name));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        adjust(&mut params);
        let cert = params.signed_by(&key, &self.issuer).expect("issue");
        let files = CertFiles {
            cert: self.dir.path().join(format!("{}-{file}.pem", self.name)),
            key: self.dir.path().join(format!("{}-{file}.key", self.name)),
        };
        write_file(&files.cert, &cert.pem(), 0o644);
        write_file(&files.key, &key.serialize_pem(), 0o600);
        files
    }
}

/// Writes `text` to `path` with `mode` (a credentials file, for instance).
pub fn write_file(path: &Path, text: &str, mode: u32) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}
