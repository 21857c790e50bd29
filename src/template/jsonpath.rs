//! Part of `template` (beside the data flow): JSONPath as Jayway JsonPath (used by API Gateway's
//! `$input.path/json`) evaluates it, over heap values: `$`, `.name`, `['name']`, `['a','b']`
//! (leaf), `[0]`, `[-1]`, `[0,2]`, `[1:3]`, `*`, `..name`, `..*`, `[?(@.x == 'y')]` filters (`== !=
//! < <= > >= =~`, `&&`, `||`, `!`, existence), and the `length()` function. A path without `$`/`@`
//! gets `$.` in front, as in Jayway. Definite paths give one value (or "missing"), indefinite ones
//! a JSON list.

use std::sync::Arc;

use super::value::{Heap, Value};

/// A compiled path.
#[derive(Debug, Clone)]
pub(crate) struct JsonPath {
    steps: Vec<Step>,
    definite: bool,
    length_fn: bool,
}

#[derive(Debug, Clone)]
enum Step {
    Child(Vec<Arc<str>>),
    Index(Vec<i64>),
    Slice(Option<i64>, Option<i64>),
    Wildcard,
    Descend(Box<Step>),
    Filter(Box<Pred>),
}

#[derive(Debug, Clone)]
enum Operand {
    /// `@...` relative path (definite steps only)
    Rel(Vec<Step>),
    /// `$...` absolute path
    Abs(Vec<Step>),
    Lit(Lit),
}

#[derive(Debug, Clone)]
enum Lit {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Regex(Box<regex::Regex>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Match,
}

#[derive(Debug, Clone)]
enum Pred {
    Exists(Operand),
    Cmp(Operand, CmpOp, Operand),
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
}

/// Why an evaluation was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathAbort {
    /// Nesting deeper than allowed (a template-made cycle, for one).
    TooDeep,
    /// More nodes visited than the budget allows.
    Budget,
}

struct Cx {
    root: Value,
    max_depth: usize,
    budget: u64,
    failed: Option<PathAbort>,
}

impl Cx {
    fn charge(&mut self, n: u64) -> bool {
        if self.failed.is_some() {
            return false;
        }
        if self.budget < n {
            self.budget = 0;
            self.failed = Some(PathAbort::Budget);
            return false;
        }
        self.budget -= n;
        true
    }
}

/// Result of evaluating a path.
#[derive(Debug, Clone)]
pub(crate) enum PathResult {
    Missing,
    Found(Value),
}

struct Cursor<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
    depth: usize,
}

const MAX_FILTER_DEPTH: usize = 32;

impl JsonPath {
    pub(crate) fn parse(path: &str) -> Result<JsonPath, String> {
        let trimmed = path.trim();
        let owned;
        let text = if trimmed.starts_with('$') || trimmed.starts_with('@') {
            trimmed
        } else {
            owned = format!("$.{}", trimmed);
            owned.as_str()
        };
        let mut c = Cursor {
            s: text.as_bytes(),
            src: text,
            pos: 1,
            depth: 0,
        };
        let (steps, length_fn) = c.steps(true)?;
        if c.pos != c.s.len() {
            return Err(format!("invalid JSONPath {:?} at {}", path, c.pos));
        }
        for (i, st) in steps.iter().enumerate() {
            if let Step::Child(names) = st {
                if names.len() > 1 && i + 1 != steps.len() {
                    return Err("multi properties can only be used as path leafs".into());
                }
            }
        }
        let definite = steps.iter().all(|s| match s {
            Step::Child(_) => true,
            Step::Index(v) => v.len() == 1,
            _ => false,
        });
        Ok(JsonPath {
            steps,
            definite,
            length_fn,
        })
    }

