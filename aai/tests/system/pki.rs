//! Certificates made at run time (rcgen; nothing is committed), and a
//! blocking rustls client for what Python and Perl cannot be made to do
//! (trickle a handshake, stop after the headers, look at the server's
//! certificate on a kept-alive connection).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};

use crate::fixture::{HttpResponse, connect_from, parse_response};

/// A certificate authority whose files live in `dir`.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub pem: PathBuf,
    dir: PathBuf,
}

/// A certificate and its key, as PEM files.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&pem, issuer.pem()).unwrap();
        Ca {
            issuer,
            pem,
            dir: dir.to_owned(),
        }
    }

    /// aai's certificate: for 127.0.0.1 and localhost.
    pub fn server(&self, name: &str) -> Leaf {
        self.leaf(name, ExtendedKeyUsagePurpose::ServerAuth, false)
    }

    /// A client's certificate; `expired` ones ran out in 2021.
    pub fn client(&self, name: &str, expired: bool) -> Leaf {
        self.leaf(name, ExtendedKeyUsagePurpose::ClientAuth, expired)
    }

    fn leaf(&self, name: &str, eku: ExtendedKeyUsagePurpose, expired: bool) -> Leaf {
        let mut p =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages = vec![eku];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        let leaf = Leaf {
            cert: self.dir.join(format!("{name}.crt")),
            key: self.dir.join(format!("{name}.key")),
            der: cert.der().clone(),
        };
        std::fs::write(&leaf.cert, cert.pem()).unwrap();
        write_private(&leaf.key, &key.serialize_pem());
        leaf
    }
}

/// Writes a file only its owner can read, as a key or credentials file is.
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The config lines for a TLS aai with `server`'s files.
pub fn tls_config(server: &Leaf, client_ca: Option<&Ca>) -> String {
    let mut s = format!(
        "tls-cert = \"{}\"\ntls-key = \"{}\"\n",
        server.cert.display(),
        server.key.display()
    );
    if let Some(ca) = client_ca {
        s.push_str(&format!("tls-client-ca = \"{}\"\n", ca.pem.display()));
    }
    s
}

/// A rustls client configuration trusting `ca`, presenting `client` if given.
pub fn client_config(ca: &Ca, client: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&ca.pem).unwrap())
        .unwrap();
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    Arc::new(match client {
        None => b.with_no_client_auth(),
        Some(c) => b
            .with_client_auth_cert(
                vec![c.der.clone()],
                PrivateKeyDer::from_pem_file(&c.key).unwrap(),
            )
            .unwrap(),
    })
}

pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connects and completes the handshake; Err is the handshake's failure.
pub fn tls_connect(
    to: SocketAddr,
    from: Option<IpAddr>,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream> {
    let tcp = connect_from(to, from);
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = ServerName::IpAddress(to.ip().into());
    let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    // A server that refuses a client certificate says so after the
    // client's Finished (TLS 1.3): one read shows it.
    s.flush()?;
    Ok(s)
}

/// One request over a new TLS connection; the whole response.
pub fn tls_http(
    to: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    request: &[u8],
) -> HttpResponse {
    let mut s = tls_connect(to, None, config).expect("TLS handshake with aai");
    s.write_all(request).unwrap();
    let mut raw = Vec::new();
    // aai closes with close_notify; a reset after the response is fine.
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw)
}

/// The server certificate a stream's peer presented.
pub fn peer_cert(s: &TlsStream) -> CertificateDer<'static> {
    s.conn.peer_certificates().expect("handshake done")[0].clone()
}

/// A ClientHello for `config`, as the bytes a client sends first.
pub fn client_hello(config: &Arc<rustls::ClientConfig>) -> Vec<u8> {
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let mut c = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut out = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut out).unwrap();
    }
    out
}
