//! Secrets as aae and aai both handle them: see the README.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Why a secret file was not read. The text never holds any of the file's.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot read it: {0}")]
    Io(#[source] std::io::Error),
    #[error("not a regular file")]
    NotRegular,
    /// Other users may read it, or others than its owner change it.
    #[error("mode {mode:04o}: other users may read it, or others than its owner change it")]
    Mode { mode: u32 },
    #[error("longer than {max} bytes")]
    TooLarge { max: u64 },
    #[error("not UTF-8 text")]
    NotText,
}

impl SecretFileError {
    /// Whether the file's permissions (or the reader's) are at fault, so the
    /// caller should say how to set them.
    pub fn is_permissions(&self) -> bool {
        match self {
            SecretFileError::Mode { .. } => true,
            SecretFileError::Io(e) => e.kind() == std::io::ErrorKind::PermissionDenied,
            _ => false,
        }
    }
}

/// The text of `path`, at most `max` bytes, if it is a regular file that no
/// other user can read and nobody but its owner (and root) can change.
pub fn read_file(path: &Path, max: u64) -> Result<String, SecretFileError> {
    // Checked before opening: opening a FIFO would block.
    if !std::fs::metadata(path)
        .map_err(SecretFileError::Io)?
        .is_file()
    {
        return Err(SecretFileError::NotRegular);
    }
    let file = std::fs::File::open(path).map_err(SecretFileError::Io)?;
    // The mode of what was opened, not of what the name pointed to a moment
    // before.
    let meta = file.metadata().map_err(SecretFileError::Io)?;
    if !meta.is_file() {
        return Err(SecretFileError::NotRegular);
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o027 != 0 {
        return Err(SecretFileError::Mode { mode });
    }
    let mut text = String::new();
    file.take(max + 1)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => SecretFileError::NotText,
            _ => SecretFileError::Io(e),
        })?;
    if text.len() as u64 > max {
        return Err(SecretFileError::TooLarge { max });
    }
    Ok(text)
}

/// `url` with the password of its authority, if any, replaced by `***`. A
/// lone user (`redis://aae@host`) is a user name, and stays.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{}", &rest[end..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn passwords_in_urls_are_never_shown() {
        assert_eq!(redact_url("redis://u:pw@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact_url("redis://:p@w@h"), "redis://:***@h");
        assert_eq!(redact_url("rediss://aae@h:6380"), "rediss://aae@h:6380");
        assert_eq!(
            redact_url("unix:///run/redis.sock"),
            "unix:///run/redis.sock"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn only_files_other_users_cannot_read_or_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cret\n").unwrap();
        for (mode, ok) in [
            (0o600, true),
            (0o640, true),
            (0o400, true),
            (0o644, false),
            (0o604, false),
            (0o660, false),
            (0o620, false),
            (0o602, false),
        ] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            match read_file(&file, 100) {
                Ok(text) => assert!(ok && text == "s3cret\n", "{mode:o}"),
                Err(e) => {
                    assert!(!ok, "{mode:o}: {e}");
                    assert!(e.is_permissions());
                    assert!(!e.to_string().contains("s3cret"));
                    assert!(e.to_string().contains(&format!("mode {mode:04o}")), "{e}");
                }
            }
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            read_file(&file, 3),
            Err(SecretFileError::TooLarge { max: 3 })
        ));
        assert!(matches!(
            read_file(dir.path(), 3),
            Err(SecretFileError::NotRegular)
        ));
        assert!(matches!(
            read_file(&dir.path().join("none"), 3),
            Err(SecretFileError::Io(_))
        ));
    }
}
