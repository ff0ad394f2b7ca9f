//! TLS listeners, client certificates, basic credentials and SIGHUP
//! reloads: independent clients (Python, Perl) are served, hostile ones are
//! refused with a log line and leave no trace for the next client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::fixture::{
    Aai, BIN, get, get_mac_doc, post, read_one_response, require, run_script, setup,
};
use crate::pki::{
    Ca, client_config, client_hello, peer_cert, tls_config, tls_connect, tls_http, write_private,
};

const GOOD_MAC: &str = "aa:bb:cc:dd:ee:01";

/// Asserts a good TLS client gets the right MAC.
fn served(aai: &Aai, config: &std::sync::Arc<rustls::ClientConfig>, auth: Option<&str>) {
    let doc = get_mac_doc("192.0.2.10");
    let mut req = post("/RPC2", doc.as_bytes());
    if let Some(a) = auth {
        req = with_auth(&req, a);
    }
    let r = tls_http(aai.addr(), config, &req);
    assert_eq!(r.status, 200, "{r:?}\naai log:\n{}", aai.log());
    assert!(r.text().contains(GOOD_MAC), "{r:?}");
}

/// `request` with an `Authorization: Basic` header for `user_pass`.
fn with_auth(request: &[u8], user_pass: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(user_pass);
    let text = String::from_utf8(request.to_vec()).unwrap();
    text.replacen("\r\n", &format!("\r\nAuthorization: Basic {b64}\r\n"), 1)
        .into_bytes()
}

fn wait_log(aai: &Aai, what: &str) {
    let start = Instant::now();
    while !aai.log().contains(what) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no {what:?} in aai's log:\n{}",
            aai.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const PYTHON: &str = r#"
import ssl, sys, xmlrpc.client as x
url, ca, cert, key = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
if cert:
    ctx.load_cert_chain(cert, key)
p = x.ServerProxy(url, allow_none=True, context=ctx)
print("mac", p.arpwatch.get_mac("192.0.2.10"))
print("none", repr(p.arpwatch.get_mac("192.0.2.99")))
print("lease", p.arpwatch.get_lease("2001:db8::10")["mac"])
if len(sys.argv) > 5:
    try:
        x.ServerProxy(sys.argv[5], context=ctx).arpwatch.get_mac("192.0.2.10")
    except x.ProtocolError as e:
        h = {k.lower(): v for k, v in e.headers.items()}
        print("wrong", e.errcode, h.get("www-authenticate"))
"#;

const PERL: &str = r#"
use strict; use warnings;
use RPC::XML; use RPC::XML::Client;
$RPC::XML::ALLOW_NIL = 1;
my ($url, $ca, $cert, $key, $user, $pw) = @ARGV;
my $c = RPC::XML::Client->new($url, useragent => [ssl_opts => {
    SSL_ca_file => $ca, SSL_cert_file => $cert, SSL_key_file => $key, verify_hostname => 1 }]);
$c->credentials('aai', $user, $pw);
my $r = $c->send_request('arpwatch.get_mac', '192.0.2.10');
print "mac ", (ref $r ? $r->value : "ERR $r"), "\n";
$r = $c->send_request('arpwatch.get_mac', '192.0.2.99');
print "none ", (ref $r && $r->isa('RPC::XML::nil') ? "NIL" : "ERR $r"), "\n";
"#;

#[test]
fn python_and_perl_over_https() {
    require("python3", &["-c", "import ssl, xmlrpc.client"], "python3");
    require(
        "perl",
        &["-MRPC::XML::Client", "-MLWP::Protocol::https", "-e1"],
        "Perl's RPC::XML over HTTPS (librpc-xml-perl, liblwp-protocol-https-perl)",
    );
    let pki = tempfile::tempdir().unwrap();
    let ca = Ca::new(pki.path(), "test-ca");
    let server = ca.server("aai");
    let client = ca.client("arpwatch", false);
    let creds = pki.path().join("credentials");
    write_private(&creds, "arpwatch:correct horse\n");

    // TLS alone: a client without a certificate is served.
    let (_redis, aai) = setup(&tls_config(&server, None));
    let url = format!("https://127.0.0.1:{}/RPC2", aai.port);
    let ca_pem = ca.pem.to_str().unwrap();
    let out = run_script("python3", "-c", PYTHON, &[&url, ca_pem, "", ""]);
    assert_eq!(
        out,
        format!("mac {GOOD_MAC}\nnone None\nlease aa:bb:cc:dd:ee:02\n"),
        "aai log:\n{}",
        aai.log()
    );
    drop(aai);

    // Client certificates and credentials: both clients present them.
    let extra = format!(
        "{}credentials-file = \"{}\"\n",
        tls_config(&server, Some(&ca)),
        creds.display()
    );
    let (_redis, aai) = setup(&extra);
    let host = format!("127.0.0.1:{}", aai.port);
    let (cert, key) = (client.cert.to_str().unwrap(), client.key.to_str().unwrap());
    let out = run_script(
        "python3",
        "-c",
        PYTHON,
        &[
            &format!("https://arpwatch:correct%20horse@{host}/RPC2"),
            ca_pem,
            cert,
            key,
            &format!("https://arpwatch:wrong@{host}/RPC2"),
        ],
    );
    assert_eq!(
        out,
        format!(
            "mac {GOOD_MAC}\nnone None\nlease aa:bb:cc:dd:ee:02\nwrong 401 Basic realm=\"aai\"\n"
        ),
        "aai log:\n{}",
        aai.log()
    );
    let out = run_script(
        "perl",
        "-e",
        PERL,
        &[
            &format!("https://{host}/RPC2"),
            ca_pem,
            cert,
            key,
            "arpwatch",
            "correct horse",
        ],
    );
    assert_eq!(
        out,
        format!("mac {GOOD_MAC}\nnone NIL\n"),
        "aai log:\n{}",
        aai.log()
    );

    // aai's own `aai query`, with the same CA, certificate and credentials;
    // without the certificate the handshake fails, and it says so.
    let query = |with_cert: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--config", "/dev/null", "query", "192.0.2.10", "--server"])
            .arg(format!("https://{host}/RPC2"))
            .args(["--ca-file", ca_pem, "--credentials-file"])
            .arg(&creds);
        if with_cert {
            cmd.args(["--client-cert", cert, "--client-key", key]);
        }
        cmd.output().unwrap()
    };
    let q = query(true);
    assert_eq!(
        (q.status.code(), String::from_utf8_lossy(&q.stdout).trim()),
        (Some(0), GOOD_MAC),
        "{q:?}\naai log:\n{}",
        aai.log()
    );
    let q = query(false);
    assert_eq!(q.status.code(), Some(2), "{q:?}");
    assert!(String::from_utf8_lossy(&q.stderr).contains("TLS"), "{q:?}");
    assert!(!aai.log().contains("horse"), "{}", aai.log());
}

