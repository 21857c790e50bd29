//! Beside the data flow, used by `snapshot` (which compiles every template once per snapshot) and
//! `proxy` (which renders them per request); uses no other module of the crate. AWS API Gateway
//! (REST) mapping templates: the Velocity 1.7 dialect API Gateway runs, with
//! `$input`, `$util`, `$context` and `$stageVariables`, rendered the way AWS renders them.
//!
//! Compile once ([`Template::compile`]) when a configuration snapshot is built, share the
//! [`Template`] (it is `Send + Sync`), and [`Template::render`] it per request. Rendering is a pure
//! function of the template, the [`RenderInput`] and the [`Limits`]: no I/O, no clock, no global
//! state; every limit hit or run-time failure is an `Err`, never a panic or a hang.
//!
//! See `DECISIONS.md` for the places where AWS behaviour is uncertain and which way this engine
//! goes.

mod ast;
mod case;
mod context;
mod error;
mod javaregex;
mod json;
mod jsonpath;
mod methods;
mod numfmt;
mod parser;
mod render;
mod runtime;
mod util;
mod value;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use case::render_case;
pub use context::{ContextData, Identity, Overrides, RequestOverrides};
pub use error::{CaseError, LimitKind, RenderError, TemplateError};

/// What to do when a `#foreach` reaches `max_foreach_iterations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForeachOverflow {
    /// Leave the loop silently after the limit, as Velocity's `directive.foreach.maxloops`
    /// does (the default).
    Stop,
    /// Fail the render with [`RenderError::Limit`].
    Error,
}

/// Resource limits of compiling and rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Iterations of one `#foreach` loop (AWS: 1,000).
    pub max_foreach_iterations: usize,
    /// What happens at that limit.
    pub foreach_overflow: ForeachOverflow,
    /// Size of the rendered output in bytes.
    pub max_output_bytes: usize,
    /// Nesting of the template itself (blocks, expressions, string literals) when compiling.
    pub max_parse_depth: usize,
    /// Nesting while rendering: blocks, and values (JSON documents, printing, comparing).
    pub max_render_depth: usize,
    /// Evaluation steps of one render (each node, expression, method call and loop iteration
    /// costs one or more; work on long strings and lists costs in proportion).
    pub max_steps: u64,
    /// Largest string a template may build (concatenation, replace, interpolation, ...).
    pub max_string_bytes: usize,
    /// Compiled size limit of a regex (literal patterns at compile time, dynamic ones at render).
    pub max_regex_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_foreach_iterations: 1_000,
            foreach_overflow: ForeachOverflow::Stop,
            max_output_bytes: 1 << 20,
            max_parse_depth: 64,
            max_render_depth: 512,
            max_steps: 1_000_000,
            max_string_bytes: 16 << 20,
            max_regex_bytes: javaregex::DEFAULT_REGEX_SIZE,
        }
    }
}

/// Request parameters: each an ordered list of `(name, value)`; a repeated name is looked up by
/// its last value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
    /// Path parameters.
    pub path: Vec<(String, String)>,
    /// Query-string parameters.
    pub querystring: Vec<(String, String)>,
    /// Headers.
    pub header: Vec<(String, String)>,
}

/// Everything a template can read about one request.
#[derive(Debug, Clone, Copy)]
pub struct RenderInput<'a> {
    /// Raw payload (request body for request templates, integration response body for response
    /// templates); empty = AWS's empty payload (`$input.body` is `{}`).
    pub body: &'a [u8],
    /// `$input.params()`.
    pub params: &'a Params,
    /// `$stageVariables`.
    pub stage_variables: &'a BTreeMap<String, String>,
    /// `$context`.
    pub context: &'a ContextData,
}

/// The result of a render.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    /// The rendered text.
    pub output: String,
    /// `$context.responseOverride` as the template left it.
    pub response_override: Overrides,
    /// `$context.requestOverride` as the template left it.
    pub request_override: RequestOverrides,
}

