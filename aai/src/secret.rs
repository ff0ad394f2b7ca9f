//! Reading a file that holds a secret (passwords, a private key): refused
//! unless other users cannot read it and nobody but its owner can change it.
//! Group read is allowed: it is how a file is shared with a service's group
//! (0640 root:GROUP), and how the ACL systemd puts on a `LoadCredential=`
//! copy shows in the mode bits.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The file's text. Errors say what is wrong and how to fix it, never any
/// of the text.
pub fn read(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o027 != 0 {
        return Err(format!(
            "is readable or writable by other users (mode {mode:04o}); it holds a secret: \
             chmod 0600 {p} (or 0640 with a group only aai is in, e.g. chown root:aai), \
             or hand it to the service with LoadCredential= (see docs/operations.md)",
            p = path.display()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))
}
