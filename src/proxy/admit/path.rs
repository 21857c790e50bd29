//! Part of the proxy stage, inside step 1 (admit): path safety before route matching:
//! percent-encoding must be valid (else 400), dot segments (also percent-encoded ones, `%2e%2e`)
//! are resolved, and `//` is collapsed, so a backend never receives `..` and `/a/../admin` cannot
//! reach around a route. Other encodings, `%2F` included, are kept as sent: an encoded slash inside
//! a parameter stays one segment.

use std::borrow::Cow;

#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    /// `%` not followed by two hex digits.
    BadEncoding,
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// `seg` is `.` or `..`, spelled plainly or percent-encoded.
fn dots(seg: &str) -> usize {
    let b = seg.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.' {
            i += 1;
        } else if b[i] == b'%'
            && b.get(i + 1) == Some(&b'2')
            && matches!(b.get(i + 2), Some(b'e' | b'E'))
        {
            i += 3;
        } else {
            return 0;
        }
        n += 1;
        if n > 2 {
            return 0;
        }
    }
    n
}

/// The normalised path, borrowed when nothing changes (the common case costs one scan).
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let b = path.as_bytes();
    let mut suspicious = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len() || !is_hex(b[i + 1]) || !is_hex(b[i + 2]) {
                    return Err(PathError::BadEncoding);
                }
                if b[i + 1] == b'2' && (b[i + 2] == b'e' || b[i + 2] == b'E') {
                    suspicious = true;
                }
                i += 3;
                continue;
            }
            b'.' => suspicious = true,
            b'/' if b.get(i + 1) == Some(&b'/') => suspicious = true,
            _ => {}
        }
        i += 1;
    }
    if !suspicious {
        return Ok(Cow::Borrowed(path));
    }
    let trailing = path.ends_with('/');
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let last = segs.len().saturating_sub(1);
    let mut ends_in_dir = trailing;
    for (k, seg) in segs.iter().enumerate() {
        match dots(seg) {
            1 => {
                if k == last {
                    ends_in_dir = true;
                }
            }
            2 => {
                out.pop();
                if k == last {
                    ends_in_dir = true;
                }
            }
            _ => out.push(seg),
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() || (ends_in_dir && !out.is_empty()) {
        s.push('/');
    }
    Ok(Cow::Owned(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> String {
        match normalize(p) {
            Ok(c) => c.into_owned(),
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn resolves_dot_segments_and_slashes() {
        assert_eq!(n("/a/b"), "/a/b");
        assert_eq!(n("/a/../b"), "/b");
        assert_eq!(n("/a/./b"), "/a/b");
        assert_eq!(n("/a//b"), "/a/b");
        assert_eq!(n("/a/%2e%2E/b"), "/b");
        assert_eq!(n("/a/%2e/b"), "/a/b");
        assert_eq!(n("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(n("/a/.."), "/");
        assert_eq!(n("/a/b/.."), "/a/");
        assert_eq!(n("/"), "/");
        assert_eq!(n("/a/..b/c"), "/a/..b/c");
        assert_eq!(n("/file.json"), "/file.json");
    }

    #[test]
    fn keeps_encoded_slashes_and_rejects_bad_encodings() {
        assert_eq!(n("/a%2Fb/c"), "/a%2Fb/c");
        assert_eq!(n("/a%20b"), "/a%20b");
        assert_eq!(n("/a%zz"), "BadEncoding");
        assert_eq!(n("/a%2"), "BadEncoding");
        assert_eq!(n("/a%"), "BadEncoding");
    }
}
