//! Part of the second stage of the data flow (`snapshot`): an API's `cors:` compiled once: the
//! allowed origins as a set (and `*.domain` suffixes), and every header value prebuilt, so a
//! request only compares its `Origin` and copies values. Which answers carry them is the proxy's
//! (`proxy::cors`).

use crate::config::CorsDef;
use http::{HeaderName, HeaderValue};
use std::collections::HashSet;

#[derive(Debug)]
pub struct Cors {
    any_origin: bool,
    /// Exact origins, lowercase.
    origins: HashSet<Box<str>>,
    /// `https://*.example.com` as (`https://`, `.example.com`).
    wildcards: Box<[(Box<str>, Box<str>)]>,
    credentials: bool,
    allow_methods: Option<HeaderValue>,
    allow_headers: Option<HeaderValue>,
    expose_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

fn joined(items: &[crate::config::model::Located<String>]) -> Option<HeaderValue> {
    let v: Vec<&str> = items.iter().map(|i| i.value.as_str()).collect();
    if v.is_empty() {
        return None;
    }
    HeaderValue::from_str(&v.join(",")).ok()
}

const VARY_ORIGIN: HeaderValue = HeaderValue::from_static("Origin");

impl Cors {
    pub fn compile(def: &CorsDef) -> Cors {
        let mut origins = HashSet::new();
        let mut wildcards = Vec::new();
        let mut any_origin = false;
        for o in &def.allow_origins {
            let o = o.value.to_ascii_lowercase();
            if o == "*" {
                any_origin = true;
            } else if let Some((scheme, host)) = o.split_once("://*") {
                wildcards.push((format!("{scheme}://").into(), host.into()));
            } else {
                origins.insert(o.into());
            }
        }
        Cors {
            any_origin,
            origins,
            wildcards: wildcards.into(),
            credentials: def.allow_credentials.as_ref().is_some_and(|c| c.value),
            allow_methods: joined(&def.allow_methods),
            allow_headers: joined(&def.allow_headers),
            expose_headers: joined(&def.expose_headers),
            max_age: def
                .max_age_seconds
                .as_ref()
                .map(|m| HeaderValue::from(m.value)),
        }
    }

    /// Whether `origin` (the request's `Origin`) may read answers.
    pub fn allows(&self, origin: &HeaderValue) -> bool {
        if self.any_origin {
            return true;
        }
        let Ok(o) = origin.to_str() else {
            return false;
        };
        let lower;
        let o = if o.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = o.to_ascii_lowercase();
            lower.as_str()
        } else {
            o
        };
        self.origins.contains(o)
            || self.wildcards.iter().any(|(scheme, suffix)| {
                o.strip_prefix(&**scheme)
                    .and_then(|host| host.strip_suffix(&**suffix))
                    .is_some_and(|sub| !sub.is_empty() && !sub.contains('/'))
            })
    }

    /// Whether answers differ by `Origin` (anything but `*` without credentials), so caches
    /// must key on it (`Vary: Origin`) whatever the origin.
    pub fn varies(&self) -> bool {
        !self.any_origin || self.credentials
    }

    /// The headers of an answer to an allowed `origin`.
    pub fn answer_headers(&self, origin: &HeaderValue, out: &mut Vec<(HeaderName, HeaderValue)>) {
        use http::header::*;
        let allow = if self.any_origin && !self.credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        };
        out.push((ACCESS_CONTROL_ALLOW_ORIGIN, allow));
        if self.credentials {
            out.push((
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ));
        }
        if let Some(e) = &self.expose_headers {
            out.push((ACCESS_CONTROL_EXPOSE_HEADERS, e.clone()));
        }
    }

    /// The headers of a preflight answer to an allowed `origin`.
    pub fn preflight_headers(
        &self,
        origin: &HeaderValue,
        out: &mut Vec<(HeaderName, HeaderValue)>,
    ) {
        use http::header::*;
        self.answer_headers(origin, out);
        if let Some(m) = &self.allow_methods {
            out.push((ACCESS_CONTROL_ALLOW_METHODS, m.clone()));
        }
        if let Some(h) = &self.allow_headers {
            out.push((ACCESS_CONTROL_ALLOW_HEADERS, h.clone()));
        }
        if let Some(a) = &self.max_age {
            out.push((ACCESS_CONTROL_MAX_AGE, a.clone()));
        }
    }

    /// `Vary: Origin`, when answers depend on it.
    pub fn vary(&self) -> Option<(HeaderName, HeaderValue)> {
        self.varies().then_some((http::header::VARY, VARY_ORIGIN))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cors(yaml: &str) -> Cors {
        Cors::compile(&serde_saphyr::from_str(yaml).unwrap())
    }

    #[test]
    fn origins_match_exactly_or_by_subdomain() {
        let c = cors("allow_origins: [\"https://app.example.com\", \"https://*.shop.test\"]\nallow_credentials: true\nexpose_headers: [x-request-id]\n");
        let ok = |o: &'static str| c.allows(&HeaderValue::from_static(o));
        assert!(ok("https://app.example.com"));
        assert!(ok("https://APP.example.com"));
        assert!(ok("https://a.shop.test"));
        assert!(!ok("https://shop.test"));
        assert!(!ok("http://app.example.com"));
        assert!(!ok("https://app.example.com.evil.test"));
        let mut h = Vec::new();
        c.answer_headers(&HeaderValue::from_static("https://a.shop.test"), &mut h);
        assert_eq!(h[0].1, "https://a.shop.test");
        assert_eq!(h[1].1, "true");
        assert_eq!(h[2].1, "x-request-id");
        assert!(c.vary().is_some());
        let any = cors("allow_origins: [\"*\"]\n");
        assert!(any.vary().is_none());
    }
}
