//! Tests of the template engine (they live inside the module so they travel with it).

mod aws_cases;
mod context;
mod input;
mod lang;
mod limits;
mod printing;
mod props;
mod util_fns;

use std::collections::BTreeMap;

use super::{ContextData, Limits, Params, RenderError, RenderInput, Rendered, Template};

/// Inputs of a test render.
#[derive(Default, Clone)]
pub(super) struct Req {
    pub body: Vec<u8>,
    pub params: Params,
    pub stage_variables: BTreeMap<String, String>,
    pub context: ContextData,
    pub limits: Limits,
}

impl Req {
    pub fn new() -> Req {
        Req::default()
    }

    pub fn body(mut self, b: &str) -> Req {
        self.body = b.as_bytes().to_vec();
        self
    }

    pub fn path(mut self, k: &str, v: &str) -> Req {
        self.params.path.push((k.into(), v.into()));
        self
    }

    pub fn query(mut self, k: &str, v: &str) -> Req {
        self.params.querystring.push((k.into(), v.into()));
        self
    }

    pub fn header(mut self, k: &str, v: &str) -> Req {
        self.params.header.push((k.into(), v.into()));
        self
    }

    pub fn stage_var(mut self, k: &str, v: &str) -> Req {
        self.stage_variables.insert(k.into(), v.into());
        self
    }

    pub fn limits(mut self, l: Limits) -> Req {
        self.limits = l;
        self
    }

    pub fn try_render(&self, tpl: &str) -> Result<Rendered, RenderError> {
        let t = match Template::compile_with_limits(tpl, &self.limits) {
            Ok(t) => t,
            Err(e) => panic!("template {tpl:?} does not compile: {e}"),
        };
        let input = RenderInput {
            body: &self.body,
            params: &self.params,
            stage_variables: &self.stage_variables,
            context: &self.context,
        };
        t.render(&input, &self.limits)
    }

    pub fn render(&self, tpl: &str) -> String {
        match self.try_render(tpl) {
            Ok(r) => r.output,
            Err(e) => panic!("template {tpl:?} failed to render: {e}"),
        }
    }
}

/// Renders with no body, params or variables.
pub(super) fn r(tpl: &str) -> String {
    Req::new().render(tpl)
}

/// Renders against a JSON body.
pub(super) fn rb(body: &str, tpl: &str) -> String {
    Req::new().body(body).render(tpl)
}

/// The compile error of a template, as "line:column: message".
pub(super) fn compile_err(tpl: &str) -> String {
    match Template::compile(tpl) {
        Ok(_) => panic!("template {tpl:?} should not compile"),
        Err(e) => e.to_string(),
    }
}

/// The render error of a template.
pub(super) fn render_err(req: &Req, tpl: &str) -> RenderError {
    match req.try_render(tpl) {
        Ok(r) => panic!("template {tpl:?} should fail, rendered {:?}", r.output),
        Err(e) => e,
    }
}