/// A compiled template: immutable, `Send + Sync`, cheap to share in an `Arc`.
pub struct Template {
    nodes: Vec<ast::Node>,
    names: Vec<Box<str>>,
    source: Box<str>,
    text_len: usize,
    /// The whole output when the template is plain text (a mock's `{"statusCode": 200}`): such a
    /// template renders without an interpreter.
    constant: Option<Box<str>>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn text_len(nodes: &[ast::Node]) -> usize {
    nodes
        .iter()
        .map(|n| match n {
            ast::Node::Text(t) => t.len(),
            ast::Node::Ref(_) => 8,
            _ => 0,
        })
        .sum()
}

fn constant(nodes: &[ast::Node]) -> Option<Box<str>> {
    let mut text = String::new();
    for n in nodes {
        match n {
            ast::Node::Text(t) => text.push_str(t),
            _ => return None,
        }
    }
    Some(text.into())
}

impl Template {
    /// Compiles a template with the default [`Limits`].
    pub fn compile(source: &str) -> Result<Template, TemplateError> {
        Template::compile_with_limits(source, &Limits::default())
    }

    /// Compiles a template; `limits.max_parse_depth` bounds its nesting and
    /// `limits.max_regex_bytes` the regexes compiled from literal patterns.
    pub fn compile_with_limits(source: &str, limits: &Limits) -> Result<Template, TemplateError> {
        match parser::parse(source, limits.max_parse_depth, limits.max_regex_bytes) {
            Ok(out) => Ok(Template {
                text_len: text_len(&out.nodes),
                constant: constant(&out.nodes),
                nodes: out.nodes,
                names: out.names,
                source: source.into(),
            }),
            Err(e) => {
                let (line, column) = error::line_col(source, e.pos);
                Err(TemplateError {
                    line,
                    column,
                    message: e.msg,
                })
            }
        }
    }

    /// The template's source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the template for one request.
    pub fn render(
        &self,
        input: &RenderInput<'_>,
        limits: &Limits,
    ) -> Result<Rendered, RenderError> {
        if let Some(text) = &self.constant {
            // Within every limit the interpreter would check (one step and one level per node);
            // otherwise the interpreter runs and reports the limit.
            if text.len() <= limits.max_output_bytes
                && self.nodes.len() < limits.max_steps as usize
                && limits.max_render_depth >= 1
            {
                let (response_override, request_override) = runtime::untouched_overrides(input);
                return Ok(Rendered {
                    output: text.to_string(),
                    response_override,
                    request_override,
                });
            }
        }
        let mut rt = runtime::Rt::new(self, input, limits);
        rt.run()?;
        let (response_override, request_override) = rt.overrides();
        Ok(Rendered {
            output: std::mem::take(&mut rt.out),
            response_override,
            request_override,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod api_tests {
    use super::*;

    #[test]
    fn template_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Template>();
        check::<std::sync::Arc<Template>>();
    }

    #[test]
    fn a_plain_text_template_renders_as_the_interpreter_would() {
        let input_ctx = ContextData {
            response_override: Overrides {
                status: Some(201),
                ..Overrides::default()
            },
            ..ContextData::default()
        };
        let (params, vars) = (Params::default(), BTreeMap::new());
        let input = RenderInput {
            body: b"",
            params: &params,
            stage_variables: &vars,
            context: &input_ctx,
        };
        let t = Template::compile("{\"statusCode\": 200}").unwrap();
        assert!(t.constant.is_some());
        let r = t.render(&input, &Limits::default()).unwrap();
        assert_eq!(r.output, "{\"statusCode\": 200}");
        assert_eq!(r.response_override.status, Some(201));
        // Limits still hold.
        let tight = Limits {
            max_output_bytes: 4,
            ..Limits::default()
        };
        assert!(matches!(
            t.render(&input, &tight),
            Err(RenderError::Limit {
                kind: LimitKind::OutputSize
            })
        ));
        assert!(Template::compile("a $x b").unwrap().constant.is_none());
    }

    #[test]
    fn template_error_displays_line_and_column() {
        let e = Template::compile("line one\n  #if($x").err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("2:"), "{e}");
    }
}