#[test]
fn hostile_tls_clients_are_refused_and_the_next_is_served() {
    let pki = tempfile::tempdir().unwrap();
    let ca = Ca::new(pki.path(), "test-ca");
    let other = Ca::new(pki.path(), "other-ca");
    let server = ca.server("aai");
    let good = client_config(&ca, Some(&ca.client("arpwatch", false)));
    let extra = format!(
        "{}allow = [\"127.0.0.1/32\"]\nheader-timeout-ms = 500\n",
        tls_config(&server, Some(&ca))
    );
    let (_redis, aai) = setup(&extra);
    served(&aai, &good, None);

    let refused = |config: &std::sync::Arc<rustls::ClientConfig>, why: &str| {
        // The refusal reaches the client in the handshake or at its first
        // read (TLS 1.3 checks the client's certificate after the client
        // has finished); either way no response comes.
        let got = tls_connect(aai.addr(), None, config).and_then(|mut s| {
            s.write_all(&post("/RPC2", get_mac_doc("192.0.2.10").as_bytes()))?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).map(|_| buf)
        });
        assert!(
            !matches!(&got, Ok(b) if !b.is_empty()),
            "{why}: served: {got:?}"
        );
        wait_log(&aai, why);
        served(&aai, &good, None);
    };
    refused(
        &client_config(&ca, Some(&other.client("stranger", false))),
        "failed: invalid peer certificate: UnknownIssuer",
    );
    refused(
        &client_config(&ca, Some(&ca.client("old", true))),
        "failed: invalid peer certificate: certificate expired",
    );
    refused(&client_config(&ca, None), "the client sent no certificate");

    // Plain HTTP on the TLS port: told so, in plain HTTP.
    let r = crate::fixture::http(aai.addr(), None, &get("/health"));
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.text().contains("https://"), "{r:?}");
    wait_log(&aai, "plain HTTP (not TLS) on a TLS listener");
    served(&aai, &good, None);

    // Outside the allow list: closed before any TLS byte is answered.
    let from = Some("127.0.0.2".parse().unwrap());
    let got = tls_connect(aai.addr(), from, &good);
    assert!(got.is_err(), "handshake outside the allow list: {got:?}");
    wait_log(&aai, "not in the allow list (closed before TLS)");
    served(&aai, &good, None);

    // A ClientHello one byte at a time: cut off at the header timeout,
    // while another client is served.
    let hello = client_hello(&good);
    let start = Instant::now();
    let mut slow = TcpStream::connect(aai.addr()).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut i = 0;
    let cut = loop {
        if i == 3 {
            // Mid-trickle, a good client is not held up.
            let t = Instant::now();
            served(&aai, &good, None);
            assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        }
        if slow.write_all(&hello[i % hello.len()..][..1]).is_err() {
            break true;
        }
        i += 1;
        match slow.read(&mut [0; 64]) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => break true,
        }
        if start.elapsed() > Duration::from_secs(5) {
            break false;
        }
    };
    assert!(cut, "a trickled handshake was not cut off");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "cut off only after {:?}",
        start.elapsed()
    );
    wait_log(&aai, "not finished within 500 ms (header-timeout-ms)");
    served(&aai, &good, None);

    let m = tls_http(aai.addr(), &good, &get("/metrics")).text();
    for line in [
        "aai_http_refused_total{reason=\"tls_handshake\",status=\"none\"} 3",
        "aai_http_refused_total{reason=\"not_tls\",status=\"400\"} 1",
        "aai_http_refused_total{reason=\"tls_timeout\",status=\"none\"} 1",
        "aai_http_refused_total{reason=\"forbidden\",status=\"403\"} 1",
    ] {
        assert!(m.lines().any(|l| l == line), "missing {line} in\n{m}");
    }
}

