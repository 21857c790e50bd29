//! Part of `template` (beside the data flow): the state of one render and the operations on it that
//! method calls share with the interpreter: budgets (steps, string and output sizes), errors with
//! their position, lazily built `$input` values and cached regexes. `render` walks the template
//! with it and `methods` calls into it; it uses neither, so the dependency goes one way.

use std::collections::HashMap;
use std::sync::Arc;

use super::ast::{SLOT_INPUT, SLOT_UTIL};
use super::context::{self, Overrides, RequestOverrides};
use super::error::{line_col, LimitKind, RenderError};
use super::javaregex::JavaRegex;
use super::json::{self, JsonError};
use super::jsonpath::{JsonPath, PathAbort, PathResult};
use super::value::{Heap, TooDeep, Value};
use super::{Limits, RenderInput, Template};

pub(super) enum BodyJson {
    Unparsed,
    Parsed(Value),
    Invalid,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopFrame {
    pub index: usize,
    pub has_next: bool,
}

/// State of one render.
pub(crate) struct Rt<'a> {
    pub(super) tpl: &'a Template,
    pub(super) input: &'a RenderInput<'a>,
    pub(super) lim: &'a Limits,
    pub(super) heap: Heap,
    pub(super) vars: Vec<Value>,
    pub(super) ctx_pending: bool,
    pub(super) sv_pending: bool,
    pub(super) context_val: Option<Value>,
    pub(super) out: String,
    pub(super) steps: u64,
    pub(super) depth: usize,
    pub(super) body_text: Option<Arc<str>>,
    pub(super) body_json: BodyJson,
    pub(super) params: Option<Value>,
    pub(super) loops: Vec<LoopFrame>,
    pub(super) regex_cache: HashMap<String, Arc<JavaRegex>>,
}

impl From<TooDeep> for RenderError {
    fn from(_: TooDeep) -> RenderError {
        RenderError::Limit {
            kind: LimitKind::Depth,
        }
    }
}

pub(crate) fn limit(kind: LimitKind) -> RenderError {
    RenderError::Limit { kind }
}