    /// Evaluates the path against `root`. Indefinite results are new JSON lists in `heap`.
    /// `budget` bounds the nodes visited (it is decreased by what was used).
    pub(crate) fn eval(
        &self,
        heap: &mut Heap,
        root: &Value,
        max_depth: usize,
        budget: &mut u64,
    ) -> Result<PathResult, PathAbort> {
        let mut cx = Cx {
            root: root.clone(),
            max_depth,
            budget: *budget,
            failed: None,
        };
        let mut current = vec![root.clone()];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in &current {
                apply(heap, step, v, &mut next, &mut cx);
            }
            current = next;
        }
        *budget = cx.budget;
        if let Some(f) = cx.failed {
            return Err(f);
        }
        Ok(self.finish(heap, current))
    }

    fn finish(&self, heap: &mut Heap, current: Vec<Value>) -> PathResult {
        let result = if self.definite {
            match current.into_iter().next() {
                Some(v) => v,
                None => return PathResult::Missing,
            }
        } else {
            heap.new_list(current, true)
        };
        if self.length_fn {
            return match &result {
                Value::List(id) => PathResult::Found(Value::Int(heap.list(*id).items.len() as i64)),
                Value::Map(id) => PathResult::Found(Value::Int(heap.map(*id).entries.len() as i64)),
                Value::Str(s) => PathResult::Found(Value::Int(s.chars().count() as i64)),
                _ => PathResult::Missing,
            };
        }
        PathResult::Found(result)
    }
}

fn apply(heap: &mut Heap, step: &Step, v: &Value, out: &mut Vec<Value>, cx: &mut Cx) {
    if !cx.charge(1) {
        return;
    }
    match step {
        Step::Child(names) => {
            if let Value::Map(id) = v {
                if names.len() == 1 {
                    if let Some(x) = heap.map(*id).entries.get(&names[0]) {
                        out.push(x.clone());
                    }
                } else {
                    let picked: Vec<(Arc<str>, Value)> = names
                        .iter()
                        .filter_map(|n| {
                            heap.map(*id).entries.get(n).map(|x| (n.clone(), x.clone()))
                        })
                        .collect();
                    let (mid, mv) = heap.new_map();
                    for (k, x) in picked {
                        heap.map_mut(mid).put(k, x);
                    }
                    out.push(mv);
                }
            }
        }
        Step::Index(idx) => {
            if let Value::List(id) = v {
                let items = &heap.list(*id).items;
                let len = items.len() as i64;
                for &i in idx {
                    let j = if i < 0 { len + i } else { i };
                    if j >= 0 && j < len {
                        out.push(items[j as usize].clone());
                    }
                }
            }
        }
        Step::Slice(from, to) => {
            if let Value::List(id) = v {
                let items = &heap.list(*id).items;
                let len = items.len() as i64;
                let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                let a = from.map(norm).unwrap_or(0);
                let b = to.map(norm).unwrap_or(len);
                if a < b && cx.charge((b - a) as u64) {
                    out.extend(items[a as usize..b as usize].iter().cloned());
                }
            }
        }
        Step::Wildcard => match v {
            Value::Map(id) if cx.charge(heap.map(*id).entries.len() as u64) => {
                out.extend(heap.map_values(*id))
            }
            Value::List(id) if cx.charge(heap.list(*id).items.len() as u64) => {
                out.extend(heap.list(*id).items.iter().cloned())
            }
            _ => {}
        },
        Step::Descend(inner) => descend(heap, inner, v, out, 0, cx),
        Step::Filter(pred) => match v {
            Value::List(id) => {
                let items = heap.list(*id).items.clone();
                for item in items {
                    if cx.failed.is_some() {
                        return;
                    }
                    if eval_pred(heap, pred, &item, cx) {
                        out.push(item);
                    }
                }
            }
            Value::Map(_) if eval_pred(heap, pred, v, cx) => out.push(v.clone()),
            _ => {}
        },
    }
}

fn descend(
    heap: &mut Heap,
    inner: &Step,
    v: &Value,
    out: &mut Vec<Value>,
    depth: usize,
    cx: &mut Cx,
) {
    if cx.failed.is_some() {
        return;
    }
    if depth > cx.max_depth {
        cx.failed = Some(PathAbort::TooDeep);
        return;
    }
    apply(heap, inner, v, out, cx);
    let children: Vec<Value> = match v {
        Value::Map(id) => heap.map_values(*id),
        Value::List(id) => heap.list(*id).items.clone(),
        _ => return,
    };
    for c in &children {
        if matches!(c, Value::Map(_) | Value::List(_)) {
            descend(heap, inner, c, out, depth + 1, cx);
        }
    }
}

