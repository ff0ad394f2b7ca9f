//! Certificates made for one test by the `openssl` command line: a CA, and
//! server and client certificates it signs. Nothing here is ever committed;
//! every file lives in the test's own directory and goes with it.
//!
//! ```no_run
//! let ca = system_tests::pki::Ca::new("test CA");
//! let server = ca.server("127.0.0.1");
//! let client = ca.client("aae");
//! # let _ = (server.cert, client.key);
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::require_program;

/// A certificate and its key, as PEM files.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A self-signed CA in a directory of its own.
pub struct Ca {
    dir: tempfile::TempDir,
    /// The CA's certificate: what a peer trusts.
    pub cert: PathBuf,
    key: PathBuf,
    serial: std::cell::Cell<u32>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let dir = tempfile::Builder::new()
            .prefix("aae-pki-")
            .tempdir()
            .expect("temp dir for certificates");
        let cert = dir.path().join("ca.pem");
        let key = dir.path().join("ca.key");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            path(&key),
            "-out",
            path(&cert),
        ]);
        Ca {
            dir,
            cert,
            key,
            serial: std::cell::Cell::new(1),
        }
    }

    /// A server certificate for `host` (an IP address or a DNS name, put in
    /// subjectAltName as such), valid from now for a day.
    pub fn server(&self, host: &str) -> Issued {
        let san = if host.parse::<std::net::IpAddr>().is_ok() {
            format!("IP:{host}")
        } else {
            format!("DNS:{host}")
        };
        self.issue(host, &san, "serverAuth", Validity::Current)
    }

    /// A client certificate named `name`.
    pub fn client(&self, name: &str) -> Issued {
        self.issue(
            name,
            &format!("DNS:{name}"),
            "clientAuth",
            Validity::Current,
        )
    }

    /// A server certificate for `host` that expired yesterday.
    pub fn expired_server(&self, host: &str) -> Issued {
        let san = if host.parse::<std::net::IpAddr>().is_ok() {
            format!("IP:{host}")
        } else {
            format!("DNS:{host}")
        };
        self.issue(host, &san, "serverAuth", Validity::Expired)
    }

    fn issue(&self, name: &str, san: &str, usage: &str, validity: Validity) -> Issued {
        let n = self.serial.get();
        self.serial.set(n + 1);
        let dir = self.dir.path();
        let key = dir.join(format!("{n}.key"));
        let csr = dir.join(format!("{n}.csr"));
        let cert = dir.join(format!("{n}.pem"));
        let ext = dir.join(format!("{n}.ext"));
        std::fs::write(
            &ext,
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                 extendedKeyUsage={usage}\nsubjectAltName={san}\n"
            ),
        )
        .expect("write the extensions file");
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            path(&key),
            "-out",
            path(&csr),
        ]);
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            path(&csr),
            "-CA",
            path(&self.cert),
            "-CAkey",
            path(&self.key),
            "-set_serial",
        ];
        let serial = n.to_string();
        args.push(&serial);
        args.extend(["-extfile", path(&ext), "-out", path(&cert)]);
        // `-not_before`/`-not_after` need OpenSSL 3.4; a negative -days
        // works everywhere and gives a certificate whose end has passed.
        match validity {
            Validity::Current => args.extend(["-days", "1"]),
            Validity::Expired => args.extend(["-days", "-1"]),
        }
        openssl(&args);
        Issued { cert, key }
    }
}

enum Validity {
    Current,
    Expired,
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn openssl(args: &[&str]) {
    let out = Command::new(require_program("openssl"))
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_certificates_the_ca_verifies() {
        let ca = Ca::new("pki self-test");
        let server = ca.server("127.0.0.1");
        let client = ca.client("aae");
        let expired = ca.expired_server("127.0.0.1");
        let verify = |cert: &Path| {
            Command::new("openssl")
                .args(["verify", "-CAfile", path(&ca.cert), path(cert)])
                .output()
                .unwrap()
        };
        assert!(verify(&server.cert).status.success());
        assert!(verify(&client.cert).status.success());
        let out = verify(&expired.cert);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("expired")
                || String::from_utf8_lossy(&out.stderr).contains("expired"),
            "{out:?}"
        );
        let other = Ca::new("another CA");
        assert!(
            !Command::new("openssl")
                .args(["verify", "-CAfile", path(&other.cert), path(&server.cert)])
                .output()
                .unwrap()
                .status
                .success()
        );
    }
}