impl<'a> Rt<'a> {
    pub(crate) fn new(tpl: &'a Template, input: &'a RenderInput<'a>, lim: &'a Limits) -> Rt<'a> {
        let mut vars = vec![Value::Null; tpl.names.len()];
        vars[SLOT_INPUT as usize] = Value::Input;
        vars[SLOT_UTIL as usize] = Value::Util;
        Rt {
            tpl,
            input,
            lim,
            heap: Heap::default(),
            vars,
            ctx_pending: true,
            sv_pending: true,
            context_val: None,
            // Request templates tend to carry much of the body over: room for it saves the regrowths.
            out: String::with_capacity(
                (tpl.text_len + input.body.len() + 256).min(lim.max_output_bytes),
            ),
            steps: 0,
            depth: 0,
            body_text: None,
            body_json: BodyJson::Unparsed,
            params: None,
            loops: Vec::new(),
            regex_cache: HashMap::new(),
        }
    }

    /// The overrides as the template left them.
    pub(crate) fn overrides(&self) -> (Overrides, RequestOverrides) {
        match &self.context_val {
            Some(ctx) => context::read_back(&self.heap, ctx, self.lim.max_render_depth),
            None => untouched_overrides(self.input),
        }
    }

    pub(crate) fn err(&self, pos: u32, msg: impl Into<String>) -> RenderError {
        let (line, column) = line_col(&self.tpl.source, pos as usize);
        RenderError::Runtime {
            line,
            column,
            message: msg.into(),
        }
    }

    pub(crate) fn step(&mut self, n: u64) -> Result<(), RenderError> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.lim.max_steps {
            return Err(limit(LimitKind::Steps));
        }
        Ok(())
    }

    /// Charges steps for work proportional to `bytes`.
    pub(crate) fn work(&mut self, bytes: usize) -> Result<(), RenderError> {
        self.step(1 + (bytes / 256) as u64)
    }

    /// A new string value, within `max_string_bytes`.
    pub(crate) fn new_str(&mut self, s: String) -> Result<Value, RenderError> {
        if s.len() > self.lim.max_string_bytes {
            return Err(limit(LimitKind::StringSize));
        }
        self.work(s.len())?;
        Ok(Value::string(s))
    }

    /// A map key from a value (maps are keyed by strings).
    pub(crate) fn key_string(&self, v: &Value) -> Result<Arc<str>, RenderError> {
        Ok(match v {
            Value::Str(s) => s.clone(),
            Value::Null => Arc::from("null"),
            other => Arc::from(self.heap.to_java_string(other, self.lim.max_render_depth)?),
        })
    }

    pub(crate) fn to_string(&self, v: &Value) -> Result<String, RenderError> {
        Ok(self.heap.to_java_string(v, self.lim.max_render_depth)?)
    }

    pub(crate) fn scope_property(&mut self, d: u32, name: &str) -> Value {
        let Some(fr) = self.loops.get(d as usize).copied() else {
            return Value::Null;
        };
        match name {
            "index" => Value::Int(fr.index as i64),
            "count" => Value::Int(fr.index as i64 + 1),
            "hasNext" => Value::Bool(fr.has_next),
            "first" => Value::Bool(fr.index == 0),
            "last" => Value::Bool(!fr.has_next),
            "parent" => {
                if d == 0 {
                    Value::Null
                } else {
                    Value::Scope(d - 1)
                }
            }
            "topmost" => Value::Scope(0),
            _ => Value::Null,
        }
    }

    // ---- $input ----

    pub(crate) fn body_str(&mut self) -> Value {
        if let Some(s) = &self.body_text {
            return Value::Str(s.clone());
        }
        let s: Arc<str> = if self.input.body.is_empty() {
            Arc::from("{}")
        } else {
            Arc::from(String::from_utf8_lossy(self.input.body))
        };
        self.body_text = Some(s.clone());
        Value::Str(s)
    }

    /// The body parsed as JSON (once per render); None when it is not JSON.
    pub(crate) fn body_json(&mut self) -> Result<Option<Value>, RenderError> {
        match &self.body_json {
            BodyJson::Parsed(v) => return Ok(Some(v.clone())),
            BodyJson::Invalid => return Ok(None),
            BodyJson::Unparsed => {}
        }
        let body = self.input.body;
        let result = if body.is_empty() {
            Ok(self.heap.new_map().1)
        } else {
            json::parse(body, &mut self.heap, self.lim.max_render_depth)
        };
        match result {
            Ok(v) => {
                self.body_json = BodyJson::Parsed(v.clone());
                Ok(Some(v))
            }
            Err(JsonError::TooDeep) => Err(limit(LimitKind::Depth)),
            Err(JsonError::Syntax(_)) => {
                self.body_json = BodyJson::Invalid;
                Ok(None)
            }
        }
    }

    /// Evaluates a JSONPath, charging the nodes it visits to the step budget.
    fn eval_path(&mut self, path: &JsonPath, root: &Value) -> Result<PathResult, RenderError> {
        let mut budget = self.lim.max_steps.saturating_sub(self.steps);
        let before = budget;
        let r = path.eval(&mut self.heap, root, self.lim.max_render_depth, &mut budget);
        self.step((before - budget) / 16)?;
        match r {
            Ok(r) => Ok(r),
            Err(PathAbort::TooDeep) => Err(limit(LimitKind::Depth)),
            Err(PathAbort::Budget) => Err(limit(LimitKind::Steps)),
        }
    }

    /// `$input.path(p)`.
    pub(crate) fn input_path(&mut self, path: &JsonPath) -> Result<Value, RenderError> {
        let Some(root) = self.body_json()? else {
            return Ok(Value::Null);
        };
        Ok(match self.eval_path(path, &root)? {
            PathResult::Missing => Value::Null,
            PathResult::Found(v) => v,
        })
    }

    /// `$input.json(p)`.
    pub(crate) fn input_json(&mut self, path: &JsonPath) -> Result<Value, RenderError> {
        let mut s = String::with_capacity(64);
        match self.append_input_json(path, &mut s)? {
            None => Ok(Value::str("\"\"")),
            Some(_) => self.new_str(s),
        }
    }

    /// `$input.json(p)` printed straight into the output, within the same budgets as the string
    /// `input_json` makes.
    pub(crate) fn print_input_json(&mut self, path: &JsonPath) -> Result<(), RenderError> {
        let mut out = std::mem::take(&mut self.out);
        let written = self.append_input_json(path, &mut out);
        self.out = out;
        if let Some(n) = written? {
            if n > self.lim.max_string_bytes {
                return Err(limit(LimitKind::StringSize));
            }
            self.work(n)?;
        }
        Ok(())
    }

    /// Appends `$input.json(p)` to `out`: the bytes of the JSON found, or `None` when nothing is
    /// (the body is not JSON or the path matches nothing), for which `""` is appended.
    fn append_input_json(
        &mut self,
        path: &JsonPath,
        out: &mut String,
    ) -> Result<Option<usize>, RenderError> {
        let found = match self.body_json()? {
            Some(root) => self.eval_path(path, &root)?,
            None => PathResult::Missing,
        };
        match found {
            PathResult::Missing => {
                out.push_str("\"\"");
                Ok(None)
            }
            PathResult::Found(v) => {
                let before = out.len();
                self.heap
                    .write_json(&v, out, 0, self.lim.max_render_depth)?;
                Ok(Some(out.len() - before))
            }
        }
    }

    /// `$input.params()`.
    pub(crate) fn params_map(&mut self) -> Value {
        if let Some(p) = &self.params {
            return p.clone();
        }
        let (id, v) = self.heap.new_map();
        let p = self.input.params;
        for (name, pairs) in [
            ("path", &p.path),
            ("querystring", &p.querystring),
            ("header", &p.header),
        ] {
            let (mid, mv) = self.heap.new_map();
            for (k, val) in pairs {
                self.heap
                    .map_mut(mid)
                    .put(Arc::from(k.as_str()), Value::str(val));
            }
            self.heap.map_mut(id).put(Arc::from(name), mv);
        }
        self.params = Some(v.clone());
        v
    }

    /// `$input.params(name)`: path, then query string, then header (header names
    /// case-insensitively when there is no exact match). Missing gives "".
    pub(crate) fn param(&self, name: &str) -> Value {
        let p = self.input.params;
        for list in [&p.path, &p.querystring, &p.header] {
            if let Some((_, v)) = list.iter().rev().find(|(k, _)| k == name) {
                return Value::str(v);
            }
        }
        if let Some((_, v)) = p
            .header
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            return Value::str(v);
        }
        Value::str("")
    }

    /// A regex compiled at render time (pattern not a literal), cached for this render.
    pub(crate) fn dynamic_regex(&mut self, pattern: &str) -> Result<Arc<JavaRegex>, String> {
        if let Some(r) = self.regex_cache.get(pattern) {
            return Ok(r.clone());
        }
        let r = Arc::new(JavaRegex::new(pattern, self.lim.max_regex_bytes)?);
        if self.regex_cache.len() < 64 {
            self.regex_cache.insert(pattern.to_string(), r.clone());
        }
        Ok(r)
    }
}

/// The overrides of a render that never touched `$context`: those it was given.
pub(crate) fn untouched_overrides(input: &RenderInput<'_>) -> (Overrides, RequestOverrides) {
    (
        input.context.response_override.clone(),
        input.context.request_override.clone(),
    )
}

pub(crate) fn num_cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        _ => {
            let (x, y) = (a.as_f64()?, b.as_f64()?);
            if !a.is_number() || !b.is_number() {
                return None;
            }
            x.partial_cmp(&y)
        }
    }
}