fn resolve(heap: &mut Heap, steps: &[Step], start: &Value, cx: &mut Cx) -> Option<Value> {
    let mut current = vec![start.clone()];
    for step in steps {
        let mut next = Vec::new();
        for v in &current {
            apply(heap, step, v, &mut next, cx);
        }
        current = next;
    }
    current.into_iter().next()
}

fn operand_value(heap: &mut Heap, o: &Operand, item: &Value, cx: &mut Cx) -> Option<Value> {
    match o {
        Operand::Rel(steps) => resolve(heap, steps, item, cx),
        Operand::Abs(steps) => {
            let root = cx.root.clone();
            resolve(heap, steps, &root, cx)
        }
        Operand::Lit(l) => Some(match l {
            Lit::Null => Value::Null,
            Lit::Bool(b) => Value::Bool(*b),
            Lit::Num(n) => Value::Float(*n),
            Lit::Str(s) => Value::str(s),
            Lit::Regex(_) => Value::Null,
        }),
    }
}

fn eval_pred(heap: &mut Heap, p: &Pred, item: &Value, cx: &mut Cx) -> bool {
    match p {
        Pred::Exists(o) => operand_value(heap, o, item, cx).is_some(),
        Pred::Not(x) => !eval_pred(heap, x, item, cx),
        Pred::And(a, b) => eval_pred(heap, a, item, cx) && eval_pred(heap, b, item, cx),
        Pred::Or(a, b) => eval_pred(heap, a, item, cx) || eval_pred(heap, b, item, cx),
        Pred::Cmp(l, op, r) => {
            if *op == CmpOp::Match {
                let Some(Value::Str(s)) = operand_value(heap, l, item, cx) else {
                    return false;
                };
                return match r {
                    Operand::Lit(Lit::Regex(re)) => re.is_match(&s),
                    _ => false,
                };
            }
            let (Some(a), Some(b)) = (
                operand_value(heap, l, item, cx),
                operand_value(heap, r, item, cx),
            ) else {
                return false;
            };
            if let (Some(x), Some(y)) = (num_of(&a), num_of(&b)) {
                return match op {
                    CmpOp::Eq => x == y,
                    CmpOp::Ne => x != y,
                    CmpOp::Lt => x < y,
                    CmpOp::Le => x <= y,
                    CmpOp::Gt => x > y,
                    CmpOp::Ge => x >= y,
                    CmpOp::Match => false,
                };
            }
            match (&a, &b) {
                (Value::Str(x), Value::Str(y)) => match op {
                    CmpOp::Eq => x == y,
                    CmpOp::Ne => x != y,
                    CmpOp::Lt => x < y,
                    CmpOp::Le => x <= y,
                    CmpOp::Gt => x > y,
                    CmpOp::Ge => x >= y,
                    CmpOp::Match => false,
                },
                _ => {
                    let eq = heap.java_equals(&a, &b, 0, cx.max_depth).unwrap_or(false);
                    match op {
                        CmpOp::Eq => eq,
                        CmpOp::Ne => !eq,
                        _ => false,
                    }
                }
            }
        }
    }
}

