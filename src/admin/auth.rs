//! Part of `admin`, beside the data flow: who may write through the admin API. The tokens file
//! (`admin_auth.tokens_file` in gateway.yaml) holds one SHA-256 (hex) per line; a write must
//! carry `Authorization: Bearer TOKEN` whose SHA-256 is one of them. The file is read at each
//! write, off the async threads, so a token added or revoked counts from the next write on
//! without a reload; the token itself is never stored, logged or echoed.

use sha2::{Digest, Sha256};
use std::path::Path;

/// Why a write is not allowed.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No `admin_auth.tokens_file`: the API is read-only.
    ReadOnly,
    /// No bearer token, or one whose hash is not in the file.
    Unauthorized,
    /// The tokens file cannot be read or has a line that is not a SHA-256.
    BadFile(String),
}

impl Denied {
    pub fn status(&self) -> u16 {
        match self {
            Denied::ReadOnly => 403,
            Denied::Unauthorized => 401,
            Denied::BadFile(_) => 500,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Denied::ReadOnly => "the admin API is read-only: set admin_auth.tokens_file in gateway.yaml to allow writes".into(),
            Denied::Unauthorized => "a write needs Authorization: Bearer TOKEN with a token whose SHA-256 is in admin_auth.tokens_file".into(),
            Denied::BadFile(e) => e.clone(),
        }
    }
}

/// `Bearer TOKEN` -> TOKEN.
pub fn bearer(header: Option<&[u8]>) -> Option<&str> {
    let h = std::str::from_utf8(header?).ok()?;
    let (scheme, token) = h.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The hex SHA-256 of a token, as the tokens file holds it.
pub fn token_hash(token: &str) -> String {
    crate::config::hex(&Sha256::digest(token.as_bytes()))
}

/// Whether `token` may write. Blocking: reads the tokens file.
pub fn check(tokens_file: Option<&Path>, token: Option<&str>) -> Result<(), Denied> {
    let Some(file) = tokens_file else {
        return Err(Denied::ReadOnly);
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| Denied::BadFile(format!("admin_auth.tokens_file {}: {e}", file.display())))?;
    let mut hashes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.len() != 64 || !line.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Denied::BadFile(format!(
                "admin_auth.tokens_file {}:{}: not a SHA-256 in hex (64 characters): make one with `printf %s TOKEN | sha256sum`",
                file.display(),
                i + 1
            )));
        }
        hashes.push(line.to_ascii_lowercase());
    }
    let Some(token) = token else {
        return Err(Denied::Unauthorized);
    };
    let presented = token_hash(token);
    // Hashes are compared, never tokens; equal length, so no early-exit length leak either.
    if hashes
        .iter()
        .any(|h| constant_eq(h.as_bytes(), presented.as_bytes()))
    {
        Ok(())
    } else {
        Err(Denied::Unauthorized)
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(
            &file,
            format!("# operators\n{}\n\n", token_hash("s3cret").to_uppercase()),
        )
        .unwrap();
        assert_eq!(check(Some(&file), Some("s3cret")), Ok(()));
        assert_eq!(check(Some(&file), Some("other")), Err(Denied::Unauthorized));
        assert_eq!(check(Some(&file), None), Err(Denied::Unauthorized));
        assert_eq!(check(None, Some("s3cret")), Err(Denied::ReadOnly));
        std::fs::write(&file, "s3cret\n").unwrap();
        let Err(Denied::BadFile(m)) = check(Some(&file), Some("s3cret")) else {
            panic!("a plain token in the file is refused");
        };
        assert!(m.contains(":1:") && !m.contains("s3cret\""), "{m}");
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer(Some(b"Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some(b"bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some(b"Basic abc")), None);
        assert_eq!(bearer(Some(b"Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
