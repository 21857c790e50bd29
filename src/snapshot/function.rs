//! Part of the second stage of the data flow (`snapshot`): the compiled parts of function
//! integrations (`aws_proxy`, `aws`): where the event is POSTed (the target of the URI, and the
//! invocation path of each backend version), and for `aws` the request templates and integration
//! responses shared with `http`.

use super::templated::Mapping;
use super::{PathPart, ProxyIntegration};
use crate::config::model::BackendDef;
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
        invocation_path(&self.invocation_paths, version)
    }
}

/// A version's invocation path among `paths` (a backend's `invocation_path`s), else Lambda's.
pub fn invocation_path<'p>(paths: &'p [(Arc<str>, Arc<str>)], version: &str) -> &'p str {
    paths
        .iter()
        .find(|(v, _)| &**v == version)
        .map(|(_, p)| &**p)
        .unwrap_or(DEFAULT_INVOCATION_PATH)
}

/// Whether a compiled URI path is more than the bare `/` of a URI without a path.
pub fn has_own_path(path: &[PathPart]) -> bool {
    match path {
        [] => false,
        [PathPart::Text(t)] => &**t != "/",
        _ => true,
    }
}

/// The `invocation_path` of each version of a backend that sets one.
pub fn invocation_paths(backend: &BackendDef) -> Box<[(Arc<str>, Arc<str>)]> {
    backend
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
