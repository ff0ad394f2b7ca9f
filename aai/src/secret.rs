//! Reading a file that holds a secret (passwords, a private key), with
//! aai's advice when its permissions are wrong: [`secrets::read_file`]'s
//! rule, group read allowed (a `LoadCredential=` copy shows its ACL so).

use std::path::Path;

/// The file's text (at most 64 KiB). Errors say what is wrong and how to
/// fix it, never any of the text.
pub fn read(path: &Path) -> Result<String, String> {
    secrets::read_file(path, 64 * 1024).map_err(|e| {
        if e.is_permissions() {
            format!(
                "{e}; it holds a secret: chmod 0600 {p} (or 0640 with a group only aai is in, \
                 e.g. chown root:aai), or hand it to the service with LoadCredential= (see \
                 docs/operations.md)",
                p = path.display()
            )
        } else {
            e.to_string()
        }
    })
}