#[test]
fn credentials_are_checked_from_the_headers_alone() {
    let pki = tempfile::tempdir().unwrap();
    let ca = Ca::new(pki.path(), "test-ca");
    let creds = pki.path().join("credentials");
    write_private(&creds, "# ARPwatch\narpwatch:s3cret-pw\n");
    let extra = format!(
        "{}credentials-file = \"{}\"\n",
        tls_config(&ca.server("aai"), None),
        creds.display()
    );
    let (_redis, aai) = setup(&extra);
    let config = client_config(&ca, None);

    // Headers that promise 10 MB that never come: the 401 arrives anyway,
    // so the body was not waited for.
    let head = b"POST /RPC2 HTTP/1.1\r\nHost: aai\r\nContent-Length: 10485760\r\n\r\n";
    for (auth, why) in [
        (None, "no basic credentials sent"),
        (Some("arpwatch:wrong"), "wrong user or password"),
        (Some("nobody:s3cret-pw"), "wrong user or password"),
    ] {
        let req = match auth {
            None => head.to_vec(),
            Some(a) => with_auth(head, a),
        };
        let start = Instant::now();
        let mut s = tls_connect(aai.addr(), None, &config).unwrap();
        s.write_all(&req).unwrap();
        let r = read_one_response(&mut s);
        assert_eq!(r.status, 401, "{auth:?}: {r:?}");
        assert_eq!(r.header("www-authenticate"), "Basic realm=\"aai\"", "{r:?}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        wait_log(&aai, why);
        served(&aai, &config, Some("arpwatch:s3cret-pw"));
    }
    let r = tls_http(
        aai.addr(),
        &config,
        &with_auth(&get("/metrics"), "arpwatch:s3cret-pw"),
    );
    assert!(
        r.text()
            .contains("aai_http_refused_total{reason=\"unauthorized\",status=\"401\"} 3"),
        "{r:?}"
    );
    assert_eq!(tls_http(aai.addr(), &config, &get("/health")).status, 401);
    let log = aai.log();
    assert!(!log.contains("s3cret") && !log.contains("wrong\n"), "{log}");
}

#[test]
fn sighup_swaps_the_certificate_and_open_connections_keep_working() {
    let pki = tempfile::tempdir().unwrap();
    let ca = Ca::new(pki.path(), "test-ca");
    let first = ca.server("aai");
    let (_redis, aai) = setup(&tls_config(&first, None));
    let config = client_config(&ca, None);

    let doc = get_mac_doc("192.0.2.10");
    let keep_alive = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: aai\r\nContent-Length: {}\r\n\r\n{doc}",
        doc.len()
    );
    let mut old = tls_connect(aai.addr(), None, &config).unwrap();
    old.write_all(keep_alive.as_bytes()).unwrap();
    assert_eq!(read_one_response(&mut old).status, 200);
    assert_eq!(peer_cert(&old), first.der);

    // A new certificate and key, written over the same files.
    let second = ca.server("aai-next");
    std::fs::rename(&second.cert, &first.cert).unwrap();
    std::fs::rename(&second.key, &first.key).unwrap();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(aai.pid(), libc::SIGHUP) }, 0);
    wait_log(&aai, "SIGHUP: reloaded tls cert");

    let new = tls_connect(aai.addr(), None, &config).unwrap();
    assert_eq!(
        peer_cert(&new),
        second.der,
        "a new connection got the old cert"
    );
    old.write_all(keep_alive.as_bytes()).unwrap();
    let r = read_one_response(&mut old);
    assert_eq!(r.status, 200, "the kept-alive connection broke: {r:?}");
    assert!(r.text().contains(GOOD_MAC));

    // A broken file at SIGHUP: the certificate in use stays, and the log
    // says why, with the path.
    std::fs::write(&first.cert, "not a certificate\n").unwrap();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(aai.pid(), libc::SIGHUP) }, 0);
    wait_log(
        &aai,
        &format!(
            "SIGHUP: keeping the TLS certificate in use: `tls-cert` {}: holds no CERTIFICATE",
            first.cert.display()
        ),
    );
    let again = tls_connect(aai.addr(), None, &config).unwrap();
    assert_eq!(peer_cert(&again), second.der);
    served(&aai, &config, None);
}

