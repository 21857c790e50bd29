//! Part of the first stage of the data flow: the syntax of `sticky:` (`header:NAME` or
//! `cookie:NAME`), on a backend or a canary. `snapshot::sticky` reads the key from requests.

use super::typed::Syntax;

/// Where the key comes from: `header:NAME` or `cookie:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickyKey {
    Header(http::HeaderName),
    Cookie(Box<str>),
}

impl StickyKey {
    pub fn parse(s: &str) -> Result<StickyKey, String> {
        let bad = || format!("invalid sticky {s:?}: expected \"header:NAME\" or \"cookie:NAME\"");
        match s.split_once(':') {
            Some(("header", name)) if !name.is_empty() => {
                http::HeaderName::from_bytes(name.as_bytes())
                    .map(StickyKey::Header)
                    .map_err(|_| bad())
            }
            Some(("cookie", name))
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !b"=;,".contains(&b)) =>
            {
                Ok(StickyKey::Cookie(name.into()))
            }
            _ => Err(bad()),
        }
    }
}

impl Syntax for StickyKey {
    fn parse(text: &str) -> Result<StickyKey, String> {
        StickyKey::parse(text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn header_and_cookie_keys() {
        assert_eq!(
            StickyKey::parse("header:X-User").unwrap(),
            StickyKey::Header(http::HeaderName::from_static("x-user"))
        );
        assert_eq!(
            StickyKey::parse("cookie:session").unwrap(),
            StickyKey::Cookie("session".into())
        );
        for bad in [
            "header:",
            "cookie:",
            "query:x",
            "header",
            "header:a b",
            "cookie:a=b",
        ] {
            assert!(StickyKey::parse(bad).is_err(), "{bad}");
        }
    }
}
