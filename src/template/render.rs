//! Part of `template` (beside the data flow), the interpreter: walks the compiled template against
//! one request.

use std::sync::Arc;

use super::ast::{
    Accessor, BinOp, Expr, ForeachNode, MethodCall, Node, Pre, RefNode, Reference, Slot,
    SLOT_CONTEXT, SLOT_FOREACH, SLOT_INPUT, SLOT_STAGE_VARIABLES, SLOT_VELOCITY_COUNT,
    SLOT_VELOCITY_HAS_NEXT,
};
use super::context;
use super::error::{LimitKind, RenderError};
use super::jsonpath::JsonPath;
use super::runtime::{limit, num_cmp, LoopFrame, Rt};
use super::value::Value;
use super::ForeachOverflow;

/// The call of a reference that is exactly `$input.json('literal')` printed as it is (its path
/// compiled with the template): the commonest reference of a request template, written
/// straight into the output instead of through a string value that would be copied into it and
/// dropped.
fn printed_input_json(r: &RefNode) -> Option<(&MethodCall, &Result<Arc<JsonPath>, String>)> {
    if r.escaped || r.reference.root != SLOT_INPUT {
        return None;
    }
    match r.reference.chain.as_slice() {
        [Accessor::Method(m)] if &*m.name == "json" => match &m.pre {
            Some(Pre::Path(path)) => Some((m, path)),
            _ => None,
        },
        _ => None,
    }
}

/// How a block finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Normal,
    Break,
    Stop,
}