#[test]
fn check_config_names_the_bad_tls_or_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "test-ca");
    let server = ca.server("aai");
    let other = ca.server("other");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\n!!!\n").unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(&creds, "u:p\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    let check = |text: String| {
        let p = dir.path().join("aai.toml");
        std::fs::write(&p, text).unwrap();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&p)
            .arg("--check-config")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (c, k) = (server.cert.display(), server.key.display());
    let (code, out, err) = check(format!("tls-cert = \"{c}\"\ntls-key = \"{k}\"\n"));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("tls cert {c}")), "{out}");
    // With TLS configured, `aai query` asks over https by default.
    let q = Command::new(BIN)
        .arg("--config")
        .arg(dir.path().join("aai.toml"))
        .args(["query", "192.0.2.10"])
        .output()
        .unwrap();
    assert_eq!(q.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&q.stderr).contains("https://127.0.0.1:8736/RPC2"),
        "{q:?}"
    );
    for (text, want) in [
        (
            format!("tls-cert = \"{}\"\ntls-key = \"{k}\"\n", garbage.display()),
            format!("`tls-cert`: {}: is not a valid PEM file", garbage.display()),
        ),
        (
            format!(
                "tls-cert = \"{c}\"\ntls-key = \"{}/nope.key\"\n",
                dir.path().display()
            ),
            format!(
                "`tls-key`: {}/nope.key: cannot read it",
                dir.path().display()
            ),
        ),
        (
            format!(
                "tls-cert = \"{c}\"\ntls-key = \"{}\"\n",
                other.key.display()
            ),
            "does not belong to this certificate".to_owned(),
        ),
        (
            format!("tls-cert = \"{c}\"\n"),
            "`tls-key`: is missing".to_owned(),
        ),
        (
            format!("tls-client-ca = \"{}\"\n", ca.pem.display()),
            "`tls-client-ca`: needs TLS".to_owned(),
        ),
        (
            format!("credentials-file = \"{}\"\n", creds.display()),
            format!(
                "`credentials-file`: {}: mode 0644: other users may read it",
                creds.display()
            ),
        ),
        (
            "credentials-file = \"${CREDENTIALS_DIRECTORY}/aai-credentials\"\n".to_owned(),
            "CREDENTIALS_DIRECTORY is not set".to_owned(),
        ),
    ] {
        let (code, _, err) = check(text.clone());
        assert_eq!(code, Some(2), "{text}: {err}");
        assert!(err.contains(&want), "{text}: want {want:?} in {err}");
    }
    // systemd's LoadCredential= directory, as the unit would pass it.
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o400)).unwrap();
    let p = dir.path().join("aai.toml");
    std::fs::write(
        &p,
        "credentials-file = \"${CREDENTIALS_DIRECTORY}/credentials\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&p)
        .arg("--check-config")
        .env("CREDENTIALS_DIRECTORY", dir.path())
        .output()
        .unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{e}");
    assert!(o.contains("basic credentials of 1 users"), "{o}");
    assert!(e.contains("clear text"), "{e}");
}

/// TLS to a plain-HTTP aai: the handshake fails at once (aai answers the
/// ClientHello as a bad HTTP request and closes), nothing hangs, and the
/// next plain client is served.
#[test]
fn tls_to_the_plain_port_fails_fast_and_the_next_client_is_served() {
    let pki = tempfile::tempdir().unwrap();
    let ca = Ca::new(pki.path(), "test-ca");
    let (_redis, aai) = setup("");
    let start = Instant::now();
    let got = tls_connect(aai.addr(), None, &client_config(&ca, None));
    assert!(got.is_err(), "a TLS handshake with a plain port: {got:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    aai.still_answers("192.0.2.10", GOOD_MAC);
}