fn num_of(v: &Value) -> Option<f64> {
    match v {
        Value::Int(_) | Value::Float(_) | Value::BigNum(_) => v.as_f64(),
        _ => None,
    }
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!(
            "invalid JSONPath {:?}: {} at {}",
            self.src, what, self.pos
        ))
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.s[self.pos..].starts_with(s.as_bytes()) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Parses steps until the end (top level) or until a filter delimiter.
    fn steps(&mut self, top: bool) -> Result<(Vec<Step>, bool), String> {
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') => {
                    if self.eat("..") {
                        if self.peek() == Some(b'[') {
                            let st = self.bracket()?;
                            steps.push(Step::Descend(Box::new(st)));
                        } else if self.eat("*") {
                            steps.push(Step::Descend(Box::new(Step::Wildcard)));
                        } else {
                            let name = self.dot_name();
                            if name.is_empty() {
                                return self.err("expected a name after '..'");
                            }
                            steps.push(Step::Descend(Box::new(Step::Child(vec![Arc::from(name)]))));
                        }
                    } else {
                        self.pos += 1;
                        if self.eat("*") {
                            steps.push(Step::Wildcard);
                            continue;
                        }
                        let name = self.dot_name();
                        if name.is_empty() {
                            return self.err("expected a name after '.'");
                        }
                        if self.peek() == Some(b'(') {
                            if top && self.eat("()") && name == "length" && self.pos == self.s.len()
                            {
                                return Ok((steps, true));
                            }
                            return self.err("unsupported function");
                        }
                        steps.push(Step::Child(vec![Arc::from(name)]));
                    }
                }
                Some(b'[') => {
                    let st = self.bracket()?;
                    steps.push(st);
                }
                _ => return Ok((steps, false)),
            }
        }
    }

    fn dot_name(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if matches!(
                c,
                b'.' | b'['
                    | b'('
                    | b')'
                    | b' '
                    | b'\t'
                    | b'\n'
                    | b'\r'
                    | b'='
                    | b'!'
                    | b'<'
                    | b'>'
                    | b'&'
                    | b'|'
                    | b']'
                    | b','
            ) {
                break;
            }
            self.pos += 1;
        }
        self.src[start..self.pos].to_string()
    }

    fn quoted(&mut self) -> Result<String, String> {
        let Some(q) = self.peek() else {
            return self.err("expected a quote");
        };
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return self.err("unterminated string"),
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let start = self.pos;
                    if self.peek().is_none() {
                        return self.err("unterminated string");
                    }
                    self.pos += 1;
                    while self.pos < self.s.len() && !self.src.is_char_boundary(self.pos) {
                        self.pos += 1;
                    }
                    s.push_str(&self.src[start..self.pos]);
                }
                Some(_) => {
                    let start = self.pos;
                    self.pos += 1;
                    while self.pos < self.s.len() && !self.src.is_char_boundary(self.pos) {
                        self.pos += 1;
                    }
                    s.push_str(&self.src[start..self.pos]);
                }
            }
        }
    }

    fn int(&mut self) -> Option<i64> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let r = self.src[start..self.pos].parse::<i64>().ok();
        if r.is_none() {
            self.pos = start;
        }
        r
    }

    fn bracket(&mut self) -> Result<Step, String> {
        self.pos += 1; // '['
        self.ws();
        let step = match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                Step::Wildcard
            }
            Some(b'\'' | b'"') => {
                let mut names = vec![Arc::from(self.quoted()?)];
                loop {
                    self.ws();
                    if self.eat(",") {
                        self.ws();
                        names.push(Arc::from(self.quoted()?));
                    } else {
                        break;
                    }
                }
                Step::Child(names)
            }
            Some(b'?') => {
                self.pos += 1;
                self.ws();
                if !self.eat("(") {
                    return self.err("expected '(' after '?'");
                }
                let p = self.pred_or()?;
                self.ws();
                if !self.eat(")") {
                    return self.err("expected ')' to close the filter");
                }
                Step::Filter(Box::new(p))
            }
            Some(b':') => {
                self.pos += 1;
                self.ws();
                let to = self.int();
                Step::Slice(None, to)
            }
            Some(b'-' | b'0'..=b'9') => {
                let Some(first) = self.int() else {
                    return self.err("expected an index");
                };
                self.ws();
                if self.eat(":") {
                    self.ws();
                    let to = self.int();
                    Step::Slice(Some(first), to)
                } else {
                    let mut idx = vec![first];
                    loop {
                        self.ws();
                        if self.eat(",") {
                            self.ws();
                            match self.int() {
                                Some(i) => idx.push(i),
                                None => return self.err("expected an index"),
                            }
                        } else {
                            break;
                        }
                    }
                    Step::Index(idx)
                }
            }
            _ => return self.err("unexpected character in brackets"),
        };
        self.ws();
        if !self.eat("]") {
            return self.err("expected ']'");
        }
        Ok(step)
    }

    fn pred_or(&mut self) -> Result<Pred, String> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return self.err("filter nested too deeply");
        }
        let mut l = self.pred_and()?;
        loop {
            self.ws();
            if self.eat("||") {
                let r = self.pred_and()?;
                l = Pred::Or(Box::new(l), Box::new(r));
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(l)
    }

    fn pred_and(&mut self) -> Result<Pred, String> {
        let mut l = self.pred_unary()?;
        loop {
            self.ws();
            if self.eat("&&") {
                let r = self.pred_unary()?;
                l = Pred::And(Box::new(l), Box::new(r));
            } else {
                break;
            }
        }
        Ok(l)
    }

    fn pred_unary(&mut self) -> Result<Pred, String> {
        self.ws();
        if self.peek() == Some(b'!') && self.s.get(self.pos + 1) != Some(&b'=') {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_FILTER_DEPTH {
                return self.err("filter nested too deeply");
            }
            let inner = self.pred_unary()?;
            self.depth -= 1;
            return Ok(Pred::Not(Box::new(inner)));
        }
        if self.peek() == Some(b'(') {
            self.pos += 1;
            let p = self.pred_or()?;
            self.ws();
            if !self.eat(")") {
                return self.err("expected ')'");
            }
            return Ok(p);
        }
        let l = self.operand()?;
        self.ws();
        let op = if self.eat("==") {
            CmpOp::Eq
        } else if self.eat("!=") {
            CmpOp::Ne
        } else if self.eat("<=") {
            CmpOp::Le
        } else if self.eat(">=") {
            CmpOp::Ge
        } else if self.eat("<") {
            CmpOp::Lt
        } else if self.eat(">") {
            CmpOp::Gt
        } else if self.eat("=~") {
            CmpOp::Match
        } else {
            return Ok(Pred::Exists(l));
        };
        self.ws();
        let r = if op == CmpOp::Match {
            if !self.eat("/") {
                return self.err("expected /regex/");
            }
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'/' {
                    break;
                }
                self.pos += 1;
            }
            let pat = self.src[start..self.pos].to_string();
            if !self.eat("/") {
                return self.err("unterminated regex");
            }
            let ci = self.eat("i");
            let full = if ci { format!("(?i){}", pat) } else { pat };
            let re = super::javaregex::JavaRegex::new(&full, super::javaregex::DEFAULT_REGEX_SIZE)?;
            Operand::Lit(Lit::Regex(Box::new(re.whole)))
        } else {
            self.operand()?
        };
        Ok(Pred::Cmp(l, op, r))
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.peek() {
            Some(b'@') => {
                self.pos += 1;
                let (steps, _) = self.steps(false)?;
                if !steps.iter().all(|s| {
                    matches!(s, Step::Child(n) if n.len() == 1)
                        || matches!(s, Step::Index(v) if v.len() == 1)
                }) {
                    return self.err("only definite paths are supported in filters");
                }
                Ok(Operand::Rel(steps))
            }
            Some(b'$') => {
                self.pos += 1;
                let (steps, _) = self.steps(false)?;
                Ok(Operand::Abs(steps))
            }
            Some(b'\'' | b'"') => Ok(Operand::Lit(Lit::Str(self.quoted()?))),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.pos += 1;
                while matches!(
                    self.peek(),
                    Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                ) {
                    self.pos += 1;
                }
                match self.src[start..self.pos].parse::<f64>() {
                    Ok(n) => Ok(Operand::Lit(Lit::Num(n))),
                    Err(_) => self.err("invalid number"),
                }
            }
            _ => {
                if self.eat("true") {
                    Ok(Operand::Lit(Lit::Bool(true)))
                } else if self.eat("false") {
                    Ok(Operand::Lit(Lit::Bool(false)))
                } else if self.eat("null") {
                    Ok(Operand::Lit(Lit::Null))
                } else {
                    self.err("unexpected filter operand")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::json;

    fn run(doc: &str, path: &str) -> String {
        let mut h = Heap::default();
        let root = json::parse(doc.as_bytes(), &mut h, 64).expect("json");
        let p = JsonPath::parse(path).expect("path");
        let mut budget = 1_000_000;
        match p
            .eval(&mut h, &root, 64, &mut budget)
            .expect("within budget")
        {
            PathResult::Missing => "<missing>".into(),
            PathResult::Found(v) => {
                let mut s = String::new();
                h.write_json(&v, &mut s, 0, 64).expect("depth");
                s
            }
        }
    }

    const DOC: &str = r#"{"a":{"b":[1,2,{"c":"x"}],"n":null},"items":[{"id":1,"t":"p"},{"id":2,"t":"q"},{"id":3}],"k y":5}"#;

    #[test]
    fn definite_paths() {
        assert_eq!(run(DOC, "$"), DOC);
        assert_eq!(run(DOC, "$.a.b[0]"), "1");
        assert_eq!(run(DOC, "$.a.b[-1].c"), "\"x\"");
        assert_eq!(run(DOC, "$['a']['b'][1]"), "2");
        assert_eq!(run(DOC, "$[\"k y\"]"), "5");
        assert_eq!(run(DOC, "$.a.n"), "null");
        assert_eq!(run(DOC, "$.a.missing"), "<missing>");
        assert_eq!(run(DOC, "$.a.b[9]"), "<missing>");
        assert_eq!(run(DOC, "$.a.n.x"), "<missing>");
        assert_eq!(run(DOC, "a.b[1]"), "2");
        assert_eq!(run(DOC, "$.a.b.length()"), "3");
        assert_eq!(
            run(DOC, "$['a','k y']"),
            r#"{"a":{"b":[1,2,{"c":"x"}],"n":null},"k y":5}"#
        );
    }

    #[test]
    fn indefinite_paths() {
        assert_eq!(run(DOC, "$.items[*].id"), "[1,2,3]");
        assert_eq!(run(DOC, "$.items[*].t"), "[\"p\",\"q\"]");
        assert_eq!(run(DOC, "$..id"), "[1,2,3]");
        assert_eq!(run(DOC, "$..c"), "[\"x\"]");
        assert_eq!(run(DOC, "$.a.b[0:2]"), "[1,2]");
        assert_eq!(run(DOC, "$.a.b[-2:]"), "[2,{\"c\":\"x\"}]");
        assert_eq!(run(DOC, "$.a.b[0,2]"), "[1,{\"c\":\"x\"}]");
        assert_eq!(run(DOC, "$.items[?(@.id > 1)].id"), "[2,3]");
        assert_eq!(run(DOC, "$.items[?(@.t == 'q')]"), r#"[{"id":2,"t":"q"}]"#);
        assert_eq!(run(DOC, "$.items[?(@.t)].id"), "[1,2]");
        assert_eq!(run(DOC, "$.items[?(!@.t)].id"), "[3]");
        assert_eq!(run(DOC, "$.items[?(@.id == 1 || @.t =~ /q/)].id"), "[1,2]");
        assert_eq!(run(DOC, "$.missing[*]"), "[]");
        assert_eq!(run(DOC, "$.items.length()"), "3");
    }

    #[test]
    fn cycles_and_budget_are_bounded() {
        let mut h = Heap::default();
        let l = h.new_list(vec![], true);
        if let Value::List(id) = l {
            h.list_mut(id).items.push(l.clone());
            h.list_mut(id).items.push(l.clone());
        }
        let p = JsonPath::parse("$..x").expect("path");
        let mut budget = u64::MAX;
        assert_eq!(
            p.eval(&mut h, &l, 64, &mut budget).err(),
            Some(PathAbort::TooDeep)
        );
        let mut budget = 10;
        assert_eq!(
            p.eval(&mut h, &l, 64, &mut budget).err(),
            Some(PathAbort::Budget)
        );
    }

    #[test]
    fn invalid_paths_are_errors() {
        for bad in [
            "$.",
            "$[",
            "$[abc]",
            "$.a[?(@.x ==)]",
            "$.a.foo()",
            "$['a','b'].c",
            "$..",
            "$.a[1",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad} should be invalid");
        }
    }
}
