//! HTTP basic credentials (`credentials-file`): the file of `user:password`
//! lines, and the check of a request's `Authorization` header against it.
//!
//! The check runs on the headers alone, before a body byte is read, and
//! takes the same time whichever user or password is sent: every line is
//! compared, SHA-256 digests of equal length, with no early exit. Nothing
//! here ever puts a user name or a password into a message.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use ring::digest::{SHA256, digest};

type Digest = [u8; 32];

/// The users a `credentials-file` lists.
pub struct Credentials {
    users: Vec<(Digest, Digest)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({} users)", self.users.len())
    }
}

/// Why a request's credentials were refused (for the log; the client only
/// gets the 401).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No `Authorization` header, or not `Basic`.
    Missing,
    /// `Basic`, but not base64 of `user:password`.
    Malformed,
    /// A user and password that are not in the file.
    Wrong,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::Missing => "no basic credentials sent",
            Refused::Malformed => "malformed basic credentials",
            Refused::Wrong => "wrong user or password",
        })
    }
}

fn hash(b: &[u8]) -> Digest {
    let d = digest(&SHA256, b);
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// 0 when equal, non-zero otherwise, in time independent of the contents.
fn diff(a: &Digest, b: &Digest) -> u8 {
    a.iter()
        .zip(b)
        .fold(0, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)))
}

impl Credentials {
    /// Parses the file's text: one `user:password` per line (the password
    /// is everything after the first colon); blank lines and lines starting
    /// with `#` are skipped. Errors name the line, never its content.
    pub fn parse(text: &str) -> Result<Credentials, String> {
        let mut users = Vec::new();
        let mut names: Vec<(Digest, usize)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((user, password)) = line.split_once(':') else {
                return Err(format!("line {n} is not user:password"));
            };
            if user.is_empty() || user.trim() != user {
                return Err(format!(
                    "line {n}: the user name is empty or has spaces around it"
                ));
            }
            if password.is_empty() {
                return Err(format!("line {n}: the password is empty"));
            }
            let name = hash(user.as_bytes());
            if let Some((_, first)) = names.iter().find(|(h, _)| *h == name) {
                return Err(format!("line {n} repeats the user of line {first}"));
            }
            names.push((name, n));
            users.push((name, hash(password.as_bytes())));
        }
        if users.is_empty() {
            return Err("has no user:password line: every client would be refused".into());
        }
        Ok(Credentials { users })
    }

    /// Reads and parses `path`, refusing a file that other users could read
    /// or anyone but its owner could change.
    pub fn load(path: &Path) -> Result<Credentials, String> {
        Credentials::parse(&crate::secret::read(path)?)
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), Refused> {
        let Some(value) = authorization else {
            return Err(Refused::Missing);
        };
        let value = trim(value);
        let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
            Some(at) => (&value[..at], trim(&value[at + 1..])),
            None => (value, &b""[..]),
        };
        if !scheme.eq_ignore_ascii_case(b"basic") {
            return Err(Refused::Missing);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| Refused::Malformed)?;
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return Err(Refused::Malformed);
        };
        let (user, password) = (hash(&decoded[..colon]), hash(&decoded[colon + 1..]));
        // Every line is compared, so the time taken says nothing about
        // which user (if any) matched.
        let mut matched = 0u8;
        for (u, p) in &self.users {
            let both = diff(u, &user) | diff(p, &password);
            matched |= std::hint::black_box(u8::from(both == 0));
        }
        if matched == 1 {
            Ok(())
        } else {
            Err(Refused::Wrong)
        }
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&c| c != b' ' && c != b'\t');
    let end = b.iter().rposition(|&c| c != b' ' && c != b'\t');
    match (start, end) {
        (Some(s), Some(e)) => &b[s..=e],
        _ => &[],
    }
}

/// `credentials-file` as configured, with what was read from it.
#[derive(Clone, Debug)]
pub struct CredentialsFile {
    pub path: PathBuf,
    pub loaded: std::sync::Arc<Credentials>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
        .into_bytes()
    }

    #[test]
    fn checks_user_and_password() {
        let c = Credentials::parse("# arpwatch hosts\n\narpwatch:s3cret:with:colons\nother:pw\r\n")
            .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.check(Some(&basic("arpwatch:s3cret:with:colons"))), Ok(()));
        assert_eq!(c.check(Some(&basic("other:pw"))), Ok(()));
        assert_eq!(c.check(Some(b"basic b3RoZXI6cHc=")), Ok(()));
        assert_eq!(
            c.check(Some(&basic("other:s3cret:with:colons"))),
            Err(Refused::Wrong)
        );
        assert_eq!(c.check(Some(&basic("arpwatch:"))), Err(Refused::Wrong));
        assert_eq!(c.check(Some(&basic("nobody:pw"))), Err(Refused::Wrong));
        assert_eq!(c.check(None), Err(Refused::Missing));
        assert_eq!(c.check(Some(b"Bearer xyz")), Err(Refused::Missing));
        assert_eq!(c.check(Some(b"Basic !!!")), Err(Refused::Malformed));
        assert_eq!(c.check(Some(&basic("nocolon"))), Err(Refused::Malformed));
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn bad_files_name_the_line_not_the_secret() {
        for (text, want) in [
            ("", "no user:password"),
            ("# only a comment\n", "no user:password"),
            ("a:1\nsecretline\n", "line 2 is not"),
            (":secret\n", "line 1: the user name"),
            ("a:\n", "line 1: the password is empty"),
            ("a:secret\nb:x\na:y\n", "line 3 repeats the user of line 1"),
        ] {
            let e = Credentials::parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains("secret"), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("credentials");
        std::fs::write(&p, "u:p\n").unwrap();
        for (mode, ok) in [
            (0o600, true),
            (0o400, true),
            (0o640, true),
            (0o644, false),
            (0o660, false),
            (0o604, false),
        ] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let r = Credentials::load(&p);
            assert_eq!(r.is_ok(), ok, "mode {mode:o}: {r:?}");
            if let Err(e) = r {
                assert!(e.contains("chmod 0600"), "{e}");
            }
        }
        let e = Credentials::load(&dir.path().join("none")).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
    }
}
