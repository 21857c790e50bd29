//! Part of the first stage of the data flow (`config`): integrity of deployment files.
//! `stagecraft deploy` writes `hash: "sha256:..."` into every deployment, and validation (so
//! `validate` and every reload) rejects a deployment whose text no longer matches it. A deployment is immutable by contract; this catches the accidental edit
//! (a fix made in the wrong file, a bad merge) before it is served. It is not a signature: a file
//! without a `hash` line is a valid hand-written deployment, so removing the line is always
//! possible on purpose.
//!
//! The canonical rule, which `deployment_hash` implements:
//!
//! 1. The hash line is the first line that starts with `hash:` at column 0 (how `deploy` writes
//!    it, on its own line, before `routes`). It is removed together with its line break.
//! 2. Every `\r\n` of what is left becomes `\n`, so a checkout with Windows line endings (git's
//!    `autocrlf`) is not a modification. Nothing else is normalised: a changed comment, space or
//!    key order is a modification, because the file is meant to be exactly what was deployed.
//! 3. The hash is `sha256:` followed by the lowercase hex SHA-256 of those bytes (UTF-8).
//!
//! The value on the hash line may be written plain, in single or in double quotes.

use sha2::{Digest, Sha256};

const KEY: &str = "hash:";

/// The byte range of the hash line (including its line break) and the value it carries.
fn hash_line(text: &str) -> Option<(std::ops::Range<usize>, &str)> {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix(KEY) {
            return Some((start..start + line.len(), value(rest)));
        }
        start += line.len();
    }
    None
}

/// The scalar after `hash:`: unquoted (up to a ` #` comment) or in matching quotes.
fn value(rest: &str) -> &str {
    let rest = rest.trim();
    for q in ['"', '\''] {
        if let Some(inner) = rest.strip_prefix(q) {
            return inner.split(q).next().unwrap_or(inner);
        }
    }
    rest.split(" #").next().unwrap_or(rest).trim_end()
}

/// The hash of a deployment file's text under the rule in the module documentation. Text
/// without a hash line hashes whole, so `deploy` computes it before inserting the line.
pub fn deployment_hash(text: &str) -> String {
    let mut canonical = String::with_capacity(text.len());
    match hash_line(text) {
        Some((range, _)) => {
            canonical.push_str(&text[..range.start]);
            canonical.push_str(&text[range.end..]);
        }
        None => canonical.push_str(text),
    }
    let canonical = canonical.replace("\r\n", "\n");
    format!(
        "sha256:{}",
        super::hex(&Sha256::digest(canonical.as_bytes()))
    )
}

/// `Ok` when the text carries no hash line (a hand-written deployment) or its hash matches the
/// text; otherwise what was found and what the content hashes to.
pub fn check(text: &str) -> Result<(), String> {
    let Some((_, found)) = hash_line(text) else {
        return Ok(());
    };
    let actual = deployment_hash(text);
    if found == actual {
        Ok(())
    } else {
        Err(format!(
            "the file says {found:?}, its content hashes to {actual:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sealed(body_before: &str, body_after: &str) -> String {
        let h = deployment_hash(&format!("{body_before}{body_after}"));
        format!("{body_before}hash: \"{h}\"\n{body_after}")
    }

    #[test]
    fn a_sealed_file_checks_and_any_edit_is_caught() {
        let text = sealed("api: shop\n", "routes: []  # none yet\n");
        assert_eq!(check(&text), Ok(()));
        for (from, to) in [("[]", "[ ]"), ("none yet", "none"), ("shop", "shoq")] {
            assert!(
                check(&text.replacen(from, to, 1)).is_err(),
                "{from} -> {to}"
            );
        }
    }

    #[test]
    fn the_hash_line_itself_is_excluded_and_any_quoting_works() {
        let text = sealed("api: shop\n", "routes: []\n");
        let h = deployment_hash(&text);
        assert_eq!(h, deployment_hash("api: shop\nroutes: []\n"));
        for line in [format!("hash: {h}"), format!("hash: '{h}'  # sealed")] {
            let t = format!("api: shop\n{line}\nroutes: []\n");
            assert_eq!(check(&t), Ok(()), "{t}");
        }
    }

    #[test]
    fn crlf_line_endings_are_not_a_modification() {
        let text = sealed("api: shop\n", "routes: []\n");
        assert_eq!(check(&text.replace('\n', "\r\n")), Ok(()));
    }

    #[test]
    fn no_hash_line_is_a_hand_written_deployment() {
        assert_eq!(check("api: shop\nroutes: []\n"), Ok(()));
        // Indented `hash:` (inside a route) is not the deployment's hash.
        assert_eq!(check("api: shop\nroutes:\n  - hash: x\n"), Ok(()));
    }

    #[test]
    fn a_wrong_hash_says_what_it_found() {
        let e = check("api: shop\nhash: \"sha256:00\"\n").unwrap_err();
        assert!(e.contains("sha256:00"), "{e}");
    }
}