impl Rt<'_> {
    /// Renders the whole template.
    pub(crate) fn run(&mut self) -> Result<(), RenderError> {
        let tpl = self.tpl;
        self.render_block(&tpl.nodes)?;
        Ok(())
    }

    fn check_output(&self) -> Result<(), RenderError> {
        if self.out.len() > self.lim.max_output_bytes {
            return Err(limit(LimitKind::OutputSize));
        }
        Ok(())
    }

    fn get_var(&mut self, slot: Slot) -> Value {
        if slot == SLOT_CONTEXT && self.ctx_pending {
            self.ctx_pending = false;
            let c = self.input.context;
            let ctx = context::build(&mut self.heap, c);
            self.context_val = Some(ctx.clone());
            self.vars[SLOT_CONTEXT as usize] = ctx;
        } else if slot == SLOT_STAGE_VARIABLES && self.sv_pending {
            self.sv_pending = false;
            let (id, v) = self.heap.new_map();
            let sv = self.input.stage_variables;
            for (k, val) in sv {
                self.heap
                    .map_mut(id)
                    .put(Arc::from(k.as_str()), Value::str(val));
            }
            self.vars[SLOT_STAGE_VARIABLES as usize] = v;
        }
        self.vars.get(slot as usize).cloned().unwrap_or(Value::Null)
    }

    fn set_var(&mut self, slot: Slot, v: Value) {
        if slot == SLOT_CONTEXT && self.ctx_pending {
            // materialise first so overrides can still be read back from the original object
            self.get_var(SLOT_CONTEXT);
        }
        if slot == SLOT_STAGE_VARIABLES {
            self.sv_pending = false;
        }
        if let Some(x) = self.vars.get_mut(slot as usize) {
            *x = v;
        }
    }

    fn render_block(&mut self, nodes: &[Node]) -> Result<Flow, RenderError> {
        self.depth += 1;
        if self.depth > self.lim.max_render_depth {
            return Err(limit(LimitKind::Depth));
        }
        let r = self.render_nodes(nodes);
        self.depth -= 1;
        r
    }

    fn render_nodes(&mut self, nodes: &[Node]) -> Result<Flow, RenderError> {
        for n in nodes {
            self.step(1)?;
            match n {
                Node::Text(t) => {
                    self.out.push_str(t);
                    self.check_output()?;
                }
                Node::Ref(r) => {
                    if let Some((m, path)) = printed_input_json(r) {
                        if matches!(self.vars[SLOT_INPUT as usize], Value::Input) {
                            self.step(1)?;
                            self.out.push_str(&r.prefix);
                            let path = path.as_ref().map_err(|e| self.err(m.pos, e.clone()))?;
                            self.print_input_json(path)?;
                            self.check_output()?;
                            continue;
                        }
                    }
                    let v = self.eval_ref(&r.reference)?;
                    self.out.push_str(&r.prefix);
                    if r.escaped {
                        if v.is_null() {
                            self.out.push('\\');
                        }
                        self.out.push_str(&r.reference.literal);
                    } else {
                        let before = self.out.len();
                        self.heap
                            .write_display(&v, &mut self.out, self.lim.max_render_depth)?;
                        let written = self.out.len() - before;
                        if written > 256 {
                            self.work(written)?;
                        }
                    }
                    self.check_output()?;
                }
                Node::Set(s) => {
                    let v = self.eval(&s.value)?;
                    self.assign(&s.target, v)?;
                }
                Node::If(i) => {
                    let mut chosen: Option<&[Node]> = None;
                    for (cond, body) in &i.branches {
                        if self.eval_bool(cond)? {
                            chosen = Some(body);
                            break;
                        }
                    }
                    if chosen.is_none() {
                        chosen = i.otherwise.as_deref();
                    }
                    if let Some(body) = chosen {
                        let flow = self.render_block(body)?;
                        if flow != Flow::Normal {
                            return Ok(flow);
                        }
                    }
                }
                Node::Foreach(f) => {
                    if self.foreach(f)? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Stop => return Ok(Flow::Stop),
            }
        }
        Ok(Flow::Normal)
    }

    fn foreach(&mut self, f: &ForeachNode) -> Result<Flow, RenderError> {
        enum Items {
            List(Vec<Value>),
            Range(i64, i64),
        }
        let items = match &f.iterable {
            Expr::Range(a, b) => {
                let (x, y) = (self.eval(a)?, self.eval(b)?);
                match (range_bound(&x), range_bound(&y)) {
                    (Some(x), Some(y)) => Items::Range(x, y),
                    _ => Items::List(Vec::new()),
                }
            }
            e => match self.eval(e)? {
                Value::List(id) => {
                    let items = self.heap.list(id).items.clone();
                    self.work(items.len() * 8)?;
                    Items::List(items)
                }
                Value::Map(id) => Items::List(self.heap.map_values(id)),
                _ => Items::List(Vec::new()),
            },
        };
        let len: u64 = match &items {
            Items::List(v) => v.len() as u64,
            Items::Range(x, y) => x.abs_diff(*y).saturating_add(1),
        };
        let saved = [
            self.vars
                .get(f.var as usize)
                .cloned()
                .unwrap_or(Value::Null),
            self.vars[SLOT_FOREACH as usize].clone(),
            self.vars[SLOT_VELOCITY_COUNT as usize].clone(),
            self.vars[SLOT_VELOCITY_HAS_NEXT as usize].clone(),
        ];
        self.loops.push(LoopFrame {
            index: 0,
            has_next: len > 0,
        });
        let frame = self.loops.len() - 1;
        let mut flow = Flow::Normal;
        let mut result = Ok(());
        let mut i: u64 = 0;
        while i < len {
            if i >= self.lim.max_foreach_iterations as u64 {
                if self.lim.foreach_overflow == ForeachOverflow::Error {
                    result = Err(limit(LimitKind::ForeachIterations));
                }
                break;
            }
            if let Err(e) = self.step(1) {
                result = Err(e);
                break;
            }
            let item = match &items {
                Items::List(v) => v[i as usize].clone(),
                Items::Range(x, y) => {
                    let off = i as i64;
                    Value::Int(if x <= y { x + off } else { x - off })
                }
            };
            self.set_var(f.var, item);
            let has_next = i + 1 < len;
            self.loops[frame] = LoopFrame {
                index: i as usize,
                has_next,
            };
            self.vars[SLOT_FOREACH as usize] = Value::Scope(frame as u32);
            self.vars[SLOT_VELOCITY_COUNT as usize] = Value::Int(i as i64 + 1);
            self.vars[SLOT_VELOCITY_HAS_NEXT as usize] = Value::Bool(has_next);
            match self.render_block(&f.body) {
                Ok(Flow::Normal) => {}
                Ok(Flow::Break) => break,
                Ok(Flow::Stop) => {
                    flow = Flow::Stop;
                    break;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            i += 1;
        }
        self.loops.pop();
        let [v, fe, vc, vh] = saved;
        self.set_var(f.var, v);
        self.vars[SLOT_FOREACH as usize] = fe;
        self.vars[SLOT_VELOCITY_COUNT as usize] = vc;
        self.vars[SLOT_VELOCITY_HAS_NEXT as usize] = vh;
        result.map(|_| flow)
    }

    /// `#set(target = value)`: a null value leaves everything unchanged (Velocity 1.7).
    fn assign(&mut self, target: &Reference, v: Value) -> Result<(), RenderError> {
        if v.is_null() {
            return Ok(());
        }
        let Some((last, init)) = target.chain.split_last() else {
            self.set_var(target.root, v);
            return Ok(());
        };
        let mut cur = self.get_var(target.root);
        for acc in init {
            if cur.is_null() {
                return Ok(());
            }
            cur = self.access(cur, acc)?;
        }
        match (last, &cur) {
            (Accessor::Property(name), Value::Map(id)) => {
                self.heap.map_mut(*id).put(Arc::from(&**name), v);
            }
            (Accessor::Index(e, pos), _) => {
                let key = self.eval(e)?;
                match &cur {
                    Value::Map(id) => {
                        let k = self.key_string(&key)?;
                        self.heap.map_mut(*id).put(k, v);
                    }
                    Value::List(id) => {
                        if let Some(i) = key.as_int() {
                            let len = self.heap.list(*id).items.len();
                            if i < 0 || i as usize >= len {
                                return Err(self.err(
                                    *pos,
                                    format!(
                                        "IndexOutOfBoundsException: Index: {}, Size: {}",
                                        i, len
                                    ),
                                ));
                            }
                            self.heap.list_mut(*id).items[i as usize] = v;
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn eval_ref(&mut self, r: &Reference) -> Result<Value, RenderError> {
        self.step(1)?;
        let (mut cur, rest) = self.root_value(r);
        for acc in rest {
            if cur.is_null() {
                return Ok(Value::Null);
            }
            cur = self.access(cur, acc)?;
        }
        Ok(cur)
    }

    /// The value of the reference's root, reading plain `$context.x` and `$stageVariables.x`
    /// straight from the input (no need to build those maps for the common case).
    fn root_value<'r>(&mut self, r: &'r Reference) -> (Value, &'r [Accessor]) {
        if r.root == SLOT_STAGE_VARIABLES && self.sv_pending {
            let key = match r.chain.first() {
                Some(Accessor::Property(name)) => Some(&**name),
                Some(Accessor::Index(Expr::Str(k), _)) => Some(&**k),
                _ => None,
            };
            if let Some(k) = key {
                let v = match self.input.stage_variables.get(k) {
                    Some(v) => Value::str(v),
                    None => Value::Null,
                };
                return (v, &r.chain[1..]);
            }
        }
        if r.root == SLOT_CONTEXT && self.ctx_pending {
            if let Some(Accessor::Property(name)) = r.chain.first() {
                let c = self.input.context;
                if !c.extra.iter().any(|(k, _)| k == &**name) {
                    let field = match &**name {
                        "requestId" => Some(&c.request_id),
                        "extendedRequestId" => Some(&c.extended_request_id),
                        "stage" => Some(&c.stage),
                        "httpMethod" => Some(&c.http_method),
                        "resourcePath" => Some(&c.resource_path),
                        "path" => Some(&c.path),
                        "protocol" => Some(&c.protocol),
                        "requestTime" => Some(&c.request_time),
                        "domainName" => Some(&c.domain_name),
                        "domainPrefix" => Some(&c.domain_prefix),
                        "apiId" => Some(&c.api_id),
                        "accountId" => Some(&c.account_id),
                        "deploymentId" => Some(&c.deployment_id),
                        "resourceId" => Some(&c.resource_id),
                        _ => None,
                    };
                    if let Some(f) = field {
                        return (Value::str(f), &r.chain[1..]);
                    }
                    match &**name {
                        "requestTimeEpoch" => {
                            return (Value::Int(c.request_time_epoch), &r.chain[1..]);
                        }
                        "isCanaryRequest" => {
                            let v = c.is_canary_request.map(Value::Bool).unwrap_or(Value::Null);
                            return (v, &r.chain[1..]);
                        }
                        "identity" => {
                            if let Some(Accessor::Property(sub)) = r.chain.get(1) {
                                let f = match &**sub {
                                    "sourceIp" => Some(&c.identity.source_ip),
                                    "userAgent" => Some(&c.identity.user_agent),
                                    _ => None,
                                };
                                if let Some(f) = f {
                                    return (Value::str(f), &r.chain[2..]);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        (self.get_var(r.root), &r.chain)
    }

    fn access(&mut self, cur: Value, acc: &Accessor) -> Result<Value, RenderError> {
        match acc {
            Accessor::Property(name) => Ok(self.property(&cur, name)),
            Accessor::Method(m) => {
                // `$input.json/path` with a literal path compiled with the template: the argument
                // is not needed again, so neither is the argument list.
                if let (Value::Input, Some(Pre::Path(path)), "json" | "path") =
                    (&cur, &m.pre, &*m.name)
                {
                    self.step(1)?;
                    let path = path.as_ref().map_err(|e| self.err(m.pos, e.clone()))?;
                    return if &*m.name == "json" {
                        self.input_json(path)
                    } else {
                        self.input_path(path)
                    };
                }
                let mut args = Vec::with_capacity(m.args.len());
                for a in &m.args {
                    args.push(self.eval(a)?);
                }
                self.step(1)?;
                super::methods::call(self, cur, m, args)
            }
            Accessor::Index(e, pos) => {
                let key = self.eval(e)?;
                self.index(&cur, &key, *pos)
            }
        }
    }

    /// `$x.name`: Velocity tries `getName()`, `get("name")` on maps, then `isName()`.
    fn property(&mut self, cur: &Value, name: &str) -> Value {
        match cur {
            Value::Map(id) => {
                if name == "class" {
                    return Value::Null;
                }
                self.heap
                    .map(*id)
                    .entries
                    .get(name)
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            Value::List(id) => match name {
                "empty" => Value::Bool(self.heap.list(*id).items.is_empty()),
                _ => Value::Null,
            },
            Value::Str(s) => match name {
                "empty" => Value::Bool(s.is_empty()),
                "blank" => Value::Bool(s.chars().all(|c| c.is_whitespace())),
                _ => Value::Null,
            },
            Value::Input => match name {
                "body" => self.body_str(),
                _ => Value::Null,
            },
            Value::Scope(d) => self.scope_property(*d, name),
            _ => Value::Null,
        }
    }

    /// `$x[key]`: `get(key)` on lists and maps.
    fn index(&mut self, cur: &Value, key: &Value, pos: u32) -> Result<Value, RenderError> {
        match cur {
            Value::List(id) => {
                let Some(i) = key.as_int() else {
                    return Ok(Value::Null);
                };
                let items = &self.heap.list(*id).items;
                if i < 0 || i as usize >= items.len() {
                    return Err(self.err(
                        pos,
                        format!(
                            "IndexOutOfBoundsException: Index: {}, Size: {}",
                            i,
                            items.len()
                        ),
                    ));
                }
                Ok(items[i as usize].clone())
            }
            Value::Map(id) => {
                if key.is_null() {
                    return Ok(Value::Null);
                }
                let k = self.key_string(key)?;
                Ok(self
                    .heap
                    .map(*id)
                    .entries
                    .get(&k)
                    .cloned()
                    .unwrap_or(Value::Null))
            }
            _ => Ok(Value::Null),
        }
    }

    fn eval_bool(&mut self, e: &Expr) -> Result<bool, RenderError> {
        let v = self.eval(e)?;
        Ok(truthy(&v))
    }

    /// Renders nodes of an interpolated string into a string.
    fn render_to_string(&mut self, nodes: &[Node]) -> Result<String, RenderError> {
        let start = self.out.len();
        let r = self.render_block(nodes);
        let s = self.out[start..].to_string();
        self.out.truncate(start);
        r?;
        Ok(s)
    }

    pub(crate) fn eval(&mut self, e: &Expr) -> Result<Value, RenderError> {
        self.step(1)?;
        Ok(match e {
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Int(i) => Value::Int(*i),
            Expr::Float(f) => Value::Float(*f),
            Expr::Str(s) => Value::Str(s.clone()),
            Expr::Interp(nodes) => {
                let s = self.render_to_string(nodes)?;
                self.new_str(s)?
            }
            Expr::List(items) => {
                let mut vals = Vec::with_capacity(items.len());
                for x in items {
                    vals.push(self.eval(x)?);
                }
                self.heap.new_list(vals, false)
            }
            Expr::Map(entries) => {
                let (id, mv) = self.heap.new_hash_map();
                for (k, v) in entries {
                    let kv = self.eval(k)?;
                    let vv = self.eval(v)?;
                    let key = self.key_string(&kv)?;
                    self.heap.map_mut(id).put(key, vv);
                }
                mv
            }
            Expr::Range(a, b) => {
                let (x, y) = (self.eval(a)?, self.eval(b)?);
                match (range_bound(&x), range_bound(&y)) {
                    (Some(x), Some(y)) => {
                        let n = x.abs_diff(y).saturating_add(1);
                        self.step(n)?;
                        let items: Vec<Value> = if x <= y {
                            (x..=y).map(Value::Int).collect()
                        } else {
                            (y..=x).rev().map(Value::Int).collect()
                        };
                        self.heap.new_list(items, false)
                    }
                    _ => Value::Null,
                }
            }
            Expr::Ref(r) => self.eval_ref(r)?,
            Expr::Not(x) => Value::Bool(!self.eval_bool(x)?),
            Expr::Neg(x) => match self.eval(x)? {
                Value::Int(i) => i
                    .checked_neg()
                    .map(Value::Int)
                    .unwrap_or(Value::Float(-(i as f64))),
                Value::Float(f) => Value::Float(-f),
                Value::BigNum(s) => s
                    .parse::<f64>()
                    .map(|f| Value::Float(-f))
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            },
            Expr::Binary(op, l, r) => match op {
                BinOp::And => Value::Bool(self.eval_bool(l)? && self.eval_bool(r)?),
                BinOp::Or => Value::Bool(self.eval_bool(l)? || self.eval_bool(r)?),
                BinOp::Eq | BinOp::Ne => {
                    let (a, b) = (self.eval(l)?, self.eval(r)?);
                    let eq = self.loose_eq(&a, &b)?;
                    Value::Bool(if *op == BinOp::Eq { eq } else { !eq })
                }
                BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                    let (a, b) = (self.eval(l)?, self.eval(r)?);
                    Value::Bool(match num_cmp(&a, &b) {
                        Some(o) => match op {
                            BinOp::Lt => o.is_lt(),
                            BinOp::Le => o.is_le(),
                            BinOp::Gt => o.is_gt(),
                            _ => o.is_ge(),
                        },
                        None => false,
                    })
                }
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
                    let (a, b) = (self.eval(l)?, self.eval(r)?);
                    if *op == BinOp::Add
                        && (matches!(a, Value::Str(_)) || matches!(b, Value::Str(_)))
                    {
                        let ls = if a.is_null() {
                            literal_of(l)
                        } else {
                            self.to_string(&a)?
                        };
                        let rs = if b.is_null() {
                            literal_of(r)
                        } else {
                            self.to_string(&b)?
                        };
                        let mut s = ls;
                        s.push_str(&rs);
                        self.new_str(s)?
                    } else {
                        arith(*op, &a, &b)
                    }
                }
            },
        })
    }

    /// `==` as API Gateway evaluates it: numbers by value, same-kind values by `equals()`,
    /// otherwise by their strings; null equals null and the empty string.
    pub(crate) fn loose_eq(&self, a: &Value, b: &Value) -> Result<bool, RenderError> {
        Ok(match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Null, Value::Str(s)) | (Value::Str(s), Value::Null) => s.is_empty(),
            (Value::Null, _) | (_, Value::Null) => false,
            (x, y) if x.is_number() && y.is_number() => num_cmp(x, y).is_some_and(|o| o.is_eq()),
            (Value::Str(x), Value::Str(y)) => x == y,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::List(_), Value::List(_)) | (Value::Map(_), Value::Map(_)) => {
                self.heap.java_equals(a, b, 0, self.lim.max_render_depth)?
            }
            _ => self.to_string(a)? == self.to_string(b)?,
        })
    }
}

/// Velocity's truth: null and false are false, everything else is true.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => true,
    }
}

fn range_bound(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Float(f) if f.is_finite() => Some(*f as i64),
        Value::BigNum(s) => s.parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

fn literal_of(e: &Expr) -> String {
    match e {
        Expr::Ref(r) => r.literal.to_string(),
        _ => String::new(),
    }
}

/// Velocity arithmetic: integers stay integers (overflow widens to double), division and
/// modulo of integers truncate, a zero divisor gives null, non-numbers give null.
fn arith(op: BinOp, a: &Value, b: &Value) -> Value {
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        let (x, y) = (*x, *y);
        let r = match op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            BinOp::Mul => x.checked_mul(y),
            BinOp::Div => {
                if y == 0 {
                    return Value::Null;
                }
                x.checked_div(y)
            }
            BinOp::Mod => {
                if y == 0 {
                    return Value::Null;
                }
                x.checked_rem(y).or(Some(0))
            }
            _ => return Value::Null,
        };
        return match r {
            Some(v) => Value::Int(v),
            None => {
                let (fx, fy) = (x as f64, y as f64);
                Value::Float(match op {
                    BinOp::Add => fx + fy,
                    BinOp::Sub => fx - fy,
                    BinOp::Mul => fx * fy,
                    _ => fx / fy,
                })
            }
        };
    }
    if !a.is_number() || !b.is_number() {
        return Value::Null;
    }
    let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
        return Value::Null;
    };
    match op {
        BinOp::Add => Value::Float(x + y),
        BinOp::Sub => Value::Float(x - y),
        BinOp::Mul => Value::Float(x * y),
        BinOp::Div => {
            if y == 0.0 {
                Value::Null
            } else {
                Value::Float(x / y)
            }
        }
        BinOp::Mod => {
            if y == 0.0 {
                Value::Null
            } else {
                Value::Float(x % y)
            }
        }
        _ => Value::Null,
    }
}
