//! Part of the second stage of the data flow (`snapshot`): sticky splits: instead of chance, a
//! stable hash of a request header or cookie decides which side of a canary or which version of an
//! alias a request takes, so one client stays on one side (AWS cannot do this; users ask for it).
//! Requests without the key fall back to chance. The key is parsed with the configuration
//! (`config::sticky`); this reads it from requests.

use http::HeaderMap;

pub use crate::config::sticky::StickyKey;

impl StickyKey {
    /// The key's value in a request, if it has one.
    pub fn value<'h>(&self, headers: &'h HeaderMap) -> Option<&'h [u8]> {
        match self {
            StickyKey::Header(name) => headers
                .get(name)
                .map(|v| v.as_bytes())
                .filter(|v| !v.is_empty()),
            StickyKey::Cookie(name) => headers
                .get_all(http::header::COOKIE)
                .iter()
                .find_map(|h| cookie(h.as_bytes(), name)),
        }
    }
}

fn cookie<'h>(header: &'h [u8], name: &str) -> Option<&'h [u8]> {
    header.split(|b| *b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|b| *b == b'=')?;
        (&pair[..eq] == name.as_bytes())
            .then(|| &pair[eq + 1..])
            .filter(|v| !v.is_empty())
    })
}

/// A stable 64-bit hash of `value` salted with `salt` (the stage or alias name, so that the
/// canary split and a version split over the same header are independent). FNV-1a with a
/// splitmix64 finish: stable across builds and platforms, unlike std's hasher.
pub fn hash(salt: &str, value: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.as_bytes().iter().chain([0xffu8].iter()).chain(value) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_header_and_cookie_keys() {
        let mut h = HeaderMap::new();
        h.insert("x-user", "alice".parse().unwrap());
        h.append("cookie", "a=1; session=abc; b=2".parse().unwrap());
        assert_eq!(
            StickyKey::parse("header:X-User").unwrap().value(&h),
            Some(&b"alice"[..])
        );
        assert_eq!(
            StickyKey::parse("cookie:session").unwrap().value(&h),
            Some(&b"abc"[..])
        );
        assert_eq!(StickyKey::parse("cookie:none").unwrap().value(&h), None);
    }

    #[test]
    fn hash_is_stable_and_salted() {
        assert_eq!(hash("prod", b"alice"), hash("prod", b"alice"));
        assert_ne!(hash("prod", b"alice"), hash("dev", b"alice"));
        // Spread: 10,000 distinct keys split 30/70 land near 30%.
        let n = (0..10_000)
            .filter(|i| hash("s", format!("user-{i}").as_bytes()) % 100 < 30)
            .count();
        assert!((2_800..3_200).contains(&n), "{n}");
    }
}
