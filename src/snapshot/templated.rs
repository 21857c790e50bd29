//! Part of the second stage of the data flow (`snapshot`): the compiled parts of non-proxy
//! integrations (`http`, `mock`): request templates chosen by Content-Type with AWS's passthrough
//! rules, integration responses chosen by a regex on the backend status, response templates chosen
//! by Accept, header mappings. Templates and regexes are compiled once here; a request only chooses
//! and renders.

use super::mapping::{HeaderSource, ParamMapping};
use super::ProxyIntegration;
use crate::config::model::PassthroughBehavior;
use crate::template::Template;
use regex::Regex;
use std::sync::Arc;

/// Templates keyed by media type (lowercase, no parameters); `$default` is the fallback.
#[derive(Debug, Default)]
pub struct TemplateSet {
    entries: Box<[(Box<str>, Arc<Template>)]>,
    default: Option<Arc<Template>>,
}

/// What to do with a request body, per the integration's passthrough behaviour.
#[derive(Debug)]
pub enum RequestBody<'a> {
    Transform(&'a Template),
    Passthrough,
    /// 415 Unsupported Media Type.
    Unsupported,
}

/// `application/json; charset=utf-8` -> `application/json`.
pub fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or("").trim()
}

/// An API's `binary_media_types` (`image/png`, `image/*`, `*/*`), split when the snapshot is
/// compiled, so that a request's media type is matched against them without parsing or
/// allocating.
#[derive(Debug, Default)]
pub struct BinaryMediaTypes {
    /// `*/*` is listed.
    any: bool,
    /// The types of the `type/*` entries.
    kinds: Box<[Box<str>]>,
    /// The `type/subtype` entries.
    exact: Box<[Box<str>]>,
}

impl BinaryMediaTypes {
    pub fn new<'a>(listed: impl IntoIterator<Item = &'a str>) -> BinaryMediaTypes {
        let (mut any, mut kinds, mut exact) = (false, Vec::new(), Vec::new());
        for m in listed {
            match m.split_once('/') {
                Some(("*", "*")) => any = true,
                Some((kind, "*")) => kinds.push(kind.into()),
                _ => exact.push(m.into()),
            }
        }
        BinaryMediaTypes {
            any,
            kinds: kinds.into(),
            exact: exact.into(),
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.any && self.kinds.is_empty() && self.exact.is_empty()
    }

    /// Whether `media` (a media type without parameters) is one of them; case does not matter.
    pub fn matches(&self, media: &str) -> bool {
        self.any
            || self.exact.iter().any(|e| e.eq_ignore_ascii_case(media))
            || media
                .split_once('/')
                .is_some_and(|(kind, _)| self.kinds.iter().any(|k| k.eq_ignore_ascii_case(kind)))
    }
}

impl TemplateSet {
    pub fn new(entries: Vec<(String, Arc<Template>)>) -> TemplateSet {
        let mut default = None;
        let mut keyed = Vec::with_capacity(entries.len());
        for (k, t) in entries {
            if k == "$default" {
                default = Some(t);
            } else {
                keyed.push((k.to_ascii_lowercase().into_boxed_str(), t));
            }
        }
        TemplateSet {
            entries: keyed.into(),
            default,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.default.is_none()
    }

    fn get(&self, media: &str) -> Option<&Template> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(media))
            .map(|(_, t)| &**t)
    }

    /// The request template for `content_type` (missing = `application/json`, as AWS), or
    /// what the passthrough behaviour says when none matches.
    pub fn for_request(
        &self,
        content_type: Option<&str>,
        behavior: PassthroughBehavior,
    ) -> RequestBody<'_> {
        let media = content_type
            .map(media_type)
            .filter(|m| !m.is_empty())
            .unwrap_or("application/json");
        if let Some(t) = self.get(media).or(self.default.as_deref()) {
            return RequestBody::Transform(t);
        }
        match (behavior, self.is_empty()) {
            (PassthroughBehavior::WhenNoMatch, _) => RequestBody::Passthrough,
            (PassthroughBehavior::WhenNoTemplates, true) => RequestBody::Passthrough,
            (PassthroughBehavior::WhenNoTemplates, false) | (PassthroughBehavior::Never, _) => {
                RequestBody::Unsupported
            }
        }
    }

    /// The response template for the client's `Accept` (missing = `application/json`): the
    /// first media range that has a template, else the first template, as AWS does.
    pub fn for_response(&self, accept: Option<&str>) -> Option<(&str, &Template)> {
        let accept = accept.unwrap_or("application/json");
        for range in accept.split(',') {
            let m = media_type(range);
            if let Some((k, t)) = self.entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(m)) {
                return Some((k, t));
            }
        }
        self.entries
            .first()
            .map(|(k, t)| (&**k, &**t))
            .or_else(|| self.default.as_deref().map(|t| ("application/json", t)))
    }
}

/// One integration response: chosen when its pattern matches the whole status code (or error
/// message); the one without a pattern is the default.
#[derive(Debug)]
pub struct IntegrationResponse {
    pub pattern: Option<Regex>,
    pub status: u16,
    pub headers: Box<[(http::HeaderName, HeaderSource)]>,
    pub templates: TemplateSet,
}

