//! The compiled parts of function integrations (`aws_proxy`, `aws`): where the event is POSTed
//! (the target of the URI, and the invocation path of each backend version), and for `aws` the
//! request templates and integration responses shared with `http`.

use super::templated::Mapping;
use super::{PathPart, ProxyIntegration};
use crate::config::model::{BackendDef, Located};
use crate::config::uri::{parse_target, Endpoint, UriTemplate};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The Lambda runtime interface emulator's invocation path (also Lambda's own Invoke API path
/// for a function named `function`).
pub const DEFAULT_INVOCATION_PATH: &str = "/2015-03-31/functions/function/invocations";

#[derive(Debug)]
pub struct FunctionIntegration {
    pub target: ProxyIntegration,
    /// Whether the URI has a path of its own, which then replaces every invocation path.
    pub uri_path: bool,
    /// `invocation_path` of each backend version that sets one, by version name.
    pub invocation_paths: Box<[(Arc<str>, Arc<str>)]>,
    pub kind: FunctionKind,
}

#[derive(Debug)]
pub enum FunctionKind {
    /// `aws_proxy`: the proxy event in, the function's `{statusCode, headers, body}` out.
    Proxy,
    /// `aws`: the request template's output in, integration responses selected by `errorMessage`.
    Custom(Mapping),
}

impl FunctionIntegration {
    /// The invocation path for a version (the URI's path, when it has one, is handled by the
    /// caller since it may hold captures).
    pub fn invocation_path(&self, version: &str) -> &str {
        self.invocation_paths
            .iter()
            .find(|(v, _)| &**v == version)
            .map(|(_, p)| &**p)
            .unwrap_or(DEFAULT_INVOCATION_PATH)
    }
}

/// Whether a compiled URI path is more than the bare `/` of a URI without a path.
pub fn has_own_path(path: &[PathPart]) -> bool {
    match path {
        [] => false,
        [PathPart::Text(t)] => &**t != "/",
        _ => true,
    }
}

/// The `invocation_path` of each version of the backend the URI names (none for `http://`).
pub fn invocation_paths(
    uri: &str,
    vars: &BTreeMap<String, String>,
    backends: &BTreeMap<String, Located<BackendDef>>,
) -> Box<[(Arc<str>, Arc<str>)]> {
    let Some(resolved) = UriTemplate::parse(uri)
        .ok()
        .and_then(|t| t.substitute(vars).ok())
    else {
        return Box::new([]);
    };
    let Ok(target) = parse_target(&resolved) else {
        return Box::new([]);
    };
    let Endpoint::Backend { name, .. } = target.endpoint else {
        return Box::new([]);
    };
    let Some(b) = backends.get(&name) else {
        return Box::new([]);
    };
    b.value
        .versions
        .iter()
        .filter_map(|(vname, v)| {
            let p = v.value.invocation_path.as_ref()?;
            Some((Arc::from(vname.as_str()), Arc::from(p.value.as_str())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_slash_is_no_path() {
        assert!(!has_own_path(&[PathPart::Text("/".into())]));
        assert!(!has_own_path(&[]));
        assert!(has_own_path(&[PathPart::Text(
            "/2015-03-31/functions/f/invocations".into()
        )]));
        assert!(has_own_path(&[
            PathPart::Text("/".into()),
            PathPart::Capture(0)
        ]));
    }
}