#[derive(Debug, Default)]
pub struct Responses(pub Box<[IntegrationResponse]>);

impl Responses {
    /// The first response whose pattern matches `selector`, else the default, else `None`
    /// (AWS answers 500 then).
    pub fn select(&self, selector: &str) -> Option<&IntegrationResponse> {
        self.0
            .iter()
            .find(|r| r.pattern.as_ref().is_some_and(|p| p.is_match(selector)))
            .or_else(|| self.0.iter().find(|r| r.pattern.is_none()))
    }

    /// The default response (the one without a pattern), e.g. for a function's success, which
    /// has no `errorMessage` to match.
    pub fn fallback(&self) -> Option<&IntegrationResponse> {
        self.0.iter().find(|r| r.pattern.is_none())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What every non-proxy integration (`http`, `mock`, `aws`) has: request templates with their
/// passthrough behaviour, and integration responses.
#[derive(Debug)]
pub struct Mapping {
    pub request_templates: TemplateSet,
    pub passthrough: PassthroughBehavior,
    pub responses: Responses,
}

impl Mapping {
    /// What to do with a request body of this Content-Type.
    pub fn request_body(&self, content_type: Option<&str>) -> RequestBody<'_> {
        self.request_templates
            .for_request(content_type, self.passthrough)
    }
}

/// `type: http`: the request is mapped and templated, sent, and the response chosen and templated.
#[derive(Debug)]
pub struct HttpIntegration {
    pub target: ProxyIntegration,
    pub params: Box<[ParamMapping]>,
    pub mapping: Mapping,
}

/// `type: mock`: the request template yields `statusCode`, which selects the integration
/// response; there is nothing but the mapping.
pub type MockIntegration = Mapping;

/// Compiles a selection pattern to match the whole subject, as Java's `matches` does.
pub fn compile_pattern(p: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(&format!("^(?:{p})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid selection_pattern {p:?}: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn set(keys: &[&str]) -> TemplateSet {
        TemplateSet::new(
            keys.iter()
                .map(|k| (k.to_string(), Arc::new(Template::compile(k).unwrap())))
                .collect(),
        )
    }

    fn chosen(r: RequestBody<'_>) -> String {
        match r {
            RequestBody::Transform(t) => t.source().to_string(),
            RequestBody::Passthrough => "pass".into(),
            RequestBody::Unsupported => "415".into(),
        }
    }

    #[test]
    fn passthrough_matrix_follows_aws() {
        use PassthroughBehavior::*;
        let json = set(&["application/json"]);
        let none = set(&[]);
        for b in [WhenNoMatch, WhenNoTemplates, Never] {
            assert_eq!(chosen(json.for_request(None, b)), "application/json");
            assert_eq!(
                chosen(json.for_request(Some("application/json; charset=UTF-8"), b)),
                "application/json"
            );
        }
        assert_eq!(
            chosen(json.for_request(Some("application/xml"), WhenNoMatch)),
            "pass"
        );
        assert_eq!(
            chosen(json.for_request(Some("application/xml"), WhenNoTemplates)),
            "415"
        );
        assert_eq!(
            chosen(json.for_request(Some("application/xml"), Never)),
            "415"
        );
        assert_eq!(
            chosen(none.for_request(Some("text/plain"), WhenNoMatch)),
            "pass"
        );
        assert_eq!(
            chosen(none.for_request(Some("text/plain"), WhenNoTemplates)),
            "pass"
        );
        assert_eq!(chosen(none.for_request(Some("text/plain"), Never)), "415");
        let with_default = set(&["application/json", "$default"]);
        assert_eq!(
            chosen(with_default.for_request(Some("text/plain"), Never)),
            "$default"
        );
    }

    #[test]
    fn response_template_by_accept_else_first() {
        let s = set(&["application/xml", "application/json"]);
        assert_eq!(
            s.for_response(Some("application/json")).unwrap().0,
            "application/json"
        );
        assert_eq!(
            s.for_response(Some("text/html, application/xml;q=0.9"))
                .unwrap()
                .0,
            "application/xml"
        );
        assert_eq!(
            s.for_response(Some("text/html")).unwrap().0,
            "application/xml"
        );
        assert_eq!(s.for_response(None).unwrap().0, "application/json");
        assert!(set(&[]).for_response(None).is_none());
    }

    #[test]
    fn selection_patterns_match_the_whole_status() {
        let r = |p: Option<&str>, status| IntegrationResponse {
            pattern: p.map(|p| compile_pattern(p).unwrap()),
            status,
            headers: Box::new([]),
            templates: TemplateSet::default(),
        };
        let rs = Responses(vec![r(Some("4\\d{2}"), 400), r(Some("5.*"), 502), r(None, 200)].into());
        assert_eq!(rs.select("404").unwrap().status, 400);
        assert_eq!(rs.select("503").unwrap().status, 502);
        assert_eq!(rs.select("201").unwrap().status, 200);
        assert_eq!(
            rs.select("4040").unwrap().status,
            200,
            "the pattern must match the whole status"
        );
        let no_default = Responses(vec![r(Some("2\\d{2}"), 200)].into());
        assert!(no_default.select("500").is_none());
        assert!(compile_pattern("(").is_err());
    }
}
